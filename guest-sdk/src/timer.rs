//! Durable timers: [`Timer`], [`timer`] and [`sleep`].

use crate::failure::{Failure, Result};
use crate::runtime::{Pending, millis, track, wait};
use crate::{host, tasks, wit};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

/// A durable timer.
#[must_use = "call wait() to block until the timer fires"]
pub struct Timer {
    pub(crate) handle: u32,
}

impl Pending for Timer {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl Timer {
    /// Blocks until the timer fires (true) or is canceled (false).
    pub fn wait(&self) -> bool {
        matches!(wait(&[self.handle]).1, wit::Outcome::Fired)
    }

    /// Cancels the timer if it has not fired; waiting on it then returns false at once.
    pub fn cancel(&self) {
        host::request_cancel(self.handle);
    }
}

/// Starts a timer that fires `duration` of workflow time from now.
pub fn timer(duration: Duration) -> Timer {
    Timer {
        handle: track(host::start_timer(millis(duration))),
    }
}

/// Sleeps for `duration` of workflow time. Survives restarts of the host. Returns a
/// `Canceled` failure when the workflow is canceled during the sleep.
pub fn sleep(duration: Duration) -> Result<()> {
    if timer(duration).wait() {
        Ok(())
    } else {
        Err(Failure::canceled("the sleep was canceled"))
    }
}

impl IntoFuture for Timer {
    type Output = bool;
    type IntoFuture = Pin<Box<dyn Future<Output = bool>>>;
    /// Awaits the timer in an async workflow: true when it fired, false when canceled.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { matches!(tasks::HandleWait(self.handle).await, wit::Outcome::Fired) })
    }
}
