//! `weft history --export` and `weft replay` through the real binary: histories of the order
//! example, exported from a database or read from it directly, replay against their component
//! and diverge, naming the event, against a changed one.

use serde_json::json;
use std::path::Path;
use std::process::Command;
use weft::WorkflowOutcome;
use weft_tests::TestHost;

const WEFT: &str = env!("CARGO_BIN_EXE_weft_cli");

fn weft(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(WEFT).args(args).output().expect("run weft");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn order(card: &str) -> serde_json::Value {
    json!({
        "order_id": "o-1",
        "items": [{"sku": "mug", "quantity": 1, "price_cents": 900}],
        "card": {"number": card},
        "ship_after_ms": 0,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn exported_histories_replay_against_their_component_and_diverge_against_a_changed_one() {
    let t = TestHost::new()
        .shared_compile_cache()
        .workflow("order", weft_tests::PY_ORDER)
        .order_activities_in("default");
    let host = t.start().await;
    for (id, card) in [("paid", "4242"), ("declined", "4000 0002")] {
        host.start_workflow("order", id, order(card)).await.unwrap();
        let outcome = host.result(id).await.unwrap();
        assert_eq!(
            matches!(outcome, WorkflowOutcome::Completed(_)),
            id == "paid",
            "{outcome:?}"
        );
    }
    host.shutdown().await;

    let dir = t.dir().join("histories");
    std::fs::create_dir_all(&dir).unwrap();
    let db = t.db().to_str().unwrap();
    for (id, file, binary) in [
        ("paid", "paid.json", false),
        ("declined", "declined.whist", true),
    ] {
        let path = dir.join(file);
        let mut args = vec![
            "--db",
            db,
            "history",
            id,
            "--export",
            path.to_str().unwrap(),
        ];
        if binary {
            args.push("--binary");
        }
        let (code, _, err) = weft(&args);
        assert_eq!(code, 0, "{err}");
    }
    let text = std::fs::read_to_string(dir.join("paid.json")).unwrap();
    assert!(text.contains("\"format\": \"weft.history\""), "{text}");

    let cache = weft_tests::shared_compile_cache_dir();
    let cache = cache.to_str().unwrap();
    let replay = |component: &str, target: &Path| {
        weft(&[
            "replay",
            "--component",
            component,
            "--compile-cache",
            cache,
            target.to_str().unwrap(),
        ])
    };
    let (code, out, err) = replay(weft_tests::PY_ORDER, &dir);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 histories"), "{out}");
    assert!(out.contains("2 replayed, 0 diverged"), "{out}");

    let (code, out, err) = replay(weft_tests::PY_ORDER_CHANGED, &dir);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("DIVERGED"), "{out}");
    assert!(
        out.contains("charge_card"),
        "the divergence names the command: {out}"
    );
    assert!(
        out.contains("event"),
        "the divergence names the event: {out}"
    );

    // Straight from the database: its runs replay, and diverge against the changed build.
    let from_db = |component: &str| {
        weft(&[
            "replay",
            "--component",
            component,
            "--compile-cache",
            cache,
            "--from-db",
            db,
            "--workflow-type",
            "order",
        ])
    };
    let (code, out, err) = from_db(weft_tests::PY_ORDER);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 replayed, 0 diverged"), "{out}");
    assert!(out.contains(":paid ("), "{out}");
    let (code, out, err) = from_db(weft_tests::PY_ORDER_CHANGED);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("DIVERGED") && out.contains("charge_card"),
        "{out}"
    );

    // A file that is not a history is reported, and fails the run.
    std::fs::write(dir.join("junk.json"), "{\"not\": \"a history\"}").unwrap();
    let (code, out, _) = replay(weft_tests::PY_ORDER, &dir.join("junk.json"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNREADABLE"), "{out}");
}
