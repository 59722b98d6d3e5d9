//! The worker shared by the activity and Nexus task queues: it leases due tasks while it has
//! free permits, runs each on its own tokio task holding a permit and a host slot, sleeps until
//! the queue's next due time, its wake-up or a stop, and aborts its running tasks when stopped.
//! What a queue leases and how one task runs is the queue's [`TaskSource`]; retries and what an
//! outcome records are the store's.

use super::wait;
use crate::api::host::Inner;
use crate::api::shutdown::Stopping;
use crate::fair::Slot;
use crate::store::StoreError;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tracing::error;

/// Tasks leased by one call of [`TaskSource::lease`].
pub(super) struct Leased<T> {
    /// The tasks, each with the host slot it holds while it runs.
    pub(super) tasks: Vec<(T, Slot)>,
    /// Look for due tasks again at once instead of waiting (the lease found or changed
    /// something).
    pub(super) again: bool,
}

impl<T> Leased<T> {
    /// Nothing leased, nothing changed.
    pub(super) fn none() -> Leased<T> {
        Leased {
            tasks: Vec::new(),
            again: false,
        }
    }
}

/// One queue a [`queue_worker`] serves.
pub(super) trait TaskSource: Send + Sync + 'static {
    /// A leased task.
    type Task: Send + 'static;
    /// What the queue holds, for log messages ("activity", "Nexus").
    const WHAT: &'static str;

    /// When the queue's next task is due, ms since the epoch; `None` if it has none.
    fn next_due(&self, inner: &Inner) -> Option<u64>;

    /// Leases at most `free` tasks due at `now`, each with a host slot of its namespace's
    /// fair share (tasks that get none stay queued).
    fn lease(
        &self,
        inner: &Arc<Inner>,
        now: u64,
        free: usize,
    ) -> impl Future<Output = Result<Leased<Self::Task>, StoreError>> + Send;

    /// The wake-up the worker waits for besides its due time.
    fn wakeup<'a>(&'a self, inner: &'a Inner) -> &'a Notify;

    /// Wakes whoever may lease now that a task of this queue ended and freed its permit and
    /// host slot.
    fn finished(inner: &Inner);

    /// Runs one leased task to its reported outcome.
    fn run(inner: &Arc<Inner>, task: Self::Task) -> impl Future<Output = ()> + Send;

    /// Called when nothing can be leased now (no free permit or nothing due) and when the
    /// worker stops: withdraws the queue's demand for host slots, if it keeps one.
    fn idle(&self, _inner: &Inner) {}

    /// The queue is no longer served (its namespace was removed): the worker ends.
    fn gone(&self, _inner: &Inner) -> bool {
        false
    }
}

/// Serves `source` with at most `max_concurrent` tasks running at once until `stop` turns
/// true.
pub(super) async fn queue_worker<S: TaskSource>(
    inner: Arc<Inner>,
    source: S,
    max_concurrent: usize,
    mut stop: Stopping,
) {
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    loop {
        running.retain(|h| !h.is_finished());
        if source.gone(&inner) {
            source.idle(&inner);
            for h in running {
                h.abort();
            }
            return;
        }
        let now = inner.now_ms();
        let next = source.next_due(&inner);
        let free = permits.available_permits();
        if free > 0 && next.is_some_and(|d| d <= now) {
            match source.lease(&inner, now, free).await {
                Ok(leased) => {
                    for (task, slot) in leased.tasks {
                        let permit = permits
                            .clone()
                            .try_acquire_owned()
                            .expect("counted permits");
                        let inner2 = inner.clone();
                        running.push(tokio::spawn(async move {
                            S::run(&inner2, task).await;
                            drop((permit, slot));
                            S::finished(&inner2);
                        }));
                    }
                    if leased.again {
                        continue;
                    }
                }
                Err(e) => error!("cannot lease {} tasks: {e}", S::WHAT),
            }
        } else {
            source.idle(&inner);
        }
        if !wait(
            &inner,
            source.wakeup(&inner),
            &mut stop,
            next.filter(|_| free > 0),
        )
        .await
        {
            source.idle(&inner);
            for h in running {
                h.abort();
            }
            return;
        }
    }
}
