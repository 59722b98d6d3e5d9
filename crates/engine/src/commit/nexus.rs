//! Nexus commands: scheduling an operation (its task, queue entry and deadline) and
//! requesting its cancellation.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::ScheduleNexusOperation`.
pub(super) fn schedule_nexus_operation(
    cx: &mut Task<'_, '_>,
    endpoint: String,
    service: String,
    operation: String,
    input: Payload,
    schedule_to_close_timeout_ms: Option<u64>,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let request_id = nexus_request_id(run, EventId(rec.next_event_id));
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::NexusOperationScheduled {
            endpoint: endpoint.clone(),
            service: service.clone(),
            operation: operation.clone(),
            input: input.clone(),
            request_id: request_id.clone(),
            schedule_to_close_timeout_ms,
        },
    )?;
    let task = NexusTask {
        workflow_id: rec.workflow_id.clone(),
        endpoint,
        service,
        operation,
        input,
        request_id,
        attempt: 1,
        visible_at_ms: now_ms,
        leased: false,
        operation_token: None,
        cancel_requested: false,
        cancel_delivered: false,
        last_failure: None,
    };
    w.put_nexus(run, id.0, &task)?;
    w.tx.queue_nexus(at(now_ms, run, id.0))?;
    if let Some(t) = schedule_to_close_timeout_ms {
        w.tx.add_deadline(
            at(now_ms.saturating_add(t), run, id.0),
            DeadlineKind::NexusClose,
        )?;
        fx.timers = true;
    }
    fx.nexus = true;
    Ok(id)
}

/// `Command::RequestCancelNexusOperation`.
pub(super) fn request_cancel_nexus_operation(
    cx: &mut Task<'_, '_>,
    target: Target,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let sched = resolve(target, &cx.assigned);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::NexusOperationCancelRequested {
            scheduled_event_id: sched,
        },
    )?;
    if let Some(mut task) = w.get_nexus(run, sched.0)? {
        if task.operation_token.is_none() && !task.leased {
            // Not started: there is nothing to cancel at the handler.
            w.remove_nexus(&rec.namespace, run, sched.0, &task)?;
            w.append(
                run,
                rec,
                now_ms,
                EventKind::NexusOperationCanceled {
                    scheduled_event_id: sched,
                },
            )?;
            cx.resolved_now = true;
        } else {
            task.cancel_requested = true;
            if task.operation_token.is_some() {
                // Started: deliver the cancel as a Nexus task now.
                w.tx.dequeue_nexus(at(task.visible_at_ms, run, sched.0))?;
                task.visible_at_ms = now_ms;
                task.attempt = 1;
                task.leased = false;
                w.tx.queue_nexus(at(now_ms, run, sched.0))?;
                fx.nexus = true;
            }
            w.put_nexus(run, sched.0, &task)?;
        }
    }
    Ok(id)
}
