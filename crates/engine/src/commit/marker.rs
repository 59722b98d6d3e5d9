//! RecordMarker: a marker event, nothing else.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::RecordMarker`.
pub(super) fn record_marker(
    cx: &mut Task<'_, '_>,
    marker_name: String,
    details: Payload,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec) = (&mut *cx.w, &mut cx.rec);
    w.append(
        run,
        rec,
        now_ms,
        EventKind::MarkerRecorded {
            marker_name,
            details,
        },
    )
}
