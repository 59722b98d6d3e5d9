//! `docs/history.schema.json` against what serde writes for a history file.
//!
//! The schema describes every attribute of every event kind, so it must accept exactly what
//! [`HistoryFile::to_json`] writes. These tests validate an exported file holding one sample of
//! every [`EventKind`] (and every variant of the enums inside events), samples with their
//! optional values present and absent, and payloads of every form; check that the schema
//! lists exactly the kinds, attributes and enum values serde writes; and check that it refuses
//! broken documents.
//!
//! The samples are those of the golden test (`tests/golden.rs`): rather than copying its
//! sample table, this test decodes the golden fixture `tests/fixtures/events-v<N>.txt` of the
//! current format, which holds `encode(&sample)` for every sample and which the golden test
//! keeps equal to its samples (a new kind does not pass it until its line is blessed). The
//! frozen fixtures of earlier formats are validated too, as what old histories export as.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use weft_core::history::{
    CancellationType, Event, EventKind, FORMAT_VERSION, HistoryFile, ParentClosePolicy, Payload,
    WorkflowOptions, WorkflowTaskFailedCause, decode_event,
};
use weft_core::ids::EventId;

fn manifest_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn schema() -> Value {
    let path = manifest_path("../../docs/history.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    let schema = schema();
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("docs/history.schema.json is not a valid draft 2020-12 schema: {e}");
    }
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("docs/history.schema.json does not compile: {e}"))
}

/// The schema's errors for `doc`, one line each (empty when it is valid). An event whose kind
/// matches no branch of the `oneOf` is checked again against its kind's branch alone, so the
/// message names the attribute at fault.
fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    if out.is_empty() {
        return out;
    }
    let schema = schema();
    let branches = schema["$defs"]["event"]["properties"]["kind"]["oneOf"]
        .as_array()
        .expect("kind is a oneOf");
    for (n, event) in doc["events"].as_array().into_iter().flatten().enumerate() {
        let Some(name) = event["kind"].as_object().and_then(|k| k.keys().next()) else {
            continue;
        };
        let Some(i) = branches.iter().position(|b| b["required"] == json!([name])) else {
            continue;
        };
        // The whole schema (for its `$defs`) with the branch as its root.
        let mut branch = schema.clone();
        let root = branch.as_object_mut().unwrap();
        for key in ["type", "required", "additionalProperties", "properties"] {
            root.remove(key);
        }
        root.insert(
            "$ref".into(),
            json!(format!("#/$defs/event/properties/kind/oneOf/{i}")),
        );
        let branch = jsonschema::draft202012::new(&branch).expect("a branch compiles");
        out.extend(
            branch
                .iter_errors(&event["kind"])
                .map(|e| format!("  /events/{n}/kind{}: {e}", e.instance_path())),
        );
    }
    out
}

/// Every value of the enum `T`, in declaration order, read from the type itself (postcard
/// index `i` followed by zero bytes decodes to variant `i`), as in `tests/golden.rs`.
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

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd number of hex digits: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// The events of a golden fixture (`<label> <hex>` lines, `#` comments), decoded.
fn fixture_events(name: &str) -> Vec<(String, Event)> {
    let path = manifest_path("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (label, hex) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("{name}: expected `<label> <hex>`: {line}"));
            let event = decode_event(&unhex(hex.trim()))
                .unwrap_or_else(|e| panic!("{name}: {label} does not decode: {e}"));
            (label.to_string(), event)
        })
        .collect()
}

/// The golden test's samples: one of every kind (labelled by its name) and one of every
/// variant of the enums inside events (`<name>/<variant>`).
fn golden_samples() -> Vec<(String, Event)> {
    fixture_events(&format!("events-v{FORMAT_VERSION}.txt"))
}

/// `kind` with every optional value it holds unset (`None`, options all unset, failures
/// without details), or `None` when it holds no optional value.
fn with_optionals_absent(kind: &EventKind) -> Option<EventKind> {
    let mut kind = kind.clone();
    let stripped = match &mut kind {
        EventKind::ActivityTaskScheduled {
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            ..
        } => {
            *schedule_to_close_timeout_ms = None;
            *schedule_to_start_timeout_ms = None;
            *heartbeat_timeout_ms = None;
            true
        }
        EventKind::NexusOperationScheduled {
            schedule_to_close_timeout_ms,
            ..
        } => {
            *schedule_to_close_timeout_ms = None;
            true
        }
        EventKind::WorkflowExecutionCanceled { details } => {
            *details = None;
            true
        }
        EventKind::WorkflowExecutionUpdateCompleted {
            result, failure, ..
        } => {
            *result = None;
            *failure = None;
            true
        }
        EventKind::StartChildWorkflowExecutionInitiated { options, .. } => {
            *options = WorkflowOptions::default();
            true
        }
        EventKind::SignalExternalWorkflowExecutionInitiated { run_id, .. } => {
            *run_id = None;
            true
        }
        EventKind::ActivityTaskFailed { failure, .. }
        | EventKind::WorkflowExecutionFailed { failure }
        | EventKind::ActivityTaskTimedOut { failure, .. }
        | EventKind::NexusOperationFailed { failure, .. }
        | EventKind::NexusOperationTimedOut { failure, .. }
        | EventKind::ChildWorkflowExecutionFailed { failure, .. } => {
            failure.details = None;
            true
        }
        _ => false,
    };
    stripped.then_some(kind)
}

/// More events: optional values half set, payloads of every form, integers at their limits.
fn edge_events(samples: &[(String, Event)]) -> Vec<Event> {
    let by_name: BTreeMap<&str, &Event> = samples.iter().map(|(l, e)| (l.as_str(), e)).collect();
    let event = |kind| Event {
        id: EventId(u64::MAX),
        time_ms: u64::MAX,
        kind,
    };
    let mut out = Vec::new();
    // An update with a result and no failure, and the other way round.
    if let EventKind::WorkflowExecutionUpdateCompleted {
        update_id,
        result,
        failure,
    } = &by_name["WorkflowExecutionUpdateCompleted"].kind
    {
        out.push(event(EventKind::WorkflowExecutionUpdateCompleted {
            update_id: update_id.clone(),
            result: result.clone(),
            failure: None,
        }));
        out.push(event(EventKind::WorkflowExecutionUpdateCompleted {
            update_id: update_id.clone(),
            result: None,
            failure: failure.clone(),
        }));
    }
    // Child options with timeouts but no retry policy, and a retry policy alone.
    if let EventKind::StartChildWorkflowExecutionInitiated {
        workflow_id,
        workflow_type,
        input,
        parent_close_policy,
        options,
    } = &by_name["StartChildWorkflowExecutionInitiated"].kind
    {
        for options in [
            WorkflowOptions {
                retry_policy: None,
                ..options.clone()
            },
            WorkflowOptions {
                retry_policy: options.retry_policy.clone(),
                ..WorkflowOptions::default()
            },
        ] {
            out.push(event(EventKind::StartChildWorkflowExecutionInitiated {
                workflow_id: workflow_id.clone(),
                workflow_type: workflow_type.clone(),
                input: input.clone(),
                parent_close_policy: *parent_close_policy,
                options,
            }));
        }
    }
    // Integers at their limits, and an external target (initiated event 0).
    out.push(event(EventKind::WorkflowExecutionStarted {
        workflow_type: "order".into(),
        input: Payload::json(&json!({})),
        random_seed: u64::MAX,
    }));
    out.push(event(EventKind::ActivityTaskStarted {
        scheduled_event_id: EventId(u64::MAX),
        attempt: u32::MAX,
    }));
    out.push(event(
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: EventId(0),
            workflow_id: "other".into(),
            cancellation_type: CancellationType::default(),
        },
    ));
    // Payloads: binary, JSON with surrounding whitespace, empty (base64), and JSON texts of
    // every type in unusual spellings (verbatim, `{"json": ...}`).
    for bytes in [
        vec![0xff, 0x00, 0x7b],
        b" {\"a\": 1} ".to_vec(),
        Vec::new(),
        b"{\"b\":1,  \"a\":[1.50, \"\\u00e9\"]}".to_vec(),
        b"null".to_vec(),
        b"true".to_vec(),
        b"-1.5e300".to_vec(),
        b"\"text\"".to_vec(),
        b"[]".to_vec(),
    ] {
        out.push(event(EventKind::WorkflowExecutionSignaled {
            signal_name: "s".into(),
            input: Payload(bytes),
        }));
    }
    out
}

/// The exported JSON form of `events`, parsed.
fn exported(events: Vec<Event>) -> Value {
    let file = HistoryFile::new(
        "default",
        "order-42",
        "00000000-0000-4000-8000-000000000001",
        events,
    );
    let json = file.to_json();
    assert_eq!(
        HistoryFile::read(json.as_bytes()).expect("the export reads back"),
        file
    );
    serde_json::from_str(&json).expect("the export is JSON")
}

/// The document every test starts from: every golden sample, each with its optional values
/// absent too, and the edge cases.
fn full_document() -> Value {
    let samples = golden_samples();
    let mut events: Vec<Event> = samples.iter().map(|(_, e)| e.clone()).collect();
    events.extend(samples.iter().filter_map(|(_, e)| {
        with_optionals_absent(&e.kind).map(|kind| Event { kind, ..e.clone() })
    }));
    events.extend(edge_events(&samples));
    exported(events)
}

#[test]
fn schema_accepts_every_event_kind_as_exported() {
    let validator = validator();
    let doc = full_document();
    let problems = errors(&validator, &doc);
    assert!(
        problems.is_empty(),
        "docs/history.schema.json refuses what HistoryFile::to_json writes:\n{}",
        problems.join("\n")
    );
    // And each sample alone, so a failure names the kind.
    for (label, event) in golden_samples() {
        let problems = errors(&validator, &exported(vec![event]));
        assert!(problems.is_empty(), "{label}:\n{}", problems.join("\n"));
    }
}

#[test]
fn schema_accepts_what_earlier_formats_decode_to() {
    let validator = validator();
    let dir = manifest_path("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("events-v") && n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() > 1, "fixtures: {names:?}");
    for name in names {
        let events = fixture_events(&name).into_iter().map(|(_, e)| e).collect();
        let problems = errors(&validator, &exported(events));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

/// The schema's `oneOf` branches of `kind`, by kind name: the attributes' `properties` and
/// `required`.
fn schema_kinds(schema: &Value) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let branches = schema["$defs"]["event"]["properties"]["kind"]["oneOf"]
        .as_array()
        .expect("kind is a oneOf");
    let keys = |v: &Value| -> BTreeSet<String> {
        match v {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
            other => panic!("expected an object or an array: {other}"),
        }
    };
    let mut out = BTreeMap::new();
    for branch in branches {
        let props = branch["properties"]
            .as_object()
            .expect("a branch has properties");
        assert_eq!(props.len(), 1, "a branch names one kind: {branch}");
        let (name, attrs) = props.iter().next().unwrap();
        assert_eq!(branch["required"], json!([name]), "{name}: required");
        assert_eq!(branch["additionalProperties"], json!(false), "{name}");
        assert_eq!(
            attrs["additionalProperties"],
            json!(false),
            "{name}'s attributes"
        );
        let entry = (keys(&attrs["properties"]), keys(&attrs["required"]));
        assert!(
            out.insert(name.clone(), entry).is_none(),
            "{name} twice in the schema"
        );
    }
    assert_eq!(out.len(), branches.len());
    out
}

#[test]
fn schema_lists_every_kind_attribute_and_enum_value() {
    let schema = schema();
    let kinds = schema_kinds(&schema);
    let samples = golden_samples();

    // The same kinds: the type's variants, the golden samples and the schema's oneOf.
    let of_type: BTreeSet<&str> = every_variant::<EventKind>()
        .iter()
        .map(EventKind::name)
        .collect();
    let sampled: BTreeSet<&str> = samples.iter().map(|(_, e)| e.kind.name()).collect();
    let labelled: BTreeSet<&str> = samples
        .iter()
        .map(|(l, _)| l.as_str())
        .filter(|l| !l.contains('/'))
        .collect();
    let in_schema: BTreeSet<&str> = kinds.keys().map(String::as_str).collect();
    assert_eq!(sampled, of_type, "the golden samples cover every EventKind");
    assert_eq!(
        labelled, of_type,
        "one golden sample labelled by each kind's name"
    );
    assert_eq!(
        in_schema, of_type,
        "the schema's oneOf lists every EventKind"
    );
    assert_eq!(kinds.len(), every_variant::<EventKind>().len());

    // Each kind's attributes: exactly the fields serde writes, all required.
    for (label, event) in &samples {
        let value = serde_json::to_value(&event.kind).unwrap();
        let (name, attrs) = value.as_object().unwrap().iter().next().unwrap();
        assert_eq!(name, event.kind.name(), "{label}");
        let written: BTreeSet<String> = attrs.as_object().unwrap().keys().cloned().collect();
        let (properties, required) = &kinds[name.as_str()];
        assert_eq!(properties, &written, "{label}: the schema's attributes");
        assert_eq!(
            required, &written,
            "{label}: every attribute is always written"
        );
    }

    // Enums inside events: exactly their serialized names.
    fn names<T: DeserializeOwned + serde::Serialize>() -> Value {
        serde_json::to_value(every_variant::<T>()).unwrap()
    }
    let defs = &schema["$defs"];
    assert_eq!(
        defs["workflowTaskFailedCause"]["enum"],
        names::<WorkflowTaskFailedCause>()
    );
    assert_eq!(
        defs["parentClosePolicy"]["enum"],
        names::<ParentClosePolicy>()
    );
    assert_eq!(
        defs["cancellationType"]["enum"],
        names::<CancellationType>()
    );
}

/// The first event of `doc` whose kind is `kind`: its attributes.
fn attrs_of<'a>(doc: &'a mut Value, kind: &str) -> &'a mut Map<String, Value> {
    doc["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find_map(|e| e["kind"].get_mut(kind))
        .unwrap_or_else(|| panic!("no {kind} event in the document"))
        .as_object_mut()
        .unwrap()
}

/// The kind object (`{"<Kind>": {...}}`) of the first event of `doc` whose kind is `kind`.
fn kind_of<'a>(doc: &'a mut Value, kind: &str) -> &'a mut Map<String, Value> {
    doc["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| e["kind"].as_object_mut().unwrap())
        .find(|k| k.contains_key(kind))
        .unwrap_or_else(|| panic!("no {kind} event in the document"))
}

#[test]
fn schema_refuses_broken_documents() {
    let validator = validator();
    let base = full_document();
    assert!(validator.is_valid(&base));

    type Breakage = (&'static str, fn(&mut Value));
    let broken: &[Breakage] = &[
        ("an unknown kind name", |d| {
            let k = kind_of(d, "TimerFired");
            let attrs = k.remove("TimerFired").unwrap();
            k.insert("TimerExploded".into(), attrs);
        }),
        ("a kind of two properties", |d| {
            let k = kind_of(d, "TimerFired");
            k.insert("TimerCanceled".into(), json!({"started_event_id": 1}));
        }),
        ("a kind as a bare string", |d| {
            d["events"][0]["kind"] = json!("TimerFired");
        }),
        ("a missing required attribute", |d| {
            attrs_of(d, "WorkflowExecutionStarted").remove("random_seed");
        }),
        (
            "a missing optional attribute (always written, as null)",
            |d| {
                attrs_of(d, "ActivityTaskScheduled").remove("heartbeat_timeout_ms");
            },
        ),
        ("a missing attribute of a nested type", |d| {
            attrs_of(d, "ActivityTaskScheduled")["retry_policy"]
                .as_object_mut()
                .unwrap()
                .remove("maximum_attempts");
        }),
        ("an extra attribute", |d| {
            attrs_of(d, "TimerStarted").insert("extra".into(), json!(1));
        }),
        ("an extra attribute of a failure", |d| {
            attrs_of(d, "ActivityTaskFailed")["failure"]
                .as_object_mut()
                .unwrap()
                .insert("stack".into(), json!(""));
        }),
        ("a payload that is neither json nor base64", |d| {
            attrs_of(d, "WorkflowExecutionStarted")["input"] = json!({"text": "hello"});
        }),
        ("a payload with both json and base64", |d| {
            attrs_of(d, "WorkflowExecutionStarted")["input"] = json!({"json": 1, "base64": "MQ=="});
        }),
        ("a base64 payload that is not a string", |d| {
            attrs_of(d, "WorkflowExecutionStarted")["input"] = json!({"base64": 7});
        }),
        ("null for a payload that is not optional", |d| {
            attrs_of(d, "WorkflowExecutionCompleted")["result"] = Value::Null;
        }),
        ("an unknown enum value", |d| {
            attrs_of(d, "ActivityTaskCancelRequested")["cancellation_type"] = json!("Later");
        }),
        ("a negative event id", |d| {
            attrs_of(d, "TimerFired")["started_event_id"] = json!(-1);
        }),
        ("a u32 past its range", |d| {
            attrs_of(d, "WorkflowTaskScheduled")["attempt"] = json!(u64::from(u32::MAX) + 1);
        }),
        ("a string for an integer", |d| {
            attrs_of(d, "TimerStarted")["duration_ms"] = json!("90000");
        }),
        ("a string for a boolean", |d| {
            attrs_of(d, "WorkflowExecutionFailed")["failure"]["non_retryable"] = json!("true");
        }),
        ("an unknown envelope field", |d| {
            d["comment"] = json!("hi");
        }),
        ("another version", |d| {
            d["version"] = json!(2);
        }),
    ];
    for (what, breaks) in broken {
        let mut doc = base.clone();
        breaks(&mut doc);
        assert_ne!(doc, base, "{what}: the document was not changed");
        assert!(
            !validator.is_valid(&doc),
            "docs/history.schema.json accepts {what}"
        );
    }
}
