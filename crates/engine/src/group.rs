//! Group commit: the writes of many callers share one write transaction and one durable
//! commit, and each caller returns only after that commit (nothing is acknowledged before it
//! is on disk).
//!
//! A write takes its namespace's turn at the [`WriteGate`], runs its closure in the open
//! [`Batch`] (beginning one if none is open) and gives the turn back. The write that finds no
//! other write waiting for a turn commits the batch for everyone in it; the others wait for
//! that commit. While a batch commits (its fsync), later writes queue for the next one, so
//! the more writes arrive at once, the more each commit carries. One write alone commits at
//! once, as before.
//!
//! A write that fails without having written anything leaves the batch as it was. One that
//! fails after writing (a limit found halfway) aborts the batch: its own error is returned,
//! and every other write that was in the batch runs again in a new one ([`Outcome::Again`]),
//! as if it had come after the failed one.
//!
//! A held write ([`Mode::Hold`]) returns as soon as it ran and keeps its batch from
//! committing until its caller gives the hold back, with a write of its own that runs after
//! it in the same batch ([`Mode::Release`]) or without ([`Group::finish`]); both learn what
//! became of the held write. A Workflow Task woken by a write thus commits with it, in one
//! fsync. A batch held past [`MAX_OPEN`] is committed anyway by whoever waits for it: a later
//! write of the holder then runs in a batch of its own.

use super::*;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A batch commits after this many writes even while more are waiting, so a steady stream of
/// writers cannot hold a commit back.
const MAX_WRITES: usize = 256;
/// ... or once it has been open this long (holds included).
pub(super) const MAX_OPEN: std::time::Duration = std::time::Duration::from_millis(5);

/// The group commit of one store.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<State>,
    /// Notified when a batch ends, for the write waiting to run while a commit is under way.
    ended: Condvar,
    /// What became of the batches that ended, behind a lock of its own: the writes waiting
    /// for their batch's commit wait here, so that waking them does not make them queue for
    /// the state's lock (held while jobs run).
    ends: Mutex<Ends>,
    /// Notified when a batch ends, for those waiting on `ends`.
    ends_changed: Condvar,
    /// Writes that asked for a turn and have not run yet: while there are any, the batch stays
    /// open for them.
    waiting: AtomicUsize,
    /// Commits made, and the writes they carried.
    commits: AtomicU64,
    writes: AtomicU64,
    /// Commits that left a Workflow Task queued ([`Group::workflow_tasks_queued`]).
    queued_workflow_tasks: AtomicU64,
}

thread_local! {
    /// The Workflow Tasks the write running on this thread queued (`true`) or took off the
    /// queue (`false`), with their due times: its batch takes them once the write succeeded
    /// ([`note_workflow_task`]).
    static NOTED: RefCell<Vec<(bool, u64, RunId)>> = const { RefCell::new(Vec::new()) };
}

/// The write running on this thread queued a Workflow Task of `run` due at `due_ms`
/// (`queued`), or took it off the queue.
pub(super) fn note_workflow_task(queued: bool, due_ms: u64, run: RunId) {
    NOTED.with(|n| n.borrow_mut().push((queued, due_ms, run)));
}

#[derive(Default)]
struct State {
    /// The batch writes run in, if one is open.
    open: Option<Open>,
    /// The number of the last batch begun.
    begun: u64,
    /// A batch is being committed (writes wait for the next one).
    committing: bool,
}

/// Set (under the state's lock as well) when a batch ends, so that a batch neither open nor
/// committing has ended.
#[derive(Default)]
struct Ends {
    /// Every batch up to this number has ended (committed, failed or aborted).
    ended: u64,
    /// Batches that did not commit, with what their writes learn and how many have yet to.
    failed: HashMap<u64, (Fate, usize)>,
}

struct Open {
    batch: Box<dyn Batch>,
    number: u64,
    /// Writes that ran in it and wait for its commit.
    writes: usize,
    /// Held writes among them, whose callers have not given the hold back.
    holds: usize,
    since: std::time::Instant,
    /// The Workflow Tasks its writes queued and did not take off the queue again (a task
    /// run at once by the write that woke it leaves none): due time and run.
    queued: Vec<(u64, RunId)>,
}

impl Open {
    /// Takes what the write that just ran noted (see [`note_workflow_task`]).
    fn take_notes(&mut self) {
        NOTED.with(|n| {
            for (queued, due_ms, run) in n.borrow_mut().drain(..) {
                if queued {
                    self.queued.push((due_ms, run));
                } else if let Some(i) = self.queued.iter().position(|q| *q == (due_ms, run)) {
                    self.queued.swap_remove(i);
                }
            }
        });
    }
}

/// What became of a batch, as its writes learn it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Fate {
    /// Committed durably.
    Done,
    /// Aborted by another write's failure: run again.
    Again,
    /// The commit failed: nothing of the batch is stored.
    Failed(String),
}

/// How a write treats the batch it runs in.
#[derive(Clone, Copy, Debug)]
pub(super) enum Mode {
    /// Returns once the batch has ended.
    Plain,
    /// Returns once it ran, holding the batch open ([`Outcome::Held`]).
    Hold,
    /// Gives back the caller's hold on batch `n` and runs after the held write, in the same
    /// batch while it is open, or in a later one if it committed.
    Release(u64),
}

/// What became of one write.
pub(super) enum Outcome {
    /// Committed durably.
    Done,
    /// Not committed, through no fault of its own: run it again.
    Again,
    /// Failed; nothing of it is stored.
    Failed(StoreError),
    /// ([`Mode::Hold`]) It ran in batch `n`, which waits for the hold to be given back.
    Held(u64),
    /// ([`Mode::Release`]) Not run: the held write did not commit.
    NotRun,
}

/// A write's outcome and, for [`Mode::Release`], what became of the held write.
pub(super) struct Written {
    pub(super) outcome: Outcome,
    pub(super) held: Option<Fate>,
}

impl From<Fate> for Outcome {
    fn from(f: Fate) -> Outcome {
        match f {
            Fate::Done => Outcome::Done,
            Fate::Again => Outcome::Again,
            Fate::Failed(message) => Outcome::Failed(StoreError::Db(message.into())),
        }
    }
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `job` in the open batch and, as `mode` says, returns once the batch has ended or
    /// at once holding it.
    pub(super) fn write(
        &self,
        backend: &dyn Backend,
        gate: &WriteGate,
        lane: Option<&Namespace>,
        job: &mut WriteFn<'_>,
        mut mode: Mode,
    ) -> Written {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let turn = gate.enter(lane);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut st = self.lock();
        while st.committing {
            st = self.ended.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let mut held = None;
        if let Mode::Release(n) = mode
            && st.open.as_ref().is_none_or(|o| o.number != n)
        {
            // The held batch has ended: the write runs on its own if it committed.
            let fate = self.fate(n);
            if fate != Fate::Done {
                return Written {
                    outcome: Outcome::NotRun,
                    held: Some(fate),
                };
            }
            held = Some(Fate::Done);
            mode = Mode::Plain;
        }
        if st.open.is_none() {
            match backend.begin() {
                Ok(batch) => {
                    st.begun += 1;
                    st.open = Some(Open {
                        batch,
                        number: st.begun,
                        writes: 0,
                        holds: 0,
                        since: std::time::Instant::now(),
                        queued: Vec::new(),
                    });
                }
                Err(e) => {
                    return Written {
                        outcome: Outcome::Failed(e),
                        held,
                    };
                }
            }
        }
        let open = st.open.as_mut().expect("opened above");
        let number = open.number;
        NOTED.with(|n| n.borrow_mut().clear());
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open.batch.run(job)));
        let own_error = match ran {
            Ok(Ok(())) => {
                open.writes += 1;
                open.take_notes();
                None
            }
            Ok(Err(JobFailed {
                error,
                wrote: false,
            })) => Some(error),
            Ok(Err(JobFailed { error, wrote: true })) => {
                self.abort(&mut st);
                if let Mode::Release(n) = mode {
                    held = Some(self.fate(n));
                }
                return Written {
                    outcome: Outcome::Failed(error),
                    held,
                };
            }
            Err(panic) => {
                self.abort(&mut st);
                drop(st);
                drop(turn);
                std::panic::resume_unwind(panic);
            }
        };
        let open = st.open.as_mut().expect("still open");
        let releasing = matches!(mode, Mode::Release(_));
        if releasing {
            open.holds -= 1;
        }
        if let (Mode::Hold, None) = (mode, &own_error) {
            open.holds += 1;
            return Written {
                outcome: Outcome::Held(number),
                held,
            };
        }
        drop(turn);
        // The caller's own writes in the batch: this one, and the held one it follows.
        let own = usize::from(own_error.is_none()) + usize::from(releasing);
        let (st, committed) = self.maybe_commit(st, own);
        if let Some(result) = committed {
            if releasing {
                held = Some(match &result {
                    Ok(()) => Fate::Done,
                    Err(e) => Fate::Failed(e.to_string()),
                });
            }
            let outcome = match (own_error, result) {
                (Some(e), _) | (None, Err(e)) => Outcome::Failed(e),
                (None, Ok(())) => Outcome::Done,
            };
            return Written { outcome, held };
        }
        if let Some(e) = own_error {
            // The batch goes on without it; a later write commits it.
            if releasing {
                held = Some(self.learn(st, number));
            }
            return Written {
                outcome: Outcome::Failed(e),
                held,
            };
        }
        let fate = self.learn(st, number);
        if releasing {
            // The held write ran in the same batch, which has ended: its fate too.
            held = Some(self.fate(number));
        }
        Written {
            outcome: fate.into(),
            held,
        }
    }

    /// Gives back a hold on batch `n` without a write, and returns what became of the held
    /// write once the batch has ended.
    pub(super) fn finish(&self, n: u64) -> Fate {
        let mut st = self.lock();
        if let Some(open) = st.open.as_mut()
            && open.number == n
        {
            open.holds -= 1;
            let (s, committed) = self.maybe_commit(st, 1);
            if let Some(result) = committed {
                return match result {
                    Ok(()) => Fate::Done,
                    Err(e) => Fate::Failed(e.to_string()),
                };
            }
            st = s;
        }
        self.learn(st, n)
    }

    /// Commits the open batch if it is due: no write waits to join it and no hold is out, or
    /// it is full, or it has been open too long. `own` writes in it are the caller's, who
    /// learns from the returned result (`Some` when it committed or tried to); the others
    /// learn through [`Group::learn`].
    fn maybe_commit<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        own: usize,
    ) -> (MutexGuard<'a, State>, Option<Result<(), StoreError>>) {
        let Some(open) = st.open.as_ref() else {
            return (st, None);
        };
        let due = (self.waiting.load(Ordering::SeqCst) == 0 && open.holds == 0)
            || open.writes >= MAX_WRITES
            || open.since.elapsed() >= MAX_OPEN;
        if !due {
            return (st, None);
        }
        let open = st.open.take().expect("checked above");
        let number = open.number;
        if open.writes == 0 {
            // Nothing to commit: dropping the batch aborts an empty transaction.
            drop(open);
            self.end(&mut st, number, None);
            return (st, Some(Ok(())));
        }
        st.committing = true;
        drop(st);
        let writes = open.writes;
        let queued = !open.queued.is_empty();
        let committed = open.batch.commit();
        if committed.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.writes.fetch_add(writes as u64, Ordering::Relaxed);
            if queued {
                // Counted before any of the batch's writes returns.
                self.queued_workflow_tasks.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mut st = self.lock();
        st.committing = false;
        let failure = match &committed {
            Err(e) if writes > own => Some((Fate::Failed(e.to_string()), writes - own)),
            _ => None,
        };
        self.end(&mut st, number, failure);
        (st, Some(committed))
    }

    /// Waits until batch `n` has ended and returns what became of one of its writes. The
    /// wait is on `ends`, not the state's lock; a batch still open when it began is
    /// committed by the one waiting for it once it has been open [`MAX_OPEN`] (a hold is
    /// out past its time).
    fn learn(&self, st: MutexGuard<'_, State>, n: u64) -> Fate {
        let due = match st.open.as_ref() {
            Some(open) if open.number == n => Some(open.since + MAX_OPEN),
            _ => None,
        };
        drop(st);
        if let Some(due) = due {
            if let Some(fate) = self.wait_ended(n, Some(due)) {
                return fate;
            }
            // Still open past its time: commit it for everyone (if it is not open any more,
            // it is committing or has ended).
            let st = self.lock();
            if st.open.as_ref().is_some_and(|o| o.number == n) {
                drop(self.maybe_commit(st, 0));
            }
        }
        self.fate(n)
    }

    /// Waits until batch `n`, no longer open, has ended, and returns what became of one of
    /// its writes.
    fn fate(&self, n: u64) -> Fate {
        self.wait_ended(n, None)
            .expect("a wait without a deadline ends only with the batch")
    }

    /// Waits on `ends` until batch `n` has ended, and returns what became of one of its
    /// writes; `None` if `due` came first.
    fn wait_ended(&self, n: u64, due: Option<std::time::Instant>) -> Option<Fate> {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        while ends.ended < n {
            ends = match due {
                None => self
                    .ends_changed
                    .wait(ends)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(due) => {
                    let left = due.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.ends_changed
                        .wait_timeout(ends, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        Some(Self::take_fate(&mut ends, n))
    }

    /// What became of one write of batch `n`, which has ended.
    fn take_fate(ends: &mut Ends, n: u64) -> Fate {
        let Some((fate, left)) = ends.failed.get_mut(&n) else {
            return Fate::Done;
        };
        let fate = fate.clone();
        *left -= 1;
        if *left == 0 {
            ends.failed.remove(&n);
        }
        fate
    }

    /// Records that batch `number` ended (with `failure`: what its writes learn, and how
    /// many will) and wakes those waiting. Takes the state to be called under its lock.
    fn end(&self, _st: &mut State, number: u64, failure: Option<(Fate, usize)>) {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        ends.ended = number;
        if let Some(failure) = failure {
            ends.failed.insert(number, failure);
        }
        drop(ends);
        self.ends_changed.notify_all();
        self.ended.notify_all();
    }

    /// Commits made so far, and the writes they carried.
    pub(super) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// How many commits left a Workflow Task queued: it moves, before any write of such a
    /// commit returns, only when a committed write queued a task that the same commit did not
    /// take off the queue again.
    pub(super) fn workflow_tasks_queued(&self) -> u64 {
        self.queued_workflow_tasks.load(Ordering::SeqCst)
    }

    /// Aborts the open batch: every write that ran in it runs again.
    fn abort(&self, st: &mut State) {
        let open = st.open.take().expect("aborting the open batch");
        let failure = (open.writes > 0).then_some((Fate::Again, open.writes));
        let number = open.number;
        drop(open);
        self.end(st, number, failure);
    }
}
/// How many commits a store made and how many writes they carried (their ratio is the mean
/// size of a group commit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Durable commits (each one fsync'd transaction).
    pub commits: u64,
    /// Writes (starts, task completions, leases, reports, signals, ...) they carried.
    pub writes: u64,
}
