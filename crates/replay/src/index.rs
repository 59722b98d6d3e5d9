//! Reading a history once, at the start of a task: the command events in order, how each
//! awaited operation resolved and at which event, the messages in history order, the start
//! time of every completed Workflow Task, the run's type and random seed.

use crate::determinism::{GuestLog, SeededRng};
use crate::machine::Replay;
use crate::strict::ReplayMode;
use crate::task::{Extra, RunInfo, Served, UpdateState};
use crate::types::{Message, Outcome, UpdateMessage};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use weft_core::history::{CancellationType, Event, EventKind, Failure};
use weft_core::ids::{EventId, RunId, WorkflowId};
use weft_core::limits::Limits;

impl Replay {
    /// Prepares the replay of `history` for a task that started at `started_ms`.
    // Long but flat: one pass over the history, one arm per kind of event it indexes.
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
                EventKind::WorkflowExecutionSignaled { signal_name, input } => {
                    messages.push((e.id, Message::Signal(signal_name.clone(), input.0.clone())))
                }
                EventKind::WorkflowExecutionCancelRequested { reason } => {
                    messages.push((e.id, Message::CancelRequested(reason.clone())))
                }
                EventKind::WorkflowExecutionUpdateAccepted {
                    update_id,
                    update_name,
                    input,
                } => {
                    accepted_updates.insert(update_id.clone());
                    messages.push((
                        e.id,
                        Message::Update(UpdateMessage {
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
                let outcome = outcome_of(e);
                // The first resolution counts (a timer canceled after it fired stays fired).
                resolutions.entry(start).or_insert((e.id, outcome));
            }
            if let Some(start) = cancel_resolves(e, &mut awaiting_cancel_requested) {
                resolutions
                    .entry(start)
                    .or_insert((e.id, Outcome::Canceled));
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

/// The outcome the code receives for the resolving event `e`.
fn outcome_of(e: &Event) -> Outcome {
    match &e.kind {
        EventKind::ActivityTaskCompleted { result, .. }
        | EventKind::NexusOperationCompleted { result, .. }
        | EventKind::ChildWorkflowExecutionCompleted { result, .. } => {
            Outcome::Completed(result.0.clone())
        }
        EventKind::ChildWorkflowExecutionFailed { failure, .. } => Outcome::Failed(failure.clone()),
        EventKind::ChildWorkflowExecutionTerminated { .. } => Outcome::Failed(Failure::new(
            "Terminated",
            "the child workflow was terminated",
        )),
        EventKind::ChildWorkflowExecutionTimedOut { .. } => {
            Outcome::Failed(Failure::new("TimedOut", "the child workflow timed out"))
        }
        EventKind::StartChildWorkflowExecutionFailed {
            workflow_id, cause, ..
        } => Outcome::Failed(Failure::new(
            cause.clone(),
            format!(
                "child workflow {workflow_id} could not be started: {}",
                weft_core::history::child_start_cause::describe(cause)
            ),
        )),
        EventKind::ChildWorkflowExecutionCanceled { .. } => Outcome::Canceled,
        EventKind::ExternalWorkflowExecutionSignaled { .. }
        | EventKind::ExternalWorkflowExecutionCancelRequested { .. } => {
            Outcome::Completed(Vec::new())
        }
        EventKind::SignalExternalWorkflowExecutionFailed {
            workflow_id, cause, ..
        }
        | EventKind::RequestCancelExternalWorkflowExecutionFailed {
            workflow_id, cause, ..
        } => Outcome::Failed(Failure::new(
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
                weft_core::history::external_cause::describe(cause)
            ),
        )),
        EventKind::ActivityTaskFailed { failure, .. }
        | EventKind::ActivityTaskTimedOut { failure, .. }
        | EventKind::NexusOperationFailed { failure, .. }
        | EventKind::NexusOperationTimedOut { failure, .. } => Outcome::Failed(failure.clone()),
        EventKind::ActivityTaskCanceled { .. }
        | EventKind::TimerCanceled { .. }
        | EventKind::NexusOperationCanceled { .. } => Outcome::Canceled,
        _ => Outcome::Fired,
    }
}
