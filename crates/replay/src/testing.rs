//! Canned histories for tests of the replay, without a guest or a store: a [`HistoryBuilder`]
//! that writes well-formed histories (contiguous event ids from 1, increasing times, Workflow
//! Tasks as Scheduled/Started/Completed triples) and [`replay`], which prepares the
//! [`Replay`] of one Workflow Task on such a history with a namespace that serves the
//! [`TASK_QUEUE`] and the [`NEXUS`] operation.
//!
//! The command events the builder writes are the ones the replay records for the same call
//! with default options, so they match in strict replay too:
//!
//! ```
//! use weft_replay::testing::{HistoryBuilder, replay};
//! use weft_replay::types::{ActivityOptions, Outcome, Wake};
//!
//! let mut b = HistoryBuilder::new("order");
//! b.task();
//! let charge = b.activity_scheduled("charge");
//! b.activity_completed(charge, b"42");
//! let mut r = replay(&b.build());
//! let h = r
//!     .schedule_activity("charge".into(), b"{}".to_vec(), ActivityOptions::default())
//!     .unwrap();
//! assert_eq!(
//!     r.wait_any(&[h]).unwrap(),
//!     Wake::Resolved(h, Outcome::Completed(b"42".to_vec()))
//! );
//! ```

use crate::{Replay, Served};
use std::sync::Arc;
use weft_core::history::{
    CancellationType, DEFAULT_TASK_QUEUE, Event, EventKind, Failure, ParentClosePolicy, Payload,
    RetryPolicy, WorkflowOptions,
};
use weft_core::ids::{EventId, RunId, WorkflowId};
use weft_core::limits::Limits;

/// Time of the WorkflowExecutionStarted event, milliseconds since the epoch.
pub const START_MS: u64 = 1_700_000_000_000;
/// How far [`HistoryBuilder::task`] moves time before a Workflow Task is scheduled, and how
/// long after the last event [`replay`]'s task starts.
pub const TASK_GAP_MS: u64 = 1_000;
/// Random seed of the runs [`HistoryBuilder::new`] starts.
pub const SEED: u64 = 7;
/// Workflow id of the run [`replay`] prepares.
pub const WORKFLOW_ID: &str = "wf-1";
/// Run id of the run [`replay`] prepares.
pub const RUN: RunId = RunId(0x0123_4567_89ab_4cde_8f01_2345_6789_abcd);
/// The activity task queue [`served`] serves (the default queue).
pub const TASK_QUEUE: &str = DEFAULT_TASK_QUEUE;
/// The Nexus operation [`served`] serves: (endpoint, service, operation).
pub const NEXUS: (&str, &str, &str) = ("test-endpoint", "test-service", "test-operation");
/// Input of the workflow and of the commands the builder records.
pub const INPUT: &[u8] = b"{}";
/// Start-to-close timeout the replay gives an activity scheduled with default options.
pub const ACTIVITY_START_TO_CLOSE_MS: u64 = 60_000;

/// Writes a well-formed history event by event. Methods that record an operation return its
/// event id, which the methods recording its outcome take.
#[derive(Clone, Debug)]
pub struct HistoryBuilder {
    events: Vec<Event>,
    now_ms: u64,
}

impl HistoryBuilder {
    /// A history with WorkflowExecutionStarted of `workflow_type` (input [`INPUT`], seed
    /// [`SEED`]) at [`START_MS`].
    pub fn new(workflow_type: &str) -> HistoryBuilder {
        HistoryBuilder::with_seed(workflow_type, SEED)
    }

    /// As [`HistoryBuilder::new`], with random seed `seed`.
    pub fn with_seed(workflow_type: &str, seed: u64) -> HistoryBuilder {
        let mut b = HistoryBuilder {
            events: Vec::new(),
            now_ms: START_MS,
        };
        b.event(EventKind::WorkflowExecutionStarted {
            workflow_type: workflow_type.into(),
            input: Payload(INPUT.to_vec()),
            random_seed: seed,
        });
        b
    }

    /// Appends `kind` as the next event, 1 ms after the previous one, and returns its id.
    pub fn event(&mut self, kind: EventKind) -> EventId {
        let id = EventId(self.events.len() as u64 + 1);
        if !self.events.is_empty() {
            self.now_ms += 1;
        }
        self.events.push(Event {
            id,
            time_ms: self.now_ms,
            kind,
        });
        id
    }

    /// Moves time forward by `ms` (the next event is recorded `ms` + 1 later).
    pub fn advance(&mut self, ms: u64) -> &mut HistoryBuilder {
        self.now_ms += ms;
        self
    }

    /// Time of the last event.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Id of the next event.
    pub fn next_id(&self) -> EventId {
        EventId(self.events.len() as u64 + 1)
    }

    /// A completed Workflow Task, [`TASK_GAP_MS`] after the last event:
    /// WorkflowTaskScheduled, WorkflowTaskStarted, WorkflowTaskCompleted. The command events
    /// that follow are its commands.
    pub fn task(&mut self) -> &mut HistoryBuilder {
        self.advance(TASK_GAP_MS);
        let scheduled = self.event(EventKind::WorkflowTaskScheduled { attempt: 1 });
        let started = self.event(EventKind::WorkflowTaskStarted {
            scheduled_event_id: scheduled,
        });
        self.event(EventKind::WorkflowTaskCompleted {
            started_event_id: started,
        });
        self
    }

    /// Start times of the completed Workflow Tasks so far (the workflow time of each), in
    /// order.
    pub fn task_starts_ms(&self) -> Vec<u64> {
        self.events
            .windows(2)
            .filter(|w| {
                matches!(w[0].kind, EventKind::WorkflowTaskStarted { .. })
                    && matches!(w[1].kind, EventKind::WorkflowTaskCompleted { .. })
            })
            .map(|w| w[0].time_ms)
            .collect()
    }

    /// WorkflowTaskScheduled of the task about to run (as a loaded history ends), returning
    /// its id.
    pub fn pending_task(&mut self) -> EventId {
        self.advance(TASK_GAP_MS);
        self.event(EventKind::WorkflowTaskScheduled { attempt: 1 })
    }

    /// ActivityTaskScheduled of `activity_type` as `schedule-activity` with input [`INPUT`]
    /// and default options records it.
    pub fn activity_scheduled(&mut self, activity_type: &str) -> EventId {
        self.event(EventKind::ActivityTaskScheduled {
            activity_type: activity_type.into(),
            input: Payload(INPUT.to_vec()),
            start_to_close_timeout_ms: ACTIVITY_START_TO_CLOSE_MS,
            retry_policy: RetryPolicy::default(),
            schedule_to_close_timeout_ms: None,
            schedule_to_start_timeout_ms: None,
            heartbeat_timeout_ms: None,
            task_queue: TASK_QUEUE.into(),
        })
    }

    /// ActivityTaskStarted (attempt 1) and ActivityTaskCompleted of the activity
    /// `scheduled`, returning the id of the completion.
    pub fn activity_completed(&mut self, scheduled: EventId, result: &[u8]) -> EventId {
        self.event(EventKind::ActivityTaskStarted {
            scheduled_event_id: scheduled,
            attempt: 1,
        });
        self.event(EventKind::ActivityTaskCompleted {
            scheduled_event_id: scheduled,
            result: Payload(result.to_vec()),
        })
    }

    /// ActivityTaskStarted (attempt 1) and ActivityTaskFailed of the activity `scheduled`.
    pub fn activity_failed(&mut self, scheduled: EventId, failure: Failure) -> EventId {
        self.event(EventKind::ActivityTaskStarted {
            scheduled_event_id: scheduled,
            attempt: 1,
        });
        self.event(EventKind::ActivityTaskFailed {
            scheduled_event_id: scheduled,
            failure,
        })
    }

    /// ActivityTaskTimedOut of the activity `scheduled`.
    pub fn activity_timed_out(&mut self, scheduled: EventId, failure: Failure) -> EventId {
        self.event(EventKind::ActivityTaskTimedOut {
            scheduled_event_id: scheduled,
            failure,
        })
    }

    /// ActivityTaskCancelRequested of the activity `scheduled` (a command event).
    pub fn activity_cancel_requested(
        &mut self,
        scheduled: EventId,
        cancellation_type: CancellationType,
    ) -> EventId {
        self.event(EventKind::ActivityTaskCancelRequested {
            scheduled_event_id: scheduled,
            cancellation_type,
        })
    }

    /// ActivityTaskCanceled of the activity `scheduled`.
    pub fn activity_canceled(&mut self, scheduled: EventId) -> EventId {
        self.event(EventKind::ActivityTaskCanceled {
            scheduled_event_id: scheduled,
        })
    }

    /// TimerStarted of `duration_ms`, due `duration_ms` after now.
    pub fn timer_started(&mut self, duration_ms: u64) -> EventId {
        let fire_at_ms = self.now_ms + 1 + duration_ms;
        self.event(EventKind::TimerStarted {
            duration_ms,
            fire_at_ms,
        })
    }

    /// TimerFired of the timer `started`.
    pub fn timer_fired(&mut self, started: EventId) -> EventId {
        self.event(EventKind::TimerFired {
            started_event_id: started,
        })
    }

    /// TimerCanceled of the timer `started` (a command event).
    pub fn timer_canceled(&mut self, started: EventId) -> EventId {
        self.event(EventKind::TimerCanceled {
            started_event_id: started,
        })
    }

    /// NexusOperationScheduled of `endpoint`/`service`/`operation` with input [`INPUT`] and
    /// no timeout.
    pub fn nexus_scheduled(&mut self, endpoint: &str, service: &str, operation: &str) -> EventId {
        let request_id = format!("request-{}", self.next_id());
        self.event(EventKind::NexusOperationScheduled {
            endpoint: endpoint.into(),
            service: service.into(),
            operation: operation.into(),
            input: Payload(INPUT.to_vec()),
            request_id,
            schedule_to_close_timeout_ms: None,
        })
    }

    /// NexusOperationStarted of the operation `scheduled` (asynchronous operations).
    pub fn nexus_started(&mut self, scheduled: EventId) -> EventId {
        self.event(EventKind::NexusOperationStarted {
            scheduled_event_id: scheduled,
            operation_token: format!("token-{scheduled}"),
        })
    }

    /// NexusOperationCompleted of the operation `scheduled`.
    pub fn nexus_completed(&mut self, scheduled: EventId, result: &[u8]) -> EventId {
        self.event(EventKind::NexusOperationCompleted {
            scheduled_event_id: scheduled,
            result: Payload(result.to_vec()),
        })
    }

    /// NexusOperationFailed of the operation `scheduled`.
    pub fn nexus_failed(&mut self, scheduled: EventId, failure: Failure) -> EventId {
        self.event(EventKind::NexusOperationFailed {
            scheduled_event_id: scheduled,
            failure,
        })
    }

    /// NexusOperationCancelRequested of the operation `scheduled` (a command event).
    pub fn nexus_cancel_requested(&mut self, scheduled: EventId) -> EventId {
        self.event(EventKind::NexusOperationCancelRequested {
            scheduled_event_id: scheduled,
        })
    }

    /// NexusOperationCanceled of the operation `scheduled`.
    pub fn nexus_canceled(&mut self, scheduled: EventId) -> EventId {
        self.event(EventKind::NexusOperationCanceled {
            scheduled_event_id: scheduled,
        })
    }

    /// StartChildWorkflowExecutionInitiated of a child `workflow_type` with id `workflow_id`,
    /// input [`INPUT`] and default options, as `start-child-workflow` records it.
    pub fn child_initiated(&mut self, workflow_type: &str, workflow_id: &str) -> EventId {
        self.event(EventKind::StartChildWorkflowExecutionInitiated {
            workflow_id: workflow_id.into(),
            workflow_type: workflow_type.into(),
            input: Payload(INPUT.to_vec()),
            parent_close_policy: ParentClosePolicy::Terminate,
            options: WorkflowOptions::default(),
        })
    }

    /// ChildWorkflowExecutionStarted of the child `initiated`.
    pub fn child_started(&mut self, initiated: EventId) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::ChildWorkflowExecutionStarted {
            initiated_event_id: initiated,
            workflow_id,
            run_id: RunId(initiated.0 as u128).to_string(),
        })
    }

    /// ChildWorkflowExecutionCompleted of the child `initiated`.
    pub fn child_completed(&mut self, initiated: EventId, result: &[u8]) -> EventId {
        self.event(EventKind::ChildWorkflowExecutionCompleted {
            initiated_event_id: initiated,
            result: Payload(result.to_vec()),
        })
    }

    /// ChildWorkflowExecutionFailed of the child `initiated`.
    pub fn child_failed(&mut self, initiated: EventId, failure: Failure) -> EventId {
        self.event(EventKind::ChildWorkflowExecutionFailed {
            initiated_event_id: initiated,
            failure,
        })
    }

    /// StartChildWorkflowExecutionFailed of the child `initiated`, with `cause` (one of
    /// [`weft_core::history::child_start_cause`]).
    pub fn child_start_failed(&mut self, initiated: EventId, cause: &str) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::StartChildWorkflowExecutionFailed {
            initiated_event_id: initiated,
            workflow_id,
            cause: cause.into(),
        })
    }

    /// RequestCancelExternalWorkflowExecutionInitiated of the child `initiated` (a command
    /// event).
    pub fn child_cancel_requested(
        &mut self,
        initiated: EventId,
        cancellation_type: CancellationType,
    ) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: initiated,
            workflow_id,
            cancellation_type,
        })
    }

    /// ChildWorkflowExecutionCanceled of the child `initiated`.
    pub fn child_canceled(&mut self, initiated: EventId) -> EventId {
        self.event(EventKind::ChildWorkflowExecutionCanceled {
            initiated_event_id: initiated,
        })
    }

    /// SignalExternalWorkflowExecutionInitiated of signal `signal_name` (input [`INPUT`]) to
    /// the current run of `workflow_id`.
    pub fn signal_external_initiated(&mut self, workflow_id: &str, signal_name: &str) -> EventId {
        self.event(EventKind::SignalExternalWorkflowExecutionInitiated {
            workflow_id: workflow_id.into(),
            run_id: None,
            signal_name: signal_name.into(),
            input: Payload(INPUT.to_vec()),
        })
    }

    /// RequestCancelExternalWorkflowExecutionInitiated of another workflow (initiated event
    /// id 0), as `request-cancel-external-workflow` records it.
    pub fn cancel_external_initiated(&mut self, workflow_id: &str) -> EventId {
        self.event(EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: EventId(0),
            workflow_id: workflow_id.into(),
            cancellation_type: CancellationType::default(),
        })
    }

    /// ExternalWorkflowExecutionSignaled of the signal `initiated`.
    pub fn external_signaled(&mut self, initiated: EventId) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::ExternalWorkflowExecutionSignaled {
            initiated_event_id: initiated,
            workflow_id,
            run_id: RunId(initiated.0 as u128).to_string(),
        })
    }

    /// ExternalWorkflowExecutionCancelRequested of the cancel request `initiated` (of a child
    /// or another workflow).
    pub fn external_cancel_requested(&mut self, initiated: EventId) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::ExternalWorkflowExecutionCancelRequested {
            initiated_event_id: initiated,
            workflow_id,
        })
    }

    /// SignalExternalWorkflowExecutionFailed of the signal `initiated`, with `cause` (one of
    /// [`weft_core::history::external_cause`]).
    pub fn signal_external_failed(&mut self, initiated: EventId, cause: &str) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::SignalExternalWorkflowExecutionFailed {
            initiated_event_id: initiated,
            workflow_id,
            cause: cause.into(),
        })
    }

    /// RequestCancelExternalWorkflowExecutionFailed of the cancel request `initiated`.
    pub fn cancel_external_failed(&mut self, initiated: EventId, cause: &str) -> EventId {
        let workflow_id = self.target_id(initiated);
        self.event(EventKind::RequestCancelExternalWorkflowExecutionFailed {
            initiated_event_id: initiated,
            workflow_id,
            cause: cause.into(),
        })
    }

    /// MarkerRecorded of `patched(change_id)`.
    pub fn patch_marker(&mut self, change_id: &str) -> EventId {
        self.event(EventKind::MarkerRecorded {
            marker_name: crate::PATCH_MARKER.into(),
            details: Payload(change_id.as_bytes().to_vec()),
        })
    }

    /// WorkflowExecutionSignaled: signal `signal_name` with `input`.
    pub fn signal(&mut self, signal_name: &str, input: &[u8]) -> EventId {
        self.event(EventKind::WorkflowExecutionSignaled {
            signal_name: signal_name.into(),
            input: Payload(input.to_vec()),
        })
    }

    /// WorkflowExecutionCancelRequested with `reason`.
    pub fn cancel_requested(&mut self, reason: &str) -> EventId {
        self.event(EventKind::WorkflowExecutionCancelRequested {
            reason: reason.into(),
        })
    }

    /// WorkflowExecutionUpdateAccepted of update `update_id` of handler `update_name`.
    pub fn update_accepted(&mut self, update_id: &str, update_name: &str, input: &[u8]) -> EventId {
        self.event(EventKind::WorkflowExecutionUpdateAccepted {
            update_id: update_id.into(),
            update_name: update_name.into(),
            input: Payload(input.to_vec()),
        })
    }

    /// WorkflowExecutionUpdateCompleted of update `update_id` with `outcome`.
    pub fn update_completed(
        &mut self,
        update_id: &str,
        outcome: Result<&[u8], Failure>,
    ) -> EventId {
        let (result, failure) = match outcome {
            Ok(p) => (Some(Payload(p.to_vec())), None),
            Err(f) => (None, Some(f)),
        };
        self.event(EventKind::WorkflowExecutionUpdateCompleted {
            update_id: update_id.into(),
            result,
            failure,
        })
    }

    /// The history written so far.
    pub fn build(&self) -> Vec<Event> {
        self.events.clone()
    }

    /// The workflow id recorded by the command event `initiated` (a child's start, an external
    /// signal or cancel request).
    fn target_id(&self, initiated: EventId) -> String {
        match self
            .events
            .get((initiated.0 as usize).wrapping_sub(1))
            .map(|e| &e.kind)
        {
            Some(
                EventKind::StartChildWorkflowExecutionInitiated { workflow_id, .. }
                | EventKind::SignalExternalWorkflowExecutionInitiated { workflow_id, .. }
                | EventKind::RequestCancelExternalWorkflowExecutionInitiated { workflow_id, .. },
            ) => workflow_id.clone(),
            other => panic!("event {initiated} does not name a workflow: {other:?}"),
        }
    }
}

/// What the namespace of [`replay`] serves: the activity queue [`TASK_QUEUE`] and the Nexus
/// operation [`NEXUS`], in lenient replay.
pub fn served() -> Served {
    let mut served = Served::default();
    served.task_queues.insert(TASK_QUEUE.into());
    let (endpoint, service, operation) = NEXUS;
    served
        .nexus_operations
        .insert((endpoint.into(), service.into(), operation.into()));
    served
}

/// The replay of a Workflow Task of run [`RUN`] (workflow id [`WORKFLOW_ID`], task attempt 1,
/// default limits) on `history`, with [`served`]. The task starts [`TASK_GAP_MS`] after the
/// last event.
pub fn replay(history: &[Event]) -> Replay {
    replay_with(history, served())
}

/// [`replay`] with another namespace configuration.
pub fn replay_with(history: &[Event], served: Served) -> Replay {
    Replay::new(
        RUN,
        WorkflowId(WORKFLOW_ID.into()),
        history,
        1,
        task_start_ms(history),
        Limits::default(),
        Arc::new(served),
    )
}

/// When the task [`replay`] prepares on `history` starts: [`TASK_GAP_MS`] after its last
/// event.
pub fn task_start_ms(history: &[Event]) -> u64 {
    history.last().map_or(START_MS, |e| e.time_ms) + TASK_GAP_MS
}
