//! `start-timer` → StartTimer → TimerStarted. (Canceling a timer is in `cancel`.)

use crate::machine::Replay;
use crate::strict::{Compare, ms};
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

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    if let (
        Command::StartTimer { duration_ms },
        EventKind::TimerStarted {
            duration_ms: r_duration,
            ..
        },
    ) = (cmd, recorded)
    {
        c.value("duration_ms", r_duration, duration_ms, ms);
    }
}
