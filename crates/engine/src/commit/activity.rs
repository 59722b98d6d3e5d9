//! Commands on activities: scheduling one (its task, queue entry and deadlines) and
//! requesting its cancellation.
//! Called by the Workflow Task commit only.

use super::*;

/// `Command::ScheduleActivity`.
#[allow(clippy::too_many_arguments)]
pub(super) fn schedule_activity(
    cx: &mut Task<'_, '_>,
    activity_type: String,
    input: Payload,
    start_to_close_timeout_ms: u64,
    retry_policy: RetryPolicy,
    schedule_to_close_timeout_ms: Option<u64>,
    schedule_to_start_timeout_ms: Option<u64>,
    heartbeat_timeout_ms: Option<u64>,
    task_queue: String,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::ActivityTaskScheduled {
            activity_type: activity_type.clone(),
            input: input.clone(),
            start_to_close_timeout_ms,
            retry_policy: retry_policy.clone(),
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            task_queue: task_queue.clone(),
        },
    )?;
    let mut task = ActivityTask {
        workflow_id: rec.workflow_id.clone(),
        activity_type,
        input,
        attempt: 1,
        start_to_close_timeout_ms,
        retry_policy,
        visible_at_ms: now_ms,
        leased: false,
        last_failure: None,
        task_queue,
        scheduled_ms: now_ms,
        schedule_to_close_timeout_ms,
        schedule_to_start_timeout_ms,
        heartbeat_timeout_ms,
        attempt_started_ms: 0,
        heartbeat_details: None,
        last_heartbeat_ms: None,
        cancel_requested: false,
    };
    let qk = queue_key(&rec.namespace, &task.task_queue);
    let eager = match cx.eager_slots.get_mut(&qk) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    };
    if eager {
        // Leased by this commit, as `lease_activities` would: the host runs it now, and the
        // queue entry stands at the lease's expiry for when the host is gone.
        task.leased = true;
        task.attempt_started_ms = now_ms;
        task.visible_at_ms = task.lease_expiry().0;
        fx.eager.push(LeasedActivity {
            run,
            namespace: rec.namespace.clone(),
            scheduled_event_id: id,
            task: task.clone(),
        });
    }
    w.tx.queue_activity(&qk, at(task.visible_at_ms, run, id.0))?;
    if let Some(d) = task.close_deadline() {
        w.tx.add_deadline(at(d, run, id.0), DeadlineKind::ActivityClose)?;
        fx.timers = true;
    }
    if let Some(t) = schedule_to_start_timeout_ms {
        w.tx.add_deadline(
            at(now_ms.saturating_add(t), run, id.0),
            DeadlineKind::ActivityStart,
        )?;
        fx.timers = true;
    }
    w.put_task(run, id.0, &task)?;
    // An eager activity is the host's to run now: its queue entry, at the lease's expiry,
    // is no work for a queue worker to look for.
    fx.activities |= !eager;
    Ok(id)
}

/// `Command::RequestCancelActivity`.
pub(super) fn request_cancel_activity(
    cx: &mut Task<'_, '_>,
    target: Target,
    cancellation_type: CancellationType,
) -> Result<EventId, StoreError> {
    let (run, now_ms) = (cx.run, cx.now_ms);
    let (w, rec, fx) = (&mut *cx.w, &mut cx.rec, &mut cx.fx);
    let sched = resolve(target, &cx.assigned);
    let id = w.append(
        run,
        rec,
        now_ms,
        EventKind::ActivityTaskCancelRequested {
            scheduled_event_id: sched,
            cancellation_type,
        },
    )?;
    // TryCancel and Abandon resolve the wait at this event.
    cx.resolved_now |= cancellation_type != CancellationType::WaitCancellationCompleted;
    let task = match cancellation_type {
        CancellationType::Abandon => None,
        _ => w.get_task(run, sched.0)?,
    };
    if let Some(mut task) = task {
        if task.leased {
            // The running attempt learns it; its end records the outcome.
            task.cancel_requested = true;
            w.put_task(run, sched.0, &task)?;
            fx.cancel_activities.push((run, sched));
        } else {
            w.remove_task(&rec.namespace, run, sched.0, &task)?;
            w.append(
                run,
                rec,
                now_ms,
                EventKind::ActivityTaskCanceled {
                    scheduled_event_id: sched,
                },
            )?;
            cx.resolved_now = true;
        }
    }
    Ok(id)
}
