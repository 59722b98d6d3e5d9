//! `start-child-workflow` → StartChild → StartChildWorkflowExecutionInitiated (then Started,
//! and Completed / Failed / Canceled / Terminated / TimedOut, or StartChild...Failed, resolve
//! the handle). Canceling is in `cancel`.

use super::positive;
use crate::machine::Replay;
use crate::strict::{Compare, policy_text};
use crate::task::Interrupt;
use crate::types::ChildOptions;
use weft_core::command::Command;
use weft_core::history::{EventKind, ParentClosePolicy, Payload, WorkflowOptions};
use weft_core::ids::WorkflowId;

impl Replay {
    pub fn start_child_workflow(
        &mut self,
        workflow_type: String,
        workflow_id: String,
        input: Vec<u8>,
        options: ChildOptions,
    ) -> Result<u32, Interrupt> {
        if let Err(i) = self.check_payload(
            &format_args!("input of child workflow {workflow_id}"),
            &input,
        ) {
            return Err(self.stop(i));
        }
        if workflow_type.is_empty() || workflow_id.is_empty() || workflow_id.len() > 1000 {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "start-child-workflow: the type must not be empty and the id must have 1 to 1000 bytes (type '{workflow_type}', id of {} bytes)",
                workflow_id.len()
            ))));
        }
        let retry_policy = match options.retry_policy.as_ref().map(|p| p.clone().checked()) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(msg)) => {
                return Err(self.stop(Interrupt::InvalidCall(format!(
                    "start-child-workflow '{workflow_id}': {msg}"
                ))));
            }
        };
        let policy = options
            .parent_close_policy
            .unwrap_or(ParentClosePolicy::Terminate);
        let cmd = Command::StartChild {
            workflow_type,
            workflow_id: WorkflowId(workflow_id),
            input: Payload(input),
            policy,
            options: WorkflowOptions {
                execution_timeout_ms: positive(options.execution_timeout_ms),
                run_timeout_ms: positive(options.run_timeout_ms),
                task_timeout_ms: positive(options.task_timeout_ms),
                retry_policy,
            },
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }
}

/// A recorded StartChildWorkflowExecutionInitiated matches by type and workflow id.
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match (cmd, event) {
        (
            Command::StartChild {
                workflow_type,
                workflow_id,
                ..
            },
            EventKind::StartChildWorkflowExecutionInitiated {
                workflow_type: t,
                workflow_id: i,
                ..
            },
        ) => workflow_type == t && &workflow_id.0 == i,
        _ => false,
    }
}

pub(super) fn describe(workflow_type: &str, workflow_id: &WorkflowId) -> String {
    format!("StartChildWorkflowExecution(type '{workflow_type}', id '{workflow_id}')")
}

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    if let (
        Command::StartChild {
            workflow_type,
            workflow_id,
            input,
            policy,
            options,
        },
        EventKind::StartChildWorkflowExecutionInitiated {
            workflow_id: r_id,
            workflow_type: r_type,
            input: r_input,
            parent_close_policy: r_policy,
            options: r_options,
        },
    ) = (cmd, recorded)
    {
        c.text("workflow_type", r_type, workflow_type);
        c.text("workflow_id", r_id, &workflow_id.0);
        c.payload("input", r_input, input);
        c.value("parent_close_policy", r_policy, policy, policy_text);
        c.options(r_options, options);
    }
}
