//! Requests to other workflows of the namespace: signals and cancel requests, and the
//! [`ExternalOperation`] that tells whether the target recorded them.

use crate::failure::{Result, decode_outcome};
use crate::runtime::{Pending, wait};
use crate::{host, wit};
use serde::Serialize;

/// A signal or cancel request sent to another workflow of the namespace
/// ([`signal_external_workflow`], [`cancel_external_workflow`]).
#[must_use = "the request is sent whether or not its outcome is read; call result() to wait for it"]
pub struct ExternalOperation {
    handle: u32,
    what: String,
}

impl Pending for ExternalOperation {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl ExternalOperation {
    /// Waits until the target recorded the request (`Ok`), or it was refused: a failure whose
    /// type is the cause, `ExternalWorkflowExecutionNotFound` when no open run has the id (and
    /// run id) in the namespace, or `HistoryLimitExceeded` for a signal the target's history
    /// cannot take.
    pub fn result(&self) -> Result<()> {
        let (_, outcome) = wait(&[self.handle]);
        match outcome {
            wit::Outcome::Completed(_) => Ok(()),
            other => decode_outcome::<()>(&self.what, other),
        }
    }
}

/// Signals workflow `id` of this namespace (its run `run_id`, or its current run) with signal
/// `name` and `input` (as Temporal's `SignalExternalWorkflowExecution`). Wait with
/// [`ExternalOperation::result`] to learn whether it was delivered.
pub fn signal_external_workflow<I: Serialize + ?Sized>(
    id: &str,
    run_id: Option<&str>,
    name: &str,
    input: &I,
) -> ExternalOperation {
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of signal '{name}' to {id} does not serialize: {e}"));
    ExternalOperation {
        handle: host::signal_external_workflow(id, run_id, name, &input),
        what: format!("signal '{name}' to workflow '{id}'"),
    }
}

/// Asks workflow `id` of this namespace (its run `run_id`, or its current run) to cancel, with
/// `reason` (as Temporal's `RequestCancelExternalWorkflowExecution`). Wait with
/// [`ExternalOperation::result`] to learn whether the request was recorded.
pub fn cancel_external_workflow(id: &str, run_id: Option<&str>, reason: &str) -> ExternalOperation {
    ExternalOperation {
        handle: host::request_cancel_external_workflow(id, run_id, reason),
        what: format!("cancel request to workflow '{id}'"),
    }
}
