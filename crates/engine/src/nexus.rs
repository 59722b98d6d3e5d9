//! Nexus operations of caller runs: leasing start and cancel deliveries, their reports,
//! asynchronous completions, and recording an operation's outcome. Does not call handlers.

use super::*;

impl Store {
    /// Hands out up to `limit` due Nexus tasks (a start, or the cancel of a started
    /// operation), leasing each for `lease_ms`; an expired lease hands the task out again with
    /// the same request id. `admit` is asked for each task's namespace first (its fair share of
    /// the host's Nexus slots); a task it refuses stays queued.
    pub fn lease_nexus<T>(
        &self,
        now_ms: u64,
        limit: usize,
        lease_ms: u64,
        mut admit: impl FnMut(&Namespace) -> Option<T>,
    ) -> Result<Vec<(LeasedNexus, T)>, StoreError> {
        self.write(|w| {
            let mut out = Vec::new();
            for key in w.tx.due_nexus(now_ms, limit)? {
                let (run, sched) = (key.run, key.id.0);
                let namespace = w.get_run(run)?.namespace;
                let Some(admitted) = admit(&namespace) else {
                    // The namespace is at its share: the task stays queued.
                    continue;
                };
                w.tx.dequeue_nexus(key)?;
                let Some(mut task) = w.get_nexus(run, sched)? else {
                    continue;
                };
                let kind = if task.operation_token.is_none() {
                    NexusTaskKind::Start
                } else if task.cancel_requested && !task.cancel_delivered {
                    NexusTaskKind::Cancel
                } else {
                    continue;
                };
                if task.leased {
                    // The previous delivery's lease expired: deliver again.
                    task.attempt += 1;
                }
                task.leased = true;
                task.visible_at_ms = now_ms.saturating_add(lease_ms);
                w.tx.queue_nexus(at(task.visible_at_ms, run, sched))?;
                w.put_nexus(run, sched, &task)?;
                out.push((
                    LeasedNexus {
                        run,
                        namespace,
                        scheduled_event_id: EventId(sched),
                        kind,
                        task,
                    },
                    admitted,
                ));
            }
            Ok(out)
        })
    }

    /// Records what a Nexus task delivery of attempt `attempt` achieved. A caller whose
    /// history cannot take it within its limit is terminated instead (`None`).
    pub fn report_nexus(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        report: NexusReport,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.report_nexus_once(run, scheduled_event_id, attempt, report.clone(), now_ms)
        })
    }

    pub(super) fn report_nexus_once(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        report: NexusReport,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        self.write(|w| {
            let mut fx = Effects::default();
            let sched = scheduled_event_id.0;
            let Some(mut task) = w.get_nexus(run, sched)? else {
                return Ok(None);
            };
            if task.attempt != attempt || !task.leased {
                return Ok(None);
            }
            let mut rec = w.get_run(run)?;
            w.tx.dequeue_nexus(at(task.visible_at_ms, run, sched))?;
            task.leased = false;
            match report.clone() {
                NexusReport::Started { operation_token } => {
                    w.append(
                        run,
                        &mut rec,
                        now_ms,
                        EventKind::NexusOperationStarted {
                            scheduled_event_id,
                            operation_token: operation_token.clone(),
                        },
                    )?;
                    w.tx.put_nexus_token(
                        &rec.namespace,
                        &operation_token,
                        run,
                        scheduled_event_id,
                    )?;
                    task.operation_token = Some(operation_token);
                    task.attempt = 1;
                    if task.cancel_requested {
                        task.visible_at_ms = now_ms;
                        w.tx.queue_nexus(at(now_ms, run, sched))?;
                        fx.nexus = true;
                    }
                    w.put_nexus(run, sched, &task)?;
                    fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
                }
                NexusReport::Finished(outcome) => {
                    w.finish_nexus(
                        run,
                        &mut rec,
                        scheduled_event_id,
                        &task,
                        outcome,
                        now_ms,
                        &mut fx,
                    )?;
                }
                NexusReport::CancelDelivered => {
                    task.cancel_delivered = true;
                    w.put_nexus(run, sched, &task)?;
                }
                NexusReport::Retry {
                    failure,
                    retry_at_ms,
                } => {
                    task.attempt += 1;
                    task.last_failure = Some(failure);
                    task.visible_at_ms = retry_at_ms;
                    w.tx.queue_nexus(at(retry_at_ms, run, sched))?;
                    w.put_nexus(run, sched, &task)?;
                }
            }
            w.put_run(run, &rec)?;
            Ok(Some(fx))
        })
    }

    /// Completes the started asynchronous Nexus operation `token` of `namespace` (the
    /// completion callback of its handler). Returns false if no such operation is pending,
    /// or if the caller's history could not take the outcome within its limit (the caller is
    /// then terminated).
    pub fn complete_nexus(
        &self,
        namespace: &Namespace,
        token: &str,
        outcome: NexusOutcome,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.complete_nexus_once(namespace, token, outcome.clone(), now_ms)
        })
    }

    pub(super) fn complete_nexus_once(
        &self,
        namespace: &Namespace,
        token: &str,
        outcome: NexusOutcome,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.write(|w| {
            let Some((run, sched)) = w.tx.nexus_token(namespace, token)? else {
                return Ok(false);
            };
            let Some(task) = w.get_nexus(run, sched.0)? else {
                return Ok(false);
            };
            let mut rec = w.get_run(run)?;
            let mut fx = Effects::default();
            w.finish_nexus(
                run,
                &mut rec,
                sched,
                &task,
                outcome.clone(),
                now_ms,
                &mut fx,
            )?;
            w.put_run(run, &rec)?;
            Ok(true)
        })
    }

    /// Cancels workflow `id` of `namespace` on behalf of the Nexus operation that started it:
    /// the run ends (WorkflowExecutionTerminated) and the operation is reported canceled.
    pub fn cancel_nexus_workflow(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let (run, _) = self.current_run(namespace, id)?;
        self.terminate_as(run, "canceled by its Nexus caller", now_ms, true)
    }
}

impl W<'_> {
    /// Records the final outcome of a Nexus operation in its caller's run.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_nexus(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        sched: EventId,
        task: &NexusTask,
        outcome: NexusOutcome,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        self.remove_nexus(&rec.namespace.clone(), run, sched.0, task)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        let kind = match outcome {
            NexusOutcome::Completed(result) => EventKind::NexusOperationCompleted {
                scheduled_event_id: sched,
                result,
            },
            NexusOutcome::Failed(failure) => EventKind::NexusOperationFailed {
                scheduled_event_id: sched,
                failure,
            },
            NexusOutcome::Canceled => EventKind::NexusOperationCanceled {
                scheduled_event_id: sched,
            },
        };
        self.append(run, rec, now_ms, kind)?;
        fx.workflow_task |= self.schedule_wft(run, rec, now_ms)?;
        Ok(())
    }
}
