//! Reset end to end through real components and database files: a run failing on a bad
//! deployment is reset to its last good task and completes, signals after the point are
//! delivered again, the CLI resets a file, and a bad reset point is refused without a change.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use weft::history::{EventKind, WorkflowTaskFailedCause};
use weft::{Host, ResetOptions, RunStatus, WorkflowOutcome};
use weft_tests::{TestHost, wait_until, wait_until_or};

const WEFT: &str = env!("CARGO_BIN_EXE_weft_cli");

/// Starts a host on `t`'s database with its `step` activities and `component` as workflow
/// type `ty`.
async fn host_with(t: &TestHost, ty: &str, component: &str) -> Host {
    t.builder()
        .workflow_file(ty, component)
        .start()
        .await
        .unwrap()
}

fn count(host: &Host, id: &str, name: &str) -> usize {
    host.history(id)
        .unwrap()
        .iter()
        .filter(|e| e.kind.name() == name)
        .count()
}

/// Runs the CLI on `db`: (exit code, stdout, stderr).
fn weft(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(WEFT)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run weft");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_failing_on_a_bad_deployment_is_reset_through_the_cli_and_completes() {
    let t = TestHost::new().steps();
    let path = t.db();

    // Good code runs until the second activity is scheduled, which never finishes on this
    // host.
    let host = t
        .builder_holding_steps_from(1)
        .workflow_file("steps", weft_tests::STEPS)
        .start()
        .await
        .unwrap();
    host.start_workflow("steps", "s-1", json!({"count": 3, "sleep_ms": 1}))
        .await
        .unwrap();
    wait_until("two scheduled activities", || {
        count(&host, "s-1", "ActivityTaskScheduled") >= 2
    })
    .await;
    host.shutdown().await;

    // The bad deployment fails the run's Workflow Task.
    let host = host_with(&t, "steps", weft_tests::STEPS_CHANGED).await;
    wait_until_or(
        "a non-determinism task failure",
        || count(&host, "s-1", "WorkflowTaskFailed") >= 1,
        || {
            format!(
                "{:#?}\n{:#?}",
                host.describe("s-1"),
                host.history("s-1")
                    .map(|h| h.iter().map(|e| e.summary()).collect::<Vec<_>>())
            )
        },
    )
    .await;
    let old_run = host.describe("s-1").unwrap().run_id;
    host.shutdown().await;

    // A reset point that is not a WorkflowTaskCompleted is refused and changes nothing.
    let (_, before, _) = weft(path, &["history", "s-1"]);
    let (code, _, err) = weft(path, &["reset", "s-1", "--event", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("event 1") && err.contains("not a WorkflowTaskCompleted"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    let (_, after, _) = weft(path, &["history", "s-1"]);
    assert_eq!(before, after);

    // Reset to the last good task, offline.
    let (code, out, err) = weft(path, &["reset", "s-1", "--reason", "bad deploy"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("new run"), "{out}");

    // The good code completes the new run.
    let host = host_with(&t, "steps", weft_tests::STEPS).await;
    let outcome = host.result("s-1").await.unwrap();
    assert_eq!(
        outcome,
        WorkflowOutcome::Completed(json!({"results": ["step-0", "step-1", "step-2"]}))
    );
    let d = host.describe("s-1").unwrap();
    assert_eq!(d.run_chain, vec![old_run.clone(), d.run_id.clone()]);
    let history = host.history("s-1").unwrap();
    assert!(history.iter().any(|e| matches!(
        &e.kind,
        EventKind::WorkflowTaskFailed {
            cause: WorkflowTaskFailedCause::ResetWorkflow,
            message,
            ..
        } if message.contains("bad deploy")
    )));
    host.verify_replay("s-1").unwrap();
    host.shutdown().await;
    let (_, out, _) = weft(path, &["describe", "s-1"]);
    assert!(out.contains(&old_run), "{out}");
}

/// Runs `versioned` workflow `id` to completion with signal `go`; returns its first
/// WorkflowTaskCompleted (before the signal).
async fn run_with_signal(host: &Host, id: &str) -> u64 {
    host.start_workflow("versioned", id, Value::Null)
        .await
        .unwrap();
    wait_until("waiting for go", || {
        count(host, id, "WorkflowTaskCompleted") >= 2
    })
    .await;
    let client = host.namespace("default").unwrap();
    client.signal(id, "go", json!(1)).await.unwrap();
    let done = WorkflowOutcome::Completed(json!(["step-1", "step-2"]));
    assert_eq!(host.result(id).await.unwrap(), done);
    host.history(id)
        .unwrap()
        .iter()
        .find(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
        .unwrap()
        .id
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_after_the_reset_point_are_delivered_again_unless_asked_not_to() {
    let t = TestHost::new().steps();
    let host = host_with(&t, "versioned", weft_tests::VERSIONED_V1).await;
    let first_task = run_with_signal(&host, "v").await;

    // A closed run is reset to its first task; the signal is delivered again.
    let refused = host
        .reset(
            "v",
            ResetOptions {
                event_id: Some(2),
                ..ResetOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("not a WorkflowTaskCompleted"),
        "{refused}"
    );
    let options = ResetOptions {
        event_id: Some(first_task),
        ..ResetOptions::default()
    };
    let new_run = host.reset("v", options.clone()).await.unwrap();
    assert_eq!(host.describe("v").unwrap().run_id, new_run.to_string());
    wait_until("the reset run completes", || {
        host.describe("v").unwrap().status == RunStatus::Completed
    })
    .await;
    let done = WorkflowOutcome::Completed(json!(["step-1", "step-2"]));
    assert_eq!(host.result("v").await.unwrap(), done);
    assert_eq!(count(&host, "v", "WorkflowExecutionSignaled"), 1);
    assert_eq!(host.describe("v").unwrap().run_chain.len(), 2);

    // Without reapplying, the new run waits for a signal it never got.
    let first_task = run_with_signal(&host, "w").await;
    host.reset(
        "w",
        ResetOptions {
            event_id: Some(first_task),
            reapply_signals: false,
            ..options
        },
    )
    .await
    .unwrap();
    wait_until("the run waits for go again", || {
        count(&host, "w", "WorkflowTaskCompleted") >= 2
    })
    .await;
    let d = host.describe("w").unwrap();
    assert_eq!(d.status, RunStatus::Running);
    assert_eq!(count(&host, "w", "WorkflowExecutionSignaled"), 0);
    host.shutdown().await;
}
