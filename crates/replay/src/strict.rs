//! Strict replay: compares every attribute the workflow code decides (inputs, timeouts, retry
//! policies, task queues, timer durations, child options) between a replayed command and the
//! recorded event it matched.
//!
//! Lenient replay, the default and Temporal's behavior, only checks a command's position, kind
//! and identity (activity type, Nexus operation, child type and id, marker, cancel target); that
//! check is in `Replay::command` and runs in both modes. This module adds the rest, and only
//! runs in strict mode. It does not decide which event a command is matched with.

use crate::commands;
use weft_core::command::Command;
use weft_core::history::{EventKind, ParentClosePolicy, Payload, RetryPolicy, WorkflowOptions};

/// How a replayed command is compared with the recorded event it matches.
///
/// ```
/// use weft_replay::{ReplayMode, Served};
/// // A host sets this through `NamespaceBuilder::replay_mode` / `replay_mode_for`.
/// let mut served = Served::default();
/// served.replay_mode = ReplayMode::Strict; // every workflow type of the namespace
/// served.replay_modes.insert("report".into(), ReplayMode::Lenient); // except this one
/// assert_eq!(served.replay_mode_of("orders"), ReplayMode::Strict);
/// assert_eq!(served.replay_mode_of("report"), ReplayMode::Lenient);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// Position, kind and identity only, as Temporal: the activity type, the Nexus operation,
    /// the child's type and id, the marker, the target of a cancel. Code that now sends another
    /// input, timeout or timer duration replays on, and receives the result recorded for the
    /// old command.
    #[default]
    Lenient,
    /// Also every attribute the code decides: activity input, timeouts, retry policy and task
    /// queue; timer duration; Nexus input and timeout; child input, options and parent close
    /// policy. A difference fails the Workflow Task as non-determinism naming the event, the
    /// attribute and both values; the execution stays open.
    Strict,
}

/// An attribute of a replayed command that differs from the recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The attribute, named as in the recorded event (`input`, `retry_policy.maximum_attempts`).
    pub attribute: String,
    /// The recorded value, as text (payloads truncated).
    pub recorded: String,
    /// The value the code gives now, as text (payloads truncated).
    pub new: String,
}

/// Bytes of a payload shown in a mismatch.
pub const SHOWN_PAYLOAD_BYTES: usize = 80;

/// The first attribute in which `cmd` differs from `recorded`, the event it was matched with by
/// position, kind and identity. `None` when every attribute the code decides is the same.
pub fn first_mismatch(cmd: &Command, recorded: &EventKind) -> Option<Mismatch> {
    let mut c = Compare(None);
    commands::compare(cmd, recorded, &mut c);
    c.0
}

/// Collects the first difference.
pub(crate) struct Compare(Option<Mismatch>);

impl Compare {
    pub(crate) fn value<T: PartialEq + ?Sized>(
        &mut self,
        attribute: &str,
        recorded: &T,
        new: &T,
        show: impl Fn(&T) -> String,
    ) {
        if self.0.is_none() && recorded != new {
            self.0 = Some(Mismatch {
                attribute: attribute.to_string(),
                recorded: show(recorded),
                new: show(new),
            });
        }
    }

    pub(crate) fn text(&mut self, attribute: &str, recorded: &str, new: &str) {
        self.value(attribute, recorded, new, |s| format!("'{s}'"));
    }

    pub(crate) fn payload(&mut self, attribute: &str, recorded: &Payload, new: &Payload) {
        if self.0.is_some() || recorded == new {
            return;
        }
        let mut new_text = show_payload(new);
        let first_difference = recorded
            .0
            .iter()
            .zip(&new.0)
            .position(|(r, n)| r != n)
            .unwrap_or(recorded.len().min(new.len()));
        if first_difference >= SHOWN_PAYLOAD_BYTES {
            new_text.push_str(&format!(", differing from byte {first_difference}"));
        }
        self.0 = Some(Mismatch {
            attribute: attribute.to_string(),
            recorded: show_payload(recorded),
            new: new_text,
        });
    }

    pub(crate) fn retry(&mut self, attribute: &str, recorded: &RetryPolicy, new: &RetryPolicy) {
        let field = |name: &str| format!("{attribute}.{name}");
        self.value(
            &field("initial_interval_ms"),
            &recorded.initial_interval_ms,
            &new.initial_interval_ms,
            ms,
        );
        self.value(
            &field("backoff_coefficient"),
            &recorded.backoff_coefficient,
            &new.backoff_coefficient,
            |v| v.to_string(),
        );
        self.value(
            &field("maximum_interval_ms"),
            &recorded.maximum_interval_ms,
            &new.maximum_interval_ms,
            ms,
        );
        self.value(
            &field("maximum_attempts"),
            &recorded.maximum_attempts,
            &new.maximum_attempts,
            |v| v.to_string(),
        );
        self.value(
            &field("non_retryable_error_types"),
            &recorded.non_retryable_error_types,
            &new.non_retryable_error_types,
            |v| format!("{v:?}"),
        );
    }

    pub(crate) fn options(&mut self, recorded: &WorkflowOptions, new: &WorkflowOptions) {
        let WorkflowOptions {
            execution_timeout_ms,
            run_timeout_ms,
            task_timeout_ms,
            retry_policy,
        } = new;
        self.value(
            "options.execution_timeout_ms",
            &recorded.execution_timeout_ms,
            execution_timeout_ms,
            opt_ms,
        );
        self.value(
            "options.run_timeout_ms",
            &recorded.run_timeout_ms,
            run_timeout_ms,
            opt_ms,
        );
        self.value(
            "options.task_timeout_ms",
            &recorded.task_timeout_ms,
            task_timeout_ms,
            opt_ms,
        );
        match (&recorded.retry_policy, retry_policy) {
            (Some(r), Some(n)) => self.retry("options.retry_policy", r, n),
            (r, n) => self.value("options.retry_policy", r, n, |p| match p {
                Some(p) => format!("{p:?}"),
                None => "none".into(),
            }),
        }
    }
}

pub(crate) fn ms(v: &u64) -> String {
    format!("{v} ms")
}

pub(crate) fn opt_ms(v: &Option<u64>) -> String {
    v.as_ref().map_or_else(|| "none".into(), ms)
}

pub(crate) fn policy_text(p: &ParentClosePolicy) -> String {
    format!("{p:?}")
}

/// A payload for an error message: its first [`SHOWN_PAYLOAD_BYTES`] bytes as text between
/// backticks (control characters escaped), followed by its size when it is longer.
pub fn show_payload(p: &Payload) -> String {
    let head = match std::str::from_utf8(&p.0) {
        Ok(s) => std::borrow::Cow::Borrowed(&s[..s.floor_char_boundary(SHOWN_PAYLOAD_BYTES)]),
        Err(_) => String::from_utf8_lossy(&p.0[..p.len().min(SHOWN_PAYLOAD_BYTES)]),
    };
    let mut out = String::with_capacity(head.len() + 24);
    out.push('`');
    for ch in head.chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out.push('`');
    if head.len() < p.len() {
        out.push_str(&format!("... ({} bytes)", p.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Interrupt, Replay, Served};
    use std::sync::Arc;
    use weft_core::history::{Event, EventKind};
    use weft_core::ids::{EventId, RunId, WorkflowId};
    use weft_core::limits::Limits;

    fn activity(input: &str) -> Command {
        Command::ScheduleActivity {
            activity_type: "charge".into(),
            input: Payload(input.as_bytes().to_vec()),
            start_to_close_timeout_ms: 60_000,
            retry_policy: RetryPolicy::default(),
            schedule_to_close_timeout_ms: None,
            schedule_to_start_timeout_ms: None,
            heartbeat_timeout_ms: None,
            task_queue: "default".into(),
        }
    }

    /// The event the store writes for `cmd` (only the kinds these tests use).
    fn recorded(cmd: &Command) -> EventKind {
        match cmd.clone() {
            Command::ScheduleActivity {
                activity_type,
                input,
                start_to_close_timeout_ms,
                retry_policy,
                schedule_to_close_timeout_ms,
                schedule_to_start_timeout_ms,
                heartbeat_timeout_ms,
                task_queue,
            } => EventKind::ActivityTaskScheduled {
                activity_type,
                input,
                start_to_close_timeout_ms,
                retry_policy,
                schedule_to_close_timeout_ms,
                schedule_to_start_timeout_ms,
                heartbeat_timeout_ms,
                task_queue,
            },
            Command::StartTimer { duration_ms } => EventKind::TimerStarted {
                duration_ms,
                fire_at_ms: 1_000 + duration_ms,
            },
            Command::ScheduleNexusOperation {
                endpoint,
                service,
                operation,
                input,
                schedule_to_close_timeout_ms,
            } => EventKind::NexusOperationScheduled {
                endpoint,
                service,
                operation,
                input,
                request_id: "r-5".into(),
                schedule_to_close_timeout_ms,
            },
            Command::StartChild {
                workflow_type,
                workflow_id,
                input,
                policy,
                options,
            } => EventKind::StartChildWorkflowExecutionInitiated {
                workflow_id: workflow_id.0,
                workflow_type,
                input,
                parent_close_policy: policy,
                options,
            },
            other => panic!("not used here: {other:?}"),
        }
    }

    fn mismatch(attribute: &str, recorded: &str, new: &str) -> Option<Mismatch> {
        Some(Mismatch {
            attribute: attribute.into(),
            recorded: recorded.into(),
            new: new.into(),
        })
    }

    #[test]
    fn a_signal_to_another_workflow_compares_its_run_id_and_input() {
        let signal = |run_id: Option<&str>, input: &str| Command::SignalExternal {
            workflow_id: WorkflowId("target".into()),
            run_id: run_id.map(str::to_string),
            signal_name: "add".into(),
            input: Payload(input.as_bytes().to_vec()),
        };
        let recorded = EventKind::SignalExternalWorkflowExecutionInitiated {
            workflow_id: "target".into(),
            run_id: None,
            signal_name: "add".into(),
            input: Payload(b"1".to_vec()),
        };
        assert_eq!(first_mismatch(&signal(None, "1"), &recorded), None);
        assert_eq!(
            first_mismatch(&signal(Some("r"), "1"), &recorded),
            mismatch("run_id", "none", "r")
        );
        assert_eq!(
            first_mismatch(&signal(None, "2"), &recorded).map(|m| m.attribute),
            Some("input".into())
        );
    }

    #[test]
    fn identical_commands_match_and_every_decided_attribute_is_compared() {
        let cmd = activity(r#"{"amount":5}"#);
        assert_eq!(first_mismatch(&cmd, &recorded(&cmd)), None);

        let changed = activity(r#"{"amount":7}"#);
        assert_eq!(
            first_mismatch(&changed, &recorded(&cmd)),
            mismatch("input", r#"`{"amount":5}`"#, r#"`{"amount":7}`"#)
        );

        let mut changed = activity(r#"{"amount":5}"#);
        if let Command::ScheduleActivity {
            retry_policy,
            heartbeat_timeout_ms,
            ..
        } = &mut changed
        {
            retry_policy.maximum_attempts = 3;
            *heartbeat_timeout_ms = Some(5_000);
        }
        // The first difference is reported.
        assert_eq!(
            first_mismatch(&changed, &recorded(&cmd)),
            mismatch("heartbeat_timeout_ms", "none", "5000 ms")
        );
        if let Command::ScheduleActivity {
            heartbeat_timeout_ms,
            ..
        } = &mut changed
        {
            *heartbeat_timeout_ms = None;
        }
        assert_eq!(
            first_mismatch(&changed, &recorded(&cmd)),
            mismatch("retry_policy.maximum_attempts", "0", "3")
        );

        let mut queue = activity(r#"{"amount":5}"#);
        if let Command::ScheduleActivity { task_queue, .. } = &mut queue {
            *task_queue = "gpu".into();
        }
        assert_eq!(
            first_mismatch(&queue, &recorded(&cmd)),
            mismatch("task_queue", "'default'", "'gpu'")
        );
    }

    #[test]
    fn timers_nexus_operations_and_children_are_compared() {
        let timer = Command::StartTimer { duration_ms: 1_000 };
        assert_eq!(
            first_mismatch(
                &Command::StartTimer { duration_ms: 2_000 },
                &recorded(&timer)
            ),
            mismatch("duration_ms", "1000 ms", "2000 ms")
        );

        let nexus = |input: &str, timeout| Command::ScheduleNexusOperation {
            endpoint: "calc".into(),
            service: "math".into(),
            operation: "add".into(),
            input: Payload(input.as_bytes().to_vec()),
            schedule_to_close_timeout_ms: timeout,
        };
        let r = recorded(&nexus("1", None));
        assert_eq!(first_mismatch(&nexus("1", None), &r), None);
        assert_eq!(
            first_mismatch(&nexus("2", None), &r),
            mismatch("input", "`1`", "`2`")
        );
        assert_eq!(
            first_mismatch(&nexus("1", Some(10)), &r),
            mismatch("schedule_to_close_timeout_ms", "none", "10 ms")
        );

        let child = |policy, run_timeout_ms, retry_policy| Command::StartChild {
            workflow_type: "archive".into(),
            workflow_id: WorkflowId("a-1".into()),
            input: Payload(b"{}".to_vec()),
            policy,
            options: WorkflowOptions {
                run_timeout_ms,
                retry_policy,
                ..WorkflowOptions::default()
            },
        };
        let r = recorded(&child(ParentClosePolicy::Terminate, None, None));
        assert_eq!(
            first_mismatch(&child(ParentClosePolicy::Abandon, None, None), &r),
            mismatch("parent_close_policy", "Terminate", "Abandon")
        );
        assert_eq!(
            first_mismatch(&child(ParentClosePolicy::Terminate, Some(60_000), None), &r),
            mismatch("options.run_timeout_ms", "none", "60000 ms")
        );
        let retry = Some(RetryPolicy::default());
        let m = first_mismatch(&child(ParentClosePolicy::Terminate, None, retry), &r).unwrap();
        assert_eq!(
            (m.attribute.as_str(), m.recorded.as_str()),
            ("options.retry_policy", "none")
        );
    }

    #[test]
    fn long_payloads_are_shown_truncated_with_where_they_differ() {
        let long = |last: char| Payload(format!("{}{last}", "x".repeat(199)).into_bytes());
        let cmd = |p: Payload| Command::ScheduleNexusOperation {
            endpoint: "e".into(),
            service: "s".into(),
            operation: "o".into(),
            input: p,
            schedule_to_close_timeout_ms: None,
        };
        let m = first_mismatch(&cmd(long('b')), &recorded(&cmd(long('a')))).unwrap();
        let shown = format!("`{}`... (200 bytes)", "x".repeat(SHOWN_PAYLOAD_BYTES));
        assert_eq!(m.recorded, shown);
        assert_eq!(m.new, format!("{shown}, differing from byte 199"));
        assert_eq!(show_payload(&Payload(b"a\nb".to_vec())), "`a\\nb`");
        assert_eq!(show_payload(&Payload(vec![0xff, b'a'])), "`\u{fffd}a`");
    }

    fn replay(strict: bool) -> Replay {
        let event = |id, kind| Event {
            id: EventId(id),
            time_ms: 1_000,
            kind,
        };
        let history = [
            event(
                1,
                EventKind::WorkflowExecutionStarted {
                    workflow_type: "order".into(),
                    input: Payload(b"{}".to_vec()),
                    random_seed: 7,
                },
            ),
            event(2, EventKind::WorkflowTaskScheduled { attempt: 1 }),
            event(
                3,
                EventKind::WorkflowTaskStarted {
                    scheduled_event_id: EventId(2),
                },
            ),
            event(
                4,
                EventKind::WorkflowTaskCompleted {
                    started_event_id: EventId(3),
                },
            ),
            event(5, recorded(&activity(r#"{"amount":5}"#))),
        ];
        let mut served = Served::default();
        served.task_queues.insert("default".into());
        if strict {
            served
                .replay_modes
                .insert("order".into(), ReplayMode::Strict);
        }
        Replay::new(
            RunId(1),
            WorkflowId("o-1".into()),
            &history,
            1,
            2_000,
            Limits::default(),
            Arc::new(served),
        )
    }

    #[test]
    fn lenient_replay_accepts_a_changed_input_and_strict_replay_names_it() {
        let changed = activity(r#"{"amount":7}"#);
        assert_eq!(replay(false).command(changed.clone()), Ok(0));
        assert_eq!(replay(true).command(activity(r#"{"amount":5}"#)), Ok(0));
        let Err(Interrupt::NonDeterminism(msg)) = replay(true).command(changed) else {
            panic!("strict replay must refuse a changed input");
        };
        for part in ["event 5", "input", r#"`{"amount":5}`"#, r#"`{"amount":7}`"#] {
            assert!(msg.contains(part), "{part} missing from: {msg}");
        }
    }
}
