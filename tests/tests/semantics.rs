//! Workflow semantics through the real component and database: signals and queries, updates,
//! cancellation and termination, child workflows and parent close policies, continue-as-new,
//! versioning, workflow options and deterministic helpers. Each test checks the recorded
//! events by their Temporal names.

use serde_json::{Value, json};
use std::time::Duration;
use weft::{
    ActivityContext, ActivityError, Client, Host, HostError, IdReusePolicy, RetryPolicy, RunStatus,
    StartOptions, WorkflowOutcome,
};
use weft_tests::{TestHost, wait_until};

struct Env {
    host: Host,
    client: Client,
    /// Its database and configuration, and the runs of its `step` activity.
    test: TestHost,
}

async fn env() -> Env {
    let test = test_host();
    let host = test.start().await;
    let client = host.namespace("default").unwrap();
    Env { host, client, test }
}

/// The `semantics` and `versioned` workflows with the activities they use.
fn test_host() -> TestHost {
    TestHost::new()
        .steps()
        .workflow("semantics", weft_tests::SEMANTICS)
        .workflow("versioned", weft_tests::VERSIONED_V1)
        .with(|b| {
            b.activity("blocking", |ctx: ActivityContext, _: Value| async move {
                loop {
                    ctx.heartbeat(&()).await?;
                    if ctx.is_cancel_requested() {
                        return Err(ActivityError::canceled("gave up"));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                #[allow(unreachable_code)]
                Ok::<String, ActivityError>(String::new())
            })
            .activity("compensate", |_c: ActivityContext, v: Value| async move {
                Ok::<_, ActivityError>(format!("undone {}", v["undo"]))
            })
        })
}

fn names(c: &Client, id: &str) -> Vec<&'static str> {
    c.history(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

fn count(c: &Client, id: &str, name: &str) -> usize {
    names(c, id).iter().filter(|n| **n == name).count()
}

async fn completed(c: &Client, id: &str) -> Value {
    match c.result(id).await.unwrap() {
        WorkflowOutcome::Completed(v) => v,
        other => panic!("{id} did not complete: {other:?}\n{:#?}", names(c, id)),
    }
}

async fn failed(c: &Client, id: &str) -> weft::Failure {
    match c.result(id).await.unwrap() {
        WorkflowOutcome::Failed(f) => f,
        other => panic!("{id} did not fail: {other:?}"),
    }
}

#[tokio::test]
async fn signals_arrive_in_order_and_queries_read_state() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("semantics", "sig", json!({"mode": "signals"}))
        .await
        .unwrap();
    for v in [1, 2, 3] {
        c.signal("sig", "add", json!(v)).await.unwrap();
    }
    // Queries see the state the signals built, and record nothing.
    let c2 = c.clone();
    let mut tally = json!(null);
    for _ in 0..200 {
        tally = c2.query("sig", "tally", json!(null)).await.unwrap();
        if tally["sum"] == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(tally["seen"], json!([1, 2, 3]), "{tally}");
    // (A query replays unprocessed events too; wait for the task so the history is still.)
    wait_until("signals processed", || {
        c.describe("sig")
            .unwrap()
            .pending_workflow_task_attempt
            .is_none()
    })
    .await;
    let before = names(c, "sig").len();
    c.query("sig", "tally", json!(null)).await.unwrap();
    assert_eq!(names(c, "sig").len(), before, "a query adds no event");
    let err = c.query("sig", "nope", json!(null)).await.unwrap_err();
    assert!(err.to_string().contains("UnknownQuery"), "{err}");
    let err = c.query("sig", "sneaky", json!(null)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("query handler 'sneaky' must not change the workflow"),
        "{err}"
    );
    assert_eq!(
        names(c, "sig").len(),
        before,
        "the refused query left no trace"
    );
    c.signal("sig", "done", json!(null)).await.unwrap();
    let out = completed(c, "sig").await;
    assert_eq!(out, json!({"sum": 6, "seen": [1, 2, 3], "echo": "step-6"}));
    assert_eq!(count(c, "sig", "WorkflowExecutionSignaled"), 4);
    // A closed workflow answers from its final state; signals are refused.
    let tally = c.query("sig", "tally", json!(null)).await.unwrap();
    assert_eq!(tally["done"], true);
    let err = c.signal("sig", "add", json!(1)).await.unwrap_err();
    assert!(err.to_string().contains("not running"), "{err}");

    // Signal-with-start starts with the signal right after the start, then signals.
    let opts = StartOptions::default();
    let run = c
        .signal_with_start(
            "semantics",
            "sws",
            json!({"mode": "signals"}),
            "add",
            json!(5),
            &opts,
        )
        .await
        .unwrap();
    let again = c
        .signal_with_start(
            "semantics",
            "sws",
            json!({"mode": "signals"}),
            "add",
            json!(7),
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(
        run, again,
        "the running workflow is signaled, not started again"
    );
    let n = names(c, "sws");
    assert_eq!(
        &n[..2],
        &["WorkflowExecutionStarted", "WorkflowExecutionSignaled"]
    );
    c.signal("sws", "done", json!(null)).await.unwrap();
    assert_eq!(completed(c, "sws").await["seen"], json!([5, 7]));
    e.host.shutdown().await;
}

#[tokio::test]
async fn updates_are_validated_accepted_and_answered() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("semantics", "upd", json!({"mode": "update"}))
        .await
        .unwrap();
    wait_until("first task", || {
        names(c, "upd").contains(&"WorkflowTaskCompleted")
    })
    .await;
    let before = c.history("upd").unwrap();
    let err = c.update("upd", "add", json!(-4)).await.unwrap_err();
    assert!(
        matches!(&err, HostError::UpdateRejected(f) if f.error_type == "Negative"),
        "{err}"
    );
    assert_eq!(
        c.history("upd").unwrap(),
        before,
        "a rejected update leaves no trace"
    );
    let err = c.update("upd", "nope", json!(1)).await.unwrap_err();
    assert!(err.to_string().contains("UnknownUpdate"), "{err}");
    assert_eq!(c.update("upd", "add", json!(5)).await.unwrap(), json!(5));
    assert_eq!(
        c.update_with_id("upd", "u-2", "add", json!(10))
            .await
            .unwrap(),
        json!(15)
    );
    // The same update id again is the same update: not applied twice.
    assert_eq!(
        c.update_with_id("upd", "u-2", "add", json!(10))
            .await
            .unwrap(),
        json!(15)
    );
    assert_eq!(c.update_result("upd", "u-2").await.unwrap(), json!(15));
    assert_eq!(
        c.query("upd", "total", json!(null)).await.unwrap(),
        json!(15)
    );
    c.signal("upd", "finish", json!(null)).await.unwrap();
    assert_eq!(completed(c, "upd").await, json!({"total": 15}));
    assert_eq!(count(c, "upd", "WorkflowExecutionUpdateAccepted"), 2);
    assert_eq!(count(c, "upd", "WorkflowExecutionUpdateCompleted"), 2);
    assert_eq!(e.test.step_runs(), 2, "each accepted update ran once");
    c.verify_replay("upd").unwrap();
    e.host.shutdown().await;
}

#[tokio::test]
async fn cancel_lets_the_workflow_compensate_and_terminate_does_not() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("semantics", "saga", json!({"mode": "cancel"}))
        .await
        .unwrap();
    wait_until("activity running", || {
        names(c, "saga").contains(&"TimerStarted")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.cancel("saga", "the user gave up").await.unwrap();
    c.cancel("saga", "twice").await.unwrap();
    let f = failed(c, "saga").await;
    assert_eq!(f.error_type, "Canceled");
    assert!(
        f.message
            .contains("work ended with Some(\"Canceled\"), timer fired false"),
        "the workflow's own message is kept: {f}"
    );
    let n = names(c, "saga");
    assert_eq!(
        count(c, "saga", "WorkflowExecutionCancelRequested"),
        1,
        "{n:?}"
    );
    for want in [
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "TimerCanceled",
        "WorkflowExecutionCanceled",
    ] {
        assert!(n.contains(&want), "{want} missing: {n:?}");
    }
    let history = c.history("saga").unwrap();
    assert!(history.iter().any(|e| matches!(&e.kind,
        weft::EventKind::ActivityTaskScheduled { activity_type, .. } if activity_type == "compensate")));
    assert_eq!(c.describe("saga").unwrap().status, RunStatus::Canceled);

    c.start_workflow("semantics", "term", json!({"mode": "sleep"}))
        .await
        .unwrap();
    wait_until("timer", || names(c, "term").contains(&"TimerStarted")).await;
    c.terminate("term", "operator stop").await.unwrap();
    let f = failed(c, "term").await;
    assert_eq!(f.error_type, "Terminated");
    assert_eq!(
        names(c, "term").last(),
        Some(&"WorkflowExecutionTerminated")
    );
    let err = c.cancel("term", "late").await.unwrap_err();
    assert!(err.to_string().contains("not running"), "{err}");
    e.host.shutdown().await;
}

#[tokio::test]
async fn children_report_to_their_parent_and_follow_its_close_policy() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow(
        "semantics",
        "fan",
        json!({"mode": "parent", "children": ["k1", "k2"], "child_mode": "child", "wait": true}),
    )
    .await
    .unwrap();
    let out = completed(c, "fan").await;
    assert_eq!(out["children"][0]["double"], 2);
    assert_eq!(out["children"][1]["echo"], "step-2");
    assert_eq!(out["children"][1]["parent"], "fan");
    assert_eq!(count(c, "fan", "StartChildWorkflowExecutionInitiated"), 2);
    assert_eq!(count(c, "fan", "ChildWorkflowExecutionStarted"), 2);
    assert_eq!(count(c, "fan", "ChildWorkflowExecutionCompleted"), 2);
    assert_eq!(
        c.describe("k1").unwrap().parent_workflow_id.as_deref(),
        Some("fan")
    );
    c.verify_replay("fan").unwrap();

    // Parent close policies: terminate and abandon.
    for (id, policy) in [
        ("pt", "terminate"),
        ("pa", "abandon"),
        ("pc", "request-cancel"),
    ] {
        let kid = format!("{id}-kid");
        c.start_workflow(
            "semantics",
            id,
            json!({"mode": "parent", "children": [kid], "child_mode": "child-wait", "policy": policy}),
        )
        .await
        .unwrap();
        wait_until("child started", || {
            c.describe(&kid)
                .is_ok_and(|d| d.status == RunStatus::Running)
                && names(c, id).contains(&"ChildWorkflowExecutionStarted")
        })
        .await;
        assert_eq!(c.describe(id).unwrap().open_children, vec![kid.clone()]);
        c.signal(id, "finish", json!(null)).await.unwrap();
        completed(c, id).await;
        let status = c.describe(&kid).unwrap().status;
        match policy {
            "terminate" => assert_eq!(status, RunStatus::Terminated),
            "abandon" => assert_eq!(status, RunStatus::Running),
            _ => {
                wait_until("child canceled", || {
                    c.describe(&kid).unwrap().status.is_closed()
                })
                .await;
                assert!(names(c, &kid).contains(&"WorkflowExecutionCancelRequested"));
                assert_eq!(failed(c, &kid).await.error_type, "Canceled");
            }
        }
    }

    // A child terminated from outside: its parent sees ChildWorkflowExecutionTerminated.
    c.start_workflow(
        "semantics",
        "pw",
        json!({"mode": "parent", "children": ["pw-kid"], "child_mode": "child-wait", "wait": true}),
    )
    .await
    .unwrap();
    wait_until("child running", || {
        c.describe("pw-kid")
            .is_ok_and(|d| d.status == RunStatus::Running)
    })
    .await;
    c.terminate("pw-kid", "operator").await.unwrap();
    assert_eq!(
        completed(c, "pw").await,
        json!({"children": [{"error": "Terminated"}]})
    );
    assert!(names(c, "pw").contains(&"ChildWorkflowExecutionTerminated"));

    // A child id in use: the second start fails; canceling a child ends it as canceled.
    c.start_workflow("semantics", "dups", json!({"mode": "dup-child"}))
        .await
        .unwrap();
    let out = completed(c, "dups").await;
    assert_eq!(
        out,
        json!({"second": "WorkflowExecutionAlreadyStarted", "first": "Canceled"})
    );
    for want in [
        "StartChildWorkflowExecutionFailed",
        "RequestCancelExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionCancelRequested",
        "ChildWorkflowExecutionCanceled",
    ] {
        assert!(names(c, "dups").contains(&want), "{want} missing");
    }
    e.host.shutdown().await;
}

#[tokio::test]
async fn continue_as_new_chains_runs_with_fresh_histories() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("semantics", "loop", json!({"mode": "continue", "n": 3}))
        .await
        .unwrap();
    assert_eq!(
        completed(c, "loop").await,
        json!({"i": 3, "continued": true})
    );
    let d = c.describe("loop").unwrap();
    assert_eq!(d.run_chain.len(), 4, "{d:?}");
    assert_eq!(d.run_chain.last(), Some(&d.run_id));
    let n = names(c, "loop");
    assert!(n.len() < 10, "a fresh history: {n:?}");
    assert_eq!(n[0], "WorkflowExecutionStarted");
    e.host.shutdown().await;
}

#[tokio::test]
async fn patched_code_replays_old_histories_and_marks_new_ones() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("versioned", "old", json!(null))
        .await
        .unwrap();
    wait_until("old run waits for go", || {
        count(c, "old", "ActivityTaskCompleted") == 1
            && names(c, "old").last() == Some(&"WorkflowTaskCompleted")
    })
    .await;
    // Deploy version 2 while the old run is open, and move the old run to it: the patched
    // code replays its history, so the dry run finds it compatible.
    c.register_workflow(
        "versioned",
        std::fs::read(weft_tests::VERSIONED_V2).unwrap(),
    )
    .await
    .unwrap();
    let moved = c.move_compatible_runs("versioned").await.unwrap();
    assert_eq!(moved.compatible, ["old"], "{moved:?}");
    c.start_workflow("versioned", "new", json!(null))
        .await
        .unwrap();
    wait_until("new run waits for go", || {
        count(c, "new", "ActivityTaskCompleted") == 2
    })
    .await;
    c.signal("old", "go", json!(null)).await.unwrap();
    c.signal("new", "go", json!(null)).await.unwrap();
    assert_eq!(completed(c, "old").await, json!(["step-1", "step-2"]));
    assert_eq!(
        completed(c, "new").await,
        json!(["step-1", "step-3", "step-2"])
    );
    assert_eq!(count(c, "old", "MarkerRecorded"), 0);
    assert_eq!(count(c, "new", "MarkerRecorded"), 1);
    assert!(names(c, "old").iter().all(|n| *n != "WorkflowTaskFailed"));
    c.verify_replay("old").unwrap();
    c.verify_replay("new").unwrap();
    e.host.shutdown().await;
}

#[tokio::test]
async fn workflow_options_timeouts_retries_and_id_reuse() {
    let e = env().await;
    let c = &e.client;
    // Execution retry: attempts 1 and 2 fail, 3 completes, each a run of the chain.
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
    assert_eq!(completed(c, "flaky").await, json!({"attempt": 3}));
    let d = c.describe("flaky").unwrap();
    assert_eq!((d.attempt, d.run_chain.len()), (3, 3));
    // Without attempts left the failure stands.
    let once = StartOptions {
        retry_policy: Some(RetryPolicy {
            initial_interval_ms: 10,
            maximum_attempts: 2,
            ..RetryPolicy::default()
        }),
        ..StartOptions::default()
    };
    c.start_workflow_with(
        "semantics",
        "flaky2",
        json!({"mode": "retry", "n": 9}),
        &once,
    )
    .await
    .unwrap();
    assert_eq!(failed(c, "flaky2").await.error_type, "Flaky");
    assert_eq!(c.describe("flaky2").unwrap().attempt, 2);

    // Run timeout.
    let timeout = StartOptions {
        run_timeout: Some(Duration::from_millis(300)),
        id_reuse_policy: IdReusePolicy::RejectDuplicate,
        ..StartOptions::default()
    };
    c.start_workflow_with("semantics", "slow", json!({"mode": "sleep"}), &timeout)
        .await
        .unwrap();
    // A running id is refused.
    let err = c
        .start_workflow("semantics", "slow", json!({"mode": "sleep"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    assert_eq!(failed(c, "slow").await.error_type, "TimedOut");
    assert_eq!(c.describe("slow").unwrap().status, RunStatus::TimedOut);
    assert_eq!(names(c, "slow").last(), Some(&"WorkflowExecutionTimedOut"));
    // Execution timeout, over all runs.
    let exec = StartOptions {
        execution_timeout: Some(Duration::from_millis(300)),
        ..StartOptions::default()
    };
    c.start_workflow_with("semantics", "slow2", json!({"mode": "sleep"}), &exec)
        .await
        .unwrap();
    assert_eq!(failed(c, "slow2").await.error_type, "TimedOut");
    let last = c.history("slow2").unwrap().pop().unwrap();
    assert!(
        matches!(&last.kind, weft::EventKind::WorkflowExecutionTimedOut { timeout } if timeout == "ExecutionTimeout"),
        "{last:?}"
    );
    // RejectDuplicate: the id cannot be used again.
    let err = c
        .start_workflow("semantics", "slow", json!({"mode": "sleep"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("RejectDuplicate"), "{err}");
    // AllowDuplicateFailedOnly: a completed id is refused, a failed one may run again.
    let failed_only = StartOptions {
        id_reuse_policy: IdReusePolicy::AllowDuplicateFailedOnly,
        ..StartOptions::default()
    };
    c.start_workflow_with(
        "semantics",
        "ok",
        json!({"mode": "retry", "n": 1}),
        &failed_only,
    )
    .await
    .unwrap();
    completed(c, "ok").await;
    assert!(
        c.start_workflow("semantics", "ok", json!({"mode": "retry"}))
            .await
            .is_err()
    );
    e.host.shutdown().await;
}

#[tokio::test]
async fn deterministic_helpers_replay_to_the_same_values() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("semantics", "ids", json!({"mode": "uuid"}))
        .await
        .unwrap();
    let out = completed(c, "ids").await;
    let a = out["uuid"].as_str().unwrap();
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "4");
    assert_ne!(out["uuid"], out["again"]);
    // The value computed in the first task survived the replay of the second.
    c.verify_replay("ids").unwrap();
    e.host.shutdown().await;
}

fn weft_cli(db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weft_cli"))
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

#[tokio::test]
async fn the_cli_signals_queries_updates_and_terminates_between_host_runs() {
    let e = env().await;
    let c = &e.client;
    c.start_workflow("semantics", "sig", json!({"mode": "signals"}))
        .await
        .unwrap();
    c.start_workflow("semantics", "upd", json!({"mode": "update"}))
        .await
        .unwrap();
    c.start_workflow("semantics", "zzz", json!({"mode": "sleep"}))
        .await
        .unwrap();
    c.signal("sig", "add", json!(1)).await.unwrap();
    for id in ["sig", "upd", "zzz"] {
        wait_until("waiting", || {
            names(c, id).last() == Some(&"WorkflowTaskCompleted")
                || names(c, id).last() == Some(&"TimerStarted")
        })
        .await;
    }
    let t = e.test;
    let db = t.db();
    drop(e.client);
    e.host.shutdown().await;

    let component = weft_tests::SEMANTICS;
    let (code, out, err) = weft_cli(db, &["query", "sig", "tally", "--component", component]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(r#""sum":1"#), "{out}");
    for args in [
        ["signal", "sig", "add", "2"],
        ["signal", "sig", "done", "null"],
    ] {
        let (code, _, err) = weft_cli(db, &args);
        assert_eq!(code, 0, "{err}");
    }
    // A query answers from the last completed Workflow Task: signals no task has processed
    // yet are not in its state.
    let (code, out, err) = weft_cli(db, &["query", "sig", "tally", "--component", component]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(r#""sum":1"#) && out.contains(r#""done":false"#),
        "{out}"
    );
    let (code, _, err) = weft_cli(
        db,
        &["update", "upd", "add", "-1", "--component", component],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("update rejected") && err.contains("Negative"),
        "{err}"
    );
    let (code, out, err) = weft_cli(
        db,
        &[
            "update",
            "upd",
            "add",
            "3",
            "--component",
            component,
            "--id",
            "u-cli",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("accepted"), "{out}");
    let (code, _, err) = weft_cli(db, &["terminate", "zzz", "--reason", "done with it"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = weft_cli(db, &["describe", "zzz"]);
    assert_eq!(code, 0);
    assert!(out.contains("Terminated"), "{out}");
    // Signal-with-start from the command line.
    let (code, out, err) = weft_cli(
        db,
        &[
            "signal",
            "late",
            "add",
            "9",
            "--start",
            "semantics",
            "--start-input",
            r#"{"mode":"signals"}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("started late"), "{out}");
    let (code, out, _) = weft_cli(db, &["history", "sig", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("WorkflowExecutionSignaled").count(), 3, "{out}");

    // A host started on the file carries on from what the command line recorded.
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    assert_eq!(completed(&c, "sig").await["seen"], json!([1, 2]));
    assert_eq!(c.update_result("upd", "u-cli").await.unwrap(), json!(3));
    c.signal("late", "done", json!(null)).await.unwrap();
    assert_eq!(completed(&c, "late").await["seen"], json!([9]));
    c.signal("upd", "finish", json!(null)).await.unwrap();
    assert_eq!(completed(&c, "upd").await, json!({"total": 3}));
    drop(c);
    host.shutdown().await;
}
