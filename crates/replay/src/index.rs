//! Reading a history once, at the start of a task (and, for a cached instance, what it gained
//! since): the command events in order, how each awaited operation resolved and at which
//! event, the messages in history order, the start time of every completed Workflow Task, the
//! run's type and random seed.

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
        let log = Arc::new(GuestLog {
            context: format!("{workflow_id}/{run}"),
            ..GuestLog::default()
        });
        let mut replay = Replay {
            workflow_id,
            run,
            workflow_type: String::new(),
            attempt,
            command_events: Vec::new(),
            next_command: 0,
            resolutions: HashMap::new(),
            handles: Vec::new(),
            observed: HashSet::new(),
            cancel_asked: HashSet::new(),
            served,
            strict: false,
            messages: Vec::new(),
            next_message: 0,
            cancel_seen: false,
            completed_updates: HashSet::new(),
            accepted_updates: HashSet::new(),
            extra: Extra::None,
            update_state: UpdateState::Pending,
            query_running: false,
            query_answer: None,
            info: RunInfo {
                attempt: 1,
                ..RunInfo::default()
            },
            clock: Arc::new(AtomicU64::new(0)),
            task_starts: Vec::new(),
            current_task: 0,
            log,
            seed: 0,
            rng: SeededRng::new(0),
            new_commands: Vec::new(),
            history_len: 0,
            awaiting_cancel: HashMap::new(),
            open_task_start: None,
            limits,
            interrupt: None,
            sticky: None,
            sent_commands: Vec::new(),
            task_started: std::time::Instant::now(),
        };
        replay.index(history, started_ms);
        replay.rng = SeededRng::new(replay.seed);
        replay.strict = replay.served.replay_mode_of(&replay.workflow_type) == ReplayMode::Strict;
        replay.publish_task();
        replay
    }

    /// Indexes `events`, the ones that follow those indexed so far, for a task that started
    /// at `started_ms`: the command events in order, how each awaited operation resolved and
    /// at which event, the messages in history order, the start time of every completed
    /// Workflow Task, the run's type and random seed. A cached instance indexes only what
    /// its run's history gained since its last task.
    // Long but flat: one pass over the events, one arm per kind of event it indexes.
    pub(crate) fn index(&mut self, events: &[Event], started_ms: u64) {
        // The last entry stands for the task now running.
        if self
            .task_starts
            .last()
            .is_some_and(|(id, _)| id.0 == u64::MAX)
        {
            self.task_starts.pop();
        }
        for e in events {
            if let Some(start) = self.open_task_start.take()
                && matches!(e.kind, EventKind::WorkflowTaskCompleted { .. })
            {
                self.task_starts.push(start);
            }
            match &e.kind {
                EventKind::WorkflowExecutionSignaled { signal_name, input } => self
                    .messages
                    .push((e.id, Message::Signal(signal_name.clone(), input.0.clone()))),
                EventKind::WorkflowExecutionCancelRequested { reason } => self
                    .messages
                    .push((e.id, Message::CancelRequested(reason.clone()))),
                EventKind::WorkflowExecutionUpdateAccepted {
                    update_id,
                    update_name,
                    input,
                } => {
                    self.accepted_updates.insert(update_id.clone());
                    self.messages.push((
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
                    self.completed_updates.insert(update_id.clone());
                }
                EventKind::WorkflowExecutionStarted {
                    workflow_type: t,
                    random_seed,
                    ..
                } => {
                    self.workflow_type = t.clone();
                    self.seed = *random_seed;
                }
                EventKind::WorkflowTaskStarted { .. } => {
                    self.open_task_start = Some((e.id, e.time_ms));
                }
                k if k.is_command_event() => self.command_events.push(e.clone()),
                _ => {}
            }
            if let Some(start) = e.kind.resolves() {
                let outcome = outcome_of(e);
                // The first resolution counts (a timer canceled after it fired stays fired).
                self.resolutions.entry(start).or_insert((e.id, outcome));
            }
            if let Some(start) = cancel_resolves(e, &mut self.awaiting_cancel) {
                self.resolutions
                    .entry(start)
                    .or_insert((e.id, Outcome::Canceled));
            }
        }
        self.history_len += events.len() as u64;
        self.task_starts.push((EventId(u64::MAX), started_ms));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{HistoryBuilder, served};
    use weft_core::history::CancellationType;

    fn replay_of(history: &[Event]) -> Replay {
        Replay::new(
            RunId(7),
            WorkflowId("w".into()),
            history,
            1,
            99_999,
            Limits::default(),
            Arc::new(served()),
        )
    }

    /// A history with an event of every kind the index looks at, tasks in between.
    fn rich_history() -> Vec<Event> {
        let mut b = HistoryBuilder::new("t");
        b.task();
        let a = b.activity_scheduled("a");
        let t = b.timer_started(10);
        let c = b.child_initiated("child", "c-1");
        b.signal("go", b"1");
        b.task();
        b.activity_completed(a, b"r");
        b.timer_fired(t);
        b.child_started(c);
        b.child_cancel_requested(c, CancellationType::WaitCancellationRequested);
        b.update_accepted("u1", "bump", b"2");
        b.task();
        let a2 = b.activity_scheduled("a");
        b.activity_cancel_requested(a2, CancellationType::TryCancel);
        b.external_cancel_requested(c);
        b.cancel_requested("stop");
        b.update_completed("u1", Ok(b"3"));
        b.task();
        b.pending_task();
        b.build()
    }

    /// A cached instance indexes only what the history gained: indexing a history in two
    /// parts, split anywhere, gives the index of the whole.
    #[test]
    fn indexing_in_parts_gives_the_index_of_the_whole() {
        let history = rich_history();
        let whole = replay_of(&history);
        assert!(whole.task_starts.len() > 3 && !whole.command_events.is_empty());
        for k in 1..history.len() {
            let mut parts = replay_of(&history[..k]);
            parts.index(&history[k..], 99_999);
            assert_eq!(parts.command_events, whole.command_events, "split at {k}");
            assert_eq!(parts.resolutions, whole.resolutions, "split at {k}");
            assert_eq!(parts.messages, whole.messages, "split at {k}");
            assert_eq!(parts.task_starts, whole.task_starts, "split at {k}");
            assert_eq!(
                parts.completed_updates, whole.completed_updates,
                "split at {k}"
            );
            assert_eq!(
                parts.accepted_updates, whole.accepted_updates,
                "split at {k}"
            );
            assert_eq!(parts.awaiting_cancel, whole.awaiting_cancel, "split at {k}");
            assert_eq!(parts.history_len, whole.history_len, "split at {k}");
            assert_eq!(parts.workflow_type, whole.workflow_type);
            assert_eq!(parts.seed, whole.seed);
        }
    }
}
