//! Reset (Temporal's ResetWorkflowExecution): a new run of the same workflow id gets the
//! history up to a chosen Workflow Task and runs that task again on the current code.
//!
//! One write transaction: the current run is terminated if open, the new run receives a copy
//! of the events up to the reset point's WorkflowTaskStarted, then WorkflowTaskFailed
//! (`ResetWorkflow`), the signals recorded after the point (optional) and WorkflowTaskScheduled.
//! Activities scheduled and not closed in the copy are queued again (attempt 1), timers
//! started and not fired are armed again. A reset point with a pending child workflow or Nexus
//! operation is refused. This module does not run workflow code.

use super::*;
use std::collections::BTreeSet;

/// What to reset and how: see [`Store::reset`].
#[derive(Clone, Debug)]
pub struct ResetRequest {
    /// Namespace of the workflow.
    pub namespace: Namespace,
    /// The workflow; its current run is reset.
    pub workflow_id: WorkflowId,
    /// A WorkflowTaskCompleted event of the current run; `None` picks the last good task.
    pub event_id: Option<EventId>,
    /// Append the signals recorded after the reset point to the new run.
    pub reapply_signals: bool,
    /// Why (recorded in the old run's WorkflowExecutionTerminated and the new run's
    /// WorkflowTaskFailed).
    pub reason: String,
}

/// The WorkflowTaskCompleted to reset to when none is named: the last one before the first
/// WorkflowTaskFailed of the failing series that ends the history, else the last one.
fn last_good_task(events: &[Event]) -> Option<EventId> {
    let mut last_completed = None;
    let mut good = None;
    let mut failing = false;
    for e in events {
        match &e.kind {
            EventKind::WorkflowTaskCompleted { .. } => {
                last_completed = Some(e.id);
                failing = false;
            }
            EventKind::WorkflowTaskFailed { .. } if !failing => {
                failing = true;
                good = last_completed;
            }
            _ => {}
        }
    }
    if failing { good } else { last_completed }
}

/// Pending work in `copy`: (activities, timers, child initiated ids, Nexus scheduled ids).
type Pending = (BTreeSet<u64>, BTreeSet<u64>, BTreeSet<u64>, BTreeSet<u64>);

fn pending_of(copy: &[Event]) -> Pending {
    let (mut acts, mut timers, mut children, mut nexus) = Pending::default();
    for e in copy {
        match &e.kind {
            EventKind::ActivityTaskScheduled { .. } => {
                acts.insert(e.id.0);
            }
            EventKind::ActivityTaskCompleted {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskFailed {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskTimedOut {
                scheduled_event_id, ..
            }
            | EventKind::ActivityTaskCanceled {
                scheduled_event_id, ..
            } => {
                acts.remove(&scheduled_event_id.0);
            }
            EventKind::TimerStarted { .. } => {
                timers.insert(e.id.0);
            }
            EventKind::TimerFired { started_event_id }
            | EventKind::TimerCanceled {
                started_event_id, ..
            } => {
                timers.remove(&started_event_id.0);
            }
            EventKind::StartChildWorkflowExecutionInitiated { .. } => {
                children.insert(e.id.0);
            }
            EventKind::StartChildWorkflowExecutionFailed {
                initiated_event_id, ..
            }
            | EventKind::ChildWorkflowExecutionCompleted {
                initiated_event_id, ..
            }
            | EventKind::ChildWorkflowExecutionFailed {
                initiated_event_id, ..
            }
            | EventKind::ChildWorkflowExecutionCanceled { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTerminated { initiated_event_id }
            | EventKind::ChildWorkflowExecutionTimedOut { initiated_event_id } => {
                children.remove(&initiated_event_id.0);
            }
            EventKind::NexusOperationScheduled { .. } => {
                nexus.insert(e.id.0);
            }
            EventKind::NexusOperationCompleted {
                scheduled_event_id, ..
            }
            | EventKind::NexusOperationFailed {
                scheduled_event_id, ..
            }
            | EventKind::NexusOperationCanceled {
                scheduled_event_id, ..
            }
            | EventKind::NexusOperationTimedOut {
                scheduled_event_id, ..
            } => {
                nexus.remove(&scheduled_event_id.0);
            }
            _ => {}
        }
    }
    (acts, timers, children, nexus)
}

impl Store {
    /// Resets workflow `req.workflow_id`'s current run to a Workflow Task and returns the new
    /// run. In one transaction: the current run, if open, is terminated (its record points to
    /// the new run, like continue-as-new); the new run gets the old run's events up to the
    /// task's WorkflowTaskStarted, then WorkflowTaskFailed (`ResetWorkflow`), the signals
    /// recorded after the point when `req.reapply_signals`, and WorkflowTaskScheduled, so the
    /// task runs again on the current code. Pending activities are queued again (attempt 1)
    /// and pending timers armed again.
    ///
    /// Refused with [`StoreError::ResetRefused`] (nothing changed) when the event is not a
    /// WorkflowTaskCompleted of the run, when no task completed yet, or when a child workflow
    /// or Nexus operation is pending at the point.
    // Long: one transaction from the refusals through the old run's close to the new run's
    // record, in the order a reader checks against the doc above; split, its steps would hand
    // a dozen values to each other.
    pub fn reset(&self, req: &ResetRequest, now_ms: u64) -> Result<RunId, StoreError> {
        let id = &req.workflow_id;
        let refuse = |why: String| StoreError::ResetRefused(id.clone(), why);
        self.write(|w| {
            let new_run = RunId::ordered(now_ms);
            let run = w
                .tx
                .current_run(&req.namespace, id)?
                .ok_or_else(|| StoreError::UnknownWorkflow(id.clone()))?;
            let mut old = w.get_run(run)?;
            let events = w.tx.events(run)?;
            let point = match req.event_id {
                Some(e) => e,
                None => last_good_task(&events).ok_or_else(|| {
                    refuse(format!(
                        "run {run} has no completed Workflow Task to reset to"
                    ))
                })?,
            };
            let started = match events
                .get((point.0 as usize).wrapping_sub(1))
                .map(|e| &e.kind)
            {
                Some(EventKind::WorkflowTaskCompleted { started_event_id }) => *started_event_id,
                Some(k) => {
                    return Err(refuse(format!(
                        "event {point} of run {run} is {}, not a WorkflowTaskCompleted; pick the id of a WorkflowTaskCompleted (weft history {id})",
                        k.name()
                    )));
                }
                None => {
                    return Err(refuse(format!(
                        "run {run} has no event {point} (it has {} events)",
                        events.len()
                    )));
                }
            };
            let (copy, after) = events.split_at(started.0 as usize);
            let (acts, timers, children, nexus) = pending_of(copy);
            if let Some(c) = children.first() {
                return Err(refuse(format!(
                    "the child workflow initiated at event {c} is pending at event {point}; reset to a task before it started or after it closed"
                )));
            }
            if let Some(n) = nexus.first() {
                return Err(refuse(format!(
                    "the Nexus operation scheduled at event {n} is pending at event {point}; reset to a task before it was scheduled or after it closed"
                )));
            }
            if old.status.is_closed() {
                if let Some(refused) = w.quota_refusal(&old.namespace, StartQuota::UNLIMITED)? {
                    return Err(refused);
                }
            } else {
                w.append(
                    run,
                    &mut old,
                    now_ms,
                    EventKind::WorkflowExecutionTerminated {
                        reason: format!("reset to event {point} as run {new_run}: {}", req.reason),
                    },
                )?;
                let outcome = CloseOutcome::Terminated(req.reason.clone());
                w.close(run, &mut old, RunStatus::Terminated, outcome, now_ms, true)?;
            }
            old.next_run = Some(new_run);
            w.put_run(run, &old)?;

            let mut tail = vec![EventKind::WorkflowTaskFailed {
                started_event_id: started,
                cause: WorkflowTaskFailedCause::ResetWorkflow,
                message: format!("reset from run {run} at event {point}: {}", req.reason),
            }];
            if req.reapply_signals {
                for e in after {
                    if let EventKind::WorkflowExecutionSignaled { signal_name, input } = &e.kind {
                        tail.push(EventKind::WorkflowExecutionSignaled {
                            signal_name: signal_name.clone(),
                            input: input.clone(),
                        });
                    }
                }
            }
            tail.push(EventKind::WorkflowTaskScheduled { attempt: 1 });
            let mut encoded: Vec<Vec<u8>> = copy.iter().map(history::encode).collect();
            for (kind, n) in tail.into_iter().zip(started.0 + 1..) {
                encoded.push(history::encode(&Event {
                    id: EventId(n),
                    time_ms: now_ms,
                    kind,
                }));
            }
            let bytes: u64 = encoded.iter().map(|b| b.len() as u64).sum();
            if let Some(o) = overflow_of(
                w.limits.of(&old.namespace),
                new_run,
                id,
                "the events of the reset run",
                encoded.len() as u64,
                bytes,
            ) {
                return Err(StoreError::HistoryLimit(o));
            }
            for (n, e) in (1u64..).zip(&encoded) {
                w.tx.put_event(new_run, EventId(n), e)?;
            }
            let scheduled = EventId(encoded.len() as u64);
            let cancel_requested = copy
                .iter()
                .any(|e| matches!(e.kind, EventKind::WorkflowExecutionCancelRequested { .. }));
            let mut rec = RunRecord {
                namespace: old.namespace.clone(),
                history_bytes: bytes,
                workflow_id: id.clone(),
                workflow_type: old.workflow_type.clone(),
                status: RunStatus::Running,
                next_event_id: scheduled.0 + 1,
                start_ms: now_ms,
                close_ms: None,
                workflow_task: Some(PendingWorkflowTask {
                    attempt: 1,
                    due_ms: now_ms,
                    scheduled_event_id: Some(scheduled),
                    last_failure: None,
                }),
                nexus_callback: old.nexus_callback,
                parent: old.parent.clone(),
                children: Vec::new(),
                previous_run: Some(run),
                next_run: None,
                attempt: old.attempt,
                options: old.options.clone(),
                execution_deadline_ms: old.execution_deadline_ms,
                cancel_requested,
                id_reuse_policy: old.id_reuse_policy,
            };
            w.queue_workflow_task(now_ms, new_run)?;
            if let Some(t) = rec.options.run_timeout_ms {
                w.tx.add_deadline(at(now_ms.saturating_add(t), new_run, 0), DeadlineKind::RunTimeout)?;
            }
            if let Some(d) = rec.execution_deadline_ms {
                w.tx.add_deadline(at(d, new_run, 1), DeadlineKind::ExecutionTimeout)?;
            }
            w.tx.set_current_run(&rec.namespace, id, new_run)?;
            rearm(w, new_run, &mut rec, copy, &acts, &timers, now_ms)?;
            if let Some(link) = &rec.parent {
                let mut parent = w.get_run(link.run)?;
                for c in &mut parent.children {
                    if c.initiated_event_id == link.initiated_event_id {
                        c.run = new_run;
                    }
                }
                w.put_run(link.run, &parent)?;
            }
            w.put_run(new_run, &rec)?;
            Ok(new_run)
        })
    }
}

/// Queues the pending activities `acts` again (attempt 1, visible now) and arms the pending
/// timers `timers` of the copied history `copy` for the new run `run`.
fn rearm(
    w: &mut W<'_>,
    run: RunId,
    rec: &mut RunRecord,
    copy: &[Event],
    acts: &BTreeSet<u64>,
    timers: &BTreeSet<u64>,
    now_ms: u64,
) -> Result<(), StoreError> {
    let cancel_requested: BTreeSet<u64> = copy
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityTaskCancelRequested {
                scheduled_event_id, ..
            } => Some(scheduled_event_id.0),
            _ => None,
        })
        .collect();
    for e in copy {
        match &e.kind {
            EventKind::ActivityTaskScheduled {
                activity_type,
                input,
                start_to_close_timeout_ms,
                retry_policy,
                schedule_to_close_timeout_ms,
                schedule_to_start_timeout_ms,
                heartbeat_timeout_ms,
                task_queue,
            } if acts.contains(&e.id.0) => {
                let task = ActivityTask {
                    workflow_id: rec.workflow_id.clone(),
                    activity_type: activity_type.clone(),
                    input: input.clone(),
                    attempt: 1,
                    start_to_close_timeout_ms: *start_to_close_timeout_ms,
                    retry_policy: retry_policy.clone(),
                    visible_at_ms: now_ms,
                    leased: false,
                    last_failure: None,
                    task_queue: task_queue.clone(),
                    scheduled_ms: now_ms,
                    schedule_to_close_timeout_ms: *schedule_to_close_timeout_ms,
                    schedule_to_start_timeout_ms: *schedule_to_start_timeout_ms,
                    heartbeat_timeout_ms: *heartbeat_timeout_ms,
                    attempt_started_ms: 0,
                    heartbeat_details: None,
                    last_heartbeat_ms: None,
                    cancel_requested: cancel_requested.contains(&e.id.0),
                };
                let qk = queue_key(&rec.namespace, &task.task_queue);
                w.tx.queue_activity(&qk, at(now_ms, run, e.id.0))?;
                if let Some(d) = task.close_deadline() {
                    w.tx.add_deadline(at(d, run, e.id.0), DeadlineKind::ActivityClose)?;
                }
                if let Some(t) = *schedule_to_start_timeout_ms {
                    w.tx.add_deadline(
                        at(now_ms.saturating_add(t), run, e.id.0),
                        DeadlineKind::ActivityStart,
                    )?;
                }
                w.put_task(run, e.id.0, &task)?;
            }
            EventKind::TimerStarted { fire_at_ms, .. } if timers.contains(&e.id.0) => {
                w.tx.add_timer(at(*fire_at_ms, run, e.id.0))?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: u64, kind: EventKind) -> Event {
        Event {
            id: EventId(id),
            time_ms: 0,
            kind,
        }
    }

    #[test]
    fn the_last_good_task_precedes_the_failing_series() {
        let done = |s| EventKind::WorkflowTaskCompleted {
            started_event_id: EventId(s),
        };
        let failed = |s| EventKind::WorkflowTaskFailed {
            started_event_id: EventId(s),
            cause: WorkflowTaskFailedCause::NonDeterminism,
            message: String::new(),
        };
        let h = vec![
            ev(4, done(3)),
            ev(7, done(6)),
            ev(9, failed(8)),
            ev(11, failed(10)),
        ];
        assert_eq!(last_good_task(&h), Some(EventId(7)));
        let h = vec![ev(4, done(3)), ev(6, failed(5)), ev(9, done(8))];
        assert_eq!(last_good_task(&h), Some(EventId(9)));
        assert_eq!(last_good_task(&[]), None);
    }
}
