//! Cancellation types on canned histories: where the wait on a canceled child resolves.

use crate::types::{ChildOptions, Outcome, Wake};
use crate::{Replay, Served};
use std::sync::Arc;
use weft_core::history::{
    CancellationType, Event, EventKind, ParentClosePolicy, Payload, WorkflowOptions,
};
use weft_core::ids::{EventId, RunId, WorkflowId};
use weft_core::limits::Limits;

fn event(id: u64, kind: EventKind) -> Event {
    Event {
        id: EventId(id),
        time_ms: 1_000,
        kind,
    }
}

fn task(first: u64) -> Vec<Event> {
    vec![
        event(first, EventKind::WorkflowTaskScheduled { attempt: 1 }),
        event(
            first + 1,
            EventKind::WorkflowTaskStarted {
                scheduled_event_id: EventId(first),
            },
        ),
        event(
            first + 2,
            EventKind::WorkflowTaskCompleted {
                started_event_id: EventId(first + 1),
            },
        ),
    ]
}

/// A child started in task 1 and canceled with `ty` in task 2 (event 11); the child's cancel
/// request is recorded (event 12) and, later, the child's close (event 13).
fn history(ty: CancellationType) -> Vec<Event> {
    let mut h = vec![event(
        1,
        EventKind::WorkflowExecutionStarted {
            workflow_type: "w".into(),
            input: Payload(b"{}".to_vec()),
            random_seed: 7,
        },
    )];
    h.extend(task(2));
    h.push(event(
        5,
        EventKind::StartChildWorkflowExecutionInitiated {
            workflow_id: "kid".into(),
            workflow_type: "w".into(),
            input: Payload(b"{}".to_vec()),
            parent_close_policy: ParentClosePolicy::Terminate,
            options: WorkflowOptions::default(),
        },
    ));
    h.push(event(
        6,
        EventKind::ChildWorkflowExecutionStarted {
            initiated_event_id: EventId(5),
            workflow_id: "kid".into(),
            run_id: "r".into(),
        },
    ));
    h.extend(task(7));
    h.push(event(
        10,
        EventKind::TimerStarted {
            duration_ms: 1,
            fire_at_ms: 1,
        },
    ));
    h.push(event(
        11,
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: EventId(5),
            workflow_id: "kid".into(),
            cancellation_type: ty,
        },
    ));
    h.push(event(
        12,
        EventKind::ExternalWorkflowExecutionCancelRequested {
            initiated_event_id: EventId(11),
            workflow_id: "kid".into(),
        },
    ));
    h.push(event(
        13,
        EventKind::ChildWorkflowExecutionCanceled {
            initiated_event_id: EventId(5),
        },
    ));
    h
}

/// Replays the code (start the child, start a timer, cancel the child with `ty`, wait on it)
/// and returns the event the wait resolved at, judged by the history's resolutions.
fn resolved_at(ty: CancellationType) -> EventId {
    let h = history(ty);
    let mut r = Replay::new(
        RunId(1),
        WorkflowId("w-1".into()),
        &h,
        1,
        2_000,
        Limits::default(),
        Arc::new(Served::default()),
    );
    let options = ChildOptions::default();
    let kid = r
        .start_child_workflow("w".into(), "kid".into(), b"{}".to_vec(), options)
        .unwrap();
    r.start_timer(1).unwrap();
    r.request_cancel_with(kid, ty).unwrap();
    let Wake::Resolved(h, Outcome::Canceled) = r.wait_any(&[kid]).unwrap() else {
        panic!("the child's wait must resolve as canceled");
    };
    assert_eq!(h, kid);
    r.resolutions[&EventId(5)].0
}

#[test]
fn each_child_cancellation_type_resolves_at_its_event() {
    use CancellationType as C;
    assert_eq!(resolved_at(C::TryCancel), EventId(11));
    assert_eq!(resolved_at(C::Abandon), EventId(11));
    assert_eq!(resolved_at(C::WaitCancellationRequested), EventId(12));
    assert_eq!(resolved_at(C::WaitCancellationCompleted), EventId(13));
}

/// Timers A (event 5) and B (event 6) started in task 1, both fired (7, 8) before task 2;
/// `extra` follows. The code waits for B only, then cancels A.
fn fired_timers(extra: Vec<Event>) -> (Replay, u32) {
    let mut h = vec![event(
        1,
        EventKind::WorkflowExecutionStarted {
            workflow_type: "w".into(),
            input: Payload(b"{}".to_vec()),
            random_seed: 7,
        },
    )];
    h.extend(task(2));
    for (id, ms) in [(5, 0), (6, 100)] {
        h.push(event(
            id,
            EventKind::TimerStarted {
                duration_ms: ms,
                fire_at_ms: 1_000 + ms,
            },
        ));
    }
    for (id, started) in [(7, 5), (8, 6)] {
        h.push(event(
            id,
            EventKind::TimerFired {
                started_event_id: EventId(started),
            },
        ));
    }
    h.extend(extra);
    let mut r = Replay::new(
        RunId(1),
        WorkflowId("w-1".into()),
        &h,
        1,
        2_000,
        Limits::default(),
        Arc::new(Served::default()),
    );
    let a = r.start_timer(0).unwrap();
    let b = r.start_timer(100).unwrap();
    let Wake::Resolved(woke, _) = r.wait_any(&[b]).unwrap() else {
        panic!("timer B fired");
    };
    assert_eq!(woke, b);
    (r, a)
}

#[test]
fn canceling_an_operation_whose_outcome_is_recorded_issues_no_command() {
    // Task 2 runs now: A fired before it started, so the cancel has nothing to do.
    let (mut r, a) = fired_timers(vec![event(
        9,
        EventKind::WorkflowTaskScheduled { attempt: 1 },
    )]);
    r.request_cancel(a).unwrap();
    assert_eq!(
        r.take_commands(),
        vec![],
        "no TimerCanceled after TimerFired"
    );
    let wake = r.wait_any(&[a]).unwrap();
    assert!(
        matches!(wake, Wake::Resolved(h, ref o) if h == a && !matches!(o, Outcome::Canceled)),
        "the wait on A returns its recorded fire, not a cancellation: {wake:?}"
    );

    // A history that recorded the cancel anyway (before this rule) still replays.
    let mut old = task(9);
    old.push(event(
        12,
        EventKind::TimerCanceled {
            started_event_id: EventId(5),
        },
    ));
    old.push(event(13, EventKind::WorkflowTaskScheduled { attempt: 1 }));
    let (mut r, a) = fired_timers(old);
    r.request_cancel(a).unwrap();
    assert_eq!(r.take_commands(), vec![]);
}
