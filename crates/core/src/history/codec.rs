//! The versioned on-disk encoding: a format version byte, then postcard. Every earlier layout
//! stays readable (`v1`, and the trailing-field rule in [`decode_event`]); the golden fixtures
//! in `crates/core/tests/` pin the bytes.

use super::{Event, EventKind, FORMAT_VERSION};
use serde::{Deserialize, Serialize};

/// Failure to decode a stored value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EncodingError {
    /// The value was written by a newer release of weft.
    #[error(
        "stored value has format version {found}, newer than the {supported} this weft reads; upgrade weft"
    )]
    NewerFormat {
        /// Version found.
        found: u8,
        /// Newest version this release reads.
        supported: u8,
    },
    /// The bytes are not a valid value.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
}

/// Encodes `value` with the current format version in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    out.extend(postcard::to_stdvec(value).expect("in-memory serialization does not fail"));
    out
}

/// Decodes a value written by [`encode`] of this or an earlier release.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, EncodingError> {
    match bytes.first() {
        None => Err(EncodingError::Corrupt("empty value".into())),
        Some(&v) if (1..=FORMAT_VERSION).contains(&v) => {
            postcard::from_bytes(&bytes[1..]).map_err(|e| EncodingError::Corrupt(e.to_string()))
        }
        Some(&v) if v > FORMAT_VERSION => Err(EncodingError::NewerFormat {
            found: v,
            supported: FORMAT_VERSION,
        }),
        Some(&v) => Err(EncodingError::Corrupt(format!(
            "unknown format version {v}"
        ))),
    }
}

/// Decodes an event written by [`encode`] of this or an earlier release. Histories are never
/// rewritten, so every earlier layout of [`EventKind`] stays readable here.
///
/// Trailing fields: `cancellation_type` was appended to ActivityTaskCancelRequested and
/// RequestCancelExternalWorkflowExecutionInitiated within format 3. `kind` is the last field
/// of [`Event`] and the new field the last of its variant, so an event written before it ends
/// where that field would begin: decoding reads one zero byte past the stored bytes, which is
/// index 0 of [`CancellationType`] (the behaviour of those releases). Postcard ignores the
/// byte for every other event (and older releases ignore the new field's byte).
pub fn decode_event(bytes: &[u8]) -> Result<Event, EncodingError> {
    match bytes.first() {
        Some(1) => {
            let old: v1::Event = postcard::from_bytes(&bytes[1..])
                .map_err(|e| EncodingError::Corrupt(e.to_string()))?;
            Ok(old.into())
        }
        Some(&v) if (2..=FORMAT_VERSION).contains(&v) => {
            // Nearly every event decodes from its own bytes: postcard reads fields in order,
            // so a success read only stored bytes. Only an event that ends before its
            // trailing field needs the zero byte, and so a padded copy.
            decode(bytes).or_else(|_| {
                let mut padded = Vec::with_capacity(bytes.len() + 1);
                padded.extend_from_slice(bytes);
                padded.push(0);
                decode(&padded)
            })
        }
        _ => decode(bytes),
    }
}

/// The event layout of format version 1 (release 0.1), including WorkflowExecutionTerminated
/// (index 13), which format 1 wrote too (added before the format became 2).
mod v1 {
    use crate::history::{Failure, Payload, RetryPolicy, WorkflowTaskFailedCause};
    use crate::ids::EventId;
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Event {
        id: EventId,
        time_ms: u64,
        kind: EventKind,
    }

    #[derive(Deserialize)]
    enum EventKind {
        WorkflowExecutionStarted {
            workflow_type: String,
            input: Payload,
            random_seed: u64,
        },
        WorkflowTaskScheduled {
            attempt: u32,
        },
        WorkflowTaskStarted {
            scheduled_event_id: EventId,
        },
        WorkflowTaskCompleted {
            started_event_id: EventId,
        },
        WorkflowTaskFailed {
            started_event_id: EventId,
            cause: WorkflowTaskFailedCause,
            message: String,
        },
        ActivityTaskScheduled {
            activity_type: String,
            input: Payload,
            start_to_close_timeout_ms: u64,
            retry_policy: RetryPolicy,
        },
        ActivityTaskStarted {
            scheduled_event_id: EventId,
            attempt: u32,
        },
        ActivityTaskCompleted {
            scheduled_event_id: EventId,
            result: Payload,
        },
        ActivityTaskFailed {
            scheduled_event_id: EventId,
            failure: Failure,
        },
        TimerStarted {
            duration_ms: u64,
            fire_at_ms: u64,
        },
        TimerFired {
            started_event_id: EventId,
        },
        WorkflowExecutionCompleted {
            result: Payload,
        },
        WorkflowExecutionFailed {
            failure: Failure,
        },
        WorkflowExecutionTerminated {
            reason: String,
        },
    }

    impl From<Event> for super::Event {
        fn from(e: Event) -> super::Event {
            use super::EventKind as K;
            let kind = match e.kind {
                EventKind::WorkflowExecutionStarted {
                    workflow_type,
                    input,
                    random_seed,
                } => K::WorkflowExecutionStarted {
                    workflow_type,
                    input,
                    random_seed,
                },
                EventKind::WorkflowTaskScheduled { attempt } => {
                    K::WorkflowTaskScheduled { attempt }
                }
                EventKind::WorkflowTaskStarted { scheduled_event_id } => {
                    K::WorkflowTaskStarted { scheduled_event_id }
                }
                EventKind::WorkflowTaskCompleted { started_event_id } => {
                    K::WorkflowTaskCompleted { started_event_id }
                }
                EventKind::WorkflowTaskFailed {
                    started_event_id,
                    cause,
                    message,
                } => K::WorkflowTaskFailed {
                    started_event_id,
                    cause,
                    message,
                },
                EventKind::ActivityTaskScheduled {
                    activity_type,
                    input,
                    start_to_close_timeout_ms,
                    retry_policy,
                } => K::ActivityTaskScheduled {
                    activity_type,
                    input,
                    start_to_close_timeout_ms,
                    retry_policy,
                    schedule_to_close_timeout_ms: None,
                    schedule_to_start_timeout_ms: None,
                    heartbeat_timeout_ms: None,
                    task_queue: crate::history::DEFAULT_TASK_QUEUE.to_string(),
                },
                EventKind::ActivityTaskStarted {
                    scheduled_event_id,
                    attempt,
                } => K::ActivityTaskStarted {
                    scheduled_event_id,
                    attempt,
                },
                EventKind::ActivityTaskCompleted {
                    scheduled_event_id,
                    result,
                } => K::ActivityTaskCompleted {
                    scheduled_event_id,
                    result,
                },
                EventKind::ActivityTaskFailed {
                    scheduled_event_id,
                    failure,
                } => K::ActivityTaskFailed {
                    scheduled_event_id,
                    failure,
                },
                EventKind::TimerStarted {
                    duration_ms,
                    fire_at_ms,
                } => K::TimerStarted {
                    duration_ms,
                    fire_at_ms,
                },
                EventKind::TimerFired { started_event_id } => K::TimerFired { started_event_id },
                EventKind::WorkflowExecutionCompleted { result } => {
                    K::WorkflowExecutionCompleted { result }
                }
                EventKind::WorkflowExecutionFailed { failure } => {
                    K::WorkflowExecutionFailed { failure }
                }
                EventKind::WorkflowExecutionTerminated { reason } => {
                    K::WorkflowExecutionTerminated { reason }
                }
            };
            super::Event {
                id: e.id,
                time_ms: e.time_ms,
                kind,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::*;
    use crate::ids::{EventId, RunId};

    #[test]
    fn events_round_trip_and_newer_formats_are_refused() {
        let e = Event {
            id: EventId(3),
            time_ms: 17,
            kind: EventKind::ActivityTaskFailed {
                scheduled_event_id: EventId(2),
                failure: Failure::new("CardDeclined", "no funds").non_retryable(),
            },
        };
        let bytes = encode(&e);
        assert_eq!(decode_event(&bytes).unwrap(), e);
        let mut newer = bytes.clone();
        newer[0] = FORMAT_VERSION + 1;
        assert!(matches!(
            decode::<Event>(&newer),
            Err(EncodingError::NewerFormat { .. })
        ));
        assert!(matches!(
            decode::<Event>(&bytes[..3]),
            Err(EncodingError::Corrupt(_))
        ));
    }

    #[test]
    fn cancel_events_written_before_the_cancellation_type_decode_as_waiting() {
        let new = Event {
            id: EventId(7),
            time_ms: 9,
            kind: EventKind::ActivityTaskCancelRequested {
                scheduled_event_id: EventId(5),
                cancellation_type: CancellationType::TryCancel,
            },
        };
        let bytes = encode(&new);
        assert_eq!(decode_event(&bytes).unwrap(), new);
        // The earlier layout is this one without its last byte (the type's index).
        assert_eq!(*bytes.last().unwrap(), 1);
        assert_eq!(
            decode_event(&bytes[..bytes.len() - 1]).unwrap().kind,
            EventKind::ActivityTaskCancelRequested {
                scheduled_event_id: EventId(5),
                cancellation_type: CancellationType::WaitCancellationCompleted,
            }
        );
        let child = Event {
            id: EventId(8),
            time_ms: 9,
            kind: EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id: EventId(2),
                workflow_id: "kid".into(),
                cancellation_type: CancellationType::Abandon,
            },
        };
        let bytes = encode(&child);
        assert_eq!(decode_event(&bytes).unwrap(), child);
        assert!(matches!(
            decode_event(&bytes[..bytes.len() - 1]).unwrap().kind,
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                cancellation_type: CancellationType::WaitCancellationCompleted,
                ..
            }
        ));
        // Every other event ignores the padding.
        let fired = Event {
            id: EventId(3),
            time_ms: 1,
            kind: EventKind::TimerFired {
                started_event_id: EventId(2),
            },
        };
        assert_eq!(decode_event(&encode(&fired)).unwrap(), fired);
    }

    #[test]
    fn retry_delays_follow_the_policy() {
        let p = RetryPolicy {
            initial_interval_ms: 100,
            maximum_interval_ms: 350,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay_before(2), 100);
        assert_eq!(p.delay_before(3), 200);
        assert_eq!(p.delay_before(4), 350);
        let declined = Failure::new("CardDeclined", "x");
        let limited = RetryPolicy {
            maximum_attempts: 2,
            non_retryable_error_types: vec!["CardDeclined".into()],
            ..p
        };
        assert!(!limited.may_retry(1, &declined));
        assert!(limited.may_retry(1, &Failure::new("Timeout", "x")));
        assert!(!limited.may_retry(2, &Failure::new("Timeout", "x")));
    }

    #[test]
    fn json_view_shows_payloads_as_json() {
        let e = Event {
            id: EventId(1),
            time_ms: 5,
            kind: EventKind::WorkflowExecutionStarted {
                workflow_type: "order".into(),
                input: Payload::json(&serde_json::json!({"a": 1})),
                random_seed: 9,
            },
        };
        let j = e.to_json(RunId(1));
        assert_eq!(j["event_type"], "WorkflowExecutionStarted");
        assert_eq!(j["attributes"]["input"]["a"], 1);
    }
}
