//! `patched` / `deprecate-patch` → RecordMarker ("patch", change id) → MarkerRecorded. A
//! replay of history written before the change finds no marker and takes the old branch.

use crate::machine::Replay;
use crate::strict::Compare;
use crate::task::Interrupt;
use weft_core::command::Command;
use weft_core::history::{EventKind, Payload};

/// Marker name of `patched` change ids.
pub const PATCH_MARKER: &str = "patch";

impl Replay {
    pub fn patched(&mut self, change_id: String) -> Result<bool, Interrupt> {
        if self.marker_here(&change_id) {
            self.next_command += 1;
            return Ok(true);
        }
        if self.is_replaying() {
            // The history was written by code from before the change.
            return Ok(false);
        }
        self.command(Command::RecordMarker {
            marker_name: PATCH_MARKER.into(),
            details: Payload(change_id.into_bytes()),
        })
        .map(|_| true)
        .map_err(|i| self.stop(i))
    }

    pub fn deprecate_patch(&mut self, change_id: String) -> Result<(), Interrupt> {
        if self.marker_here(&change_id) {
            self.next_command += 1;
        }
        Ok(())
    }

    /// The recorded marker of `change_id` at the current command position, if there is one.
    fn marker_here(&self, change_id: &str) -> bool {
        matches!(
            self.command_events.get(self.next_command).map(|e| &e.kind),
            Some(EventKind::MarkerRecorded { marker_name, details })
                if marker_name == PATCH_MARKER && details.0 == change_id.as_bytes()
        )
    }
}

/// A recorded marker matches by name and details.
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match (cmd, event) {
        (
            Command::RecordMarker {
                marker_name,
                details,
            },
            EventKind::MarkerRecorded {
                marker_name: n,
                details: d,
            },
        ) => marker_name == n && details == d,
        _ => false,
    }
}

pub(super) fn describe(details: &Payload) -> String {
    format!(
        "RecordMarker(patch {:?})",
        String::from_utf8_lossy(&details.0)
    )
}

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    if let (
        Command::RecordMarker {
            marker_name,
            details,
        },
        EventKind::MarkerRecorded {
            marker_name: r_name,
            details: r_details,
        },
    ) = (cmd, recorded)
    {
        c.text("marker_name", r_name, marker_name);
        c.payload("details", r_details, details);
    }
}
