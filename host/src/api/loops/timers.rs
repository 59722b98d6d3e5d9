//! The timer loop: fires due timers (and the timeouts the store keeps as timers). What firing
//! records is the store's.

use super::wait;
use crate::api::host::Inner;
use crate::api::shutdown::Stopping;
use std::sync::Arc;
use tracing::error;

pub(super) async fn timer_loop(inner: Arc<Inner>, mut stop: Stopping) {
    loop {
        let now = inner.now_ms();
        let next = inner.store.next_timer_or_deadline().unwrap_or(None);
        if next.is_some_and(|d| d <= now) {
            // A commit blocks its thread until the disk has it: not one of the runtime's.
            let inner2 = inner.clone();
            let fired = tokio::task::spawn_blocking(move || inner2.store.fire_timers(now))
                .await
                .unwrap_or_else(|e| Err(crate::store::StoreError::Db(e.to_string().into())));
            match fired {
                Ok((n, fx)) if n > 0 => {
                    let late = now.saturating_sub(next.unwrap_or(now));
                    crate::telemetry::timers_fired(std::time::Duration::from_millis(late));
                    inner.apply(&fx)
                }
                Ok(_) => {}
                Err(e) => error!("cannot fire timers: {e}"),
            }
            continue;
        }
        if !wait(&inner, &inner.wake.timers, &mut stop, next).await {
            return;
        }
    }
}
