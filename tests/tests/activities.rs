//! Activity and Nexus tasks through real components and database files: heartbeats, the four
//! timeouts, cancellation, task queues, and synchronous, asynchronous and workflow-backed
//! Nexus operations.

use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use weft::history::{EventKind, WorkflowTaskFailedCause};
use weft::{
    ActivityContext, ActivityError, Host, HostError, NexusContext, NexusError, NexusOutcome,
    NexusStart, Payload, RunStatus, WorkflowOutcome,
};
use weft_tests::{TestHost, wait_until};

#[derive(Deserialize)]
struct Long {
    steps: u64,
}

#[derive(Deserialize)]
struct Nap {
    ms: u64,
}

#[derive(Deserialize)]
struct Add {
    a: u64,
    b: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Attempts of `long` that fail on purpose after three heartbeats (the first attempt only).
static LONG_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// The `features` and `steps` workflows with the activities, task queue and Nexus
/// operations they use.
fn test_host() -> TestHost {
    let resumed_from = Arc::new(AtomicU32::new(u32::MAX));
    TestHost::new().steps().namespace("default", move |ns| {
        let resumed_from = resumed_from.clone();
        ns.workflow_file("features", weft_tests::FEATURES)
            .workflow_file("steps", weft_tests::STEPS)
            .task_queue("narrow", 1)
            .activity("long", move |ctx: ActivityContext, input: Long| {
                let resumed_from = resumed_from.clone();
                async move {
                    let from: u64 = ctx.heartbeat_details().unwrap_or(0);
                    resumed_from.store(from as u32, Ordering::SeqCst);
                    let attempt = LONG_ATTEMPTS.fetch_add(1, Ordering::SeqCst) + 1;
                    for i in from..input.steps {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        ctx.heartbeat(&(i + 1)).await?;
                        if attempt == 1 && i + 1 == 3 {
                            return Err(ActivityError::retryable("Crash", "lost power"));
                        }
                    }
                    // The second attempt resumed from the checkpoint, not from 0.
                    Ok(input.steps * 1000 + from)
                }
            })
            .activity("blocking", |ctx: ActivityContext, _: Value| async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    ctx.heartbeat(&"waiting").await?;
                }
                #[allow(unreachable_code)]
                Ok::<String, ActivityError>(String::new())
            })
            .activity("nap", |_ctx: ActivityContext, n: Nap| async move {
                tokio::time::sleep(Duration::from_millis(n.ms)).await;
                Ok::<_, ActivityError>("napped".to_string())
            })
            .activity("flaky", |_ctx: ActivityContext, _: Value| async move {
                Err::<String, _>(ActivityError::retryable("Flaky", "try again"))
            })
            .activity("span", |_ctx: ActivityContext, n: Nap| async move {
                let start = now_ms();
                tokio::time::sleep(Duration::from_millis(n.ms)).await;
                Ok::<_, ActivityError>(json!({"start": start, "end": now_ms()}))
            })
            .nexus_operation(
                "calc",
                "math",
                "add",
                |_ctx: NexusContext, i: Add| async move {
                    Ok::<_, NexusError>(NexusStart::Sync(i.a + i.b))
                },
            )
            .nexus_operation(
                "calc",
                "slow",
                "wait",
                |ctx: NexusContext, _: Value| async move {
                    Ok::<_, NexusError>(NexusStart::<Value>::Async {
                        operation_token: format!("tok-{}", ctx.request_id),
                    })
                },
            )
            .nexus_operation(
                "calc",
                "math",
                "flaky-add",
                |ctx: NexusContext, i: Add| async move {
                    if ctx.attempt == 1 {
                        return Err(NexusError::retryable("Unavailable", "try later"));
                    }
                    Ok(NexusStart::Sync(
                        json!({"sum": i.a + i.b, "attempt": ctx.attempt}),
                    ))
                },
            )
            .nexus_workflow_operation("flows", "steps", "run", "steps")
    })
}

async fn run(host: &Host, id: &str, input: Value) -> Value {
    host.start_workflow("features", id, input).await.unwrap();
    match host.result(id).await.unwrap() {
        WorkflowOutcome::Completed(v) => v,
        WorkflowOutcome::Failed(f) => panic!("{id} failed: {f}"),
    }
}

fn names(host: &Host, id: &str) -> Vec<&'static str> {
    host.history(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_attempt_resumes_from_the_last_heartbeat() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "hb", json!({"mode": "heartbeat", "n": 6})).await;
    // 6 steps; the second attempt started from the third step's checkpoint.
    assert_eq!(v, json!({"steps": 6003}));
    let history = host.history("hb").unwrap();
    let started = history
        .iter()
        .find_map(|e| match e.kind {
            EventKind::ActivityTaskStarted { attempt, .. } => Some(attempt),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        started, 2,
        "retries write no events; the final attempt is recorded"
    );
    host.verify_replay("hb").unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_cancels_a_running_activity_and_a_timer() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "c", json!({"mode": "cancel"})).await;
    assert_eq!(v, json!({"activity": "Canceled", "timer_fired": false}));
    let n = names(&host, "c");
    for e in [
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "TimerCanceled",
    ] {
        assert!(n.contains(&e), "{e} missing from {n:?}");
    }
    // Only the short sleep fired; the hour-long timer was canceled.
    assert_eq!(n.iter().filter(|e| **e == "TimerFired").count(), 1, "{n:?}");
    host.verify_replay("c").unwrap();

    // An activity no attempt has picked up is canceled at once.
    let v = run(&host, "cq", json!({"mode": "cancel-queued"})).await;
    assert_eq!(v, json!({"second": "Canceled"}));
    let history = host.history("cq").unwrap();
    let canceled = history
        .iter()
        .find_map(|e| match e.kind {
            EventKind::ActivityTaskCanceled { scheduled_event_id } => Some(scheduled_event_id),
            _ => None,
        })
        .unwrap();
    assert!(
        !history.iter().any(|e| matches!(
            e.kind,
            EventKind::ActivityTaskStarted { scheduled_event_id, .. } if scheduled_event_id == canceled
        )),
        "the canceled activity never ran"
    );
    host.verify_replay("cq").unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_timeout_ends_the_activity_with_its_name() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "t", json!({"mode": "timeouts"})).await;
    assert_eq!(
        v,
        json!({
            "start_to_close": "StartToCloseTimeout",
            "heartbeat": "HeartbeatTimeout",
            "schedule_to_close": "ScheduleToCloseTimeout",
            "flaky": "Flaky",
            "schedule_to_start": "ScheduleToStartTimeout",
            "busy": "ok",
        })
    );
    let history = host.history("t").unwrap();
    let timed_out: Vec<String> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityTaskTimedOut { failure, .. } => Some(failure.error_type.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(timed_out.len(), 4, "{timed_out:?}");
    host.verify_replay("t").unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_queue_runs_at_most_its_concurrency() {
    let t = test_host();
    let host = t.start().await;
    let v = run(&host, "q", json!({"mode": "queues"})).await;
    let (a, b) = (&v["a"], &v["b"]);
    let overlap =
        a["start"].as_u64() < b["end"].as_u64() && b["start"].as_u64() < a["end"].as_u64();
    assert!(!overlap, "the narrow queue ran two activities at once: {v}");

    // A queue the namespace does not serve fails the task with a clear message.
    host.start_workflow("features", "bad", json!({"mode": "bad-queue"}))
        .await
        .unwrap();
    wait_until("a task failure", || {
        host.describe("bad")
            .unwrap()
            .last_workflow_task_failure
            .is_some()
    })
    .await;
    let d = host.describe("bad").unwrap();
    let msg = d.last_workflow_task_failure.unwrap();
    assert!(msg.contains("task queue 'nowhere' is not served"), "{msg}");
    assert_eq!(d.status, RunStatus::Running);
    assert!(host.history("bad").unwrap().iter().any(|e| matches!(
        &e.kind,
        EventKind::WorkflowTaskFailed {
            cause: WorkflowTaskFailedCause::BadCommand,
            ..
        }
    )));
    host.shutdown().await;
}

// One scenario end to end (sync, async and workflow-backed operations on one host); it reads
// top to bottom.
#[tokio::test(flavor = "multi_thread")]
async fn nexus_operations_sync_async_and_workflow_backed() {
    let t = test_host();
    let host = t.start().await;

    // Synchronous: Scheduled then Completed, no Started.
    let v = run(&host, "ns", json!({"mode": "nexus-sync", "n": 40})).await;
    assert_eq!(v, json!({"sum": 42}));
    let n = names(&host, "ns");
    assert!(n.contains(&"NexusOperationScheduled") && n.contains(&"NexusOperationCompleted"));
    assert!(!n.contains(&"NexusOperationStarted"));
    let rid = host
        .history("ns")
        .unwrap()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NexusOperationScheduled { request_id, .. } => Some(request_id.clone()),
            _ => None,
        })
        .unwrap();
    assert!(!rid.is_empty());
    host.verify_replay("ns").unwrap();

    // A retryable handler error is delivered again, with the same request id.
    let v = run(&host, "nr", json!({"mode": "nexus-retry"})).await;
    assert_eq!(v, json!({"sum": 3, "attempt": 2}));

    // Workflow-backed: starts a `steps` workflow and completes with its result.
    let v = run(&host, "nw", json!({"mode": "nexus-workflow", "n": 2})).await;
    assert_eq!(v, json!({"child": {"results": ["step-0", "step-1"]}}));
    let token = host
        .history("nw")
        .unwrap()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NexusOperationStarted {
                operation_token, ..
            } => Some(operation_token.clone()),
            _ => None,
        })
        .expect("an async operation records Started");
    assert_eq!(host.describe(&token).unwrap().status, RunStatus::Completed);
    host.verify_replay("nw").unwrap();

    // Canceling it ends the child workflow and the operation as canceled.
    let v = run(&host, "nc", json!({"mode": "nexus-cancel"})).await;
    assert_eq!(v, json!({"first": 0, "outcome": "Canceled"}));
    let n = names(&host, "nc");
    assert!(n.contains(&"NexusOperationCancelRequested") && n.contains(&"NexusOperationCanceled"));
    let token = host
        .history("nc")
        .unwrap()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NexusOperationStarted {
                operation_token, ..
            } => Some(operation_token.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(host.describe(&token).unwrap().status, RunStatus::Terminated);

    // Asynchronous user handler: completes through the host API with its token.
    host.start_workflow("features", "na", json!({"mode": "nexus-async"}))
        .await
        .unwrap();
    wait_until("NexusOperationStarted", || {
        names(&host, "na").contains(&"NexusOperationStarted")
    })
    .await;
    let client = host.namespace("default").unwrap();
    let err = client
        .complete_nexus_operation("tok-unknown", NexusOutcome::Canceled)
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::UnknownNexusOperation(_)), "{err}");
    let token = host
        .history("na")
        .unwrap()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::NexusOperationStarted {
                operation_token, ..
            } => Some(operation_token.clone()),
            _ => None,
        })
        .unwrap();
    client
        .complete_nexus_operation(&token, NexusOutcome::Completed(Payload::json(&json!(7))))
        .await
        .unwrap();
    assert_eq!(
        host.result("na").await.unwrap(),
        WorkflowOutcome::Completed(json!({"async": 7}))
    );
    drop(client);

    // Schedule-to-close timeout of an operation that never completes.
    let v = run(&host, "nt", json!({"mode": "nexus-timeout"})).await;
    assert_eq!(v, json!({"outcome": "ScheduleToCloseTimeout"}));
    assert!(names(&host, "nt").contains(&"NexusOperationTimedOut"));

    // An operation the namespace does not serve fails the task.
    host.start_workflow("features", "nu", json!({"mode": "nexus-unknown"}))
        .await
        .unwrap();
    wait_until("a task failure", || {
        host.describe("nu")
            .unwrap()
            .last_workflow_task_failure
            .is_some()
    })
    .await;
    let msg = host
        .describe("nu")
        .unwrap()
        .last_workflow_task_failure
        .unwrap();
    assert!(
        msg.contains("has no operation 'x' of service 'nope'"),
        "{msg}"
    );
    host.shutdown().await;
}

/// Eager activity execution: an activity a Workflow Task schedules on a queue this host
/// serves is leased by the task's own commit and runs at once. A one-activity workflow takes
/// four writes (start, the task that schedules the activity, its result, the closing task),
/// none of them a lease; with the queue's permits all taken, the activity waits in the queue
/// and is leased by the queue's worker (a fifth write) once one is free.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_activity_runs_at_once_without_a_lease_commit_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let g = gate.clone();
    let host = weft::HostBuilder::new(dir.path().join("eager.redb"))
        .workflow_file("script", weft_tests::SCRIPT)
        .activity("a", |_c: ActivityContext, v: Value| async move {
            Ok::<_, ActivityError>(v)
        })
        .activity("hold", move |_c: ActivityContext, v: Value| {
            let g = g.clone();
            async move {
                let _ = g.acquire().await.unwrap();
                Ok::<_, ActivityError>(v)
            }
        })
        .limits(weft::Limits {
            max_concurrent_activities: 1,
            ..weft::Limits::default()
        })
        .start()
        .await
        .unwrap();
    let one = |name: &str| json!({"steps": [{"activity": {"name": name}}]});
    let before = host.commit_stats();
    host.start_workflow("script", "eager", one("a"))
        .await
        .unwrap();
    host.result("eager").await.unwrap();
    let after = host.commit_stats();
    assert_eq!(after.writes - before.writes, 4, "{before:?} {after:?}");

    // The only activity slot is held: the next activity cannot run at once.
    host.start_workflow("script", "holding", one("hold"))
        .await
        .unwrap();
    wait_until("the held activity runs", || {
        host.history("holding")
            .unwrap()
            .iter()
            .any(|e| matches!(e.kind, EventKind::ActivityTaskScheduled { .. }))
    })
    .await;
    let before = host.commit_stats();
    host.start_workflow("script", "queued", one("a"))
        .await
        .unwrap();
    wait_until("the queued activity is scheduled", || {
        host.history("queued")
            .unwrap()
            .iter()
            .any(|e| matches!(e.kind, EventKind::ActivityTaskScheduled { .. }))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        host.history("queued")
            .unwrap()
            .iter()
            .all(|e| !matches!(e.kind, EventKind::ActivityTaskCompleted { .. }))
    );
    gate.add_permits(1);
    host.result("holding").await.unwrap();
    host.result("queued").await.unwrap();
    let after = host.commit_stats();
    // queued: start, task, lease, result, task; holding: result, task.
    assert_eq!(after.writes - before.writes, 7, "{before:?} {after:?}");
}

/// A write and the Workflow Task it wakes commit together: the start and the first task (eager
/// workflow start), an activity's result and the task it wakes, a timer's firing and the task
/// it wakes. A one-activity workflow takes two commits, and each timer step one more.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_and_the_task_it_wakes_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let host = weft::HostBuilder::new(dir.path().join("together.redb"))
        .workflow_file("script", weft_tests::SCRIPT)
        .activity("a", |_c: ActivityContext, v: Value| async move {
            Ok::<_, ActivityError>(v)
        })
        .start()
        .await
        .unwrap();
    let before = host.commit_stats();
    host.start_workflow(
        "script",
        "one",
        json!({"steps": [{"activity": {"name": "a"}}]}),
    )
    .await
    .unwrap();
    host.result("one").await.unwrap();
    let after = host.commit_stats();
    assert_eq!(after.writes - before.writes, 4, "{before:?} {after:?}");
    assert_eq!(after.commits - before.commits, 2, "{before:?} {after:?}");

    let timers = |n: usize| json!({"steps": vec![json!({"timer": {"ms": 0}}); n]});
    let before = host.commit_stats();
    host.start_workflow("script", "one-timer", timers(1))
        .await
        .unwrap();
    host.result("one-timer").await.unwrap();
    let one = host.commit_stats().commits - before.commits;
    let before = host.commit_stats();
    host.start_workflow("script", "five-timers", timers(5))
        .await
        .unwrap();
    host.result("five-timers").await.unwrap();
    let five = host.commit_stats().commits - before.commits;
    assert_eq!(five - one, 4, "one commit per timer step: {one} {five}");
    let history = host.history("five-timers").unwrap();
    let fired = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TimerFired { .. }))
        .count();
    assert_eq!(fired, 5);
}

/// Heartbeats are throttled: the first is recorded at once, the others (without a heartbeat
/// timeout, at most one per 30 s) are held back, and a result drops them. An activity beating
/// 100 times costs one write for its heartbeats, not 100.
#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let host = weft::HostBuilder::new(dir.path().join("beats.redb"))
        .workflow_file("script", weft_tests::SCRIPT)
        .activity("beats", |ctx: ActivityContext, v: Value| async move {
            for i in 0..100u32 {
                ctx.heartbeat(&i).await?;
            }
            Ok::<_, ActivityError>(v)
        })
        .start()
        .await
        .unwrap();
    let before = host.commit_stats();
    host.start_workflow(
        "script",
        "beats",
        json!({"steps": [{"activity": {"name": "beats"}}]}),
    )
    .await
    .unwrap();
    host.result("beats").await.unwrap();
    let after = host.commit_stats();
    // Start, the task that schedules the activity (and leases it), one heartbeat, the
    // result, the closing task.
    assert_eq!(after.writes - before.writes, 5, "{before:?} {after:?}");
}
