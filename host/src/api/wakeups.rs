//! Who is woken after a commit: one [`Notify`] per loop (one per activity task queue, one for
//! the Nexus queue, timers and Workflow Tasks), one per run a client waits to see closed, and
//! a counter every commit moves for clients waiting on a run. It only delivers wake-ups; every
//! woken loop reads the store to see what is due, and sleeps at most a second anyway, so a
//! missed wake-up delays work, never loses it.

use crate::store::Effects;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};
use weft_core::ids::RunId;

pub(super) struct Wakeups {
    /// Moved by every commit: clients waiting for a result or an update's outcome, and updates
    /// waiting for a run's claim, watch it.
    pub(super) any: watch::Sender<u64>,
    /// Moved by commits whose effects are not known (one of them may have closed a run):
    /// clients waiting for a result watch it besides their run's own wake-up.
    pub(super) closed: watch::Sender<u64>,
    /// By run, the wake-up of clients waiting for it to close ([`Wakeups::run_closing`]):
    /// a commit that closes runs wakes only their waiters.
    closing: Mutex<HashMap<RunId, Arc<Notify>>>,
    pub(super) workflow_tasks: Notify,
    pub(super) timers: Notify,
    pub(super) nexus: Notify,
    /// By queue key, one per activity task queue served in-process (a single waiter, the
    /// queue's worker) or polled by remote workers (any number of waiters), created when
    /// first asked for.
    activities: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    /// Wake-ups for the loops; those of activity task queues are made when first asked for.
    pub(super) fn new() -> Wakeups {
        Wakeups {
            any: watch::channel(0).0,
            closed: watch::channel(0).0,
            closing: Mutex::new(HashMap::new()),
            workflow_tasks: Notify::new(),
            timers: Notify::new(),
            nexus: Notify::new(),
            activities: Mutex::new(HashMap::new()),
        }
    }

    /// The wake-up of activity task queue `queue_key`.
    pub(super) fn activity_queue(&self, queue_key: &str) -> Arc<Notify> {
        self.activities
            .lock()
            .expect("wake-ups lock")
            .entry(queue_key.to_string())
            .or_default()
            .clone()
    }

    /// After a commit whose effects are `fx`: the loops with work in it. The Workflow Task loop
    /// is woken by every commit, since nearly every one can schedule a task (a completion, a
    /// fired timer, a closed child reporting to its parent) and the effects do not flag all of
    /// them. The timer loop is also woken when a run started or closed: a child's or a
    /// continued run's timeouts are deadlines the effects do not flag as timers.
    pub(super) fn committed(&self, fx: &Effects) {
        self.any.send_modify(|v| *v = v.wrapping_add(1));
        if !fx.closed.is_empty() {
            let mut closing = self.closing.lock().expect("wake-ups lock");
            for run in &fx.closed {
                if let Some(n) = closing.remove(run) {
                    n.notify_waiters();
                }
            }
        }
        self.workflow_tasks.notify_one();
        if fx.timers || fx.workflow_task || !fx.closed.is_empty() {
            self.timers.notify_one();
        }
        if fx.activities {
            self.activity_queues();
        }
        if fx.nexus {
            self.nexus.notify_one();
        }
    }

    /// After a commit whose effects are not known: every loop.
    pub(super) fn all(&self) {
        self.any.send_modify(|v| *v = v.wrapping_add(1));
        self.closed.send_modify(|v| *v = v.wrapping_add(1));
        self.workflow_tasks.notify_one();
        self.timers.notify_one();
        self.nexus.notify_one();
        self.activity_queues();
    }

    /// Registers a client waiting for `run` to close: the commit that closes it notifies
    /// (and forgets) the returned wake-up. Enable the notification before checking whether
    /// the run is still open, so that a close in between is not missed. Dropping the last
    /// registration of a run that did not close forgets it.
    pub(super) fn run_closing(&self, run: RunId) -> RunClosing<'_> {
        let notify = self
            .closing
            .lock()
            .expect("wake-ups lock")
            .entry(run)
            .or_default()
            .clone();
        RunClosing {
            wake: self,
            run,
            notify,
        }
    }

    /// A run's claim was released: the Workflow Task loop and updates waiting for the run.
    pub(super) fn run_released(&self) {
        self.any.send_modify(|v| *v = v.wrapping_add(1));
        self.workflow_tasks.notify_one();
    }

    /// Every activity task queue (an activity's effects do not name its queue, and the host's
    /// activity slots are shared between all queues).
    /// `notify_waiters` reaches every remote poller waiting now; `notify_one` keeps the
    /// wake-up for an in-process worker that is busy.
    pub(super) fn activity_queues(&self) {
        for n in self.activities.lock().expect("wake-ups lock").values() {
            n.notify_waiters();
            n.notify_one();
        }
    }
}

/// A client's registration for the close of a run ([`Wakeups::run_closing`]).
pub(super) struct RunClosing<'a> {
    wake: &'a Wakeups,
    /// The run waited for.
    pub(super) run: RunId,
    /// Notified by the commit that closes it.
    pub(super) notify: Arc<Notify>,
}

impl Drop for RunClosing<'_> {
    fn drop(&mut self) {
        let mut closing = self.wake.closing.lock().expect("wake-ups lock");
        // Held by the map and this registration alone: nobody else waits.
        if Arc::strong_count(&self.notify) == 2
            && closing
                .get(&self.run)
                .is_some_and(|m| Arc::ptr_eq(m, &self.notify))
        {
            closing.remove(&self.run);
        }
    }
}
