//! [`Client`], the API of one namespace: start, signal, cancel, terminate, reset, query and
//! update workflows, wait for results, describe and read histories. Each call checks its
//! arguments, commits through the store and wakes the loops; it runs no workflow code except
//! queries and the Workflow Task that delivers an update.

use super::host::{Inner, NamespaceRt, RunGuard};
use super::wakeups::RunClosing;
use super::{
    HostError, ResetOptions, StartOptions, WorkflowDescription, WorkflowOutcome, outcome_of,
};
use crate::history::{Event, EventKind, Failure, Payload};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use crate::replay::{QueryRequest, UpdateRequest, UpdateState};
use crate::store::{NamespaceUsage, NexusOutcome, ResetRequest, StartRequest, Store, StoreError};
use crate::workflow_task::{TaskOutcome, run_query, run_update_task};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Access to one namespace: from [`Host::client`] (an API key) or [`Host::namespace`]. Ids are
/// looked up in that namespace only; a workflow of another namespace is reported unknown.
/// A client keeps the host's memory alive until it is dropped; it can no longer reach the
/// database once the host is shut down or dropped.
///
/// ```no_run
/// use serde_json::json;
/// # async fn run(host: weft::Host) -> Result<(), weft::HostError> {
/// let client = host.namespace("default")?;
/// client.start_workflow("approval", "trip-7", json!({"amount": 12_000})).await?;
/// let status = client.query("trip-7", "status", json!(null)).await?;
/// client.update("trip-7", "set_amount", json!(9_900)).await?; // waits for the handler
/// client.signal("trip-7", "decide", json!({"approved": true})).await?;
/// println!("{status} -> {:?}", client.result("trip-7").await?);
/// # Ok(()) }
/// ```
pub struct Client {
    pub(super) inner: Arc<Inner>,
    pub(super) namespace: Namespace,
}

impl Client {
    pub(super) fn new(inner: Arc<Inner>, namespace: Namespace) -> Client {
        inner
            .clients
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Client { inner, namespace }
    }
}

impl Clone for Client {
    fn clone(&self) -> Client {
        Client::new(self.inner.clone(), self.namespace.clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner
            .clients
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Client {
    pub(super) fn rt(&self) -> Arc<NamespaceRt> {
        self.inner.ns(&self.namespace)
    }

    /// The namespace this client reaches.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Completes the started asynchronous Nexus operation `operation_token` of this namespace
    /// (the completion callback its handler promised): the caller's history records
    /// NexusOperationCompleted, Failed or Canceled.
    pub async fn complete_nexus_operation(
        &self,
        operation_token: &str,
        outcome: NexusOutcome,
    ) -> Result<(), HostError> {
        let inner = self.inner.clone();
        let ns = self.namespace.clone();
        let token = operation_token.to_string();
        let done = tokio::task::spawn_blocking(move || {
            inner
                .store
                .complete_nexus(&ns, &token, outcome, inner.now_ms())
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        if !done {
            return Err(HostError::UnknownNexusOperation(
                operation_token.to_string(),
            ));
        }
        self.inner.bump();
        Ok(())
    }

    /// Every workflow of this namespace with its current run, in workflow id order.
    pub fn list_workflows(&self) -> Result<Vec<WorkflowDescription>, HostError> {
        self.inner
            .store
            .list(&self.namespace)?
            .iter()
            .map(|(_, run, rec)| {
                let mut d = WorkflowDescription::new(*run, rec);
                d.component_digest = self.inner.store.component_of(*run)?;
                Ok(d)
            })
            .collect()
    }

    /// Open workflows and stored bytes of the namespace.
    pub fn usage(&self) -> Result<NamespaceUsage, HostError> {
        Ok(self.inner.store.usage(&self.namespace)?)
    }

    /// Starts workflow `id` of `workflow_type` with a JSON input. Fails if a workflow with
    /// this id is running in the namespace, the type is unknown, the input is above the payload
    /// limit or a namespace quota is reached.
    pub async fn start_workflow(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
    ) -> Result<RunId, HostError> {
        self.start_workflow_payload(workflow_type, id, Payload::json(&input))
            .await
    }

    /// Like [`Client::start_workflow`] with an already encoded payload.
    pub async fn start_workflow_payload(
        &self,
        workflow_type: &str,
        id: &str,
        input: Payload,
    ) -> Result<RunId, HostError> {
        self.start(workflow_type, id, input, &StartOptions::default(), None)
            .await
            .map(|(run, _)| run)
    }

    /// Waits until workflow `id`'s current run closes and returns how it ended.
    pub async fn result(&self, id: &str) -> Result<WorkflowOutcome, HostError> {
        let mut rx = self.inner.wake.closed.subscribe();
        let id = WorkflowId(id.to_string());
        // Registered for the current run once it is known; dropped (and forgotten) on any
        // way out.
        let mut closing: Option<RunClosing<'_>> = None;
        loop {
            // Enabled before the run is read: a close committed after the read wakes it.
            let notify = closing.as_ref().map(|c| c.notify.clone());
            let mut notified = notify.as_ref().map(|n| Box::pin(n.notified()));
            if let Some(f) = notified.as_mut() {
                f.as_mut().enable();
            }
            rx.borrow_and_update();
            let (run, rec) = self.inner.store.current_run(&self.namespace, &id)?;
            if rec.status.is_closed() {
                let (_, history) = self.inner.store.load_run(run)?;
                return Ok(outcome_of(&history));
            }
            match notified {
                Some(notified) if closing.as_ref().is_some_and(|c| c.run == run) => {
                    // Wake on the commit that closes this run (or one whose effects are not
                    // known); the deadline guards against a missed notification.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        tokio::select! {
                            _ = notified => {}
                            _ = rx.changed() => {}
                        }
                    })
                    .await;
                }
                // First read, or the workflow moved to a new run: register for this one and
                // read again.
                _ => closing = Some(self.inner.wake.run_closing(run)),
            }
        }
    }

    /// The status of workflow `id`'s current run, with the chain of runs before it.
    pub fn describe(&self, id: &str) -> Result<WorkflowDescription, HostError> {
        let (run, rec) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        let mut d =
            WorkflowDescription::new(run, &rec).with_chain(&rec, |r| self.inner.store.run(r).ok());
        d.component_digest = self.inner.store.component_of(run)?;
        Ok(d)
    }

    /// Starts workflow `id` with `options` (timeouts, retry policy, id reuse policy).
    pub async fn start_workflow_with(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
        options: &StartOptions,
    ) -> Result<RunId, HostError> {
        self.start(workflow_type, id, Payload::json(&input), options, None)
            .await
            .map(|(run, _)| run)
    }

    /// Signal-with-start: sends signal `signal_name` to workflow `id` if it is running,
    /// otherwise starts it (with `input` and `options`) with the signal recorded right after
    /// WorkflowExecutionStarted. Returns the run that received the signal.
    pub async fn signal_with_start(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
        signal_name: &str,
        signal_input: serde_json::Value,
        options: &StartOptions,
    ) -> Result<RunId, HostError> {
        check_name("signal name", signal_name)?;
        let signal = Payload::json(&signal_input);
        self.check_payload(&format!("input of signal {signal_name}"), &signal)?;
        self.start(
            workflow_type,
            id,
            Payload::json(&input),
            options,
            Some((signal_name.to_string(), signal)),
        )
        .await
        .map(|(run, _)| run)
    }

    pub(super) fn check_payload(&self, what: &str, p: &Payload) -> Result<(), HostError> {
        let limit = self.rt().limits.max_payload_bytes;
        if p.len() > limit {
            return Err(HostError::PayloadTooLarge {
                what: what.to_string(),
                size: p.len(),
                limit,
            });
        }
        Ok(())
    }

    async fn start(
        &self,
        workflow_type: &str,
        id: &str,
        input: Payload,
        options: &StartOptions,
        signal: Option<(String, Payload)>,
    ) -> Result<(RunId, bool), HostError> {
        let components = self.rt().components();
        let Some(newest) = components.newest(workflow_type) else {
            return Err(HostError::UnknownWorkflowType(
                workflow_type.to_string(),
                components.types().join(", "),
            ));
        };
        if id.is_empty() || id.len() > 1000 {
            return Err(HostError::InvalidArgument(format!(
                "workflow id must have 1 to 1000 bytes, got {}",
                id.len()
            )));
        }
        self.check_payload(&format!("input of workflow {id}"), &input)?;
        let req = StartRequest {
            namespace: Some(self.namespace.clone()),
            workflow_id: WorkflowId(id.to_string()),
            workflow_type: workflow_type.to_string(),
            input,
            random_seed: rand::random(),
            options: options.workflow_options()?,
            id_reuse_policy: options.id_reuse_policy,
            signal,
            component: Some(newest.digest().to_string()),
        };
        let (inner, ns) = (self.inner.clone(), self.namespace.clone());
        let quota = self.rt().start_quota;
        let started = tokio::task::spawn_blocking(move || {
            let ns = req.namespace.clone().unwrap_or(ns);
            let _turn = inner.store.lane(&ns);
            // Eager start: the first Workflow Task runs at once and commits with the start.
            let now = inner.now_ms();
            inner
                .store
                .start_workflow_then(&req, now, quota, None, |run, loaded| {
                    inner.run_inline(&ns, run, loaded)
                })
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))?;
        if let Err(StoreError::QuotaExceeded { .. }) = &started {
            crate::telemetry::quota_refused(&self.namespace);
        }
        let (started, task) = started?;
        if task.flatten().is_none() {
            // The loops take it from here.
            self.inner.bump();
        }
        Ok(started)
    }

    /// Sends signal `name` with `input` to workflow `id`'s running run
    /// (WorkflowExecutionSignaled). The workflow receives signals in the order recorded.
    pub async fn signal(
        &self,
        id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<(), HostError> {
        check_name("signal name", name)?;
        let input = Payload::json(&input);
        self.check_payload(&format!("input of signal {name}"), &input)?;
        let run = self.running_run(id)?;
        let name = name.to_string();
        self.blocking(move |store, now| store.signal(run, &name, input, now))
            .await
    }

    /// Requests cancellation of workflow `id` (WorkflowExecutionCancelRequested). The workflow
    /// sees the request, may clean up, and ends as canceled when it returns a `Canceled`
    /// error. A repeated request changes nothing.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<(), HostError> {
        let run = self.running_run(id)?;
        let reason = reason.to_string();
        self.blocking(move |store, now| store.request_cancel(run, &reason, now))
            .await
    }

    /// Terminates workflow `id` at once (WorkflowExecutionTerminated) without running its
    /// code; its pending activities, timers and Nexus operations are dropped and its children
    /// are handled as their parent close policy says.
    pub async fn terminate(&self, id: &str, reason: &str) -> Result<(), HostError> {
        let run = self.running_run(id)?;
        let reason = reason.to_string();
        self.blocking(move |store, now| store.terminate(run, &reason, now).map(|_| ()))
            .await
    }

    /// Resets workflow `id` (Temporal's ResetWorkflowExecution) and returns the new run: its
    /// current run is terminated if open, and a new run of the same id gets the history up to
    /// the Workflow Task completed at `options.event_id` (or the last good task), then runs that
    /// task again on the current code. This is how to recover runs from a bad deployment.
    /// Signals recorded after the point are delivered again unless `reapply_signals` is false.
    /// A point that is not a WorkflowTaskCompleted, or with a pending child workflow or Nexus
    /// operation, is refused ([`StoreError::ResetRefused`]) and nothing changes.
    ///
    /// ```no_run
    /// # async fn f(client: weft::Client) -> Result<(), weft::HostError> {
    /// let new_run = client.reset("order-1", weft::ResetOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self, id: &str, options: ResetOptions) -> Result<RunId, HostError> {
        let req = ResetRequest {
            namespace: self.namespace.clone(),
            workflow_id: WorkflowId(id.to_string()),
            event_id: options.event_id.map(EventId),
            reapply_signals: options.reapply_signals,
            reason: options.reason,
        };
        self.blocking(move |store, now| store.reset(&req, now))
            .await
    }

    /// Runs query `name` with `input` against workflow `id`'s current run and returns the
    /// handler's answer. Nothing is recorded. Closed runs can be queried too.
    pub async fn query(
        &self,
        id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        check_name("query name", name)?;
        let (run, _) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        let query = QueryRequest {
            name: name.to_string(),
            input: Payload::json(&input),
        };
        let inner = self.inner.clone();
        let ns = self.namespace.clone();
        let answer = tokio::task::spawn_blocking(move || {
            inner.with_env(&ns, |env| run_query(env, run, query))
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        match answer {
            Ok(Ok(p)) => Ok(p.to_json()),
            Ok(Err(f)) => Err(HostError::QueryFailed(f.to_string())),
            Err(msg) => Err(HostError::QueryFailed(msg)),
        }
    }

    /// Sends update `name` with `input` to workflow `id` and waits for its result. The
    /// workflow's validator may reject it (nothing is recorded); an accepted update records
    /// WorkflowExecutionUpdateAccepted and, when its handler returns,
    /// WorkflowExecutionUpdateCompleted. The update gets a fresh id.
    pub async fn update(
        &self,
        id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        let update_id = RunId::random().to_string();
        self.update_with_id(id, &update_id, name, input).await
    }

    /// [`Client::update`] with the caller's update id: a repeated request with the same id
    /// (for example after a crash) is the same update and is not applied twice.
    pub async fn update_with_id(
        &self,
        id: &str,
        update_id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        check_name("update name", name)?;
        check_name("update id", update_id)?;
        let input = Payload::json(&input);
        self.check_payload(&format!("input of update {name}"), &input)?;
        let mut failures = 0u32;
        let run = loop {
            let run = self.running_run(id)?;
            if self.find_update(run, update_id)?.0 {
                break run; // accepted before: wait for it
            }
            let guard = RunGuard::acquire(&self.inner, run).await;
            let inner = self.inner.clone();
            let ns = self.namespace.clone();
            let update = UpdateRequest {
                id: update_id.to_string(),
                name: name.to_string(),
                input: input.clone(),
            };
            let r = tokio::task::spawn_blocking(move || {
                inner.with_env(&ns, |env| run_update_task(env, run, update))
            })
            .await
            .map_err(|e| HostError::Engine(e.to_string()))?;
            drop(guard);
            let (outcome, state) = r?;
            if let TaskOutcome::Completed(fx) = &outcome {
                self.inner.apply(fx);
            }
            match (outcome, state) {
                (_, UpdateState::Rejected(f)) => return Err(HostError::UpdateRejected(f)),
                // The task failed before the update was validated, or its handler failed (a
                // panic): as in Temporal the update stays pending and is delivered again with
                // the next attempt, after the task's backoff, until the code is fixed. The
                // caller keeps waiting (bound it with a timeout of your own).
                (
                    TaskOutcome::Failed { message, .. },
                    UpdateState::Pending | UpdateState::Accepted,
                ) => {
                    failures += 1;
                    let delay = self.rt().limits.workflow_task_backoff(failures + 1);
                    warn!(
                        workflow_id = id,
                        update_id,
                        %message,
                        retry_in = ?delay,
                        "the Workflow Task delivering an update failed; the update is delivered again"
                    );
                    tokio::time::sleep(delay).await;
                }
                (TaskOutcome::Failed { message, .. }, _) => {
                    return Err(HostError::WorkflowTaskFailed(message));
                }
                (TaskOutcome::Terminated(reason), _) => {
                    return Err(HostError::WorkflowTaskFailed(reason));
                }
                (TaskOutcome::Completed(_), UpdateState::Accepted) => break run,
                // The history changed, or the run closed or continued before it could take
                // the update: look again.
                _ => {}
            }
        };
        self.wait_update(run, update_id).await
    }

    /// Waits for the outcome of update `update_id` of workflow `id`'s current run, for
    /// example after the caller of [`Client::update_with_id`] was restarted.
    pub async fn update_result(
        &self,
        id: &str,
        update_id: &str,
    ) -> Result<serde_json::Value, HostError> {
        let (run, _) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        if !self.find_update(run, update_id)?.0 {
            return Err(HostError::InvalidArgument(format!(
                "workflow {id} has no accepted update with id '{update_id}'"
            )));
        }
        self.wait_update(run, update_id).await
    }

    /// (accepted, completed outcome) of update `update_id` in `run`'s history.
    fn find_update(
        &self,
        run: RunId,
        update_id: &str,
    ) -> Result<(bool, Option<Result<Payload, Failure>>), HostError> {
        let (_, history) = self.inner.store.load_run(run)?;
        let mut accepted = false;
        for e in &history {
            match &e.kind {
                EventKind::WorkflowExecutionUpdateAccepted { update_id: u, .. }
                    if u == update_id =>
                {
                    accepted = true;
                }
                EventKind::WorkflowExecutionUpdateCompleted {
                    update_id: u,
                    result,
                    failure,
                } if u == update_id => {
                    let outcome = match failure {
                        Some(f) => Err(f.clone()),
                        None => Ok(result.clone().unwrap_or_default()),
                    };
                    return Ok((true, Some(outcome)));
                }
                _ => {}
            }
        }
        Ok((accepted, None))
    }

    async fn wait_update(
        &self,
        run: RunId,
        update_id: &str,
    ) -> Result<serde_json::Value, HostError> {
        let mut rx = self.inner.wake.any.subscribe();
        let mut seen = 0;
        loop {
            rx.borrow_and_update();
            // Wake-ups come with every commit of the host: read the history only when this
            // run's grew.
            let rec = self.inner.store.run(run)?;
            if rec.next_event_id != seen {
                seen = rec.next_event_id;
                match self.find_update(run, update_id)? {
                    (_, Some(Ok(p))) => return Ok(p.to_json()),
                    (_, Some(Err(f))) => return Err(HostError::UpdateFailed(f)),
                    _ => {}
                }
            }
            if rec.status.is_closed() {
                return Err(HostError::UpdateFailed(Failure::new(
                    "WorkflowClosed",
                    format!(
                        "the run closed ({:?}) before update '{update_id}' completed",
                        rec.status
                    ),
                )));
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
        }
    }

    /// The open current run of workflow `id`.
    fn running_run(&self, id: &str) -> Result<RunId, HostError> {
        let wid = WorkflowId(id.to_string());
        let (run, rec) = self.inner.store.current_run(&self.namespace, &wid)?;
        if rec.status.is_closed() {
            return Err(StoreError::NotRunning(wid, run, rec.status).into());
        }
        Ok(run)
    }

    /// Runs `f` on a blocking thread in the namespace's lane, with the clock's time read
    /// there (after waiting for the lane), then wakes the loops.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, u64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, HostError> {
        let (inner, ns) = (self.inner.clone(), self.namespace.clone());
        let r = tokio::task::spawn_blocking(move || {
            let _turn = inner.store.lane(&ns);
            f(&inner.store, inner.now_ms())
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        self.inner.bump();
        Ok(r)
    }

    /// The history of workflow `id`'s current run.
    pub fn history(&self, id: &str) -> Result<Vec<Event>, HostError> {
        let (run, _) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        Ok(self.inner.store.load_run(run)?.1)
    }
}

pub(super) fn check_name(what: &str, name: &str) -> Result<(), HostError> {
    if name.is_empty() || name.len() > 1000 {
        return Err(HostError::InvalidArgument(format!(
            "{what} must have 1 to 1000 bytes, got {}",
            name.len()
        )));
    }
    Ok(())
}
