//! Commands: what a workflow decides in a Workflow Task, in issue order. The replay matches
//! them against recorded command events; the store records and applies them at commit.

use crate::history::{
    CancellationType, Failure, ParentClosePolicy, Payload, RetryPolicy, WorkflowOptions,
};
use crate::ids::{EventId, WorkflowId};

/// The operation a command refers to: recorded in an earlier task, or created by an earlier
/// command of the same task (its index among the task's commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The event id of the recorded command.
    Recorded(EventId),
    /// Index of the command in this task's commands.
    New(usize),
}

/// A command the workflow issued during a task, in issue order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Schedule an activity.
    ScheduleActivity {
        /// Type.
        activity_type: String,
        /// Input.
        input: Payload,
        /// Lease per attempt.
        start_to_close_timeout_ms: u64,
        /// Retry policy.
        retry_policy: RetryPolicy,
        /// Schedule-to-close timeout.
        schedule_to_close_timeout_ms: Option<u64>,
        /// Schedule-to-start timeout.
        schedule_to_start_timeout_ms: Option<u64>,
        /// Heartbeat timeout.
        heartbeat_timeout_ms: Option<u64>,
        /// Task queue.
        task_queue: String,
    },
    /// Start a timer.
    StartTimer {
        /// Duration.
        duration_ms: u64,
    },
    /// Request cancellation of an activity.
    RequestCancelActivity {
        /// The activity.
        target: Target,
        /// How the workflow's wait ends; `Abandon` sends nothing to the activity.
        cancellation_type: CancellationType,
    },
    /// Cancel a timer.
    CancelTimer {
        /// The timer.
        target: Target,
    },
    /// Schedule a Nexus operation.
    ScheduleNexusOperation {
        /// Endpoint.
        endpoint: String,
        /// Service.
        service: String,
        /// Operation.
        operation: String,
        /// Input.
        input: Payload,
        /// Schedule-to-close timeout.
        schedule_to_close_timeout_ms: Option<u64>,
    },
    /// Request cancellation of a Nexus operation.
    RequestCancelNexusOperation {
        /// The operation.
        target: Target,
    },
    /// Complete the run.
    CompleteWorkflow {
        /// Result.
        result: Payload,
    },
    /// Fail the run (or retry the execution, as its retry policy says).
    FailWorkflow {
        /// Failure.
        failure: Failure,
    },
    /// Close the run as canceled after a cancel request.
    CancelWorkflow {
        /// Details the workflow reported.
        details: Option<Payload>,
    },
    /// Close the run and start a new run of the same workflow id with `input`.
    ContinueAsNew {
        /// Input of the new run.
        input: Payload,
    },
    /// Record a marker (a `patched` change id).
    RecordMarker {
        /// Marker name.
        marker_name: String,
        /// Details.
        details: Payload,
    },
    /// Record that an update was accepted.
    AcceptUpdate {
        /// Update id.
        update_id: String,
        /// Handler name.
        update_name: String,
        /// Input.
        input: Payload,
    },
    /// Record an accepted update's outcome.
    CompleteUpdate {
        /// Update id.
        update_id: String,
        /// Result or failure.
        outcome: Result<Payload, Failure>,
    },
    /// Start a child workflow.
    StartChild {
        /// Child type.
        workflow_type: String,
        /// Child id.
        workflow_id: WorkflowId,
        /// Input.
        input: Payload,
        /// Parent close policy.
        policy: ParentClosePolicy,
        /// The child's options.
        options: WorkflowOptions,
    },
    /// Request cancellation of a child.
    RequestCancelChild {
        /// The child's StartChildWorkflowExecutionInitiated.
        target: Target,
        /// How the workflow's wait ends; `Abandon` sends nothing to the child.
        cancellation_type: CancellationType,
    },
    /// Signal another workflow of the namespace.
    SignalExternal {
        /// The target's workflow id.
        workflow_id: WorkflowId,
        /// The target run, or none for the current run.
        run_id: Option<String>,
        /// Signal name.
        signal_name: String,
        /// Input.
        input: Payload,
    },
    /// Request cancellation of another workflow of the namespace.
    RequestCancelExternal {
        /// The target's workflow id.
        workflow_id: WorkflowId,
        /// The target run, or none for the current run.
        run_id: Option<String>,
        /// Reason, recorded in the target's WorkflowExecutionCancelRequested.
        reason: String,
    },
}

impl Command {
    /// Bytes of the payloads (and failure texts) the command's event carries: the least it
    /// adds to the history.
    pub fn payload_bytes(&self) -> u64 {
        let failure = |f: &Failure| (f.error_type.len() + f.message.len()) as u64;
        match self {
            Command::ScheduleActivity { input, .. }
            | Command::ScheduleNexusOperation { input, .. }
            | Command::ContinueAsNew { input }
            | Command::AcceptUpdate { input, .. }
            | Command::StartChild { input, .. }
            | Command::SignalExternal { input, .. } => input.0.len() as u64,
            Command::CompleteWorkflow { result } => result.0.len() as u64,
            Command::RecordMarker { details, .. } => details.0.len() as u64,
            Command::CancelWorkflow { details } => details.as_ref().map_or(0, |d| d.0.len() as u64),
            Command::FailWorkflow { failure: f } => failure(f),
            Command::CompleteUpdate { outcome, .. } => match outcome {
                Ok(p) => p.0.len() as u64,
                Err(f) => failure(f),
            },
            Command::StartTimer { .. }
            | Command::RequestCancelActivity { .. }
            | Command::CancelTimer { .. }
            | Command::RequestCancelNexusOperation { .. }
            | Command::RequestCancelChild { .. }
            | Command::RequestCancelExternal { .. } => 0,
        }
    }
}
