//! Golden fixtures of the on-disk event encoding.
//!
//! Stored histories are never rewritten, so the bytes `encode(&event)` writes are a contract:
//! every release must decode every event any earlier release stored. Postcard stores an enum
//! variant by its index and a struct's fields in declaration order, without names, so
//! reordering, removing or inserting a variant of [`EventKind`] (or of an enum inside an
//! event: [`WorkflowTaskFailedCause`], [`ParentClosePolicy`], [`CancellationType`]) or a field
//! changes what stored bytes mean. These tests pin the bytes.
//!
//! `tests/fixtures/events-v<N>.txt` holds one line per sample, `<label> <hex>`: the label is
//! the kind's name, or `<name>/<variant>` for the extra samples that cover every variant of
//! an enum inside the event. `events-v3.txt` is the current format ([`FORMAT_VERSION`]); the
//! test compares it with what this build encodes, and decodes every line back to its sample.
//! The other files are what earlier releases wrote: `events-v1.txt` (format 1, read through
//! `history::v1`), `events-v2.txt` and `events-v3-before-cancellation-type.txt` (format 3
//! before `cancellation_type` was appended to the cancel events). Their headers say how they
//! were produced (by the encoder of the commit that wrote that layout); they are frozen, and
//! the tests check that [`decode_event`] still reads every line as the sample it came from.
//!
//! Blessing: when the current format's fixture is missing, or the environment variable
//! `WEFT_BLESS=1` is set, the test (re)writes it from this build instead of comparing:
//! `WEFT_BLESS=1 cargo test -p weft-core --test golden`. Do that only for a new kind or enum
//! variant appended last (its line is new, no other line changes) or for the first fixture of
//! a new format version, and review the diff: a changed existing line means stored histories
//! would no longer decode. Frozen fixtures of earlier formats are never rewritten.
//!
//! Every kind has a sample: [`sample`] matches on [`EventKind`] without a catch-all arm, so a
//! new variant does not compile until it is given one, and the kinds are listed from the type
//! itself (by postcard index), so none is skipped.

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;
use weft_core::history::{
    CancellationType, Event, EventKind, FORMAT_VERSION, Failure, ParentClosePolicy, Payload,
    RetryPolicy, WorkflowOptions, WorkflowTaskFailedCause, decode_event, encode,
};
use weft_core::ids::EventId;

/// Id and time of every sample event (several bytes each as varints).
const SAMPLE_ID: EventId = EventId(4242);
const SAMPLE_TIME_MS: u64 = 1_764_000_000_123;

fn payload(s: &str) -> Payload {
    Payload(s.as_bytes().to_vec())
}

fn failure() -> Failure {
    Failure {
        error_type: "CardDeclined".into(),
        message: "insufficient funds".into(),
        details: Some(payload(r#"{"balance":3}"#)),
        non_retryable: true,
    }
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        initial_interval_ms: 250,
        backoff_coefficient: 1.5,
        maximum_interval_ms: 60_000,
        maximum_attempts: 7,
        non_retryable_error_types: vec!["CardDeclined".into(), "Fraud".into()],
    }
}

fn workflow_options() -> WorkflowOptions {
    WorkflowOptions {
        execution_timeout_ms: Some(86_400_000),
        run_timeout_ms: Some(3_600_000),
        task_timeout_ms: Some(10_000),
        retry_policy: Some(retry_policy()),
    }
}

/// Every value of the enum `T`, in declaration order (postcard index 0, 1, ...), read from
/// the type itself: index `i` followed by zero bytes decodes to variant `i` with zeroed fields
/// until `i` passes the last variant.
fn every_variant<T: DeserializeOwned>() -> Vec<T> {
    let mut out = Vec::new();
    for i in 0u8..128 {
        let mut bytes = vec![0u8; 256];
        bytes[0] = i;
        match postcard::from_bytes::<T>(&bytes) {
            Ok(v) => out.push(v),
            Err(e) => {
                assert_ne!(
                    e,
                    postcard::Error::DeserializeUnexpectedEnd,
                    "variant {i} needs more than 256 zero bytes"
                );
                return out;
            }
        }
    }
    panic!("more than 127 variants")
}

/// The sample of `kind`'s variant (only the variant of `kind` matters), with a non-default
/// value in every field. No catch-all arm: a new variant needs a sample here.
// Long because it is a table: one sample per event kind, exhaustive over `EventKind`.
fn sample(kind: &EventKind) -> EventKind {
    use EventKind as K;
    match kind {
        K::WorkflowExecutionStarted { .. } => K::WorkflowExecutionStarted {
            workflow_type: "order".into(),
            input: payload(r#"{"order":42}"#),
            random_seed: 0x0123_4567_89ab_cdef,
        },
        K::WorkflowTaskScheduled { .. } => K::WorkflowTaskScheduled { attempt: 3 },
        K::WorkflowTaskStarted { .. } => K::WorkflowTaskStarted {
            scheduled_event_id: EventId(2),
        },
        K::WorkflowTaskCompleted { .. } => K::WorkflowTaskCompleted {
            started_event_id: EventId(3),
        },
        K::WorkflowTaskFailed { .. } => K::WorkflowTaskFailed {
            started_event_id: EventId(3),
            cause: WorkflowTaskFailedCause::LimitExceeded,
            message: "commands differ from the history".into(),
        },
        K::ActivityTaskScheduled { .. } => K::ActivityTaskScheduled {
            activity_type: "charge".into(),
            input: payload(r#"{"amount":1999}"#),
            start_to_close_timeout_ms: 30_000,
            retry_policy: retry_policy(),
            schedule_to_close_timeout_ms: Some(600_000),
            schedule_to_start_timeout_ms: Some(120_000),
            heartbeat_timeout_ms: Some(5_000),
            task_queue: "payments".into(),
        },
        K::ActivityTaskStarted { .. } => K::ActivityTaskStarted {
            scheduled_event_id: EventId(6),
            attempt: 4,
        },
        K::ActivityTaskCompleted { .. } => K::ActivityTaskCompleted {
            scheduled_event_id: EventId(6),
            result: payload(r#"{"receipt":"r-17"}"#),
        },
        K::ActivityTaskFailed { .. } => K::ActivityTaskFailed {
            scheduled_event_id: EventId(6),
            failure: failure(),
        },
        K::TimerStarted { .. } => K::TimerStarted {
            duration_ms: 90_000,
            fire_at_ms: 1_764_000_090_123,
        },
        K::TimerFired { .. } => K::TimerFired {
            started_event_id: EventId(10),
        },
        K::WorkflowExecutionCompleted { .. } => K::WorkflowExecutionCompleted {
            result: payload(r#"{"shipped":true}"#),
        },
        K::WorkflowExecutionFailed { .. } => K::WorkflowExecutionFailed { failure: failure() },
        K::WorkflowExecutionTerminated { .. } => K::WorkflowExecutionTerminated {
            reason: "history reached its limit".into(),
        },
        K::ActivityTaskTimedOut { .. } => K::ActivityTaskTimedOut {
            scheduled_event_id: EventId(6),
            failure: failure(),
        },
        K::ActivityTaskCancelRequested { .. } => K::ActivityTaskCancelRequested {
            scheduled_event_id: EventId(6),
            cancellation_type: CancellationType::TryCancel,
        },
        K::ActivityTaskCanceled { .. } => K::ActivityTaskCanceled {
            scheduled_event_id: EventId(6),
        },
        K::TimerCanceled { .. } => K::TimerCanceled {
            started_event_id: EventId(10),
        },
        K::NexusOperationScheduled { .. } => K::NexusOperationScheduled {
            endpoint: "payments-endpoint".into(),
            service: "billing".into(),
            operation: "refund".into(),
            input: payload(r#"{"refund":5}"#),
            request_id: "req-5f2a".into(),
            schedule_to_close_timeout_ms: Some(300_000),
        },
        K::NexusOperationStarted { .. } => K::NexusOperationStarted {
            scheduled_event_id: EventId(19),
            operation_token: "tok-abc".into(),
        },
        K::NexusOperationCompleted { .. } => K::NexusOperationCompleted {
            scheduled_event_id: EventId(19),
            result: payload(r#"{"refunded":5}"#),
        },
        K::NexusOperationFailed { .. } => K::NexusOperationFailed {
            scheduled_event_id: EventId(19),
            failure: failure(),
        },
        K::NexusOperationCanceled { .. } => K::NexusOperationCanceled {
            scheduled_event_id: EventId(19),
        },
        K::NexusOperationTimedOut { .. } => K::NexusOperationTimedOut {
            scheduled_event_id: EventId(19),
            failure: failure(),
        },
        K::NexusOperationCancelRequested { .. } => K::NexusOperationCancelRequested {
            scheduled_event_id: EventId(19),
        },
        K::WorkflowExecutionSignaled { .. } => K::WorkflowExecutionSignaled {
            signal_name: "approve".into(),
            input: payload(r#"{"by":"ana"}"#),
        },
        K::WorkflowExecutionCancelRequested { .. } => K::WorkflowExecutionCancelRequested {
            reason: "customer asked".into(),
        },
        K::WorkflowExecutionCanceled { .. } => K::WorkflowExecutionCanceled {
            details: Some(payload(r#""refunded""#)),
        },
        K::WorkflowExecutionTimedOut { .. } => K::WorkflowExecutionTimedOut {
            timeout: "RunTimeout".into(),
        },
        K::WorkflowExecutionContinuedAsNew { .. } => K::WorkflowExecutionContinuedAsNew {
            new_execution_run_id: "0b9a4c1e-7d2f-4e3a-9c5b-1f2e3d4c5b6a".into(),
            workflow_type: "batch".into(),
            input: payload(r#"{"cursor":100}"#),
        },
        K::WorkflowExecutionUpdateAccepted { .. } => K::WorkflowExecutionUpdateAccepted {
            update_id: "upd-1".into(),
            update_name: "set-address".into(),
            input: payload(r#"{"city":"Lyon"}"#),
        },
        K::WorkflowExecutionUpdateCompleted { .. } => K::WorkflowExecutionUpdateCompleted {
            update_id: "upd-1".into(),
            result: Some(payload(r#""ok""#)),
            failure: Some(failure()),
        },
        K::MarkerRecorded { .. } => K::MarkerRecorded {
            marker_name: "patch".into(),
            details: payload(r#""fix-rounding""#),
        },
        K::StartChildWorkflowExecutionInitiated { .. } => K::StartChildWorkflowExecutionInitiated {
            workflow_id: "order-42-ship".into(),
            workflow_type: "ship".into(),
            input: payload(r#"{"parcel":1}"#),
            parent_close_policy: ParentClosePolicy::RequestCancel,
            options: workflow_options(),
        },
        K::StartChildWorkflowExecutionFailed { .. } => K::StartChildWorkflowExecutionFailed {
            initiated_event_id: EventId(34),
            workflow_id: "order-42-ship".into(),
            cause: "WorkflowExecutionAlreadyStarted".into(),
        },
        K::ChildWorkflowExecutionStarted { .. } => K::ChildWorkflowExecutionStarted {
            initiated_event_id: EventId(34),
            workflow_id: "order-42-ship".into(),
            run_id: "5c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f".into(),
        },
        K::ChildWorkflowExecutionCompleted { .. } => K::ChildWorkflowExecutionCompleted {
            initiated_event_id: EventId(34),
            result: payload(r#"{"tracking":"T-9"}"#),
        },
        K::ChildWorkflowExecutionFailed { .. } => K::ChildWorkflowExecutionFailed {
            initiated_event_id: EventId(34),
            failure: failure(),
        },
        K::ChildWorkflowExecutionCanceled { .. } => K::ChildWorkflowExecutionCanceled {
            initiated_event_id: EventId(34),
        },
        K::ChildWorkflowExecutionTerminated { .. } => K::ChildWorkflowExecutionTerminated {
            initiated_event_id: EventId(34),
        },
        K::ChildWorkflowExecutionTimedOut { .. } => K::ChildWorkflowExecutionTimedOut {
            initiated_event_id: EventId(34),
        },
        K::RequestCancelExternalWorkflowExecutionInitiated { .. } => {
            K::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id: EventId(34),
                workflow_id: "order-42-ship".into(),
                cancellation_type: CancellationType::WaitCancellationRequested,
            }
        }
        K::ExternalWorkflowExecutionCancelRequested { .. } => {
            K::ExternalWorkflowExecutionCancelRequested {
                initiated_event_id: EventId(42),
                workflow_id: "order-42-ship".into(),
            }
        }
        K::SignalExternalWorkflowExecutionInitiated { .. } => {
            K::SignalExternalWorkflowExecutionInitiated {
                workflow_id: "invoice-7".into(),
                run_id: Some("6d2e3f40-5b6c-4d7e-9f80-1b2c3d4e5f60".into()),
                signal_name: "paid".into(),
                input: payload(r#"{"amount":1999}"#),
            }
        }
        K::ExternalWorkflowExecutionSignaled { .. } => K::ExternalWorkflowExecutionSignaled {
            initiated_event_id: EventId(44),
            workflow_id: "invoice-7".into(),
            run_id: "6d2e3f40-5b6c-4d7e-9f80-1b2c3d4e5f60".into(),
        },
        K::SignalExternalWorkflowExecutionFailed { .. } => {
            K::SignalExternalWorkflowExecutionFailed {
                initiated_event_id: EventId(44),
                workflow_id: "invoice-7".into(),
                cause: "ExternalWorkflowExecutionNotFound".into(),
            }
        }
        K::RequestCancelExternalWorkflowExecutionFailed { .. } => {
            K::RequestCancelExternalWorkflowExecutionFailed {
                initiated_event_id: EventId(42),
                workflow_id: "invoice-7".into(),
                cause: "HistoryLimitExceeded".into(),
            }
        }
    }
}

/// More samples of `main`'s kind, one for every other variant of an enum inside it, labelled
/// by that variant; and one with its optional fields unset where that is a distinct layout.
fn variants_of(main: &EventKind) -> Vec<(String, EventKind)> {
    let mut out = Vec::new();
    match main {
        EventKind::WorkflowTaskFailed {
            started_event_id,
            cause,
            message,
        } => {
            for c in every_variant::<WorkflowTaskFailedCause>() {
                if c != *cause {
                    let kind = EventKind::WorkflowTaskFailed {
                        started_event_id: *started_event_id,
                        cause: c.clone(),
                        message: message.clone(),
                    };
                    out.push((format!("{c:?}"), kind));
                }
            }
        }
        EventKind::ActivityTaskCancelRequested {
            scheduled_event_id,
            cancellation_type,
        } => {
            for c in every_variant::<CancellationType>() {
                if c != *cancellation_type {
                    let kind = EventKind::ActivityTaskCancelRequested {
                        scheduled_event_id: *scheduled_event_id,
                        cancellation_type: c,
                    };
                    out.push((format!("{c:?}"), kind));
                }
            }
        }
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id,
            workflow_id,
            cancellation_type,
        } => {
            for c in every_variant::<CancellationType>() {
                if c != *cancellation_type {
                    let kind = EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                        initiated_event_id: *initiated_event_id,
                        workflow_id: workflow_id.clone(),
                        cancellation_type: c,
                    };
                    out.push((format!("{c:?}"), kind));
                }
            }
        }
        EventKind::StartChildWorkflowExecutionInitiated {
            workflow_id,
            workflow_type,
            input,
            parent_close_policy,
            options,
        } => {
            for p in every_variant::<ParentClosePolicy>() {
                if p != *parent_close_policy {
                    let kind = EventKind::StartChildWorkflowExecutionInitiated {
                        workflow_id: workflow_id.clone(),
                        workflow_type: workflow_type.clone(),
                        input: input.clone(),
                        parent_close_policy: p,
                        options: options.clone(),
                    };
                    out.push((format!("{p:?}"), kind));
                }
            }
        }
        EventKind::WorkflowExecutionUpdateCompleted { update_id, .. } => {
            let kind = EventKind::WorkflowExecutionUpdateCompleted {
                update_id: update_id.clone(),
                result: None,
                failure: None,
            };
            out.push(("None".into(), kind));
        }
        _ => {}
    }
    out
}

/// Every sample, labelled, in the order of the kinds' postcard indices.
fn samples() -> Vec<(String, Event)> {
    let event = |kind| Event {
        id: SAMPLE_ID,
        time_ms: SAMPLE_TIME_MS,
        kind,
    };
    let mut out = Vec::new();
    for kind in every_variant::<EventKind>() {
        let main = sample(&kind);
        let name = main.name();
        assert_eq!(
            name,
            kind.name(),
            "sample() gives {name} a sample of another kind"
        );
        let more = variants_of(&main);
        out.push((name.to_string(), event(main)));
        for (variant, k) in more {
            out.push((format!("{name}/{variant}"), event(k)));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd number of hex digits: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits"))
        .collect()
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The `<label> <hex>` lines of a fixture file, in file order (`#` lines are comments).
fn read_fixture(name: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let text = std::fs::read_to_string(fixture_path(name)).ok()?;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, bytes) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("{name}:{}: expected `<label> <hex>`", n + 1));
        lines.push((label.to_string(), unhex(bytes.trim())));
    }
    Some(lines)
}

fn bless_requested() -> bool {
    std::env::var("WEFT_BLESS").is_ok_and(|v| v == "1")
}

/// The current format: every sample encodes to the checked-in bytes, and the checked-in
/// bytes decode to the sample.
#[test]
fn current_format_matches_golden_bytes() {
    let name = format!("events-v{FORMAT_VERSION}.txt");
    let samples = samples();
    let actual: Vec<(String, Vec<u8>)> = samples
        .iter()
        .map(|(label, e)| (label.clone(), encode(e)))
        .collect();

    let mut golden = read_fixture(&name);
    if golden.is_none() || bless_requested() {
        let mut text = format!(
            "# weft event encoding, format version {FORMAT_VERSION}: `<kind>[/<variant>] <hex of encode(&event)>`.\n\
             # Written by crates/core/tests/golden.rs (WEFT_BLESS=1). A stored history holds these bytes:\n\
             # lines may be appended (new kinds and variants go last), never changed.\n"
        );
        for (label, bytes) in &actual {
            text.push_str(&format!("{label} {}\n", hex(bytes)));
        }
        std::fs::create_dir_all(fixture_path("")).unwrap();
        std::fs::write(fixture_path(&name), text).unwrap();
        eprintln!("wrote {}", fixture_path(&name).display());
        golden = read_fixture(&name);
    }
    let golden = golden.expect("the fixture was just written");
    let golden_map: BTreeMap<&str, &Vec<u8>> =
        golden.iter().map(|(l, b)| (l.as_str(), b)).collect();

    let mut problems = Vec::new();
    for (label, bytes) in &actual {
        match golden_map.get(label.as_str()) {
            Some(expected) if *expected == bytes => {}
            Some(expected) => problems.push(format!(
                "{label}: the encoding changed\n    expected {}\n    actual   {}",
                hex(expected),
                hex(bytes)
            )),
            None => problems.push(format!(
                "{label}: no golden line (a new kind or variant? append it last, then run \
                 WEFT_BLESS=1 and check that only new lines appear)\n    actual   {}",
                hex(bytes)
            )),
        }
    }
    let labels: Vec<&str> = actual.iter().map(|(l, _)| l.as_str()).collect();
    for (label, expected) in &golden {
        if !labels.contains(&label.as_str()) {
            problems.push(format!(
                "{label}: in the golden file but no longer a kind or variant (removed or \
                 renamed?)\n    expected {}",
                hex(expected)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "event encoding differs from tests/fixtures/{name} for {} sample(s):\n{}\n\n\
         Stored histories hold the golden bytes and would no longer decode (or would decode as \
         another event). The encoding is a contract: postcard stores an enum variant by its \
         index and fields by position, so EventKind and the enums inside events are \
         append-only (never reorder, remove or insert in the middle; new fields go last with \
         a decode rule). Undo the change; bless (WEFT_BLESS=1) only appended lines.",
        problems.len(),
        problems.join("\n")
    );

    // The golden bytes decode to the samples.
    let by_label: BTreeMap<&str, &Event> = samples.iter().map(|(l, e)| (l.as_str(), e)).collect();
    for (label, bytes) in &golden {
        let decoded =
            decode_event(bytes).unwrap_or_else(|e| panic!("{name}: {label} does not decode: {e}"));
        assert_eq!(&decoded, by_label[label.as_str()], "{name}: {label}");
    }
}

/// A layout earlier releases wrote events in; [`as_read_from`] says what the current decoder
/// fills in for the fields it lacks.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Format 1 (`history::v1`): ActivityTaskScheduled without its timeouts and task queue.
    V1,
    /// Format 2 and format 3 before the cancellation types: the cancel events without their
    /// trailing `cancellation_type`.
    BeforeCancellationType,
}

/// What `e` (a sample) reads as after being written in `layout`: the fields the layout lacks
/// take the values the decoder gives them.
fn as_read_from(layout: Layout, mut e: Event) -> Event {
    match (&mut e.kind, layout) {
        (
            EventKind::ActivityTaskScheduled {
                schedule_to_close_timeout_ms,
                schedule_to_start_timeout_ms,
                heartbeat_timeout_ms,
                task_queue,
                ..
            },
            Layout::V1,
        ) => {
            *schedule_to_close_timeout_ms = None;
            *schedule_to_start_timeout_ms = None;
            *heartbeat_timeout_ms = None;
            *task_queue = weft_core::history::DEFAULT_TASK_QUEUE.to_string();
        }
        (
            EventKind::ActivityTaskCancelRequested {
                cancellation_type, ..
            }
            | EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                cancellation_type, ..
            },
            Layout::V1 | Layout::BeforeCancellationType,
        ) => *cancellation_type = CancellationType::WaitCancellationCompleted,
        _ => {}
    }
    e
}

/// Checks a frozen fixture of an earlier format: every line decodes to its sample as read
/// from `layout`, its first byte is `version`, and it has the `expected` number of lines.
/// Lines in `known_gaps` are events that format wrote but this decoder cannot read: the test
/// asserts that they still fail, so fixing the decoder makes it fail until the label is
/// removed from the list (then the line is pinned like the others).
fn check_frozen(
    name: &str,
    version: u8,
    layout: Layout,
    expected_lines: usize,
    known_gaps: &[&str],
) {
    let lines = read_fixture(name).unwrap_or_else(|| {
        panic!(
            "tests/fixtures/{name} is missing: it holds bytes an earlier release wrote and \
             cannot be regenerated by this one; restore it from git"
        )
    });
    assert_eq!(lines.len(), expected_lines, "{name}: number of lines");
    let samples: BTreeMap<String, Event> = samples().into_iter().collect();
    for (label, bytes) in &lines {
        assert_eq!(bytes[0], version, "{name}: {label}: format version byte");
        let sample = samples
            .get(label)
            .unwrap_or_else(|| panic!("{name}: {label} is not a sample of this build"));
        let decoded = decode_event(bytes);
        if known_gaps.contains(&label.as_str()) {
            assert!(
                decoded.is_err(),
                "{name}: {label} decodes now ({decoded:?}): remove it from the known gaps"
            );
            continue;
        }
        let decoded = decoded.unwrap_or_else(|e| {
            panic!("{name}: {label} written by an earlier release no longer decodes: {e}")
        });
        assert_eq!(
            decoded,
            as_read_from(layout, sample.clone()),
            "{name}: {label} written by an earlier release decodes to another event"
        );
    }
}

/// Format 1: 14 kinds (WorkflowExecutionTerminated, index 13, was added while the format was
/// still 1) and 5 task failure causes, read through `history::v1`.
#[test]
fn format_1_still_decodes() {
    check_frozen("events-v1.txt", 1, Layout::V1, 14 + 4, &[]);
}

/// Format 2: 25 kinds and 5 task failure causes, the cancel request without its
/// cancellation type.
#[test]
fn format_2_still_decodes() {
    check_frozen(
        "events-v2.txt",
        2,
        Layout::BeforeCancellationType,
        25 + 4,
        &[],
    );
}

/// Format 3 as written before `cancellation_type` was appended to ActivityTaskCancelRequested
/// and RequestCancelExternalWorkflowExecutionInitiated (decoded by the trailing-zero-byte
/// rule of `decode_event`): 43 kinds, 6 task failure causes, 3 parent close policies and an
/// update outcome without result or failure.
#[test]
fn format_3_before_cancellation_types_still_decodes() {
    check_frozen(
        "events-v3-before-cancellation-type.txt",
        3,
        Layout::BeforeCancellationType,
        43 + 5 + 2 + 1,
        &[],
    );
}

/// Every kind has a sample and the samples cover every variant of the enums inside events.
#[test]
fn samples_cover_every_kind_and_variant() {
    let samples = samples();
    let kinds = every_variant::<EventKind>();
    for kind in &kinds {
        assert!(
            samples.iter().any(|(l, _)| l == kind.name()),
            "no sample of {}",
            kind.name()
        );
    }
    let count = |prefix: &str| {
        samples
            .iter()
            .filter(|(l, _)| l == prefix || l.starts_with(&format!("{prefix}/")))
            .count()
    };
    assert_eq!(
        count("WorkflowTaskFailed"),
        every_variant::<WorkflowTaskFailedCause>().len()
    );
    assert_eq!(
        count("ActivityTaskCancelRequested"),
        every_variant::<CancellationType>().len()
    );
    assert_eq!(
        count("RequestCancelExternalWorkflowExecutionInitiated"),
        every_variant::<CancellationType>().len()
    );
    assert_eq!(
        count("StartChildWorkflowExecutionInitiated"),
        every_variant::<ParentClosePolicy>().len()
    );
    eprintln!("{} kinds, {} samples", kinds.len(), samples.len());
}

/// The history file (`HistoryFile`) keeps every sample exactly, in both forms: JSON export and
/// import round-trip byte for byte, payloads included, whatever bytes they hold.
#[test]
fn every_event_kind_round_trips_through_the_history_file() {
    use weft_core::history::HistoryFile;
    let mut events: Vec<Event> = samples().into_iter().map(|(_, e)| e).collect();
    // Payloads that are not one exact JSON text: binary, surrounding whitespace, empty; and one
    // that is JSON in an unusual spelling (kept verbatim, not re-shaped).
    for bytes in [
        vec![0xff, 0x00, 0x7b],
        b" {\"a\": 1} ".to_vec(),
        Vec::new(),
        b"{\"b\":1,  \"a\":[1.50, \"\\u00e9\"]}".to_vec(),
    ] {
        events.push(Event {
            id: SAMPLE_ID,
            time_ms: SAMPLE_TIME_MS,
            kind: EventKind::WorkflowExecutionSignaled {
                signal_name: "s".into(),
                input: Payload(bytes),
            },
        });
    }
    let file = HistoryFile::new(
        "default",
        "wf-1",
        "00000000-0000-4000-8000-000000000001",
        events,
    );
    let json = file.to_json();
    let back = HistoryFile::read(json.as_bytes()).expect("the JSON form reads back");
    assert_eq!(back, file, "every event and payload is kept");
    assert_eq!(
        back.to_json(),
        json,
        "a second export is byte for byte the first"
    );
    let binary = file.to_binary();
    assert_eq!(
        HistoryFile::read(&binary).expect("the binary form reads back"),
        file
    );
    // JSON payloads read as what they hold; others are base64.
    assert!(
        json.contains(r#""json": {"b":1,  "a":[1.50, "\u00e9"]}"#),
        "{json}"
    );
    assert!(json.contains(r#""base64": "/wB7""#), "{json}");
    // A newer version is named as such; something else is refused.
    let newer = json.replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(
        HistoryFile::read(newer.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("version 2")
    );
    assert!(HistoryFile::read(b"{\"events\": []}").is_err());
}
