//! `accept-update` → AcceptUpdate → WorkflowExecutionUpdateAccepted, `reject-update` (records
//! nothing), `complete-update` → CompleteUpdate → WorkflowExecutionUpdateCompleted. Not matched
//! by position: an update is delivered at the end of the history (`wait`), and a recorded
//! acceptance or completion is found by update id.

use crate::machine::Replay;
use crate::task::{Extra, Interrupt, UpdateState};
use weft_core::command::Command;
use weft_core::history::{Failure, Payload};

impl Replay {
    pub fn accept_update(&mut self, id: String) -> Result<(), Interrupt> {
        match (&self.extra, &self.update_state) {
            (Extra::Update(u), UpdateState::Validating) if u.id == id => {
                let cmd = Command::AcceptUpdate {
                    update_id: u.id.clone(),
                    update_name: u.name.clone(),
                    input: u.input.clone(),
                };
                self.update_state = UpdateState::Accepted;
                self.push_unmatched(cmd).map_err(|i| self.stop(i))
            }
            _ => Err(self.stop(Interrupt::InvalidCall(format!(
                "accept-update '{id}': no update with this id is being validated"
            )))),
        }
    }

    pub fn reject_update(&mut self, id: String, failure: Failure) -> Result<(), Interrupt> {
        match (&self.extra, &self.update_state) {
            (Extra::Update(u), UpdateState::Validating) if u.id == id => {
                self.update_state = UpdateState::Rejected(failure);
                Ok(())
            }
            _ => Err(self.stop(Interrupt::InvalidCall(format!(
                "reject-update '{id}': no update with this id is being validated"
            )))),
        }
    }

    pub fn complete_update(
        &mut self,
        id: String,
        outcome: Result<Vec<u8>, Failure>,
    ) -> Result<(), Interrupt> {
        if self.completed_updates.contains(&id) {
            return Ok(()); // recorded in the history (or already in this task)
        }
        let accepted_now = matches!(
            (&self.extra, &self.update_state),
            (Extra::Update(u), UpdateState::Accepted) if u.id == id
        );
        if !self.accepted_updates.contains(&id) && !accepted_now {
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "complete-update '{id}': no accepted update has this id"
            ))));
        }
        if let Ok(p) = &outcome
            && let Err(i) = self.check_payload(&format_args!("result of update {id}"), p)
        {
            return Err(self.stop(i));
        }
        self.completed_updates.insert(id.clone());
        let cmd = Command::CompleteUpdate {
            update_id: id,
            outcome: outcome.map(Payload),
        };
        self.push_unmatched(cmd).map_err(|i| self.stop(i))
    }
}
