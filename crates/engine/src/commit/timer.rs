//! Timer commands: starting a timer and canceling one that has not fired.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::StartTimer`.
pub(super) fn start_timer(cx: &mut Task<'_, '_>, duration_ms: u64) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let fire_at_ms = cx.started_ms.saturating_add(duration_ms);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::TimerStarted {
            duration_ms,
            fire_at_ms,
        },
    )?;
    w.tx.add_timer(at(fire_at_ms, run, id.0))?;
    fx.timers = true;
    Ok(id)
}

/// `Command::CancelTimer`.
pub(super) fn cancel_timer(cx: &mut Task<'_, '_>, target: Target) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec) = (&mut *cx.w, &mut cx.rec);
    let started = resolve(target, &cx.assigned);
    let fire_at = match w.tx.event(run, started)?.map(|e| e.kind) {
        Some(EventKind::TimerStarted { fire_at_ms, .. }) => Some(fire_at_ms),
        // Not a timer (the workflow named another event): nothing to disarm.
        _ => None,
    };
    let pending = match fire_at {
        Some(f) => w.tx.remove_timer(at(f, run, started.0))?,
        None => false,
    };
    cx.resolved_now |= pending;
    w.append(
        run,
        rec,
        now_ms,
        EventKind::TimerCanceled {
            started_event_id: started,
        },
    )
}
