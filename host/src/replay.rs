//! Drives a workflow through its recorded history: answers each import from the history when
//! the answer is known, matches each command the code issues against the recorded command
//! events, and collects the new commands that end the task.
//!
//! Rules that keep replay deterministic:
//! - The k-th command the code issues must match the k-th command event of the history
//!   (ActivityTaskScheduled by activity type, TimerStarted); otherwise the task fails with a
//!   non-determinism error naming the event. In [`ReplayMode::Strict`] (per namespace or
//!   workflow type, see [`Served`]) every attribute the code decides must match too
//!   (`strict`).
//! - `wait-any` returns, among the awaited operations resolved in the history, the one whose
//!   resolving event comes first. The host's timing never decides.
//! - Workflow time is the start time of the Workflow Task in which the code originally ran at
//!   that point: it advances as replay consumes results that arrived in later tasks.
//!
//! This module does not touch the database or wasmtime's store setup; it is the host-side
//! implementation of the `weft:workflow/host` interface.

use crate::history::{
    CancellationType, Event, EventKind, Failure, ParentClosePolicy, Payload, RetryPolicy,
    WorkflowOptions,
};
use crate::ids::{EventId, RunId, WorkflowId};
use crate::limits::Limits;
use crate::sandbox::bindings::weft::workflow::{host, types};
use crate::sandbox::{GuestLog, SeededRng};
use crate::store::{Command, Target};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(test)]
mod cancellation_tests;
#[cfg(test)]
mod messages_tests;
mod strict;
pub use strict::{Mismatch, ReplayMode};

/// Why a task stopped running guest code early. Raised as a trap to unwind the guest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Interrupt {
    /// The workflow waits for something not yet in the history: the task ends with its
    /// commands.
    #[error("workflow is waiting for new events")]
    Suspend,
    /// The code no longer matches its history.
    #[error("non-determinism: {0}")]
    NonDeterminism(String),
    /// A limit was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The history would pass its limit: the run is terminated, as Temporal does.
    #[error("{0}")]
    HistoryLimit(String),
    /// The guest misused an import (unknown handle, a query handler scheduling work).
    #[error("invalid call: {0}")]
    InvalidCall(String),
    /// The code closed the run (returned or continued as new) while recorded messages it
    /// could see were never delivered to it: the close is refused, the task fails and is
    /// retried.
    #[error("unhandled messages: {0}")]
    UnhandledMessages(String),
    /// The workflow called `continue-as-new`: the task ends with its commands.
    #[error("the workflow continued as new")]
    ContinuedAsNew,
    /// The query was answered: the query's run of the code ends.
    #[error("the query was answered")]
    QueryAnswered,
    /// A cached instance was evicted from the sticky cache.
    #[error("evicted from the sticky cache")]
    Evicted,
    /// A cached instance cannot continue on the new history (another task changed it); the
    /// task replays from the start instead.
    #[error("cached instance is stale: {0}")]
    Stale(String),
}

/// What the host tells a suspended cached instance.
pub enum Resume {
    /// Continue with the run's full history, in a new task.
    Continue {
        /// The full history (shared: the task keeps it for a fallback replay).
        history: Arc<[Event]>,
        /// Attempt of the task.
        attempt: u32,
        /// When the task started.
        started_ms: u64,
        /// `next_event_id` of the run right after the instance's last commit.
        known_next: u64,
    },
    /// Stop: the instance is evicted.
    Evict,
}

/// The connection of a cached instance's thread to the host: the commands of each task are
/// sent when the code suspends, and the next task's history received.
pub struct StickyLink {
    /// Hands the commands of a suspended task to the host; false when nobody listens.
    pub suspended: Box<dyn Fn(Vec<Command>) -> bool + Send>,
    /// The next task.
    pub resume: std::sync::mpsc::Receiver<Resume>,
}

/// A new update delivered to the workflow in this task (not yet in the history).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateRequest {
    /// Update id.
    pub id: String,
    /// Handler name.
    pub name: String,
    /// Input.
    pub input: Payload,
}

/// A query run against the workflow's state.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryRequest {
    /// Handler name.
    pub name: String,
    /// Input.
    pub input: Payload,
}

/// What a task delivers to the workflow besides its history.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Extra {
    /// Nothing: a normal Workflow Task.
    #[default]
    None,
    /// A new update, delivered when the code waits with nothing left in the history.
    Update(UpdateRequest),
    /// A query, answered from the state the code reaches at the end of the history.
    Query(QueryRequest),
}

/// How a new update fared in this task.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateState {
    /// Not delivered yet (the code never waited at the end of the history).
    Pending,
    /// Delivered; the validator runs.
    Validating,
    /// Accepted.
    Accepted,
    /// Rejected with this failure.
    Rejected(Failure),
}

/// Facts about the run beyond its history, for `info`.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Execution attempt.
    pub attempt: u32,
    /// The run this one continues.
    pub continued_from: Option<RunId>,
    /// The parent's workflow id.
    pub parent_workflow_id: Option<WorkflowId>,
}

#[derive(Clone, Copy, Debug)]
enum HandleRef {
    /// Matched a recorded command event.
    Recorded(EventId),
    /// A new command of this task (index into `new_commands`).
    New(usize),
}

impl HandleRef {
    fn target(self) -> Target {
        match self {
            HandleRef::Recorded(id) => Target::Recorded(id),
            HandleRef::New(i) => Target::New(i),
        }
    }
}

/// What a handle stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    Activity,
    Timer,
    Nexus,
    Child,
    /// A signal or cancel request to another workflow: resolves when delivered or refused.
    External,
}

/// What the workflow's namespace serves on this host: commands naming anything else fail the
/// task.
#[derive(Clone, Debug, Default)]
pub struct Served {
    /// Activity task queues.
    pub task_queues: HashSet<String>,
    /// Nexus operations as (endpoint, service, operation).
    pub nexus_operations: HashSet<(String, String, String)>,
    /// Replay mode of the workflow types not in `replay_modes`.
    pub replay_mode: ReplayMode,
    /// Replay mode per workflow type, overriding `replay_mode`.
    pub replay_modes: HashMap<String, ReplayMode>,
}

impl Served {
    /// The replay mode of `workflow_type`.
    pub fn replay_mode_of(&self, workflow_type: &str) -> ReplayMode {
        self.replay_modes
            .get(workflow_type)
            .copied()
            .unwrap_or(self.replay_mode)
    }
}

/// Host state of one Workflow Task.
pub struct Replay {
    workflow_id: WorkflowId,
    run: RunId,
    workflow_type: String,
    attempt: u32,
    command_events: Vec<Event>,
    next_command: usize,
    /// Start event id -> (resolving event id, outcome).
    resolutions: HashMap<EventId, (EventId, types::Outcome)>,
    handles: Vec<(HandleRef, OpKind)>,
    /// Handles whose outcome the code has seen.
    observed: HashSet<u32>,
    /// Handles the code asked to cancel.
    cancel_asked: HashSet<u32>,
    served: Arc<Served>,
    /// Compare every decided attribute of a replayed command ([`ReplayMode::Strict`]).
    strict: bool,
    /// Messages in history order: signals, cancel requests, accepted updates.
    messages: Vec<(EventId, types::Message)>,
    next_message: usize,
    /// A cancel request was delivered to the code.
    cancel_seen: bool,
    /// Updates the history shows completed, or completed in this task.
    completed_updates: HashSet<String>,
    /// Updates the history shows accepted.
    accepted_updates: HashSet<String>,
    extra: Extra,
    update_state: UpdateState,
    /// The query was delivered.
    query_running: bool,
    query_answer: Option<Result<Payload, Failure>>,
    info: RunInfo,
    /// (WorkflowTaskStarted event id, time) of each completed task, then the current task.
    task_starts: Vec<(EventId, u64)>,
    current_task: usize,
    clock: Arc<AtomicU64>,
    log: Arc<GuestLog>,
    seed: u64,
    rng: SeededRng,
    new_commands: Vec<Command>,
    history_len: u64,
    limits: Limits,
    interrupt: Option<Interrupt>,
    sticky: Option<StickyLink>,
    /// Commands sent at the last suspension, awaiting their events.
    sent_commands: Vec<Command>,
    task_started: std::time::Instant,
}

impl Replay {
    /// Prepares the replay of `history` for a task that started at `started_ms`.
    pub fn new(
        run: RunId,
        workflow_id: WorkflowId,
        history: &[Event],
        attempt: u32,
        started_ms: u64,
        limits: Limits,
        served: Arc<Served>,
    ) -> Replay {
        let mut workflow_type = String::new();
        let mut seed = 0;
        let mut command_events = Vec::new();
        let mut resolutions = HashMap::new();
        let mut task_starts = Vec::new();
        let mut messages = Vec::new();
        let mut completed_updates = HashSet::new();
        let mut accepted_updates = HashSet::new();
        let mut awaiting_cancel_requested = HashMap::new();
        for (i, e) in history.iter().enumerate() {
            match &e.kind {
                EventKind::WorkflowExecutionSignaled { signal_name, input } => messages.push((
                    e.id,
                    types::Message::Signal((signal_name.clone(), input.0.clone())),
                )),
                EventKind::WorkflowExecutionCancelRequested { reason } => {
                    messages.push((e.id, types::Message::CancelRequested(reason.clone())))
                }
                EventKind::WorkflowExecutionUpdateAccepted {
                    update_id,
                    update_name,
                    input,
                } => {
                    accepted_updates.insert(update_id.clone());
                    messages.push((
                        e.id,
                        types::Message::Update(types::UpdateRequest {
                            id: update_id.clone(),
                            name: update_name.clone(),
                            input: input.0.clone(),
                            validate: false,
                        }),
                    ))
                }
                EventKind::WorkflowExecutionUpdateCompleted { update_id, .. } => {
                    completed_updates.insert(update_id.clone());
                }
                EventKind::WorkflowExecutionStarted {
                    workflow_type: t,
                    random_seed,
                    ..
                } => {
                    workflow_type = t.clone();
                    seed = *random_seed;
                }
                EventKind::WorkflowTaskStarted { .. } => {
                    if matches!(
                        history.get(i + 1).map(|n| &n.kind),
                        Some(EventKind::WorkflowTaskCompleted { .. })
                    ) {
                        task_starts.push((e.id, e.time_ms));
                    }
                }
                k if k.is_command_event() => command_events.push(e.clone()),
                _ => {}
            }
            if let Some(start) = e.kind.resolves() {
                let outcome = match &e.kind {
                    EventKind::ActivityTaskCompleted { result, .. }
                    | EventKind::NexusOperationCompleted { result, .. }
                    | EventKind::ChildWorkflowExecutionCompleted { result, .. } => {
                        types::Outcome::Completed(result.0.clone())
                    }
                    EventKind::ChildWorkflowExecutionFailed { failure, .. } => {
                        types::Outcome::Failed(to_wit_failure(failure))
                    }
                    EventKind::ChildWorkflowExecutionTerminated { .. } => {
                        types::Outcome::Failed(to_wit_failure(&Failure::new(
                            "Terminated",
                            "the child workflow was terminated",
                        )))
                    }
                    EventKind::ChildWorkflowExecutionTimedOut { .. } => types::Outcome::Failed(
                        to_wit_failure(&Failure::new("TimedOut", "the child workflow timed out")),
                    ),
                    EventKind::StartChildWorkflowExecutionFailed {
                        workflow_id, cause, ..
                    } => types::Outcome::Failed(to_wit_failure(&Failure::new(
                        cause.clone(),
                        format!(
                            "child workflow {workflow_id} could not be started: {}",
                            crate::history::child_start_cause::describe(cause)
                        ),
                    ))),
                    EventKind::ChildWorkflowExecutionCanceled { .. } => types::Outcome::Canceled,
                    EventKind::ExternalWorkflowExecutionSignaled { .. }
                    | EventKind::ExternalWorkflowExecutionCancelRequested { .. } => {
                        types::Outcome::Completed(Vec::new())
                    }
                    EventKind::SignalExternalWorkflowExecutionFailed {
                        workflow_id, cause, ..
                    }
                    | EventKind::RequestCancelExternalWorkflowExecutionFailed {
                        workflow_id,
                        cause,
                        ..
                    } => types::Outcome::Failed(to_wit_failure(&Failure::new(
                        cause.clone(),
                        format!(
                            "{} to workflow {workflow_id} failed: {}",
                            if matches!(
                                e.kind,
                                EventKind::SignalExternalWorkflowExecutionFailed { .. }
                            ) {
                                "the signal"
                            } else {
                                "the cancel request"
                            },
                            crate::history::external_cause::describe(cause)
                        ),
                    ))),
                    EventKind::ActivityTaskFailed { failure, .. }
                    | EventKind::ActivityTaskTimedOut { failure, .. }
                    | EventKind::NexusOperationFailed { failure, .. }
                    | EventKind::NexusOperationTimedOut { failure, .. } => {
                        types::Outcome::Failed(to_wit_failure(failure))
                    }
                    EventKind::ActivityTaskCanceled { .. }
                    | EventKind::TimerCanceled { .. }
                    | EventKind::NexusOperationCanceled { .. } => types::Outcome::Canceled,
                    _ => types::Outcome::Fired,
                };
                // The first resolution counts (a timer canceled after it fired stays fired).
                resolutions.entry(start).or_insert((e.id, outcome));
            }
            if let Some(start) = cancel_resolves(e, &mut awaiting_cancel_requested) {
                resolutions
                    .entry(start)
                    .or_insert((e.id, types::Outcome::Canceled));
            }
        }
        task_starts.push((EventId(u64::MAX), started_ms));
        let log = Arc::new(GuestLog {
            context: format!("{workflow_id}/{run}"),
            ..GuestLog::default()
        });
        let strict = served.replay_mode_of(&workflow_type) == ReplayMode::Strict;
        let replay = Replay {
            workflow_id,
            run,
            workflow_type,
            attempt,
            command_events,
            next_command: 0,
            resolutions,
            handles: Vec::new(),
            observed: HashSet::new(),
            cancel_asked: HashSet::new(),
            served,
            strict,
            messages,
            next_message: 0,
            cancel_seen: false,
            completed_updates,
            accepted_updates,
            extra: Extra::None,
            update_state: UpdateState::Pending,
            query_running: false,
            query_answer: None,
            info: RunInfo {
                attempt: 1,
                ..RunInfo::default()
            },
            clock: Arc::new(AtomicU64::new(task_starts[0].1)),
            task_starts,
            current_task: 0,
            log,
            seed,
            rng: SeededRng::new(seed),
            new_commands: Vec::new(),
            history_len: history.len() as u64,
            limits,
            interrupt: None,
            sticky: None,
            sent_commands: Vec::new(),
            task_started: std::time::Instant::now(),
        };
        replay.publish_task();
        replay
    }

    /// Makes this replay suspend in place when the code waits for something new, instead of
    /// unwinding the guest: the instance stays alive in the sticky cache.
    pub fn with_sticky(mut self, link: StickyLink) -> Replay {
        self.sticky = Some(link);
        self
    }

    /// When the current task started running code (for its time limit).
    pub fn task_started(&self) -> std::time::Instant {
        self.task_started
    }

    /// Continues a suspended instance on `history`, the full history of its run now: every
    /// command it sent at its suspension must be there, committed in the events before
    /// `known_next`, and no other task may have committed since. Guest progress (matched
    /// commands, handles, delivered messages, random generator) is kept; what the history
    /// says is taken afresh.
    fn rebase(
        &mut self,
        history: &[Event],
        attempt: u32,
        started_ms: u64,
        known_next: u64,
    ) -> Result<(), String> {
        if let Some(e) = history.iter().find(|e| {
            e.id.0 >= known_next && matches!(e.kind, EventKind::WorkflowTaskCompleted { .. })
        }) {
            return Err(format!("another Workflow Task completed at event {}", e.id));
        }
        let fresh = Replay::new(
            self.run,
            self.workflow_id.clone(),
            history,
            attempt,
            started_ms,
            self.limits.clone(),
            self.served.clone(),
        );
        let mut committed = fresh
            .command_events
            .iter()
            .filter(|e| e.id.0 > self.history_len && e.id.0 < known_next);
        let mut assigned = Vec::with_capacity(self.sent_commands.len());
        for cmd in &self.sent_commands {
            if produces_command_event(cmd) {
                let e = committed
                    .next()
                    .ok_or("the history lacks a command the instance issued")?;
                assigned.push(Some(e.id));
            } else {
                assigned.push(None);
            }
        }
        if committed.next().is_some() {
            return Err("the history has commands the instance did not issue".into());
        }
        for (r, _) in &mut self.handles {
            if let HandleRef::New(i) = *r {
                let id = assigned
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or("a handle has no committed event")?;
                *r = HandleRef::Recorded(id);
            }
        }
        let next_command = fresh
            .command_events
            .iter()
            .position(|e| e.id.0 >= known_next)
            .unwrap_or(fresh.command_events.len());
        let issued = assigned.iter().flatten().count();
        if next_command != self.next_command + issued {
            return Err(format!(
                "{} recorded commands, but the instance matched {} and issued {issued}",
                next_command, self.next_command
            ));
        }
        self.next_command = next_command;
        self.next_message = fresh
            .messages
            .iter()
            .filter(|(id, _)| id.0 < known_next)
            .count();
        self.command_events = fresh.command_events;
        self.resolutions = fresh.resolutions;
        self.messages = fresh.messages;
        self.completed_updates = fresh.completed_updates;
        self.accepted_updates = fresh.accepted_updates;
        self.task_starts = fresh.task_starts;
        self.history_len = fresh.history_len;
        self.attempt = attempt;
        self.sent_commands.clear();
        self.new_commands.clear();
        self.extra = Extra::None;
        self.update_state = UpdateState::Pending;
        self.query_running = false;
        self.task_started = std::time::Instant::now();
        self.publish_task();
        Ok(())
    }

    /// At the end of the history with nothing to deliver: a cached instance hands its
    /// commands to the host and waits for the next task (true: go on); otherwise the guest
    /// unwinds with [`Interrupt::Suspend`].
    fn suspend(&mut self) -> Result<(), wasmtime::Error> {
        let Some(link) = &self.sticky else {
            return Err(self.stop(Interrupt::Suspend));
        };
        let commands = std::mem::take(&mut self.new_commands);
        if !(link.suspended)(commands.clone()) {
            return Err(self.stop(Interrupt::Evicted));
        }
        let next = link.resume.recv();
        self.sent_commands = commands;
        match next {
            Ok(Resume::Continue {
                history,
                attempt,
                started_ms,
                known_next,
            }) => self
                .rebase(&history, attempt, started_ms, known_next)
                .map_err(|msg| self.stop(Interrupt::Stale(msg))),
            Ok(Resume::Evict) | Err(_) => Err(self.stop(Interrupt::Evicted)),
        }
    }

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

    fn publish_task(&self) {
        self.clock
            .store(self.task_starts[self.current_task].1, Ordering::Relaxed);
        self.log
            .replaying
            .store(self.is_replaying(), Ordering::Relaxed);
    }

    fn stop(&mut self, i: Interrupt) -> wasmtime::Error {
        if self.interrupt.is_none() {
            self.interrupt = Some(i.clone());
        }
        wasmtime::Error::new(i)
    }

    /// Commands of history not yet issued again by the code, described for an error message.
    fn unmatched(&self) -> Option<String> {
        self.command_events
            .get(self.next_command)
            .map(|e| format!("event {} {}", e.id, describe(&e.kind)))
    }

    /// Called when `run` returned: the final command, after checking that every recorded
    /// command was issued again.
    pub fn finish(
        &mut self,
        result: Result<Vec<u8>, types::Failure>,
    ) -> Result<Vec<Command>, Interrupt> {
        if let Some(e) = self.unmatched() {
            return Err(Interrupt::NonDeterminism(format!(
                "the workflow returned, but the history has more commands from this point: {e} was not issued. Deploy the code that wrote this history, or let this run finish first"
            )));
        }
        self.all_messages_delivered("returned")?;
        let cmd = match result {
            Ok(payload) => {
                self.check_payload("workflow result", &payload)?;
                Command::CompleteWorkflow {
                    result: Payload(payload),
                }
            }
            Err(f) if self.cancel_seen && f.error_type == "Canceled" => Command::CancelWorkflow {
                // The details, or else the message, as Temporal's canceled details.
                details: Some(
                    f.details
                        .map(Payload)
                        .unwrap_or_else(|| Payload::json(&serde_json::Value::String(f.message))),
                ),
            },
            Err(f) => Command::FailWorkflow {
                failure: from_wit_failure(f),
            },
        };
        self.new_commands.push(cmd);
        Ok(std::mem::take(&mut self.new_commands))
    }

    /// The commands of a suspended task.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.new_commands)
    }

    fn check_payload(&self, what: &str, p: &[u8]) -> Result<(), Interrupt> {
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
    fn command(&mut self, cmd: Command) -> Result<u32, Interrupt> {
        let handle = self.handles.len() as u32;
        let kind = match &cmd {
            Command::ScheduleActivity { .. } => Some(OpKind::Activity),
            Command::StartTimer { .. } => Some(OpKind::Timer),
            Command::ScheduleNexusOperation { .. } => Some(OpKind::Nexus),
            Command::StartChild { .. } => Some(OpKind::Child),
            Command::SignalExternal { .. } | Command::RequestCancelExternal { .. } => {
                Some(OpKind::External)
            }
            _ => None,
        };
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
        let recorded_target =
            |t: &Target, id: &EventId| matches!(t, Target::Recorded(r) if r == id);
        if let Some(event) = self.command_events.get(self.next_command) {
            let matches = match (&cmd, &event.kind) {
                (
                    Command::ScheduleActivity { activity_type, .. },
                    EventKind::ActivityTaskScheduled {
                        activity_type: recorded,
                        ..
                    },
                ) => activity_type == recorded,
                (Command::StartTimer { .. }, EventKind::TimerStarted { .. }) => true,
                (
                    Command::RequestCancelActivity { target, .. },
                    EventKind::ActivityTaskCancelRequested {
                        scheduled_event_id, ..
                    },
                ) => recorded_target(target, scheduled_event_id),
                (
                    Command::CancelTimer { target },
                    EventKind::TimerCanceled { started_event_id },
                ) => recorded_target(target, started_event_id),
                (
                    Command::ScheduleNexusOperation {
                        endpoint,
                        service,
                        operation,
                        ..
                    },
                    EventKind::NexusOperationScheduled {
                        endpoint: e,
                        service: s,
                        operation: o,
                        ..
                    },
                ) => endpoint == e && service == s && operation == o,
                (
                    Command::RequestCancelNexusOperation { target },
                    EventKind::NexusOperationCancelRequested { scheduled_event_id },
                ) => recorded_target(target, scheduled_event_id),
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
                (
                    Command::StartChild {
                        workflow_type,
                        workflow_id,
                        ..
                    },
                    EventKind::StartChildWorkflowExecutionInitiated {
                        workflow_type: t,
                        workflow_id: i,
                        ..
                    },
                ) => workflow_type == t && &workflow_id.0 == i,
                (
                    Command::RequestCancelChild { target, .. },
                    EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                        initiated_event_id,
                        ..
                    },
                ) => recorded_target(target, initiated_event_id),
                (
                    Command::SignalExternal {
                        workflow_id,
                        signal_name,
                        ..
                    },
                    EventKind::SignalExternalWorkflowExecutionInitiated {
                        workflow_id: i,
                        signal_name: n,
                        ..
                    },
                ) => &workflow_id.0 == i && signal_name == n,
                (
                    Command::RequestCancelExternal { workflow_id, .. },
                    EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                        initiated_event_id,
                        workflow_id: i,
                        ..
                    },
                ) => initiated_event_id.0 == 0 && &workflow_id.0 == i,
                _ => false,
            };
            if !matches {
                return Err(Interrupt::NonDeterminism(format!(
                    "command {} of the workflow is {}, but the history recorded {} at event {}. The workflow code changed in a way that is incompatible with this run; deploy the code that wrote this history, or version the change",
                    self.next_command + 1,
                    describe_command(&cmd),
                    describe(&event.kind),
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
}

impl Replay {
    /// Records a command that does not match a recorded command event by position (update
    /// acceptance and completion), within the task's limits.
    fn push_unmatched(&mut self, cmd: Command) -> Result<(), Interrupt> {
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
    fn see_recorded_in(&mut self, at: EventId) {
        let task = self
            .task_starts
            .iter()
            .rposition(|(started, _)| *started < at)
            .unwrap_or(0);
        if task > self.current_task {
            self.current_task = task;
            self.publish_task();
        }
    }

    /// The recorded messages the code can see now (recorded before the task in which it runs
    /// at this point) and has not been given.
    fn visible_messages(&self) -> &[(EventId, types::Message)] {
        let frontier = self.task_starts[self.current_task].0;
        let rest = &self.messages[self.next_message.min(self.messages.len())..];
        let n = rest.iter().take_while(|(at, _)| *at < frontier).count();
        &rest[..n]
    }

    /// Refuses a close while messages the code could see were never delivered to it.
    fn all_messages_delivered(&self, how: &str) -> Result<(), Interrupt> {
        let left = self.visible_messages();
        if left.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = left
            .iter()
            .take(5)
            .map(|(at, m)| match m {
                types::Message::Signal((name, _)) => format!("signal '{name}' (event {at})"),
                types::Message::CancelRequested(_) => format!("cancel request (event {at})"),
                types::Message::Update(u) => format!("update '{}' (event {at})", u.name),
                types::Message::Query(q) => format!("query '{}'", q.name),
            })
            .collect();
        Err(Interrupt::UnhandledMessages(format!(
            "the workflow {how} while {} recorded message(s) it could see were never delivered to it: {}{}; take pending messages with take-messages (the SDKs do at the start of the code and after every wait) and handle them before closing. The run stays open",
            left.len(),
            list.join(", "),
            if left.len() > 5 { ", ..." } else { "" }
        )))
    }

    /// Moves workflow time to the task in which the code first saw event `at`.
    fn see(&mut self, at: EventId) {
        let task = self
            .task_starts
            .iter()
            .position(|(started, _)| *started > at)
            .unwrap_or(self.task_starts.len() - 1);
        if task > self.current_task {
            self.current_task = task;
            self.publish_task();
        }
    }

    /// The recorded marker of `change_id` at the current command position, if there is one.
    fn marker_here(&self, change_id: &str) -> bool {
        matches!(
            self.command_events.get(self.next_command).map(|e| &e.kind),
            Some(EventKind::MarkerRecorded { marker_name, details })
                if marker_name == PATCH_MARKER && details.0 == change_id.as_bytes()
        )
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
        self.command(cmd).map(|_| ())
    }

    /// One look at the history for `wait-any`: a wake, or `None` after a cached instance
    /// was resumed on a longer history (look again).
    fn try_wake(&mut self, handles: &[u32]) -> wasmtime::Result<Option<types::Wake>> {
        if self.update_state == UpdateState::Validating {
            return Err(self.stop(Interrupt::InvalidCall(
                "wait-any called while validating an update: call accept-update or reject-update first".into(),
            )));
        }
        if let (true, Extra::Query(q)) = (self.query_running, &self.extra) {
            let msg = format!("query handler '{}' must not wait", q.name);
            return Err(self.stop(Interrupt::InvalidCall(msg)));
        }
        let mut best: Option<(EventId, u32)> = None;
        for &h in handles {
            let Some((r, _)) = self.handles.get(h as usize).copied() else {
                return Err(self.stop(Interrupt::InvalidCall(format!(
                    "wait-any called with unknown handle {h}; this run has created {} handles",
                    self.handles.len()
                ))));
            };
            if let HandleRef::Recorded(start) = r
                && let Some((resolved_at, _)) = self.resolutions.get(&start)
                && best.is_none_or(|(b, _)| *resolved_at < b)
            {
                best = Some((*resolved_at, h));
            }
        }
        // A message recorded before every awaited result comes first.
        if let Some((at, msg)) = self.messages.get(self.next_message).cloned()
            && best.is_none_or(|(b, _)| at < b)
        {
            self.next_message += 1;
            if matches!(msg, types::Message::Update(_)) {
                // An accepted update was delivered in the task that recorded it (at the end
                // of that task's history), not in the next one.
                self.see_recorded_in(at);
            } else {
                self.see(at);
            }
            if matches!(msg, types::Message::CancelRequested(_)) {
                self.cancel_seen = true;
            }
            return Ok(Some(types::Wake::Message(msg)));
        }
        let Some((resolved_at, h)) = best else {
            if let Some(e) = self.unmatched() {
                return Err(self.stop(Interrupt::NonDeterminism(format!(
                    "the workflow waits, but the history has more commands from this point: {e} was not issued. Deploy the code that wrote this history"
                ))));
            }
            // Nothing left in the history: deliver what this task brings, else suspend.
            let last = self.task_starts.len() - 1;
            match &self.extra {
                Extra::Update(u) if self.update_state == UpdateState::Pending => {
                    let msg = types::Message::Update(types::UpdateRequest {
                        id: u.id.clone(),
                        name: u.name.clone(),
                        input: u.input.0.clone(),
                        validate: true,
                    });
                    self.update_state = UpdateState::Validating;
                    self.current_task = last;
                    self.publish_task();
                    return Ok(Some(types::Wake::Message(msg)));
                }
                Extra::Query(q) if !self.query_running => {
                    let msg = types::Message::Query(types::QueryRequest {
                        name: q.name.clone(),
                        input: q.input.0.clone(),
                    });
                    self.query_running = true;
                    return Ok(Some(types::Wake::Message(msg)));
                }
                _ => {}
            }
            self.suspend()?;
            return Ok(None);
        };
        self.see(resolved_at);
        let (HandleRef::Recorded(start), _) = self.handles[h as usize] else {
            unreachable!("only recorded handles resolve")
        };
        self.observed.insert(h);
        Ok(Some(types::Wake::Resolved((
            h,
            self.resolutions[&start].1.clone(),
        ))))
    }
}

/// For a cancel event whose cancellation type ends the wait on its operation as canceled, the
/// operation's start event: ActivityTaskCancelRequested and
/// RequestCancelExternalWorkflowExecutionInitiated (of a child) with TryCancel or Abandon, and
/// ExternalWorkflowExecutionCancelRequested after a child's WaitCancellationRequested.
/// `awaiting` maps such a request's event to its child's start event.
fn cancel_resolves(e: &Event, awaiting: &mut HashMap<EventId, EventId>) -> Option<EventId> {
    let at_once =
        |t: &CancellationType| matches!(t, CancellationType::TryCancel | CancellationType::Abandon);
    match &e.kind {
        EventKind::ActivityTaskCancelRequested {
            scheduled_event_id,
            cancellation_type,
        } if at_once(cancellation_type) => Some(*scheduled_event_id),
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id,
            cancellation_type,
            ..
        } if initiated_event_id.0 != 0 => {
            if *cancellation_type == CancellationType::WaitCancellationRequested {
                awaiting.insert(e.id, *initiated_event_id);
            }
            at_once(cancellation_type).then_some(*initiated_event_id)
        }
        EventKind::ExternalWorkflowExecutionCancelRequested {
            initiated_event_id, ..
        } => awaiting.remove(initiated_event_id),
        _ => None,
    }
}

/// True for commands recorded as a command event (matched by position on replay).
fn produces_command_event(cmd: &Command) -> bool {
    matches!(
        cmd,
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
            | Command::RequestCancelExternal { .. }
    )
}

/// Checks the target of `signal-external-workflow` / `request-cancel-external-workflow`.
fn check_external(call: &str, workflow_id: &str, run_id: &Option<String>) -> Result<(), String> {
    if workflow_id.is_empty() || workflow_id.len() > 1000 {
        return Err(format!(
            "{call}: the workflow id must have 1 to 1000 bytes, not {}",
            workflow_id.len()
        ));
    }
    if let Some(r) = run_id
        && RunId::parse(r).is_none()
    {
        return Err(format!(
            "{call} to '{workflow_id}': run id '{r}' is not a run id (a UUID as `info` gives)"
        ));
    }
    Ok(())
}

/// Marker name of `patched` change ids.
pub const PATCH_MARKER: &str = "patch";

/// Checks the arguments of schedule-activity as Temporal checks ScheduleActivityTask
/// attributes, and returns the retry policy with defaults filled in.
fn validate_activity(
    activity_type: &str,
    options: &types::ActivityOptions,
) -> Result<RetryPolicy, String> {
    let bad = |what: String| Err(format!("schedule-activity '{activity_type}': {what}"));
    if activity_type.is_empty() || activity_type.len() > 1000 {
        return bad(format!(
            "the activity type must have 1 to 1000 bytes, not {}",
            activity_type.len()
        ));
    }
    match &options.retry_policy {
        None => Ok(RetryPolicy::default()),
        Some(p) => retry_from_wit(p).checked().or_else(bad),
    }
}

/// A WIT retry policy as stored (zeros not yet filled in; see [`RetryPolicy::checked`]).
fn retry_from_wit(p: &types::RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        initial_interval_ms: p.initial_interval_ms,
        backoff_coefficient: p.backoff_coefficient,
        maximum_interval_ms: p.maximum_interval_ms,
        maximum_attempts: p.maximum_attempts,
        non_retryable_error_types: p.non_retryable_error_types.clone(),
    }
}

fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::ActivityTaskScheduled { activity_type, .. } => {
            format!("ActivityTaskScheduled(activity type '{activity_type}')")
        }
        EventKind::TimerStarted { duration_ms, .. } => format!("TimerStarted({duration_ms} ms)"),
        other => other.name().to_string(),
    }
}

/// A command as text, for non-determinism messages and replay verification.
pub fn describe_command(cmd: &Command) -> String {
    match cmd {
        Command::ScheduleActivity { activity_type, .. } => {
            format!("ScheduleActivityTask(activity type '{activity_type}')")
        }
        Command::StartTimer { duration_ms } => format!("StartTimer({duration_ms} ms)"),
        Command::RequestCancelActivity { .. } => "RequestCancelActivityTask".into(),
        Command::CancelTimer { .. } => "CancelTimer".into(),
        Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            ..
        } => format!("ScheduleNexusOperation({endpoint}/{service}/{operation})"),
        Command::RequestCancelNexusOperation { .. } => "RequestCancelNexusOperation".into(),
        Command::CompleteWorkflow { .. } => "CompleteWorkflowExecution".into(),
        Command::FailWorkflow { .. } => "FailWorkflowExecution".into(),
        Command::CancelWorkflow { .. } => "CancelWorkflowExecution".into(),
        Command::ContinueAsNew { .. } => "ContinueAsNewWorkflowExecution".into(),
        Command::RecordMarker { details, .. } => {
            format!(
                "RecordMarker(patch {:?})",
                String::from_utf8_lossy(&details.0)
            )
        }
        Command::AcceptUpdate { update_name, .. } => format!("AcceptUpdate({update_name})"),
        Command::CompleteUpdate { .. } => "CompleteUpdate".into(),
        Command::StartChild {
            workflow_type,
            workflow_id,
            ..
        } => format!("StartChildWorkflowExecution(type '{workflow_type}', id '{workflow_id}')"),
        Command::RequestCancelChild { .. } => "RequestCancelExternalWorkflowExecution".into(),
        Command::SignalExternal {
            workflow_id,
            signal_name,
            ..
        } => format!("SignalExternalWorkflowExecution(signal '{signal_name}', id '{workflow_id}')"),
        Command::RequestCancelExternal { workflow_id, .. } => {
            format!("RequestCancelExternalWorkflowExecution(id '{workflow_id}')")
        }
    }
}

/// Converts a stored failure to the WIT record.
pub fn to_wit_failure(f: &Failure) -> types::Failure {
    types::Failure {
        error_type: f.error_type.clone(),
        message: f.message.clone(),
        details: f.details.as_ref().map(|d| d.0.clone()),
        non_retryable: f.non_retryable,
    }
}

/// Converts a WIT failure to the stored form.
pub fn from_wit_failure(f: types::Failure) -> Failure {
    Failure {
        error_type: f.error_type,
        message: f.message,
        details: f.details.map(Payload),
        non_retryable: f.non_retryable,
    }
}

impl types::Host for Replay {}

impl host::Host for Replay {
    fn schedule_activity(
        &mut self,
        activity_type: String,
        input: Vec<u8>,
        options: types::ActivityOptions,
    ) -> wasmtime::Result<u32> {
        if let Err(i) = self.check_payload(&format!("input of activity {activity_type}"), &input) {
            return Err(self.stop(i));
        }
        let retry_policy = match validate_activity(&activity_type, &options) {
            Ok(p) => p,
            Err(msg) => return Err(self.stop(Interrupt::InvalidCall(msg))),
        };
        let task_queue = options
            .task_queue
            .clone()
            .unwrap_or_else(|| crate::history::DEFAULT_TASK_QUEUE.to_string());
        if !self.served.task_queues.contains(&task_queue) {
            let mut known: Vec<&String> = self.served.task_queues.iter().collect();
            known.sort();
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "schedule-activity '{activity_type}': task queue '{task_queue}' is not served in this namespace (served: {known:?})"
            ))));
        }
        let positive = |v: Option<u64>| v.filter(|t| *t > 0);
        let schedule_to_close = positive(options.schedule_to_close_timeout_ms);
        // Temporal: start-to-close defaults to schedule-to-close when only that is set.
        let start_to_close = positive(options.start_to_close_timeout_ms)
            .or(schedule_to_close)
            .unwrap_or(60_000);
        let cmd = Command::ScheduleActivity {
            activity_type,
            input: Payload(input),
            start_to_close_timeout_ms: start_to_close,
            retry_policy,
            schedule_to_close_timeout_ms: schedule_to_close,
            schedule_to_start_timeout_ms: positive(options.schedule_to_start_timeout_ms),
            heartbeat_timeout_ms: positive(options.heartbeat_timeout_ms),
            task_queue,
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }

    fn schedule_nexus_operation(
        &mut self,
        endpoint: String,
        service: String,
        operation: String,
        input: Vec<u8>,
        options: types::NexusOptions,
    ) -> wasmtime::Result<u32> {
        if let Err(i) = self.check_payload(
            &format!("input of Nexus operation {endpoint}/{service}/{operation}"),
            &input,
        ) {
            return Err(self.stop(i));
        }
        let key = (endpoint.clone(), service.clone(), operation.clone());
        if !self.served.nexus_operations.contains(&key) {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "schedule-nexus-operation: endpoint '{endpoint}' has no operation '{operation}' of service '{service}' in this namespace"
            ))));
        }
        let cmd = Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            input: Payload(input),
            schedule_to_close_timeout_ms: options.schedule_to_close_timeout_ms.filter(|t| *t > 0),
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }

    fn request_cancel(&mut self, h: u32) -> wasmtime::Result<()> {
        self.cancel(h, CancellationType::WaitCancellationCompleted)
            .map_err(|i| self.stop(i))
    }

    fn request_cancel_with(
        &mut self,
        h: u32,
        cancellation_type: types::CancellationType,
    ) -> wasmtime::Result<()> {
        let ty = match cancellation_type {
            types::CancellationType::WaitCancellationCompleted => {
                CancellationType::WaitCancellationCompleted
            }
            types::CancellationType::TryCancel => CancellationType::TryCancel,
            types::CancellationType::Abandon => CancellationType::Abandon,
            types::CancellationType::WaitCancellationRequested => {
                CancellationType::WaitCancellationRequested
            }
        };
        self.cancel(h, ty).map_err(|i| self.stop(i))
    }

    fn start_timer(&mut self, duration_ms: u64) -> wasmtime::Result<u32> {
        self.command(Command::StartTimer { duration_ms })
            .map_err(|i| self.stop(i))
    }

    fn wait_any(&mut self, handles: Vec<u32>) -> wasmtime::Result<types::Wake> {
        loop {
            if let Some(wake) = self.try_wake(&handles)? {
                return Ok(wake);
            }
            // Only a cached instance gets here: it was resumed on a longer history.
        }
    }

    fn take_messages(&mut self) -> wasmtime::Result<Vec<types::Message>> {
        if self.update_state == UpdateState::Validating {
            return Err(self.stop(Interrupt::InvalidCall(
                "take-messages called while validating an update: call accept-update or reject-update first".into(),
            )));
        }
        let taken: Vec<types::Message> = self
            .visible_messages()
            .iter()
            .map(|(_, m)| m.clone())
            .collect();
        self.next_message += taken.len();
        if taken
            .iter()
            .any(|m| matches!(m, types::Message::CancelRequested(_)))
        {
            self.cancel_seen = true;
        }
        Ok(taken)
    }

    fn start_child_workflow(
        &mut self,
        workflow_type: String,
        workflow_id: String,
        input: Vec<u8>,
        options: types::ChildOptions,
    ) -> wasmtime::Result<u32> {
        if let Err(i) =
            self.check_payload(&format!("input of child workflow {workflow_id}"), &input)
        {
            return Err(self.stop(i));
        }
        if workflow_type.is_empty() || workflow_id.is_empty() || workflow_id.len() > 1000 {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "start-child-workflow: the type must not be empty and the id must have 1 to 1000 bytes (type '{workflow_type}', id of {} bytes)",
                workflow_id.len()
            ))));
        }
        let retry_policy = match options
            .retry_policy
            .as_ref()
            .map(|p| retry_from_wit(p).checked())
        {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(msg)) => {
                return Err(self.stop(Interrupt::InvalidCall(format!(
                    "start-child-workflow '{workflow_id}': {msg}"
                ))));
            }
        };
        let positive = |v: Option<u64>| v.filter(|t| *t > 0);
        let policy = match options.parent_close_policy {
            None | Some(types::ParentClosePolicy::Terminate) => ParentClosePolicy::Terminate,
            Some(types::ParentClosePolicy::RequestCancel) => ParentClosePolicy::RequestCancel,
            Some(types::ParentClosePolicy::Abandon) => ParentClosePolicy::Abandon,
        };
        let cmd = Command::StartChild {
            workflow_type,
            workflow_id: WorkflowId(workflow_id),
            input: Payload(input),
            policy,
            options: WorkflowOptions {
                execution_timeout_ms: positive(options.execution_timeout_ms),
                run_timeout_ms: positive(options.run_timeout_ms),
                task_timeout_ms: positive(options.task_timeout_ms),
                retry_policy,
            },
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }

    fn signal_external_workflow(
        &mut self,
        workflow_id: String,
        run_id: Option<String>,
        signal_name: String,
        input: Vec<u8>,
    ) -> wasmtime::Result<u32> {
        if let Err(i) = self.check_payload(
            &format!("input of signal '{signal_name}' to workflow {workflow_id}"),
            &input,
        ) {
            return Err(self.stop(i));
        }
        if let Err(msg) = check_external("signal-external-workflow", &workflow_id, &run_id) {
            return Err(self.stop(Interrupt::InvalidCall(msg)));
        }
        if signal_name.is_empty() || signal_name.len() > 1000 {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "signal-external-workflow to '{workflow_id}': the signal name must have 1 to 1000 bytes, not {}",
                signal_name.len()
            ))));
        }
        let cmd = Command::SignalExternal {
            workflow_id: WorkflowId(workflow_id),
            run_id,
            signal_name,
            input: Payload(input),
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }

    fn request_cancel_external_workflow(
        &mut self,
        workflow_id: String,
        run_id: Option<String>,
        reason: String,
    ) -> wasmtime::Result<u32> {
        if let Err(msg) = check_external("request-cancel-external-workflow", &workflow_id, &run_id)
        {
            return Err(self.stop(Interrupt::InvalidCall(msg)));
        }
        if let Err(i) = self.check_payload(
            "reason of request-cancel-external-workflow",
            reason.as_bytes(),
        ) {
            return Err(self.stop(i));
        }
        let cmd = Command::RequestCancelExternal {
            workflow_id: WorkflowId(workflow_id),
            run_id,
            reason,
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }

    fn accept_update(&mut self, id: String) -> wasmtime::Result<()> {
        match (&self.extra, &self.update_state) {
            (Extra::Update(u), UpdateState::Validating) if u.id == id => {
                let cmd = Command::AcceptUpdate {
                    update_id: u.id.clone(),
                    update_name: u.name.clone(),
                    input: u.input.clone(),
                };
                self.update_state = UpdateState::Accepted;
                self.push_unmatched(cmd).map_err(|i| self.stop(i))
            }
            _ => Err(self.stop(Interrupt::InvalidCall(format!(
                "accept-update '{id}': no update with this id is being validated"
            )))),
        }
    }

    fn reject_update(&mut self, id: String, failure: types::Failure) -> wasmtime::Result<()> {
        match (&self.extra, &self.update_state) {
            (Extra::Update(u), UpdateState::Validating) if u.id == id => {
                self.update_state = UpdateState::Rejected(from_wit_failure(failure));
                Ok(())
            }
            _ => Err(self.stop(Interrupt::InvalidCall(format!(
                "reject-update '{id}': no update with this id is being validated"
            )))),
        }
    }

    fn complete_update(
        &mut self,
        id: String,
        outcome: Result<Vec<u8>, types::Failure>,
    ) -> wasmtime::Result<()> {
        if self.completed_updates.contains(&id) {
            return Ok(()); // recorded in the history (or already in this task)
        }
        let accepted_now = matches!(
            (&self.extra, &self.update_state),
            (Extra::Update(u), UpdateState::Accepted) if u.id == id
        );
        if !self.accepted_updates.contains(&id) && !accepted_now {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "complete-update '{id}': no accepted update has this id"
            ))));
        }
        if let Ok(p) = &outcome
            && let Err(i) = self.check_payload(&format!("result of update {id}"), p)
        {
            return Err(self.stop(i));
        }
        self.completed_updates.insert(id.clone());
        let cmd = Command::CompleteUpdate {
            update_id: id,
            outcome: outcome.map(Payload).map_err(from_wit_failure),
        };
        self.push_unmatched(cmd).map_err(|i| self.stop(i))
    }

    fn respond_query(&mut self, outcome: Result<Vec<u8>, types::Failure>) -> wasmtime::Result<()> {
        if !self.query_running {
            return Err(self.stop(Interrupt::InvalidCall(
                "respond-query called, but no query is being answered".into(),
            )));
        }
        self.query_answer = Some(outcome.map(Payload).map_err(from_wit_failure));
        Err(self.stop(Interrupt::QueryAnswered))
    }

    fn take_query(&mut self) -> wasmtime::Result<Option<types::QueryRequest>> {
        match &self.extra {
            Extra::Query(q) if !self.query_running => {
                let q = types::QueryRequest {
                    name: q.name.clone(),
                    input: q.input.0.clone(),
                };
                self.query_running = true;
                Ok(Some(q))
            }
            _ => Ok(None),
        }
    }

    fn continue_as_new(&mut self, input: Vec<u8>) -> wasmtime::Result<()> {
        if let Err(i) = self.check_payload("input of continue-as-new", &input) {
            return Err(self.stop(i));
        }
        if let Some(e) = self.unmatched() {
            return Err(self.stop(Interrupt::NonDeterminism(format!(
                "the workflow continued as new, but the history has more commands from this point: {e} was not issued"
            ))));
        }
        if self.query_running || self.update_state == UpdateState::Validating {
            return Err(self.stop(Interrupt::InvalidCall(
                "continue-as-new called from a query handler or an update validator".into(),
            )));
        }
        if let Err(i) = self.all_messages_delivered("continued as new") {
            return Err(self.stop(i));
        }
        self.new_commands.push(Command::ContinueAsNew {
            input: Payload(input),
        });
        Err(self.stop(Interrupt::ContinuedAsNew))
    }

    fn patched(&mut self, change_id: String) -> wasmtime::Result<bool> {
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

    fn deprecate_patch(&mut self, change_id: String) -> wasmtime::Result<()> {
        if self.marker_here(&change_id) {
            self.next_command += 1;
        }
        Ok(())
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(self.task_starts[self.current_task].1)
    }

    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.rng.next_u64())
    }

    fn info(&mut self) -> wasmtime::Result<types::WorkflowInfo> {
        Ok(types::WorkflowInfo {
            workflow_id: self.workflow_id.0.clone(),
            run_id: self.run.to_string(),
            workflow_type: self.workflow_type.clone(),
            task_attempt: self.attempt,
            attempt: self.info.attempt,
            continued_from_run_id: self.info.continued_from.map(|r| r.to_string()),
            parent_workflow_id: self.info.parent_workflow_id.as_ref().map(|w| w.0.clone()),
        })
    }
}
