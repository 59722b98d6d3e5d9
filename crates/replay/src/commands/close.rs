//! How a run ends in the code: `run` returns (CompleteWorkflow, FailWorkflow, or
//! CancelWorkflow after a cancel request the code saw) or calls `continue-as-new`
//! (ContinueAsNew). Refused while the history has commands the code did not issue again, or
//! while messages the code could see were never delivered.

use crate::machine::Replay;
use crate::task::{Interrupt, UpdateState};
use weft_core::command::Command;
use weft_core::history::{Failure, Payload};

impl Replay {
    /// Called when `run` returned: the final command, after checking that every recorded
    /// command was issued again.
    pub fn finish(&mut self, result: Result<Vec<u8>, Failure>) -> Result<Vec<Command>, Interrupt> {
        if let Some(e) = self.unmatched() {
            return Err(Interrupt::NonDeterminism(format!(
                "the workflow returned, but the history has more commands from this point: {e} was not issued. Deploy the code that wrote this history, or let this run finish first"
            )));
        }
        self.all_messages_delivered("returned")?;
        let cmd = match result {
            Ok(payload) => {
                self.check_payload(&"workflow result", &payload)?;
                Command::CompleteWorkflow {
                    result: Payload(payload),
                }
            }
            Err(f) if self.cancel_seen && f.error_type == "Canceled" => Command::CancelWorkflow {
                // The details, or else the message, as Temporal's canceled details.
                details: Some(
                    f.details
                        .unwrap_or_else(|| Payload::json(&serde_json::Value::String(f.message))),
                ),
            },
            Err(failure) => Command::FailWorkflow { failure },
        };
        self.new_commands.push(cmd);
        Ok(std::mem::take(&mut self.new_commands))
    }

    pub fn continue_as_new(&mut self, input: Vec<u8>) -> Result<(), Interrupt> {
        if let Err(i) = self.check_payload(&"input of continue-as-new", &input) {
            return Err(self.stop(i));
        }
        if let Some(e) = self.unmatched() {
            return Err(self.stop(Interrupt::NonDeterminism(format!(
                "the workflow continued as new, but the history has more commands from this point: {e} was not issued"
            ))));
        }
        if self.query_running || self.update_state == UpdateState::Validating {
            return Err(self.stop(Interrupt::InvalidCall(
                "continue-as-new called from a query handler or an update validator".into(),
            )));
        }
        if let Err(i) = self.all_messages_delivered("continued as new") {
            return Err(self.stop(i));
        }
        self.new_commands.push(Command::ContinueAsNew {
            input: Payload(input),
        });
        Err(self.stop(Interrupt::ContinuedAsNew))
    }
}
