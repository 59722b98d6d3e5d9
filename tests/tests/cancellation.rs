//! Cancellation types end to end (temporalio/features activity/cancel_try_cancel,
//! cancel_wait_cancel, cancel_abandon): an activity that keeps running after the cancel
//! request, canceled with each type, through a real component and database file.

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use weft::history::{CancellationType, EventKind};
use weft::{ActivityContext, ActivityError, Host, WorkflowOutcome};
use weft_tests::{TestHost, wait_until};

/// What each `stubborn` activity (by key) saw: told of the cancel, and finished.
static SEEN: Mutex<Option<HashMap<String, (bool, bool)>>> = Mutex::new(None);

fn seen(key: &str) -> (bool, bool) {
    SEEN.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(key).copied())
        .unwrap_or_default()
}

fn note(key: &str, f: impl FnOnce(&mut (bool, bool))) {
    let mut g = SEEN.lock().unwrap();
    f(g.get_or_insert_with(HashMap::new)
        .entry(key.to_string())
        .or_default());
}

#[derive(Deserialize)]
struct Stubborn {
    key: String,
}

/// The `features` workflow with the `stubborn` activity.
fn test_host() -> TestHost {
    TestHost::new().namespace("default", |ns| {
        ns.workflow_file("features", weft_tests::FEATURES).activity(
            "stubborn",
            // Heartbeats for 1.5 s, notes a cancel request, and finishes anyway.
            |ctx: ActivityContext, s: Stubborn| async move {
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let _ = ctx.heartbeat(&"working").await;
                    if ctx.is_cancel_requested() {
                        note(&s.key, |n| n.0 = true);
                    }
                }
                note(&s.key, |n| n.1 = true);
                Ok::<_, ActivityError>("finished".to_string())
            },
        )
    })
}

async fn run(host: &Host, id: &str, cancellation: &str) -> Value {
    let input = json!({"mode": "cancel-type", "cancellation": cancellation, "key": id});
    host.start_workflow("features", id, input).await.unwrap();
    match host.result(id).await.unwrap() {
        WorkflowOutcome::Completed(v) => v,
        WorkflowOutcome::Failed(f) => panic!("{id} failed: {f}"),
    }
}

/// The cancellation type recorded in the run's ActivityTaskCancelRequested.
fn recorded_type(host: &Host, id: &str) -> CancellationType {
    host.history(id)
        .unwrap()
        .iter()
        .find_map(|e| match e.kind {
            EventKind::ActivityTaskCancelRequested {
                cancellation_type, ..
            } => Some(cancellation_type),
            _ => None,
        })
        .expect("ActivityTaskCancelRequested recorded")
}

#[tokio::test(flavor = "multi_thread")]
async fn try_cancel_resolves_at_once_and_the_activity_is_told() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "try", "try-cancel").await;
    assert_eq!(v, json!({"activity": "Canceled"}));
    // The workflow went on while the attempt still ran.
    assert!(!seen("try").1, "the workflow waited for the activity");
    assert_eq!(recorded_type(&host, "try"), CancellationType::TryCancel);
    wait_until("the stubborn attempt to end", || seen("try").1).await;
    assert!(seen("try").0, "the running attempt was told to stop");
    host.verify_replay("try").unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_cancellation_completed_hands_over_the_late_result() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "wait", "wait").await;
    // The attempt was told, finished anyway, and the workflow got its result.
    assert_eq!(v, json!({"activity": "finished"}));
    assert_eq!(seen("wait"), (true, true));
    assert_eq!(
        recorded_type(&host, "wait"),
        CancellationType::WaitCancellationCompleted
    );
    let names: Vec<_> = host
        .history("wait")
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect();
    assert!(names.contains(&"ActivityTaskCompleted"), "{names:?}");
    host.verify_replay("wait").unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn abandon_resolves_at_once_and_the_activity_is_never_told() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "abandon", "abandon").await;
    assert_eq!(v, json!({"activity": "Canceled"}));
    assert!(!seen("abandon").1, "the workflow waited for the activity");
    assert_eq!(recorded_type(&host, "abandon"), CancellationType::Abandon);
    wait_until("the abandoned attempt to end", || seen("abandon").1).await;
    assert!(!seen("abandon").0, "an abandoned activity must not be told");
    host.verify_replay("abandon").unwrap();
    host.shutdown().await;
}
