//! Child workflow commands: starting a child (within the namespace quotas) and requesting its
//! cancellation.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::StartChild`.
pub(super) fn start_child(
    cx: &mut Task<'_, '_>,
    workflow_type: String,
    workflow_id: WorkflowId,
    input: Payload,
    policy: ParentClosePolicy,
    options: WorkflowOptions,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::StartChildWorkflowExecutionInitiated {
            workflow_id: workflow_id.0.clone(),
            workflow_type: workflow_type.clone(),
            input: input.clone(),
            parent_close_policy: policy,
            options: options.clone(),
        },
    )?;
    let existing = w.tx.current_run(&rec.namespace, &workflow_id)?;
    let busy = match existing {
        Some(e) => {
            let other = w.get_run(e)?;
            !other.status.is_closed() || other.id_reuse_policy == IdReusePolicy::RejectDuplicate
        }
        None => false,
    };
    // The child is held to the namespace's quotas like any start, in
    // this transaction; a refusal is the parent's to handle.
    let mut refused = if busy {
        Some(history::child_start_cause::ALREADY_STARTED)
    } else if w
        .quota_refusal(&rec.namespace, StartQuota::UNLIMITED)?
        .is_some()
    {
        Some(history::child_start_cause::NAMESPACE_QUOTA)
    } else {
        None
    };
    let created = match refused {
        Some(_) => None,
        None => match w.create_run(NewRun {
            namespace: rec.namespace.clone(),
            workflow_id: workflow_id.clone(),
            workflow_type,
            input,
            random_seed: weft_core::ids::fresh_u64(),
            execution_deadline_ms: options
                .execution_timeout_ms
                .map(|t| now_ms.saturating_add(t)),
            options,
            id_reuse_policy: IdReusePolicy::default(),
            attempt: 1,
            previous_run: None,
            parent: Some(ParentLink {
                run,
                workflow_id: rec.workflow_id.clone(),
                initiated_event_id: id,
            }),
            nexus_callback: None,
            signal: None,
            first_task_due_ms: now_ms,
            now_ms,
        }) {
            Ok(child) => Some(child),
            // Nothing of the child was written.
            Err(StoreError::HistoryLimit(o)) if o.first_events => {
                refused = Some(history::child_start_cause::HISTORY_LIMIT);
                None
            }
            Err(e) => return Err(e),
        },
    };
    if let Some(cause) = refused {
        w.append(
            run,
            rec,
            now_ms,
            EventKind::StartChildWorkflowExecutionFailed {
                initiated_event_id: id,
                workflow_id: workflow_id.0.clone(),
                cause: cause.into(),
            },
        )?;
        cx.resolved_now = true;
    }
    if let Some(child) = created {
        w.append(
            run,
            rec,
            now_ms,
            EventKind::ChildWorkflowExecutionStarted {
                initiated_event_id: id,
                workflow_id: workflow_id.0.clone(),
                run_id: child.to_string(),
            },
        )?;
        rec.children.push(ChildLink {
            run: child,
            workflow_id,
            initiated_event_id: id,
            policy,
        });
        fx.workflow_task = true;
    }
    Ok(id)
}

/// `Command::RequestCancelChild`.
pub(super) fn request_cancel_child(
    cx: &mut Task<'_, '_>,
    target: Target,
    cancellation_type: CancellationType,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let initiated = resolve(target, &cx.assigned);
    // Every type but WaitCancellationCompleted resolves the wait at this
    // event or at ExternalWorkflowExecutionCancelRequested, written now.
    cx.resolved_now |= cancellation_type != CancellationType::WaitCancellationCompleted;
    let child = rec
        .children
        .iter()
        .find(|c| c.initiated_event_id == initiated)
        .cloned();
    let workflow_id = child
        .as_ref()
        .map(|c| c.workflow_id.0.clone())
        .unwrap_or_default();
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: initiated,
            workflow_id: workflow_id.clone(),
            cancellation_type,
        },
    )?;
    let child = match cancellation_type {
        CancellationType::Abandon => None,
        _ => child,
    };
    if let Some(c) = child {
        let mut crec = w.get_run(c.run)?;
        if !crec.status.is_closed() {
            w.request_cancel(c.run, &mut crec, "canceled by its parent", now_ms)?;
            w.put_run(c.run, &crec)?;
            w.append(
                run,
                rec,
                now_ms,
                EventKind::ExternalWorkflowExecutionCancelRequested {
                    initiated_event_id: id,
                    workflow_id,
                },
            )?;
            fx.workflow_task = true;
        }
    }
    Ok(id)
}
