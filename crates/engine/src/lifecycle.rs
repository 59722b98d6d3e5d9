//! Run lifecycle rules on an open write transaction: appending events within the history
//! limits, quotas, scheduling Workflow Tasks, creating, continuing, closing and retrying runs,
//! the parent close policy, signals and cancel requests. Does not open transactions.

use super::*;

impl W<'_> {
    /// Appends one event to `rec`'s history, unless it would take the history past its
    /// namespace's limits ([`StoreError::HistoryLimit`]; nothing is written). The closing
    /// events the host decides (WorkflowExecutionTerminated, WorkflowExecutionTimedOut) are
    /// always written: they end the run, so its history grows by that one small event only.
    pub(super) fn append(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        time_ms: u64,
        kind: EventKind,
    ) -> Result<EventId, StoreError> {
        let closing = matches!(
            kind,
            EventKind::WorkflowExecutionTerminated { .. }
                | EventKind::WorkflowExecutionTimedOut { .. }
        );
        let recording = kind.name();
        let id = EventId(rec.next_event_id);
        let bytes = history::encode(&Event { id, time_ms, kind });
        if !closing {
            self.check_growth(run, rec, recording, 1, bytes.len() as u64)?;
        }
        self.tx.put_event(run, id, &bytes)?;
        rec.next_event_id += 1;
        rec.history_bytes += bytes.len() as u64;
        Ok(id)
    }

    /// Fails with [`StoreError::HistoryLimit`] if `events` more events and `bytes` more bytes
    /// would take `rec`'s history past its namespace's limits.
    pub(super) fn check_growth(
        &self,
        run: RunId,
        rec: &RunRecord,
        recording: &'static str,
        events: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        let lim = self.limits.of(&rec.namespace);
        let events = (rec.next_event_id - 1).saturating_add(events);
        let bytes = rec.history_bytes.saturating_add(bytes);
        match overflow_of(lim, run, &rec.workflow_id, recording, events, bytes) {
            Some(o) => Err(StoreError::HistoryLimit(o)),
            None => Ok(()),
        }
    }

    /// The error that refuses opening one more run in `namespace`, if that would pass the
    /// tighter of `quota` and the namespace's quotas. Read in the caller's transaction, so
    /// runs it opened already count.
    pub(super) fn quota_refusal(
        &self,
        namespace: &Namespace,
        quota: StartQuota,
    ) -> Result<Option<StoreError>, StoreError> {
        let quota = quota.tighter(self.limits.of(namespace).start);
        let usage = self.tx.usage(namespace)?;
        let refused = |what, limit| {
            Some(StoreError::QuotaExceeded {
                namespace: namespace.clone(),
                what,
                limit,
            })
        };
        Ok(if usage.open_workflows >= quota.max_open_workflows {
            refused("open workflows", quota.max_open_workflows)
        } else if usage.stored_bytes >= quota.max_stored_bytes {
            refused("stored history bytes", quota.max_stored_bytes)
        } else {
            None
        })
    }

    /// Writes WorkflowTaskScheduled and queues the task unless one is already pending.
    pub(super) fn schedule_wft(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        if rec.workflow_task.is_some() || rec.status.is_closed() {
            return Ok(false);
        }
        let id = self.append(
            run,
            rec,
            now_ms,
            EventKind::WorkflowTaskScheduled { attempt: 1 },
        )?;
        self.queue_workflow_task(now_ms, run)?;
        rec.workflow_task = Some(PendingWorkflowTask {
            attempt: 1,
            due_ms: now_ms,
            scheduled_event_id: Some(id),
            last_failure: None,
        });
        Ok(true)
    }

    /// Closes a run: drops its pending Workflow Task, activities and Nexus operations, applies
    /// the parent close policy to its open children and, unless `continued` (a newer run of
    /// the execution carries on), reports the outcome to its parent and to the Nexus operation
    /// that started it.
    pub(super) fn close(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        status: RunStatus,
        outcome: CloseOutcome,
        now_ms: u64,
        continued: bool,
    ) -> Result<(), StoreError> {
        rec.status = status;
        rec.close_ms = Some(now_ms);
        self.closed.push(run);
        if let Some(p) = rec.workflow_task.take() {
            self.dequeue_workflow_task(p.due_ms, run)?;
        }
        if let Some(t) = rec.options.run_timeout_ms {
            self.tx
                .remove_deadline(at(rec.start_ms.saturating_add(t), run, 0))?;
        }
        if let Some(d) = rec.execution_deadline_ms {
            self.tx.remove_deadline(at(d, run, 1))?;
        }
        let pending = self.tx.activities(Some(run))?;
        let ns = rec.namespace.clone();
        for (_, sched, task) in pending {
            self.remove_task(&ns, run, sched.0, &task)?;
        }
        let pending = self.tx.nexus_tasks(Some(run))?;
        for (_, sched, task) in pending {
            self.remove_nexus(&ns, run, sched.0, &task)?;
        }
        for child in std::mem::take(&mut rec.children) {
            self.apply_parent_close_policy(&child, now_ms)?;
        }
        if continued {
            return Ok(());
        }
        if let Some(cb) = rec.nexus_callback {
            let mut caller = self.get_run(cb.run)?;
            if let Some(task) = self.get_nexus(cb.run, cb.scheduled_event_id.0)? {
                let outcome = match &outcome {
                    CloseOutcome::Completed(p) => NexusOutcome::Completed(p.clone()),
                    CloseOutcome::Failed(f) => NexusOutcome::Failed(f.clone()),
                    CloseOutcome::Canceled => NexusOutcome::Canceled,
                    CloseOutcome::Terminated(reason) => {
                        NexusOutcome::Failed(Failure::new("Terminated", reason.clone()))
                    }
                    CloseOutcome::TimedOut => NexusOutcome::Failed(Failure::new(
                        "TimedOut",
                        "the workflow backing the operation timed out",
                    )),
                };
                let mut fx = Effects::default();
                self.finish_nexus(
                    cb.run,
                    &mut caller,
                    cb.scheduled_event_id,
                    &task,
                    outcome,
                    now_ms,
                    &mut fx,
                )?;
                self.put_run(cb.run, &caller)?;
            }
        }
        if let Some(link) = rec.parent.clone() {
            let mut parent = self.get_run(link.run)?;
            if !parent.status.is_closed() {
                let initiated_event_id = link.initiated_event_id;
                parent
                    .children
                    .retain(|c| c.initiated_event_id != initiated_event_id);
                let kind = match outcome {
                    CloseOutcome::Completed(result) => EventKind::ChildWorkflowExecutionCompleted {
                        initiated_event_id,
                        result,
                    },
                    CloseOutcome::Failed(failure) => EventKind::ChildWorkflowExecutionFailed {
                        initiated_event_id,
                        failure,
                    },
                    CloseOutcome::Canceled => {
                        EventKind::ChildWorkflowExecutionCanceled { initiated_event_id }
                    }
                    CloseOutcome::Terminated(_) => {
                        EventKind::ChildWorkflowExecutionTerminated { initiated_event_id }
                    }
                    CloseOutcome::TimedOut => {
                        EventKind::ChildWorkflowExecutionTimedOut { initiated_event_id }
                    }
                };
                self.append(link.run, &mut parent, now_ms, kind)?;
                self.schedule_wft(link.run, &mut parent, now_ms)?;
                self.put_run(link.run, &parent)?;
            }
        }
        Ok(())
    }

    /// Acts on an open child of a closing parent as its parent close policy says.
    pub(super) fn apply_parent_close_policy(
        &mut self,
        child: &ChildLink,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut rec = self.get_run(child.run)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        let reason = match child.policy {
            ParentClosePolicy::Abandon => return Ok(()),
            ParentClosePolicy::RequestCancel => {
                match self.request_cancel(child.run, &mut rec, "its parent closed", now_ms) {
                    Ok(()) => None,
                    // A child at its history limit cannot record the request: it is ended
                    // here, not in a transaction of its own, which would tell the parent
                    // that is closing in this one.
                    Err(StoreError::HistoryLimit(o)) if o.run == child.run => {
                        Some(o.termination_reason())
                    }
                    Err(e) => return Err(e),
                }
            }
            ParentClosePolicy::Terminate => {
                Some("its parent closed (parent close policy Terminate)".to_string())
            }
        };
        if let Some(reason) = reason {
            // The parent is closing: it is not told.
            rec.parent = None;
            self.append(
                child.run,
                &mut rec,
                now_ms,
                EventKind::WorkflowExecutionTerminated {
                    reason: reason.clone(),
                },
            )?;
            self.close(
                child.run,
                &mut rec,
                RunStatus::Terminated,
                CloseOutcome::Terminated(reason),
                now_ms,
                false,
            )?;
        }
        self.put_run(child.run, &rec)
    }

    /// Creates a run as `n` says: WorkflowExecutionStarted, the signal of signal-with-start,
    /// WorkflowTaskScheduled due at `n.first_task_due_ms`, and its timeout deadlines. The
    /// workflow id points to the new run. Quotas are the caller's to check; the history
    /// limits are checked here, before anything is written: first events past them fail with
    /// a [`HistoryOverflow`] marked `first_events`, and leave no trace.
    pub(super) fn create_run(&mut self, n: NewRun) -> Result<RunId, StoreError> {
        let run = RunId::ordered(n.now_ms);
        let mut first = vec![EventKind::WorkflowExecutionStarted {
            workflow_type: n.workflow_type.clone(),
            input: n.input,
            random_seed: n.random_seed,
        }];
        if let Some((signal_name, input)) = n.signal {
            first.push(EventKind::WorkflowExecutionSignaled { signal_name, input });
        }
        first.push(EventKind::WorkflowTaskScheduled { attempt: 1 });
        let encoded: Vec<Vec<u8>> = first
            .into_iter()
            .zip(1u64..)
            .map(|(kind, id)| {
                history::encode(&Event {
                    id: EventId(id),
                    time_ms: n.now_ms,
                    kind,
                })
            })
            .collect();
        let bytes: u64 = encoded.iter().map(|b| b.len() as u64).sum();
        if let Some(mut o) = overflow_of(
            self.limits.of(&n.namespace),
            run,
            &n.workflow_id,
            "the first events of a new run",
            encoded.len() as u64,
            bytes,
        ) {
            o.first_events = true;
            return Err(StoreError::HistoryLimit(o));
        }
        self.tx.set_current_run(&n.namespace, &n.workflow_id, run)?;
        let mut rec = RunRecord {
            namespace: n.namespace,
            history_bytes: 0,
            workflow_id: n.workflow_id,
            workflow_type: n.workflow_type,
            status: RunStatus::Running,
            next_event_id: 1,
            start_ms: n.now_ms,
            close_ms: None,
            workflow_task: None,
            nexus_callback: n.nexus_callback,
            parent: n.parent,
            children: Vec::new(),
            previous_run: n.previous_run,
            next_run: None,
            attempt: n.attempt,
            options: n.options,
            execution_deadline_ms: n.execution_deadline_ms,
            cancel_requested: false,
            id_reuse_policy: n.id_reuse_policy,
        };
        for event in &encoded {
            self.tx.put_event(run, EventId(rec.next_event_id), event)?;
            rec.next_event_id += 1;
            rec.history_bytes += event.len() as u64;
        }
        // WorkflowTaskScheduled is the last of them.
        let id = EventId(rec.next_event_id - 1);
        self.queue_workflow_task(n.first_task_due_ms, run)?;
        rec.workflow_task = Some(PendingWorkflowTask {
            attempt: 1,
            due_ms: n.first_task_due_ms,
            scheduled_event_id: Some(id),
            last_failure: None,
        });
        if let Some(t) = rec.options.run_timeout_ms {
            self.tx.add_deadline(
                at(n.now_ms.saturating_add(t), run, 0),
                DeadlineKind::RunTimeout,
            )?;
        }
        if let Some(d) = rec.execution_deadline_ms {
            self.tx
                .add_deadline(at(d, run, 1), DeadlineKind::ExecutionTimeout)?;
        }
        self.put_run(run, &rec)?;
        Ok(run)
    }

    /// Starts the run that continues `run` (continue-as-new, or a retry of the execution
    /// after `delay_ms`): same workflow id, type, options, parent and Nexus caller. The caller
    /// closes `run` afterwards with `continued`.
    pub(super) fn continue_run(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        input: Payload,
        attempt: u32,
        delay_ms: u64,
        now_ms: u64,
    ) -> Result<RunId, StoreError> {
        let next = self
            .create_run(NewRun {
                namespace: rec.namespace.clone(),
                workflow_id: rec.workflow_id.clone(),
                workflow_type: rec.workflow_type.clone(),
                input,
                random_seed: weft_core::ids::fresh_u64(),
                options: rec.options.clone(),
                id_reuse_policy: rec.id_reuse_policy,
                attempt,
                previous_run: Some(run),
                parent: rec.parent.clone(),
                nexus_callback: rec.nexus_callback,
                execution_deadline_ms: rec.execution_deadline_ms,
                signal: None,
                first_task_due_ms: now_ms.saturating_add(delay_ms),
                now_ms,
            })
            .map_err(|e| match e {
                // The execution cannot go on within its limits: this run is the one to end.
                StoreError::HistoryLimit(o) if o.first_events => {
                    StoreError::HistoryLimit(HistoryOverflow {
                        run,
                        recording: "the first events of the run that would continue it",
                        first_events: false,
                        ..o
                    })
                }
                e => e,
            })?;
        rec.next_run = Some(next);
        if let Some(link) = &rec.parent {
            let mut parent = self.get_run(link.run)?;
            for c in &mut parent.children {
                if c.initiated_event_id == link.initiated_event_id {
                    c.run = next;
                }
            }
            self.put_run(link.run, &parent)?;
        }
        Ok(next)
    }

    /// The delay before the execution's next attempt after `failure`, if its retry policy
    /// allows one that starts before the execution timeout.
    pub(super) fn retry_delay(
        &self,
        rec: &RunRecord,
        failure: &Failure,
        now_ms: u64,
    ) -> Option<u64> {
        let policy = rec.options.retry_policy.as_ref()?;
        if !policy.may_retry(rec.attempt, failure) {
            return None;
        }
        let delay = policy.delay_before(rec.attempt + 1);
        match rec.execution_deadline_ms {
            Some(d) if now_ms.saturating_add(delay) >= d => None,
            _ => Some(delay),
        }
    }

    /// The input `run` was started with.
    pub(super) fn start_input(&self, run: RunId) -> Result<Payload, StoreError> {
        match self.tx.event(run, EventId(1))?.map(|e| e.kind) {
            Some(EventKind::WorkflowExecutionStarted { input, .. }) => Ok(input),
            // Every run starts with it; an empty input is what a missing one would carry.
            _ => Ok(Payload::default()),
        }
    }

    /// Closes `run` after `failure` (a failed or timed-out run): retried as a new run when
    /// the execution's retry policy allows, otherwise closed for good.
    pub(super) fn close_or_retry(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        status: RunStatus,
        failure: Failure,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let outcome = if status == RunStatus::TimedOut {
            CloseOutcome::TimedOut
        } else {
            CloseOutcome::Failed(failure.clone())
        };
        match self.retry_delay(rec, &failure, now_ms) {
            Some(delay) => {
                let input = self.start_input(run)?;
                let attempt = rec.attempt + 1;
                self.continue_run(run, rec, input, attempt, delay, now_ms)?;
                self.close(run, rec, status, outcome, now_ms, true)
            }
            None => self.close(run, rec, status, outcome, now_ms, false),
        }
    }

    /// The open run that `workflow_id` (and `run_id`, when given) names in `namespace`, if
    /// any: a run of another namespace, a closed run or an unknown id is none.
    pub(super) fn open_run_of(
        &self,
        namespace: &Namespace,
        workflow_id: &WorkflowId,
        run_id: Option<&str>,
    ) -> Result<Option<RunId>, StoreError> {
        let run = match run_id {
            Some(text) => match RunId::parse(text) {
                Some(r) => r,
                None => return Ok(None),
            },
            None => match self.tx.current_run(namespace, workflow_id)? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        let Some(rec) = self.tx.run(run)? else {
            return Ok(None);
        };
        let same = rec.namespace == *namespace && rec.workflow_id == *workflow_id;
        Ok((same && !rec.status.is_closed()).then_some(run))
    }

    /// True when [`W::signal`] of `name` with `input` fits in `rec`'s history limits.
    pub(super) fn signal_fits(
        &self,
        run: RunId,
        rec: &RunRecord,
        name: &str,
        input: &Payload,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let event = |id: u64, kind| {
            history::encode(&Event {
                id: EventId(id),
                time_ms: now_ms,
                kind,
            })
        };
        let mut events = 1;
        let mut bytes = event(
            rec.next_event_id,
            EventKind::WorkflowExecutionSignaled {
                signal_name: name.to_string(),
                input: input.clone(),
            },
        )
        .len() as u64;
        if rec.workflow_task.is_none() {
            events += 1;
            bytes += event(
                rec.next_event_id + 1,
                EventKind::WorkflowTaskScheduled { attempt: 1 },
            )
            .len() as u64;
        }
        match self.check_growth(run, rec, "WorkflowExecutionSignaled", events, bytes) {
            Ok(()) => Ok(true),
            Err(StoreError::HistoryLimit(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records signal `name` and schedules a Workflow Task.
    pub(super) fn signal(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        name: &str,
        input: Payload,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.append(
            run,
            rec,
            now_ms,
            EventKind::WorkflowExecutionSignaled {
                signal_name: name.to_string(),
                input,
            },
        )?;
        self.schedule_wft(run, rec, now_ms)?;
        Ok(())
    }

    /// Records a cancel request (once) and schedules a Workflow Task.
    pub(super) fn request_cancel(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        reason: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        if rec.cancel_requested {
            return Ok(());
        }
        rec.cancel_requested = true;
        self.append(
            run,
            rec,
            now_ms,
            EventKind::WorkflowExecutionCancelRequested {
                reason: reason.to_string(),
            },
        )?;
        self.schedule_wft(run, rec, now_ms)?;
        Ok(())
    }
}

/// What [`W::create_run`] creates.
pub(super) struct NewRun {
    pub(super) namespace: Namespace,
    pub(super) workflow_id: WorkflowId,
    pub(super) workflow_type: String,
    pub(super) input: Payload,
    pub(super) random_seed: u64,
    pub(super) options: WorkflowOptions,
    pub(super) id_reuse_policy: IdReusePolicy,
    pub(super) attempt: u32,
    pub(super) previous_run: Option<RunId>,
    pub(super) parent: Option<ParentLink>,
    pub(super) nexus_callback: Option<NexusCallback>,
    pub(super) execution_deadline_ms: Option<u64>,
    pub(super) signal: Option<(String, Payload)>,
    pub(super) first_task_due_ms: u64,
    pub(super) now_ms: u64,
}

/// How a run closed, for its parent or the Nexus operation that started it.
pub(super) enum CloseOutcome {
    Completed(Payload),
    Failed(Failure),
    Canceled,
    Terminated(String),
    TimedOut,
}
