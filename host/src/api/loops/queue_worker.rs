//! The worker shared by the activity and Nexus task queues: it leases due tasks while it has
//! free permits, runs each on its own tokio task holding a permit and a host slot, sleeps until
//! the queue's next due time, its wake-up or a stop, and aborts its running tasks when stopped.
//! What a queue leases and how one task runs is the queue's [`TaskSource`]; retries and what an
//! outcome records are the store's.

use super::EagerQueue;
use super::wait;
use crate::api::host::Inner;
use crate::api::shutdown::Stopping;
use crate::fair::Slot;
use crate::store::StoreError;
use std::future::Future;
use std::sync::{Arc, Mutex};
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

    /// Runs one leased task to its reported outcome, calling `free` once its permit and host
    /// slot may serve another task (at the latest when it returns).
    fn run(inner: &Arc<Inner>, task: Self::Task, free: Free) -> impl Future<Output = ()> + Send;

    /// The worker found due tasks it may lack room for (`true`: marked before it reads its
    /// permits, and kept while it waits without leasing them all), or no longer does
    /// (`false`). [`TaskSource::finished`] may wake only starved workers.
    fn starved(&self, _inner: &Inner, _starved: bool) {}

    /// Called when nothing can be leased now (no free permit or nothing due) and when the
    /// worker stops: withdraws the queue's demand for host slots, if it keeps one.
    fn idle(&self, _inner: &Inner) {}

    /// The queue is no longer served (its namespace was removed): the worker ends.
    fn gone(&self, _inner: &Inner) -> bool {
        false
    }

    /// The queue's key, if Workflow Tasks may hand it tasks to run at once (eager activities).
    fn eager_key(&self) -> Option<&str> {
        None
    }
}

/// Gives a running task's permit and host slot back.
pub(super) type Free = Box<dyn FnOnce() + Send>;

/// Serves `source` with at most `max_concurrent` tasks running at once until `stop` turns
/// true.
/// Workflow Tasks hand the queue eager tasks from the call on, before the returned future
/// first runs: a workflow started right after its host finds its queue served.
pub(super) fn queue_worker<S: TaskSource>(
    inner: Arc<Inner>,
    source: S,
    max_concurrent: usize,
    stop: Stopping,
) -> impl Future<Output = ()> + Send {
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let running: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
    if let Some(qk) = source.eager_key() {
        inner.eager.lock().expect("eager lock").insert(
            qk.to_string(),
            EagerQueue {
                permits: permits.clone(),
                running: running.clone(),
            },
        );
    }
    serve(inner, source, permits, running, stop)
}

async fn serve<S: TaskSource>(
    inner: Arc<Inner>,
    source: S,
    permits: Arc<Semaphore>,
    running: Arc<Mutex<Vec<JoinHandle<()>>>>,
    mut stop: Stopping,
) {
    // Due tasks were found that may want room (see `TaskSource::starved`).
    let mut starved = false;
    // Ends the worker: no more eager tasks, and every running task aborted.
    let end = |inner: &Inner, source: &S, starved: bool| {
        if starved {
            source.starved(inner, false);
        }
        source.idle(inner);
        if let Some(qk) = source.eager_key() {
            inner.eager.lock().expect("eager lock").remove(qk);
        }
        for h in running.lock().expect("running lock").drain(..) {
            h.abort();
        }
    };
    loop {
        running
            .lock()
            .expect("running lock")
            .retain(|h| !h.is_finished());
        if source.gone(&inner) {
            end(&inner, &source, starved);
            return;
        }
        let now = inner.now_ms();
        let next = source.next_due(&inner);
        let due = next.is_some_and(|d| d <= now);
        if due != starved {
            starved = due;
            source.starved(&inner, starved);
        }
        let free = permits.available_permits();
        // The permits are taken before the lease: eager activities take them too.
        let held = (free > 0 && due)
            .then(|| permits.clone().try_acquire_many_owned(free as u32).ok())
            .flatten();
        if let Some(mut held) = held {
            match source.lease(&inner, now, free).await {
                Ok(leased) => {
                    for (task, slot) in leased.tasks {
                        let permit = held.split(1).expect("one permit per leased task");
                        let (inner2, inner3) = (inner.clone(), inner.clone());
                        let free: Free = Box::new(move || {
                            drop((permit, slot));
                            S::finished(&inner3);
                        });
                        running
                            .lock()
                            .expect("running lock")
                            .push(tokio::spawn(async move {
                                S::run(&inner2, task, free).await;
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
            end(&inner, &source, starved);
            return;
        }
    }
}
