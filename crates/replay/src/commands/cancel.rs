//! `request-cancel` / `request-cancel-with` of a handle: RequestCancelActivity →
//! ActivityTaskCancelRequested, CancelTimer → TimerCanceled, RequestCancelNexusOperation →
//! NexusOperationCancelRequested, RequestCancelChild →
//! RequestCancelExternalWorkflowExecutionInitiated. The cancellation type decides where the
//! wait on the operation ends (`index::cancel_resolves`).

use super::recorded;
use crate::machine::{HandleRef, OpKind, Replay};
use crate::strict::Compare;
use crate::task::Interrupt;
use weft_core::command::Command;
use weft_core::history::{CancellationType, EventKind};

impl Replay {
    pub fn request_cancel(&mut self, h: u32) -> Result<(), Interrupt> {
        self.cancel(h, CancellationType::WaitCancellationCompleted)
            .map_err(|i| self.stop(i))
    }

    pub fn request_cancel_with(
        &mut self,
        h: u32,
        cancellation_type: CancellationType,
    ) -> Result<(), Interrupt> {
        self.cancel(h, cancellation_type).map_err(|i| self.stop(i))
    }

    /// `request-cancel(-with)` of handle `h`.
    fn cancel(&mut self, h: u32, ty: CancellationType) -> Result<(), Interrupt> {
        let Some((r, kind)) = self.handles.get(h as usize).copied() else {
            return Err(Interrupt::InvalidCall(format!(
                "request-cancel called with unknown handle {h}; this run has created {} handles",
                self.handles.len()
            )));
        };
        let refused = match (kind, ty) {
            (OpKind::Activity, CancellationType::WaitCancellationRequested) => Some("an activity"),
            (OpKind::Nexus | OpKind::External, t)
                if t != CancellationType::WaitCancellationCompleted =>
            {
                Some("a Nexus operation or an external request")
            }
            _ => None,
        };
        if let Some(what) = refused {
            return Err(Interrupt::InvalidCall(format!(
                "request-cancel-with: cancellation type {ty:?} is not offered for {what} (handle {h}); use one the WIT documentation of `cancellation-type` lists for it"
            )));
        }
        // Seen outcomes and repeated requests change nothing, deterministically.
        if self.observed.contains(&h) || !self.cancel_asked.insert(h) {
            return Ok(());
        }
        let target = r.target();
        let cmd = match kind {
            OpKind::Activity => Command::RequestCancelActivity {
                target,
                cancellation_type: ty,
            },
            // A timer is canceled at once whatever the type.
            OpKind::Timer => Command::CancelTimer { target },
            OpKind::Nexus => Command::RequestCancelNexusOperation { target },
            OpKind::Child => Command::RequestCancelChild {
                target,
                cancellation_type: ty,
            },
            // A signal or cancel request is delivered in the task's own commit.
            OpKind::External => return Ok(()),
        };
        // An outcome recorded before the task the code runs in started has ended the
        // operation, even if the code never waited for it (a race's loser): there is nothing
        // left to cancel, and no command (Temporal's SDKs have applied that event by then).
        // The same on every replay: the code reaches this call in the same task. A history
        // that recorded such a cancel anyway (written before this rule) still replays.
        if let HandleRef::Recorded(start) = r
            && let Some((at, _)) = self.resolutions.get(&start)
            && *at < self.task_starts[self.current_task].0
            && !self
                .command_events
                .get(self.next_command)
                .is_some_and(|e| matches(&cmd, &e.kind))
        {
            return Ok(());
        }
        self.command(cmd).map(|_| ())
    }
}

/// A recorded cancel event matches when it names the same operation.
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match (cmd, event) {
        (
            Command::RequestCancelActivity { target, .. },
            EventKind::ActivityTaskCancelRequested {
                scheduled_event_id, ..
            },
        ) => recorded(target, scheduled_event_id),
        (Command::CancelTimer { target }, EventKind::TimerCanceled { started_event_id }) => {
            recorded(target, started_event_id)
        }
        (
            Command::RequestCancelNexusOperation { target },
            EventKind::NexusOperationCancelRequested { scheduled_event_id },
        ) => recorded(target, scheduled_event_id),
        (
            Command::RequestCancelChild { target, .. },
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id, ..
            },
        ) => recorded(target, initiated_event_id),
        _ => false,
    }
}

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    match (cmd, recorded) {
        // Cancel targets are event ids, compared in both modes; the child's workflow id of
        // RequestCancelExternalWorkflowExecutionInitiated follows from its target. The
        // cancellation type is the code's decision (it says where the wait ends).
        (
            Command::RequestCancelActivity {
                cancellation_type, ..
            },
            EventKind::ActivityTaskCancelRequested {
                cancellation_type: r_type,
                ..
            },
        ) => {
            c.value("cancellation_type", r_type, cancellation_type, |t| {
                format!("{t:?}")
            });
        }
        (
            Command::RequestCancelChild {
                cancellation_type, ..
            },
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                cancellation_type: r_type,
                ..
            },
        ) => {
            c.value("cancellation_type", r_type, cancellation_type, |t| {
                format!("{t:?}")
            });
        }
        _ => {}
    }
}
