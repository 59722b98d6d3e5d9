//! Every command kind matched by position: issued again it matches and receives the recorded
//! outcome; another kind or identity at its position is non-determinism naming the event.

use super::*;

/// One command kind matched by position.
pub(super) struct Case {
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

pub(super) fn charge_ship_timer(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let charge = activity(r, "charge")?;
    let ship = activity(r, "ship")?;
    let t = r.start_timer(1_000)?;
    fired(r, t)?;
    Ok((charge, ship))
}

pub(super) fn three_timers(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let first = r.start_timer(1_000)?;
    let second = r.start_timer(5_000)?;
    let third = r.start_timer(9_000)?;
    fired(r, first)?;
    Ok((second, third))
}

pub(super) fn two_operations_timer(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let op = nexus(r, NEXUS.2)?;
    let other = nexus(r, OTHER_OPERATION)?;
    let t = r.start_timer(1_000)?;
    fired(r, t)?;
    Ok((op, other))
}

pub(super) fn two_children_timer(r: &mut Replay) -> Result<(u32, u32), Interrupt> {
    let first = child(r, "ship", "kid-1")?;
    let second = child(r, "ship", "kid-2")?;
    let t = r.start_timer(1_000)?;
    fired(r, t)?;
    Ok((first, second))
}

// Long because it is the table of cases: one entry per command kind matched by position.
pub(super) fn cases() -> Vec<Case> {
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
pub(super) fn the_cases_cover_every_command_kind_matched_by_position() {
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
pub(super) fn a_command_issued_again_matches_its_event_and_receives_the_recorded_outcome() {
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
pub(super) fn another_kind_or_identity_at_a_recorded_position_is_non_determinism_naming_the_event()
{
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
pub(super) fn a_timer_of_another_duration_matches_in_lenient_replay_only() {
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
