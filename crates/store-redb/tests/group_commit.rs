//! Group commit on a real database file: many threads' writes share commits, a write that
//! fails after writing aborts only itself (the others in its batch run again), and what a
//! caller was told is what the file holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use weft_core::history::{EventKind, Payload};
use weft_core::ids::{Namespace, RunId, WorkflowId};
use weft_engine::{Backend, Batch, JobFailed, ReadFn, StartQuota, Store, StoreError, WriteFn};
use weft_store_redb::RedbBackend;

/// A redb backend that counts batches and writes, and makes every `fail_every`-th write fail
/// after it has written (as a limit found halfway through a write would).
struct Flaky {
    inner: RedbBackend,
    fail_every: u64,
    writes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

struct FlakyBatch {
    inner: Box<dyn Batch>,
    fail_every: u64,
    writes: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
}

impl Batch for FlakyBatch {
    fn run(&mut self, f: &mut WriteFn<'_>) -> Result<(), JobFailed> {
        self.inner.run(f)?;
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
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
}

fn flaky_store(path: &std::path::Path, fail_every: u64) -> (Store, Counts) {
    let writes = Arc::new(AtomicU64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let backend = Flaky {
        inner: RedbBackend::open(path, true).unwrap(),
        fail_every,
        writes: writes.clone(),
        commits: commits.clone(),
    };
    let store = Store::with_backend(Arc::new(backend), path, 1).unwrap();
    (store, Counts { writes, commits })
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
