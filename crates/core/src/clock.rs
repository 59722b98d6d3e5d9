//! Where time comes from. Hosts read the system clock; tests and simulations inject a clock
//! they move themselves.

use std::sync::atomic::{AtomicU64, Ordering};

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// ```
/// use weft_core::clock::{Clock, ManualClock, SystemClock};
/// fn due_at(clock: &dyn Clock, after_ms: u64) -> u64 {
///     clock.now_ms() + after_ms
/// }
/// assert_eq!(due_at(&ManualClock::new(1_000), 500), 1_500);
/// assert!(due_at(&SystemClock, 0) > 1_600_000_000_000); // after September 2020
/// ```
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
///
/// ```
/// use weft_core::clock::{Clock, SystemClock};
/// let now = SystemClock.now_ms(); // ms since the Unix epoch
/// assert!(now > 1_600_000_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
///
/// ```
/// use weft_core::clock::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(250);
/// assert_eq!(clock.now_ms(), 1_250);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock(AtomicU64::new(now_ms))
    }

    /// Sets the time.
    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
