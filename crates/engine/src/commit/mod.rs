//! Workflow Task completions and failures: the task events, then each command in order.
//! Each command kind is handled in its own module.

use super::*;

mod activity;
mod child;
mod close;
mod external;
mod marker;
mod nexus;
mod timer;
mod update;

/// What one Workflow Task completion threads through its commands, each handled by a
/// function of the module of its kind.
pub(super) struct Task<'a, 't> {
    /// The transaction.
    pub(super) w: &'a mut W<'t>,
    /// The run completing the task.
    pub(super) run: RunId,
    /// Its record, written back after the last command.
    pub(super) rec: RunRecord,
    /// Commit time.
    pub(super) now_ms: u64,
    /// When the task started (timers count from it).
    pub(super) started_ms: u64,
    /// Event id of each command so far, for commands that refer to earlier ones.
    pub(super) assigned: Vec<EventId>,
    /// An event of this task resolves a wait of the workflow: it needs another task.
    pub(super) resolved_now: bool,
    /// What the commit changed.
    pub(super) fx: Effects,
    /// Activities still to lease at once, by queue key.
    pub(super) eager_slots: HashMap<String, usize>,
}

/// The event a command's target names: one recorded before, or one of this task's commands.
pub(super) fn resolve(t: Target, assigned: &[EventId]) -> EventId {
    match t {
        Target::Recorded(id) => id,
        Target::New(i) => assigned[i],
    }
}

impl Store {
    /// Commits a completed Workflow Task: WorkflowTaskScheduled (retried attempts only),
    /// WorkflowTaskStarted, WorkflowTaskCompleted and one event per command; queues the new
    /// activity tasks, timers and Nexus tasks; handles cancel requests; closes the run on a
    /// complete or fail command.
    ///
    /// Fails with [`StoreError::Conflict`] when the history grew since the task loaded it; the
    /// caller must drop its result and run the task again.
    ///
    /// A task whose events would take the run's history past its limit (events or bytes of
    /// its namespace) is refused as a whole: nothing of it is written, and the run is
    /// terminated instead (WorkflowExecutionTerminated, as Temporal does at the history
    /// limit); the returned [`Effects::terminated`] holds the reason. Its payloads alone are
    /// checked before anything is written, so a task far past the limit writes no page. A
    /// parent, child or Nexus caller whose history cannot take what the task tells it is
    /// terminated at its limit, and the task is committed without it.
    pub fn complete_workflow_task(
        &self,
        c: TaskCompletion,
        now_ms: u64,
    ) -> Result<Effects, StoreError> {
        let mut terminated = 0;
        // Runs terminated at their limit on the way: closed too.
        let mut others = Vec::new();
        loop {
            match self.commit_task(&c, now_ms) {
                Err(StoreError::HistoryLimit(o)) if o.run == c.run => {
                    let payload: u64 = c.commands.iter().map(Command::payload_bytes).sum();
                    let reason = format!(
                        "the history reached its limit of {limit} {unit}: this Workflow Task ({n} commands carrying {payload} bytes of payloads) would have brought it to {reached} {unit} or more, so nothing of it was recorded; a long-running workflow must continue as a new run (continue-as-new) before its history reaches the limit",
                        limit = o.limit,
                        unit = o.unit,
                        n = c.commands.len(),
                        reached = o.reached,
                    );
                    if !self.terminate_inner(c.run, &reason, now_ms, false, 1)? {
                        let found = self.run(c.run)?.next_event_id;
                        return Err(StoreError::Conflict(c.run, c.expected_next_event_id, found));
                    }
                    others.push(c.run);
                    return Ok(Effects {
                        closed: others,
                        terminated: Some(reason),
                        ..Effects::default()
                    });
                }
                Err(StoreError::HistoryLimit(o))
                    if !o.first_events && terminated < MAX_LIMIT_TERMINATIONS =>
                {
                    self.terminate_inner(o.run, &o.termination_reason(), now_ms, false, 1)?;
                    others.push(o.run);
                    terminated += 1;
                }
                Ok(mut fx) => {
                    fx.closed.extend(others);
                    return Ok(fx);
                }
                r => return r,
            }
        }
    }

    /// One attempt of [`Store::complete_workflow_task`].
    pub(super) fn commit_task(
        &self,
        c: &TaskCompletion,
        now_ms: u64,
    ) -> Result<Effects, StoreError> {
        self.write(|w| {
            let mut rec = w.get_run(c.run)?;
            if rec.next_event_id != c.expected_next_event_id {
                return Err(StoreError::Conflict(
                    c.run,
                    c.expected_next_event_id,
                    rec.next_event_id,
                ));
            }
            let run = c.run;
            record_task_events(w, c, &mut rec, now_ms)?;
            let mut cx = Task {
                w,
                run,
                rec,
                now_ms,
                started_ms: c.started_ms,
                assigned: Vec::with_capacity(c.commands.len()),
                resolved_now: false,
                fx: Effects::default(),
                eager_slots: c.eager_slots.clone(),
            };
            for cmd in c.commands.iter().cloned() {
                let id = apply(&mut cx, cmd)?;
                cx.assigned.push(id);
            }
            let Task {
                mut rec,
                resolved_now,
                fx: mut task_fx,
                ..
            } = cx;
            if resolved_now {
                task_fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
            }
            // The eager activities as the whole commit left them (a later command may have
            // asked to cancel one).
            for leased in &mut task_fx.eager {
                if let Some(task) = w.get_task(run, leased.scheduled_event_id.0)? {
                    leased.task = task;
                }
            }
            task_fx.next_event_id = rec.next_event_id;
            task_fx.closed = std::mem::take(&mut w.closed);
            w.put_run(run, &rec)?;
            Ok(task_fx)
        })
    }

    /// Records a failed Workflow Task and schedules the next attempt at `retry_at_ms`.
    ///
    /// The first failure of a series writes WorkflowTaskStarted and WorkflowTaskFailed; later
    /// attempts are transient, as in Temporal, and only update the run record. The run stays
    /// open, unless recording the failure would take its history past its limit: then it is
    /// terminated.
    pub fn fail_workflow_task(
        &self,
        run: RunId,
        attempt: u32,
        started_ms: u64,
        cause: WorkflowTaskFailedCause,
        message: &str,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.or_terminate(started_ms, 0, || {
            self.fail_workflow_task_once(
                run,
                attempt,
                started_ms,
                cause.clone(),
                message,
                retry_at_ms,
            )
        })
    }

    pub(super) fn fail_workflow_task_once(
        &self,
        run: RunId,
        attempt: u32,
        started_ms: u64,
        cause: WorkflowTaskFailedCause,
        message: &str,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.write(|w| {
            let mut rec = w.get_run(run)?;
            let Some(mut pending) = rec.workflow_task.take() else {
                return Ok(());
            };
            w.dequeue_workflow_task(pending.due_ms, run)?;
            if let (1, Some(scheduled)) = (attempt, pending.scheduled_event_id) {
                let started = w.append(
                    run,
                    &mut rec,
                    started_ms,
                    EventKind::WorkflowTaskStarted {
                        scheduled_event_id: scheduled,
                    },
                )?;
                w.append(
                    run,
                    &mut rec,
                    started_ms,
                    EventKind::WorkflowTaskFailed {
                        started_event_id: started,
                        cause: cause.clone(),
                        message: message.to_string(),
                    },
                )?;
            }
            pending.attempt = attempt + 1;
            pending.due_ms = retry_at_ms;
            pending.scheduled_event_id = None;
            pending.last_failure = Some(message.to_string());
            w.queue_workflow_task(retry_at_ms, run)?;
            rec.workflow_task = Some(pending);
            w.put_run(run, &rec)?;
            Ok(())
        })
    }
}

/// Checks what the task adds at least against the run's history limits, then records its
/// task events: WorkflowTaskScheduled (retried attempts only), WorkflowTaskStarted and
/// WorkflowTaskCompleted.
fn record_task_events(
    w: &mut W<'_>,
    c: &TaskCompletion,
    rec: &mut RunRecord,
    now_ms: u64,
) -> Result<(), StoreError> {
    let run = c.run;
    // What the task adds at least: its task events, one event per command and the
    // commands' payloads. Checked before anything is written.
    let recorded = rec
        .workflow_task
        .as_ref()
        .is_some_and(|p| p.scheduled_event_id.is_some());
    let floor_events = 3 - u64::from(recorded) + c.commands.len() as u64;
    let floor_bytes: u64 = c.commands.iter().map(Command::payload_bytes).sum();
    w.check_growth(
        run,
        rec,
        "this Workflow Task's events",
        floor_events,
        floor_bytes,
    )?;
    let pending = rec.workflow_task.take();
    if let Some(p) = &pending {
        w.dequeue_workflow_task(p.due_ms, run)?;
    }
    let scheduled = match pending.and_then(|p| p.scheduled_event_id) {
        Some(id) => id,
        None => w.append(
            run,
            rec,
            c.started_ms,
            EventKind::WorkflowTaskScheduled { attempt: c.attempt },
        )?,
    };
    let started = w.append(
        run,
        rec,
        c.started_ms,
        EventKind::WorkflowTaskStarted {
            scheduled_event_id: scheduled,
        },
    )?;
    w.append(
        run,
        rec,
        now_ms,
        EventKind::WorkflowTaskCompleted {
            started_event_id: started,
        },
    )?;
    Ok(())
}

/// Applies one command of a Workflow Task and returns the event it recorded. Every command
/// kind is listed: a new kind must be decided here.
fn apply(cx: &mut Task<'_, '_>, cmd: Command) -> Result<EventId, StoreError> {
    match cmd {
        Command::ScheduleActivity {
            activity_type,
            input,
            start_to_close_timeout_ms,
            retry_policy,
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            task_queue,
        } => activity::schedule_activity(
            cx,
            activity_type,
            input,
            start_to_close_timeout_ms,
            retry_policy,
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            task_queue,
        ),
        Command::StartTimer { duration_ms } => timer::start_timer(cx, duration_ms),
        Command::RequestCancelActivity {
            target,
            cancellation_type,
        } => activity::request_cancel_activity(cx, target, cancellation_type),
        Command::CancelTimer { target } => timer::cancel_timer(cx, target),
        Command::ScheduleNexusOperation {
            endpoint,
            service,
            operation,
            input,
            schedule_to_close_timeout_ms,
        } => nexus::schedule_nexus_operation(
            cx,
            endpoint,
            service,
            operation,
            input,
            schedule_to_close_timeout_ms,
        ),
        Command::RequestCancelNexusOperation { target } => {
            nexus::request_cancel_nexus_operation(cx, target)
        }
        Command::CompleteWorkflow { result } => close::complete_workflow(cx, result),
        Command::FailWorkflow { failure } => close::fail_workflow(cx, failure),
        Command::CancelWorkflow { details } => close::cancel_workflow(cx, details),
        Command::ContinueAsNew { input } => close::continue_as_new(cx, input),
        Command::RecordMarker {
            marker_name,
            details,
        } => marker::record_marker(cx, marker_name, details),
        Command::AcceptUpdate {
            update_id,
            update_name,
            input,
        } => update::accept_update(cx, update_id, update_name, input),
        Command::CompleteUpdate { update_id, outcome } => {
            update::complete_update(cx, update_id, outcome)
        }
        Command::StartChild {
            workflow_type,
            workflow_id,
            input,
            policy,
            options,
        } => child::start_child(cx, workflow_type, workflow_id, input, policy, options),
        Command::RequestCancelChild {
            target,
            cancellation_type,
        } => child::request_cancel_child(cx, target, cancellation_type),
        Command::SignalExternal {
            workflow_id,
            run_id,
            signal_name,
            input,
        } => external::signal_external(cx, workflow_id, run_id, signal_name, input),
        Command::RequestCancelExternal {
            workflow_id,
            run_id,
            reason,
        } => external::request_cancel_external(cx, workflow_id, run_id, reason),
    }
}
