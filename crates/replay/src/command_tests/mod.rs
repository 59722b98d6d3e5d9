//! Every command kind on canned histories written with [`crate::testing::HistoryBuilder`]: the
//! code issuing a recorded command again matches it and receives its recorded outcome; a
//! different kind or identity at its position fails the task as non-determinism naming the
//! event. Then the commands not matched by position (closes, updates), queries, the order of
//! `wait-any`, workflow time and the new commands of a task.

mod closes_and_updates;
mod matching;
mod ordering;
mod outcomes;

use crate::testing::{HistoryBuilder, INPUT, NEXUS, replay, replay_with, served, task_start_ms};
use crate::types::{
    ActivityOptions, ChildOptions, Message, NexusOptions, Outcome, QueryMessage, UpdateMessage,
    Wake,
};
use crate::{
    Extra, Interrupt, QueryRequest, Replay, ReplayMode, Served, UpdateRequest, UpdateState,
};
use weft_core::command::{Command, Target};
use weft_core::history::{
    CancellationType, Event, Failure, Payload, child_start_cause, external_cause,
};
use weft_core::ids::EventId;

/// No new commands.
pub(super) const NO_COMMANDS: [Command; 0] = [];

/// A second operation of the test Nexus service, served by [`served_more`].
pub(super) const OTHER_OPERATION: &str = "other-operation";

/// [`served`] plus [`OTHER_OPERATION`], in `mode`.
pub(super) fn served_more(mode: ReplayMode) -> Served {
    let mut s = served();
    s.nexus_operations
        .insert((NEXUS.0.into(), NEXUS.1.into(), OTHER_OPERATION.into()));
    s.replay_mode = mode;
    s
}

pub(super) fn activity(r: &mut Replay, activity_type: &str) -> Result<u32, Interrupt> {
    r.schedule_activity(
        activity_type.into(),
        INPUT.to_vec(),
        ActivityOptions::default(),
    )
}

pub(super) fn nexus(r: &mut Replay, operation: &str) -> Result<u32, Interrupt> {
    r.schedule_nexus_operation(
        NEXUS.0.into(),
        NEXUS.1.into(),
        operation.into(),
        INPUT.to_vec(),
        NexusOptions::default(),
    )
}

pub(super) fn child(
    r: &mut Replay,
    workflow_type: &str,
    workflow_id: &str,
) -> Result<u32, Interrupt> {
    r.start_child_workflow(
        workflow_type.into(),
        workflow_id.into(),
        INPUT.to_vec(),
        ChildOptions::default(),
    )
}

pub(super) fn signal_external(
    r: &mut Replay,
    workflow_id: &str,
    name: &str,
) -> Result<u32, Interrupt> {
    r.signal_external_workflow(workflow_id.into(), None, name.into(), INPUT.to_vec())
}

pub(super) fn cancel_external(r: &mut Replay, workflow_id: &str) -> Result<u32, Interrupt> {
    r.request_cancel_external_workflow(workflow_id.into(), None, "no longer needed".into())
}

/// Waits on `h` alone; it must fire (a timer).
pub(super) fn fired(r: &mut Replay, h: u32) -> Result<(), Interrupt> {
    assert_eq!(r.wait_any(&[h])?, Wake::Resolved(h, Outcome::Fired));
    Ok(())
}

/// What the code saw at the end of a case.
#[derive(Debug, PartialEq)]
pub(super) enum Seen {
    Wake(Wake),
    Patched(bool),
    /// A command was accepted and returned this handle (a mismatch case that did not fail).
    Handle(u32),
    /// A cancel request was accepted.
    Canceled,
}

pub(super) fn wait(r: &mut Replay, h: u32) -> Result<Seen, Interrupt> {
    r.wait_any(&[h]).map(Seen::Wake)
}

pub(super) fn resolved(h: u32, outcome: Outcome) -> Seen {
    Seen::Wake(Wake::Resolved(h, outcome))
}

type Code = fn(&mut Replay) -> Result<Seen, Interrupt>;
