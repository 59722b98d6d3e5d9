//! Commands on other workflows: signaling one and requesting its cancellation.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::SignalExternal`.
pub(super) fn signal_external(
    cx: &mut Task<'_, '_>,
    workflow_id: WorkflowId,
    run_id: Option<String>,
    signal_name: String,
    input: Payload,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::SignalExternalWorkflowExecutionInitiated {
            workflow_id: workflow_id.0.clone(),
            run_id: run_id.clone(),
            signal_name: signal_name.clone(),
            input: input.clone(),
        },
    )?;
    let target = w.open_run_of(&rec.namespace, &workflow_id, run_id.as_deref())?;
    let outcome = match target {
        None => Err(history::external_cause::NOT_FOUND),
        Some(t) if t == run => {
            w.signal(run, rec, &signal_name, input, now_ms)?;
            Ok(t)
        }
        Some(t) => {
            let mut trec = w.get_run(t)?;
            if w.signal_fits(t, &trec, &signal_name, &input, now_ms)? {
                w.signal(t, &mut trec, &signal_name, input, now_ms)?;
                w.put_run(t, &trec)?;
                Ok(t)
            } else {
                Err(history::external_cause::HISTORY_LIMIT)
            }
        }
    };
    let kind = match outcome {
        Ok(t) => EventKind::ExternalWorkflowExecutionSignaled {
            initiated_event_id: id,
            workflow_id: workflow_id.0,
            run_id: t.to_string(),
        },
        Err(cause) => EventKind::SignalExternalWorkflowExecutionFailed {
            initiated_event_id: id,
            workflow_id: workflow_id.0,
            cause: cause.into(),
        },
    };
    w.append(run, rec, now_ms, kind)?;
    cx.resolved_now = true;
    fx.workflow_task = true;
    Ok(id)
}

/// `Command::RequestCancelExternal`.
pub(super) fn request_cancel_external(
    cx: &mut Task<'_, '_>,
    workflow_id: WorkflowId,
    run_id: Option<String>,
    reason: String,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: EventId(0),
            workflow_id: workflow_id.0.clone(),
            cancellation_type: CancellationType::default(),
        },
    )?;
    let target = w.open_run_of(&rec.namespace, &workflow_id, run_id.as_deref())?;
    // A target at its history limit is terminated instead (as for a
    // client's cancel request); the task is then committed again.
    let kind = match target {
        None => EventKind::RequestCancelExternalWorkflowExecutionFailed {
            initiated_event_id: id,
            workflow_id: workflow_id.0,
            cause: history::external_cause::NOT_FOUND.into(),
        },
        Some(t) => {
            if t == run {
                w.request_cancel(run, rec, &reason, now_ms)?;
            } else {
                let mut trec = w.get_run(t)?;
                w.request_cancel(t, &mut trec, &reason, now_ms)?;
                w.put_run(t, &trec)?;
            }
            EventKind::ExternalWorkflowExecutionCancelRequested {
                initiated_event_id: id,
                workflow_id: workflow_id.0,
            }
        }
    };
    w.append(run, rec, now_ms, kind)?;
    cx.resolved_now = true;
    fx.workflow_task = true;
    Ok(id)
}
