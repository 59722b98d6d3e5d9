//! Workflows end to end through real components and real database files: results, recorded
//! events, replay, task failures versus execution failures, admission.

use serde_json::{Value, json};
use std::path::Path;
use weft::history::{EventKind, WorkflowTaskFailedCause};
use weft::{Host, HostBuilder, HostError, ReplayMode, RunStatus, WorkflowOutcome};
use weft_tests::{TestHost, wait_until, wait_until_or};

/// The `step` activities and the order example's activities in the default namespace.
fn test_host() -> TestHost {
    TestHost::new().steps().order_activities_in("default")
}

fn order_input(card: &str) -> Value {
    json!({
        "order_id": "o-1",
        "items": [{"sku": "tea", "quantity": 2, "price_cents": 650}],
        "card": {"number": card},
        "ship_after_ms": 100
    })
}

fn event_names(host: &Host, id: &str) -> Vec<&'static str> {
    host.history(id)
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn order_runs_activities_concurrently_waits_on_a_timer_and_replays_identically() {
    let t = test_host().workflow("order", weft_tests::ORDER);
    let host = t.start().await;
    host.start_workflow("order", "o-1", order_input("4242"))
        .await
        .unwrap();
    let outcome = host.result("o-1").await.unwrap();
    let WorkflowOutcome::Completed(receipt) = outcome else {
        panic!("order failed: {outcome:?}")
    };
    assert_eq!(receipt["charge_id"], "ch-1");
    assert_eq!(receipt["tracking_number"], "TRK-1");
    assert_eq!(receipt["total_cents"], 1300);

    let names = event_names(&host, "o-1");
    // The first task schedules both activities before waiting on either.
    let first_completed = names
        .iter()
        .position(|n| *n == "WorkflowTaskCompleted")
        .unwrap();
    assert_eq!(
        &names[first_completed + 1..first_completed + 3],
        ["ActivityTaskScheduled", "ActivityTaskScheduled"]
    );
    for expected in ["TimerStarted", "TimerFired", "WorkflowExecutionCompleted"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(!names.contains(&"WorkflowTaskFailed"));
    // The timer fired no earlier than it was due.
    let history = host.history("o-1").unwrap();
    let due = history
        .iter()
        .find_map(|e| match e.kind {
            EventKind::TimerStarted { fire_at_ms, .. } => Some(fire_at_ms),
            _ => None,
        })
        .unwrap();
    let fired = history
        .iter()
        .find(|e| matches!(e.kind, EventKind::TimerFired { .. }))
        .unwrap();
    assert!(fired.time_ms >= due);

    host.verify_replay("o-1")
        .expect("replay reaches the same result");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_compensates_and_fails_the_execution() {
    let t = test_host().workflow("order", weft_tests::ORDER);
    let host = t.start().await;
    host.start_workflow("order", "o-2", order_input("4000 0002"))
        .await
        .unwrap();
    let WorkflowOutcome::Failed(f) = host.result("o-2").await.unwrap() else {
        panic!("a declined order must fail")
    };
    assert_eq!(f.error_type, "PaymentFailed");
    let history = host.history("o-2").unwrap();
    let scheduled: Vec<String> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityTaskScheduled { activity_type, .. } => Some(activity_type.clone()),
            _ => None,
        })
        .collect();
    assert!(
        scheduled.contains(&"release_inventory".to_string()),
        "{scheduled:?}"
    );
    assert!(!scheduled.contains(&"ship_order".to_string()));
    let names = event_names(&host, "o-2");
    assert!(names.contains(&"ActivityTaskFailed"));
    assert_eq!(*names.last().unwrap(), "WorkflowExecutionFailed");
    assert!(!names.contains(&"WorkflowTaskFailed"));
    assert_eq!(host.describe("o-2").unwrap().status, RunStatus::Failed);
    host.verify_replay("o-2").unwrap();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guest_sees_history_time_seeded_random_and_no_environment() {
    let t = test_host().workflow("probe", weft_tests::PROBE);
    let host = t.start().await;
    host.start_workflow("probe", "p-1", json!(null))
        .await
        .unwrap();
    let WorkflowOutcome::Completed(v) = host.result("p-1").await.unwrap() else {
        panic!("probe failed")
    };
    let history = host.history("p-1").unwrap();
    let task_starts: Vec<u64> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::WorkflowTaskStarted { .. }))
        .map(|e| e.time_ms)
        .collect();
    // Time read at the start is the first task's start time, from either API.
    assert_eq!(v["now_ms"].as_u64(), Some(task_starts[0]), "{v}");
    assert_eq!(v["wasi_now_ms"].as_u64(), Some(task_starts[0]), "{v}");
    assert!(v["later_now_ms"].as_u64().unwrap() > task_starts[0]);
    assert!(task_starts.contains(&v["later_now_ms"].as_u64().unwrap()));
    assert_eq!(v["env_count"], 0);
    assert_eq!(v["read_dir_failed"], true);
    assert_eq!(v["info"]["workflow_id"], "p-1");
    let randoms = v["randoms"].as_array().unwrap();
    assert_eq!(randoms.len(), 3);
    assert_ne!(randoms[0], randoms[1]);
    // Replaying the whole history later reaches the same values (time, random, HashMap
    // order, which branch of the select won) and so the same result.
    host.verify_replay("p-1").expect("identical replay");
    host.shutdown().await;

    // A second run gets a different seed.
    let host = t.start().await;
    host.start_workflow("probe", "p-2", json!(null))
        .await
        .unwrap();
    let WorkflowOutcome::Completed(v2) = host.result("p-2").await.unwrap() else {
        panic!("probe failed")
    };
    assert_ne!(v2["randoms"], v["randoms"]);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_error_fails_the_execution() {
    let t = test_host().workflow("fails", weft_tests::FAILS);
    let host = t.start().await;
    host.start_workflow("fails", "f-1", json!({"mode": "error"}))
        .await
        .unwrap();
    let WorkflowOutcome::Failed(f) = host.result("f-1").await.unwrap() else {
        panic!("must fail")
    };
    assert_eq!(f.error_type, "Business");
    assert_eq!(f.message, "order rejected");
    let names = event_names(&host, "f-1");
    assert_eq!(*names.last().unwrap(), "WorkflowExecutionFailed");
    assert!(!names.contains(&"WorkflowTaskFailed"));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_fails_the_workflow_task_and_the_execution_stays_open() {
    let t = test_host().workflow("fails", weft_tests::FAILS);
    let host = t.start().await;
    host.start_workflow("fails", "f-2", json!({"mode": "panic"}))
        .await
        .unwrap();
    wait_until("the task to be retried", || {
        host.describe("f-2")
            .unwrap()
            .pending_workflow_task_attempt
            .is_some_and(|a| a >= 3)
    })
    .await;
    let d = host.describe("f-2").unwrap();
    assert_eq!(d.status, RunStatus::Running);
    let failure = d.last_workflow_task_failure.unwrap();
    assert!(failure.contains("guest bug"), "{failure}");
    let history = host.history("f-2").unwrap();
    let failed: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WorkflowTaskFailed { cause, message, .. } => {
                Some((cause.clone(), message.clone()))
            }
            _ => None,
        })
        .collect();
    // Recorded once for the series, as Temporal does; later attempts are transient.
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, WorkflowTaskFailedCause::GuestTrap);
    assert!(
        !history
            .iter()
            .any(|e| matches!(e.kind, EventKind::WorkflowExecutionFailed { .. }))
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_code_fails_the_task_and_the_original_code_then_completes_it() {
    let t = test_host();
    let start = |component| t.builder().workflow_file("steps", component).start();
    let input = json!({"count": 3, "sleep_ms": 1});

    // v1 runs until the second activity is scheduled; that activity never finishes on this
    // host, so the run stops there on any machine.
    let host = t
        .builder_holding_steps_from(1)
        .workflow_file("steps", weft_tests::STEPS)
        .start()
        .await
        .unwrap();
    host.start_workflow("steps", "s-1", input).await.unwrap();
    wait_until("two scheduled activities", || {
        event_names(&host, "s-1")
            .iter()
            .filter(|n| **n == "ActivityTaskScheduled")
            .count()
            >= 2
    })
    .await;
    host.shutdown().await;

    // The changed component disagrees with the recorded history.
    let host = start(weft_tests::STEPS_CHANGED).await.unwrap();
    wait_until_or(
        "a non-determinism task failure",
        || {
            host.describe("s-1")
                .unwrap()
                .last_workflow_task_failure
                .is_some_and(|f| f.contains("non-determinism"))
        },
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
    let d = host.describe("s-1").unwrap();
    assert_eq!(d.status, RunStatus::Running);
    let msg = d.last_workflow_task_failure.unwrap();
    assert!(
        msg.contains("step_renamed") && msg.contains("'step'"),
        "{msg}"
    );
    assert!(msg.contains("at event"), "names the event: {msg}");
    let history = host.history("s-1").unwrap();
    assert!(history.iter().any(|e| matches!(
        &e.kind,
        EventKind::WorkflowTaskFailed {
            cause: WorkflowTaskFailedCause::NonDeterminism,
            ..
        }
    )));
    host.shutdown().await;

    // Deploying the original code lets the same execution finish.
    let host = start(weft_tests::STEPS).await.unwrap();
    let outcome = host.result("s-1").await.unwrap();
    assert_eq!(
        outcome,
        WorkflowOutcome::Completed(json!({"results": ["step-0", "step-1", "step-2"]}))
    );
    host.verify_replay("s-1").unwrap();
    host.shutdown().await;
}

/// `component` as workflow types `lenient` and `strict` (strict by type) in the default
/// namespace, and as `changing` in namespace `audit` (strict for the whole namespace), next to
/// the `step` activities of both.
fn replay_mode_host(t: &TestHost, component: &str) -> HostBuilder {
    t.builder()
        .namespace("default", |ns| {
            ns.workflow_file("lenient", component)
                .workflow_file("strict", component)
                .replay_mode_for("strict", ReplayMode::Strict)
        })
        .namespace("audit", |ns| {
            ns.workflow_file("changing", component)
                .replay_mode(ReplayMode::Strict)
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_replay_fails_the_task_on_a_changed_activity_input_and_lenient_replay_accepts_it() {
    let t = TestHost::new().steps().steps_in("audit");
    let input = json!({"count": 2, "sleep_ms": 1});
    let audit_history = |host: &Host, id: &str| host.namespace("audit").unwrap().history(id);

    // The old code schedules `step` with {"i":1}, gets its result, then waits for a signal.
    // Strict replay of unchanged code goes on as usual.
    let host = replay_mode_host(&t, weft_tests::VERSIONED_V1)
        .start()
        .await
        .unwrap();
    host.start_workflow("lenient", "l-1", input.clone())
        .await
        .unwrap();
    host.start_workflow("strict", "s-1", input.clone())
        .await
        .unwrap();
    let audit = host.namespace("audit").unwrap();
    audit
        .start_workflow("changing", "a-1", input.clone())
        .await
        .unwrap();
    let waiting_for_signal = |history: Vec<weft::Event>| {
        history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
            .count()
            >= 2
    };
    wait_until("the old code waiting for its signal", || {
        waiting_for_signal(host.history("l-1").unwrap())
            && waiting_for_signal(host.history("s-1").unwrap())
            && waiting_for_signal(audit_history(&host, "a-1").unwrap())
    })
    .await;
    drop(audit);
    host.shutdown().await;

    // The new code sends {"i":0} first: same position, same activity type, another input.
    let host = replay_mode_host(&t, weft_tests::STEPS)
        .start()
        .await
        .unwrap();
    // A signal schedules a Workflow Task, which replays the history with the new code.
    let default = host.namespace("default").unwrap();
    let audit = host.namespace("audit").unwrap();
    default.signal("l-1", "go", json!(null)).await.unwrap();
    default.signal("s-1", "go", json!(null)).await.unwrap();
    audit.signal("a-1", "go", json!(null)).await.unwrap();
    // Lenient (as Temporal): the changed input replays and receives the old input's result.
    wait_until("the lenient run to close", || {
        default.describe("l-1").unwrap().status != RunStatus::Running
    })
    .await;
    assert_eq!(
        host.result("l-1").await.unwrap(),
        WorkflowOutcome::Completed(json!({"results": ["step-1", "step-1"]}))
    );
    // Strict, by workflow type and by namespace: the task fails naming the event, the
    // attribute and both values; the execution stays open.
    for (client, id) in [(&default, "s-1"), (&audit, "a-1")] {
        wait_until("a strict replay task failure", || {
            client
                .describe(id)
                .unwrap()
                .last_workflow_task_failure
                .is_some_and(|f| f.contains("strict replay"))
        })
        .await;
        let d = client.describe(id).unwrap();
        assert_eq!(d.status, RunStatus::Running);
        let msg = d.last_workflow_task_failure.unwrap();
        let history = client.history(id).unwrap();
        let scheduled = history
            .iter()
            .find(|e| matches!(e.kind, EventKind::ActivityTaskScheduled { .. }))
            .unwrap()
            .id;
        for part in [
            "non-determinism".to_string(),
            format!("at event {scheduled}"),
            "its input differs".into(),
            r#"recorded `{"i":1}`"#.into(),
            r#"now gives `{"i":0}`"#.into(),
        ] {
            assert!(msg.contains(&part), "{part:?} missing from: {msg}");
        }
        assert!(history.iter().any(|e| matches!(
            &e.kind,
            EventKind::WorkflowTaskFailed {
                cause: WorkflowTaskFailedCause::NonDeterminism,
                ..
            }
        )));
        assert!(
            !history
                .iter()
                .any(|e| matches!(e.kind, EventKind::TimerStarted { .. })),
            "nothing of the new code was committed"
        );
    }
    drop((default, audit));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_components_and_bad_requests_get_clear_errors() {
    let t = test_host();
    let err = t
        .builder()
        .workflow_bytes("net", weft_tests::http_importing_component())
        .start()
        .await
        .err()
        .expect("a component importing wasi:http is refused");
    let msg = err.to_string();
    assert!(msg.contains("wasi:http"), "{msg}");

    let err = t
        .builder()
        .workflow_bytes("junk", vec![0, 97, 115, 109, 1, 0, 0, 0, 9, 9])
        .start()
        .await
        .err()
        .unwrap();
    assert!(matches!(err, HostError::Admission(_)), "{err}");

    let err = t
        .builder()
        .workflow_file("missing", Path::new("/nonexistent/x.wasm"))
        .start()
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot read workflow component"),
        "{err}"
    );

    let host = t
        .builder()
        .workflow_file("steps", weft_tests::STEPS)
        .start()
        .await
        .unwrap();
    let err = host
        .start_workflow("nope", "x", json!(1))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown workflow type 'nope'"),
        "{err}"
    );
    let big = "x".repeat(3 * 1024 * 1024);
    let err = host
        .start_workflow("steps", "x", json!(big))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PayloadTooLarge { .. }), "{err}");
    host.start_workflow("steps", "dup", json!({"count": 1, "sleep_ms": 60000}))
        .await
        .unwrap();
    let err = host
        .start_workflow("steps", "dup", json!({"count": 1, "sleep_ms": 1}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    // Malformed input reaches the workflow, which fails the execution with a clear error.
    host.start_workflow("steps", "bad-input", json!("not an object"))
        .await
        .unwrap();
    let WorkflowOutcome::Failed(f) = host.result("bad-input").await.unwrap() else {
        panic!("malformed input must fail the execution")
    };
    assert_eq!(f.error_type, "InvalidInput");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_activity_options_fail_the_task_with_a_bad_command() {
    let t = test_host().workflow("fails", weft_tests::FAILS);
    let host = t.start().await;
    host.start_workflow("fails", "f-3", json!({"mode": "bad-retry"}))
        .await
        .unwrap();
    wait_until("a task failure", || {
        host.describe("f-3")
            .unwrap()
            .last_workflow_task_failure
            .is_some()
    })
    .await;
    let d = host.describe("f-3").unwrap();
    assert_eq!(d.status, RunStatus::Running);
    let msg = d.last_workflow_task_failure.unwrap();
    assert!(
        msg.contains("schedule-activity 'step'")
            && msg.contains("backoff-coefficient must be at least 1"),
        "{msg}"
    );
    let history = host.history("f-3").unwrap();
    assert!(history.iter().any(|e| matches!(
        &e.kind,
        EventKind::WorkflowTaskFailed {
            cause: WorkflowTaskFailedCause::BadCommand,
            ..
        }
    )));
    assert!(
        !history
            .iter()
            .any(|e| matches!(e.kind, EventKind::ActivityTaskScheduled { .. })),
        "nothing of the bad task was committed"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_are_recorded_at_the_injected_clock_time() {
    use std::sync::Arc;
    use weft::ManualClock;
    let t0 = 1_600_000_000_000;
    let clock = Arc::new(ManualClock::new(t0));
    let test = TestHost::new().steps().workflow("fails", weft_tests::FAILS);
    let host = test.builder().clock(clock.clone()).start().await.unwrap();
    host.start_workflow("fails", "c-1", json!({"mode": "error"}))
        .await
        .unwrap();
    let started = |id: &str| {
        let history = host.history(id).unwrap();
        assert!(
            matches!(history[0].kind, EventKind::WorkflowExecutionStarted { .. }),
            "{:?}",
            history[0]
        );
        history[0].time_ms
    };
    assert_eq!(started("c-1"), t0);
    assert_eq!(host.describe("c-1").unwrap().start_ms, t0);

    clock.advance(1_234);
    host.start_workflow("fails", "c-2", json!({"mode": "error"}))
        .await
        .unwrap();
    assert_eq!(started("c-2"), t0 + 1_234);
    // The Workflow Task due at the clock's time still runs.
    assert!(matches!(
        host.result("c-2").await.unwrap(),
        WorkflowOutcome::Failed(_)
    ));
    host.shutdown().await;
}
