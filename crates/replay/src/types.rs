//! What the workflow code and the replay hand each other: the values of the `weft:workflow`
//! imports in weft's own types. The wasm glue converts between these and the WIT bindings at
//! the edge; nothing here knows wasmtime.

use weft_core::history::{Failure, ParentClosePolicy, RetryPolicy};

/// How an awaited operation ended, as the code sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Completed with this result (an empty payload for external signals and cancel requests).
    Completed(Vec<u8>),
    /// Failed (or timed out, or could not start).
    Failed(Failure),
    /// A timer fired.
    Fired,
    /// Canceled.
    Canceled,
}

/// A new update handed to the code.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateMessage {
    /// Update id.
    pub id: String,
    /// Handler name.
    pub name: String,
    /// Input.
    pub input: Vec<u8>,
    /// True when the validator must run first (a new update); false for an update the
    /// history shows accepted.
    pub validate: bool,
}

/// A query handed to the code.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryMessage {
    /// Handler name.
    pub name: String,
    /// Input.
    pub input: Vec<u8>,
}

/// A message for the workflow, delivered by `wait-any` or `take-messages`.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A signal: name and input.
    Signal(String, Vec<u8>),
    /// A cancel request with its reason.
    CancelRequested(String),
    /// An update.
    Update(UpdateMessage),
    /// A query.
    Query(QueryMessage),
}

/// What `wait-any` returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Wake {
    /// The operation of this handle ended.
    Resolved(u32, Outcome),
    /// A message arrived first.
    Message(Message),
}

/// Options of `schedule-activity` as the code gave them (zeros and `None` mean "default").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityOptions {
    /// Task queue; the namespace's default queue when `None`.
    pub task_queue: Option<String>,
    /// Start-to-close timeout.
    pub start_to_close_timeout_ms: Option<u64>,
    /// Schedule-to-close timeout.
    pub schedule_to_close_timeout_ms: Option<u64>,
    /// Schedule-to-start timeout.
    pub schedule_to_start_timeout_ms: Option<u64>,
    /// Heartbeat timeout.
    pub heartbeat_timeout_ms: Option<u64>,
    /// Retry policy as given (zeros not yet filled in; see [`RetryPolicy::checked`]).
    pub retry_policy: Option<RetryPolicy>,
}

/// Options of `schedule-nexus-operation`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NexusOptions {
    /// Schedule-to-close timeout.
    pub schedule_to_close_timeout_ms: Option<u64>,
}

/// Options of `start-child-workflow`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChildOptions {
    /// What happens to the child when the parent closes; `Terminate` when `None`.
    pub parent_close_policy: Option<ParentClosePolicy>,
    /// Execution timeout.
    pub execution_timeout_ms: Option<u64>,
    /// Run timeout.
    pub run_timeout_ms: Option<u64>,
    /// Workflow Task timeout.
    pub task_timeout_ms: Option<u64>,
    /// Retry policy of the child's execution, as given.
    pub retry_policy: Option<RetryPolicy>,
}

/// What `info` returns.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowInfo {
    /// Workflow id.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
    /// Workflow type.
    pub workflow_type: String,
    /// Attempt of the Workflow Task.
    pub task_attempt: u32,
    /// Attempt of the execution.
    pub attempt: u32,
    /// The run this one continues.
    pub continued_from_run_id: Option<String>,
    /// The parent's workflow id.
    pub parent_workflow_id: Option<String>,
}
