//! The replay's state for one Workflow Task and the rule every command follows: the k-th
//! command the code issues must match the k-th command event of the history; past the end of
//! the history it becomes a new command of this task, within the task's limits.

use crate::commands::{self, describe_command, describe_event};
use crate::determinism::{GuestLog, SeededRng};
use crate::strict;
use crate::task::{Extra, Interrupt, RunInfo, Served, StickyLink, UpdateState};
use crate::types::{Message, Outcome, WorkflowInfo};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use weft_core::command::{Command, Target};
use weft_core::history::{Event, Failure, Payload};
use weft_core::ids::{EventId, RunId, WorkflowId};
use weft_core::limits::Limits;

#[derive(Clone, Copy, Debug)]
pub(crate) enum HandleRef {
    /// Matched a recorded command event.
    Recorded(EventId),
    /// A new command of this task (index into `new_commands`).
    New(usize),
}

impl HandleRef {
    pub(crate) fn target(self) -> Target {
        match self {
            HandleRef::Recorded(id) => Target::Recorded(id),
            HandleRef::New(i) => Target::New(i),
        }
    }
}

/// What a handle stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    Activity,
    Timer,
    Nexus,
    Child,
    /// A signal or cancel request to another workflow: resolves when delivered or refused.
    External,
}

/// Host state of one Workflow Task.
pub struct Replay {
    pub(crate) workflow_id: WorkflowId,
    pub(crate) run: RunId,
    pub(crate) workflow_type: String,
    pub(crate) attempt: u32,
    pub(crate) command_events: Vec<Event>,
    pub(crate) next_command: usize,
    /// Start event id -> (resolving event id, outcome).
    pub(crate) resolutions: HashMap<EventId, (EventId, Outcome)>,
    pub(crate) handles: Vec<(HandleRef, OpKind)>,
    /// Handles whose outcome the code has seen.
    pub(crate) observed: HashSet<u32>,
    /// Handles the code asked to cancel.
    pub(crate) cancel_asked: HashSet<u32>,
    pub(crate) served: Arc<Served>,
    /// Compare every decided attribute of a replayed command ([`ReplayMode::Strict`]).
    pub(crate) strict: bool,
    /// Messages in history order: signals, cancel requests, accepted updates.
    pub(crate) messages: Vec<(EventId, Message)>,
    pub(crate) next_message: usize,
    /// A cancel request was delivered to the code.
    pub(crate) cancel_seen: bool,
    /// Updates the history shows completed, or completed in this task.
    pub(crate) completed_updates: HashSet<String>,
    /// Updates the history shows accepted.
    pub(crate) accepted_updates: HashSet<String>,
    pub(crate) extra: Extra,
    pub(crate) update_state: UpdateState,
    /// The query was delivered.
    pub(crate) query_running: bool,
    pub(crate) query_answer: Option<Result<Payload, Failure>>,
    pub(crate) info: RunInfo,
    /// (WorkflowTaskStarted event id, time) of each completed task, then the current task, in
    /// history order (the current task's entry has id `u64::MAX`).
    pub(crate) task_starts: Vec<(EventId, u64)>,
    pub(crate) current_task: usize,
    pub(crate) clock: Arc<AtomicU64>,
    pub(crate) log: Arc<GuestLog>,
    pub(crate) seed: u64,
    pub(crate) rng: SeededRng,
    pub(crate) new_commands: Vec<Command>,
    pub(crate) history_len: u64,
    /// Cancel requests of children waiting for the request to be delivered, by request event
    /// (see `index`).
    pub(crate) awaiting_cancel: HashMap<EventId, EventId>,
    /// The last event indexed is this WorkflowTaskStarted (its id and time): the start of a
    /// completed task if the next is WorkflowTaskCompleted.
    pub(crate) open_task_start: Option<(EventId, u64)>,
    pub(crate) limits: Limits,
    pub(crate) interrupt: Option<Interrupt>,
    pub(crate) sticky: Option<StickyLink>,
    /// Commands sent at the last suspension, awaiting their events.
    pub(crate) sent_commands: Vec<Command>,
    pub(crate) task_started: std::time::Instant,
}

impl Replay {
    /// Delivers `extra` (a new update or a query) in this task.
    pub fn with_extra(mut self, extra: Extra) -> Replay {
        if let Extra::Update(u) = &extra
            && self.accepted_updates.contains(&u.id)
        {
            // The same update again: it is in the history already.
            self.update_state = UpdateState::Accepted;
        }
        self.extra = extra;
        self
    }

    /// Sets the facts `info` reports beyond the history.
    pub fn with_info(mut self, info: RunInfo) -> Replay {
        self.info = info;
        self
    }

    /// How the new update of this task fared.
    pub fn update_state(&self) -> &UpdateState {
        &self.update_state
    }

    /// The answer of the query of this task, once given.
    pub fn query_answer(&self) -> Option<&Result<Payload, Failure>> {
        self.query_answer.as_ref()
    }

    /// Workflow time shared with the WASI clocks.
    pub fn clock(&self) -> Arc<AtomicU64> {
        self.clock.clone()
    }

    /// The run's random seed (for the WASI random sources).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The guest's log sink.
    pub fn log(&self) -> Arc<GuestLog> {
        self.log.clone()
    }

    /// Why the guest was stopped, if the host stopped it.
    pub fn interrupt(&self) -> Option<&Interrupt> {
        self.interrupt.as_ref()
    }

    /// True while the code re-executes earlier tasks.
    pub fn is_replaying(&self) -> bool {
        self.current_task + 1 < self.task_starts.len()
    }

    pub(crate) fn publish_task(&self) {
        self.clock
            .store(self.task_starts[self.current_task].1, Ordering::Relaxed);
        self.log
            .replaying
            .store(self.is_replaying(), Ordering::Relaxed);
    }

    /// Records why the guest stops (the first reason counts) and returns it, for the glue to
    /// raise as a trap.
    pub(crate) fn stop(&mut self, i: Interrupt) -> Interrupt {
        if self.interrupt.is_none() {
            self.interrupt = Some(i.clone());
        }
        i
    }

    /// Commands of history not yet issued again by the code, described for an error message.
    pub(crate) fn unmatched(&self) -> Option<String> {
        self.command_events
            .get(self.next_command)
            .map(|e| format!("event {} {}", e.id, describe_event(&e.kind)))
    }

    /// The commands of a suspended task.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.new_commands)
    }

    /// Refuses a payload above the limit; `what` names it in the error (formatted only then).
    pub(crate) fn check_payload(
        &self,
        what: &dyn std::fmt::Display,
        p: &[u8],
    ) -> Result<(), Interrupt> {
        if p.len() > self.limits.max_payload_bytes {
            return Err(Interrupt::Limit(format!(
                "{what} is {} bytes, above the payload limit of {} bytes",
                p.len(),
                self.limits.max_payload_bytes
            )));
        }
        Ok(())
    }

    /// Matches or records command number `self.next_command`.
    pub(crate) fn command(&mut self, cmd: Command) -> Result<u32, Interrupt> {
        let handle = self.handles.len() as u32;
        let kind = commands::op_kind(&cmd);
        if self.update_state == UpdateState::Validating
            && let Extra::Update(u) = &self.extra
        {
            return Err(Interrupt::InvalidCall(format!(
                "the validator of update '{}' must not change the workflow: it issued {}. Validate in the validator; do the work in the handler",
                u.name,
                describe_command(&cmd)
            )));
        }
        if self.query_running
            && let Extra::Query(q) = &self.extra
        {
            return Err(Interrupt::InvalidCall(format!(
                "query handler '{}' must not change the workflow: it issued {}. Queries only read state; use an update to change it",
                q.name,
                describe_command(&cmd)
            )));
        }
        if let Some(event) = self.command_events.get(self.next_command) {
            let matches = commands::matches(&cmd, &event.kind);
            if !matches {
                return Err(Interrupt::NonDeterminism(format!(
                    "command {} of the workflow is {}, but the history recorded {} at event {}. The workflow code changed in a way that is incompatible with this run; deploy the code that wrote this history, or version the change",
                    self.next_command + 1,
                    describe_command(&cmd),
                    describe_event(&event.kind),
                    event.id
                )));
            }
            if self.strict
                && let Some(m) = strict::first_mismatch(&cmd, &event.kind)
            {
                return Err(Interrupt::NonDeterminism(format!(
                    "strict replay: command {} of the workflow is {} as recorded at event {}, but its {} differs: recorded {}, the code now gives {}. Deploy the code that wrote this history, or version the change (patched)",
                    self.next_command + 1,
                    describe_command(&cmd),
                    event.id,
                    m.attribute,
                    m.recorded,
                    m.new
                )));
            }
            if let Some(kind) = kind {
                self.handles.push((HandleRef::Recorded(event.id), kind));
            }
            self.next_command += 1;
            return Ok(handle);
        }
        if self.new_commands.len() >= self.limits.max_commands_per_task {
            return Err(Interrupt::Limit(format!(
                "more than {} commands in one Workflow Task",
                self.limits.max_commands_per_task
            )));
        }
        let projected = self.history_len + 3 + self.new_commands.len() as u64 + 1;
        if projected > self.limits.max_history_events {
            return Err(Interrupt::HistoryLimit(format!(
                "the history would pass the limit of {} events; a long-running workflow must continue as a new run before that",
                self.limits.max_history_events
            )));
        }
        if let Some(kind) = kind {
            self.handles
                .push((HandleRef::New(self.new_commands.len()), kind));
        }
        self.new_commands.push(cmd);
        Ok(handle)
    }

    /// Records a command that does not match a recorded command event by position (update
    /// acceptance and completion), within the task's limits.
    pub(crate) fn push_unmatched(&mut self, cmd: Command) -> Result<(), Interrupt> {
        if self.new_commands.len() >= self.limits.max_commands_per_task {
            return Err(Interrupt::Limit(format!(
                "more than {} commands in one Workflow Task",
                self.limits.max_commands_per_task
            )));
        }
        self.new_commands.push(cmd);
        Ok(())
    }

    /// Moves workflow time to the task that recorded event `at` (a command or update
    /// acceptance of that task).
    pub(crate) fn see_recorded_in(&mut self, at: EventId) {
        let task = task_recording(&self.task_starts, at);
        if task > self.current_task {
            self.current_task = task;
            self.publish_task();
        }
    }

    /// Moves workflow time to the task in which the code first saw event `at`.
    pub(crate) fn see(&mut self, at: EventId) {
        let task = task_seeing(&self.task_starts, at);
        if task > self.current_task {
            self.current_task = task;
            self.publish_task();
        }
    }

    /// `now-ms`: workflow time.
    pub fn now_ms(&self) -> u64 {
        self.task_starts[self.current_task].1
    }

    /// `random-u64`: the next value of the run's seeded generator.
    pub fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// `info`: facts about the run.
    pub fn info(&self) -> WorkflowInfo {
        WorkflowInfo {
            workflow_id: self.workflow_id.0.clone(),
            run_id: self.run.to_string(),
            workflow_type: self.workflow_type.clone(),
            task_attempt: self.attempt,
            attempt: self.info.attempt,
            continued_from_run_id: self.info.continued_from.map(|r| r.to_string()),
            parent_workflow_id: self.info.parent_workflow_id.as_ref().map(|w| w.0.clone()),
        }
    }
}

/// Of `starts` (a run's `task_starts`, in history order), the last task that started before
/// event `at` (the first task if none did): the task that recorded `at`. A binary search, as
/// for [`task_seeing`].
fn task_recording(starts: &[(EventId, u64)], at: EventId) -> usize {
    starts
        .partition_point(|(started, _)| *started < at)
        .saturating_sub(1)
}

/// Of `starts` (a run's `task_starts`, in history order, ending with the current task), the
/// first task that started after event `at` (the current task if none did): the task in which
/// the code first saw `at`. A binary search: a replay sees every result it waits for, so a
/// scan from the start would cost the square of the history's tasks.
fn task_seeing(starts: &[(EventId, u64)], at: EventId) -> usize {
    starts
        .partition_point(|(started, _)| *started <= at)
        .min(starts.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary searches agree with the scans they replace, for every event around every
    /// task start (tasks starting at events 3, 7, 8, 20, then the current task).
    #[test]
    fn the_task_searches_match_a_scan() {
        let starts: Vec<(EventId, u64)> = [3, 7, 8, 20, u64::MAX]
            .iter()
            .map(|&id| (EventId(id), id))
            .collect();
        for at in 0..25 {
            let at = EventId(at);
            let seeing = starts
                .iter()
                .position(|(s, _)| *s > at)
                .unwrap_or(starts.len() - 1);
            let recording = starts.iter().rposition(|(s, _)| *s < at).unwrap_or(0);
            assert_eq!(task_seeing(&starts, at), seeing, "seeing {at}");
            assert_eq!(task_recording(&starts, at), recording, "recording {at}");
        }
        assert_eq!(task_seeing(&starts, EventId(8)), 3);
        assert_eq!(task_recording(&starts, EventId(8)), 1);
    }
}
