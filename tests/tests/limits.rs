//! Limits checked before the commit that would pass them, through real components and
//! database files: a Workflow Task that would take a run's history past its namespace's limit
//! is refused whole and the run terminated, without the database growing by its payloads;
//! other events past the limit terminate the run (results) or are refused (signals); every
//! path that opens a run (children, workflow-backed Nexus operations) is held to the
//! open-workflow quota, while continue-as-new and retries, which replace a run, go on at it.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use weft::history::{EventKind, child_start_cause};
use weft::{
    ActivityContext, ActivityError, Client, Quotas, RetryPolicy, RunStatus, StartOptions,
    WorkflowOutcome,
};
use weft_tests::{TestHost, wait_until};

/// History limit per run of the `bounded` namespace.
const HISTORY_BYTES: u64 = 1 << 20;

#[derive(Deserialize)]
struct Big {
    size: usize,
}

/// Namespace `bounded`, held to `quotas`: the `semantics`, `steps` and `features` workflows,
/// the `step` activities, `big` (a string of `size` bytes) and a workflow-backed Nexus
/// operation.
fn test_host(quotas: Quotas) -> TestHost {
    TestHost::new()
        .steps_in("bounded")
        .namespace("bounded", move |ns| {
            ns.workflow_file("semantics", weft_tests::SEMANTICS)
                .workflow_file("steps", weft_tests::STEPS)
                .activity("big", |_c: ActivityContext, b: Big| async move {
                    Ok::<_, ActivityError>("y".repeat(b.size))
                })
                .nexus_workflow_operation("flows", "steps", "run", "steps")
                .workflow_file("features", weft_tests::FEATURES)
                .quotas(quotas.clone())
        })
}

fn names(c: &Client, id: &str) -> Vec<&'static str> {
    c.history(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

/// Encoded bytes of `id`'s history, as the limit counts them.
fn history_bytes(c: &Client, id: &str) -> u64 {
    c.history(id)
        .unwrap()
        .iter()
        .map(|e| weft::history::encode(e).len() as u64)
        .sum()
}

async fn outcome(c: &Client, id: &str) -> WorkflowOutcome {
    tokio::time::timeout(Duration::from_secs(120), c.result(id))
        .await
        .unwrap_or_else(|_| panic!("{id} did not close: {:?}", names(c, id)))
        .unwrap()
}

async fn terminated(c: &Client, id: &str) -> String {
    match outcome(c, id).await {
        WorkflowOutcome::Failed(f) if f.error_type == "Terminated" => f.message,
        other => panic!("{id} was not terminated: {other:?}\n{:?}", names(c, id)),
    }
}

async fn completed(c: &Client, id: &str) -> Value {
    match outcome(c, id).await {
        WorkflowOutcome::Completed(v) => v,
        other => panic!("{id} did not complete: {other:?}\n{:?}", names(c, id)),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_would_pass_the_history_limit_is_refused_whole_and_the_run_terminated() {
    let t = test_host(Quotas {
        max_history_bytes: Some(HISTORY_BYTES),
        ..Quotas::default()
    });
    let db = t.db();
    let host = t.start().await;
    let c = host.namespace("bounded").unwrap();

    // Warm the file up (its first pages and tables) so its size moves with payloads only.
    c.start_workflow("semantics", "warm", json!({"mode": "child", "n": 1}))
        .await
        .unwrap();
    completed(&c, "warm").await;
    let before = std::fs::metadata(db).unwrap().len();

    // 16 activities of 256 KiB each, all in one task: 4 MiB against a 1 MiB limit.
    let (n, size) = (16u64, 256 * 1024u64);
    c.start_workflow(
        "semantics",
        "fan",
        json!({"mode": "fan-out-big", "n": n, "size": size}),
    )
    .await
    .unwrap();
    let reason = terminated(&c, "fan").await;
    assert!(
        reason.contains(&format!("limit of {HISTORY_BYTES} bytes")),
        "{reason}"
    );
    assert!(
        reason.contains("this Workflow Task (16 commands"),
        "{reason}"
    );
    assert!(reason.contains("continue-as-new"), "{reason}");
    // The task's refused payloads alone would have reached at least this.
    let refused_payloads = n * size;
    assert!(
        reason.contains("would have brought it to"),
        "{reason} (payloads {refused_payloads})"
    );

    // Nothing of the task was committed: no activity was scheduled or ran.
    let events = names(&c, "fan");
    assert_eq!(
        events,
        [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowExecutionTerminated"
        ],
        "{events:?}"
    );
    assert_eq!(c.describe("fan").unwrap().status, RunStatus::Terminated);
    assert!(history_bytes(&c, "fan") < HISTORY_BYTES);
    assert_eq!(c.usage().unwrap().open_workflows, 0);

    // The database did not grow by the refused payloads (a few pages for the start and the
    // termination, at most).
    let after = std::fs::metadata(db).unwrap().len();
    let grown = after.saturating_sub(before);
    eprintln!(
        "database file: {before} bytes before, {after} after (refused {refused_payloads} bytes of payloads)"
    );
    assert!(
        grown < refused_payloads / 8,
        "the file grew by {grown} bytes for a refused task of {refused_payloads} bytes"
    );

    // The same workflow within the limit runs.
    c.start_workflow(
        "semantics",
        "fan-small",
        json!({"mode": "fan-out-big", "n": 4, "size": 16 * 1024}),
    )
    .await
    .unwrap();
    assert_eq!(completed(&c, "fan-small").await, json!({"done": 4}));
    drop(c);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn results_past_the_limit_terminate_the_run_and_signals_past_it_are_refused() {
    let t = test_host(Quotas {
        max_history_bytes: Some(HISTORY_BYTES),
        ..Quotas::default()
    });
    let host = t.start().await;
    let c = host.namespace("bounded").unwrap();

    // An activity result of 1.5 MiB cannot be recorded: the run cannot go on without it, so
    // it is terminated, as Temporal terminates a run at its history limit.
    c.start_workflow(
        "semantics",
        "big",
        json!({"mode": "big-result", "size": 3 << 19}),
    )
    .await
    .unwrap();
    let reason = terminated(&c, "big").await;
    assert!(
        reason.contains("ActivityTaskStarted") || reason.contains("ActivityTaskCompleted"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("limit of {HISTORY_BYTES} bytes")),
        "{reason}"
    );
    let events = names(&c, "big");
    assert!(!events.contains(&"ActivityTaskCompleted"), "{events:?}");
    assert!(history_bytes(&c, "big") < HISTORY_BYTES);

    // A signal that would pass the limit is refused to its sender; the run goes on and
    // takes the signals that fit.
    c.start_workflow("semantics", "sig", json!({"mode": "signals"}))
        .await
        .unwrap();
    let huge = "z".repeat(3 << 19);
    let err = c.signal("sig", "add", json!(huge)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("WorkflowExecutionSignaled")
            && text.contains(&format!("past its limit of {HISTORY_BYTES} bytes"))
            && text.contains("nothing was recorded"),
        "{text}"
    );
    assert!(!names(&c, "sig").contains(&"WorkflowExecutionSignaled"));
    c.signal("sig", "add", json!(5)).await.unwrap();
    c.signal("sig", "done", json!(null)).await.unwrap();
    assert_eq!(completed(&c, "sig").await["sum"], 5);
    drop(c);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn children_are_held_to_the_open_workflow_quota_and_continue_as_new_goes_on_at_it() {
    let t = test_host(Quotas {
        max_open_workflows: Some(3),
        ..Quotas::default()
    });
    let host = t.start().await;
    let c = host.namespace("bounded").unwrap();

    // One open workflow, then a parent (two) whose first child makes three: the second
    // child is refused in the parent's task, and the first continues as new at the limit.
    c.start_workflow("semantics", "sleeper", json!({"mode": "sleep"}))
        .await
        .unwrap();
    c.start_workflow(
        "semantics",
        "parent",
        json!({"mode": "parent", "children": ["c1", "c2"], "child_mode": "continue", "wait": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        completed(&c, "parent").await,
        json!({"children": [
            {"i": 1, "continued": true},
            {"error": child_start_cause::NAMESPACE_QUOTA},
        ]})
    );
    let failed: Vec<String> = c
        .history("parent")
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StartChildWorkflowExecutionFailed {
                workflow_id, cause, ..
            } => Some(format!("{workflow_id}: {cause}")),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["c2: NamespaceQuotaExceeded"]);
    assert!(c.describe("c2").is_err(), "nothing was written for c2");
    let d = c.describe("c1").unwrap();
    assert_eq!(
        (d.status, d.run_chain.len()),
        (RunStatus::Completed, 2),
        "{d:?}"
    );
    assert_eq!(
        c.usage().unwrap().open_workflows,
        1,
        "only the sleeper is open"
    );

    // Retries of an execution replace its run: at the limit they go on.
    c.start_workflow("semantics", "sleeper-2", json!({"mode": "sleep"}))
        .await
        .unwrap();
    let retry = StartOptions {
        retry_policy: Some(RetryPolicy {
            initial_interval_ms: 10,
            maximum_attempts: 5,
            ..RetryPolicy::default()
        }),
        ..StartOptions::default()
    };
    c.start_workflow_with(
        "semantics",
        "flaky",
        json!({"mode": "retry", "n": 3}),
        &retry,
    )
    .await
    .unwrap();
    assert_eq!(completed(&c, "flaky").await, json!({"attempt": 3}));
    assert_eq!(c.describe("flaky").unwrap().run_chain.len(), 3);
    assert_eq!(c.usage().unwrap().open_workflows, 2);

    // At the limit (two sleepers and the caller), a workflow-backed Nexus operation cannot
    // open its run: the operation fails, and so does the caller that awaits it.
    c.start_workflow(
        "features",
        "caller",
        json!({"mode": "nexus-workflow", "n": 1}),
    )
    .await
    .unwrap();
    let WorkflowOutcome::Failed(f) = outcome(&c, "caller").await else {
        panic!("the caller must fail: {:?}", names(&c, "caller"))
    };
    assert_eq!(f.error_type, child_start_cause::NAMESPACE_QUOTA, "{f}");
    assert!(f.message.contains("quota of 3 open workflows"), "{f}");
    assert!(names(&c, "caller").contains(&"NexusOperationFailed"));

    // The failed caller closed; a plain start takes the last place, the next is refused as
    // before, and closing a workflow makes room.
    assert_eq!(c.usage().unwrap().open_workflows, 2);
    c.start_workflow("semantics", "one-more", json!({"mode": "sleep"}))
        .await
        .unwrap();
    let err = c
        .start_workflow("semantics", "two-more", json!({"mode": "sleep"}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("quota of 3 open workflows"),
        "{err}"
    );
    c.terminate("sleeper", "done").await.unwrap();
    wait_until("the sleeper closed", || {
        c.usage().is_ok_and(|u| u.open_workflows == 2)
    })
    .await;
    c.start_workflow("semantics", "two-more", json!({"mode": "sleep"}))
        .await
        .unwrap();
    drop(c);
    host.shutdown().await;
}
