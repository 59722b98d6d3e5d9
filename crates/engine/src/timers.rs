//! Timers and deadlines: firing due timers (TimerFired) and due deadlines (activity and
//! Nexus timeouts, run and execution timeouts). Does not keep time: callers pass `now`.

use super::*;

impl Store {
    /// Fires every timer due at `now_ms` (TimerFired) and every due deadline (activity and
    /// Nexus timeouts), and schedules a Workflow Task for each open run affected. Returns how
    /// many fired. A run whose history cannot take what fired is terminated at its limit.
    pub fn fire_timers(&self, now_ms: u64) -> Result<(usize, Effects), StoreError> {
        self.or_terminate(now_ms, 0, || self.fire_timers_once(now_ms))
    }

    pub(super) fn fire_timers_once(&self, now_ms: u64) -> Result<(usize, Effects), StoreError> {
        self.write(|w| w.fire_timers(now_ms, &mut Vec::new()))
    }

    /// [`Store::fire_timers`], then, when what fired woke one run only, `then` with that run
    /// as it left it (its history after event `after(run)`), before the commit: the first write `then` makes on this thread (the
    /// woken Workflow Task's) joins the same commit. Returns how many fired, their effects and
    /// what `then` returned, if it ran; should the batch not commit, the timers fire again on
    /// their own and a write of `then` was refused with [`StoreError::Conflict`].
    pub fn fire_timers_then<T>(
        &self,
        now_ms: u64,
        after: impl Fn(RunId) -> u64,
        then: impl FnOnce(RunId, LoadedRun) -> T,
    ) -> Result<(usize, Effects, Option<T>), StoreError> {
        let fired = self.write_then(
            |w| {
                let mut woken = Vec::new();
                let (n, fx) = w.fire_timers(now_ms, &mut woken)?;
                woken.sort();
                woken.dedup();
                let next = match woken[..] {
                    [run] => w.task_due(run, now_ms, after(run))?,
                    _ => None,
                };
                Ok(((n, fx), next))
            },
            then,
        );
        match fired {
            Ok(Then::Done((n, fx), out)) => Ok((n, fx, out)),
            Ok(Then::Again(out)) => self.fire_timers(now_ms).map(|(n, fx)| (n, fx, out)),
            // A limit, say: fired on their own, where such cases are handled.
            Err(_) => self.fire_timers(now_ms).map(|(n, fx)| (n, fx, None)),
        }
    }
}

impl W<'_> {
    /// What [`Store::fire_timers`] writes; the runs it gave a Workflow Task are added to
    /// `woken` in the order they fired.
    fn fire_timers(
        &mut self,
        now_ms: u64,
        woken: &mut Vec<RunId>,
    ) -> Result<(usize, Effects), StoreError> {
        let w = self;
        let mut fired = 0;
        let mut fx = Effects::default();
        for key in w.tx.due_timers(now_ms)? {
            w.tx.remove_timer(key)?;
            let (run, started) = (key.run, key.id.0);
            let mut rec = w.get_run(run)?;
            if rec.status.is_closed() {
                continue;
            }
            w.append(
                run,
                &mut rec,
                now_ms,
                EventKind::TimerFired {
                    started_event_id: EventId(started),
                },
            )?;
            fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
            w.put_run(run, &rec)?;
            woken.push(run);
            fired += 1;
        }
        for (key, kind) in w.tx.due_deadlines(now_ms)? {
            w.tx.remove_deadline(key)?;
            // A kind this release does not know (written by a newer one) is dropped.
            let Some(kind) = kind else {
                continue;
            };
            if w.fire_deadline(key, kind, now_ms, &mut fx)? {
                woken.push(key.run);
                fired += 1;
            }
        }
        fx.closed = std::mem::take(&mut w.closed);
        Ok((fired, fx))
    }

    /// Acts on deadline `key` of `kind`, passed at `now_ms`: the activity, Nexus operation or
    /// run it belongs to times out, unless it ended meanwhile. Returns whether it fired.
    fn fire_deadline(
        &mut self,
        key: Due,
        kind: DeadlineKind,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<bool, StoreError> {
        let w = self;
        let (run, sched) = (key.run, key.id.0);
        match kind {
            DeadlineKind::ActivityClose | DeadlineKind::ActivityStart => {
                let Some(task) = w.get_task(run, sched)? else {
                    return Ok(false);
                };
                let failure = if kind == DeadlineKind::ActivityClose {
                    Failure::new(
                        "ScheduleToCloseTimeout",
                        format!(
                            "the activity did not finish within {} ms of being scheduled",
                            task.schedule_to_close_timeout_ms.unwrap_or(0)
                        ),
                    )
                } else {
                    let s2s = task.schedule_to_start_timeout_ms.unwrap_or(0);
                    if task.leased || now_ms < task.visible_at_ms.saturating_add(s2s) {
                        return Ok(false); // started in time, or a later attempt
                    }
                    Failure::new(
                        "ScheduleToStartTimeout",
                        format!(
                            "attempt {} waited in its queue longer than {s2s} ms",
                            task.attempt
                        ),
                    )
                };
                w.time_out_activity(run, EventId(sched), &task, failure, now_ms, fx)?;
                Ok(true)
            }
            DeadlineKind::NexusClose => {
                let Some(task) = w.get_nexus(run, sched)? else {
                    return Ok(false);
                };
                let mut rec = w.get_run(run)?;
                w.remove_nexus(&rec.namespace, run, sched, &task)?;
                if rec.status.is_closed() {
                    return Ok(false);
                }
                w.append(
                    run,
                    &mut rec,
                    now_ms,
                    EventKind::NexusOperationTimedOut {
                        scheduled_event_id: EventId(sched),
                        failure: Failure::new(
                            "ScheduleToCloseTimeout",
                            "the Nexus operation did not finish within its schedule-to-close timeout",
                        ),
                    },
                )?;
                fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
                w.put_run(run, &rec)?;
                Ok(true)
            }
            DeadlineKind::RunTimeout | DeadlineKind::ExecutionTimeout => {
                let mut rec = w.get_run(run)?;
                if rec.status.is_closed() {
                    return Ok(false);
                }
                let (timeout, limit) = if kind == DeadlineKind::RunTimeout {
                    ("RunTimeout", rec.options.run_timeout_ms)
                } else {
                    ("ExecutionTimeout", rec.options.execution_timeout_ms)
                };
                w.append(
                    run,
                    &mut rec,
                    now_ms,
                    EventKind::WorkflowExecutionTimedOut {
                        timeout: timeout.into(),
                    },
                )?;
                let failure = Failure::new(
                    "TimedOut",
                    format!(
                        "the workflow passed its {timeout} of {} ms",
                        limit.unwrap_or(0)
                    ),
                );
                if kind == DeadlineKind::RunTimeout {
                    w.close_or_retry(run, &mut rec, RunStatus::TimedOut, failure, now_ms)?;
                } else {
                    w.close(
                        run,
                        &mut rec,
                        RunStatus::TimedOut,
                        CloseOutcome::TimedOut,
                        now_ms,
                        false,
                    )?;
                }
                w.put_run(run, &rec)?;
                fx.workflow_task = true;
                Ok(true)
            }
        }
    }
}
