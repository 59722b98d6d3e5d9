//! The message model on canned histories: `take-messages` hands the code what it can see at
//! its point in the history, in order, and a close with messages never delivered is refused.

use crate::types::Message;
use crate::{Interrupt, Replay, Served};
use std::sync::Arc;
use weft_core::history::{Event, EventKind, Payload};
use weft_core::ids::{EventId, RunId, WorkflowId};
use weft_core::limits::Limits;

fn event(id: u64, kind: EventKind) -> Event {
    Event {
        id: EventId(id),
        time_ms: 1_000,
        kind,
    }
}

fn signal(id: u64, name: &str) -> Event {
    event(
        id,
        EventKind::WorkflowExecutionSignaled {
            signal_name: name.into(),
            input: Payload(b"1".to_vec()),
        },
    )
}

/// Started, two signals before the first task (signal-with-start and one more), the first
/// task, and a signal recorded after it.
fn history() -> Vec<Event> {
    vec![
        event(
            1,
            EventKind::WorkflowExecutionStarted {
                workflow_type: "w".into(),
                input: Payload(b"{}".to_vec()),
                random_seed: 7,
            },
        ),
        signal(2, "a"),
        signal(3, "b"),
        event(4, EventKind::WorkflowTaskScheduled { attempt: 1 }),
        event(
            5,
            EventKind::WorkflowTaskStarted {
                scheduled_event_id: EventId(4),
            },
        ),
        event(
            6,
            EventKind::WorkflowTaskCompleted {
                started_event_id: EventId(5),
            },
        ),
        signal(7, "c"),
        event(8, EventKind::WorkflowTaskScheduled { attempt: 1 }),
    ]
}

fn replay(history: &[Event]) -> Replay {
    Replay::new(
        RunId(1),
        WorkflowId("w-1".into()),
        history,
        1,
        2_000,
        Limits::default(),
        Arc::new(Served::default()),
    )
}

fn names(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| match m {
            Message::Signal(name, _) => name.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn replaying_the_first_task_takes_only_the_messages_recorded_before_it() {
    let mut r = replay(&history());
    // The code replays its first task: it saw "a" and "b", not "c" (recorded after).
    assert_eq!(names(&r.take_messages().unwrap()), ["a", "b"]);
    assert!(r.take_messages().unwrap().is_empty(), "taken once");
}

#[test]
fn at_the_end_of_the_history_every_recorded_message_is_taken() {
    // A run whose first task is the live one sees all three.
    let mut h = history();
    h.truncate(4);
    h.push(signal(5, "c"));
    let mut r = replay(&h);
    assert_eq!(names(&r.take_messages().unwrap()), ["a", "b", "c"]);
    assert!(r.finish(Ok(b"1".to_vec())).is_ok());
}

#[test]
fn a_close_with_messages_never_delivered_is_refused() {
    let mut h = history();
    h.truncate(4);
    let mut r = replay(&h);
    let Err(Interrupt::UnhandledMessages(msg)) = r.finish(Ok(b"1".to_vec())) else {
        panic!("the close must be refused");
    };
    for part in [
        "2 recorded message(s)",
        "signal 'a' (event 2)",
        "signal 'b' (event 3)",
    ] {
        assert!(msg.contains(part), "{part} missing from: {msg}");
    }
    // Delivered through take-messages, the same close is accepted.
    let mut r = replay(&h);
    r.take_messages().unwrap();
    assert!(r.finish(Ok(b"1".to_vec())).is_ok());
}
