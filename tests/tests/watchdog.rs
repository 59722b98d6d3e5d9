//! The Workflow Task watchdog: a guest blocked inside a host call (simulated with the
//! sandbox's fault injection, since no real host call blocks) is given up on from outside at
//! the task's time limit plus the grace. Its slot is freed for other work, the task is
//! recorded as failed with a message saying what the guest was doing, and the retry, once the
//! host call no longer blocks, completes the workflow. In its own test binary because the
//! fault switch is process-wide.

use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use weft::history::{EventKind, WorkflowTaskFailedCause};
use weft::{Limits, RunStatus, WorkflowOutcome};
use weft_tests::{TestHost, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_blocked_in_a_host_call_is_given_up_on_from_outside() {
    // The task's own thread is stuck, with or without the sticky cache (a cached instance
    // runs on the thread of the task that resumes it).
    for cache in [0, 128] {
        blocked_task_is_given_up_on(cache).await;
    }
}

async fn blocked_task_is_given_up_on(cache: usize) {
    let limits = Limits {
        max_task_time: Duration::from_millis(300),
        task_watchdog_grace: Duration::from_millis(200),
        // One slot: the neighbour can only run if the watchdog frees it.
        max_concurrent_workflow_tasks: 1,
        workflow_task_retry_initial: Duration::from_millis(100),
        workflow_task_retry_max: Duration::from_millis(200),
        sticky_cache_entries: cache,
        ..Limits::default()
    };
    let t = TestHost::new()
        .limits(limits)
        .steps()
        .workflow("wasi-probe", weft_tests::WASI_PROBE)
        .workflow("steps", weft_tests::STEPS);
    let host = t.start().await;
    let client = host.namespace("default").unwrap();
    weft_wasm::wasi::FAULT_BLOCK_MS.store(5_000, Ordering::SeqCst);
    client
        .start_workflow("wasi-probe", "stuck", json!({"mode": "sleep-forever"}))
        .await
        .unwrap();
    wait_until("the stuck task to be given up on", || {
        client
            .describe("stuck")
            .unwrap()
            .last_workflow_task_failure
            .is_some()
    })
    .await;
    let d = client.describe("stuck").unwrap();
    assert_eq!(d.status, RunStatus::Running);
    let failure = d.last_workflow_task_failure.unwrap();
    assert!(failure.contains("time limit of 300ms"), "{failure}");
    assert!(
        failure.contains("enforced from outside the guest"),
        "{failure}"
    );
    assert!(
        failure.contains("blocked inside a call into the host"),
        "{failure}"
    );
    assert!(client.history("stuck").unwrap().iter().any(|e| matches!(
        e.kind,
        EventKind::WorkflowTaskFailed {
            cause: WorkflowTaskFailedCause::LimitExceeded,
            ..
        }
    )));
    // The only slot is free again: a neighbour completes while the old thread still sleeps.
    client
        .start_workflow("steps", "neighbour", json!({"count": 2, "sleep_ms": 0}))
        .await
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(4), client.result("neighbour"))
        .await
        .expect("the neighbour runs in the freed slot")
        .unwrap();
    assert!(matches!(r, WorkflowOutcome::Completed(_)), "{r:?}");
    // Once host calls no longer block, the retried task completes the workflow.
    weft_wasm::wasi::FAULT_BLOCK_MS.store(0, Ordering::SeqCst);
    match client.result("stuck").await.unwrap() {
        WorkflowOutcome::Completed(v) => assert_eq!(v["woke"], json!(true)),
        other => panic!("{other:?}"),
    }
    drop(client);
    host.shutdown().await;
}
