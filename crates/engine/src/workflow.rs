//! Operations on a workflow from outside it: start (with signal-with-start), signal, cancel
//! request and terminate, each one write transaction. The rules they apply are in
//! `lifecycle`.

use super::*;

impl Store {
    /// Creates a run of `workflow_type` for `id` in `namespace` with `input` and schedules its
    /// first Workflow Task: [`Store::start_workflow_with`] with default options.
    #[allow(clippy::too_many_arguments)]
    pub fn start_workflow(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
        workflow_type: &str,
        input: Payload,
        random_seed: u64,
        now_ms: u64,
        quota: StartQuota,
        callback: Option<NexusCallback>,
    ) -> Result<RunId, StoreError> {
        let req = StartRequest {
            namespace: Some(namespace.clone()),
            workflow_id: id.clone(),
            workflow_type: workflow_type.to_string(),
            input,
            random_seed,
            options: WorkflowOptions::default(),
            id_reuse_policy: IdReusePolicy::default(),
            signal: None,
            component: None,
        };
        self.start_workflow_with(&req, now_ms, quota, callback)
            .map(|(run, _)| run)
    }

    /// Starts an execution as `req` says. Writes WorkflowExecutionStarted (then
    /// WorkflowExecutionSignaled for signal-with-start) and WorkflowTaskScheduled. Returns the
    /// run and whether it was created (false: signal-with-start signaled the running one).
    ///
    /// A running workflow with the same id fails with [`StoreError::AlreadyRunning`], unless
    /// `callback` is given and equals the running one's (a repeated start by the same Nexus
    /// operation: the existing run is returned) or `req.signal` is set (the running one is
    /// signaled). A closed one may start again as its id reuse policy allows. Quotas (the
    /// tighter of `quota` and the namespace's, see [`Store::with_limits`]) are checked in the
    /// same transaction; nothing is written when one is reached. A signal that would take the
    /// running run's history past its limit is refused with [`StoreError::HistoryLimit`].
    pub fn start_workflow_with(
        &self,
        req: &StartRequest,
        now_ms: u64,
        quota: StartQuota,
        callback: Option<NexusCallback>,
    ) -> Result<(RunId, bool), StoreError> {
        self.write(|w| w.start(req, now_ms, quota, callback))
    }

    /// [`Store::start_workflow_with`], then, when it created the run, `then` with the new
    /// run, its record and its history, before the start's commit: the first write `then`
    /// makes on this thread (the first Workflow Task's) joins that commit, so a run started
    /// and its first task run at once commit in one fsync (Temporal's eager workflow start).
    /// The start is acknowledged, as always, once committed. Returns the start's result and
    /// what `then` returned, if it ran; should the start's batch not commit, the start runs
    /// again on its own and a write of `then` was refused with [`StoreError::Conflict`].
    pub fn start_workflow_then<T>(
        &self,
        req: &StartRequest,
        now_ms: u64,
        quota: StartQuota,
        callback: Option<NexusCallback>,
        then: impl FnOnce(RunId, LoadedRun) -> T,
    ) -> Result<((RunId, bool), Option<T>), StoreError> {
        let started = self.write_then(
            |w| {
                let (run, created) = w.start(req, now_ms, quota, callback)?;
                let next = if created {
                    Some((run, LoadedRun::read(&*w.tx, run, 0)?))
                } else {
                    None
                };
                Ok(((run, created), next))
            },
            then,
        )?;
        match started {
            Then::Done(started, out) => Ok((started, out)),
            Then::Again(out) => Ok((self.start_workflow_with(req, now_ms, quota, callback)?, out)),
        }
    }

    /// Sends signal `name` to the open run `run`: WorkflowExecutionSignaled and a Workflow
    /// Task. Fails with [`StoreError::NotRunning`] when the run is closed, and with
    /// [`StoreError::HistoryLimit`] (nothing recorded, the run goes on) when the signal would
    /// take its history past its limit: the sender is refused, as Temporal refuses signals
    /// past a workflow's signal limit.
    pub fn signal(
        &self,
        run: RunId,
        name: &str,
        input: Payload,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.change_open_run(run, |w, rec| {
            w.signal(run, rec, name, input.clone(), now_ms)
        })
    }

    /// Records a cancel request of the open run `run` (WorkflowExecutionCancelRequested and a
    /// Workflow Task); a repeated request changes nothing. A request that would take the
    /// history past its limit terminates the run instead, which ends it as the caller asked.
    pub fn request_cancel(&self, run: RunId, reason: &str, now_ms: u64) -> Result<(), StoreError> {
        match self.change_open_run(run, |w, rec| w.request_cancel(run, rec, reason, now_ms)) {
            Err(StoreError::HistoryLimit(o)) if o.run == run => {
                self.terminate_inner(run, &o.termination_reason(), now_ms, false, 1)?;
                Ok(())
            }
            r => r,
        }
    }

    pub(super) fn change_open_run(
        &self,
        run: RunId,
        mut f: impl FnMut(&mut W<'_>, &mut RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write(|w| {
            let mut rec = w.get_run(run)?;
            if rec.status.is_closed() {
                return Err(StoreError::NotRunning(
                    rec.workflow_id.clone(),
                    run,
                    rec.status,
                ));
            }
            f(w, &mut rec)?;
            w.put_run(run, &rec)?;
            Ok(())
        })
    }

    /// What namespace `namespace` holds.
    pub fn usage(&self, namespace: &Namespace) -> Result<NamespaceUsage, StoreError> {
        self.read(|tx| tx.usage(namespace))
    }

    /// Closes `run` with WorkflowExecutionTerminated without running workflow code: the host
    /// ends it (for example, its history reached the limit). Pending activities, timers and
    /// Nexus operations are dropped. Returns false if the run was already closed. A parent or
    /// Nexus caller whose history cannot take the news is terminated at its limit first.
    pub fn terminate(&self, run: RunId, reason: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.terminate_as(run, reason, now_ms, false)
    }

    pub(super) fn terminate_as(
        &self,
        run: RunId,
        reason: &str,
        now_ms: u64,
        canceled: bool,
    ) -> Result<bool, StoreError> {
        self.terminate_inner(run, reason, now_ms, canceled, 0)
    }

    /// [`Store::terminate_as`] at `depth` runs terminated at their limits up the stack.
    pub(super) fn terminate_inner(
        &self,
        run: RunId,
        reason: &str,
        now_ms: u64,
        canceled: bool,
        depth: u32,
    ) -> Result<bool, StoreError> {
        self.or_terminate(now_ms, depth, || {
            self.terminate_once(run, reason, now_ms, canceled)
        })
    }

    pub(super) fn terminate_once(
        &self,
        run: RunId,
        reason: &str,
        now_ms: u64,
        canceled: bool,
    ) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut rec = w.get_run(run)?;
            if rec.status.is_closed() {
                return Ok(false);
            }
            if let Some(p) = rec.workflow_task.take() {
                w.dequeue_workflow_task(p.due_ms, run)?;
            }
            w.append(
                run,
                &mut rec,
                now_ms,
                EventKind::WorkflowExecutionTerminated {
                    reason: reason.to_string(),
                },
            )?;
            let outcome = if canceled {
                CloseOutcome::Canceled
            } else {
                CloseOutcome::Terminated(reason.to_string())
            };
            w.close(run, &mut rec, RunStatus::Terminated, outcome, now_ms, false)?;
            w.put_run(run, &rec)?;
            Ok(true)
        })
    }
}

impl W<'_> {
    /// What [`Store::start_workflow_with`] writes.
    fn start(
        &mut self,
        req: &StartRequest,
        now_ms: u64,
        quota: StartQuota,
        callback: Option<NexusCallback>,
    ) -> Result<(RunId, bool), StoreError> {
        let w = self;
        let namespace = req
            .namespace
            .clone()
            .unwrap_or_else(Namespace::default_namespace);
        let id = &req.workflow_id;
        let existing = w.tx.current_run(&namespace, id)?;
        if let Some(existing) = existing {
            let mut rec = w.get_run(existing)?;
            if callback.is_some() && rec.nexus_callback == callback {
                return Ok((existing, false));
            }
            if !rec.status.is_closed() {
                let Some((name, input)) = &req.signal else {
                    return Err(StoreError::AlreadyRunning(id.clone(), existing));
                };
                w.signal(existing, &mut rec, name, input.clone(), now_ms)?;
                w.put_run(existing, &rec)?;
                return Ok((existing, false));
            }
            let refused = match rec.id_reuse_policy {
                IdReusePolicy::AllowDuplicate => false,
                IdReusePolicy::AllowDuplicateFailedOnly => rec.status == RunStatus::Completed,
                IdReusePolicy::RejectDuplicate => true,
            };
            if refused {
                return Err(StoreError::IdReused {
                    id: id.clone(),
                    run: existing,
                    status: rec.status,
                    policy: rec.id_reuse_policy,
                });
            }
        }
        if let Some(refused) = w.quota_refusal(&namespace, quota)? {
            return Err(refused);
        }
        let execution_deadline_ms = req
            .options
            .execution_timeout_ms
            .map(|t| now_ms.saturating_add(t));
        let run = w.create_run(NewRun {
            namespace: namespace.clone(),
            workflow_id: id.clone(),
            workflow_type: req.workflow_type.clone(),
            input: req.input.clone(),
            random_seed: req.random_seed,
            options: req.options.clone(),
            id_reuse_policy: req.id_reuse_policy,
            attempt: 1,
            previous_run: None,
            parent: None,
            nexus_callback: callback,
            execution_deadline_ms,
            signal: req.signal.clone(),
            first_task_due_ms: now_ms,
            now_ms,
        })?;
        if let Some(digest) = &req.component {
            w.tx.put_component_of(run, digest)?;
        }
        Ok((run, true))
    }
}
