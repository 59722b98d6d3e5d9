//! Every command kind on canned histories written with [`crate::testing::HistoryBuilder`]: the
//! code issuing a recorded command again matches it and receives its recorded outcome; a
//! different kind or identity at its position fails the task as non-determinism naming the
//! event. Then the commands not matched by position (closes, updates), queries, the order of
//! `wait-any`, workflow time and the new commands of a task.

use crate::testing::{HistoryBuilder, INPUT, NEXUS, replay, replay_with, served, task_start_ms};
use crate::types::{
    ActivityOptions, ChildOptions, Message, NexusOptions, Outcome, QueryMessage, UpdateMessage,
    Wake,
};
use crate::{
    Extra, Interrupt, QueryRequest, Replay, ReplayMode, Served, UpdateRequest, UpdateState,
};
use weft_core::command::{Command, Target};
use weft_core::history::{
    CancellationType, Event, Failure, Payload, child_start_cause, external_cause,
};
use weft_core::ids::EventId;

/// No new commands.
const NO_COMMANDS: [Command; 0] = [];

/// A second operation of the test Nexus service, served by [`served_more`].
const OTHER_OPERATION: &str = "other-operation";

/// [`served`] plus [`OTHER_OPERATION`], in `mode`.
fn served_more(mode: ReplayMode) -> Served {
    let mut s = served();
    s.nexus_operations
        .insert((NEXUS.0.into(), NEXUS.1.into(), OTHER_OPERATION.into()));
    s.replay_mode = mode;
    s
}

fn activity(r: &mut Replay, activity_type: &str) -> Result<u32, Interrupt> {
    r.schedule_activity(
        activity_type.into(),
        INPUT.to_vec(),
        ActivityOptions::default(),
    )
}

fn nexus(r: &mut Replay, operation: &str) -> Result<u32, Interrupt> {
    r.schedule_nexus_operation(
        NEXUS.0.into(),
        NEXUS.1.into(),
        operation.into(),
        INPUT.to_vec(),
        NexusOptions::default(),
    )
}

fn child(r: &mut Replay, workflow_type: &str, workflow_id: &str) -> Result<u32, Interrupt> {
    r.start_child_workflow(
        workflow_type.into(),
        workflow_id.into(),
        INPUT.to_vec(),
        ChildOptions::default(),
    )
}

fn signal_external(r: &mut Replay, workflow_id: &str, name: &str) -> Result<u32, Interrupt> {
    r.signal_external_workflow(workflow_id.into(), None, name.into(), INPUT.to_vec())
}

fn cancel_external(r: &mut Replay, workflow_id: &str) -> Result<u32, Interrupt> {
    r.request_cancel_external_workflow(workflow_id.into(), None, "no longer needed".into())
}

/// Waits on `h` alone; it must fire (a timer).
fn fired(r: &mut Replay, h: u32) -> Result<(), Interrupt> {
    assert_eq!(r.wait_any(&[h])?, Wake::Resolved(h, Outcome::Fired));
    Ok(())
}

/// What the code saw at the end of a case.
#[derive(Debug, PartialEq)]
enum Seen {
    Wake(Wake),
    Patched(bool),
    /// A command was accepted and returned this handle (a mismatch case that did not fail).
    Handle(u32),
    /// A cancel request was accepted.
    Canceled,
}

fn wait(r: &mut Replay, h: u32) -> Result<Seen, Interrupt> {
    r.wait_any(&[h]).map(Seen::Wake)
}

fn resolved(h: u32, outcome: Outcome) -> Seen {
    Seen::Wake(Wake::Resolved(h, outcome))
}

type Code = fn(&mut Replay) -> Result<Seen, Interrupt>;

/// One command kind matched by position.
struct Case {
    /// The command kind.
    command: &'static str,
    /// The recorded event type it matches.
    recorded: &'static str,
    history: Vec<Event>,
    /// The recorded command event the case is about.
    at: EventId,
    /// Code that issues the recorded commands again and awaits the one at `at`.
    same: Code,
    /// What it sees.
    expect: Seen,
    /// Code that issues another kind or identity at `at`'s position.
    other: Vec<(&'static str, Code)>,
}

// Prefixes of the code of the cancel cases: the operations of the first task, then a wait on
// its timer, which fired before the second task.

fn charge_ship_timer(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let charge = activity(r, "charge")?;
    let ship = activity(r, "ship")?;
    let t = r.start_timer(1_000)?;
    fired(r, t)?;
    Ok((charge, ship))
}

fn three_timers(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let first = r.start_timer(1_000)?;
    let second = r.start_timer(5_000)?;
    let third = r.start_timer(9_000)?;
    fired(r, first)?;
    Ok((second, third))
}

fn two_operations_timer(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let op = nexus(r, NEXUS.2)?;
    let other = nexus(r, OTHER_OPERATION)?;
    let t = r.start_timer(1_000)?;
    fired(r, t)?;
    Ok((op, other))
}

fn two_children_timer(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let first = child(r, "ship", "kid-1")?;
    let second = child(r, "ship", "kid-2")?;
    let t = r.start_timer(1_000)?;
    fired(r, t)?;
    Ok((first, second))
}

fn cases() -> Vec<Case> {
    use CancellationType::WaitCancellationCompleted as Wait;
    vec![
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.activity_scheduled("charge");
            b.activity_completed(at, b"42");
            b.pending_task();
            Case {
                command: "ScheduleActivity",
                recorded: "ActivityTaskScheduled",
                history: b.build(),
                at,
                same: |r| {
                    let h = activity(r, "charge")?;
                    wait(r, h)
                },
                expect: resolved(0, Outcome::Completed(b"42".to_vec())),
                other: vec![
                    ("another activity type", |r| {
                        activity(r, "refund").map(Seen::Handle)
                    }),
                    ("a timer", |r| r.start_timer(5).map(Seen::Handle)),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.timer_started(1_000);
            b.timer_fired(at);
            b.pending_task();
            Case {
                command: "StartTimer",
                recorded: "TimerStarted",
                history: b.build(),
                at,
                same: |r| {
                    let h = r.start_timer(1_000)?;
                    wait(r, h)
                },
                expect: resolved(0, Outcome::Fired),
                other: vec![
                    ("an activity", |r| activity(r, "charge").map(Seen::Handle)),
                    ("a child", |r| child(r, "ship", "kid-1").map(Seen::Handle)),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let charge = b.activity_scheduled("charge");
            b.activity_scheduled("ship");
            let t = b.timer_started(1_000);
            b.timer_fired(t);
            b.task();
            let at = b.activity_cancel_requested(charge, Wait);
            b.activity_canceled(charge);
            b.pending_task();
            Case {
                command: "RequestCancelActivity",
                recorded: "ActivityTaskCancelRequested",
                history: b.build(),
                at,
                same: |r| {
                    let (charge, _) = charge_ship_timer(r)?;
                    r.request_cancel(charge)?;
                    wait(r, charge)
                },
                expect: resolved(0, Outcome::Canceled),
                other: vec![
                    ("a cancel of the other activity", |r| {
                        let (_, ship) = charge_ship_timer(r)?;
                        r.request_cancel(ship).map(|()| Seen::Canceled)
                    }),
                    ("a timer", |r| {
                        charge_ship_timer(r)?;
                        r.start_timer(5).map(Seen::Handle)
                    }),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let first = b.timer_started(1_000);
            let second = b.timer_started(5_000);
            b.timer_started(9_000);
            b.timer_fired(first);
            b.task();
            let at = b.timer_canceled(second);
            b.pending_task();
            Case {
                command: "CancelTimer",
                recorded: "TimerCanceled",
                history: b.build(),
                at,
                same: |r| {
                    let (second, _) = three_timers(r)?;
                    r.request_cancel(second)?;
                    wait(r, second)
                },
                expect: resolved(1, Outcome::Canceled),
                other: vec![
                    ("a cancel of another timer", |r| {
                        let (_, third) = three_timers(r)?;
                        r.request_cancel(third).map(|()| Seen::Canceled)
                    }),
                    ("an activity", |r| {
                        three_timers(r)?;
                        activity(r, "charge").map(Seen::Handle)
                    }),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.nexus_scheduled(NEXUS.0, NEXUS.1, NEXUS.2);
            b.nexus_started(at);
            b.nexus_completed(at, b"7");
            b.pending_task();
            Case {
                command: "ScheduleNexusOperation",
                recorded: "NexusOperationScheduled",
                history: b.build(),
                at,
                same: |r| {
                    let h = nexus(r, NEXUS.2)?;
                    wait(r, h)
                },
                expect: resolved(0, Outcome::Completed(b"7".to_vec())),
                other: vec![
                    ("another operation", |r| {
                        nexus(r, OTHER_OPERATION).map(Seen::Handle)
                    }),
                    ("a timer", |r| r.start_timer(5).map(Seen::Handle)),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let op = b.nexus_scheduled(NEXUS.0, NEXUS.1, NEXUS.2);
            b.nexus_scheduled(NEXUS.0, NEXUS.1, OTHER_OPERATION);
            let t = b.timer_started(1_000);
            b.timer_fired(t);
            b.task();
            let at = b.nexus_cancel_requested(op);
            b.nexus_canceled(op);
            b.pending_task();
            Case {
                command: "RequestCancelNexusOperation",
                recorded: "NexusOperationCancelRequested",
                history: b.build(),
                at,
                same: |r| {
                    let (op, _) = two_operations_timer(r)?;
                    r.request_cancel(op)?;
                    wait(r, op)
                },
                expect: resolved(0, Outcome::Canceled),
                other: vec![
                    ("a cancel of the other operation", |r| {
                        let (_, other) = two_operations_timer(r)?;
                        r.request_cancel(other).map(|()| Seen::Canceled)
                    }),
                    ("a timer", |r| {
                        two_operations_timer(r)?;
                        r.start_timer(5).map(Seen::Handle)
                    }),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.patch_marker("fix-1");
            let t = b.timer_started(1_000);
            b.timer_fired(t);
            b.pending_task();
            Case {
                command: "RecordMarker",
                recorded: "MarkerRecorded",
                history: b.build(),
                at,
                same: |r| {
                    let patched = r.patched("fix-1".into())?;
                    let t = r.start_timer(1_000)?;
                    fired(r, t)?;
                    Ok(Seen::Patched(patched))
                },
                expect: Seen::Patched(true),
                other: vec![
                    ("patched with another change id, then the timer", |r| {
                        // Replaying a task: a change id the history lacks takes the old
                        // branch; the recorded marker then meets the timer.
                        assert!(!r.patched("fix-2".into())?);
                        r.start_timer(1_000).map(Seen::Handle)
                    }),
                    ("the timer without the patched call", |r| {
                        r.start_timer(1_000).map(Seen::Handle)
                    }),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.child_initiated("ship", "kid-1");
            b.child_started(at);
            b.child_completed(at, b"shipped");
            b.pending_task();
            Case {
                command: "StartChild",
                recorded: "StartChildWorkflowExecutionInitiated",
                history: b.build(),
                at,
                same: |r| {
                    let h = child(r, "ship", "kid-1")?;
                    wait(r, h)
                },
                expect: resolved(0, Outcome::Completed(b"shipped".to_vec())),
                other: vec![
                    ("another child workflow id", |r| {
                        child(r, "ship", "kid-2").map(Seen::Handle)
                    }),
                    ("another child workflow type", |r| {
                        child(r, "pack", "kid-1").map(Seen::Handle)
                    }),
                    ("an activity", |r| activity(r, "ship").map(Seen::Handle)),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let first = b.child_initiated("ship", "kid-1");
            b.child_initiated("ship", "kid-2");
            b.child_started(first);
            let t = b.timer_started(1_000);
            b.timer_fired(t);
            b.task();
            let at = b.child_cancel_requested(first, Wait);
            b.external_cancel_requested(at);
            b.child_canceled(first);
            b.pending_task();
            Case {
                command: "RequestCancelChild",
                recorded: "RequestCancelExternalWorkflowExecutionInitiated",
                history: b.build(),
                at,
                same: |r| {
                    let (first, _) = two_children_timer(r)?;
                    r.request_cancel(first)?;
                    wait(r, first)
                },
                expect: resolved(0, Outcome::Canceled),
                other: vec![
                    ("a cancel of the other child", |r| {
                        let (_, second) = two_children_timer(r)?;
                        r.request_cancel(second).map(|()| Seen::Canceled)
                    }),
                    (
                        "an external cancel request of the child's workflow id",
                        |r| {
                            two_children_timer(r)?;
                            cancel_external(r, "kid-1").map(Seen::Handle)
                        },
                    ),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.signal_external_initiated("other-wf", "ping");
            b.external_signaled(at);
            b.pending_task();
            Case {
                command: "SignalExternal",
                recorded: "SignalExternalWorkflowExecutionInitiated",
                history: b.build(),
                at,
                same: |r| {
                    let h = signal_external(r, "other-wf", "ping")?;
                    wait(r, h)
                },
                expect: resolved(0, Outcome::Completed(Vec::new())),
                other: vec![
                    ("another signal name", |r| {
                        signal_external(r, "other-wf", "pong").map(Seen::Handle)
                    }),
                    ("another workflow", |r| {
                        signal_external(r, "third-wf", "ping").map(Seen::Handle)
                    }),
                    ("a cancel request of that workflow", |r| {
                        cancel_external(r, "other-wf").map(Seen::Handle)
                    }),
                ],
            }
        },
        {
            let mut b = HistoryBuilder::new("w");
            b.task();
            let at = b.cancel_external_initiated("other-wf");
            b.external_cancel_requested(at);
            b.pending_task();
            Case {
                command: "RequestCancelExternal",
                recorded: "RequestCancelExternalWorkflowExecutionInitiated",
                history: b.build(),
                at,
                same: |r| {
                    let h = cancel_external(r, "other-wf")?;
                    wait(r, h)
                },
                expect: resolved(0, Outcome::Completed(Vec::new())),
                other: vec![
                    ("a cancel request of another workflow", |r| {
                        cancel_external(r, "third-wf").map(Seen::Handle)
                    }),
                    ("a signal to that workflow", |r| {
                        signal_external(r, "other-wf", "ping").map(Seen::Handle)
                    }),
                    ("a child with that workflow id", |r| {
                        child(r, "ship", "other-wf").map(Seen::Handle)
                    }),
                ],
            }
        },
    ]
}

#[test]
fn the_cases_cover_every_command_kind_matched_by_position() {
    let kinds: Vec<&str> = cases().iter().map(|c| c.command).collect();
    assert_eq!(
        kinds,
        [
            "ScheduleActivity",
            "StartTimer",
            "RequestCancelActivity",
            "CancelTimer",
            "ScheduleNexusOperation",
            "RequestCancelNexusOperation",
            "RecordMarker",
            "StartChild",
            "RequestCancelChild",
            "SignalExternal",
            "RequestCancelExternal",
        ]
    );
    for case in cases() {
        let recorded = &case.history[case.at.0 as usize - 1];
        assert_eq!(recorded.id, case.at, "{}", case.command);
        assert_eq!(recorded.kind.name(), case.recorded, "{}", case.command);
        assert!(recorded.kind.is_command_event(), "{}", case.command);
    }
}

#[test]
fn a_command_issued_again_matches_its_event_and_receives_the_recorded_outcome() {
    // The builder writes the events the replay records for these calls: strict replay
    // matches them too.
    for mode in [ReplayMode::Lenient, ReplayMode::Strict] {
        for case in cases() {
            let name = format!("{} ({mode:?})", case.command);
            let mut r = replay_with(&case.history, served_more(mode));
            let seen = (case.same)(&mut r).unwrap_or_else(|i| panic!("{name}: {i}"));
            assert_eq!(seen, case.expect, "{name}");
            assert_eq!(r.interrupt(), None, "{name}");
            assert_eq!(
                r.take_commands(),
                NO_COMMANDS,
                "{name}: every command was recorded"
            );
            // Every recorded command was issued again: the run may close.
            assert_eq!(
                r.finish(Ok(b"done".to_vec())),
                Ok(vec![Command::CompleteWorkflow {
                    result: Payload(b"done".to_vec()),
                }]),
                "{name}"
            );
        }
    }
}

#[test]
fn another_kind_or_identity_at_a_recorded_position_is_non_determinism_naming_the_event() {
    let mut checked = 0;
    for case in cases() {
        assert!(
            case.other.len() >= 2,
            "{}: a kind and an identity",
            case.command
        );
        for (what, code) in &case.other {
            let name = format!("{}: {what}", case.command);
            let mut r = replay_with(&case.history, served_more(ReplayMode::Lenient));
            let msg = match code(&mut r) {
                Err(Interrupt::NonDeterminism(msg)) => msg,
                other => panic!("{name}: expected non-determinism, got {other:?}"),
            };
            for part in [format!(" at event {}.", case.at), case.recorded.to_string()] {
                assert!(msg.contains(&part), "{name}: {part:?} missing from: {msg}");
            }
            // The glue raises the recorded interrupt as the trap.
            assert_eq!(
                r.interrupt(),
                Some(&Interrupt::NonDeterminism(msg.clone())),
                "{name}"
            );
            assert_eq!(
                r.take_commands(),
                NO_COMMANDS,
                "{name}: nothing is recorded"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 25);
}

#[test]
fn a_timer_of_another_duration_matches_in_lenient_replay_only() {
    let mut b = HistoryBuilder::new("w");
    b.task();
    let t = b.timer_started(1_000);
    b.timer_fired(t);
    let history = b.build();
    let mut r = replay(&history);
    let h = r.start_timer(2_000).unwrap();
    assert_eq!(r.wait_any(&[h]), Ok(Wake::Resolved(h, Outcome::Fired)));
    let mut r = replay_with(&history, served_more(ReplayMode::Strict));
    let Err(Interrupt::NonDeterminism(msg)) = r.start_timer(2_000) else {
        panic!("strict replay compares the duration");
    };
    for part in [
        "as recorded at event 5",
        "duration_ms",
        "recorded 1000 ms",
        "gives 2000 ms",
    ] {
        assert!(msg.contains(part), "{part} missing from: {msg}");
    }
}

/// Each way an operation ends in the history, as the code sees it when it awaits it.
#[test]
fn each_resolving_event_is_the_outcome_the_code_receives() {
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
fn recorded_event(cmd: &Command) -> weft_core::history::EventKind {
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

/// A close that returns the task's commands.
type Close = fn(&mut Replay) -> Result<Vec<Command>, Interrupt>;

#[test]
fn a_close_is_refused_while_recorded_commands_are_not_issued_again() {
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
fn a_wait_while_recorded_commands_are_not_issued_again_is_non_determinism() {
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

fn update(id: &str) -> Extra {
    Extra::Update(UpdateRequest {
        id: id.into(),
        name: "add".into(),
        input: Payload(b"3".to_vec()),
    })
}

/// A run waiting on a timer of its first task; a new task at the end of the history.
fn waiting_on_a_timer() -> Vec<Event> {
    let mut b = HistoryBuilder::new("w");
    b.task();
    b.timer_started(60_000);
    b.pending_task();
    b.build()
}

#[test]
fn a_new_update_is_delivered_at_the_end_of_the_history_and_accepted_or_rejected() {
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
fn an_update_validator_may_not_change_the_workflow_or_accept_another_update() {
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
fn an_update_recorded_in_the_history_replays_without_new_commands() {
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
fn a_query_is_delivered_at_the_end_of_the_history_and_answered_without_commands() {
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

#[test]
fn wait_any_returns_what_the_history_recorded_first() {
    type Code = fn(&mut Replay) -> Result<Vec<Wake>, Interrupt>;
    type Write = fn(&mut HistoryBuilder);
    let signal = |name: &str| Wake::Message(Message::Signal(name.into(), b"1".to_vec()));
    let cases: Vec<(&str, Write, Code, Vec<Wake>)> = vec![
        (
            "the activity that completed first, whatever the order of the handles",
            |b| {
                let a = b.activity_scheduled("a");
                let second = b.activity_scheduled("b");
                b.activity_completed(second, b"B");
                b.activity_completed(a, b"A");
            },
            |r| {
                let a = activity(r, "a")?;
                let second = activity(r, "b")?;
                Ok(vec![r.wait_any(&[a, second])?, r.wait_any(&[a])?])
            },
            vec![
                Wake::Resolved(1, Outcome::Completed(b"B".to_vec())),
                Wake::Resolved(0, Outcome::Completed(b"A".to_vec())),
            ],
        ),
        (
            "a timer that fired before the activity completed",
            |b| {
                let a = b.activity_scheduled("a");
                let t = b.timer_started(10);
                b.timer_fired(t);
                b.activity_completed(a, b"A");
            },
            |r| {
                let a = activity(r, "a")?;
                let t = r.start_timer(10)?;
                Ok(vec![r.wait_any(&[a, t])?, r.wait_any(&[a])?])
            },
            vec![
                Wake::Resolved(1, Outcome::Fired),
                Wake::Resolved(0, Outcome::Completed(b"A".to_vec())),
            ],
        ),
        (
            "a signal recorded before the result",
            |b| {
                let t = b.timer_started(10);
                b.signal("go", b"1");
                b.timer_fired(t);
            },
            |r| {
                let t = r.start_timer(10)?;
                Ok(vec![r.wait_any(&[t])?, r.wait_any(&[t])?])
            },
            vec![signal("go"), Wake::Resolved(0, Outcome::Fired)],
        ),
        (
            "a signal recorded after the result",
            |b| {
                let t = b.timer_started(10);
                b.timer_fired(t);
                b.signal("go", b"1");
            },
            |r| {
                let t = r.start_timer(10)?;
                Ok(vec![r.wait_any(&[t])?, r.wait_any(&[])?])
            },
            vec![Wake::Resolved(0, Outcome::Fired), signal("go")],
        ),
        (
            "signals and a cancel request in history order, then the result",
            |b| {
                let a = b.activity_scheduled("a");
                b.signal("one", b"1");
                b.cancel_requested("stop");
                b.signal("two", b"1");
                b.activity_completed(a, b"A");
            },
            |r| {
                let a = activity(r, "a")?;
                let mut wakes = Vec::new();
                for _ in 0..4 {
                    wakes.push(r.wait_any(&[a])?);
                }
                Ok(wakes)
            },
            vec![
                signal("one"),
                Wake::Message(Message::CancelRequested("stop".into())),
                signal("two"),
                Wake::Resolved(0, Outcome::Completed(b"A".to_vec())),
            ],
        ),
        (
            "an operation canceled with TryCancel before its result",
            |b| {
                let a = b.activity_scheduled("a");
                let t = b.timer_started(10);
                b.timer_fired(t);
                b.task();
                b.activity_cancel_requested(a, CancellationType::TryCancel);
                b.activity_completed(a, b"A");
            },
            |r| {
                let a = activity(r, "a")?;
                let t = r.start_timer(10)?;
                let fired = r.wait_any(&[a, t])?;
                r.request_cancel_with(a, CancellationType::TryCancel)?;
                Ok(vec![fired, r.wait_any(&[a])?])
            },
            vec![
                Wake::Resolved(1, Outcome::Fired),
                Wake::Resolved(0, Outcome::Canceled),
            ],
        ),
    ];
    for (name, write, code, expected) in cases {
        let mut b = HistoryBuilder::new("w");
        b.task();
        write(&mut b);
        b.pending_task();
        let mut r = replay(&b.build());
        assert_eq!(code(&mut r), Ok(expected), "{name}");
        // Nothing else is recorded: the next wait suspends the task.
        assert_eq!(r.wait_any(&[]), Err(Interrupt::Suspend), "{name}");
    }
}

#[test]
fn workflow_time_is_the_start_of_the_task_in_which_the_results_arrived() {
    let mut b = HistoryBuilder::new("w");
    b.task();
    let t = b.timer_started(1_000);
    b.advance(1_000);
    b.timer_fired(t);
    b.task();
    let a = b.activity_scheduled("charge");
    b.advance(5_000);
    b.activity_completed(a, b"42");
    b.pending_task();
    let history = b.build();
    let starts = b.task_starts_ms();
    let now = task_start_ms(&history);
    assert_eq!(starts.len(), 2);
    assert!(starts[0] < starts[1] && starts[1] < now);

    let mut r = replay(&history);
    let clock = r.clock();
    let read = |r: &Replay| {
        let now = r.now_ms();
        assert_eq!(clock.load(std::sync::atomic::Ordering::Relaxed), now);
        (now, r.is_replaying())
    };
    assert_eq!(read(&r), (starts[0], true));
    let h = r.start_timer(1_000).unwrap();
    fired(&mut r, h).unwrap();
    assert_eq!(read(&r), (starts[1], true));
    let h = activity(&mut r, "charge").unwrap();
    assert_eq!(
        read(&r),
        (starts[1], true),
        "issuing a command keeps the time"
    );
    assert_eq!(
        r.wait_any(&[h]),
        Ok(Wake::Resolved(h, Outcome::Completed(b"42".to_vec())))
    );
    assert_eq!(read(&r), (now, false), "the result arrived for this task");
    assert_eq!(r.wait_any(&[]), Err(Interrupt::Suspend));
    assert_eq!(read(&r), (now, false));
}

#[test]
fn seeded_random_and_info_come_from_the_history() {
    let h1 = HistoryBuilder::with_seed("order", 42).build();
    let h2 = HistoryBuilder::with_seed("order", 42).build();
    let mut a = replay(&h1);
    let mut b = replay(&h2);
    let xs: Vec<u64> = (0..3).map(|_| a.random_u64()).collect();
    let ys: Vec<u64> = (0..3).map(|_| b.random_u64()).collect();
    assert_eq!(xs, ys);
    assert_eq!(xs[0], crate::SeededRng::new(42).next_u64());
    assert_eq!(a.seed(), 42);
    let info = a.info();
    assert_eq!(info.workflow_type, "order");
    assert_eq!(info.workflow_id, crate::testing::WORKFLOW_ID);
    assert_eq!(info.run_id, crate::testing::RUN.to_string());
    assert_eq!(info.task_attempt, 1);
}

#[test]
fn take_commands_returns_the_new_commands_past_the_end_of_the_history() {
    // Task 1 scheduled "charge" and a timer, which fired; this task goes on from there.
    let mut b = HistoryBuilder::new("w");
    b.task();
    let charge = b.activity_scheduled("charge");
    let t = b.timer_started(1_000);
    b.timer_fired(t);
    b.pending_task();
    let mut r = replay(&b.build());
    let c = activity(&mut r, "charge").unwrap();
    let t = r.start_timer(1_000).unwrap();
    fired(&mut r, t).unwrap();
    assert!(!r.is_replaying());
    assert_eq!(
        r.take_commands(),
        NO_COMMANDS,
        "recorded commands are not new"
    );

    let ship = activity(&mut r, "ship").unwrap();
    let timer = r.start_timer(5_000).unwrap();
    assert!(
        r.patched("fix-1".into()).unwrap(),
        "new code records its patch"
    );
    r.request_cancel(c).unwrap();
    r.request_cancel_with(ship, CancellationType::TryCancel)
        .unwrap();
    r.request_cancel(timer).unwrap();
    r.request_cancel(timer).unwrap(); // again: nothing new
    r.request_cancel(t).unwrap(); // seen fired: nothing to cancel
    let signal = signal_external(&mut r, "other-wf", "ping").unwrap();
    assert_eq!((c, t, ship, timer, signal), (0, 1, 2, 3, 4));
    assert_eq!(
        r.take_commands(),
        [
            Command::ScheduleActivity {
                activity_type: "ship".into(),
                input: Payload(INPUT.to_vec()),
                start_to_close_timeout_ms: crate::testing::ACTIVITY_START_TO_CLOSE_MS,
                retry_policy: Default::default(),
                schedule_to_close_timeout_ms: None,
                schedule_to_start_timeout_ms: None,
                heartbeat_timeout_ms: None,
                task_queue: crate::testing::TASK_QUEUE.into(),
            },
            Command::StartTimer { duration_ms: 5_000 },
            Command::RecordMarker {
                marker_name: crate::PATCH_MARKER.into(),
                details: Payload(b"fix-1".to_vec()),
            },
            Command::RequestCancelActivity {
                target: Target::Recorded(charge),
                cancellation_type: CancellationType::WaitCancellationCompleted,
            },
            Command::RequestCancelActivity {
                target: Target::New(0),
                cancellation_type: CancellationType::TryCancel,
            },
            Command::CancelTimer {
                target: Target::New(1),
            },
            Command::SignalExternal {
                workflow_id: "other-wf".into(),
                run_id: None,
                signal_name: "ping".into(),
                input: Payload(INPUT.to_vec()),
            },
        ]
    );
    assert_eq!(r.take_commands(), NO_COMMANDS, "taken once");
    // New operations do not resolve in this task.
    assert_eq!(r.wait_any(&[ship, timer, signal]), Err(Interrupt::Suspend));
}

#[test]
fn patched_follows_the_history_when_replaying_and_records_a_marker_otherwise() {
    type Code = fn(&mut Replay) -> Result<bool, Interrupt>;
    // (case, history has the marker, the code runs in the new task, patched, new commands)
    let cases: Vec<(&str, bool, bool, Code, bool, usize)> = vec![
        (
            "recorded marker",
            true,
            false,
            |r| r.patched("fix-1".into()),
            true,
            0,
        ),
        (
            "history written before the change",
            false,
            false,
            |r| r.patched("fix-1".into()),
            false,
            0,
        ),
        (
            "new code in the new task",
            false,
            true,
            |r| r.patched("fix-1".into()),
            true,
            1,
        ),
        (
            "deprecated patch over a recorded marker",
            true,
            false,
            |r| r.deprecate_patch("fix-1".into()).map(|()| true),
            true,
            0,
        ),
        (
            "deprecated patch over history without it",
            false,
            false,
            |r| r.deprecate_patch("fix-1".into()).map(|()| true),
            true,
            0,
        ),
    ];
    for (name, marker, in_new_task, code, patched, new_commands) in cases {
        // Task 1: a timer (fired before this task), then maybe the marker and an activity.
        let mut b = HistoryBuilder::new("w");
        b.task();
        let t = b.timer_started(10);
        if in_new_task {
            b.timer_fired(t);
        } else {
            if marker {
                b.patch_marker("fix-1");
            }
            b.activity_scheduled("charge");
            b.timer_fired(t);
        }
        b.pending_task();
        let mut r = replay(&b.build());
        let t = r.start_timer(10).unwrap();
        if in_new_task {
            fired(&mut r, t).unwrap();
        }
        assert_eq!(code(&mut r), Ok(patched), "{name}");
        if !in_new_task {
            // The recorded activity comes next in every history of the case.
            activity(&mut r, "charge").unwrap_or_else(|i| panic!("{name}: {i}"));
        }
        assert_eq!(r.take_commands().len(), new_commands, "{name}");
    }
}

// Known gaps of the replay, found while writing these cases. Each test asserts the behavior
// the module documentation promises; they are ignored until the replay is fixed.

/// The code woken by an event the history recorded after a command it has not issued yet
/// must have issued that command before waiting (the old code did): here the code waits on
/// timer 2 before scheduling "charge", which task 2 recorded before timer 2 fired.
#[test]
fn a_command_moved_after_a_wait_is_non_determinism() {
    let mut b = HistoryBuilder::new("w");
    b.task();
    let t1 = b.timer_started(10);
    let t2 = b.timer_started(20);
    b.timer_fired(t1);
    b.task();
    let charge = b.activity_scheduled("charge");
    b.timer_fired(t2);
    b.pending_task();
    let mut r = replay(&b.build());
    let h1 = r.start_timer(10).unwrap();
    let h2 = r.start_timer(20).unwrap();
    fired(&mut r, h1).unwrap();
    let Err(Interrupt::NonDeterminism(msg)) = r.wait_any(&[h2]) else {
        panic!("the wait must fail: event {charge} was recorded before timer 2 fired");
    };
    assert!(
        msg.contains(&format!("event {charge} ActivityTaskScheduled")),
        "{msg}"
    );
}

/// Strict replay compares every attribute the code decides; the cancellation type is one,
/// and the recorded one decides where the wait ends.
#[test]
fn strict_replay_compares_the_cancellation_type() {
    let mut b = HistoryBuilder::new("w");
    b.task();
    let a = b.activity_scheduled("charge");
    let t = b.timer_started(10);
    b.timer_fired(t);
    b.task();
    let at = b.activity_cancel_requested(a, CancellationType::WaitCancellationCompleted);
    b.activity_completed(a, b"done anyway");
    b.pending_task();
    let mut r = replay_with(&b.build(), served_more(ReplayMode::Strict));
    let h = activity(&mut r, "charge").unwrap();
    let t = r.start_timer(10).unwrap();
    fired(&mut r, t).unwrap();
    let Err(Interrupt::NonDeterminism(msg)) = r.request_cancel_with(h, CancellationType::TryCancel)
    else {
        panic!("strict replay must refuse another cancellation type");
    };
    assert!(msg.contains(&format!("at event {at}")), "{msg}");
    assert!(msg.contains("cancellation_type"), "{msg}");
}
