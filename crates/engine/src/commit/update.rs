//! Update commands: accepting an update and recording its outcome.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::AcceptUpdate`.
pub(super) fn accept_update(
    cx: &mut Task<'_, '_>,
    update_id: String,
    update_name: String,
    input: Payload,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec) = (&mut *cx.w, &mut cx.rec);
    w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowExecutionUpdateAccepted {
            update_id,
            update_name,
            input,
        },
    )
}

/// `Command::CompleteUpdate`.
pub(super) fn complete_update(
    cx: &mut Task<'_, '_>,
    update_id: String,
    outcome: Result<Payload, Failure>,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec) = (&mut *cx.w, &mut cx.rec);
    let (result, failure) = match outcome {
        Ok(p) => (Some(p), None),
        Err(f) => (None, Some(f)),
    };
    w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowExecutionUpdateCompleted {
            update_id,
            result,
            failure,
        },
    )
}
