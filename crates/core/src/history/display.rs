//! Events for people and tools: JSON (payloads shown as JSON where they parse) and one-line
//! summaries. Presentation only; nothing here is stored.

use super::{Event, EventKind, Payload};
use crate::ids::{EventId, RunId};

impl Event {
    /// The event as JSON for `weft history --json` and the host API: payloads shown as JSON.
    pub fn to_json(&self, run: RunId) -> serde_json::Value {
        // Externally tagged: {"TypeName": {attributes}}; keep the attributes.
        let mut attrs = match serde_json::to_value(&self.kind).expect("events serialize") {
            serde_json::Value::Object(map) => map
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or(serde_json::Value::Null),
            other => other,
        };
        // Payloads, as attributes or fields of one (a failure's details), shown as JSON; what
        // a payload holds is never looked into.
        if let serde_json::Value::Object(map) = &mut attrs {
            for v in map.values_mut() {
                if is_payload_form(v) {
                    *v = payload_value_to_json(v);
                } else if let serde_json::Value::Object(fields) = v {
                    for f in fields.values_mut().filter(|f| is_payload_form(f)) {
                        *f = payload_value_to_json(f);
                    }
                }
            }
        }
        serde_json::json!({
            "event_id": self.id.0,
            "run_id": run.to_string(),
            "time_ms": self.time_ms,
            "event_type": self.kind.name(),
            "attributes": attrs,
        })
    }

    /// One line for humans: id, type and the most telling attribute.
    // Long but flat: one arm per event kind, exhaustive so a new kind gets a summary.
    pub fn summary(&self) -> String {
        let detail = match &self.kind {
            EventKind::WorkflowExecutionStarted {
                workflow_type,
                input,
                ..
            } => {
                format!("{workflow_type} input={input:?}")
            }
            EventKind::WorkflowTaskScheduled { attempt } if *attempt > 1 => {
                format!("attempt={attempt}")
            }
            EventKind::WorkflowTaskFailed { cause, message, .. } => {
                format!("{cause:?}: {message}")
            }
            EventKind::ActivityTaskScheduled {
                activity_type,
                input,
                ..
            } => {
                format!("{activity_type} input={input:?}")
            }
            EventKind::ActivityTaskStarted {
                scheduled_event_id,
                attempt,
            } => {
                format!("scheduled={scheduled_event_id} attempt={attempt}")
            }
            EventKind::ActivityTaskCompleted {
                scheduled_event_id,
                result,
            } => {
                format!("scheduled={scheduled_event_id} result={result:?}")
            }
            EventKind::ActivityTaskFailed {
                scheduled_event_id,
                failure,
            } => {
                format!("scheduled={scheduled_event_id} {failure}")
            }
            EventKind::TimerStarted { duration_ms, .. } => format!("{duration_ms}ms"),
            EventKind::TimerFired { started_event_id } => format!("started={started_event_id}"),
            EventKind::WorkflowExecutionCompleted { result } => format!("result={result:?}"),
            EventKind::WorkflowExecutionFailed { failure } => failure.to_string(),
            EventKind::WorkflowExecutionTerminated { reason } => reason.clone(),
            EventKind::ActivityTaskTimedOut {
                scheduled_event_id,
                failure,
            }
            | EventKind::NexusOperationFailed {
                scheduled_event_id,
                failure,
            }
            | EventKind::NexusOperationTimedOut {
                scheduled_event_id,
                failure,
            } => format!("scheduled={scheduled_event_id} {failure}"),
            EventKind::ActivityTaskCancelRequested {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskCanceled { scheduled_event_id }
            | EventKind::NexusOperationCanceled { scheduled_event_id }
            | EventKind::NexusOperationCancelRequested { scheduled_event_id } => {
                format!("scheduled={scheduled_event_id}")
            }
            EventKind::TimerCanceled { started_event_id } => format!("started={started_event_id}"),
            EventKind::NexusOperationScheduled {
                endpoint,
                service,
                operation,
                input,
                ..
            } => format!("{endpoint}/{service}/{operation} input={input:?}"),
            EventKind::NexusOperationStarted {
                scheduled_event_id,
                operation_token,
            } => format!("scheduled={scheduled_event_id} token={operation_token}"),
            EventKind::NexusOperationCompleted {
                scheduled_event_id,
                result,
            } => format!("scheduled={scheduled_event_id} result={result:?}"),
            EventKind::WorkflowExecutionSignaled { signal_name, input } => {
                format!("{signal_name} input={input:?}")
            }
            EventKind::WorkflowExecutionCancelRequested { reason } => reason.clone(),
            EventKind::WorkflowExecutionCanceled { details: Some(d) } => format!("details={d:?}"),
            EventKind::WorkflowExecutionTimedOut { timeout } => timeout.clone(),
            EventKind::WorkflowExecutionContinuedAsNew {
                new_execution_run_id,
                input,
                ..
            } => format!("new run={new_execution_run_id} input={input:?}"),
            EventKind::WorkflowExecutionUpdateAccepted {
                update_id,
                update_name,
                input,
            } => format!("{update_name} id={update_id} input={input:?}"),
            EventKind::WorkflowExecutionUpdateCompleted {
                update_id,
                result,
                failure,
            } => match (result, failure) {
                (_, Some(f)) => format!("id={update_id} {f}"),
                (Some(r), None) => format!("id={update_id} result={r:?}"),
                (None, None) => format!("id={update_id}"),
            },
            EventKind::MarkerRecorded {
                marker_name,
                details,
            } => format!("{marker_name} {details:?}"),
            EventKind::StartChildWorkflowExecutionInitiated {
                workflow_id,
                workflow_type,
                input,
                ..
            } => format!("{workflow_type} id={workflow_id} input={input:?}"),
            EventKind::StartChildWorkflowExecutionFailed {
                initiated_event_id,
                cause,
                ..
            } => format!("initiated={initiated_event_id} {cause}"),
            EventKind::ChildWorkflowExecutionStarted {
                initiated_event_id,
                run_id,
                ..
            } => format!("initiated={initiated_event_id} run={run_id}"),
            EventKind::ChildWorkflowExecutionCompleted {
                initiated_event_id,
                result,
            } => format!("initiated={initiated_event_id} result={result:?}"),
            EventKind::ChildWorkflowExecutionFailed {
                initiated_event_id,
                failure,
            } => format!("initiated={initiated_event_id} {failure}"),
            EventKind::ChildWorkflowExecutionCanceled { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTerminated { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTimedOut { initiated_event_id } => {
                format!("initiated={initiated_event_id}")
            }
            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                initiated_event_id: EventId(0),
                workflow_id,
                ..
            } => format!("id={workflow_id}"),
            EventKind::RequestCancelExternalWorkflowExecutionInitiated { workflow_id, .. }
            | EventKind::ExternalWorkflowExecutionCancelRequested { workflow_id, .. } => {
                format!("child={workflow_id}")
            }
            EventKind::SignalExternalWorkflowExecutionInitiated {
                workflow_id,
                run_id,
                signal_name,
                input,
            } => format!(
                "{signal_name} id={workflow_id} run={} input={input:?}",
                run_id.as_deref().unwrap_or("current")
            ),
            EventKind::ExternalWorkflowExecutionSignaled {
                initiated_event_id,
                workflow_id,
                run_id,
            } => format!("initiated={initiated_event_id} id={workflow_id} run={run_id}"),
            EventKind::SignalExternalWorkflowExecutionFailed {
                initiated_event_id,
                workflow_id,
                cause,
            }
            | EventKind::RequestCancelExternalWorkflowExecutionFailed {
                initiated_event_id,
                workflow_id,
                cause,
            } => format!("initiated={initiated_event_id} id={workflow_id} {cause}"),
            _ => String::new(),
        };
        format!("{:>4} {:<28} {}", self.id.0, self.kind.name(), detail)
    }
}

fn is_payload_form(v: &serde_json::Value) -> bool {
    matches!(v, serde_json::Value::Object(m) if m.len() == 1
        && (m.contains_key("json") || m.contains_key("base64")))
}

/// A payload as the event's JSON holds it (`{"json": ...}` or `{"base64": ...}`, see
/// [`Payload`]'s serialization), shown as its JSON value.
fn payload_value_to_json(v: &serde_json::Value) -> serde_json::Value {
    match serde_json::from_value::<Payload>(v.clone()) {
        Ok(payload) => payload.to_json(),
        Err(_) => v.clone(),
    }
}
