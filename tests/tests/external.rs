//! A workflow signals or cancels another workflow of its namespace (temporalio/features
//! signal/external, child_workflow/signal), through real components and database files: the
//! target receives the signal or cancel request, the source sees whether it was delivered, a
//! missing or closed target (or one in another namespace) fails with Temporal's cause, and the
//! closed source replays after a restart.

use serde_json::{Value, json};
use std::time::Duration;
use weft::{Client, RunStatus, WorkflowOutcome};
use weft_tests::{TestHost, wait_until};

/// The `semantics` workflow in the default namespace and in namespace `other`.
fn test_host() -> TestHost {
    TestHost::new()
        .workflow("semantics", weft_tests::SEMANTICS)
        .namespace("other", |ns| {
            ns.workflow_file("semantics", weft_tests::SEMANTICS)
        })
}

fn names(c: &Client, id: &str) -> Vec<&'static str> {
    c.history(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

async fn outcome(c: &Client, id: &str) -> WorkflowOutcome {
    tokio::time::timeout(Duration::from_secs(120), c.result(id))
        .await
        .unwrap_or_else(|_| panic!("{id} did not close: {:?}", names(c, id)))
        .unwrap()
}

async fn completed(c: &Client, id: &str) -> Value {
    match outcome(c, id).await {
        WorkflowOutcome::Completed(v) => v,
        other => panic!("{id} did not complete: {other:?}\n{:#?}", names(c, id)),
    }
}

const NOT_FOUND: &str = "ExternalWorkflowExecutionNotFound";

/// Asserts that `v` is the report of a request refused because its target was not found.
fn assert_not_found(v: &Value, target: &str) {
    assert_eq!(v["error"], NOT_FOUND, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(
        message.contains(target),
        "the message names the target: {message}"
    );
}

#[tokio::test]
async fn a_workflow_signals_another_and_a_missing_one_fails() {
    let t = test_host();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    let other = host.namespace("other").unwrap();

    // Targets: a signal handler and a signal channel; one of the same id in another
    // namespace must not be reachable.
    c.start_workflow("semantics", "handler", json!({"mode": "prevent-close"}))
        .await
        .unwrap();
    c.start_workflow("semantics", "channel", json!({"mode": "child-wait"}))
        .await
        .unwrap();
    other
        .start_workflow("semantics", "elsewhere", json!({"mode": "prevent-close"}))
        .await
        .unwrap();

    c.start_workflow(
        "semantics",
        "src",
        json!({"mode": "signal-external", "children": ["handler", "missing", "elsewhere"], "child_mode": "add", "n": 7}),
    )
    .await
    .unwrap();
    let report = completed(&c, "src").await;
    assert_eq!(report[0], "ok", "{report}");
    assert_not_found(&report[1], "missing");
    assert_not_found(&report[2], "elsewhere");
    assert_eq!(completed(&c, "handler").await, json!([7]));
    let src = names(&c, "src");
    let count = |n: &str| src.iter().filter(|e| **e == n).count();
    assert_eq!(
        count("SignalExternalWorkflowExecutionInitiated"),
        3,
        "{src:?}"
    );
    assert_eq!(count("ExternalWorkflowExecutionSignaled"), 1, "{src:?}");
    assert_eq!(count("SignalExternalWorkflowExecutionFailed"), 2, "{src:?}");
    assert!(names(&c, "handler").contains(&"WorkflowExecutionSignaled"));
    // The other namespace's workflow got nothing and still runs.
    assert!(!names(&other, "elsewhere").contains(&"WorkflowExecutionSignaled"));
    assert_eq!(
        other.describe("elsewhere").unwrap().status,
        RunStatus::Running
    );

    // child_workflow/signal style: the target reads the signal from a channel.
    c.start_workflow(
        "semantics",
        "src-channel",
        json!({"mode": "signal-external", "children": ["channel"], "child_mode": "finish"}),
    )
    .await
    .unwrap();
    assert_eq!(completed(&c, "src-channel").await, json!(["ok"]));
    assert_eq!(completed(&c, "channel").await, json!("child finished"));

    // A closed target is not found either.
    c.start_workflow(
        "semantics",
        "src-closed",
        json!({"mode": "signal-external", "children": ["handler"], "child_mode": "add", "n": 1}),
    )
    .await
    .unwrap();
    let report = completed(&c, "src-closed").await;
    assert_not_found(&report[0], "handler");

    for id in ["src", "src-channel", "src-closed", "handler"] {
        c.verify_replay(id).unwrap();
    }
    let before = c.history("src").unwrap();

    // After a restart the closed source still replays against its recorded events.
    host.shutdown().await;
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    assert_eq!(c.history("src").unwrap(), before);
    c.verify_replay("src").unwrap();
    c.verify_replay("src-channel").unwrap();
    host.shutdown().await;
}

#[tokio::test]
async fn a_workflow_cancels_another() {
    let t = test_host();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();

    c.start_workflow("semantics", "sleeper", json!({"mode": "sleep"}))
        .await
        .unwrap();
    wait_until("the target sleeps", || {
        names(&c, "sleeper").contains(&"TimerStarted")
    })
    .await;
    c.start_workflow(
        "semantics",
        "canceler",
        json!({"mode": "cancel-external", "children": ["sleeper", "nobody"]}),
    )
    .await
    .unwrap();
    let report = completed(&c, "canceler").await;
    assert_eq!(report[0], "ok", "{report}");
    assert_not_found(&report[1], "nobody");
    match outcome(&c, "sleeper").await {
        WorkflowOutcome::Failed(f) => assert_eq!(f.error_type, "Canceled", "{f}"),
        other => panic!("the target did not end as canceled: {other:?}"),
    }
    assert_eq!(c.describe("sleeper").unwrap().status, RunStatus::Canceled);
    let reason = c
        .history("sleeper")
        .unwrap()
        .into_iter()
        .find_map(|e| match e.kind {
            weft::EventKind::WorkflowExecutionCancelRequested { reason } => Some(reason),
            _ => None,
        })
        .expect("the target recorded the cancel request");
    assert_eq!(reason, "asked by canceler");
    let src = names(&c, "canceler");
    for n in [
        "RequestCancelExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionCancelRequested",
        "RequestCancelExternalWorkflowExecutionFailed",
    ] {
        assert!(src.contains(&n), "{n} missing: {src:?}");
    }

    host.shutdown().await;
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    c.verify_replay("canceler").unwrap();
    host.shutdown().await;
}
