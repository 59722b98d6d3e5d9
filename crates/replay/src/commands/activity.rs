//! `schedule-activity` → ScheduleActivity → ActivityTaskScheduled. The arguments are checked
//! as Temporal checks ScheduleActivityTask attributes; the outcome events (completed, failed,
//! timed out, canceled) resolve the handle (`index`). Canceling is in `cancel`.

use super::positive;
use crate::machine::Replay;
use crate::strict::{Compare, ms, opt_ms};
use crate::task::Interrupt;
use crate::types::ActivityOptions;
use weft_core::command::Command;
use weft_core::history::{DEFAULT_TASK_QUEUE, EventKind, Payload, RetryPolicy};

impl Replay {
    pub fn schedule_activity(
        &mut self,
        activity_type: String,
        input: Vec<u8>,
        options: ActivityOptions,
    ) -> Result<u32, Interrupt> {
        if let Err(i) =
            self.check_payload(&format_args!("input of activity {activity_type}"), &input)
        {
            return Err(self.stop(i));
        }
        let retry_policy = match validate_activity(&activity_type, &options) {
            Ok(p) => p,
            Err(msg) => return Err(self.stop(Interrupt::InvalidCall(msg))),
        };
        let task_queue = options
            .task_queue
            .clone()
            .unwrap_or_else(|| DEFAULT_TASK_QUEUE.to_string());
        if !self.served.remote_workers && !self.served.task_queues.contains(&task_queue) {
            let mut known: Vec<&String> = self.served.task_queues.iter().collect();
            known.sort();
            return Err(self.stop(Interrupt::InvalidCall(format!(
                "schedule-activity '{activity_type}': task queue '{task_queue}' is not served in this namespace (served: {known:?})"
            ))));
        }
        let schedule_to_close = positive(options.schedule_to_close_timeout_ms);
        // Temporal: start-to-close defaults to schedule-to-close when only that is set.
        let start_to_close = positive(options.start_to_close_timeout_ms)
            .or(schedule_to_close)
            .unwrap_or(60_000);
        let cmd = Command::ScheduleActivity {
            activity_type,
            input: Payload(input),
            start_to_close_timeout_ms: start_to_close,
            retry_policy,
            schedule_to_close_timeout_ms: schedule_to_close,
            schedule_to_start_timeout_ms: positive(options.schedule_to_start_timeout_ms),
            heartbeat_timeout_ms: positive(options.heartbeat_timeout_ms),
            task_queue,
        };
        self.command(cmd).map_err(|i| self.stop(i))
    }
}

/// A recorded ActivityTaskScheduled matches by activity type.
pub(super) fn matches(cmd: &Command, event: &EventKind) -> bool {
    match (cmd, event) {
        (
            Command::ScheduleActivity { activity_type, .. },
            EventKind::ActivityTaskScheduled {
                activity_type: recorded,
                ..
            },
        ) => activity_type == recorded,
        _ => false,
    }
}

pub(super) fn describe(activity_type: &str) -> String {
    format!("ScheduleActivityTask(activity type '{activity_type}')")
}

/// Checks the arguments of schedule-activity as Temporal checks ScheduleActivityTask
/// attributes, and returns the retry policy with defaults filled in.
fn validate_activity(
    activity_type: &str,
    options: &ActivityOptions,
) -> Result<RetryPolicy, String> {
    let bad = |what: String| Err(format!("schedule-activity '{activity_type}': {what}"));
    if activity_type.is_empty() || activity_type.len() > 1000 {
        return bad(format!(
            "the activity type must have 1 to 1000 bytes, not {}",
            activity_type.len()
        ));
    }
    match &options.retry_policy {
        None => Ok(RetryPolicy::default()),
        Some(p) => p.clone().checked().or_else(bad),
    }
}

/// Strict replay: every attribute the code decides, compared with the recorded event (the
/// identity was matched already).
pub(super) fn compare(cmd: &Command, recorded: &EventKind, c: &mut Compare) {
    if let (
        Command::ScheduleActivity {
            activity_type,
            input,
            start_to_close_timeout_ms,
            retry_policy,
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            task_queue,
        },
        EventKind::ActivityTaskScheduled {
            activity_type: r_type,
            input: r_input,
            start_to_close_timeout_ms: r_stc,
            retry_policy: r_retry,
            schedule_to_close_timeout_ms: r_s2c,
            schedule_to_start_timeout_ms: r_s2s,
            heartbeat_timeout_ms: r_hb,
            task_queue: r_queue,
        },
    ) = (cmd, recorded)
    {
        c.text("activity_type", r_type, activity_type);
        c.payload("input", r_input, input);
        c.value(
            "start_to_close_timeout_ms",
            r_stc,
            start_to_close_timeout_ms,
            ms,
        );
        c.value(
            "schedule_to_close_timeout_ms",
            r_s2c,
            schedule_to_close_timeout_ms,
            opt_ms,
        );
        c.value(
            "schedule_to_start_timeout_ms",
            r_s2s,
            schedule_to_start_timeout_ms,
            opt_ms,
        );
        c.value("heartbeat_timeout_ms", r_hb, heartbeat_timeout_ms, opt_ms);
        c.retry("retry_policy", r_retry, retry_policy);
        c.text("task_queue", r_queue, task_queue);
    }
}
