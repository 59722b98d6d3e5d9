//! The conformance suite: what every [`Backend`] must do for the rules to hold, written once
//! against the traits and run against each implementation (see [`conformance_tests!`]).
//!
//! Each case takes a [`Harness`] that makes an empty database and reopens it, runs the rules
//! ([`Store`]) on it and checks what they read back. The suite tests storage, not the rules'
//! every branch: those are the host's tests. It does not time anything.

use crate::*;
use std::sync::Arc;
use weft_core::history::{EventKind, Failure, IdReusePolicy, Payload, RetryPolicy};
use weft_core::ids::{EventId, Namespace, RunId, WorkflowId};

/// Makes the databases a case runs on.
pub trait Harness {
    /// A new, empty database.
    fn create(&mut self) -> Arc<dyn Backend>;
    /// The database `create` made last, closed and opened again.
    fn reopen(&mut self) -> Arc<dyn Backend>;
}

/// Declares one `#[test]` per conformance case, each on a harness made by `$make`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            start_and_history_read_back,
            duplicate_start_refused_by_id_reuse_policy,
            task_completion_records_activity_and_timer_commands,
            eager_activities_are_leased_by_their_task,
            closing_a_parent_reports_its_terminated_child,
            a_stale_task_conflicts,
            activity_lease_heartbeat_and_reports,
            timers_fire,
            deadlines_time_out,
            nexus_task_lease_and_report,
            usage_and_quotas,
            state_survives_close_and_reopen,
            component_pins_are_kept_moved_and_durable,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let mut harness = $make;
                $crate::conformance::$case(&mut harness);
            }
        )*
    };
}

const T0: u64 = 1_000;

fn ns() -> Namespace {
    Namespace::default_namespace()
}

fn store(backend: Arc<dyn Backend>) -> Store {
    Store::with_backend(backend, "conformance", T0).expect("store on a new backend")
}

fn start(store: &Store, id: &str) -> RunId {
    store
        .start_workflow(
            &ns(),
            &WorkflowId::from(id),
            "t",
            Payload(b"in".to_vec()),
            1,
            T0,
            StartQuota::UNLIMITED,
            None,
        )
        .expect("start")
}

fn kinds(store: &Store, run: RunId) -> Vec<&'static str> {
    let (_, events) = store.load_run(run).expect("load");
    events.iter().map(|e| e.kind.name()).collect()
}

fn complete(store: &Store, run: RunId, commands: Vec<Command>, now_ms: u64) -> Effects {
    let next = store.run(run).expect("run").next_event_id;
    store
        .complete_workflow_task(
            TaskCompletion {
                run,
                expected_next_event_id: next,
                attempt: 1,
                started_ms: now_ms,
                commands,
                eager_slots: Default::default(),
            },
            now_ms,
        )
        .expect("task")
}

fn activity(retry_policy: RetryPolicy, schedule_to_close_timeout_ms: Option<u64>) -> Command {
    Command::ScheduleActivity {
        activity_type: "a".into(),
        input: Payload(b"x".to_vec()),
        start_to_close_timeout_ms: 10_000,
        retry_policy,
        schedule_to_close_timeout_ms,
        schedule_to_start_timeout_ms: None,
        heartbeat_timeout_ms: None,
        task_queue: "q".into(),
    }
}

fn no_retry() -> RetryPolicy {
    RetryPolicy {
        maximum_attempts: 1,
        ..RetryPolicy::default()
    }
}

/// A started run reads back with its first events, as the current run of its id and as a
/// due Workflow Task.
pub fn start_and_history_read_back(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    let (rec, events) = store.load_run(run).unwrap();
    assert_eq!(rec.status, RunStatus::Running);
    assert_eq!(rec.next_event_id, 3);
    assert_eq!(
        events.iter().map(|e| e.id).collect::<Vec<_>>(),
        [EventId(1), EventId(2)]
    );
    match &events[0].kind {
        EventKind::WorkflowExecutionStarted { input, .. } => assert_eq!(input.0, b"in"),
        other => panic!("first event is {}", other.name()),
    }
    assert_eq!(
        store.current_run(&ns(), &WorkflowId::from("w")).unwrap().0,
        run
    );
    let due = store.due_workflow_tasks(T0, 10, |_, _| false).unwrap();
    assert_eq!(due, [(run, ns())]);
    assert_eq!(store.next_due("default/q").unwrap()[0], Some(T0));
    assert!(matches!(
        store.current_run(&ns(), &WorkflowId::from("other")),
        Err(StoreError::UnknownWorkflow(_))
    ));
}

/// A run started with a component is pinned to it; a first pin without `replace` keeps an
/// existing one, `replace` moves it, and pins survive a reopen.
pub fn component_pins_are_kept_moved_and_durable(h: &mut dyn Harness) {
    let store = store(h.create());
    let req = StartRequest {
        namespace: None,
        workflow_id: WorkflowId::from("pinned"),
        workflow_type: "t".into(),
        input: Payload::default(),
        random_seed: 1,
        options: Default::default(),
        id_reuse_policy: IdReusePolicy::default(),
        signal: None,
        component: Some("sha256:aa".into()),
    };
    let (pinned, _) = store
        .start_workflow_with(&req, T0, StartQuota::UNLIMITED, None)
        .unwrap();
    let free = start(&store, "free");
    assert_eq!(
        store.component_of(pinned).unwrap().as_deref(),
        Some("sha256:aa")
    );
    assert_eq!(store.component_of(free).unwrap(), None);
    assert_eq!(
        store.pin_component(pinned, "sha256:bb", false).unwrap(),
        "sha256:aa"
    );
    assert_eq!(
        store.pin_component(free, "sha256:bb", false).unwrap(),
        "sha256:bb"
    );
    assert_eq!(
        store.pin_component(pinned, "sha256:cc", true).unwrap(),
        "sha256:cc"
    );
    drop(store);
    let store = Store::with_backend(h.reopen(), "conformance", T0).unwrap();
    assert_eq!(
        store.component_of(pinned).unwrap().as_deref(),
        Some("sha256:cc")
    );
    assert_eq!(
        store.component_of(free).unwrap().as_deref(),
        Some("sha256:bb")
    );
    assert_eq!(store.component_of(RunId(12345)).unwrap(), None);
}

/// A running id is refused; a closed one is refused when its policy says so.
pub fn duplicate_start_refused_by_id_reuse_policy(h: &mut dyn Harness) {
    let store = store(h.create());
    let req = StartRequest {
        namespace: None,
        workflow_id: WorkflowId::from("w"),
        workflow_type: "t".into(),
        input: Payload::default(),
        random_seed: 1,
        options: Default::default(),
        id_reuse_policy: IdReusePolicy::RejectDuplicate,
        signal: None,
        component: None,
    };
    let (run, created) = store
        .start_workflow_with(&req, T0, StartQuota::UNLIMITED, None)
        .unwrap();
    assert!(created);
    assert!(matches!(
        store.start_workflow_with(&req, T0, StartQuota::UNLIMITED, None),
        Err(StoreError::AlreadyRunning(_, r)) if r == run
    ));
    assert!(store.terminate(run, "test", T0 + 1).unwrap());
    assert!(matches!(
        store.start_workflow_with(&req, T0 + 2, StartQuota::UNLIMITED, None),
        Err(StoreError::IdReused { .. })
    ));
    // The default policy allows a new run once the last closed.
    let again = StartRequest {
        workflow_id: WorkflowId::from("v"),
        id_reuse_policy: IdReusePolicy::AllowDuplicate,
        ..req
    };
    let (first, _) = store
        .start_workflow_with(&again, T0, StartQuota::UNLIMITED, None)
        .unwrap();
    store.terminate(first, "test", T0 + 1).unwrap();
    let (second, created) = store
        .start_workflow_with(&again, T0 + 2, StartQuota::UNLIMITED, None)
        .unwrap();
    assert!(created && second != first);
}

/// A completed task records its events and one per command, and queues what they start.
pub fn task_completion_records_activity_and_timer_commands(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    let fx = complete(
        &store,
        run,
        vec![
            activity(RetryPolicy::default(), None),
            Command::StartTimer { duration_ms: 50 },
        ],
        T0 + 10,
    );
    assert!(fx.activities && fx.timers);
    assert_eq!(fx.next_event_id, 7);
    assert_eq!(
        kinds(&store, run),
        [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowTaskStarted",
            "WorkflowTaskCompleted",
            "ActivityTaskScheduled",
            "TimerStarted"
        ]
    );
    let rec = store.run(run).unwrap();
    assert!(rec.workflow_task.is_none());
    assert!(
        store
            .due_workflow_tasks(T0 + 1_000, 10, |_, _| false)
            .unwrap()
            .is_empty()
    );
    let [wft, act, timer, nexus] = store.next_due(&queue_key(&ns(), "q")).unwrap();
    assert_eq!(
        (wft, act, timer, nexus),
        (None, Some(T0 + 10), Some(T0 + 60), None)
    );
}

/// A task's activities that the host has room to run now are leased by the task's own
/// commit: their queue entries stand at the lease's expiry (for a host that is gone), and
/// only the others are work for a queue worker to look for (`Effects::activities`).
pub fn eager_activities_are_leased_by_their_task(h: &mut dyn Harness) {
    let store = store(h.create());
    let qk = queue_key(&ns(), "q");
    let commit = |run: RunId, n: usize, eager: usize| {
        store
            .complete_workflow_task(
                TaskCompletion {
                    run,
                    expected_next_event_id: store.run(run).unwrap().next_event_id,
                    attempt: 1,
                    started_ms: T0,
                    commands: (0..n).map(|_| activity(no_retry(), None)).collect(),
                    eager_slots: [(qk.clone(), eager)].into_iter().collect(),
                },
                T0,
            )
            .expect("task")
    };
    let run = start(&store, "eager");
    let fx = commit(run, 1, 1);
    assert_eq!(fx.eager.len(), 1);
    assert!(!fx.activities, "{fx:?}");
    let leased = &fx.eager[0];
    assert_eq!(
        (leased.task.attempt, leased.task.attempt_started_ms),
        (1, T0)
    );
    // Nothing to lease until the eager attempt's lease runs out (start-to-close 10 s).
    assert!(store.lease_activities(&qk, T0, 10).unwrap().0.is_empty());
    let [_, act, _, _] = store.next_due(&qk).unwrap();
    assert_eq!(act, Some(T0 + 10_000));
    // Room for one of two: the other is queued for the worker.
    let fx = commit(start(&store, "half"), 2, 1);
    assert_eq!(fx.eager.len(), 1);
    assert!(fx.activities, "{fx:?}");
    let (queued, _) = store.lease_activities(&qk, T0, 10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_ne!(queued[0].scheduled_event_id, fx.eager[0].scheduled_event_id);
    // Should the host be gone, the eager attempt times out when its lease runs out (and,
    // with no retries left, the activity with it).
    assert!(
        store
            .lease_activities(&qk, T0 + 10_000, 10)
            .unwrap()
            .0
            .is_empty()
    );
    let events = kinds(&store, run);
    assert_eq!(
        events[events.len() - 2..],
        ["ActivityTaskTimedOut", "WorkflowTaskScheduled"]
    );
}

/// A run that closes terminates its children under `ParentClosePolicy::Terminate`, and the
/// effects of the commit name every run it closed (the host wakes whoever waits on them).
pub fn closing_a_parent_reports_its_terminated_child(h: &mut dyn Harness) {
    let store = store(h.create());
    let parent = start(&store, "parent");
    complete(
        &store,
        parent,
        vec![Command::StartChild {
            workflow_type: "t".into(),
            workflow_id: WorkflowId::from("kid"),
            input: Payload::default(),
            policy: weft_core::history::ParentClosePolicy::Terminate,
            options: Default::default(),
        }],
        T0 + 10,
    );
    let (child, rec) = store.current_run(&ns(), &WorkflowId::from("kid")).unwrap();
    assert!(!rec.status.is_closed());
    let fx = complete(
        &store,
        parent,
        vec![Command::CompleteWorkflow {
            result: Payload::default(),
        }],
        T0 + 20,
    );
    assert_eq!(store.run(child).unwrap().status, RunStatus::Terminated);
    let mut closed = fx.closed.clone();
    closed.sort();
    let mut both = vec![parent, child];
    both.sort();
    assert_eq!(closed, both, "{fx:?}");
}

/// A task computed on a history that grew meanwhile is refused whole.
pub fn a_stale_task_conflicts(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    let stale = store.run(run).unwrap().next_event_id;
    store.signal(run, "s", Payload::default(), T0 + 1).unwrap();
    let r = store.complete_workflow_task(
        TaskCompletion {
            run,
            expected_next_event_id: stale,
            attempt: 1,
            started_ms: T0 + 2,
            commands: vec![Command::StartTimer { duration_ms: 5 }],
            eager_slots: Default::default(),
        },
        T0 + 2,
    );
    assert!(
        matches!(r, Err(StoreError::Conflict(r, e, f)) if r == run && e == stale && f == stale + 1)
    );
    assert_eq!(
        kinds(&store, run).last(),
        Some(&"WorkflowExecutionSignaled")
    );
}

/// Activities are leased from their queue, heartbeat, retried by their policy and completed
/// or failed for good.
pub fn activity_lease_heartbeat_and_reports(h: &mut dyn Harness) {
    let store = store(h.create());
    let qk = queue_key(&ns(), "q");
    let run = start(&store, "w");
    let retry = RetryPolicy {
        initial_interval_ms: 100,
        maximum_attempts: 2,
        ..RetryPolicy::default()
    };
    complete(
        &store,
        run,
        vec![activity(retry, None), activity(no_retry(), None)],
        T0,
    );
    let (leased, _) = store.lease_activities(&qk, T0, 10).unwrap();
    assert_eq!(leased.len(), 2);
    assert!(store.lease_activities(&qk, T0, 10).unwrap().0.is_empty());
    let (a, b) = (leased[0].scheduled_event_id, leased[1].scheduled_event_id);
    assert_eq!(
        store
            .heartbeat(run, a, 1, Some(Payload(b"hb".to_vec())), T0 + 1)
            .unwrap(),
        HeartbeatAck::Continue
    );
    assert_eq!(
        store.heartbeat(run, a, 2, None, T0 + 1).unwrap(),
        HeartbeatAck::Gone
    );
    // A retryable failure queues attempt 2 after the policy's delay, with no event.
    let before = kinds(&store, run).len();
    let fx = store
        .report_activity(run, a, 1, Err(Failure::new("E", "boom")), T0 + 2)
        .unwrap()
        .expect("current attempt");
    assert!(fx.activities && !fx.workflow_task);
    assert_eq!(kinds(&store, run).len(), before);
    assert!(
        store
            .lease_activities(&qk, T0 + 50, 10)
            .unwrap()
            .0
            .is_empty()
    );
    let (again, _) = store.lease_activities(&qk, T0 + 102, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].task.attempt, 2);
    assert_eq!(
        again[0].task.heartbeat_details,
        Some(Payload(b"hb".to_vec()))
    );
    // The stale attempt's report is dropped; the current one completes it.
    assert!(
        store
            .report_activity(run, a, 1, Ok(Payload::default()), T0 + 103)
            .unwrap()
            .is_none()
    );
    let fx = store
        .report_activity(run, a, 2, Ok(Payload(b"r".to_vec())), T0 + 103)
        .unwrap()
        .unwrap();
    assert!(fx.workflow_task);
    // No retries left: the failure is final.
    store
        .report_activity(run, b, 1, Err(Failure::new("E", "no")), T0 + 104)
        .unwrap()
        .unwrap();
    let k = kinds(&store, run);
    assert_eq!(
        &k[k.len() - 5..],
        [
            "ActivityTaskStarted",
            "ActivityTaskCompleted",
            "WorkflowTaskScheduled",
            "ActivityTaskStarted",
            "ActivityTaskFailed"
        ]
    );
    assert_eq!(store.next_due(&qk).unwrap()[1], None);
}

/// A due timer fires once; a canceled one never does.
pub fn timers_fire(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    complete(
        &store,
        run,
        vec![
            Command::StartTimer { duration_ms: 10 },
            Command::StartTimer { duration_ms: 20 },
            Command::CancelTimer {
                target: Target::New(1),
            },
        ],
        T0,
    );
    assert_eq!(store.fire_timers(T0 + 9).unwrap().0, 0);
    let (fired, _) = store.fire_timers(T0 + 30).unwrap();
    assert_eq!(fired, 1);
    // The cancel already scheduled a Workflow Task; the firing joins it.
    assert!(store.run(run).unwrap().workflow_task.is_some());
    assert_eq!(store.fire_timers(T0 + 40).unwrap().0, 0);
    let (_, events) = store.load_run(run).unwrap();
    let fired: Vec<_> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TimerFired { started_event_id } => Some(started_event_id),
            _ => None,
        })
        .collect();
    assert_eq!(fired, [EventId(5)]);
    assert_eq!(store.next_due("default/q").unwrap()[2], None);
}

/// Activity and run deadlines fire without a worker.
pub fn deadlines_time_out(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    complete(&store, run, vec![activity(no_retry(), Some(100))], T0);
    assert_eq!(store.next_due("default/q").unwrap()[2], Some(T0 + 100));
    let (fired, _) = store.fire_timers(T0 + 100).unwrap();
    assert_eq!(fired, 1);
    let k = kinds(&store, run);
    assert_eq!(
        &k[k.len() - 2..],
        ["ActivityTaskTimedOut", "WorkflowTaskScheduled"]
    );
    assert!(
        store
            .lease_activities(&queue_key(&ns(), "q"), T0 + 200, 10)
            .unwrap()
            .0
            .is_empty()
    );
    // A run timeout closes the run.
    let req = StartRequest {
        namespace: None,
        workflow_id: WorkflowId::from("timed"),
        workflow_type: "t".into(),
        input: Payload::default(),
        random_seed: 1,
        options: weft_core::history::WorkflowOptions {
            run_timeout_ms: Some(500),
            ..Default::default()
        },
        id_reuse_policy: IdReusePolicy::default(),
        signal: None,
        component: None,
    };
    let (timed, _) = store
        .start_workflow_with(&req, T0, StartQuota::UNLIMITED, None)
        .unwrap();
    let (_, fx) = store.fire_timers(T0 + 500).unwrap();
    assert_eq!(fx.closed, vec![timed], "the effects name the closed run");
    assert_eq!(store.run(timed).unwrap().status, RunStatus::TimedOut);
    assert_eq!(
        kinds(&store, timed).last(),
        Some(&"WorkflowExecutionTimedOut")
    );
}

/// Nexus starts are leased and reported; an asynchronous operation completes by its token.
pub fn nexus_task_lease_and_report(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    let fx = complete(
        &store,
        run,
        vec![Command::ScheduleNexusOperation {
            endpoint: "e".into(),
            service: "s".into(),
            operation: "o".into(),
            input: Payload::default(),
            schedule_to_close_timeout_ms: None,
        }],
        T0,
    );
    assert!(fx.nexus);
    assert_eq!(store.next_due("default/q").unwrap()[3], Some(T0));
    let leased = store.lease_nexus(T0, 10, 1_000, |_| Some(())).unwrap();
    assert_eq!(leased.len(), 1);
    let (task, ()) = &leased[0];
    assert_eq!(task.kind, NexusTaskKind::Start);
    assert_eq!(task.run, run);
    let sched = task.scheduled_event_id;
    assert!(
        store
            .lease_nexus(T0, 10, 1_000, |_| Some(()))
            .unwrap()
            .is_empty()
    );
    store
        .report_nexus(
            run,
            sched,
            1,
            NexusReport::Started {
                operation_token: "tok".into(),
            },
            T0 + 1,
        )
        .unwrap()
        .unwrap();
    assert!(
        !store
            .complete_nexus(&ns(), "other", NexusOutcome::Canceled, T0 + 2)
            .unwrap()
    );
    assert!(
        store
            .complete_nexus(
                &ns(),
                "tok",
                NexusOutcome::Completed(Payload(b"r".to_vec())),
                T0 + 2
            )
            .unwrap()
    );
    let k = kinds(&store, run);
    assert!(k.contains(&"NexusOperationStarted"));
    assert_eq!(k.last(), Some(&"NexusOperationCompleted"));
    // The token is gone with the operation.
    assert!(
        !store
            .complete_nexus(&ns(), "tok", NexusOutcome::Canceled, T0 + 3)
            .unwrap()
    );
}

/// Usage counts open runs and history bytes exactly; quotas refuse starts past them.
pub fn usage_and_quotas(h: &mut dyn Harness) {
    let store = store(h.create());
    assert_eq!(store.usage(&ns()).unwrap(), NamespaceUsage::default());
    let a = start(&store, "a");
    let b = start(&store, "b");
    let bytes = |run| store.run(run).unwrap().history_bytes;
    let usage = store.usage(&ns()).unwrap();
    assert_eq!(usage.open_workflows, 2);
    assert_eq!(usage.stored_bytes, bytes(a) + bytes(b));
    store.terminate(a, "test", T0 + 1).unwrap();
    let usage = store.usage(&ns()).unwrap();
    assert_eq!(usage.open_workflows, 1);
    assert_eq!(usage.stored_bytes, bytes(a) + bytes(b));
    let one = StartQuota {
        max_open_workflows: 1,
        max_stored_bytes: u64::MAX,
    };
    let r = store.start_workflow(
        &ns(),
        &WorkflowId::from("c"),
        "t",
        Payload::default(),
        1,
        T0,
        one,
        None,
    );
    assert!(matches!(r, Err(StoreError::QuotaExceeded { .. })));
    assert!(store.run(b).is_ok());
    // Other namespaces are counted apart.
    let other = Namespace::new("other").unwrap();
    assert_eq!(store.usage(&other).unwrap(), NamespaceUsage::default());
}

/// Committed state is read back after the database is closed and opened again; leases of
/// the closed process are released.
pub fn state_survives_close_and_reopen(h: &mut dyn Harness) {
    let store = store(h.create());
    let run = start(&store, "w");
    complete(&store, run, vec![activity(no_retry(), None)], T0);
    let (leased, _) = store
        .lease_activities(&queue_key(&ns(), "q"), T0, 10)
        .unwrap();
    assert_eq!(leased.len(), 1);
    let (rec, events) = store.load_run(run).unwrap();
    let usage = store.usage(&ns()).unwrap();
    store.close();
    drop(store);
    let reopened = Store::with_backend(h.reopen(), "conformance", T0 + 5).unwrap();
    assert_eq!(reopened.load_run(run).unwrap(), (rec, events));
    assert_eq!(reopened.usage(&ns()).unwrap(), usage);
    // The lease of the closed process was released: the lost attempt is due now, and counts
    // as failed (no retries left).
    reopened
        .lease_activities(&queue_key(&ns(), "q"), T0 + 5, 10)
        .unwrap();
    let k = kinds(&reopened, run);
    assert_eq!(
        &k[k.len() - 3..],
        [
            "ActivityTaskStarted",
            "ActivityTaskFailed",
            "WorkflowTaskScheduled"
        ]
    );
}
