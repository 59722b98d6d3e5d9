//! Options of single client calls: [`StartOptions`] (timeouts, retry and id reuse policies of a
//! start) and [`ResetOptions`]. Plain data; the client and the store act on them.

use super::HostError;
use crate::history::{IdReusePolicy, RetryPolicy, WorkflowOptions};
use std::time::Duration;

/// Options of a workflow start. Timeouts and the retry policy mean what Temporal's do.
///
/// ```
/// use std::time::Duration;
/// use weft::{IdReusePolicy, RetryPolicy, StartOptions};
/// // For `Client::start_workflow_with(.., &options)`: an hour in all, three runs at most.
/// let options = StartOptions {
///     execution_timeout: Some(Duration::from_secs(3600)),
///     retry_policy: Some(RetryPolicy { maximum_attempts: 3, ..RetryPolicy::default() }),
///     id_reuse_policy: IdReusePolicy::RejectDuplicate,
///     ..StartOptions::default()
/// };
/// assert_eq!(options.run_timeout, None); // no limit per run
/// ```
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Maximum time of the whole execution, over retries and continue-as-new runs; it then
    /// ends as timed out.
    pub execution_timeout: Option<Duration>,
    /// Maximum time of one run; a run passing it times out (and is retried if the retry
    /// policy allows).
    pub run_timeout: Option<Duration>,
    /// Maximum time of one Workflow Task (capped by the host's task time limit, `Limits::max_task_time`).
    pub task_timeout: Option<Duration>,
    /// Retry policy of the execution: a failed or timed-out run starts again as a new run of
    /// the same id after the policy's backoff. Default: not retried.
    pub retry_policy: Option<RetryPolicy>,
    /// Whether the id may be started again after this execution closes.
    pub id_reuse_policy: IdReusePolicy,
}

impl StartOptions {
    pub(super) fn workflow_options(&self) -> Result<WorkflowOptions, HostError> {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis().max(1) as u64);
        let retry_policy = self
            .retry_policy
            .as_ref()
            .map(RetryPolicy::checked)
            .transpose()
            .map_err(HostError::InvalidArgument)?;
        Ok(WorkflowOptions {
            execution_timeout_ms: ms(self.execution_timeout),
            run_timeout_ms: ms(self.run_timeout),
            task_timeout_ms: ms(self.task_timeout),
            retry_policy,
        })
    }
}

/// How [`Client::reset`] resets a workflow.
///
/// ```
/// use weft::ResetOptions;
/// let defaults = ResetOptions::default(); // the last good task, signals delivered again
/// assert_eq!((defaults.event_id, defaults.reapply_signals), (None, true));
/// // Back to the Workflow Task completed at event 12, dropping the signals after it:
/// let options = ResetOptions {
///     event_id: Some(12),
///     reapply_signals: false,
///     reason: "roll back deploy 4.2".into(),
/// };
/// assert_eq!(options.reason, "roll back deploy 4.2");
/// ```
#[derive(Clone, Debug)]
pub struct ResetOptions {
    /// The event id of a WorkflowTaskCompleted of the current run; `None` (the default) picks
    /// the last good task: the last one before the failing series of tasks that ends the
    /// history, else the last completed one.
    pub event_id: Option<u64>,
    /// Deliver the signals recorded after the reset point to the new run (default true).
    pub reapply_signals: bool,
    /// Why, recorded in both runs.
    pub reason: String,
}

impl Default for ResetOptions {
    fn default() -> ResetOptions {
        ResetOptions {
            event_id: None,
            reapply_signals: true,
            reason: "reset".to_string(),
        }
    }
}
