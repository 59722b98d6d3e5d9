//! Each way an operation ends in the history, as the code sees it when it awaits it.

use super::*;

/// Each way an operation ends in the history, as the code sees it when it awaits it.
#[test]
// Long because it is a table: one row per resolving event kind.
pub(super) fn each_resolving_event_is_the_outcome_the_code_receives() {
    type Start = fn(&mut Replay) -> Result<u32, Interrupt>;
    type Resolve = fn(&mut HistoryBuilder, EventId);
    let boom = || Failure::new("Boom", "it broke");
    let cases: Vec<(&str, Start, Resolve, Outcome)> = vec![
        (
            "activity completed",
            |r| activity(r, "charge"),
            |b, s| {
                b.activity_completed(s, b"ok");
            },
            Outcome::Completed(b"ok".to_vec()),
        ),
        (
            "activity failed",
            |r| activity(r, "charge"),
            |b, s| {
                b.activity_failed(s, Failure::new("Boom", "it broke"));
            },
            Outcome::Failed(boom()),
        ),
        (
            "activity timed out",
            |r| activity(r, "charge"),
            |b, s| {
                b.activity_timed_out(s, Failure::new("Boom", "it broke"));
            },
            Outcome::Failed(boom()),
        ),
        (
            "activity canceled",
            |r| activity(r, "charge"),
            |b, s| {
                b.activity_canceled(s);
            },
            Outcome::Canceled,
        ),
        (
            "timer fired",
            |r| r.start_timer(1_000),
            |b, s| {
                b.timer_fired(s);
            },
            Outcome::Fired,
        ),
        (
            "Nexus operation completed after it started",
            |r| nexus(r, NEXUS.2),
            |b, s| {
                b.nexus_started(s);
                b.nexus_completed(s, b"7");
            },
            Outcome::Completed(b"7".to_vec()),
        ),
        (
            "Nexus operation failed",
            |r| nexus(r, NEXUS.2),
            |b, s| {
                b.nexus_failed(s, Failure::new("Boom", "it broke"));
            },
            Outcome::Failed(boom()),
        ),
        (
            "Nexus operation canceled",
            |r| nexus(r, NEXUS.2),
            |b, s| {
                b.nexus_canceled(s);
            },
            Outcome::Canceled,
        ),
        (
            "child completed after it started",
            |r| child(r, "ship", "kid-1"),
            |b, s| {
                b.child_started(s);
                b.child_completed(s, b"shipped");
            },
            Outcome::Completed(b"shipped".to_vec()),
        ),
        (
            "child failed",
            |r| child(r, "ship", "kid-1"),
            |b, s| {
                b.child_started(s);
                b.child_failed(s, Failure::new("Boom", "it broke"));
            },
            Outcome::Failed(boom()),
        ),
        (
            "child canceled",
            |r| child(r, "ship", "kid-1"),
            |b, s| {
                b.child_canceled(s);
            },
            Outcome::Canceled,
        ),
        (
            "child could not start",
            |r| child(r, "ship", "kid-1"),
            |b, s| {
                b.child_start_failed(s, child_start_cause::ALREADY_STARTED);
            },
            Outcome::Failed(Failure::new(
                child_start_cause::ALREADY_STARTED,
                format!(
                    "child workflow kid-1 could not be started: {}",
                    child_start_cause::describe(child_start_cause::ALREADY_STARTED)
                ),
            )),
        ),
        (
            "external signal delivered",
            |r| signal_external(r, "other-wf", "ping"),
            |b, s| {
                b.external_signaled(s);
            },
            Outcome::Completed(Vec::new()),
        ),
        (
            "external signal failed",
            |r| signal_external(r, "other-wf", "ping"),
            |b, s| {
                b.signal_external_failed(s, external_cause::NOT_FOUND);
            },
            Outcome::Failed(Failure::new(
                external_cause::NOT_FOUND,
                format!(
                    "the signal to workflow other-wf failed: {}",
                    external_cause::describe(external_cause::NOT_FOUND)
                ),
            )),
        ),
        (
            "external cancel request delivered",
            |r| cancel_external(r, "other-wf"),
            |b, s| {
                b.external_cancel_requested(s);
            },
            Outcome::Completed(Vec::new()),
        ),
        (
            "external cancel request failed",
            |r| cancel_external(r, "other-wf"),
            |b, s| {
                b.cancel_external_failed(s, external_cause::NOT_FOUND);
            },
            Outcome::Failed(Failure::new(
                external_cause::NOT_FOUND,
                format!(
                    "the cancel request to workflow other-wf failed: {}",
                    external_cause::describe(external_cause::NOT_FOUND)
                ),
            )),
        ),
    ];
    for (name, start, resolve, expected) in cases {
        // Record what `start` issues by replaying it on an empty history first.
        let mut b = HistoryBuilder::new("w");
        let mut fresh = replay(&b.build());
        start(&mut fresh).unwrap();
        let [cmd] = &fresh.take_commands()[..] else {
            panic!("{name}: one command");
        };
        b.task();
        let s = b.event(recorded_event(cmd));
        resolve(&mut b, s);
        b.pending_task();
        let mut r = replay_with(&b.build(), served_more(ReplayMode::Strict));
        let h = start(&mut r).unwrap_or_else(|i| panic!("{name}: {i}"));
        assert_eq!(r.wait_any(&[h]), Ok(Wake::Resolved(h, expected)), "{name}");
    }
}

/// The event the store records for a start command (the kinds of the outcome table).
pub(super) fn recorded_event(cmd: &Command) -> weft_core::history::EventKind {
    use weft_core::history::EventKind as K;
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
        } => K::ActivityTaskScheduled {
            activity_type,
            input,
            start_to_close_timeout_ms,
            retry_policy,
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            task_queue,
        },
        Command::StartTimer { duration_ms } => K::TimerStarted {
            duration_ms,
            fire_at_ms: duration_ms,
        },
        Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            input,
            schedule_to_close_timeout_ms,
        } => K::NexusOperationScheduled {
            endpoint,
            service,
            operation,
            input,
            request_id: "r".into(),
            schedule_to_close_timeout_ms,
        },
        Command::StartChild {
            workflow_type,
            workflow_id,
            input,
            policy,
            options,
        } => K::StartChildWorkflowExecutionInitiated {
            workflow_id: workflow_id.0,
            workflow_type,
            input,
            parent_close_policy: policy,
            options,
        },
        Command::SignalExternal {
            workflow_id,
            run_id,
            signal_name,
            input,
        } => K::SignalExternalWorkflowExecutionInitiated {
            workflow_id: workflow_id.0,
            run_id,
            signal_name,
            input,
        },
        Command::RequestCancelExternal { workflow_id, .. } => {
            K::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id: EventId(0),
                workflow_id: workflow_id.0,
                cancellation_type: CancellationType::default(),
            }
        }
        other => panic!("not a start command: {other:?}"),
    }
}
