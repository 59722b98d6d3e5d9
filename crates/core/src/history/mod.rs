//! Event types of a run's history and their versioned on-disk encoding.
//!
//! Names follow Temporal's event types so users of that ecosystem recognise them. Every stored
//! value starts with a one-byte format version; a value written by a newer weft is refused with
//! [`EncodingError::NewerFormat`] instead of being misread. This module does not touch the
//! database (see `store`) and does not interpret events for replay (see `replay`).

use crate::ids::EventId;
use serde::{Deserialize, Serialize};

mod codec;
mod display;
mod file;
mod payload;

pub use codec::{EncodingError, decode, decode_event, encode};
pub use file::{HistoryFile, HistoryFileError};
pub use payload::{Failure, Payload, RetryPolicy};

/// Format version written by this release in front of every encoded event and task.
pub const FORMAT_VERSION: u8 = 3;

/// Why a Workflow Task failed. The execution stays open; the task is retried with backoff.
///
/// Stored on disk inside events, by postcard variant index: append-only (never reorder, remove
/// or insert a variant in the middle). The golden fixtures of `crates/core/tests/golden.rs`
/// pin every variant and fail when this is broken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WorkflowTaskFailedCause {
    /// The code issued commands that do not match the recorded history.
    NonDeterminism,
    /// The guest trapped (a panic, an unreachable, an invalid call).
    GuestTrap,
    /// The component could not be instantiated (missing type, link error).
    InstantiationFailed,
    /// A limit of the task was exceeded.
    LimitExceeded,
    /// The workflow called an import with invalid arguments, such as a retry policy with a
    /// backoff coefficient below 1 (Temporal's BadScheduleActivityAttributes and kin).
    BadCommand,
    /// The workflow closed its run while recorded messages it could see were never delivered
    /// to it (Temporal's UnhandledCommand): the close is refused and the task retried.
    /// Appended last: postcard stores a variant by its index.
    UnhandledCommand,
    /// An operator reset the run to this task (Temporal's ResetWorkflow): the task runs again
    /// in a new run on the current code. Appended last: postcard stores a variant by its index.
    ResetWorkflow,
}

/// What happens to a running child workflow when its parent's run closes (Temporal's
/// ParentClosePolicy).
///
/// Stored on disk inside events, by postcard variant index: append-only (never reorder, remove
/// or insert a variant in the middle). The golden fixtures of `crates/core/tests/golden.rs`
/// pin every variant and fail when this is broken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentClosePolicy {
    /// The child is terminated (the default).
    #[default]
    Terminate,
    /// The child receives a cancel request.
    RequestCancel,
    /// The child keeps running.
    Abandon,
}

/// Whether a workflow id may be started again once its run closed (Temporal's
/// WorkflowIdReusePolicy). A running id is always refused.
///
/// Stored on disk in run records (see `store`), by postcard variant index: append-only (never
/// reorder, remove or insert a variant in the middle). Not inside events, so the event golden
/// fixtures of `crates/core/tests/golden.rs` do not cover it.
///
/// ```
/// use weft_core::history::IdReusePolicy;
/// assert_eq!(IdReusePolicy::default(), IdReusePolicy::AllowDuplicate);
/// // An id that names one payment, never to be run twice:
/// let once = IdReusePolicy::RejectDuplicate;
/// assert_ne!(once, IdReusePolicy::AllowDuplicateFailedOnly);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdReusePolicy {
    /// A new run may start after any close (the default).
    #[default]
    AllowDuplicate,
    /// A new run may start only if the last one did not complete successfully.
    AllowDuplicateFailedOnly,
    /// The id may never be used again.
    RejectDuplicate,
}

/// How the workflow's wait on an operation it asked to cancel ends (Temporal's
/// ActivityCancellationType and ChildWorkflowCancellationType). Recorded in the cancel
/// command's event, so a replay resolves the wait at the same event. Stored by postcard index:
/// append variants only (never reorder, remove or insert in the middle); index 0 is what events
/// written before this field decode to. The golden fixtures of `crates/core/tests/golden.rs`
/// pin every variant in both cancel events and fail when this is broken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancellationType {
    /// The wait ends when the operation ends (canceled, completed or failed): the default.
    #[default]
    WaitCancellationCompleted,
    /// The cancel is requested and the wait ends as canceled at the cancel command's event;
    /// what the operation reports later is recorded but not handed to the code.
    TryCancel,
    /// Nothing is sent to the operation; the wait ends as canceled at the cancel command's
    /// event.
    Abandon,
    /// Children only: the wait ends as canceled when the child's cancel request is recorded
    /// (ExternalWorkflowExecutionCancelRequested).
    WaitCancellationRequested,
}

/// Options of a workflow execution, kept across its runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowOptions {
    /// Maximum time of the whole execution, over retries and continue-as-new runs.
    pub execution_timeout_ms: Option<u64>,
    /// Maximum time of one run.
    pub run_timeout_ms: Option<u64>,
    /// Maximum time of one Workflow Task (capped by the host's task time limit, `Limits::max_task_time`).
    pub task_timeout_ms: Option<u64>,
    /// Retry policy of the execution: a failed or timed-out run starts again as a new run.
    pub retry_policy: Option<RetryPolicy>,
}

/// What happened, as recorded in the history.
///
/// The on-disk encoding is a contract (histories are never rewritten): postcard stores an enum
/// variant by its index, not its name, and a variant's fields by position. So variants are
/// append-only: never reorder, remove or insert one in the middle, or stored events decode as
/// another kind or not at all. New fields go last in their variant, with a decode rule for
/// events written without them (see [`decode_event`]), or a new format version with an old
/// layout module such as `v1`. The same holds for the enums and structs inside events
/// ([`WorkflowTaskFailedCause`], [`ParentClosePolicy`], [`CancellationType`], [`Failure`],
/// [`RetryPolicy`], [`WorkflowOptions`]). The golden fixtures in `crates/core/tests/` (one
/// encoded sample of every kind and inner variant, for every format version) fail when this
/// is broken.
///
/// ```
/// use weft_core::history::EventKind;
/// use weft_core::ids::EventId;
/// let started = EventKind::TimerStarted { duration_ms: 60_000, fire_at_ms: 1_700_000_060_000 };
/// let fired = EventKind::TimerFired { started_event_id: EventId(5) };
/// assert_eq!(fired.name(), "TimerFired"); // Temporal's name
/// assert!(started.is_command_event() && !fired.is_command_event());
/// assert_eq!(fired.resolves(), Some(EventId(5))); // the TimerStarted it ends
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// The run was created.
    WorkflowExecutionStarted {
        /// Registered workflow type.
        workflow_type: String,
        /// Input of `run`.
        input: Payload,
        /// Seed of the run's deterministic random generator.
        random_seed: u64,
    },
    /// A Workflow Task was scheduled.
    WorkflowTaskScheduled {
        /// Attempt of the task (1 unless earlier attempts failed).
        attempt: u32,
    },
    /// A Workflow Task began; its time is the workflow time seen during that task.
    WorkflowTaskStarted {
        /// The WorkflowTaskScheduled event.
        scheduled_event_id: EventId,
    },
    /// A Workflow Task completed; the command events that follow it are its commands.
    WorkflowTaskCompleted {
        /// The WorkflowTaskStarted event.
        started_event_id: EventId,
    },
    /// A Workflow Task failed. Recorded for the first failed attempt of a series only.
    WorkflowTaskFailed {
        /// The WorkflowTaskStarted event.
        started_event_id: EventId,
        /// Why it failed.
        cause: WorkflowTaskFailedCause,
        /// What happened and what to do.
        message: String,
    },
    /// The workflow scheduled an activity.
    ActivityTaskScheduled {
        /// Registered activity type.
        activity_type: String,
        /// Its input.
        input: Payload,
        /// Maximum time of one attempt.
        start_to_close_timeout_ms: u64,
        /// Resolved retry policy.
        retry_policy: RetryPolicy,
        /// Maximum time from scheduling to the outcome, over all attempts.
        schedule_to_close_timeout_ms: Option<u64>,
        /// Maximum time an attempt waits in its queue.
        schedule_to_start_timeout_ms: Option<u64>,
        /// Maximum gap between heartbeats of an attempt.
        heartbeat_timeout_ms: Option<u64>,
        /// Task queue.
        task_queue: String,
    },
    /// The activity's final attempt started (written with its outcome, as Temporal does when
    /// a retry policy is set).
    ActivityTaskStarted {
        /// The ActivityTaskScheduled event.
        scheduled_event_id: EventId,
        /// Attempt number of the final attempt.
        attempt: u32,
    },
    /// The activity returned a result.
    ActivityTaskCompleted {
        /// The ActivityTaskScheduled event.
        scheduled_event_id: EventId,
        /// Its result.
        result: Payload,
    },
    /// The activity failed and will not be retried.
    ActivityTaskFailed {
        /// The ActivityTaskScheduled event.
        scheduled_event_id: EventId,
        /// The last attempt's failure.
        failure: Failure,
    },
    /// The workflow started a durable timer.
    TimerStarted {
        /// Requested duration.
        duration_ms: u64,
        /// Absolute due time, milliseconds since the epoch.
        fire_at_ms: u64,
    },
    /// A timer fired.
    TimerFired {
        /// The TimerStarted event.
        started_event_id: EventId,
    },
    /// The workflow returned a result; the run is closed.
    WorkflowExecutionCompleted {
        /// The result.
        result: Payload,
    },
    /// The workflow returned an error; the run is closed.
    WorkflowExecutionFailed {
        /// The error.
        failure: Failure,
    },
    /// The host closed the run without running workflow code (for example, its history
    /// reached the limit, as Temporal force-terminates).
    WorkflowExecutionTerminated {
        /// Why.
        reason: String,
    },
    /// The activity timed out (schedule-to-close, schedule-to-start, or the last attempt's
    /// start-to-close or heartbeat timeout) and will not be retried.
    ActivityTaskTimedOut {
        /// The ActivityTaskScheduled event.
        scheduled_event_id: EventId,
        /// The timeout, as a failure whose type names it.
        failure: Failure,
    },
    /// The workflow requested cancellation of an activity. With `Abandon` nothing is sent to
    /// the activity (weft records the event anyway: the wait resolves at it).
    ActivityTaskCancelRequested {
        /// The ActivityTaskScheduled event.
        scheduled_event_id: EventId,
        /// How the workflow's wait ends. Must stay the variant's last field (see
        /// [`decode_event`]).
        cancellation_type: CancellationType,
    },
    /// The activity was canceled.
    ActivityTaskCanceled {
        /// The ActivityTaskScheduled event.
        scheduled_event_id: EventId,
    },
    /// The workflow canceled a timer.
    TimerCanceled {
        /// The TimerStarted event.
        started_event_id: EventId,
    },
    /// The workflow scheduled a Nexus operation.
    NexusOperationScheduled {
        /// Endpoint.
        endpoint: String,
        /// Service.
        service: String,
        /// Operation.
        operation: String,
        /// Input.
        input: Payload,
        /// Request id, reused by every start attempt.
        request_id: String,
        /// Maximum time from scheduling to the outcome.
        schedule_to_close_timeout_ms: Option<u64>,
    },
    /// An asynchronous Nexus operation started.
    NexusOperationStarted {
        /// The NexusOperationScheduled event.
        scheduled_event_id: EventId,
        /// The handler's token for the operation.
        operation_token: String,
    },
    /// The Nexus operation completed.
    NexusOperationCompleted {
        /// The NexusOperationScheduled event.
        scheduled_event_id: EventId,
        /// Result.
        result: Payload,
    },
    /// The Nexus operation failed.
    NexusOperationFailed {
        /// The NexusOperationScheduled event.
        scheduled_event_id: EventId,
        /// Failure.
        failure: Failure,
    },
    /// The Nexus operation was canceled.
    NexusOperationCanceled {
        /// The NexusOperationScheduled event.
        scheduled_event_id: EventId,
    },
    /// The Nexus operation timed out.
    NexusOperationTimedOut {
        /// The NexusOperationScheduled event.
        scheduled_event_id: EventId,
        /// The timeout, as a failure.
        failure: Failure,
    },
    /// The workflow requested cancellation of a Nexus operation.
    NexusOperationCancelRequested {
        /// The NexusOperationScheduled event.
        scheduled_event_id: EventId,
    },
    /// A signal was sent to the run. The workflow receives signals in this order.
    WorkflowExecutionSignaled {
        /// Signal name.
        signal_name: String,
        /// Its input.
        input: Payload,
    },
    /// Cancellation of the run was requested. The workflow sees it and may clean up.
    WorkflowExecutionCancelRequested {
        /// Why.
        reason: String,
    },
    /// The workflow ended as canceled after a cancel request; the run is closed.
    WorkflowExecutionCanceled {
        /// What the workflow reported.
        details: Option<Payload>,
    },
    /// The run or the execution passed its timeout; the run is closed.
    WorkflowExecutionTimedOut {
        /// `RunTimeout` or `ExecutionTimeout`.
        timeout: String,
    },
    /// The workflow continued as a new run of the same workflow id; this run is closed.
    WorkflowExecutionContinuedAsNew {
        /// The new run.
        new_execution_run_id: String,
        /// Its workflow type.
        workflow_type: String,
        /// Its input.
        input: Payload,
    },
    /// An update passed its validator and its handler runs.
    WorkflowExecutionUpdateAccepted {
        /// The update's id (unique per run; a repeated request with the same id is the same
        /// update).
        update_id: String,
        /// Handler name.
        update_name: String,
        /// Input.
        input: Payload,
    },
    /// An accepted update's handler finished; the caller receives this outcome.
    WorkflowExecutionUpdateCompleted {
        /// The update's id.
        update_id: String,
        /// The handler's result.
        result: Option<Payload>,
        /// Or its failure.
        failure: Option<Failure>,
    },
    /// A marker, here a `patched` change id: code after the change recorded this point.
    MarkerRecorded {
        /// `patch` for versioning markers.
        marker_name: String,
        /// The change id.
        details: Payload,
    },
    /// The workflow asked to start a child workflow.
    StartChildWorkflowExecutionInitiated {
        /// Child workflow id.
        workflow_id: String,
        /// Child workflow type.
        workflow_type: String,
        /// Input.
        input: Payload,
        /// What happens to the child when this run closes.
        parent_close_policy: ParentClosePolicy,
        /// The child's options.
        options: WorkflowOptions,
    },
    /// The child could not be started.
    StartChildWorkflowExecutionFailed {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// Child workflow id.
        workflow_id: String,
        /// Why: one of [`child_start_cause`]'s names (a string, so later causes decode in
        /// earlier histories).
        cause: String,
    },
    /// The child's first run started.
    ChildWorkflowExecutionStarted {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// Child workflow id.
        workflow_id: String,
        /// Its run.
        run_id: String,
    },
    /// The child completed.
    ChildWorkflowExecutionCompleted {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// Its result.
        result: Payload,
    },
    /// The child failed.
    ChildWorkflowExecutionFailed {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// Its failure.
        failure: Failure,
    },
    /// The child ended as canceled.
    ChildWorkflowExecutionCanceled {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
    },
    /// The child was terminated.
    ChildWorkflowExecutionTerminated {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
    },
    /// The child timed out.
    ChildWorkflowExecutionTimedOut {
        /// The StartChildWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
    },
    /// The workflow asked to cancel a child, or (with `initiated_event_id` 0) another
    /// workflow of its namespace by id (`request-cancel-external-workflow`; the run id and
    /// reason it gave are not kept here, the reason is in the target's
    /// WorkflowExecutionCancelRequested).
    RequestCancelExternalWorkflowExecutionInitiated {
        /// The child's StartChildWorkflowExecutionInitiated event; 0 for an external target.
        initiated_event_id: EventId,
        /// Child (or target) workflow id.
        workflow_id: String,
        /// How the workflow's wait on the child ends (with `Abandon` nothing is sent to it;
        /// always the default for an external target). Must stay the variant's last field
        /// (see [`decode_event`]).
        cancellation_type: CancellationType,
    },
    /// The cancel request reached the child or target (WorkflowExecutionCancelRequested in
    /// its history).
    ExternalWorkflowExecutionCancelRequested {
        /// The RequestCancelExternalWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// Child (or target) workflow id.
        workflow_id: String,
    },
    /// The workflow asked to signal another workflow of its namespace.
    SignalExternalWorkflowExecutionInitiated {
        /// The target's workflow id.
        workflow_id: String,
        /// The target run, or none for the workflow id's current run.
        run_id: Option<String>,
        /// Signal name.
        signal_name: String,
        /// Input.
        input: Payload,
    },
    /// The signal was recorded in the target's history (WorkflowExecutionSignaled).
    ExternalWorkflowExecutionSignaled {
        /// The SignalExternalWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// The target's workflow id.
        workflow_id: String,
        /// The run that received it.
        run_id: String,
    },
    /// The signal could not be delivered.
    SignalExternalWorkflowExecutionFailed {
        /// The SignalExternalWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// The target's workflow id.
        workflow_id: String,
        /// Why: one of [`external_cause`]'s names.
        cause: String,
    },
    /// The cancel request of another workflow could not be delivered.
    RequestCancelExternalWorkflowExecutionFailed {
        /// The RequestCancelExternalWorkflowExecutionInitiated event.
        initiated_event_id: EventId,
        /// The target's workflow id.
        workflow_id: String,
        /// Why: one of [`external_cause`]'s names.
        cause: String,
    },
}

impl EventKind {
    /// Temporal's name of this event type.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::WorkflowExecutionStarted { .. } => "WorkflowExecutionStarted",
            EventKind::WorkflowTaskScheduled { .. } => "WorkflowTaskScheduled",
            EventKind::WorkflowTaskStarted { .. } => "WorkflowTaskStarted",
            EventKind::WorkflowTaskCompleted { .. } => "WorkflowTaskCompleted",
            EventKind::WorkflowTaskFailed { .. } => "WorkflowTaskFailed",
            EventKind::ActivityTaskScheduled { .. } => "ActivityTaskScheduled",
            EventKind::ActivityTaskStarted { .. } => "ActivityTaskStarted",
            EventKind::ActivityTaskCompleted { .. } => "ActivityTaskCompleted",
            EventKind::ActivityTaskFailed { .. } => "ActivityTaskFailed",
            EventKind::TimerStarted { .. } => "TimerStarted",
            EventKind::TimerFired { .. } => "TimerFired",
            EventKind::WorkflowExecutionCompleted { .. } => "WorkflowExecutionCompleted",
            EventKind::WorkflowExecutionFailed { .. } => "WorkflowExecutionFailed",
            EventKind::WorkflowExecutionTerminated { .. } => "WorkflowExecutionTerminated",
            EventKind::ActivityTaskTimedOut { .. } => "ActivityTaskTimedOut",
            EventKind::ActivityTaskCancelRequested { .. } => "ActivityTaskCancelRequested",
            EventKind::ActivityTaskCanceled { .. } => "ActivityTaskCanceled",
            EventKind::TimerCanceled { .. } => "TimerCanceled",
            EventKind::NexusOperationScheduled { .. } => "NexusOperationScheduled",
            EventKind::NexusOperationStarted { .. } => "NexusOperationStarted",
            EventKind::NexusOperationCompleted { .. } => "NexusOperationCompleted",
            EventKind::NexusOperationFailed { .. } => "NexusOperationFailed",
            EventKind::NexusOperationCanceled { .. } => "NexusOperationCanceled",
            EventKind::NexusOperationTimedOut { .. } => "NexusOperationTimedOut",
            EventKind::NexusOperationCancelRequested { .. } => "NexusOperationCancelRequested",
            EventKind::WorkflowExecutionSignaled { .. } => "WorkflowExecutionSignaled",
            EventKind::WorkflowExecutionCancelRequested { .. } => {
                "WorkflowExecutionCancelRequested"
            }
            EventKind::WorkflowExecutionCanceled { .. } => "WorkflowExecutionCanceled",
            EventKind::WorkflowExecutionTimedOut { .. } => "WorkflowExecutionTimedOut",
            EventKind::WorkflowExecutionContinuedAsNew { .. } => "WorkflowExecutionContinuedAsNew",
            EventKind::WorkflowExecutionUpdateAccepted { .. } => "WorkflowExecutionUpdateAccepted",
            EventKind::WorkflowExecutionUpdateCompleted { .. } => {
                "WorkflowExecutionUpdateCompleted"
            }
            EventKind::MarkerRecorded { .. } => "MarkerRecorded",
            EventKind::StartChildWorkflowExecutionInitiated { .. } => {
                "StartChildWorkflowExecutionInitiated"
            }
            EventKind::StartChildWorkflowExecutionFailed { .. } => {
                "StartChildWorkflowExecutionFailed"
            }
            EventKind::ChildWorkflowExecutionStarted { .. } => "ChildWorkflowExecutionStarted",
            EventKind::ChildWorkflowExecutionCompleted { .. } => "ChildWorkflowExecutionCompleted",
            EventKind::ChildWorkflowExecutionFailed { .. } => "ChildWorkflowExecutionFailed",
            EventKind::ChildWorkflowExecutionCanceled { .. } => "ChildWorkflowExecutionCanceled",
            EventKind::ChildWorkflowExecutionTerminated { .. } => {
                "ChildWorkflowExecutionTerminated"
            }
            EventKind::ChildWorkflowExecutionTimedOut { .. } => "ChildWorkflowExecutionTimedOut",
            EventKind::RequestCancelExternalWorkflowExecutionInitiated { .. } => {
                "RequestCancelExternalWorkflowExecutionInitiated"
            }
            EventKind::ExternalWorkflowExecutionCancelRequested { .. } => {
                "ExternalWorkflowExecutionCancelRequested"
            }
            EventKind::SignalExternalWorkflowExecutionInitiated { .. } => {
                "SignalExternalWorkflowExecutionInitiated"
            }
            EventKind::ExternalWorkflowExecutionSignaled { .. } => {
                "ExternalWorkflowExecutionSignaled"
            }
            EventKind::SignalExternalWorkflowExecutionFailed { .. } => {
                "SignalExternalWorkflowExecutionFailed"
            }
            EventKind::RequestCancelExternalWorkflowExecutionFailed { .. } => {
                "RequestCancelExternalWorkflowExecutionFailed"
            }
        }
    }

    /// True for events a workflow command produces; replay matches these one by one against
    /// the commands the code issues.
    pub fn is_command_event(&self) -> bool {
        matches!(
            self,
            EventKind::ActivityTaskScheduled { .. }
                | EventKind::TimerStarted { .. }
                | EventKind::ActivityTaskCancelRequested { .. }
                | EventKind::TimerCanceled { .. }
                | EventKind::NexusOperationScheduled { .. }
                | EventKind::NexusOperationCancelRequested { .. }
                | EventKind::MarkerRecorded { .. }
                | EventKind::StartChildWorkflowExecutionInitiated { .. }
                | EventKind::RequestCancelExternalWorkflowExecutionInitiated { .. }
                | EventKind::SignalExternalWorkflowExecutionInitiated { .. }
        )
    }

    /// True for events delivered to the workflow as messages while it waits, in history
    /// order: signals, cancel requests and accepted updates.
    pub fn is_message(&self) -> bool {
        matches!(
            self,
            EventKind::WorkflowExecutionSignaled { .. }
                | EventKind::WorkflowExecutionCancelRequested { .. }
                | EventKind::WorkflowExecutionUpdateAccepted { .. }
        )
    }

    /// For an event that resolves a pending operation, the event id that started it.
    pub fn resolves(&self) -> Option<EventId> {
        match self {
            EventKind::ActivityTaskCompleted {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskFailed {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskTimedOut {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskCanceled { scheduled_event_id }
            | EventKind::NexusOperationCompleted {
                scheduled_event_id, ..
            }
            | EventKind::NexusOperationFailed {
                scheduled_event_id, ..
            }
            | EventKind::NexusOperationCanceled { scheduled_event_id }
            | EventKind::NexusOperationTimedOut {
                scheduled_event_id, ..
            } => Some(*scheduled_event_id),
            EventKind::TimerFired { started_event_id }
            | EventKind::TimerCanceled { started_event_id } => Some(*started_event_id),
            EventKind::StartChildWorkflowExecutionFailed {
                initiated_event_id, ..
            }
            | EventKind::ChildWorkflowExecutionCompleted {
                initiated_event_id, ..
            }
            | EventKind::ChildWorkflowExecutionFailed {
                initiated_event_id, ..
            }
            | EventKind::ChildWorkflowExecutionCanceled { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTerminated { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTimedOut { initiated_event_id } => {
                Some(*initiated_event_id)
            }
            // For a child's cancel request nothing waits on its initiated event.
            EventKind::ExternalWorkflowExecutionCancelRequested {
                initiated_event_id, ..
            }
            | EventKind::RequestCancelExternalWorkflowExecutionFailed {
                initiated_event_id, ..
            }
            | EventKind::ExternalWorkflowExecutionSignaled {
                initiated_event_id, ..
            }
            | EventKind::SignalExternalWorkflowExecutionFailed {
                initiated_event_id, ..
            } => Some(*initiated_event_id),
            _ => None,
        }
    }
}

/// One entry of a run's history.
///
/// ```
/// use weft_core::history::{Event, EventKind, Payload, decode_event, encode};
/// use weft_core::ids::EventId;
/// let started = Event {
///     id: EventId(1),
///     time_ms: 1_700_000_000_000,
///     kind: EventKind::WorkflowExecutionStarted {
///         workflow_type: "order".into(),
///         input: Payload::json(&serde_json::json!({"cents": 4200})),
///         random_seed: 7,
///     },
/// };
/// assert_eq!(decode_event(&encode(&started)), Ok(started.clone())); // as stored
/// assert!(started.summary().contains("WorkflowExecutionStarted"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 1.
    pub id: EventId,
    /// When it was recorded, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// The task queue of activities that name none.
pub const DEFAULT_TASK_QUEUE: &str = "default";

/// Causes of StartChildWorkflowExecutionFailed; the parent's code sees the cause as the
/// failure's type.
pub mod child_start_cause {
    /// A run with the child's workflow id is open, or its id may not be reused (Temporal's
    /// `WORKFLOW_ALREADY_EXISTS`).
    pub const ALREADY_STARTED: &str = "WorkflowExecutionAlreadyStarted";
    /// The namespace is at its open-workflow or stored-bytes quota.
    pub const NAMESPACE_QUOTA: &str = "NamespaceQuotaExceeded";
    /// The child's input alone would pass the namespace's history limit per run.
    pub const HISTORY_LIMIT: &str = "HistoryLimitExceeded";

    /// What `cause` means, for the failure the parent's code sees.
    pub fn describe(cause: &str) -> &'static str {
        match cause {
            NAMESPACE_QUOTA => {
                "the namespace is at its quota of open workflows or stored history bytes; wait for workflows to close or raise the quota"
            }
            HISTORY_LIMIT => "its input is larger than the namespace's history limit per run",
            _ => "its workflow id is in use",
        }
    }
}

/// Causes of SignalExternalWorkflowExecutionFailed and
/// RequestCancelExternalWorkflowExecutionFailed; the source's code sees the cause as the
/// failure's type.
pub mod external_cause {
    /// No open run has the target's workflow id (and run id, when given) in the source's
    /// namespace (Temporal's `EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND`).
    pub const NOT_FOUND: &str = "ExternalWorkflowExecutionNotFound";
    /// The signal would take the target's history past its limit; it is refused to the
    /// sender, as a client's signal is.
    pub const HISTORY_LIMIT: &str = "HistoryLimitExceeded";

    /// What `cause` means, for the failure the source's code sees.
    pub fn describe(cause: &str) -> &'static str {
        match cause {
            HISTORY_LIMIT => "its history would pass the namespace's history limit per run",
            _ => "no open workflow execution with this id (and run id) is in the namespace",
        }
    }
}
