//! The sticky cache's side of the replay: a cached instance does not unwind when its code
//! waits for something new; it hands its commands to the host, blocks until the next task, and
//! continues on the grown history (a rebase), keeping the guest's progress.

use crate::commands::produces_command_event;
use crate::machine::{HandleRef, Replay};
use crate::task::{Extra, Interrupt, Resume, StickyLink, UpdateState};
use weft_core::history::{Event, EventKind};

impl Replay {
    /// Makes this replay suspend in place when the code waits for something new, instead of
    /// unwinding the guest: the instance stays alive in the sticky cache.
    pub fn with_sticky(mut self, link: StickyLink) -> Replay {
        self.sticky = Some(link);
        self
    }

    /// When the current task started running code (for its time limit).
    pub fn task_started(&self) -> std::time::Instant {
        self.task_started
    }

    /// Continues a suspended instance on `history`, the full history of its run now: every
    /// command it sent at its suspension must be there, committed in the events before
    /// `known_next`, and no other task may have committed since. Guest progress (matched
    /// commands, handles, delivered messages, random generator) is kept; what the history
    /// says is taken afresh.
    fn rebase(
        &mut self,
        history: &[Event],
        attempt: u32,
        started_ms: u64,
        known_next: u64,
    ) -> Result<(), String> {
        if let Some(e) = history.iter().find(|e| {
            e.id.0 >= known_next && matches!(e.kind, EventKind::WorkflowTaskCompleted { .. })
        }) {
            return Err(format!("another Workflow Task completed at event {}", e.id));
        }
        let fresh = Replay::new(
            self.run,
            self.workflow_id.clone(),
            history,
            attempt,
            started_ms,
            self.limits.clone(),
            self.served.clone(),
        );
        let mut committed = fresh
            .command_events
            .iter()
            .filter(|e| e.id.0 > self.history_len && e.id.0 < known_next);
        let mut assigned = Vec::with_capacity(self.sent_commands.len());
        for cmd in &self.sent_commands {
            if produces_command_event(cmd) {
                let e = committed
                    .next()
                    .ok_or("the history lacks a command the instance issued")?;
                assigned.push(Some(e.id));
            } else {
                assigned.push(None);
            }
        }
        if committed.next().is_some() {
            return Err("the history has commands the instance did not issue".into());
        }
        for (r, _) in &mut self.handles {
            if let HandleRef::New(i) = *r {
                let id = assigned
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or("a handle has no committed event")?;
                *r = HandleRef::Recorded(id);
            }
        }
        let next_command = fresh
            .command_events
            .iter()
            .position(|e| e.id.0 >= known_next)
            .unwrap_or(fresh.command_events.len());
        let issued = assigned.iter().flatten().count();
        if next_command != self.next_command + issued {
            return Err(format!(
                "{} recorded commands, but the instance matched {} and issued {issued}",
                next_command, self.next_command
            ));
        }
        self.next_command = next_command;
        self.next_message = fresh
            .messages
            .iter()
            .filter(|(id, _)| id.0 < known_next)
            .count();
        self.command_events = fresh.command_events;
        self.resolutions = fresh.resolutions;
        self.messages = fresh.messages;
        self.completed_updates = fresh.completed_updates;
        self.accepted_updates = fresh.accepted_updates;
        self.task_starts = fresh.task_starts;
        self.history_len = fresh.history_len;
        self.attempt = attempt;
        self.sent_commands.clear();
        self.new_commands.clear();
        self.extra = Extra::None;
        self.update_state = UpdateState::Pending;
        self.query_running = false;
        self.task_started = std::time::Instant::now();
        self.publish_task();
        Ok(())
    }

    /// At the end of the history with nothing to deliver: a cached instance hands its
    /// commands to the host and waits for the next task (true: go on); otherwise the guest
    /// unwinds with [`Interrupt::Suspend`].
    pub(crate) fn suspend(&mut self) -> Result<(), Interrupt> {
        let Some(link) = &self.sticky else {
            return Err(self.stop(Interrupt::Suspend));
        };
        let commands = std::mem::take(&mut self.new_commands);
        if !(link.suspended)(commands.clone()) {
            return Err(self.stop(Interrupt::Evicted));
        }
        let next = link.resume.recv();
        self.sent_commands = commands;
        match next {
            Ok(Resume::Continue {
                history,
                attempt,
                started_ms,
                known_next,
            }) => self
                .rebase(&history, attempt, started_ms, known_next)
                .map_err(|msg| self.stop(Interrupt::Stale(msg))),
            Ok(Resume::Evict) | Err(_) => Err(self.stop(Interrupt::Evicted)),
        }
    }
}
