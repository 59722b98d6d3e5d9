//! The sticky cache's side of the replay: a cached instance does not unwind when its code
//! waits for something new; it hands its commands to the host, stays pending until the next
//! task, and continues on the grown history (a rebase), keeping the guest's progress.

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

    /// Continues a suspended instance on `tail`, what its run's history gained since the
    /// instance's last task (the events after its `history_len`): every command it sent at
    /// its suspension must be there, committed in the events before `known_next`, and no
    /// other task may have committed since. Guest progress (matched commands, handles,
    /// delivered messages, random generator) is kept; the new events are indexed, so a task
    /// costs what its history gained, not the whole history.
    fn rebase(
        &mut self,
        tail: &[Event],
        attempt: u32,
        started_ms: u64,
        known_next: u64,
    ) -> Result<(), String> {
        if let Some(first) = tail.first()
            && first.id.0 != self.history_len + 1
        {
            return Err(format!(
                "the new events begin at event {}, not after the instance's {}",
                first.id, self.history_len
            ));
        }
        if let Some(e) = tail.iter().find(|e| {
            e.id.0 >= known_next && matches!(e.kind, EventKind::WorkflowTaskCompleted { .. })
        }) {
            return Err(format!("another Workflow Task completed at event {}", e.id));
        }
        let mut committed = tail
            .iter()
            .filter(|e| e.kind.is_command_event() && e.id.0 < known_next);
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
        let issued = assigned.iter().flatten().count();
        if self.command_events.len() != self.next_command {
            return Err(format!(
                "{} recorded commands, but the instance matched {}",
                self.command_events.len(),
                self.next_command
            ));
        }
        self.index(tail, started_ms);
        self.next_command += issued;
        self.next_message = self
            .messages
            .iter()
            .filter(|(id, _)| id.0 < known_next)
            .count();
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

    /// At the end of the history with nothing to deliver: a cached instance leaves its
    /// commands on its link and returns, to wait for the next task
    /// ([`Replay::wait_any_resumable`]); otherwise the guest unwinds with
    /// [`Interrupt::Suspend`].
    pub(crate) fn suspend(&mut self) -> Result<(), Interrupt> {
        let Some(link) = &self.sticky else {
            return Err(self.stop(Interrupt::Suspend));
        };
        let commands = std::mem::take(&mut self.new_commands);
        link.suspend(commands.clone());
        self.sent_commands = commands;
        Ok(())
    }

    /// The next task reached a suspended instance: it continues on the grown history, or
    /// unwinds when evicted or stale.
    pub(crate) fn resumed(&mut self, next: Resume) -> Result<(), Interrupt> {
        match next {
            Resume::Continue {
                tail,
                attempt,
                started_ms,
                known_next,
            } => self
                .rebase(&tail, attempt, started_ms, known_next)
                .map_err(|msg| self.stop(Interrupt::Stale(msg))),
            Resume::Evict => Err(self.stop(Interrupt::Evicted)),
        }
    }
}
