//! Commands that close the run: complete, fail (or retry), cancel, continue-as-new.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::CompleteWorkflow`.
pub(super) fn complete_workflow(
    cx: &mut Task<'_, '_>,
    result: Payload,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec) = (&mut *cx.w, &mut cx.rec);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowExecutionCompleted {
            result: result.clone(),
        },
    )?;
    w.close(
        run,
        rec,
        RunStatus::Completed,
        CloseOutcome::Completed(result),
        now_ms,
        false,
    )?;
    Ok(id)
}

/// `Command::FailWorkflow`.
pub(super) fn fail_workflow(
    cx: &mut Task<'_, '_>,
    failure: Failure,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowExecutionFailed {
            failure: failure.clone(),
        },
    )?;
    w.close_or_retry(run, rec, RunStatus::Failed, failure, now_ms)?;
    fx.workflow_task = true;
    Ok(id)
}

/// `Command::CancelWorkflow`.
pub(super) fn cancel_workflow(
    cx: &mut Task<'_, '_>,
    details: Option<Payload>,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec) = (&mut *cx.w, &mut cx.rec);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowExecutionCanceled { details },
    )?;
    w.close(
        run,
        rec,
        RunStatus::Canceled,
        CloseOutcome::Canceled,
        now_ms,
        false,
    )?;
    Ok(id)
}

/// `Command::ContinueAsNew`.
pub(super) fn continue_as_new(
    cx: &mut Task<'_, '_>,
    input: Payload,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let attempt = rec.attempt;
    let next = w.continue_run(run, rec, input.clone(), attempt, 0, now_ms)?;
    let workflow_type = rec.workflow_type.clone();
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowExecutionContinuedAsNew {
            new_execution_run_id: next.to_string(),
            workflow_type,
            input,
        },
    )?;
    w.close(
        run,
        rec,
        RunStatus::ContinuedAsNew,
        CloseOutcome::Canceled,
        now_ms,
        true,
    )?;
    fx.workflow_task = true;
    Ok(id)
}
