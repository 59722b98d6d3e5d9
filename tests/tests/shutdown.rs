//! A clean [`weft::Host::shutdown`] closes the database file, even while a handler the host
//! owns keeps a `Client`: on return the file is released, and read-only `weft` commands find
//! nothing to recover and leave it byte for byte as the host left it. In process and in a real
//! host process that exits.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use weft::{ActivityContext, ActivityError, Client, Limits};
use weft_tests::{TestHost, wait_until};

const WEFT: &str = env!("CARGO_BIN_EXE_weft_cli");
const HOST: &str = env!("CARGO_BIN_EXE_test_host");

/// Runs `weft --db DB args` and returns its exit code and stderr.
fn weft(db: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(WEFT)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run weft");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that read-only commands read `db` in place (no recovery needed) and leave it
/// unchanged, and that a new host may open it.
fn assert_closed_cleanly(db: &Path, ids: &[&str]) {
    let before = std::fs::read(db).unwrap();
    let mut commands = vec![vec!["list", "--all"]];
    for id in ids {
        commands.push(vec!["describe", id]);
        commands.push(vec!["history", id]);
    }
    for args in commands {
        let (code, err) = weft(db, &args);
        assert_eq!(code, 0, "weft {args:?}: {err}");
        assert!(
            !err.contains("not closed cleanly"),
            "weft {args:?} found the file unclean after a clean shutdown: {err}"
        );
        assert!(
            std::fs::read(db).unwrap() == before,
            "weft {args:?} changed the file"
        );
    }
    let reopened = weft_store_redb::open(db, 0);
    assert!(
        reopened.is_ok(),
        "the file is still held after shutdown: {:?}",
        reopened.err()
    );
}

async fn shutdown_leaves_a_clean_file(sticky_entries: usize) {
    let t = TestHost::new()
        .sticky_cache(sticky_entries)
        .workflow("steps", weft_tests::STEPS);
    let db = t.db();
    // An activity keeps a client of its own host, as a handler that starts or signals other
    // workflows does: the host holds the handler, the handler holds the host.
    let own: Arc<OnceLock<Client>> = Arc::new(OnceLock::new());
    let kept = own.clone();
    let host = t
        .builder()
        .activity("step", move |_c: ActivityContext, v: Value| {
            let _client = kept.clone();
            async move { Ok::<_, ActivityError>(format!("step-{}", v["i"])) }
        })
        .start()
        .await
        .unwrap();
    let _ = own.set(host.namespace("default").unwrap());
    drop(own);
    // One run finished, one waiting on a long timer (its instance suspended in the sticky
    // cache when the cache is on).
    let c = host.namespace("default").unwrap();
    c.start_workflow("steps", "done", json!({"count": 2, "sleep_ms": 1}))
        .await
        .unwrap();
    c.result("done").await.unwrap();
    c.start_workflow("steps", "open", json!({"count": 3, "sleep_ms": 600_000}))
        .await
        .unwrap();
    wait_until("the open run waits on its timer", || {
        c.history("open")
            .unwrap()
            .iter()
            .any(|e| e.kind.name() == "TimerStarted")
    })
    .await;
    drop(c);
    host.shutdown().await;
    assert_closed_cleanly(db, &["done", "open"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_the_database_with_the_sticky_cache_on() {
    shutdown_leaves_a_clean_file(Limits::default().sticky_cache_entries.max(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_the_database_with_the_sticky_cache_off() {
    shutdown_leaves_a_clean_file(0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_kept_after_shutdown_reports_the_closed_database() {
    let t = TestHost::new();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    host.shutdown().await;
    let err = c.describe("any").expect_err("the database is closed");
    assert!(err.to_string().contains("is closed"), "{err}");
    assert_closed_cleanly(t.db(), &[]);
}

#[test]
fn a_host_process_that_shuts_down_leaves_a_clean_file() {
    // `test_host` keeps a client in its Nexus handler, and exits after `Host::shutdown`.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.redb");
    let out = Command::new(HOST)
        .arg("--db")
        .arg(&db)
        .arg("--log")
        .arg(dir.path().join("log"))
        .arg("--wasm")
        .arg(format!("steps={}", weft_tests::STEPS))
        .args(["--start", "s", "--type", "steps"])
        .args(["--input", r#"{"count":2,"sleep_ms":1}"#, "--wait", "s"])
        .args(["--step-ms", "1"])
        .output()
        .expect("run test host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("RESULT"), "{stdout}");
    assert_closed_cleanly(&db, &["s"]);
}
