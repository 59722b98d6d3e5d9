//! The host's stop signal, named: [`Shutdown`] is held by the [`super::Host`], and each
//! background loop holds a [`Stopping`] it checks while it waits. Stopping a host begins here;
//! what a stop waits for (loops, tasks under way, closing the file) is `Host::shutdown`'s.

use tokio::sync::watch;

/// Begins the host's shutdown; every [`Stopping`] made from it sees it.
pub(super) struct Shutdown(watch::Sender<bool>);

/// A loop's view of the host's shutdown.
pub(super) struct Stopping(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown not begun.
    pub(super) fn new() -> Shutdown {
        Shutdown(watch::channel(false).0)
    }

    /// A listener for one loop.
    pub(super) fn listener(&self) -> Stopping {
        Stopping(self.0.subscribe())
    }

    /// Tells every loop to stop (again is harmless).
    pub(super) fn begin(&self) {
        self.0.send_replace(true);
    }
}

impl Stopping {
    /// True once the shutdown began.
    pub(super) fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns when the shutdown begins (at once if it has).
    pub(super) async fn begun(&mut self) {
        while !self.is_stopping() {
            if self.0.changed().await.is_err() {
                return; // the host is gone
            }
        }
    }
}
