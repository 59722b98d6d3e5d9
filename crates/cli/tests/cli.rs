//! The `weft` binary against real database files: describe, history, errors, and what each
//! command leaves on disk (a refused or read-only command: nothing).

use std::process::Command;
use weft_core::history::Payload;
use weft_core::ids::{Namespace, WorkflowId};
use weft_engine::{StartQuota, StoreError};
use weft_store_redb::open;

fn weft(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .env_remove("WEFT_ADDRESS")
        .env_remove("WEFT_API_KEY")
        .output()
        .expect("run weft");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn describe_and_history_read_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    let run = {
        let store = open(&db, 1_000).unwrap();
        store
            .start_workflow(
                &Namespace::new("acme").unwrap(),
                &WorkflowId::from("order-7"),
                "order",
                Payload::json(&serde_json::json!({"n": 1})),
                5,
                1_000,
                StartQuota::UNLIMITED,
                None,
            )
            .unwrap()
    };
    let db = db.to_str().unwrap();

    let (code, out, err) = weft(&["--db", db, "-n", "acme", "describe", "order-7"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Running"), "{out}");
    assert!(out.contains("acme"), "{out}");
    // Ids are looked up in one namespace.
    let (code, _, err) = weft(&["--db", db, "describe", "order-7"]);
    assert_eq!(code, 1);
    assert!(err.contains("no workflow with id order-7"), "{err}");
    let (code, out, _) = weft(&["--db", db, "list", "--all"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("acme\torder-7\t"), "{out}");
    assert!(out.contains(&run.to_string()), "{out}");

    let (code, out, err) = weft(&[
        "--db",
        db,
        "--namespace",
        "acme",
        "history",
        "order-7",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]);
    assert_eq!(events[0]["attributes"]["input"]["n"], 1);

    let (code, out, _) = weft(&["--db", db, "-n", "acme", "history", "order-7"]);
    assert_eq!(code, 0);
    assert!(out.contains("WorkflowExecutionStarted"), "{out}");

    let (code, _, err) = weft(&["--db", db, "describe", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no workflow with id nope"), "{err}");
}

#[test]
fn unreadable_databases_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, vec![7u8; 8192]).unwrap();
    let (code, _, err) = weft(&["--db", junk.to_str().unwrap(), "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot open"), "{err}");

    let missing = dir.path().join("missing.redb");
    let (code, _, err) = weft(&["--db", missing.to_str().unwrap(), "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such file"), "{err}");

    // The host refuses a corrupt file too, and leaves it as it was.
    let before = std::fs::read(&junk).unwrap();
    assert!(open(&junk, 0).is_err());
    assert_eq!(std::fs::read(&junk).unwrap(), before);
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.redb");
    drop(open(&db, 0).unwrap());
    {
        let raw = redb::Database::create(&db).unwrap();
        let tx = raw.begin_write().unwrap();
        {
            let mut meta = tx
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("schema_version", 99).unwrap();
        }
        tx.commit().unwrap();
    }
    let err = open(&db, 0).err().unwrap().to_string();
    assert!(err.contains("schema version 99"), "{err}");
    let (code, _, err) = weft(&["--db", db.to_str().unwrap(), "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("Upgrade weft"), "{err}");
}

#[test]
fn a_crashed_database_of_the_first_schema_is_recovered_and_migrated() {
    // Written by release 0.1 (schema 1, no namespaces) and left by `kill -9`: one completed
    // and one running `steps` workflow.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.redb");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../store-redb/tests/fixtures/schema1-crashed.redb"
        ),
        &db,
    )
    .unwrap();
    let before = std::fs::read(&db).unwrap();
    let db = db.to_str().unwrap();
    let (code, out, err) = weft(&["--db", db, "list"]);
    assert_eq!(code, 0, "{err}");
    // Read through a recovered copy: the file itself waits for a host.
    assert!(err.contains("was not closed cleanly"), "{err}");
    assert!(
        std::fs::read(db).unwrap() == before,
        "weft list changed the file"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("default\tdone\t") && lines[0].ends_with("Completed"));
    assert!(lines[1].starts_with("default\topen\t") && lines[1].ends_with("Running"));
    let (code, out, err) = weft(&["--db", db, "history", "open", "--json"]);
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 11);
    assert_eq!(events[6]["event_type"], "ActivityTaskCompleted");
    assert_eq!(events[6]["attributes"]["result"], "step-0");
    assert_eq!(events[10]["event_type"], "TimerStarted");
    assert!(
        std::fs::read(db).unwrap() == before,
        "weft history changed the file"
    );

    // Usage was counted during the migration from the stored histories.
    let store = open(db, 0).unwrap();
    let usage = store.usage(&Namespace::default_namespace()).unwrap();
    assert_eq!(usage.open_workflows, 1);
    assert!(usage.stored_bytes > 300, "{usage:?}");
    let (_, rec) = store
        .current_run(&Namespace::default_namespace(), &WorkflowId::from("open"))
        .unwrap();
    assert_eq!(rec.next_event_id, 12);
    // The timer the old release started is still queued.
    assert!(store.next_due("default/default").unwrap()[2].is_some());
}

#[test]
fn a_truncated_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cut.redb");
    let full = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../store-redb/tests/fixtures/schema1-crashed.redb"
    ))
    .unwrap();
    for keep in [full.len() / 2, 4096, 100] {
        std::fs::write(&db, &full[..keep]).unwrap();
        let err = open(&db, 0).err().expect("a truncated file is refused");
        assert!(
            err.to_string().contains("restore it from a backup"),
            "{err}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), &full[..keep], "left as it was");
        let (code, _, err) = weft(&["--db", db.to_str().unwrap(), "list"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("cannot open"), "{err}");
        assert_eq!(std::fs::read(&db).unwrap(), &full[..keep], "left as it was");
    }
}

/// Every command, with the arguments it needs to get as far as opening the database.
const EVERY_COMMAND: [&[&str]; 10] = [
    &["signal", "w", "go"],
    &["signal", "w", "go", "--start", "order"],
    &["cancel", "w"],
    &["terminate", "w"],
    &["update", "w", "add", "--component", "none.wasm"],
    &["list"],
    &["list", "--all"],
    &["describe", "w"],
    &["history", "w"],
    &["query", "w", "state", "--component", "none.wasm"],
];

fn weft_on(db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    weft(&all)
}

#[test]
fn no_command_creates_a_database_or_initializes_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.redb");
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").unwrap();
    for args in EVERY_COMMAND {
        let (code, _, err) = weft_on(&missing, args);
        assert_eq!(code, 1, "weft {args:?}: {err}");
        assert!(
            err.contains(&format!("no weft database at {}", missing.display())),
            "weft {args:?}: {err}"
        );
        assert!(err.contains("no such file"), "weft {args:?}: {err}");
        assert!(!missing.exists(), "weft {args:?} created the file");

        let (code, _, err) = weft_on(&empty, args);
        assert_eq!(code, 1, "weft {args:?}: {err}");
        assert!(
            err.contains("no weft database at") && err.contains("the file is empty"),
            "weft {args:?}: {err}"
        );
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "weft {args:?}");
    }
    // The library refuses the same way; a host still creates its database.
    assert!(matches!(
        weft_store_redb::open_existing(&missing, 0),
        Err(StoreError::NoDatabase { .. })
    ));
    assert!(!missing.exists());
    assert!(matches!(
        weft_store_redb::open_existing(&empty, 0),
        Err(StoreError::NoDatabase { .. })
    ));
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    drop(open(&missing, 0).unwrap());
    assert!(missing.exists());
}

/// A database with a running workflow `open` and a terminated one `gone`, closed cleanly.
fn two_workflows(db: &std::path::Path) {
    let store = open(db, 1_000).unwrap();
    let ns = Namespace::default_namespace();
    for id in ["open", "gone"] {
        store
            .start_workflow(
                &ns,
                &WorkflowId::from(id),
                "order",
                Payload::json(&serde_json::json!(null)),
                5,
                1_000,
                StartQuota::UNLIMITED,
                None,
            )
            .unwrap();
    }
    let (gone, _) = store.current_run(&ns, &WorkflowId::from("gone")).unwrap();
    store.terminate(gone, "test", 1_000).unwrap();
}

#[test]
fn refused_write_commands_leave_the_database_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    two_workflows(&db);
    let before = std::fs::read(&db).unwrap();
    let refused: [(&[&str], &str); 9] = [
        (&["signal", "nope", "go"], "no workflow with id nope"),
        (&["cancel", "nope"], "no workflow with id nope"),
        (&["terminate", "nope"], "no workflow with id nope"),
        (
            &["update", "nope", "add", "--component", "none.wasm"],
            "no workflow with id nope",
        ),
        (&["signal", "gone", "go"], "workflow gone is not running"),
        (&["cancel", "gone"], "workflow gone is not running"),
        (&["terminate", "gone"], "workflow gone is not running"),
        (&["signal", "open", "go", "not json"], "input is not JSON"),
        // The component is read before the file is opened for writing.
        (
            &["update", "open", "add", "--component", "none.wasm"],
            "none.wasm",
        ),
    ];
    for (args, expected) in refused {
        let (code, _, err) = weft_on(&db, args);
        assert_eq!(code, 1, "weft {args:?}: {err}");
        assert!(err.contains(expected), "weft {args:?}: {err}");
        assert!(
            std::fs::read(&db).unwrap() == before,
            "weft {args:?} was refused but changed the file"
        );
    }
    // An accepted command writes.
    let (code, out, err) = weft_on(&db, &["terminate", "open"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("terminated open"), "{out}");
    let (_, out, _) = weft_on(&db, &["describe", "open"]);
    assert!(out.contains("Terminated"), "{out}");
}

#[test]
fn read_only_commands_never_write_a_file_that_was_not_closed_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    let crashed = dir.path().join("crashed.redb");
    two_workflows(&db);
    {
        // The file as a process killed while holding it leaves it.
        let store = open(&db, 2_000).unwrap();
        let (run, _) = store
            .current_run(&Namespace::default_namespace(), &WorkflowId::from("open"))
            .unwrap();
        store
            .signal(run, "go", Payload::json(&serde_json::json!(1)), 2_000)
            .unwrap();
        std::fs::copy(&db, &crashed).unwrap();
    }
    let before = std::fs::read(&crashed).unwrap();
    assert!(
        redb::ReadOnlyDatabase::open(&crashed).is_err(),
        "the copy must need recovery"
    );
    // The recovered copies go to the temporary directory, and are removed.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let weft_on = |db: &std::path::Path, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_weft"))
            .arg("--db")
            .arg(db)
            .args(args)
            .env("TMPDIR", &tmp)
            .output()
            .expect("run weft");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["list"][..],
        &["describe", "open"],
        &["history", "open"],
        &["describe", "nope"],
    ] {
        let (code, out, err) = weft_on(&crashed, args);
        assert!(
            std::fs::read(&crashed).unwrap() == before,
            "weft {args:?} changed the file"
        );
        assert!(
            err.contains("was not closed cleanly"),
            "weft {args:?}: {err}"
        );
        assert!(err.contains("file itself was not changed"), "{err}");
        if args[1..].contains(&"nope") {
            assert_eq!(code, 1);
            assert!(err.contains("no workflow with id nope"), "{err}");
        } else {
            assert_eq!(code, 0, "weft {args:?}: {err}");
            assert!(
                out.contains("open") || out.contains("Signaled"),
                "{args:?}: {out}"
            );
        }
    }
    // The recovered copy holds everything committed, the signal included.
    let (_, out, _) = weft_on(&crashed, &["history", "open"]);
    assert!(out.contains("WorkflowExecutionSignaled"), "{out}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "a copy was left"
    );
    // A writer recovers it in place; read-only commands then read it directly.
    drop(open(&crashed, 3_000).unwrap());
    let (code, _, err) = weft_on(&crashed, &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("note:"), "{err}");
}

#[test]
fn commands_of_the_other_mode_are_usage_errors_and_an_unreachable_server_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.redb");
    let db = db.to_str().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");

    let (code, _, err) = weft(&["--address", &address, "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot reach the weft server at {address}")),
        "{err}"
    );
    // Without a scheme, http is meant.
    let (code, _, err) = weft(&["--address", &format!("127.0.0.1:{port}"), "describe", "w"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&address), "{err}");

    for args in [
        &["reset", "w"][..],
        &["query", "w", "state", "--component", "x.wasm"],
        &["list", "--all"],
        &["-n", "acme", "describe", "w"],
    ] {
        let mut all = vec!["--address", address.as_str()];
        all.extend_from_slice(args);
        let (code, _, err) = weft(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("offline"), "{args:?}: {err}");
    }
    for args in [
        &["start", "order", "w"][..],
        &["result", "w"],
        &["component", "list"],
        &["namespace", "list"],
        &["key", "list", "acme"],
        &["history", "w", "--follow"],
        &["list", "--status", "running"],
    ] {
        let mut all = vec!["--db", db];
        all.extend_from_slice(args);
        let (code, _, err) = weft(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("needs a weft server"), "{args:?}: {err}");
    }
    let (code, _, err) = weft(&["--db", db, "query", "w", "state"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--component"), "{err}");
    // Nothing was created by any of them.
    assert!(!std::path::Path::new(db).exists());
}
