//! What callers see of a run: [`WorkflowDescription`] (as `weft describe` shows it) and
//! [`WorkflowOutcome`] with [`outcome_of`], how a closed run ended. Pure functions of stored
//! records and events; reading them from the store is the client's job.

use crate::history::{Event, EventKind, Failure, Payload};
use crate::ids::RunId;
use crate::store::{RunRecord, RunStatus};
use serde::Serialize;

/// How a closed workflow ended.
///
/// ```
/// use serde_json::json;
/// use weft::{Failure, WorkflowOutcome};
/// // What `Host::result` and `Client::result` return, once the run closes.
/// fn summary(outcome: &WorkflowOutcome) -> String {
///     match outcome {
///         WorkflowOutcome::Completed(value) => format!("done: {value}"),
///         WorkflowOutcome::Failed(failure) => format!("failed: {failure}"),
///     }
/// }
/// assert_eq!(summary(&WorkflowOutcome::Completed(json!("ch-42"))), r#"done: "ch-42""#);
/// let declined = WorkflowOutcome::Failed(Failure::new("CardDeclined", "insufficient funds"));
/// assert_eq!(summary(&declined), "failed: CardDeclined: insufficient funds");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum WorkflowOutcome {
    /// It returned this result (JSON).
    Completed(serde_json::Value),
    /// It returned this failure.
    Failed(Failure),
}

/// Status of a workflow, as `weft describe` shows it.
///
/// ```no_run
/// # fn run(host: &weft::Host) -> Result<(), weft::HostError> {
/// let d = host.describe("order-1")?;
/// if d.status == weft::RunStatus::Running {
///     println!("{} ({}): {} events", d.workflow_id, d.workflow_type, d.history_length);
/// }
/// println!("runs: {}", d.run_chain.join(" -> ")); // first to current
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowDescription {
    /// Namespace.
    pub namespace: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Current run.
    pub run_id: String,
    /// Registered type.
    pub workflow_type: String,
    /// Running, Completed, Failed or Terminated.
    pub status: RunStatus,
    /// Start time, ms since the epoch.
    pub start_ms: u64,
    /// Close time, ms since the epoch.
    pub close_ms: Option<u64>,
    /// Events in the history.
    pub history_length: u64,
    /// Attempt of the pending Workflow Task, if one is pending.
    pub pending_workflow_task_attempt: Option<u32>,
    /// Why the last Workflow Task failed, while failures continue.
    pub last_workflow_task_failure: Option<String>,
    /// Attempt of the execution (1 unless its retry policy started it again).
    pub attempt: u32,
    /// Runs of this execution, first to current (continue-as-new and retries).
    pub run_chain: Vec<String>,
    /// The parent's workflow id, for a child workflow.
    pub parent_workflow_id: Option<String>,
    /// Open children started by this run.
    pub open_children: Vec<String>,
    /// A cancel request is recorded.
    pub cancel_requested: bool,
    /// Digest of the workflow component version the run is pinned to (`None` until its first
    /// Workflow Task, for runs not started by a client, and where a tool cannot tell).
    pub component_digest: Option<String>,
}

impl WorkflowDescription {
    /// Builds the description of `run`.
    pub fn new(run: RunId, rec: &RunRecord) -> WorkflowDescription {
        WorkflowDescription {
            namespace: rec.namespace.to_string(),
            workflow_id: rec.workflow_id.0.clone(),
            run_id: run.to_string(),
            workflow_type: rec.workflow_type.clone(),
            status: rec.status,
            start_ms: rec.start_ms,
            close_ms: rec.close_ms,
            history_length: rec.next_event_id - 1,
            pending_workflow_task_attempt: rec.workflow_task.as_ref().map(|t| t.attempt),
            last_workflow_task_failure: rec
                .workflow_task
                .as_ref()
                .and_then(|t| t.last_failure.clone()),
            attempt: rec.attempt,
            run_chain: vec![run.to_string()],
            parent_workflow_id: rec.parent.as_ref().map(|p| p.workflow_id.0.clone()),
            open_children: rec
                .children
                .iter()
                .map(|c| c.workflow_id.0.clone())
                .collect(),
            cancel_requested: rec.cancel_requested,
            component_digest: None,
        }
    }

    /// Fills in the run chain by following each run's predecessor with `lookup`.
    pub fn with_chain(
        mut self,
        rec: &RunRecord,
        lookup: impl Fn(RunId) -> Option<RunRecord>,
    ) -> WorkflowDescription {
        let mut prev = rec.previous_run;
        // Bounded: a chain is as long as the runs it made, but never trust stored links blindly.
        while let Some(p) = prev
            && self.run_chain.len() < 10_000
        {
            self.run_chain.insert(0, p.to_string());
            prev = lookup(p).and_then(|r| r.previous_run);
        }
        self
    }
}

/// How a closed run ended, from its last event.
pub fn outcome_of(history: &[Event]) -> WorkflowOutcome {
    for e in history.iter().rev() {
        match &e.kind {
            EventKind::WorkflowExecutionCompleted { result } => {
                return WorkflowOutcome::Completed(result.to_json());
            }
            EventKind::WorkflowExecutionFailed { failure } => {
                return WorkflowOutcome::Failed(failure.clone());
            }
            EventKind::WorkflowExecutionTerminated { reason } => {
                return WorkflowOutcome::Failed(Failure::new("Terminated", reason.clone()));
            }
            EventKind::WorkflowExecutionCanceled { details } => {
                let message = match details.as_ref().map(Payload::to_json) {
                    Some(serde_json::Value::String(m)) => m,
                    Some(other) => other.to_string(),
                    None => "the workflow was canceled".into(),
                };
                return WorkflowOutcome::Failed(Failure::new("Canceled", message));
            }
            EventKind::WorkflowExecutionTimedOut { timeout } => {
                return WorkflowOutcome::Failed(Failure::new(
                    "TimedOut",
                    format!("the workflow passed its {timeout}"),
                ));
            }
            _ => {}
        }
    }
    WorkflowOutcome::Failed(Failure::new("NotClosed", "the run is still open"))
}
