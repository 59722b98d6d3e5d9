//! Remote activity workers and namespaces changed at runtime, through the embedding API that
//! `weft server` calls: tasks polled by task queue, heartbeats, cancellation, leases that expire
//! when a worker disappears, tokens that never cross namespaces, and namespaces added,
//! re-quotaed and removed while the host runs.

use serde_json::json;
use std::time::Duration;
use weft::{Client, EventKind, Failure, HostError, Payload, Quotas, RunStatus, WorkflowOutcome};
use weft_tests::{TestHost, wait_until};

fn remote_host() -> TestHost {
    TestHost::new().with(|b| {
        b.namespace("default", |ns| {
            ns.workflow_file("steps", weft_tests::STEPS)
                .workflow_file("features", weft_tests::FEATURES)
                .remote_activities()
        })
        .namespace("other", |ns| {
            ns.workflow_file("steps", weft_tests::STEPS)
                .remote_activities()
        })
    })
}

async fn poll(c: &Client, queue: &str) -> weft::ActivityTask {
    c.poll_activity_task(queue, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a task within 30 s")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_worker_polls_completes_and_fails_attempts() {
    let t = remote_host();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    // Nothing queued: the poll waits its time and returns nothing.
    let none = c
        .poll_activity_task("default", Duration::from_millis(100))
        .await
        .unwrap();
    assert!(none.is_none());

    c.start_workflow("steps", "s-1", json!({"count": 2, "sleep_ms": 1}))
        .await
        .unwrap();
    let task = poll(&c, "default").await;
    assert_eq!(task.activity_type, "step");
    assert_eq!(task.workflow_id, "s-1");
    assert_eq!(task.attempt, 1);
    assert_eq!(task.input.to_json(), json!({"i": 0}));
    // A retryable failure: the same activity comes back as attempt 2.
    c.fail_activity(&task.task_token, Failure::new("Flaky", "try again"))
        .await
        .unwrap();
    let again = poll(&c, "default").await;
    assert_eq!((again.activity_id, again.attempt), (task.activity_id, 2));
    // The first attempt's token is no longer current.
    let stale = c
        .complete_activity(&task.task_token, Payload::json(&json!("late")))
        .await
        .unwrap_err();
    assert!(
        matches!(stale, HostError::UnknownActivityTask(_)),
        "{stale}"
    );
    assert!(!c.heartbeat_activity(&again.task_token, None).await.unwrap());
    c.complete_activity(&again.task_token, Payload::json(&json!("step-0")))
        .await
        .unwrap();
    let second = poll(&c, "default").await;
    assert_eq!(second.input.to_json(), json!({"i": 1}));
    c.complete_activity(&second.task_token, Payload::json(&json!("step-1")))
        .await
        .unwrap();
    assert_eq!(
        c.result("s-1").await.unwrap(),
        WorkflowOutcome::Completed(json!({"results": ["step-0", "step-1"]}))
    );
    let history = c.history("s-1").unwrap();
    let completed = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ActivityTaskCompleted { .. }))
        .count();
    assert_eq!(completed, 2);
    c.verify_replay("s-1").unwrap();

    // Garbage and the tokens of another namespace are unknown, not errors of the host.
    for bad in ["", "nonsense", "1.2.3", &second.task_token] {
        let other = host.namespace("other").unwrap();
        let e = other.heartbeat_activity(bad, None).await.unwrap_err();
        assert!(matches!(e, HostError::UnknownActivityTask(_)), "{e}");
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_remote_worker_is_detected_by_its_lease_and_the_next_attempt_resumes() {
    let t = remote_host();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    // `long` has a 2 s heartbeat timeout and retries without limit.
    c.start_workflow("features", "hb", json!({"mode": "heartbeat", "n": 3}))
        .await
        .unwrap();
    let first = poll(&c, "default").await;
    assert_eq!(first.activity_type, "long");
    assert!(first.heartbeat_details.is_none());
    assert_eq!(first.heartbeat_timeout_ms, Some(2_000));
    let cancel = c
        .heartbeat_activity(&first.task_token, Some(Payload::json(&json!(2))))
        .await
        .unwrap();
    assert!(!cancel);
    // The worker vanishes. The lease ends 2 s after the heartbeat; the next poll gets
    // attempt 2 with the checkpoint.
    let second = poll(&c, "default").await;
    assert_eq!((second.activity_id, second.attempt), (first.activity_id, 2));
    assert_eq!(second.heartbeat_details, Some(Payload::json(&json!(2))));
    let e = c
        .complete_activity(&first.task_token, Payload::json(&json!(1)))
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::UnknownActivityTask(_)), "{e}");
    c.complete_activity(&second.task_token, Payload::json(&json!(3)))
        .await
        .unwrap();
    assert_eq!(
        c.result("hb").await.unwrap(),
        WorkflowOutcome::Completed(json!({"steps": 3}))
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_worker_learns_of_a_cancel_request_from_its_heartbeat() {
    let t = remote_host();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    c.start_workflow("features", "c", json!({"mode": "cancel"}))
        .await
        .unwrap();
    let task = poll(&c, "default").await;
    assert_eq!(task.activity_type, "blocking");
    let c2 = c.clone();
    let token = task.task_token.clone();
    wait_until("the cancel request reaches the heartbeat", || {
        let (c2, token) = (c2.clone(), token.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(c2.heartbeat_activity(&token, None))
                .unwrap()
        })
    })
    .await;
    c.fail_activity(&task.task_token, Failure::new("Canceled", "asked to stop"))
        .await
        .unwrap();
    assert_eq!(
        c.result("c").await.unwrap(),
        WorkflowOutcome::Completed(json!({"activity": "Canceled", "timer_fired": false}))
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_are_added_requotaed_and_removed_while_the_host_runs() {
    let t = remote_host();
    let host = t.start().await;
    let key = "acme-key-0123456789abcdef";
    assert!(matches!(host.client(key), Err(HostError::Unauthorized)));
    host.add_namespace("acme", |ns| {
        ns.workflow_file("steps", weft_tests::STEPS)
            .remote_activities()
            .api_key(key)
    })
    .await
    .unwrap();
    assert_eq!(host.namespace_names(), ["acme", "default", "other"]);
    // Adding it again, or binding a key twice, is refused.
    let e = host.add_namespace("acme", |ns| ns).await.unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    let e = host
        .add_namespace("beta", |ns| ns.api_key(key))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("two namespaces"), "{e}");

    // Its key works at once, and reaches only its own namespace.
    let acme = host.client(key).unwrap();
    acme.start_workflow("steps", "a-1", json!({"count": 1, "sleep_ms": 1}))
        .await
        .unwrap();
    assert!(matches!(acme.describe("s-none"), Err(HostError::Store(_))));
    let task = poll(&acme, "default").await;
    let default = host.namespace("default").unwrap();
    let e = default
        .complete_activity(&task.task_token, Payload::json(&json!("x")))
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::UnknownActivityTask(_)), "{e}");

    // An open workflow keeps the namespace; once it closes the namespace can go.
    let e = host.remove_namespace("acme").unwrap_err();
    assert!(e.to_string().contains("1 open workflows"), "{e}");
    acme.complete_activity(&task.task_token, Payload::json(&json!("step-0")))
        .await
        .unwrap();
    acme.result("a-1").await.unwrap();

    // Quotas apply from the next start.
    host.set_quotas(
        "acme",
        Quotas {
            max_open_workflows: Some(0),
            ..Quotas::default()
        },
    )
    .unwrap();
    let e = acme
        .start_workflow("steps", "a-2", json!({"count": 1, "sleep_ms": 1}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("quota"), "{e}");
    host.set_quotas("acme", Quotas::default()).unwrap();
    acme.start_workflow("steps", "a-3", json!({"count": 0, "sleep_ms": 1}))
        .await
        .unwrap();
    acme.result("a-3").await.unwrap();

    host.remove_namespace("acme").unwrap();
    assert!(matches!(host.client(key), Err(HostError::Unauthorized)));
    assert!(host.remove_namespace("default").is_err());
    // Its histories stay; serving it again finds them.
    host.add_namespace("acme", |ns| ns.workflow_file("steps", weft_tests::STEPS))
        .await
        .unwrap();
    let acme = host.namespace("acme").unwrap();
    assert_eq!(acme.describe("a-1").unwrap().status, RunStatus::Completed);
    let listed: Vec<String> = acme
        .list_workflows()
        .unwrap()
        .into_iter()
        .map(|d| d.workflow_id)
        .collect();
    assert_eq!(listed, ["a-1", "a-3"]);
    host.shutdown().await;
}
