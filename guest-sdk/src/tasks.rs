//! A deterministic cooperative scheduler for async workflows ([`crate::workflow_async!`]): the
//! main code, async update handlers and tasks started with [`crate::spawn`] run as tasks of one
//! single-threaded executor driven by the host's resolutions, as Temporal's SDKs do.
//!
//! The executor polls every task in the order they were created until none makes progress;
//! then it asks the host, with `wait-any`, for the next of everything the tasks wait on (the
//! earliest in the history, result or message), records it, hands pending messages to their
//! handlers, and polls again. Nothing depends on timing, so a replay runs the tasks through the
//! same steps. This module does not talk to the host about anything but waiting.

use crate::messages::{deliver_pending, dispatch};
use crate::runtime::STATE;
use crate::{host, wit};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A task, and whether it was polled yet: running a task's code up to its first wait may change
/// what others wait on, so a first poll counts as progress.
struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    started: bool,
}

thread_local! {
    /// Tasks besides the main code, in creation order; `None` once finished.
    static TASKS: RefCell<Vec<Option<Task>>> = const { RefCell::new(Vec::new()) };
    /// Outcomes of the handles the host resolved so far.
    static OUTCOMES: RefCell<HashMap<u32, wit::Outcome>> = RefCell::new(HashMap::new());
    /// Handles the pending tasks wait on, gathered while polling.
    static WANT: RefCell<BTreeSet<u32>> = const { RefCell::new(BTreeSet::new()) };
    /// Bumped whenever something a task may wait on changed.
    static PROGRESS: Cell<u64> = const { Cell::new(0) };
    /// Update handlers started and not finished.
    static HANDLERS: Cell<usize> = const { Cell::new(0) };
}

fn progress() {
    PROGRESS.with(|p| p.set(p.get() + 1));
}

/// Starts `task` on the executor; it runs when the current task yields, in creation order.
pub(crate) fn spawn(task: impl Future<Output = ()> + 'static) {
    TASKS.with(|t| {
        t.borrow_mut().push(Some(Task {
            future: Box::pin(task),
            started: false,
        }))
    });
    progress();
}

/// Starts an update handler: counted by [`all_handlers_finished`].
pub(crate) fn spawn_handler(handler: impl Future<Output = ()> + 'static) {
    HANDLERS.with(|h| h.set(h.get() + 1));
    spawn(async move {
        handler.await;
        HANDLERS.with(|h| h.set(h.get() - 1));
        progress();
    });
}

/// True when no update handler is running (wait for it before returning:
/// `wait_condition_async(all_handlers_finished).await`).
pub fn all_handlers_finished() -> bool {
    HANDLERS.with(|h| h.get()) == 0
}

/// Resolves with the outcome of `handle`.
pub(crate) struct HandleWait(pub(crate) u32);

impl Future for HandleWait {
    type Output = wit::Outcome;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<wit::Outcome> {
        match OUTCOMES.with(|o| o.borrow().get(&self.0).cloned()) {
            Some(outcome) => {
                STATE.with(|s| s.borrow_mut().pending.remove(&self.0));
                Poll::Ready(outcome)
            }
            None => {
                WANT.with(|w| w.borrow_mut().insert(self.0));
                Poll::Pending
            }
        }
    }
}

/// Resolves once `condition` holds (checked whenever a message or result arrived).
pub(crate) struct Condition<F>(pub(crate) F);

impl<F: FnMut() -> bool + Unpin> Future for Condition<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if (self.0)() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Runs `main` and every task it starts until `main` finishes; returns its output. Tasks still
/// running then (an update handler the code did not wait for) are abandoned with a warning on
/// stderr, as Temporal warns of unfinished handlers.
pub(crate) fn run_until<T>(main: impl Future<Output = T>) -> T {
    let mut main = std::pin::pin!(main);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        // Poll until a whole round changes nothing.
        loop {
            let before = PROGRESS.with(Cell::get);
            WANT.with(|w| w.borrow_mut().clear());
            if let Poll::Ready(out) = main.as_mut().poll(&mut cx) {
                let running = HANDLERS.with(Cell::get);
                if running > 0 {
                    eprintln!(
                        "warning: the workflow finished while {running} update handler(s) were still running; wait for all_handlers_finished() before returning"
                    );
                }
                return out;
            }
            let mut i = 0;
            while let Some(mut task) = TASKS.with(|t| t.borrow_mut().get_mut(i).map(Option::take)) {
                if let Some(t) = task.as_mut() {
                    if !t.started {
                        t.started = true;
                        progress();
                    }
                    if t.future.as_mut().poll(&mut cx).is_ready() {
                        task = None;
                        progress();
                    }
                    TASKS.with(|ts| ts.borrow_mut()[i] = task);
                }
                i += 1;
            }
            if PROGRESS.with(Cell::get) == before {
                break;
            }
        }
        let want: Vec<u32> = WANT.with(|w| w.borrow().iter().copied().collect());
        match host::wait_any(&want) {
            wit::Wake::Resolved((h, outcome)) => {
                OUTCOMES.with(|o| o.borrow_mut().insert(h, outcome));
            }
            wit::Wake::Message(m) => dispatch(m),
        }
        deliver_pending();
        progress();
    }
}
