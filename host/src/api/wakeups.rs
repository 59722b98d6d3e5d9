//! Who is woken after a commit: one [`Notify`] per loop (one per activity task queue, one for
//! the Nexus queue, timers and Workflow Tasks), one per run a client waits to see closed, and
//! a counter every commit moves for clients waiting on a run. It only delivers wake-ups; every
//! woken loop reads the store to see what is due, and sleeps at most a second anyway, so a
//! missed wake-up delays work, never loses it.

use crate::store::Effects;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
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
    /// The store's count of commits that queued a Workflow Task
    /// (`Store::workflow_tasks_queued`) as of the last commit that woke the Workflow Task loop.
    workflow_tasks_queued: AtomicU64,
    /// The Workflow Task loop passed over due tasks for want of a slot, a permit or the run's
    /// claim ([`Wakeups::workflow_tasks_starved`]): only then does a freed slot or released
    /// run wake it.
    workflow_tasks_starved: AtomicBool,
    /// In-process activity queue workers that found due tasks they had no permit or host
    /// slot for ([`Wakeups::activity_starved`]): only they want to hear that an attempt
    /// ended.
    activity_queues_starved: AtomicUsize,
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
            activity_queues_starved: AtomicUsize::new(0),
            workflow_tasks_queued: AtomicU64::new(0),
            workflow_tasks_starved: AtomicBool::new(false),
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

    /// After a commit whose effects are `fx`, with the store's count of commits that queued a
    /// Workflow Task at `workflow_tasks_queued`: the loops with work in it. The Workflow Task
    /// loop is woken when that count moved since the last commit that woke it: it moves
    /// before any write of such a commit returns, whichever rule queued the task (a
    /// completion, a fired timer, a closed child reporting to its parent), so no commit that
    /// queued one goes unseen; a task run at once in the commit that queued it wakes nobody.
    /// The timer loop is also woken when a run started or closed: a child's or a continued
    /// run's timeouts are deadlines the effects do not flag as timers.
    pub(super) fn committed(&self, fx: &Effects, workflow_tasks_queued: u64) {
        self.any.send_modify(|v| *v = v.wrapping_add(1));
        if !fx.closed.is_empty() {
            let mut closing = self.closing.lock().expect("wake-ups lock");
            for run in &fx.closed {
                if let Some(n) = closing.remove(run) {
                    n.notify_waiters();
                }
            }
        }
        if self
            .workflow_tasks_queued
            .fetch_max(workflow_tasks_queued, Ordering::SeqCst)
            < workflow_tasks_queued
        {
            self.workflow_tasks.notify_one();
        }
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

    /// A run's claim was released: updates waiting for the run, and the Workflow Task loop if
    /// it passed a task over.
    pub(super) fn run_released(&self) {
        self.any.send_modify(|v| *v = v.wrapping_add(1));
        self.workflow_task_room();
    }

    /// A Workflow Task slot was given back or a run's claim released: wakes the Workflow Task
    /// loop if its last round passed due tasks over.
    pub(super) fn workflow_task_room(&self) {
        fence(Ordering::SeqCst);
        if self.workflow_tasks_starved.load(Ordering::SeqCst) {
            self.workflow_tasks.notify_one();
        }
    }

    /// The Workflow Task loop begins a round (`true`, before it reads which runs are claimed
    /// and which slots are free, so that room made after those reads wakes it again), or
    /// ends one having passed due tasks over (`true`) or not (`false`).
    pub(super) fn workflow_tasks_starved(&self, starved: bool) {
        self.workflow_tasks_starved.store(starved, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// An in-process activity queue worker found due tasks it could not lease for want of a
    /// permit or a host slot (`true`), or no longer wants for one (`false`, after a `true`).
    /// Marked before the worker reads its permits, so that an attempt ending after that read
    /// sees the mark ([`Wakeups::activity_ended`]).
    pub(super) fn activity_starved(&self, starved: bool) {
        if starved {
            self.activity_queues_starved.fetch_add(1, Ordering::SeqCst);
        } else {
            self.activity_queues_starved.fetch_sub(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
    }

    /// An in-process activity attempt ended and gave its permit and host slot back: the queue
    /// workers are woken if one of them waits for room (the host's slots are shared by every
    /// queue). Most attempts end with no worker waiting, and wake nobody.
    pub(super) fn activity_ended(&self) {
        fence(Ordering::SeqCst);
        if self.activity_queues_starved.load(Ordering::SeqCst) > 0 {
            self.activity_queues();
        }
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
