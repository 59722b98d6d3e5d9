//! Closes refused while recorded commands are not issued again; updates and queries delivered
//! at the end of the history.

use super::*;

/// A close that returns the task's commands.
type Close = fn(&mut Replay) -> Result<Vec<Command>, Interrupt>;

#[test]
pub(super) fn a_close_is_refused_while_recorded_commands_are_not_issued_again() {
    // Task 1 scheduled "charge"; then the run was asked to cancel.
    let mut b = HistoryBuilder::new("w");
    b.task();
    let charge = b.activity_scheduled("charge");
    b.cancel_requested("stop");
    b.pending_task();
    let history = b.build();
    let canceled = Failure::new("Canceled", "canceled");
    let closes: Vec<(&str, Close, Vec<Command>)> = vec![
        (
            "return a result",
            |r| r.finish(Ok(b"1".to_vec())),
            vec![Command::CompleteWorkflow {
                result: Payload(b"1".to_vec()),
            }],
        ),
        (
            "return an error",
            |r| r.finish(Err(Failure::new("Boom", "it broke"))),
            vec![Command::FailWorkflow {
                failure: Failure::new("Boom", "it broke"),
            }],
        ),
        (
            "return canceled after the cancel request",
            |r| r.finish(Err(Failure::new("Canceled", "canceled"))),
            vec![Command::CancelWorkflow {
                details: Some(Payload::json(&serde_json::json!("canceled"))),
            }],
        ),
        (
            "continue as new",
            |r| match r.continue_as_new(b"next".to_vec()) {
                Err(Interrupt::ContinuedAsNew) => Ok(r.take_commands()),
                Err(i) => Err(i),
                Ok(()) => panic!("continue-as-new unwinds the guest"),
            },
            vec![Command::ContinueAsNew {
                input: Payload(b"next".to_vec()),
            }],
        ),
    ];
    for (name, close, accepted) in closes {
        // The code no longer schedules "charge".
        let mut r = replay(&history);
        let Err(Interrupt::NonDeterminism(msg)) = close(&mut r) else {
            panic!("{name}: the close must be refused");
        };
        let part =
            format!("event {charge} ActivityTaskScheduled(activity type 'charge') was not issued");
        assert!(msg.contains(&part), "{name}: {part:?} missing from: {msg}");
        assert_eq!(r.take_commands(), NO_COMMANDS, "{name}: no close command");

        // The code schedules it, waits and sees the cancel request: the close is accepted.
        let mut r = replay(&history);
        let h = activity(&mut r, "charge").unwrap();
        assert_eq!(
            r.wait_any(&[h]),
            Ok(Wake::Message(Message::CancelRequested("stop".into())))
        );
        assert_eq!(close(&mut r), Ok(accepted), "{name}");
    }
    // Without the cancel request, a Canceled error fails the run.
    let mut b = HistoryBuilder::new("w");
    b.pending_task();
    let mut r = replay(&b.build());
    assert_eq!(
        r.finish(Err(canceled.clone())),
        Ok(vec![Command::FailWorkflow { failure: canceled }])
    );
}

#[test]
pub(super) fn a_wait_while_recorded_commands_are_not_issued_again_is_non_determinism() {
    let mut b = HistoryBuilder::new("w");
    b.task();
    let t = b.timer_started(1_000);
    let charge = b.activity_scheduled("charge");
    b.pending_task();
    assert_eq!((t, charge), (EventId(5), EventId(6)));
    let mut r = replay(&b.build());
    let h = r.start_timer(1_000).unwrap();
    let Err(Interrupt::NonDeterminism(msg)) = r.wait_any(&[h]) else {
        panic!("the wait must fail");
    };
    assert!(
        msg.contains("event 6 ActivityTaskScheduled(activity type 'charge') was not issued"),
        "{msg}"
    );
}

pub(super) fn update(id: &str) -> Extra {
    Extra::Update(UpdateRequest {
        id: id.into(),
        name: "add".into(),
        input: Payload(b"3".to_vec()),
    })
}

/// A run waiting on a timer of its first task; a new task at the end of the history.
pub(super) fn waiting_on_a_timer() -> Vec<Event> {
    let mut b = HistoryBuilder::new("w");
    b.task();
    b.timer_started(60_000);
    b.pending_task();
    b.build()
}

#[test]
pub(super) fn a_new_update_is_delivered_at_the_end_of_the_history_and_accepted_or_rejected() {
    type Handler = fn(&mut Replay) -> Result<(), Interrupt>;
    let accept = || Command::AcceptUpdate {
        update_id: "u1".into(),
        update_name: "add".into(),
        input: Payload(b"3".to_vec()),
    };
    let refused = Failure::new("Invalid", "no");
    let cases: Vec<(&str, Handler, UpdateState, Vec<Command>)> = vec![
        (
            "accepted and completed",
            |r| {
                r.accept_update("u1".into())?;
                r.complete_update("u1".into(), Ok(b"4".to_vec()))
            },
            UpdateState::Accepted,
            vec![
                accept(),
                Command::CompleteUpdate {
                    update_id: "u1".into(),
                    outcome: Ok(Payload(b"4".to_vec())),
                },
            ],
        ),
        (
            "accepted and failed",
            |r| {
                r.accept_update("u1".into())?;
                r.complete_update("u1".into(), Err(Failure::new("Boom", "it broke")))
            },
            UpdateState::Accepted,
            vec![
                accept(),
                Command::CompleteUpdate {
                    update_id: "u1".into(),
                    outcome: Err(Failure::new("Boom", "it broke")),
                },
            ],
        ),
        (
            "accepted, handler still running",
            |r| r.accept_update("u1".into()),
            UpdateState::Accepted,
            vec![accept()],
        ),
        (
            "rejected",
            |r| r.reject_update("u1".into(), Failure::new("Invalid", "no")),
            UpdateState::Rejected(refused),
            vec![],
        ),
    ];
    let history = waiting_on_a_timer();
    for (name, handler, state, commands) in cases {
        let mut r = replay(&history).with_extra(update("u1"));
        let timer = r.start_timer(60_000).unwrap();
        assert_eq!(r.update_state(), &UpdateState::Pending, "{name}");
        assert_eq!(
            r.wait_any(&[timer]),
            Ok(Wake::Message(Message::Update(UpdateMessage {
                id: "u1".into(),
                name: "add".into(),
                input: b"3".to_vec(),
                validate: true,
            }))),
            "{name}"
        );
        assert_eq!(r.update_state(), &UpdateState::Validating, "{name}");
        assert_eq!(
            r.now_ms(),
            task_start_ms(&history),
            "{name}: in the new task"
        );
        handler(&mut r).unwrap_or_else(|i| panic!("{name}: {i}"));
        assert_eq!(r.update_state(), &state, "{name}");
        assert_eq!(r.wait_any(&[timer]), Err(Interrupt::Suspend), "{name}");
        assert_eq!(r.take_commands(), commands, "{name}");
    }
}

#[test]
pub(super) fn an_update_validator_may_not_change_the_workflow_or_accept_another_update() {
    let history = waiting_on_a_timer();
    let validating = || {
        let mut r = replay(&history).with_extra(update("u1"));
        let timer = r.start_timer(60_000).unwrap();
        r.wait_any(&[timer]).unwrap();
        r
    };
    let mut r = validating();
    let Err(Interrupt::InvalidCall(msg)) = r.start_timer(1) else {
        panic!("a command from the validator must be refused");
    };
    assert!(msg.contains("validator of update 'add'"), "{msg}");
    assert!(msg.contains("StartTimer(1 ms)"), "{msg}");
    let mut r = validating();
    assert!(matches!(
        r.accept_update("u2".into()),
        Err(Interrupt::InvalidCall(_))
    ));
    assert!(matches!(r.wait_any(&[0]), Err(Interrupt::InvalidCall(_))));
    // Completing an update nobody accepted is refused.
    let mut r = replay(&history);
    assert!(matches!(
        r.complete_update("u9".into(), Ok(Vec::new())),
        Err(Interrupt::InvalidCall(_))
    ));
}

#[test]
pub(super) fn an_update_recorded_in_the_history_replays_without_new_commands() {
    // Task 1 started a timer; task 2 accepted and completed update u1.
    let mut b = HistoryBuilder::new("w");
    b.task();
    b.timer_started(60_000);
    b.advance(500).task();
    let accepted = b.update_accepted("u1", "add", b"3");
    b.update_completed("u1", Ok(b"4"));
    b.pending_task();
    let starts = b.task_starts_ms();
    // The same update arrives again: it is the recorded one.
    let mut r = replay(&b.build()).with_extra(update("u1"));
    assert_eq!(r.update_state(), &UpdateState::Accepted);
    let timer = r.start_timer(60_000).unwrap();
    assert_eq!(
        r.wait_any(&[timer]),
        Ok(Wake::Message(Message::Update(UpdateMessage {
            id: "u1".into(),
            name: "add".into(),
            input: b"3".to_vec(),
            validate: false,
        })))
    );
    assert_eq!(accepted, EventId(9));
    assert_eq!(
        r.now_ms(),
        starts[1],
        "delivered in the task that accepted it"
    );
    assert!(r.is_replaying());
    r.complete_update("u1".into(), Ok(b"4".to_vec())).unwrap();
    assert_eq!(r.wait_any(&[timer]), Err(Interrupt::Suspend));
    assert_eq!(r.take_commands(), NO_COMMANDS);
}

#[test]
pub(super) fn a_query_is_delivered_at_the_end_of_the_history_and_answered_without_commands() {
    let history = waiting_on_a_timer();
    let query = || {
        Extra::Query(QueryRequest {
            name: "status".into(),
            input: Payload(b"?".to_vec()),
        })
    };
    let message = QueryMessage {
        name: "status".into(),
        input: b"?".to_vec(),
    };
    // Through wait-any.
    let mut r = replay(&history).with_extra(query());
    let timer = r.start_timer(60_000).unwrap();
    assert_eq!(
        r.wait_any(&[timer]),
        Ok(Wake::Message(Message::Query(message.clone())))
    );
    assert_eq!(r.query_answer(), None);
    assert_eq!(
        r.respond_query(Ok(b"fine".to_vec())),
        Err(Interrupt::QueryAnswered)
    );
    assert_eq!(r.query_answer(), Some(&Ok(Payload(b"fine".to_vec()))));
    assert_eq!(r.take_commands(), NO_COMMANDS);

    // Through take-query, once; the handler may not issue commands or wait.
    let mut r = replay(&history).with_extra(query());
    assert_eq!(r.take_query(), Ok(Some(message)));
    assert_eq!(r.take_query(), Ok(None));
    let Err(Interrupt::InvalidCall(msg)) = r.start_timer(60_000) else {
        panic!("a query handler may not issue commands");
    };
    assert!(msg.contains("query handler 'status'"), "{msg}");
    let mut r = replay(&history).with_extra(query());
    r.take_query().unwrap();
    assert!(matches!(r.wait_any(&[]), Err(Interrupt::InvalidCall(_))));

    // Without a query, respond-query is a misuse.
    let mut r = replay(&history);
    assert!(matches!(
        r.respond_query(Ok(Vec::new())),
        Err(Interrupt::InvalidCall(_))
    ));
}
