//! One file per command kind: how its import call becomes a [`Command`], how a recorded event
//! matches it on replay, and how it is described in errors. The functions here only dispatch,
//! with exhaustive matches: a new `Command` variant makes the compiler list every place to
//! fill. (What a command does when committed is the engine's `commit` module, one file per
//! kind as well; see ARCHITECTURE.md, "How to add a command kind".)

mod activity;
mod cancel;
mod child;
mod close;
mod external;
mod marker;
mod nexus;
mod timer;
mod update;

pub use marker::PATCH_MARKER;

use crate::machine::OpKind;
use crate::strict::Compare;
use weft_core::command::{Command, Target};
use weft_core::history::EventKind;
use weft_core::ids::EventId;

/// True when the recorded command event `event` is the command `cmd` issued again (by kind
/// and the attributes the default replay mode compares; [`crate::ReplayMode::Strict`] compares
/// the rest).
pub(crate) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match cmd {
        Command::ScheduleActivity { .. } => activity::matches(cmd, event),
        Command::StartTimer { .. } => timer::matches(cmd, event),
        Command::RequestCancelActivity { .. }
        | Command::CancelTimer { .. }
        | Command::RequestCancelNexusOperation { .. }
        | Command::RequestCancelChild { .. } => cancel::matches(cmd, event),
        Command::ScheduleNexusOperation { .. } => nexus::matches(cmd, event),
        Command::RecordMarker { .. } => marker::matches(cmd, event),
        Command::StartChild { .. } => child::matches(cmd, event),
        Command::SignalExternal { .. } | Command::RequestCancelExternal { .. } => {
            external::matches(cmd, event)
        }
        // Recorded after the commands of their task, never matched by position.
        Command::CompleteWorkflow { .. }
        | Command::FailWorkflow { .. }
        | Command::CancelWorkflow { .. }
        | Command::ContinueAsNew { .. }
        | Command::AcceptUpdate { .. }
        | Command::CompleteUpdate { .. } => false,
    }
}

/// Strict replay's comparison of every attribute the code decides (`crate::strict`).
pub(crate) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    match cmd {
        Command::ScheduleActivity { .. } => activity::compare(cmd, recorded, c),
        Command::StartTimer { .. } => timer::compare(cmd, recorded, c),
        Command::ScheduleNexusOperation { .. } => nexus::compare(cmd, recorded, c),
        Command::StartChild { .. } => child::compare(cmd, recorded, c),
        Command::RecordMarker { .. } => marker::compare(cmd, recorded, c),
        Command::SignalExternal { .. } | Command::RequestCancelExternal { .. } => {
            external::compare(cmd, recorded, c)
        }
        Command::RequestCancelActivity { .. } | Command::RequestCancelChild { .. } => {
            cancel::compare(cmd, recorded, c)
        }
        // Their targets are event ids, compared in both modes; nothing else is decided.
        Command::CancelTimer { .. } | Command::RequestCancelNexusOperation { .. } => {}
        // Never matched with a recorded event: they end a task or answer an update.
        Command::CompleteWorkflow { .. }
        | Command::FailWorkflow { .. }
        | Command::CancelWorkflow { .. }
        | Command::ContinueAsNew { .. }
        | Command::AcceptUpdate { .. }
        | Command::CompleteUpdate { .. } => {}
    }
}

/// What the handle of a command stands for, for commands that return one.
pub(crate) fn op_kind(cmd: &Command) -> Option<OpKind> {
    match cmd {
        Command::ScheduleActivity { .. } => Some(OpKind::Activity),
        Command::StartTimer { .. } => Some(OpKind::Timer),
        Command::ScheduleNexusOperation { .. } => Some(OpKind::Nexus),
        Command::StartChild { .. } => Some(OpKind::Child),
        Command::SignalExternal { .. } | Command::RequestCancelExternal { .. } => {
            Some(OpKind::External)
        }
        Command::RequestCancelActivity { .. }
        | Command::CancelTimer { .. }
        | Command::RequestCancelNexusOperation { .. }
        | Command::RequestCancelChild { .. }
        | Command::RecordMarker { .. }
        | Command::CompleteWorkflow { .. }
        | Command::FailWorkflow { .. }
        | Command::CancelWorkflow { .. }
        | Command::ContinueAsNew { .. }
        | Command::AcceptUpdate { .. }
        | Command::CompleteUpdate { .. } => None,
    }
}

/// True for commands recorded as a command event (matched by position on replay).
pub(crate) fn produces_command_event(cmd: &Command) -> bool {
    match cmd {
        Command::ScheduleActivity { .. }
        | Command::StartTimer { .. }
        | Command::RequestCancelActivity { .. }
        | Command::CancelTimer { .. }
        | Command::ScheduleNexusOperation { .. }
        | Command::RequestCancelNexusOperation { .. }
        | Command::RecordMarker { .. }
        | Command::StartChild { .. }
        | Command::RequestCancelChild { .. }
        | Command::SignalExternal { .. }
        | Command::RequestCancelExternal { .. } => true,
        Command::CompleteWorkflow { .. }
        | Command::FailWorkflow { .. }
        | Command::CancelWorkflow { .. }
        | Command::ContinueAsNew { .. }
        | Command::AcceptUpdate { .. }
        | Command::CompleteUpdate { .. } => false,
    }
}

/// A command as text, for non-determinism messages and replay verification.
pub fn describe_command(cmd: &Command) -> String {
    match cmd {
        Command::ScheduleActivity { activity_type, .. } => activity::describe(activity_type),
        Command::StartTimer { duration_ms } => timer::describe(*duration_ms),
        Command::RequestCancelActivity { .. } => "RequestCancelActivityTask".into(),
        Command::CancelTimer { .. } => "CancelTimer".into(),
        Command::RequestCancelNexusOperation { .. } => "RequestCancelNexusOperation".into(),
        Command::RequestCancelChild { .. } => "RequestCancelExternalWorkflowExecution".into(),
        Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            ..
        } => nexus::describe(endpoint, service, operation),
        Command::RecordMarker { details, .. } => marker::describe(details),
        Command::StartChild {
            workflow_type,
            workflow_id,
            ..
        } => child::describe(workflow_type, workflow_id),
        Command::SignalExternal {
            workflow_id,
            signal_name,
            ..
        } => external::describe_signal(workflow_id, signal_name),
        Command::RequestCancelExternal { workflow_id, .. } => {
            external::describe_cancel(workflow_id)
        }
        Command::CompleteWorkflow { .. } => "CompleteWorkflowExecution".into(),
        Command::FailWorkflow { .. } => "FailWorkflowExecution".into(),
        Command::CancelWorkflow { .. } => "CancelWorkflowExecution".into(),
        Command::ContinueAsNew { .. } => "ContinueAsNewWorkflowExecution".into(),
        Command::AcceptUpdate { update_name, .. } => format!("AcceptUpdate({update_name})"),
        Command::CompleteUpdate { .. } => "CompleteUpdate".into(),
    }
}

/// A recorded event as text, for non-determinism messages.
pub(crate) fn describe_event(kind: &EventKind) -> String {
    match kind {
        EventKind::ActivityTaskScheduled { activity_type, .. } => {
            format!("ActivityTaskScheduled(activity type '{activity_type}')")
        }
        EventKind::TimerStarted { duration_ms, .. } => format!("TimerStarted({duration_ms} ms)"),
        other => other.name().to_string(),
    }
}

/// True when `target` names the recorded command event `id`.
fn recorded(target: &Target, id: &EventId) -> bool {
    matches!(target, Target::Recorded(r) if r == id)
}

/// Keeps positive timeouts; zero means "not set" in the WIT options.
fn positive(v: Option<u64>) -> Option<u64> {
    v.filter(|t| *t > 0)
}
