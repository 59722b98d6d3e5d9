//! `start-timer` → StartTimer → TimerStarted. (Canceling a timer is in `cancel`.)

use crate::machine::Replay;
use crate::task::Interrupt;
use weft_core::command::Command;
use weft_core::history::EventKind;

impl Replay {
    /// `start-timer`: a timer firing after `duration_ms` of workflow time.
    pub fn start_timer(&mut self, duration_ms: u64) -> Result<u32, Interrupt> {
        self.command(Command::StartTimer { duration_ms })
            .map_err(|i| self.stop(i))
    }
}

/// Any recorded TimerStarted matches (the duration is compared in strict mode only).
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    matches!(
        (cmd, event),
        (Command::StartTimer { .. }, EventKind::TimerStarted { .. })
    )
}

pub(super) fn describe(duration_ms: u64) -> String {
    format!("StartTimer({duration_ms} ms)")
}
