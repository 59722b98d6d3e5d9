//! Event types of a run's history and their versioned on-disk encoding.
//!
//! Names follow Temporal's event types so users of that ecosystem recognise them. Every stored
//! value starts with a one-byte format version; a value written by a newer weft is refused with
//! [`EncodingError::NewerFormat`] instead of being misread. This module does not touch the
//! database (see `store`) and does not interpret events for replay (see `replay`).

use crate::ids::{EventId, RunId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Format version written by this release in front of every encoded event and task.
pub const FORMAT_VERSION: u8 = 3;

/// A serialized value (UTF-8 JSON by convention of the SDKs), stored unchanged.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Payload(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl Payload {
    /// A payload holding `value` encoded as JSON.
    pub fn json(value: &serde_json::Value) -> Payload {
        Payload(serde_json::to_vec(value).expect("a JSON value always serializes"))
    }

    /// The payload as a JSON value: parsed when it is JSON, otherwise a string describing the
    /// bytes.
    pub fn to_json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.0) {
            Ok(v) => v,
            Err(_) => serde_json::Value::String(format!("<{} bytes, not JSON>", self.0.len())),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the payload holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) if s.len() <= 200 => write!(f, "{s}"),
            Ok(s) => write!(
                f,
                "{}... ({} bytes)",
                &s[..s.floor_char_boundary(200)],
                s.len()
            ),
            Err(_) => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

/// An error reported by a workflow or an activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Machine-readable type, matched by retry policies.
    pub error_type: String,
    /// Human-readable message.
    pub message: String,
    /// Optional structured details.
    pub details: Option<Payload>,
    /// The failure must not be retried.
    pub non_retryable: bool,
}

impl Failure {
    /// A retryable failure of `error_type` with `message`.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
            non_retryable: false,
        }
    }

    /// The same failure marked non-retryable.
    pub fn non_retryable(mut self) -> Failure {
        self.non_retryable = true;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for Failure {}

/// How an activity is retried. Defaults follow Temporal's server defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay before the first retry, in milliseconds.
    pub initial_interval_ms: u64,
    /// Multiplier applied to the delay after each retry.
    pub backoff_coefficient: f64,
    /// Upper bound of the delay, in milliseconds.
    pub maximum_interval_ms: u64,
    /// Attempts in all; 0 means unlimited.
    pub maximum_attempts: u32,
    /// Error types that are never retried.
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            maximum_interval_ms: 100_000,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `next_attempt` (2 for the first retry): initial x coefficient^(n-2),
    /// capped at the maximum interval.
    pub fn delay_before(&self, next_attempt: u32) -> u64 {
        let exp = next_attempt.saturating_sub(2) as i32;
        let raw = self.initial_interval_ms as f64 * self.backoff_coefficient.powi(exp);
        let cap = self.maximum_interval_ms.max(self.initial_interval_ms) as f64;
        raw.min(cap).max(0.0) as u64
    }

    /// The policy with Temporal's meaning of zero filled in (initial interval 0: the default
    /// 1 s; maximum interval 0: 100 x the initial one), or why it is invalid (Temporal's
    /// checks of a retry policy).
    pub fn checked(&self) -> Result<RetryPolicy, String> {
        if !(self.backoff_coefficient.is_finite() && self.backoff_coefficient >= 1.0) {
            return Err(format!(
                "the retry policy's backoff-coefficient must be at least 1, not {}",
                self.backoff_coefficient
            ));
        }
        let initial = match self.initial_interval_ms {
            0 => RetryPolicy::default().initial_interval_ms,
            v => v,
        };
        if self.maximum_interval_ms != 0 && self.maximum_interval_ms < initial {
            return Err(format!(
                "the retry policy's maximum-interval-ms ({}) is below its initial-interval-ms ({initial})",
                self.maximum_interval_ms
            ));
        }
        Ok(RetryPolicy {
            initial_interval_ms: initial,
            maximum_interval_ms: match self.maximum_interval_ms {
                0 => initial.saturating_mul(100),
                v => v,
            },
            ..self.clone()
        })
    }

    /// Whether a failure of attempt `attempt` may be retried under this policy.
    pub fn may_retry(&self, attempt: u32, failure: &Failure) -> bool {
        if failure.non_retryable || self.non_retryable_error_types.contains(&failure.error_type) {
            return false;
        }
        self.maximum_attempts == 0 || attempt < self.maximum_attempts
    }
}

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 1.
    pub id: EventId,
    /// When it was recorded, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The event as JSON for `weft history --json` and the host API: payloads shown as JSON.
    pub fn to_json(&self, run: RunId) -> serde_json::Value {
        // Externally tagged: {"TypeName": {attributes}}; keep the attributes.
        let mut attrs = match serde_json::to_value(&self.kind).expect("events serialize") {
            serde_json::Value::Object(map) => map
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or(serde_json::Value::Null),
            other => other,
        };
        if let serde_json::Value::Object(map) = &mut attrs {
            for key in ["input", "result"] {
                if let Some(v) = map.get_mut(key) {
                    *v = payload_value_to_json(v);
                }
            }
            if let Some(serde_json::Value::Object(f)) = map.get_mut("failure")
                && let Some(d) = f.get_mut("details")
                && !d.is_null()
            {
                *d = payload_value_to_json(d);
            }
        }
        serde_json::json!({
            "event_id": self.id.0,
            "run_id": run.to_string(),
            "time_ms": self.time_ms,
            "event_type": self.kind.name(),
            "attributes": attrs,
        })
    }

    /// One line for humans: id, type and the most telling attribute.
    pub fn summary(&self) -> String {
        let detail = match &self.kind {
            EventKind::WorkflowExecutionStarted {
                workflow_type,
                input,
                ..
            } => {
                format!("{workflow_type} input={input:?}")
            }
            EventKind::WorkflowTaskScheduled { attempt } if *attempt > 1 => {
                format!("attempt={attempt}")
            }
            EventKind::WorkflowTaskFailed { cause, message, .. } => {
                format!("{cause:?}: {message}")
            }
            EventKind::ActivityTaskScheduled {
                activity_type,
                input,
                ..
            } => {
                format!("{activity_type} input={input:?}")
            }
            EventKind::ActivityTaskStarted {
                scheduled_event_id,
                attempt,
            } => {
                format!("scheduled={scheduled_event_id} attempt={attempt}")
            }
            EventKind::ActivityTaskCompleted {
                scheduled_event_id,
                result,
            } => {
                format!("scheduled={scheduled_event_id} result={result:?}")
            }
            EventKind::ActivityTaskFailed {
                scheduled_event_id,
                failure,
            } => {
                format!("scheduled={scheduled_event_id} {failure}")
            }
            EventKind::TimerStarted { duration_ms, .. } => format!("{duration_ms}ms"),
            EventKind::TimerFired { started_event_id } => format!("started={started_event_id}"),
            EventKind::WorkflowExecutionCompleted { result } => format!("result={result:?}"),
            EventKind::WorkflowExecutionFailed { failure } => failure.to_string(),
            EventKind::WorkflowExecutionTerminated { reason } => reason.clone(),
            EventKind::ActivityTaskTimedOut {
                scheduled_event_id,
                failure,
            }
            | EventKind::NexusOperationFailed {
                scheduled_event_id,
                failure,
            }
            | EventKind::NexusOperationTimedOut {
                scheduled_event_id,
                failure,
            } => format!("scheduled={scheduled_event_id} {failure}"),
            EventKind::ActivityTaskCancelRequested {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskCanceled { scheduled_event_id }
            | EventKind::NexusOperationCanceled { scheduled_event_id }
            | EventKind::NexusOperationCancelRequested { scheduled_event_id } => {
                format!("scheduled={scheduled_event_id}")
            }
            EventKind::TimerCanceled { started_event_id } => format!("started={started_event_id}"),
            EventKind::NexusOperationScheduled {
                endpoint,
                service,
                operation,
                input,
                ..
            } => format!("{endpoint}/{service}/{operation} input={input:?}"),
            EventKind::NexusOperationStarted {
                scheduled_event_id,
                operation_token,
            } => format!("scheduled={scheduled_event_id} token={operation_token}"),
            EventKind::NexusOperationCompleted {
                scheduled_event_id,
                result,
            } => format!("scheduled={scheduled_event_id} result={result:?}"),
            EventKind::WorkflowExecutionSignaled { signal_name, input } => {
                format!("{signal_name} input={input:?}")
            }
            EventKind::WorkflowExecutionCancelRequested { reason } => reason.clone(),
            EventKind::WorkflowExecutionCanceled { details: Some(d) } => format!("details={d:?}"),
            EventKind::WorkflowExecutionTimedOut { timeout } => timeout.clone(),
            EventKind::WorkflowExecutionContinuedAsNew {
                new_execution_run_id,
                input,
                ..
            } => format!("new run={new_execution_run_id} input={input:?}"),
            EventKind::WorkflowExecutionUpdateAccepted {
                update_id,
                update_name,
                input,
            } => format!("{update_name} id={update_id} input={input:?}"),
            EventKind::WorkflowExecutionUpdateCompleted {
                update_id,
                result,
                failure,
            } => match (result, failure) {
                (_, Some(f)) => format!("id={update_id} {f}"),
                (Some(r), None) => format!("id={update_id} result={r:?}"),
                (None, None) => format!("id={update_id}"),
            },
            EventKind::MarkerRecorded {
                marker_name,
                details,
            } => format!("{marker_name} {details:?}"),
            EventKind::StartChildWorkflowExecutionInitiated {
                workflow_id,
                workflow_type,
                input,
                ..
            } => format!("{workflow_type} id={workflow_id} input={input:?}"),
            EventKind::StartChildWorkflowExecutionFailed {
                initiated_event_id,
                cause,
                ..
            } => format!("initiated={initiated_event_id} {cause}"),
            EventKind::ChildWorkflowExecutionStarted {
                initiated_event_id,
                run_id,
                ..
            } => format!("initiated={initiated_event_id} run={run_id}"),
            EventKind::ChildWorkflowExecutionCompleted {
                initiated_event_id,
                result,
            } => format!("initiated={initiated_event_id} result={result:?}"),
            EventKind::ChildWorkflowExecutionFailed {
                initiated_event_id,
                failure,
            } => format!("initiated={initiated_event_id} {failure}"),
            EventKind::ChildWorkflowExecutionCanceled { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTerminated { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTimedOut { initiated_event_id } => {
                format!("initiated={initiated_event_id}")
            }
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id: EventId(0),
                workflow_id,
                ..
            } => format!("id={workflow_id}"),
            EventKind::RequestCancelExternalWorkflowExecutionInitiated { workflow_id, .. }
            | EventKind::ExternalWorkflowExecutionCancelRequested { workflow_id, .. } => {
                format!("child={workflow_id}")
            }
            EventKind::SignalExternalWorkflowExecutionInitiated {
                workflow_id,
                run_id,
                signal_name,
                input,
            } => format!(
                "{signal_name} id={workflow_id} run={} input={input:?}",
                run_id.as_deref().unwrap_or("current")
            ),
            EventKind::ExternalWorkflowExecutionSignaled {
                initiated_event_id,
                workflow_id,
                run_id,
            } => format!("initiated={initiated_event_id} id={workflow_id} run={run_id}"),
            EventKind::SignalExternalWorkflowExecutionFailed {
                initiated_event_id,
                workflow_id,
                cause,
            }
            | EventKind::RequestCancelExternalWorkflowExecutionFailed {
                initiated_event_id,
                workflow_id,
                cause,
            } => format!("initiated={initiated_event_id} id={workflow_id} {cause}"),
            _ => String::new(),
        };
        format!("{:>4} {:<28} {}", self.id.0, self.kind.name(), detail)
    }
}

fn payload_value_to_json(v: &serde_json::Value) -> serde_json::Value {
    match serde_json::from_value::<Vec<u8>>(v.clone()) {
        Ok(bytes) => Payload(bytes).to_json(),
        Err(_) => v.clone(),
    }
}

/// Failure to decode a stored value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EncodingError {
    /// The value was written by a newer release of weft.
    #[error(
        "stored value has format version {found}, newer than the {supported} this weft reads; upgrade weft"
    )]
    NewerFormat {
        /// Version found.
        found: u8,
        /// Newest version this release reads.
        supported: u8,
    },
    /// The bytes are not a valid value.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
}

/// Encodes `value` with the current format version in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    out.extend(postcard::to_stdvec(value).expect("in-memory serialization does not fail"));
    out
}

/// Decodes a value written by [`encode`] of this or an earlier release.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, EncodingError> {
    match bytes.first() {
        None => Err(EncodingError::Corrupt("empty value".into())),
        Some(&v) if (1..=FORMAT_VERSION).contains(&v) => {
            postcard::from_bytes(&bytes[1..]).map_err(|e| EncodingError::Corrupt(e.to_string()))
        }
        Some(&v) if v > FORMAT_VERSION => Err(EncodingError::NewerFormat {
            found: v,
            supported: FORMAT_VERSION,
        }),
        Some(&v) => Err(EncodingError::Corrupt(format!(
            "unknown format version {v}"
        ))),
    }
}

/// Decodes an event written by [`encode`] of this or an earlier release. Histories are never
/// rewritten, so every earlier layout of [`EventKind`] stays readable here.
///
/// Trailing fields: `cancellation_type` was appended to ActivityTaskCancelRequested and
/// RequestCancelExternalWorkflowExecutionInitiated within format 3. `kind` is the last field
/// of [`Event`] and the new field the last of its variant, so an event written before it ends
/// where that field would begin: decoding reads one zero byte past the stored bytes, which is
/// index 0 of [`CancellationType`] (the behaviour of those releases). Postcard ignores the
/// byte for every other event (and older releases ignore the new field's byte).
pub fn decode_event(bytes: &[u8]) -> Result<Event, EncodingError> {
    match bytes.first() {
        Some(1) => {
            let old: v1::Event = postcard::from_bytes(&bytes[1..])
                .map_err(|e| EncodingError::Corrupt(e.to_string()))?;
            Ok(old.into())
        }
        Some(&v) if (2..=FORMAT_VERSION).contains(&v) => {
            let mut padded = Vec::with_capacity(bytes.len() + 1);
            padded.extend_from_slice(bytes);
            padded.push(0);
            decode(&padded)
        }
        _ => decode(bytes),
    }
}

/// The event layout of format version 1 (release 0.1), including WorkflowExecutionTerminated
/// (index 13), which format 1 wrote too (added before the format became 2).
mod v1 {
    use super::{Failure, Payload, RetryPolicy, WorkflowTaskFailedCause};
    use crate::ids::EventId;
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Event {
        id: EventId,
        time_ms: u64,
        kind: EventKind,
    }

    #[derive(Deserialize)]
    enum EventKind {
        WorkflowExecutionStarted {
            workflow_type: String,
            input: Payload,
            random_seed: u64,
        },
        WorkflowTaskScheduled {
            attempt: u32,
        },
        WorkflowTaskStarted {
            scheduled_event_id: EventId,
        },
        WorkflowTaskCompleted {
            started_event_id: EventId,
        },
        WorkflowTaskFailed {
            started_event_id: EventId,
            cause: WorkflowTaskFailedCause,
            message: String,
        },
        ActivityTaskScheduled {
            activity_type: String,
            input: Payload,
            start_to_close_timeout_ms: u64,
            retry_policy: RetryPolicy,
        },
        ActivityTaskStarted {
            scheduled_event_id: EventId,
            attempt: u32,
        },
        ActivityTaskCompleted {
            scheduled_event_id: EventId,
            result: Payload,
        },
        ActivityTaskFailed {
            scheduled_event_id: EventId,
            failure: Failure,
        },
        TimerStarted {
            duration_ms: u64,
            fire_at_ms: u64,
        },
        TimerFired {
            started_event_id: EventId,
        },
        WorkflowExecutionCompleted {
            result: Payload,
        },
        WorkflowExecutionFailed {
            failure: Failure,
        },
        WorkflowExecutionTerminated {
            reason: String,
        },
    }

    impl From<Event> for super::Event {
        fn from(e: Event) -> super::Event {
            use super::EventKind as K;
            let kind = match e.kind {
                EventKind::WorkflowExecutionStarted {
                    workflow_type,
                    input,
                    random_seed,
                } => K::WorkflowExecutionStarted {
                    workflow_type,
                    input,
                    random_seed,
                },
                EventKind::WorkflowTaskScheduled { attempt } => {
                    K::WorkflowTaskScheduled { attempt }
                }
                EventKind::WorkflowTaskStarted { scheduled_event_id } => {
                    K::WorkflowTaskStarted { scheduled_event_id }
                }
                EventKind::WorkflowTaskCompleted { started_event_id } => {
                    K::WorkflowTaskCompleted { started_event_id }
                }
                EventKind::WorkflowTaskFailed {
                    started_event_id,
                    cause,
                    message,
                } => K::WorkflowTaskFailed {
                    started_event_id,
                    cause,
                    message,
                },
                EventKind::ActivityTaskScheduled {
                    activity_type,
                    input,
                    start_to_close_timeout_ms,
                    retry_policy,
                } => K::ActivityTaskScheduled {
                    activity_type,
                    input,
                    start_to_close_timeout_ms,
                    retry_policy,
                    schedule_to_close_timeout_ms: None,
                    schedule_to_start_timeout_ms: None,
                    heartbeat_timeout_ms: None,
                    task_queue: super::DEFAULT_TASK_QUEUE.to_string(),
                },
                EventKind::ActivityTaskStarted {
                    scheduled_event_id,
                    attempt,
                } => K::ActivityTaskStarted {
                    scheduled_event_id,
                    attempt,
                },
                EventKind::ActivityTaskCompleted {
                    scheduled_event_id,
                    result,
                } => K::ActivityTaskCompleted {
                    scheduled_event_id,
                    result,
                },
                EventKind::ActivityTaskFailed {
                    scheduled_event_id,
                    failure,
                } => K::ActivityTaskFailed {
                    scheduled_event_id,
                    failure,
                },
                EventKind::TimerStarted {
                    duration_ms,
                    fire_at_ms,
                } => K::TimerStarted {
                    duration_ms,
                    fire_at_ms,
                },
                EventKind::TimerFired { started_event_id } => K::TimerFired { started_event_id },
                EventKind::WorkflowExecutionCompleted { result } => {
                    K::WorkflowExecutionCompleted { result }
                }
                EventKind::WorkflowExecutionFailed { failure } => {
                    K::WorkflowExecutionFailed { failure }
                }
                EventKind::WorkflowExecutionTerminated { reason } => {
                    K::WorkflowExecutionTerminated { reason }
                }
            };
            super::Event {
                id: e.id,
                time_ms: e.time_ms,
                kind,
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_newer_formats_are_refused() {
        let e = Event {
            id: EventId(3),
            time_ms: 17,
            kind: EventKind::ActivityTaskFailed {
                scheduled_event_id: EventId(2),
                failure: Failure::new("CardDeclined", "no funds").non_retryable(),
            },
        };
        let bytes = encode(&e);
        assert_eq!(decode_event(&bytes).unwrap(), e);
        let mut newer = bytes.clone();
        newer[0] = FORMAT_VERSION + 1;
        assert!(matches!(
            decode::<Event>(&newer),
            Err(EncodingError::NewerFormat { .. })
        ));
        assert!(matches!(
            decode::<Event>(&bytes[..3]),
            Err(EncodingError::Corrupt(_))
        ));
    }

    #[test]
    fn cancel_events_written_before_the_cancellation_type_decode_as_waiting() {
        let new = Event {
            id: EventId(7),
            time_ms: 9,
            kind: EventKind::ActivityTaskCancelRequested {
                scheduled_event_id: EventId(5),
                cancellation_type: CancellationType::TryCancel,
            },
        };
        let bytes = encode(&new);
        assert_eq!(decode_event(&bytes).unwrap(), new);
        // The earlier layout is this one without its last byte (the type's index).
        assert_eq!(*bytes.last().unwrap(), 1);
        assert_eq!(
            decode_event(&bytes[..bytes.len() - 1]).unwrap().kind,
            EventKind::ActivityTaskCancelRequested {
                scheduled_event_id: EventId(5),
                cancellation_type: CancellationType::WaitCancellationCompleted,
            }
        );
        let child = Event {
            id: EventId(8),
            time_ms: 9,
            kind: EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id: EventId(2),
                workflow_id: "kid".into(),
                cancellation_type: CancellationType::Abandon,
            },
        };
        let bytes = encode(&child);
        assert_eq!(decode_event(&bytes).unwrap(), child);
        assert!(matches!(
            decode_event(&bytes[..bytes.len() - 1]).unwrap().kind,
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                cancellation_type: CancellationType::WaitCancellationCompleted,
                ..
            }
        ));
        // Every other event ignores the padding.
        let fired = Event {
            id: EventId(3),
            time_ms: 1,
            kind: EventKind::TimerFired {
                started_event_id: EventId(2),
            },
        };
        assert_eq!(decode_event(&encode(&fired)).unwrap(), fired);
    }

    #[test]
    fn retry_delays_follow_the_policy() {
        let p = RetryPolicy {
            initial_interval_ms: 100,
            maximum_interval_ms: 350,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_before(2), 100);
        assert_eq!(p.delay_before(3), 200);
        assert_eq!(p.delay_before(4), 350);
        let declined = Failure::new("CardDeclined", "x");
        let limited = RetryPolicy {
            maximum_attempts: 2,
            non_retryable_error_types: vec!["CardDeclined".into()],
            ..p
        };
        assert!(!limited.may_retry(1, &declined));
        assert!(limited.may_retry(1, &Failure::new("Timeout", "x")));
        assert!(!limited.may_retry(2, &Failure::new("Timeout", "x")));
    }

    #[test]
    fn json_view_shows_payloads_as_json() {
        let e = Event {
            id: EventId(1),
            time_ms: 5,
            kind: EventKind::WorkflowExecutionStarted {
                workflow_type: "order".into(),
                input: Payload::json(&serde_json::json!({"a": 1})),
                random_seed: 9,
            },
        };
        let j = e.to_json(RunId(1));
        assert_eq!(j["event_type"], "WorkflowExecutionStarted");
        assert_eq!(j["attributes"]["input"]["a"], 1);
    }
}
