//! The message model through real components: every recorded signal reaches the code before
//! it goes on, so none is lost when the run closes or continues as new (modelled on
//! temporalio/features `signal/signal_with_start`, `signal/prevent_close` and
//! `continue_as_new/signals_block_continue_as_new`).

use serde_json::{Value, json};
use std::time::Duration;
use weft::{Limits, WorkflowOutcome};
use weft_tests::{TestHost, wait_until};

async fn completed(c: &weft::Client, id: &str) -> Value {
    let outcome = tokio::time::timeout(Duration::from_secs(30), c.result(id))
        .await
        .unwrap_or_else(|_| {
            let d = c.describe(id).unwrap();
            panic!("{id} did not close: {:?}", d.last_workflow_task_failure)
        });
    match outcome.unwrap() {
        WorkflowOutcome::Completed(v) => v,
        other => panic!("{id}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_with_start_is_handled_before_the_code_runs() {
    let t = TestHost::new().workflow("semantics", weft_tests::SEMANTICS);
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    c.signal_with_start(
        "semantics",
        "sws",
        json!({"mode": "signal-with-start"}),
        "add",
        json!(42),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(completed(&c, "sws").await, json!(43));
    c.verify_replay("sws").unwrap();
    drop(c);
    host.shutdown().await;
}

/// Signals recorded before the code first runs (a component that only spins stands in for it
/// until they arrived, failing its tasks) all reach it: the run that waits for one returns both, and the run that continues
/// as new carries both into its next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_recorded_signal_is_lost_when_a_run_closes_or_continues_as_new() {
    let t = TestHost::new()
        .limits(Limits {
            max_task_time: Duration::from_millis(100),
            workflow_task_retry_initial: Duration::from_millis(50),
            workflow_task_retry_max: Duration::from_millis(100),
            ..Limits::default()
        })
        .workflow("semantics", weft_tests::SPIN);
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    c.start_workflow("semantics", "prevent", json!({"mode": "prevent-close"}))
        .await
        .unwrap();
    c.start_workflow("semantics", "can", json!({"mode": "can-signals"}))
        .await
        .unwrap();
    for (id, name, inputs) in [
        ("prevent", "add", [json!(1), json!(2)]),
        ("can", "note", [json!("a"), json!("b")]),
    ] {
        for input in inputs {
            c.signal(id, name, input).await.unwrap();
        }
    }
    // Until the real component is registered, tasks fail and the signals wait in the
    // histories.
    wait_until("the first task failure", || {
        c.describe("prevent")
            .unwrap()
            .last_workflow_task_failure
            .is_some()
    })
    .await;
    // Runs stay on the version they started with; the fixed one takes them once moved (their
    // histories hold no completed task, so it replays them).
    let bytes = std::fs::read(weft_tests::SEMANTICS).unwrap();
    c.register_workflow("semantics", bytes).await.unwrap();
    let moved = c.move_compatible_runs("semantics").await.unwrap();
    assert_eq!(moved.compatible, ["can", "prevent"], "{moved:?}");
    assert_eq!(completed(&c, "prevent").await, json!([1, 2]));
    assert_eq!(completed(&c, "can").await, json!(["a", "b"]));
    c.verify_replay("prevent").unwrap();
    drop(c);
    host.shutdown().await;
}

/// A component built against `weft:workflow@0.2.0` (before `take-messages`) still links and
/// runs to completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_against_wit_0_2_0_still_runs() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/steps-wit-0.2.0.wasm");
    let t = TestHost::new().steps().workflow("steps", fixture);
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    c.start_workflow("steps", "old", json!({"count": 2, "sleep_ms": 0}))
        .await
        .unwrap();
    assert_eq!(
        completed(&c, "old").await,
        json!({"results": ["step-0", "step-1"]})
    );
    drop(c);
    host.shutdown().await;
}

/// Modelled on temporalio/features `update/task_failure`: a validator that panics rejects its
/// update and records nothing; a handler that panics fails the Workflow Task, and the update is
/// delivered again with later tasks until its handler succeeds, while the caller waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_validator_rejects_and_a_panicking_handler_is_retried() {
    let t = TestHost::new()
        .limits(Limits {
            workflow_task_retry_initial: Duration::from_millis(50),
            workflow_task_retry_max: Duration::from_millis(200),
            ..Limits::default()
        })
        .steps()
        .workflow("semantics", weft_tests::SEMANTICS);
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    c.start_workflow("semantics", "u", json!({"mode": "update"}))
        .await
        .unwrap();
    wait_until("the first task", || {
        c.history("u")
            .unwrap()
            .iter()
            .any(|e| e.kind.name() == "WorkflowTaskCompleted")
    })
    .await;
    let before = c.history("u").unwrap().len();
    let err = c.update("u", "add", json!(666)).await.unwrap_err();
    let weft::HostError::UpdateRejected(f) = err else {
        panic!("a panicking validator must reject: {err:?}")
    };
    assert!(f.message.contains("the validator exploded on 666"), "{f:?}");
    assert_eq!(
        c.history("u").unwrap().len(),
        before,
        "a rejection records nothing"
    );

    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 400;
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        c.update("u", "flaky", json!({"panic_until_ms": until})),
    )
    .await
    .expect("the update is delivered again until its handler succeeds")
    .unwrap();
    assert_eq!(r, json!("recovered"));
    // The update was sent before `until`; the attempt that accepted it started after it, so
    // the earlier attempts panicked and were retried. It is applied once.
    let history = c.history("u").unwrap();
    let accepted = history
        .iter()
        .position(|e| e.kind.name() == "WorkflowExecutionUpdateAccepted")
        .unwrap();
    let started = history[..accepted]
        .iter()
        .rev()
        .find(|e| e.kind.name() == "WorkflowTaskStarted")
        .unwrap();
    assert!(started.time_ms >= until, "{} < {until}", started.time_ms);
    let completions = history
        .iter()
        .filter(|e| e.kind.name() == "WorkflowExecutionUpdateCompleted")
        .count();
    assert_eq!(completions, 1);
    // The workflow goes on normally.
    assert_eq!(c.update("u", "add", json!(5)).await.unwrap(), json!(5));
    c.signal("u", "finish", json!(null)).await.unwrap();
    assert_eq!(completed(&c, "u").await, json!({"total": 5}));
    c.verify_replay("u").unwrap();
    // A query goes through the host that owns the run: once it is shut down, a client it
    // handed out gets a clear error, not an answer computed in the caller's process.
    assert!(c.query("u", "total", json!(null)).await.is_ok());
    host.shutdown().await;
    let err = c.query("u", "total", json!(null)).await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}
