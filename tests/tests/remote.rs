//! Remote activity and Nexus workers and namespaces changed at runtime, through the embedding
//! API that `weft server` calls: tasks polled by task queue or endpoint, heartbeats,
//! cancellation, leases that expire when a worker disappears, tokens that never cross
//! namespaces, and namespaces added, re-quotaed and removed while the host runs.

use serde_json::json;
use std::time::Duration;
use weft::{
    Client, EventKind, Failure, HostError, NexusOutcome, NexusTaskResult, Payload, Quotas,
    RunStatus, WorkflowOutcome,
};
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

async fn poll_nexus(c: &Client, endpoint: &str) -> weft::NexusTask {
    c.poll_nexus_task(endpoint, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a Nexus task within 30 s")
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_nexus_handlers_answer_sync_async_retried_and_canceled_operations() {
    let t = remote_host();
    let host = t.start().await;
    let c = host.namespace("default").unwrap();

    // Synchronous: the worker's result completes the operation.
    c.start_workflow("features", "sync", json!({"mode": "nexus-sync", "n": 40}))
        .await
        .unwrap();
    let task = poll_nexus(&c, "calc").await;
    assert_eq!(
        (task.kind, task.service.as_str(), task.operation.as_str()),
        ("start", "math", "add")
    );
    assert_eq!(task.input.to_json(), json!({"a": 2, "b": 40}));
    assert_eq!(task.caller_workflow_id, "sync");
    // Answering a start as a cancel is refused and changes nothing.
    let e = c
        .respond_nexus_task(&task.task_token, NexusTaskResult::CancelAccepted)
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::InvalidArgument(_)), "{e}");
    // An activity token call with a Nexus token is unknown, and the other way round.
    let e = c
        .heartbeat_activity(&task.task_token, None)
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::UnknownActivityTask(_)), "{e}");
    c.respond_nexus_task(
        &task.task_token,
        NexusTaskResult::Completed(Payload::json(&json!(42))),
    )
    .await
    .unwrap();
    assert_eq!(
        c.result("sync").await.unwrap(),
        WorkflowOutcome::Completed(json!({"sum": 42}))
    );
    // The same token again: the delivery is no longer current.
    let e = c
        .respond_nexus_task(
            &task.task_token,
            NexusTaskResult::Completed(Payload::json(&json!(1))),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::UnknownNexusTask(_)), "{e}");

    // A retryable failure: the same request is delivered again as the next attempt.
    c.start_workflow("features", "retry", json!({"mode": "nexus-retry"}))
        .await
        .unwrap();
    let first = poll_nexus(&c, "calc").await;
    c.respond_nexus_task(
        &first.task_token,
        NexusTaskResult::Failed {
            failure: Failure::new("Unavailable", "try later"),
            retryable: true,
        },
    )
    .await
    .unwrap();
    let second = poll_nexus(&c, "calc").await;
    assert_eq!(second.request_id, first.request_id);
    assert_eq!(second.attempt, first.attempt + 1);
    c.respond_nexus_task(
        &second.task_token,
        NexusTaskResult::Completed(Payload::json(&json!(3))),
    )
    .await
    .unwrap();
    assert_eq!(
        c.result("retry").await.unwrap(),
        WorkflowOutcome::Completed(json!(3))
    );

    // Asynchronous, completed later by its token.
    c.start_workflow("features", "async", json!({"mode": "nexus-async"}))
        .await
        .unwrap();
    let task = poll_nexus(&c, "calc").await;
    c.respond_nexus_task(
        &task.task_token,
        NexusTaskResult::Started {
            operation_token: "op-7".into(),
        },
    )
    .await
    .unwrap();
    c.complete_nexus_operation(
        "op-7",
        NexusOutcome::Completed(Payload::json(&json!("done"))),
    )
    .await
    .unwrap();
    assert_eq!(
        c.result("async").await.unwrap(),
        WorkflowOutcome::Completed(json!({"async": "done"}))
    );

    // Canceled: the worker gets the cancel with the operation's token, accepts it, and the
    // operation ends canceled.
    c.start_workflow("features", "cancel", json!({"mode": "nexus-cancel"}))
        .await
        .unwrap();
    let start = poll_nexus(&c, "flows").await;
    c.respond_nexus_task(
        &start.task_token,
        NexusTaskResult::Started {
            operation_token: "flow-1".into(),
        },
    )
    .await
    .unwrap();
    let cancel = poll_nexus(&c, "flows").await;
    assert_eq!(cancel.kind, "cancel");
    assert_eq!(cancel.operation_token.as_deref(), Some("flow-1"));
    c.respond_nexus_task(&cancel.task_token, NexusTaskResult::CancelAccepted)
        .await
        .unwrap();
    c.complete_nexus_operation("flow-1", NexusOutcome::Canceled)
        .await
        .unwrap();
    assert_eq!(
        c.result("cancel").await.unwrap(),
        WorkflowOutcome::Completed(json!({"first": 0, "outcome": "Canceled"}))
    );
    for id in ["sync", "retry", "async", "cancel"] {
        c.verify_replay(id).unwrap();
    }
    host.shutdown().await;
}
