//! Activity tasks: leasing, heartbeats, reports, and the rule that settles an attempt
//! (retry, or the final ActivityTask* event). Does not run activities.

use super::*;

impl Store {
    /// Hands out up to `limit` activity tasks of queue `queue_key` visible at `now_ms`,
    /// leasing each until its start-to-close (or heartbeat) deadline. A task whose lease
    /// expired counts as a failed attempt (timed out, or its worker was lost) and is retried or
    /// ended by its retry policy; one that waited past its schedule-to-start timeout ends as
    /// timed out. A run whose history cannot take such an outcome is terminated at its limit.
    pub fn lease_activities(
        &self,
        queue_key: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<(Vec<LeasedActivity>, Effects), StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.lease_activities_once(queue_key, now_ms, limit)
        })
    }

    pub(super) fn lease_activities_once(
        &self,
        queue_key: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<(Vec<LeasedActivity>, Effects), StoreError> {
        // The queue key starts with the namespace, which names cannot contain '/' in.
        let namespace =
            Namespace::new(queue_key.split('/').next().unwrap_or_default()).map_err(|reason| {
                StoreError::Encoding {
                    run: RunId(0),
                    source: EncodingError::Corrupt(reason),
                }
            })?;
        self.write(|w| {
            let mut out = Vec::new();
            let mut fx = Effects::default();
            for entry in w.tx.due_activities(queue_key, now_ms, limit)? {
                let (run, sched) = (entry.run, entry.id.0);
                let Some(mut task) = w.get_task(run, sched)? else {
                    w.tx.dequeue_activity(queue_key, entry)?;
                    continue;
                };
                if task.leased {
                    let (expiry, kind) = task.lease_expiry();
                    let failure = if now_ms >= expiry {
                        Failure::new(
                            kind,
                            format!(
                                "attempt {} timed out ({kind}) without reporting",
                                task.attempt
                            ),
                        )
                    } else {
                        Failure::new(
                            "WorkerLost",
                            format!(
                                "the host process running attempt {} stopped before it ended",
                                task.attempt
                            ),
                        )
                    };
                    let attempt = task.attempt;
                    w.settle_activity(
                        run,
                        EventId(sched),
                        task,
                        attempt,
                        Err(failure),
                        now_ms,
                        &mut fx,
                    )?;
                    continue;
                }
                if let Some(s2s) = task.schedule_to_start_timeout_ms
                    && now_ms > task.visible_at_ms.saturating_add(s2s)
                {
                    let failure = Failure::new(
                        "ScheduleToStartTimeout",
                        format!(
                            "attempt {} waited in its queue longer than {s2s} ms",
                            task.attempt
                        ),
                    );
                    w.time_out_activity(run, EventId(sched), &task, failure, now_ms, &mut fx)?;
                    continue;
                }
                w.tx.dequeue_activity(queue_key, entry)?;
                task.leased = true;
                task.attempt_started_ms = now_ms;
                task.last_heartbeat_ms = None;
                task.visible_at_ms = task.lease_expiry().0;
                w.tx.queue_activity(queue_key, at(task.visible_at_ms, run, sched))?;
                w.put_task(run, sched, &task)?;
                out.push(LeasedActivity {
                    run,
                    namespace: namespace.clone(),
                    scheduled_event_id: EventId(sched),
                    task,
                });
            }
            Ok((out, fx))
        })
    }

    /// Records how attempt `attempt` of an activity ended. A result completes it
    /// (ActivityTaskStarted + ActivityTaskCompleted). A failure after a cancel request cancels
    /// it (ActivityTaskCanceled); otherwise a retryable failure queues the next attempt after
    /// the retry policy's delay (no event) unless that would pass the schedule-to-close
    /// timeout, and a final failure records ActivityTaskFailed, or ActivityTaskTimedOut for a
    /// timeout. Each final outcome schedules a Workflow Task.
    ///
    /// Returns `None` when the attempt is no longer current (the activity ended, timed out or
    /// its run closed): the outcome is dropped, as at-least-once delivery allows. An outcome
    /// the run's history cannot take within its limit is not recorded: the run is terminated
    /// instead (the workflow cannot go on without it), and `None` is returned.
    pub fn report_activity(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.report_activity_once(run, scheduled_event_id, attempt, outcome.clone(), now_ms)
        })
    }

    /// [`Store::report_activity`], then, when the outcome leaves a Workflow Task of the run
    /// due, `then` with the run's record and history (after event `after(run)`, see
    /// [`LoadedRun`]) as the outcome left them, before the
    /// outcome's commit: the first write `then` makes on this thread (the task's) joins that
    /// commit, so an activity's result and the task it wakes commit in one fsync. The outcome
    /// is acknowledged, as always, once committed. Returns the outcome's effects and what
    /// `then` returned, if it ran; should the outcome's batch not commit, the outcome is
    /// recorded again on its own and a write of `then` was refused with
    /// [`StoreError::Conflict`].
    #[allow(clippy::too_many_arguments)]
    pub fn report_activity_then<T>(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
        after: impl Fn(RunId) -> u64,
        then: impl FnOnce(LoadedRun) -> T,
    ) -> Result<(Option<Effects>, Option<T>), StoreError> {
        let reported = self.write_then(
            |w| {
                let fx = w.report(run, scheduled_event_id, attempt, &outcome, now_ms)?;
                let next = match fx {
                    Some(_) => w.task_due(run, now_ms, after(run))?,
                    None => None,
                };
                Ok((fx, next))
            },
            |_, loaded| then(loaded),
        );
        match reported {
            Ok(Then::Done(fx, out)) => Ok((fx, out)),
            Ok(Then::Again(out)) => Ok((
                self.report_activity(run, scheduled_event_id, attempt, outcome, now_ms)?,
                out,
            )),
            // A limit, say: recorded on its own, where such cases are handled.
            Err(_) => Ok((
                self.report_activity(run, scheduled_event_id, attempt, outcome, now_ms)?,
                None,
            )),
        }
    }

    pub(super) fn report_activity_once(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        self.write(|w| w.report(run, scheduled_event_id, attempt, &outcome, now_ms))
    }

    /// Records a heartbeat of attempt `attempt`: keeps `details` for later attempts and moves
    /// the lease to the next heartbeat deadline.
    pub fn heartbeat(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        details: Option<Payload>,
        now_ms: u64,
    ) -> Result<HeartbeatAck, StoreError> {
        self.write(|w| {
            let sched = scheduled_event_id.0;
            let Some(mut task) = w.get_task(run, sched)? else {
                return Ok(HeartbeatAck::Gone);
            };
            if task.attempt != attempt || !task.leased {
                return Ok(HeartbeatAck::Gone);
            }
            let ns = w.get_run(run)?.namespace;
            let qk = queue_key(&ns, &task.task_queue);
            w.tx.dequeue_activity(&qk, at(task.visible_at_ms, run, sched))?;
            if details.is_some() {
                task.heartbeat_details = details.clone();
            }
            task.last_heartbeat_ms = Some(now_ms);
            task.visible_at_ms = task.lease_expiry().0;
            w.tx.queue_activity(&qk, at(task.visible_at_ms, run, sched))?;
            let ack = if task.cancel_requested {
                HeartbeatAck::CancelRequested
            } else {
                HeartbeatAck::Continue
            };
            w.put_task(run, sched, &task)?;
            Ok(ack)
        })
    }
}

pub(super) fn is_timeout(error_type: &str) -> bool {
    matches!(
        error_type,
        "StartToCloseTimeout"
            | "ScheduleToCloseTimeout"
            | "ScheduleToStartTimeout"
            | "HeartbeatTimeout"
    )
}

impl W<'_> {
    /// What [`Store::report_activity`] writes.
    fn report(
        &mut self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        outcome: &Result<Payload, Failure>,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        let Some(task) = self.get_task(run, scheduled_event_id.0)? else {
            return Ok(None);
        };
        if task.attempt != attempt || !task.leased {
            return Ok(None);
        }
        let mut fx = Effects::default();
        self.settle_activity(
            run,
            scheduled_event_id,
            task,
            attempt,
            outcome.clone(),
            now_ms,
            &mut fx,
        )?;
        Ok(Some(fx))
    }

    /// `run` as a Workflow Task reads it (its history after event `after`), if a task of it
    /// is due at `now_ms`.
    pub(super) fn task_due(
        &mut self,
        run: RunId,
        now_ms: u64,
        after: u64,
    ) -> Result<Option<(RunId, LoadedRun)>, StoreError> {
        let rec = self.get_run(run)?;
        let due = !rec.status.is_closed()
            && rec
                .workflow_task
                .as_ref()
                .is_some_and(|p| p.due_ms <= now_ms);
        if !due {
            return Ok(None);
        }
        Ok(Some((run, LoadedRun::read(&*self.tx, run, after)?)))
    }

    /// Decides what the end of attempt `attempt` means; see [`Store::report_activity`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn settle_activity(
        &mut self,
        run: RunId,
        sched: EventId,
        mut task: ActivityTask,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        let mut rec = self.get_run(run)?;
        if let Err(f) = &outcome
            && !task.cancel_requested
        {
            let delay = task.retry_policy.delay_before(attempt + 1);
            let retry_at = now_ms.saturating_add(delay);
            let retryable = !matches!(
                f.error_type.as_str(),
                "ScheduleToCloseTimeout" | "ScheduleToStartTimeout"
            ) && task.retry_policy.may_retry(attempt, f)
                && task.close_deadline().is_none_or(|d| retry_at < d);
            if retryable && !rec.status.is_closed() {
                let qk = queue_key(&rec.namespace, &task.task_queue);
                self.tx
                    .dequeue_activity(&qk, at(task.visible_at_ms, run, sched.0))?;
                task.attempt = attempt + 1;
                task.leased = false;
                task.last_failure = Some(f.clone());
                task.visible_at_ms = retry_at;
                task.last_heartbeat_ms = None;
                self.tx.queue_activity(&qk, at(retry_at, run, sched.0))?;
                if let Some(s2s) = task.schedule_to_start_timeout_ms {
                    self.tx.add_deadline(
                        at(retry_at.saturating_add(s2s), run, sched.0),
                        DeadlineKind::ActivityStart,
                    )?;
                    fx.timers = true;
                }
                self.put_task(run, sched.0, &task)?;
                fx.activities = true;
                return Ok(());
            }
        }
        self.remove_task(&rec.namespace.clone(), run, sched.0, &task)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        self.append(
            run,
            &mut rec,
            now_ms,
            EventKind::ActivityTaskStarted {
                scheduled_event_id: sched,
                attempt,
            },
        )?;
        let kind = match outcome {
            Ok(result) => EventKind::ActivityTaskCompleted {
                scheduled_event_id: sched,
                result,
            },
            Err(_) if task.cancel_requested => EventKind::ActivityTaskCanceled {
                scheduled_event_id: sched,
            },
            Err(failure) if is_timeout(&failure.error_type) => EventKind::ActivityTaskTimedOut {
                scheduled_event_id: sched,
                failure,
            },
            Err(failure) => EventKind::ActivityTaskFailed {
                scheduled_event_id: sched,
                failure,
            },
        };
        self.append(run, &mut rec, now_ms, kind)?;
        fx.workflow_task |= self.schedule_wft(run, &mut rec, now_ms)?;
        self.put_run(run, &rec)
    }

    /// Ends an activity as timed out by a deadline no attempt can fix.
    pub(super) fn time_out_activity(
        &mut self,
        run: RunId,
        sched: EventId,
        task: &ActivityTask,
        failure: Failure,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        let mut rec = self.get_run(run)?;
        self.remove_task(&rec.namespace.clone(), run, sched.0, task)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        if task.leased {
            self.append(
                run,
                &mut rec,
                now_ms,
                EventKind::ActivityTaskStarted {
                    scheduled_event_id: sched,
                    attempt: task.attempt,
                },
            )?;
            fx.cancel_activities.push((run, sched));
        }
        self.append(
            run,
            &mut rec,
            now_ms,
            EventKind::ActivityTaskTimedOut {
                scheduled_event_id: sched,
                failure,
            },
        )?;
        fx.workflow_task |= self.schedule_wft(run, &mut rec, now_ms)?;
        self.put_run(run, &rec)
    }
}
