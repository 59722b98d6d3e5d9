//! Store transactions that the host API does not reach directly.

use std::collections::HashMap;
use weft_core::command::Command;
use weft_core::history::{EventKind, ParentClosePolicy, Payload, RetryPolicy, WorkflowOptions};
use weft_core::ids::{EventId, Namespace, RunId, WorkflowId};
use weft_engine::{
    Effects, NamespaceLimits, NexusCallback, RunStatus, StartQuota, Store, StoreError,
    TaskCompletion,
};

#[test]
fn a_workflow_started_for_a_nexus_operation_is_started_once_per_operation() {
    let dir = tempfile::tempdir().unwrap();
    let store = weft_store_redb::open(dir.path().join("s.redb"), 0).unwrap();
    let ns = Namespace::default_namespace();
    let id = WorkflowId::from("nexus-req-1");
    let cb = NexusCallback {
        run: RunId(7),
        scheduled_event_id: EventId(5),
    };
    let start = |callback| {
        store.start_workflow(
            &ns,
            &id,
            "steps",
            Payload::json(&serde_json::json!({})),
            1,
            10,
            StartQuota::UNLIMITED,
            callback,
        )
    };
    let first = start(Some(cb)).unwrap();
    // The same operation delivered again finds its workflow.
    assert_eq!(start(Some(cb)).unwrap(), first);
    assert_eq!(store.usage(&ns).unwrap().open_workflows, 1);
    // Another caller, or a plain start, does not take it over.
    let other = NexusCallback {
        run: RunId(8),
        scheduled_event_id: EventId(5),
    };
    assert!(matches!(
        start(Some(other)),
        Err(StoreError::AlreadyRunning(..))
    ));
    assert!(matches!(start(None), Err(StoreError::AlreadyRunning(..))));
}

/// A store whose `default` namespace allows `events` events and `bytes` bytes per run and
/// `open` open workflows.
fn limited(dir: &tempfile::TempDir, events: u64, bytes: u64, open: u64) -> Store {
    let lim = NamespaceLimits {
        max_history_events: events,
        max_history_bytes: bytes,
        start: StartQuota {
            max_open_workflows: open,
            max_stored_bytes: u64::MAX,
        },
    };
    weft_store_redb::open(dir.path().join("limits.redb"), 0)
        .unwrap()
        .with_limits(lim, HashMap::new())
}

fn start(store: &Store, id: &str) -> RunId {
    store
        .start_workflow(
            &Namespace::default_namespace(),
            &WorkflowId::from(id),
            "t",
            Payload(vec![]),
            1,
            10,
            StartQuota::UNLIMITED,
            None,
        )
        .unwrap()
}

fn task(store: &Store, run: RunId, commands: Vec<Command>) -> Result<Effects, StoreError> {
    let next = store.run(run).unwrap().next_event_id;
    store.complete_workflow_task(
        TaskCompletion {
            run,
            expected_next_event_id: next,
            attempt: 1,
            started_ms: 20,
            commands,
            eager_slots: Default::default(),
        },
        30,
    )
}

fn activity(size: usize) -> Command {
    Command::ScheduleActivity {
        activity_type: "a".into(),
        input: Payload(vec![7; size]),
        start_to_close_timeout_ms: 1000,
        retry_policy: RetryPolicy::default(),
        schedule_to_close_timeout_ms: None,
        schedule_to_start_timeout_ms: None,
        heartbeat_timeout_ms: None,
        task_queue: "default".into(),
    }
}

fn kinds(store: &Store, run: RunId) -> Vec<&'static str> {
    store
        .load_run(run)
        .unwrap()
        .1
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

#[test]
fn a_task_past_the_history_limit_is_refused_whole_and_the_run_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let store = limited(&dir, 1000, 10_000, u64::MAX);
    let run = start(&store, "w");
    let fx = task(&store, run, (0..4).map(|_| activity(4_000)).collect()).unwrap();
    let reason = fx.terminated.expect("terminated");
    assert!(reason.contains("limit of 10000 bytes"), "{reason}");
    assert!(
        reason.contains("4 commands carrying 16000 bytes"),
        "{reason}"
    );
    let rec = store.run(run).unwrap();
    assert_eq!(rec.status, RunStatus::Terminated);
    assert!(rec.history_bytes <= 10_000);
    assert_eq!(
        kinds(&store, run),
        [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowExecutionTerminated"
        ]
    );
    // No activity task was queued.
    assert!(
        store
            .lease_activities("default/default", 100, 10)
            .unwrap()
            .0
            .is_empty()
    );

    // Within the limit, the same commands commit; one more event past the count limit
    // does not.
    let run = start(&store, "w2");
    let fx = task(&store, run, vec![activity(4_000)]).unwrap();
    assert_eq!(fx.terminated, None);
    drop(store);
    // Two events at the start, then the task's four would be six.
    let store = limited(&dir, 5, u64::MAX, u64::MAX);
    let run = start(&store, "e");
    let fx = task(&store, run, vec![activity(1), activity(1)]).unwrap();
    let reason = fx.terminated.unwrap();
    assert!(reason.contains("limit of 5 events"), "{reason}");
    assert_eq!(store.run(run).unwrap().next_event_id - 1, 3);
}

#[test]
fn a_result_past_the_limit_terminates_the_run_and_a_signal_past_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = limited(&dir, 1000, 10_000, u64::MAX);
    let run = start(&store, "w");
    task(&store, run, vec![activity(10)]).unwrap();
    let (leased, _) = store.lease_activities("default/default", 40, 1).unwrap();
    let a = &leased[0];

    // A signal that does not fit is refused; nothing is recorded and the run goes on.
    let before = store.run(run).unwrap();
    let err = store
        .signal(run, "s", Payload(vec![1; 12_000]), 50)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::HistoryLimit(o) if o.run == run),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was recorded"), "{err}");
    assert_eq!(store.run(run).unwrap(), before);

    // A result that does not fit cannot be refused: the run is terminated instead.
    let fx = store
        .report_activity(
            run,
            a.scheduled_event_id,
            a.task.attempt,
            Ok(Payload(vec![2; 12_000])),
            60,
        )
        .unwrap();
    assert_eq!(fx, None, "the result was not recorded");
    let rec = store.run(run).unwrap();
    assert_eq!(rec.status, RunStatus::Terminated);
    assert!(rec.history_bytes <= 10_000);
    let history = store.load_run(run).unwrap().1;
    let EventKind::WorkflowExecutionTerminated { reason } = &history.last().unwrap().kind else {
        panic!("{history:?}")
    };
    assert!(
        reason.contains("ActivityTaskCompleted") && reason.contains("continue-as-new"),
        "{reason}"
    );
}

#[test]
fn children_count_against_the_open_workflow_quota_and_continue_as_new_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = limited(&dir, 1000, u64::MAX, 2);
    let ns = Namespace::default_namespace();
    let parent = start(&store, "p");
    let child = |id: &str| Command::StartChild {
        workflow_type: "t".into(),
        workflow_id: WorkflowId::from(id),
        input: Payload(vec![]),
        policy: ParentClosePolicy::Abandon,
        options: WorkflowOptions::default(),
    };
    // The first child makes two open runs; the second is refused in the same task.
    task(&store, parent, vec![child("c1"), child("c2")]).unwrap();
    let causes: Vec<String> = store
        .load_run(parent)
        .unwrap()
        .1
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StartChildWorkflowExecutionFailed {
                workflow_id, cause, ..
            } => Some(format!("{workflow_id}: {cause}")),
            _ => None,
        })
        .collect();
    assert_eq!(causes, ["c2: NamespaceQuotaExceeded"]);
    assert_eq!(store.usage(&ns).unwrap().open_workflows, 2);
    assert!(store.current_run(&ns, &WorkflowId::from("c2")).is_err());

    // At the limit, the child continues as new: one run closes, one opens.
    let (c1, _) = store.current_run(&ns, &WorkflowId::from("c1")).unwrap();
    task(
        &store,
        c1,
        vec![Command::ContinueAsNew {
            input: Payload(vec![]),
        }],
    )
    .unwrap();
    let (next, rec) = store.current_run(&ns, &WorkflowId::from("c1")).unwrap();
    assert_ne!(next, c1);
    assert_eq!(
        (rec.status, rec.previous_run),
        (RunStatus::Running, Some(c1))
    );
    assert_eq!(store.usage(&ns).unwrap().open_workflows, 2);
    // A plain start is still refused.
    let err = store
        .start_workflow(
            &ns,
            &WorkflowId::from("x"),
            "t",
            Payload(vec![]),
            1,
            10,
            StartQuota::UNLIMITED,
            None,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("quota of 2 open workflows"),
        "{err}"
    );
}

#[test]
fn a_parent_that_cannot_take_its_childs_result_is_terminated_and_the_child_completes() {
    let dir = tempfile::tempdir().unwrap();
    // The parent has 6 events after starting its child; the child's result and the task it
    // schedules would make 8.
    let store = limited(&dir, 7, u64::MAX, u64::MAX);
    let ns = Namespace::default_namespace();
    let parent = start(&store, "p");
    let start_child = Command::StartChild {
        workflow_type: "t".into(),
        workflow_id: WorkflowId::from("c"),
        input: Payload(vec![]),
        policy: ParentClosePolicy::Abandon,
        options: WorkflowOptions::default(),
    };
    task(&store, parent, vec![start_child]).unwrap();
    assert_eq!(store.run(parent).unwrap().next_event_id - 1, 6);
    let (child, _) = store.current_run(&ns, &WorkflowId::from("c")).unwrap();
    let fx = task(
        &store,
        child,
        vec![Command::CompleteWorkflow {
            result: Payload(vec![1]),
        }],
    )
    .unwrap();
    assert_eq!(fx.terminated, None);
    assert_eq!(store.run(child).unwrap().status, RunStatus::Completed);
    let rec = store.run(parent).unwrap();
    assert_eq!(rec.status, RunStatus::Terminated);
    assert!(rec.next_event_id - 1 <= 7);
    assert_eq!(
        kinds(&store, parent).last(),
        Some(&"WorkflowExecutionTerminated")
    );
}

#[test]
fn an_exclusive_writer_refuses_readers_and_a_shared_one_lets_them_read() {
    use weft_store_redb::{FileSharing, ReadOnlyStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let ns = Namespace::default_namespace();
    let start = |store: &Store, id: &str| {
        store
            .start_workflow(
                &ns,
                &WorkflowId::from(id),
                "steps",
                Payload::json(&serde_json::json!({})),
                1,
                10,
                StartQuota::UNLIMITED,
                None,
            )
            .unwrap()
    };
    let store = weft_store_redb::open_shared(&path, 0, FileSharing::Exclusive).unwrap();
    let run = start(&store, "a");
    match ReadOnlyStore::open(&path) {
        Err(StoreError::InUse(p)) => assert_eq!(p, path),
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a reader opened a file held exclusively"),
    }
    store.close();
    drop(store);
    // The same file, shared: a reader sees what the writer committed while it runs.
    let store = weft_store_redb::open_shared(&path, 1, FileSharing::LiveReaders).unwrap();
    start(&store, "b");
    let reader = ReadOnlyStore::open(&path).unwrap();
    assert_eq!(reader.run(run).unwrap().workflow_id, WorkflowId::from("a"));
    assert_eq!(reader.list(Some(&ns)).unwrap().len(), 2);
}
