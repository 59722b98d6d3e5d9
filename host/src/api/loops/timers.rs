//! The timer loop: fires due timers (and the timeouts the store keeps as timers). What firing
//! records is the store's.

use super::wait;
use crate::api::host::Inner;
use crate::api::shutdown::Stopping;
use std::sync::Arc;
use std::time::Duration;
use tracing::error;

/// How long the loop waits for a firing whose woken Workflow Task runs at once before it goes
/// on (the firing's commit waits for the task at most as long as any write may be held, so a
/// firing of timers due meanwhile finds the earlier one committed, or joins its batch).
const INLINE_PATIENCE: Duration = Duration::from_millis(10);

pub(super) async fn timer_loop(inner: Arc<Inner>, mut stop: Stopping) {
    loop {
        let now = inner.now_ms();
        let next = inner.store.next_timer_or_deadline().unwrap_or(None);
        if next.is_some_and(|d| d <= now) {
            // A commit blocks its thread until the disk has it: not one of the runtime's. A
            // Workflow Task the timers woke, if they woke one run only, runs at once on that
            // thread and commits with them.
            let inner2 = inner.clone();
            let mut firing = tokio::task::spawn_blocking(move || {
                let fired = inner2.store.fire_timers_then(
                    now,
                    |r| inner2.seen(r),
                    |run, loaded| {
                        let ns = loaded.rec.namespace.clone();
                        inner2.run_inline(&ns, run, loaded)
                    },
                );
                match fired {
                    Ok((n, fx, _)) if n > 0 => {
                        let late = now.saturating_sub(next.unwrap_or(now));
                        crate::telemetry::timers_fired(Duration::from_millis(late));
                        inner2.apply(&fx)
                    }
                    Ok(_) => {}
                    Err(e) => error!("cannot fire timers: {e}"),
                }
            });
            // A slow task does not hold the timers of every other run back.
            let _ = tokio::time::timeout(INLINE_PATIENCE, &mut firing).await;
            continue;
        }
        if !wait(&inner, &inner.wake.timers, &mut stop, next).await {
            return;
        }
    }
}
