//! Group commit on a real database file: many threads' writes share commits, a write that
//! fails after writing aborts only itself (the others in its batch run again), and what a
//! caller was told is what the file holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use weft_core::command::Command;
use weft_core::history::{EventKind, Payload};
use weft_core::history::{IdReusePolicy, RetryPolicy, WorkflowOptions};
use weft_core::ids::{Namespace, RunId, WorkflowId};
use weft_engine::{
    Backend, Batch, JobFailed, LoadedRun, ReadFn, StartQuota, StartRequest, Store, StoreError,
    TaskCompletion, WriteFn, queue_key,
};
use weft_store_redb::RedbBackend;

/// A redb backend that counts batches and writes, and makes every `fail_every`-th write fail
/// after it has written (as a limit found halfway through a write would).
struct Flaky {
    inner: RedbBackend,
    fail_every: u64,
    fail_next: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

struct FlakyBatch {
    inner: Box<dyn Batch>,
    fail_every: u64,
    fail_next: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

impl Batch for FlakyBatch {
    fn run(&mut self, f: &mut WriteFn<'_>) -> Result<(), JobFailed> {
        self.inner.run(f)?;
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if (self.fail_every > 0 && n.is_multiple_of(self.fail_every))
            || self.fail_next.swap(false, Ordering::SeqCst)
        {
            return Err(JobFailed {
                error: StoreError::Db("injected failure after writing".into()),
                wrote: true,
            });
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit()
    }
}

impl Backend for Flaky {
    fn begin(&self) -> Result<Box<dyn Batch>, StoreError> {
        Ok(Box::new(FlakyBatch {
            inner: self.inner.begin()?,
            fail_every: self.fail_every,
            fail_next: self.fail_next.clone(),
            writes: self.writes.clone(),
            commits: self.commits.clone(),
        }))
    }

    fn read(&self, f: &mut ReadFn<'_>) -> Result<(), StoreError> {
        self.inner.read(f)
    }

    fn close(&self) {
        self.inner.close();
    }
}

struct Counts {
    writes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
    /// Makes the next write fail after it wrote.
    fail_next: Arc<AtomicBool>,
}

fn flaky_store(path: &std::path::Path, fail_every: u64) -> (Store, Counts) {
    let writes = Arc::new(AtomicU64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let fail_next = Arc::new(AtomicBool::new(false));
    let backend = Flaky {
        inner: RedbBackend::open(path, true).unwrap(),
        fail_every,
        fail_next: fail_next.clone(),
        writes: writes.clone(),
        commits: commits.clone(),
    };
    let store = Store::with_backend(Arc::new(backend), path, 1).unwrap();
    (
        store,
        Counts {
            writes,
            commits,
            fail_next,
        },
    )
}

const THREADS: usize = 16;
const STARTS: usize = 40;

/// Every thread starts `STARTS` workflows and signals each once; returns what each call
/// was told, by workflow id: the start's run, and whether the signal was acknowledged.
fn hammer(store: &Store) -> HashMap<String, (Option<RunId>, bool)> {
    let told = std::sync::Mutex::new(HashMap::new());
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (store, told, barrier) = (store, &told, &barrier);
            s.spawn(move || {
                let ns = Namespace::new(&format!("ns{}", t % 3)).unwrap();
                let _lane = store.lane(&ns);
                barrier.wait();
                for i in 0..STARTS {
                    let id = format!("wf-{t}-{i}");
                    let run = store
                        .start_workflow(
                            &ns,
                            &WorkflowId::from(id.as_str()),
                            "steps",
                            Payload::json(&serde_json::json!({ "i": i })),
                            7,
                            10,
                            StartQuota::UNLIMITED,
                            None,
                        )
                        .ok();
                    let signaled = run.is_some_and(|run| {
                        store
                            .signal(run, "go", Payload::json(&serde_json::json!(i)), 11)
                            .is_ok()
                    });
                    told.lock().unwrap().insert(id, (run, signaled));
                }
            });
        }
    });
    told.into_inner().unwrap()
}

/// What the file holds for each started workflow: its run and how many signals it has.
fn check(store: &Store, told: &HashMap<String, (Option<RunId>, bool)>) {
    for (id, (run, signaled)) in told {
        let t: usize = id.split('-').nth(1).unwrap().parse().unwrap();
        let ns = Namespace::new(&format!("ns{}", t % 3)).unwrap();
        let stored = store.current_run(&ns, &WorkflowId::from(id.as_str()));
        match run {
            None => assert!(
                matches!(stored, Err(StoreError::UnknownWorkflow(_))),
                "{id}: its start failed, yet the file has it: {stored:?}"
            ),
            Some(run) => {
                let (stored_run, _) = stored.unwrap_or_else(|e| panic!("{id}: started, lost: {e}"));
                assert_eq!(stored_run, *run, "{id}");
                let (_, events) = store.load_run(*run).unwrap();
                let starts = events
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::WorkflowExecutionStarted { .. }))
                    .count();
                let signals = events
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::WorkflowExecutionSignaled { .. }))
                    .count();
                assert_eq!(starts, 1, "{id}: {events:?}");
                assert_eq!(signals, usize::from(*signaled), "{id}: {events:?}");
                for (k, e) in events.iter().enumerate() {
                    assert_eq!(e.id.0, k as u64 + 1, "{id}: ids contiguous");
                }
            }
        }
    }
}

/// [`check`], then the same after closing `store` and opening its file again.
fn check_and_reopen(
    store: Store,
    path: &std::path::Path,
    told: &HashMap<String, (Option<RunId>, bool)>,
) {
    check(&store, told);
    store.close();
    drop(store);
    check(&weft_store_redb::open(path, 2).unwrap(), told);
}

#[test]
fn concurrent_writes_share_commits_and_every_acknowledged_write_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (store, counts) = flaky_store(&path, 0);
    let told = hammer(&store);
    assert_eq!(told.len(), THREADS * STARTS);
    assert!(told.values().all(|(run, sig)| run.is_some() && *sig));
    let (writes, commits) = (
        counts.writes.load(Ordering::SeqCst),
        counts.commits.load(Ordering::SeqCst),
    );
    // One write per start and per signal (and one at open, releasing leases).
    assert_eq!(writes, (2 * THREADS * STARTS + 1) as u64);
    assert!(
        commits < writes / 2,
        "{commits} commits for {writes} writes: the writes did not share commits"
    );
    check_and_reopen(store, &path, &told);
}

#[test]
fn a_write_failing_after_writing_aborts_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (store, counts) = flaky_store(&path, 7);
    let told = hammer(&store);
    let failed = told.values().filter(|(run, _)| run.is_none()).count();
    let unsignaled = told
        .values()
        .filter(|(run, sig)| run.is_some() && !sig)
        .count();
    // Every 7th write failed: some starts and some signals were refused...
    assert!(failed > 0 && unsignaled > 0, "{failed} {unsignaled}");
    // ... and no more than that: the writes that shared their batches ran again.
    let writes = counts.writes.load(Ordering::SeqCst) as usize;
    assert!(
        failed + unsignaled <= writes / 7 + 1,
        "{failed} {unsignaled} {writes}"
    );
    check_and_reopen(store, &path, &told);
}

#[test]
fn a_write_that_fails_without_writing_leaves_its_batch_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (store, _) = flaky_store(&path, 0);
    let ns = Namespace::default_namespace();
    let refused = AtomicUsize::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (store, ns, refused, barrier) = (&store, &ns, &refused, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..STARTS {
                    // Half the threads signal runs that do not exist: refused before writing.
                    if t % 2 == 0 {
                        let r = store.signal(
                            RunId(u128::MAX - i as u128),
                            "go",
                            Payload::json(&serde_json::json!(1)),
                            1,
                        );
                        assert!(r.is_err());
                        refused.fetch_add(1, Ordering::SeqCst);
                    } else {
                        store
                            .start_workflow(
                                ns,
                                &WorkflowId::from(format!("ok-{t}-{i}").as_str()),
                                "steps",
                                Payload::json(&serde_json::json!(1)),
                                1,
                                1,
                                StartQuota::UNLIMITED,
                                None,
                            )
                            .unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(refused.load(Ordering::SeqCst), THREADS / 2 * STARTS);
    assert_eq!(store.list(&ns).unwrap().len(), THREADS / 2 * STARTS);
}

fn start_request(id: &str) -> StartRequest {
    StartRequest {
        namespace: None,
        workflow_id: WorkflowId::from(id),
        workflow_type: "steps".into(),
        input: Payload::json(&serde_json::json!(1)),
        random_seed: 3,
        options: WorkflowOptions::default(),
        id_reuse_policy: IdReusePolicy::default(),
        signal: None,
        component: None,
    }
}

/// The task a host would commit for `loaded`: `commands`, nothing run eagerly.
fn completion(run: RunId, loaded: &LoadedRun, commands: Vec<Command>) -> TaskCompletion {
    TaskCompletion {
        run,
        expected_next_event_id: loaded.rec.next_event_id,
        attempt: 1,
        started_ms: 20,
        commands,
        eager_slots: HashMap::new(),
    }
}

fn kinds(store: &Store, run: RunId) -> Vec<&'static str> {
    let (_, events) = store.load_run(run).unwrap();
    events.iter().map(|e| e.kind.name()).collect()
}

/// A start and the first Workflow Task it wakes commit together, and so do an activity's
/// result and the task it wakes: a one-activity workflow takes two commits, not four.
#[test]
fn a_write_and_the_task_it_wakes_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (store, counts) = flaky_store(&path, 0);
    let commits = || counts.commits.load(Ordering::SeqCst);
    let before = commits();
    // A task run in the commit that queued it leaves nothing for the Workflow Task loop.
    let queued = store.workflow_tasks_queued();
    let schedule = Command::ScheduleActivity {
        activity_type: "a".into(),
        input: Payload::json(&serde_json::json!(2)),
        start_to_close_timeout_ms: 10_000,
        retry_policy: RetryPolicy::default(),
        schedule_to_close_timeout_ms: None,
        schedule_to_start_timeout_ms: None,
        heartbeat_timeout_ms: None,
        task_queue: "q".into(),
    };
    let ((run, created), task) = store
        .start_workflow_then(
            &start_request("w"),
            20,
            StartQuota::UNLIMITED,
            None,
            |run, loaded| {
                assert_eq!(loaded.history.len(), 2, "the task sees the start's events");
                store.complete_workflow_task(completion(run, &loaded, vec![schedule]), 20)
            },
        )
        .unwrap();
    assert!(created);
    task.expect("the first task ran").unwrap();
    assert_eq!(commits() - before, 1, "start and first task in one commit");
    let qk = queue_key(&Namespace::default_namespace(), "q");
    let (leased, _) = store.lease_activities(&qk, 21, 10).unwrap();
    assert_eq!(leased.len(), 1);
    let before = commits();
    let result = Payload::json(&serde_json::json!("done"));
    let (fx, task) = store
        .report_activity_then(
            run,
            leased[0].scheduled_event_id,
            1,
            Ok(result.clone()),
            22,
            // A cached instance that saw the first four events needs only the others.
            |_| 4,
            |loaded| {
                assert_eq!(loaded.after, 4);
                let ids: Vec<u64> = loaded.history.iter().map(|e| e.id.0).collect();
                assert_eq!(ids, [5, 6, 7, 8], "the events after the fourth");
                let close = Command::CompleteWorkflow {
                    result: result.clone(),
                };
                store.complete_workflow_task(completion(run, &loaded, vec![close]), 22)
            },
        )
        .unwrap();
    assert!(fx.unwrap().workflow_task);
    assert!(!task.expect("the woken task ran").unwrap().closed.is_empty());
    assert_eq!(commits() - before, 1, "result and task in one commit");
    assert_eq!(store.workflow_tasks_queued(), queued);
    // A start whose task does not run at once moves the count, and so does a signal.
    let other = store
        .start_workflow_with(&start_request("other"), 23, StartQuota::UNLIMITED, None)
        .unwrap()
        .0;
    assert_eq!(store.workflow_tasks_queued(), queued + 1);
    let loaded = store.load_task_run(other, 0).unwrap();
    store
        .complete_workflow_task(completion(other, &loaded, Vec::new()), 24)
        .unwrap();
    assert_eq!(store.workflow_tasks_queued(), queued + 1, "a task ran");
    store.signal(other, "s", Payload::default(), 25).unwrap();
    assert_eq!(store.workflow_tasks_queued(), queued + 2);
    let expected = [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ];
    assert_eq!(kinds(&store, run), expected);
    store.close();
    drop(store);
    assert_eq!(
        kinds(&weft_store_redb::open(&path, 2).unwrap(), run),
        expected
    );
}

/// A batch held open longer than a group commit may wait is committed by the writes waiting
/// for it: they are not held hostage by a slow task, and the task's write then commits on its
/// own.
#[test]
fn a_slow_task_does_not_hold_other_writes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (store, _) = flaky_store(&path, 0);
    let task_done = AtomicBool::new(false);
    let other_returned_while_task_ran = AtomicBool::new(false);
    let ((run, _), task) = store
        .start_workflow_then(
            &start_request("slow"),
            20,
            StartQuota::UNLIMITED,
            None,
            |run, loaded| {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        store
                            .start_workflow_with(
                                &start_request("other"),
                                20,
                                StartQuota::UNLIMITED,
                                None,
                            )
                            .unwrap();
                        other_returned_while_task_ran
                            .store(!task_done.load(Ordering::SeqCst), Ordering::SeqCst);
                    });
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    task_done.store(true, Ordering::SeqCst);
                });
                let close = Command::CompleteWorkflow {
                    result: Payload::json(&serde_json::json!(0)),
                };
                store.complete_workflow_task(completion(run, &loaded, vec![close]), 20)
            },
        )
        .unwrap();
    assert!(!task.unwrap().unwrap().closed.is_empty());
    assert!(other_returned_while_task_ran.load(Ordering::SeqCst));
    assert_eq!(
        kinds(&store, run).last(),
        Some(&"WorkflowExecutionCompleted")
    );
    let ns = Namespace::default_namespace();
    assert!(store.current_run(&ns, &WorkflowId::from("other")).is_ok());
}

/// When the batch of a held write is aborted (another write in it failed after writing), the
/// held write runs again on its own and the task's write, which followed it, is refused:
/// nothing is recorded on the strength of a write that did not commit.
#[test]
fn a_task_whose_waking_write_was_aborted_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let (store, counts) = flaky_store(&path, 0);
    let mut first = None;
    let ((run, created), task) = store
        .start_workflow_then(
            &start_request("w"),
            20,
            StartQuota::UNLIMITED,
            None,
            |run, loaded| {
                first = Some(run);
                // Another write joins the held batch and fails after writing: the batch aborts.
                counts.fail_next.store(true, Ordering::SeqCst);
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let r = store.start_workflow_with(
                            &start_request("doomed"),
                            20,
                            StartQuota::UNLIMITED,
                            None,
                        );
                        assert!(r.is_err());
                    });
                });
                let close = Command::CompleteWorkflow {
                    result: Payload::json(&serde_json::json!(0)),
                };
                store.complete_workflow_task(completion(run, &loaded, vec![close]), 20)
            },
        )
        .unwrap();
    assert!(created);
    assert!(
        matches!(task, Some(Err(StoreError::Conflict(..)))),
        "{task:?}"
    );
    // The start ran again, as a new run, and waits for its first task.
    assert_ne!(Some(run), first);
    assert_eq!(
        kinds(&store, run),
        ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    );
    let ns = Namespace::default_namespace();
    assert_eq!(
        store.current_run(&ns, &WorkflowId::from("w")).unwrap().0,
        run
    );
    assert!(store.find_run(first.unwrap()).unwrap().is_none());
    assert!(store.current_run(&ns, &WorkflowId::from("doomed")).is_err());
}
