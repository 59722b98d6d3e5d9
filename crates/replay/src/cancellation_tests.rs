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
