//! `signal-external-workflow` → SignalExternal → SignalExternalWorkflowExecutionInitiated and
//! `request-cancel-external-workflow` → RequestCancelExternal →
//! RequestCancelExternalWorkflowExecutionInitiated (initiated event id 0). Delivered in the
//! committing transaction; ExternalWorkflowExecution{Signaled,CancelRequested} or the Failed
//! events resolve the handle.

use crate::machine::Replay;
use crate::strict::Compare;
use crate::task::Interrupt;
use weft_core::command::Command;
use weft_core::history::{EventKind, Payload};
use weft_core::ids::{RunId, WorkflowId};

impl Replay {
    pub fn signal_external_workflow(
        &mut self,
        workflow_id: String,
        run_id: Option<String>,
        signal_name: String,
        input: Vec<u8>,
    ) -> Result<u32, Interrupt> {
        if let Err(i) = self.check_payload(
            &format_args!("input of signal '{signal_name}' to workflow {workflow_id}"),
            &input,
        ) {
            return Err(self.stop(i));
        }
        if let Err(msg) = check_external("signal-external-workflow", &workflow_id, &run_id) {
            return Err(self.stop(Interrupt::InvalidCall(msg)));
        }
        if signal_name.is_empty() || signal_name.len() > 1000 {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "signal-external-workflow to '{workflow_id}': the signal name must have 1 to 1000 bytes, not {}",
                signal_name.len()
            ))));
        }
        let cmd = Command::SignalExternal {
            workflow_id: WorkflowId(workflow_id),
            run_id,
            signal_name,
            input: Payload(input),
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }

    pub fn request_cancel_external_workflow(
        &mut self,
        workflow_id: String,
        run_id: Option<String>,
        reason: String,
    ) -> Result<u32, Interrupt> {
        if let Err(msg) = check_external("request-cancel-external-workflow", &workflow_id, &run_id)
        {
            return Err(self.stop(Interrupt::InvalidCall(msg)));
        }
        if let Err(i) = self.check_payload(
            &"reason of request-cancel-external-workflow",
            reason.as_bytes(),
        ) {
            return Err(self.stop(i));
        }
        let cmd = Command::RequestCancelExternal {
            workflow_id: WorkflowId(workflow_id),
            run_id,
            reason,
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }
}

/// Recorded external requests match by target workflow id (and signal name).
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match (cmd, event) {
        (
            Command::SignalExternal {
                workflow_id,
                signal_name,
                ..
            },
            EventKind::SignalExternalWorkflowExecutionInitiated {
                workflow_id: i,
                signal_name: n,
                ..
            },
        ) => &workflow_id.0 == i && signal_name == n,
        (
            Command::RequestCancelExternal { workflow_id, .. },
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id,
                workflow_id: i,
                ..
            },
        ) => initiated_event_id.0 == 0 && &workflow_id.0 == i,
        _ => false,
    }
}

pub(super) fn describe_signal(workflow_id: &WorkflowId, signal_name: &str) -> String {
    format!("SignalExternalWorkflowExecution(signal '{signal_name}', id '{workflow_id}')")
}

pub(super) fn describe_cancel(workflow_id: &WorkflowId) -> String {
    format!("RequestCancelExternalWorkflowExecution(id '{workflow_id}')")
}

/// Checks the target of `signal-external-workflow` / `request-cancel-external-workflow`.
fn check_external(call: &str, workflow_id: &str, run_id: &Option<String>) -> Result<(), String> {
    if workflow_id.is_empty() || workflow_id.len() > 1000 {
        return Err(format!(
            "{call}: the workflow id must have 1 to 1000 bytes, not {}",
            workflow_id.len()
        ));
    }
    if let Some(r) = run_id
        && RunId::parse(r).is_none()
    {
        return Err(format!(
            "{call} to '{workflow_id}': run id '{r}' is not a run id (a UUID as `info` gives)"
        ));
    }
    Ok(())
}

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    match (cmd, recorded) {
        (
            Command::SignalExternal {
                workflow_id,
                run_id,
                signal_name,
                input,
            },
            EventKind::SignalExternalWorkflowExecutionInitiated {
                workflow_id: r_id,
                run_id: r_run,
                signal_name: r_name,
                input: r_input,
            },
        ) => {
            c.text("workflow_id", r_id, &workflow_id.0);
            c.value("run_id", r_run, run_id, |r| {
                r.clone().unwrap_or_else(|| "none".into())
            });
            c.text("signal_name", r_name, signal_name);
            c.payload("input", r_input, input);
        }
        (
            Command::RequestCancelExternal { workflow_id, .. },
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                workflow_id: r_id, ..
            },
        ) => {
            // The event keeps only the target's workflow id (the reason is in the target's
            // history); the run id and reason cannot be compared.

            c.text("workflow_id", r_id, &workflow_id.0);
        }
        _ => {}
    }
}
