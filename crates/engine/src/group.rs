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

use super::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A batch commits after this many writes even while more are waiting, so a steady stream of
/// writers cannot hold a commit back.
const MAX_WRITES: usize = 256;
/// ... or once it has been open this long.
const MAX_OPEN: std::time::Duration = std::time::Duration::from_millis(5);

/// The group commit of one store.
#[derive(Default)]
pub(super) struct Group {
    state: Mutex<State>,
    /// Notified when a commit ends (or a batch is aborted).
    ended: Condvar,
    /// Writes that asked for a turn and have not run yet: while there are any, the batch stays
    /// open for them.
    waiting: AtomicUsize,
    /// Commits made, and the writes they carried.
    commits: AtomicU64,
    writes: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The batch writes run in, if one is open.
    open: Option<Open>,
    /// The number of the last batch begun.
    begun: u64,
    /// A batch is being committed (writes wait for the next one).
    committing: bool,
    /// Every batch up to this number has ended (committed, failed or aborted).
    ended: u64,
    /// Batches that did not commit, with what their writes learn and how many have yet to.
    failed: HashMap<u64, (Failure, usize)>,
}

struct Open {
    batch: Box<dyn Batch>,
    number: u64,
    /// Writes that ran in it and wait for its commit.
    writes: usize,
    since: std::time::Instant,
}

#[derive(Clone)]
enum Failure {
    /// Aborted by another write's failure: run again.
    Aborted,
    /// The commit failed: nothing of the batch is stored.
    Commit(String),
}

/// What became of one write.
pub(super) enum Outcome {
    /// Committed durably.
    Done,
    /// Not committed, through no fault of its own: run it again.
    Again,
    /// Failed; nothing of it is stored.
    Failed(StoreError),
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `job` in the open batch and returns once the batch has ended.
    pub(super) fn write(
        &self,
        backend: &dyn Backend,
        gate: &WriteGate,
        lane: Option<&Namespace>,
        job: &mut WriteFn<'_>,
    ) -> Outcome {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let turn = gate.enter(lane);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut st = self.lock();
        while st.committing {
            st = self.ended.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.open.is_none() {
            match backend.begin() {
                Ok(batch) => {
                    st.begun += 1;
                    st.open = Some(Open {
                        batch,
                        number: st.begun,
                        writes: 0,
                        since: std::time::Instant::now(),
                    });
                }
                Err(e) => return Outcome::Failed(e),
            }
        }
        let open = st.open.as_mut().expect("opened above");
        let number = open.number;
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open.batch.run(job)));
        let own_error = match ran {
            Ok(Ok(())) => {
                open.writes += 1;
                None
            }
            Ok(Err(JobFailed {
                error,
                wrote: false,
            })) => Some(error),
            Ok(Err(JobFailed { error, wrote: true })) => {
                self.abort(&mut st);
                return Outcome::Failed(error);
            }
            Err(panic) => {
                self.abort(&mut st);
                drop(st);
                drop(turn);
                std::panic::resume_unwind(panic);
            }
        };
        let open = st.open.as_ref().expect("still open");
        let commit_now = self.waiting.load(Ordering::SeqCst) == 0
            || open.writes >= MAX_WRITES
            || open.since.elapsed() >= MAX_OPEN;
        if commit_now {
            let open = st.open.take().expect("still open");
            if open.writes == 0 {
                // Nothing to commit: dropping the batch aborts an empty transaction.
                drop(open);
                st.ended = number;
                return own_error.map_or(Outcome::Done, Outcome::Failed);
            }
            st.committing = true;
            drop(st);
            drop(turn);
            let others = open.writes - usize::from(own_error.is_none());
            let writes = open.writes as u64;
            let committed = open.batch.commit();
            if committed.is_ok() {
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.writes.fetch_add(writes, Ordering::Relaxed);
            }
            let mut st = self.lock();
            st.committing = false;
            st.ended = number;
            if let Err(e) = &committed
                && others > 0
            {
                st.failed
                    .insert(number, (Failure::Commit(e.to_string()), others));
            }
            drop(st);
            self.ended.notify_all();
            return match (own_error, committed) {
                (Some(e), _) | (None, Err(e)) => Outcome::Failed(e),
                (None, Ok(())) => Outcome::Done,
            };
        }
        drop(turn);
        if let Some(e) = own_error {
            // The batch goes on without it; a later write commits it.
            return Outcome::Failed(e);
        }
        while st.ended < number {
            st = self.ended.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let Some((failure, left)) = st.failed.get_mut(&number) else {
            return Outcome::Done;
        };
        let failure = failure.clone();
        *left -= 1;
        if *left == 0 {
            st.failed.remove(&number);
        }
        match failure {
            Failure::Aborted => Outcome::Again,
            Failure::Commit(message) => Outcome::Failed(StoreError::Db(message.into())),
        }
    }

    /// Commits made so far, and the writes they carried.
    pub(super) fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// Aborts the open batch: every write that ran in it runs again.
    fn abort(&self, st: &mut State) {
        let open = st.open.take().expect("aborting the open batch");
        if open.writes > 0 {
            st.failed
                .insert(open.number, (Failure::Aborted, open.writes));
        }
        st.ended = open.number;
        drop(open);
        self.ended.notify_all();
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
