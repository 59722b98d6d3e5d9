//! Python and TypeScript workflows (built with `weft build`'s builder from the examples and
//! tests/guests-py, tests/guests-ts) through the real host: the order example alike in three
//! languages, the approval example's signal, query and update, changed code failing the task
//! and not the execution, per-run time and randomness from the languages' own APIs, and a
//! `kill -9` in the middle of a Python and a TypeScript run.

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use weft::history::{EventKind, WorkflowTaskFailedCause};
use weft::{
    ActivityContext, ActivityError, Host, HostBuilder, HostError, RunStatus, WorkflowOutcome,
};
use weft_tests::{TestHost, command_shape, log_lines, outcome_line, wait_blocking, wait_until};

fn order_input(id: &str, card: &str, ship_after_ms: u64) -> Value {
    json!({
        "order_id": id,
        "items": [{"sku": "mug", "quantity": 2, "price_cents": 1250}, {"sku": "tea", "quantity": 1, "price_cents": 800}],
        "card": {"number": card},
        "ship_after_ms": ship_after_ms,
    })
}

async fn result(host: &Host, id: &str) -> WorkflowOutcome {
    tokio::time::timeout(Duration::from_secs(60), host.result(id))
        .await
        .unwrap_or_else(|_| panic!("{id} did not end: {:?}", host.history(id)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_order_workflow_ends_alike_in_rust_python_and_typescript() {
    let t = TestHost::new()
        .shared_compile_cache()
        .workflow("order-rust", weft_tests::ORDER)
        .workflow("order-python", weft_tests::PY_ORDER)
        .workflow("order-typescript", weft_tests::TS_ORDER)
        .order_activities_in("default");
    let host = t.start().await;
    for (card, what) in [("4242 4242", "paid"), ("4000 0002", "declined")] {
        let mut ends = Vec::new();
        for lang in ["rust", "python", "typescript"] {
            let id = format!("{what}-{lang}");
            host.start_workflow(&format!("order-{lang}"), &id, order_input("o-7", card, 20))
                .await
                .unwrap();
            let outcome = result(&host, &id).await;
            host.verify_replay(&id)
                .unwrap_or_else(|e| panic!("{id} replays: {e}"));
            ends.push((
                lang,
                outcome,
                command_shape(&host.history(&id).unwrap(), &[]),
            ));
        }
        let (_, rust_outcome, rust_shape) = &ends[0];
        match (what, rust_outcome) {
            ("paid", WorkflowOutcome::Completed(receipt)) => assert_eq!(
                receipt,
                &json!({"order_id": "o-7", "reservation_id": "rsv-1", "charge_id": "ch-1", "tracking_number": "TRK-1", "total_cents": 3300})
            ),
            ("declined", WorkflowOutcome::Failed(f)) => {
                assert_eq!(f.error_type, "PaymentFailed");
            }
            _ => panic!("{what}: {rust_outcome:?}"),
        }
        for (lang, outcome, shape) in &ends[1..] {
            assert_eq!(
                outcome, rust_outcome,
                "{lang} ends as the Rust workflow ({what})"
            );
            assert_eq!(
                shape, rust_shape,
                "{lang}'s history has the Rust workflow's shape ({what})"
            );
        }
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_approval_workflow_takes_signals_queries_and_updates_in_python_and_typescript() {
    let t = TestHost::new()
        .shared_compile_cache()
        .workflow("approval-python", weft_tests::PY_APPROVAL)
        .workflow("approval-typescript", weft_tests::TS_APPROVAL)
        .with(|b| {
            b.activity("pay", |_c: ActivityContext, v: Value| async move {
                Ok::<_, ActivityError>(format!(
                    "payment of {} cents for {}",
                    v["amount_cents"], v["id"]
                ))
            })
        });
    let host = t.start().await;
    for lang in ["python", "typescript"] {
        let id = format!("expense-{lang}");
        host.start_workflow(
            &format!("approval-{lang}"),
            &id,
            json!({"id": "e-1", "amount_cents": 12000}),
        )
        .await
        .unwrap();
        let status = host
            .namespace("default")
            .unwrap()
            .query(&id, "status", json!(null))
            .await
            .unwrap();
        assert_eq!(
            status,
            json!({"amount_cents": 12000, "state": "waiting for a decision"}),
            "{lang}"
        );
        match host
            .namespace("default")
            .unwrap()
            .update(&id, "set_amount", json!(0))
            .await
        {
            Err(HostError::UpdateRejected(f)) => assert_eq!(f.error_type, "InvalidAmount"),
            other => panic!("{lang}: set_amount(0) is rejected by the validator: {other:?}"),
        }
        assert_eq!(
            host.namespace("default")
                .unwrap()
                .update(&id, "set_amount", json!(9900))
                .await
                .unwrap(),
            json!(9900)
        );
        let status = host
            .namespace("default")
            .unwrap()
            .query(&id, "status", json!(null))
            .await
            .unwrap();
        assert_eq!(status["amount_cents"], json!(9900), "{lang}");
        host.namespace("default")
            .unwrap()
            .signal(&id, "decide", json!({"approved": true, "by": "ann"}))
            .await
            .unwrap();
        assert_eq!(
            result(&host, &id).await,
            WorkflowOutcome::Completed(json!({
                "amount_cents": 9900, "approved": true, "by": "ann", "id": "e-1",
                "payment": "payment of 9900 cents for \"e-1\""
            })),
            "{lang}"
        );
        // A query on the closed workflow reads the state it left.
        let status = host
            .namespace("default")
            .unwrap()
            .query(&id, "status", json!(null))
            .await
            .unwrap();
        assert_eq!(status["state"], json!("paid"), "{lang}");
        host.verify_replay(&id).unwrap();
        // The rejected update left no trace in the history.
        let history = host.history(&id).unwrap();
        let accepted = history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::WorkflowExecutionUpdateAccepted { .. }))
            .count();
        assert_eq!(accepted, 1, "{lang}");
    }
    host.shutdown().await;
}

/// Runs the order workflow in `component` up to its shipping timer, then restarts the host
/// with `changed` (which charges with another activity type): the next Workflow Task fails as
/// non-deterministic and the run stays open; back on the original code, it completes.
async fn changed_code_fails_the_task(component: &'static str, changed: &'static str) {
    let with = |c: &'static str| {
        TestHost::new()
            .shared_compile_cache()
            .workflow("order", c)
            .order_activities_in("default")
    };
    let original = with(component);
    let host = original.start().await;
    let changed_bytes = std::fs::read(changed).unwrap();
    // Compiles the changed component once (into the cache), so the check below is quick.
    let check = host
        .namespace("default")
        .unwrap()
        .check_workflow("order", changed_bytes.clone())
        .await
        .unwrap();
    assert!(check.incompatible.is_empty(), "{check:?}");
    host.start_workflow("order", "o", order_input("o-1", "4242", 3000))
        .await
        .unwrap();
    wait_until("the shipping timer is started", || {
        host.history("o").is_ok_and(|h| {
            h.iter()
                .any(|e| matches!(e.kind, EventKind::TimerStarted { .. }))
        })
    })
    .await;
    // The dry run names the divergence before anything is deployed.
    let check = host
        .namespace("default")
        .unwrap()
        .check_workflow("order", changed_bytes)
        .await
        .unwrap();
    assert_eq!(check.incompatible.len(), 1, "{check:?}");
    host.shutdown().await;

    // A host that has only the changed code: the run moves to it.
    let only = |c: &str| {
        HostBuilder::new(original.db())
            .limits(weft_tests::test_limits())
            .compile_cache(weft_tests::shared_compile_cache_dir())
            .workflow_file("order", c)
            .namespace("default", weft_tests::order_activities)
    };
    let host = only(changed).start().await.unwrap();
    wait_until("a non-determinism task failure", || {
        host.history("o").is_ok_and(|h| {
            h.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::WorkflowTaskFailed {
                        cause: WorkflowTaskFailedCause::NonDeterminism,
                        ..
                    }
                )
            })
        })
    })
    .await;
    assert_eq!(host.describe("o").unwrap().status, RunStatus::Running);
    host.shutdown().await;

    let host = only(component).start().await.unwrap();
    match result(&host, "o").await {
        WorkflowOutcome::Completed(r) => assert_eq!(r["tracking_number"], json!("TRK-1")),
        other => panic!("the fixed code completes the run: {other:?}"),
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_python_code_fails_the_task_not_the_execution() {
    changed_code_fails_the_task(weft_tests::PY_ORDER, weft_tests::PY_ORDER_CHANGED).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_typescript_code_fails_the_task_not_the_execution() {
    changed_code_fails_the_task(weft_tests::TS_ORDER, weft_tests::TS_ORDER_CHANGED).await;
}

/// Two runs of one probe component: the language's own clock is workflow time, its own random
/// sources differ between runs, and each run replays to the same values.
async fn runtime_is_deterministic(component: &'static str, own_random: &[&str]) {
    let t = TestHost::new()
        .shared_compile_cache()
        .workflow("probe", component);
    let host = t.start().await;
    let mut results = Vec::new();
    for id in ["p1", "p2"] {
        host.start_workflow("probe", id, json!(null)).await.unwrap();
        let WorkflowOutcome::Completed(r) = result(&host, id).await else {
            panic!("the probe completes: {:?}", host.history(id));
        };
        let history = host.history(id).unwrap();
        let last_task_ms = history
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::WorkflowTaskStarted { .. }))
            .unwrap()
            .time_ms;
        assert_eq!(
            r["now_ms"],
            json!(last_task_ms),
            "now_ms is workflow time: {r}"
        );
        assert_eq!(
            r["time"], r["now_ms"],
            "the language's clock is workflow time: {r}"
        );
        host.verify_replay(id)
            .unwrap_or_else(|e| panic!("{id} replays to the same values: {e}"));
        results.push(r);
    }
    for key in own_random.iter().chain(&["uuid"]) {
        assert_ne!(
            results[0][key], results[1][key],
            "{key} differs between two runs: {results:?}"
        );
        assert!(!results[0][key].is_null(), "{key} is reported: {results:?}");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_time_and_random_are_workflow_time_and_per_run_randomness() {
    runtime_is_deterministic(weft_tests::PY_PROBE, &["random", "urandom"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_builds_of_one_python_source_hash_strings_alike() {
    let t = TestHost::new()
        .shared_compile_cache()
        .workflow("probe", weft_tests::PY_PROBE)
        .workflow("probe-rebuilt", weft_tests::PY_PROBE_REBUILT);
    let host = t.start().await;
    let mut seen = Vec::new();
    for ty in ["probe", "probe-rebuilt"] {
        host.start_workflow(ty, ty, json!(null)).await.unwrap();
        let WorkflowOutcome::Completed(r) = result(&host, ty).await else {
            panic!("the probe completes: {:?}", host.history(ty));
        };
        seen.push((r["str_hash"].clone(), r["set_order"].clone()));
    }
    assert!(seen[0].0.is_i64(), "{seen:?}");
    assert_eq!(
        seen[0], seen[1],
        "the same str hashes and set order in both builds"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_time_and_random_are_workflow_time_and_per_run_randomness() {
    runtime_is_deterministic(weft_tests::TS_PROBE, &["random", "crypto"]).await;
}

const HOST: &str = env!("CARGO_BIN_EXE_test_host");

fn spawn(db: &Path, log: &Path, cache: &Path, component: &str, start: bool) -> Child {
    let mut cmd = Command::new(HOST);
    cmd.arg("--db")
        .arg(db)
        .arg("--log")
        .arg(log)
        .arg("--compile-cache")
        .arg(cache)
        .arg("--wasm")
        .arg(format!("order={component}"))
        .args(["--wait", "o"]);
    if start {
        cmd.args(["--start", "o", "--type", "order", "--input"])
            .arg(order_input("o-9", "4242", 1500).to_string());
    }
    cmd.stdout(Stdio::piped()).spawn().expect("spawn test host")
}

/// `kill -9` while the run waits on its shipping timer, then a restart on the same file: the
/// run completes, the activities that completed before are not run again.
fn survives_kill_9(component: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("weft.redb"), dir.path().join("runs.log"));
    let cache = weft_tests::shared_compile_cache_dir();
    let mut child = spawn(&db, &log, &cache, component, true);
    wait_blocking("both first activities ran", || {
        let lines = log_lines(&log);
        ["reserve_inventory", "charge_card"]
            .iter()
            .all(|a| lines.iter().any(|l| l.starts_with(&format!("order {a} "))))
    });
    // Their completions and the timer are committed within a task or two.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("kill -9");
    child.wait().unwrap();
    assert!(
        !log_lines(&log)
            .iter()
            .any(|l| l.starts_with("order ship_order")),
        "killed before shipping"
    );

    let mut child = spawn(&db, &log, &cache, component, false);
    let line = outcome_line(&mut child);
    let receipt: Value = serde_json::from_str(line.strip_prefix("RESULT ").expect(&line)).unwrap();
    assert_eq!(receipt["tracking_number"], json!("TRK-1"));
    assert_eq!(receipt["total_cents"], json!(3300));
    let lines = log_lines(&log);
    for a in ["reserve_inventory", "charge_card", "ship_order"] {
        let runs = lines
            .iter()
            .filter(|l| l.starts_with(&format!("order {a} ")))
            .count();
        assert_eq!(runs, 1, "{a} ran once: {lines:?}");
    }
}

#[test]
fn a_python_workflow_survives_kill_9() {
    survives_kill_9(weft_tests::PY_ORDER);
}

#[test]
fn a_typescript_workflow_survives_kill_9() {
    survives_kill_9(weft_tests::TS_ORDER);
}

#[test]
fn weft_build_skips_unchanged_sources_and_refuses_what_it_cannot_build() {
    use weft_guest_build::{Language, PolyglotBuilder};
    let toolchains =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guest-toolchains");
    let builder = PolyglotBuilder::new(&toolchains);
    // The build script built the conformance workflow from these sources: nothing to do.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guests-py/conformance.py");
    let built = builder
        .build(
            Language::Python,
            &source,
            Path::new(weft_tests::PY_CONFORMANCE),
        )
        .unwrap();
    assert!(!built.rebuilt, "unchanged sources are not built again");
    assert!(built.bytes > 1 << 20);

    let dir = tempfile::tempdir().unwrap();
    // A module named like the SDK cannot be imported beside it.
    let shadow = dir.path().join("weft.py");
    std::fs::write(&shadow, "x = 1\n").unwrap();
    let err = builder
        .build(Language::Python, &shadow, &dir.path().join("out.wasm"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("may not be named `weft`"), "{err}");
    // A syntax error is reported with the tool's own output, and nothing is written.
    let broken = dir.path().join("broken.ts");
    std::fs::write(
        &broken,
        "import { workflow } from 'weft';\nworkflow(async () => {\n",
    )
    .unwrap();
    let out = dir.path().join("broken.wasm");
    let err = builder
        .build(Language::TypeScript, &broken, &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.ts"), "the error names the file: {err}");
    assert!(!out.exists());
}

/// The default sticky cache holds dozens of suspended interpreters at once, so a Python or
/// TypeScript run's next task resumes its instance instead of starting the interpreter and
/// replaying.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_sticky_cache_keeps_dozens_of_python_and_typescript_instances() {
    let t = TestHost::new()
        .shared_compile_cache()
        .workflow("approval-python", weft_tests::PY_APPROVAL)
        .workflow("approval-typescript", weft_tests::TS_APPROVAL)
        .with(|b| {
            b.activity("pay", |_c: ActivityContext, _v: Value| async move {
                Ok::<_, ActivityError>("paid".to_string())
            })
        });
    let host = t.start().await;
    let ids: Vec<(String, &str)> = (0..24)
        .flat_map(|i| ["python", "typescript"].map(|lang| (format!("{lang}-{i}"), lang)))
        .collect();
    for (id, lang) in &ids {
        host.start_workflow(
            &format!("approval-{lang}"),
            id,
            json!({"id": id, "amount_cents": 100}),
        )
        .await
        .unwrap();
    }
    wait_until("every run waits for its decision", || {
        ids.iter().all(|(id, _)| {
            host.history(id).is_ok_and(|h| {
                h.iter()
                    .any(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
            })
        })
    })
    .await;
    let held = host.cache_stats();
    assert_eq!(held.entries, ids.len(), "{held:?}");
    assert_eq!(held.evictions, 0, "{held:?}");
    for (id, _) in &ids {
        host.namespace("default")
            .unwrap()
            .signal(id, "decide", json!({"approved": true, "by": "ann"}))
            .await
            .unwrap();
    }
    for (id, _) in &ids {
        assert!(matches!(
            result(&host, id).await,
            WorkflowOutcome::Completed(_)
        ));
    }
    let after = host.cache_stats();
    assert!(
        after.hits >= ids.len() as u64,
        "every run's next task resumed its instance: {after:?}"
    );
    host.shutdown().await;
}
