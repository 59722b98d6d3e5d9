//! Activities and Nexus operations run by remote workers
//! ([`crate::NamespaceBuilder::remote_activities`]).
//!
//! Activities: a worker in any process or language polls a task queue of its namespace
//! ([`Client::poll_activity_task`]), heartbeats, and completes or fails the attempt by its task
//! token. The lease, timeouts and retries are the store's, exactly as for an attempt run
//! in-process: a worker that dies loses its lease when the attempt's start-to-close (or
//! heartbeat) timeout passes, and the next poll of the queue hands the task out again.
//!
//! Nexus: the host's Nexus queue worker leases a remote namespace's start and cancel
//! deliveries as it does in-process ones, and posts them to [`NexusMail`] by endpoint, where
//! [`Client::poll_nexus_task`] takes them; [`Client::respond_nexus_task`] records what the
//! worker's handler did. A delivery nobody answers within the Nexus lease is leased and posted
//! again as the next attempt (the mailbox keeps only the newest of an operation), and the
//! request id stays the same, so a handler can start idempotently.

use super::HostError;
use super::client::{Client, check_name};
use crate::history::{Failure, Payload};
use crate::ids::Namespace;
use crate::ids::{EventId, RunId};
use crate::store::{
    HeartbeatAck, LeasedActivity, LeasedNexus, NexusOutcome, NexusReport, NexusTaskKind, queue_key,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::info;

/// An activity attempt handed to a remote worker by [`Client::poll_activity_task`].
///
/// ```no_run
/// # async fn work(client: weft::Client) -> Result<(), weft::HostError> {
/// use std::time::Duration;
/// use weft::Payload;
/// while let Some(task) = client.poll_activity_task("default", Duration::from_secs(20)).await? {
///     let name = task.input.to_json()["name"].as_str().unwrap_or("?").to_string();
///     let greeting = serde_json::json!(format!("hello, {name}"));
///     client.complete_activity(&task.task_token, Payload::json(&greeting)).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Serialize)]
pub struct ActivityTask {
    /// Names this attempt in [`Client::heartbeat_activity`], [`Client::complete_activity`]
    /// and [`Client::fail_activity`].
    pub task_token: String,
    /// The workflow that scheduled the activity.
    pub workflow_id: String,
    /// Its run.
    pub run_id: String,
    /// The ActivityTaskScheduled event's id.
    pub activity_id: u64,
    /// Activity type.
    pub activity_type: String,
    /// Task queue it was scheduled on.
    pub task_queue: String,
    /// Input (JSON bytes as the workflow sent them).
    pub input: Payload,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Details of the last heartbeat of an earlier attempt, to resume from.
    pub heartbeat_details: Option<Payload>,
    /// The attempt's start-to-close timeout: its lease ends this long after the poll.
    pub start_to_close_timeout_ms: u64,
    /// Heartbeat timeout: without a heartbeat for this long the attempt times out.
    pub heartbeat_timeout_ms: Option<u64>,
}

/// What a task token names: an attempt of an activity of a run, or a delivery of a Nexus
/// task (`kind`: `start` or `cancel`).
struct Token {
    run: RunId,
    scheduled: EventId,
    attempt: u32,
    kind: Option<NexusTaskKind>,
}

impl Token {
    fn encode(run: RunId, scheduled: EventId, attempt: u32) -> String {
        format!("{run}.{}.{attempt}", scheduled.0)
    }

    fn encode_nexus(run: RunId, scheduled: EventId, attempt: u32, kind: NexusTaskKind) -> String {
        let kind = match kind {
            NexusTaskKind::Start => "start",
            NexusTaskKind::Cancel => "cancel",
        };
        format!("{run}.{}.{attempt}.{kind}", scheduled.0)
    }

    fn decode(token: &str) -> Option<Token> {
        let mut parts = token.split('.');
        let run = RunId::parse(parts.next()?)?;
        let scheduled = EventId(parts.next()?.parse().ok()?);
        let attempt = parts.next()?.parse().ok()?;
        let kind = match parts.next() {
            None => None,
            Some("start") => Some(NexusTaskKind::Start),
            Some("cancel") => Some(NexusTaskKind::Cancel),
            Some(_) => return None,
        };
        parts.next().is_none().then_some(Token {
            run,
            scheduled,
            attempt,
            kind,
        })
    }
}

/// A Nexus task delivery handed to a remote worker by [`Client::poll_nexus_task`]: start the
/// operation, or cancel the started one.
#[derive(Clone, Debug, Serialize)]
pub struct NexusTask {
    /// Names this delivery in [`Client::respond_nexus_task`].
    pub task_token: String,
    /// `start` or `cancel`.
    pub kind: &'static str,
    /// The endpoint polled.
    pub endpoint: String,
    /// Service.
    pub service: String,
    /// Operation.
    pub operation: String,
    /// Input of the operation (a start).
    pub input: Payload,
    /// The same for every delivery of this operation: start at most once per request id.
    pub request_id: String,
    /// For a cancel: the token the start returned.
    pub operation_token: Option<String>,
    /// Delivery attempt, from 1.
    pub attempt: u32,
    /// The workflow that called the operation.
    pub caller_workflow_id: String,
}

/// What a remote worker's Nexus handler did with a delivery ([`Client::respond_nexus_task`]).
#[derive(Clone, Debug, PartialEq)]
pub enum NexusTaskResult {
    /// A start finished synchronously with this result.
    Completed(Payload),
    /// A start began an asynchronous operation that completes later under this token
    /// ([`Client::complete_nexus_operation`]).
    Started {
        /// The handler's token, unique in the namespace.
        operation_token: String,
    },
    /// The handler failed: with `retryable` the delivery is made again later, otherwise (a
    /// start) the operation fails.
    Failed {
        /// What went wrong.
        failure: Failure,
        /// Deliver again.
        retryable: bool,
    },
    /// A cancel was accepted (the operation then ends through its completion).
    CancelAccepted,
}

/// The deliveries waiting at one endpoint, by operation (caller run, scheduled event).
type Mailbox = BTreeMap<(RunId, EventId), LeasedNexus>;

/// Nexus deliveries waiting for remote workers, by namespace and endpoint; the newest delivery
/// of each operation only.
#[derive(Default)]
pub(crate) struct NexusMail {
    waiting: Mutex<HashMap<(Namespace, String), Mailbox>>,
    posted: Notify,
}

impl NexusMail {
    /// Makes `task` available to pollers of its endpoint, replacing an earlier delivery of the
    /// same operation.
    pub(crate) fn post(&self, task: LeasedNexus) {
        let key = (task.namespace.clone(), task.task.endpoint.clone());
        self.waiting
            .lock()
            .expect("nexus mail lock")
            .entry(key)
            .or_default()
            .insert((task.run, task.scheduled_event_id), task);
        self.posted.notify_waiters();
    }

    fn take(&self, namespace: &Namespace, endpoint: &str) -> Option<LeasedNexus> {
        let mut waiting = self.waiting.lock().expect("nexus mail lock");
        let key = (namespace.clone(), endpoint.to_string());
        let tasks = waiting.get_mut(&key)?;
        let task = tasks.pop_first().map(|(_, t)| t);
        if tasks.is_empty() {
            waiting.remove(&key);
        }
        task
    }
}

impl Client {
    /// Waits up to `wait` for an activity task of task queue `task_queue` of this namespace
    /// and leases it to the caller; `None` if none came. Meant for namespaces whose activities
    /// are remote: in a namespace with in-process workers they may take the task first.
    pub async fn poll_activity_task(
        &self,
        task_queue: &str,
        wait: Duration,
    ) -> Result<Option<ActivityTask>, HostError> {
        check_name("task queue", task_queue)?;
        let qk = queue_key(&self.namespace, task_queue);
        let wakeup = self.inner.wake.activity_queue(&qk);
        let until = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the lease, so a task queued meanwhile is not missed.
            let woken = wakeup.notified();
            let (inner, ns, qk2) = (self.inner.clone(), self.namespace.clone(), qk.clone());
            let (leased, fx) = tokio::task::spawn_blocking(move || {
                let _turn = inner.store.lane(&ns);
                inner.store.lease_activities(&qk2, inner.now_ms(), 1)
            })
            .await
            .map_err(|e| HostError::Engine(e.to_string()))??;
            if fx != Default::default() {
                self.inner.apply(&fx);
            }
            if let Some(leased) = leased.into_iter().next() {
                return Ok(Some(handed_out(leased)));
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return Ok(None);
            }
            // A task not yet due (a retry's backoff) or a lease that expires wakes nobody:
            // look again at least every second.
            let next = self
                .inner
                .store
                .next_activity(&qk)
                .ok()
                .flatten()
                .map(|due| Duration::from_millis(due.saturating_sub(self.inner.now_ms())));
            let nap = next
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1))
                .min(until - now);
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// Records a heartbeat of the attempt `task_token` names, with `details` kept for later
    /// attempts; its lease moves to the next heartbeat deadline. Returns whether cancellation
    /// of the activity was requested (the worker then stops and fails the attempt with error
    /// type `Canceled`). [`HostError::UnknownActivityTask`] when the attempt is no longer
    /// current.
    pub async fn heartbeat_activity(
        &self,
        task_token: &str,
        details: Option<Payload>,
    ) -> Result<bool, HostError> {
        let t = self.token(task_token)?;
        if let Some(d) = &details {
            self.check_payload("heartbeat details", d)?;
        }
        let inner = self.inner.clone();
        let ack = tokio::task::spawn_blocking(move || {
            inner
                .store
                .heartbeat(t.run, t.scheduled, t.attempt, details, inner.now_ms())
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        match ack {
            HeartbeatAck::Continue => Ok(false),
            HeartbeatAck::CancelRequested => Ok(true),
            HeartbeatAck::Gone => Err(HostError::UnknownActivityTask(task_token.to_string())),
        }
    }

    /// Completes the attempt `task_token` names with `result`: the workflow's history records
    /// ActivityTaskCompleted. [`HostError::UnknownActivityTask`] when the attempt is no longer
    /// current (its outcome is then not recorded).
    pub async fn complete_activity(
        &self,
        task_token: &str,
        result: Payload,
    ) -> Result<(), HostError> {
        self.check_payload("activity result", &result)?;
        self.report(task_token, Ok(result)).await
    }

    /// Fails the attempt `task_token` names: retried by the activity's retry policy unless
    /// `failure` is non-retryable or attempts run out; error type `Canceled` after a cancel
    /// request records the activity canceled. [`HostError::UnknownActivityTask`] when the
    /// attempt is no longer current.
    pub async fn fail_activity(&self, task_token: &str, failure: Failure) -> Result<(), HostError> {
        self.report(task_token, Err(failure)).await
    }

    /// Waits up to `wait` for a Nexus task (a start or a cancel) of endpoint `endpoint` of
    /// this namespace and hands it to the caller; `None` if none came. Only operations of
    /// namespaces with remote workers that have no in-process handler come here.
    pub async fn poll_nexus_task(
        &self,
        endpoint: &str,
        wait: Duration,
    ) -> Result<Option<NexusTask>, HostError> {
        check_name("Nexus endpoint", endpoint)?;
        let until = tokio::time::Instant::now() + wait;
        loop {
            let posted = self.inner.nexus_mail.posted.notified();
            if let Some(leased) = self.inner.nexus_mail.take(&self.namespace, endpoint) {
                return Ok(Some(nexus_handed_out(leased)));
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return Ok(None);
            }
            tokio::select! {
                _ = posted => {}
                _ = tokio::time::sleep((until - now).min(Duration::from_secs(1))) => {}
            }
        }
    }

    /// Records what the remote handler of the Nexus delivery `task_token` names did: the
    /// caller's history records the operation's completion, start, failure or (after a
    /// retryable failure, later) the next delivery. [`HostError::UnknownNexusTask`] when the
    /// delivery is no longer current (delivered again meanwhile, or the operation ended); an
    /// answer that does not fit the delivery (a start answered as a cancel) is refused.
    pub async fn respond_nexus_task(
        &self,
        task_token: &str,
        result: NexusTaskResult,
    ) -> Result<(), HostError> {
        let unknown = || HostError::UnknownNexusTask(task_token.to_string());
        let t = match Token::decode(task_token) {
            Some(t @ Token { kind: Some(_), .. }) => t,
            _ => return Err(unknown()),
        };
        match self.inner.store.find_run(t.run)? {
            Some(rec) if rec.namespace == self.namespace => {}
            _ => return Err(unknown()),
        }
        let kind = t.kind.expect("checked above");
        let report = match (kind, result) {
            (NexusTaskKind::Start, NexusTaskResult::Completed(p)) => {
                self.check_payload("Nexus operation result", &p)?;
                NexusReport::Finished(NexusOutcome::Completed(p))
            }
            (NexusTaskKind::Start, NexusTaskResult::Started { operation_token }) => {
                check_name("operation token", &operation_token)?;
                NexusReport::Started { operation_token }
            }
            (NexusTaskKind::Cancel, NexusTaskResult::CancelAccepted) => {
                NexusReport::CancelDelivered
            }
            (
                _,
                NexusTaskResult::Failed {
                    failure,
                    retryable: true,
                },
            ) => NexusReport::Retry {
                failure,
                retry_at_ms: self.inner.now_ms()
                    + super::loops::nexus::nexus_retry_delay(t.attempt),
            },
            (NexusTaskKind::Start, NexusTaskResult::Failed { failure, .. }) => {
                NexusReport::Finished(NexusOutcome::Failed(failure))
            }
            // A cancel the handler refuses for good: the operation goes on; it ends through
            // its own completion.
            (NexusTaskKind::Cancel, NexusTaskResult::Failed { .. }) => NexusReport::CancelDelivered,
            (NexusTaskKind::Start, NexusTaskResult::CancelAccepted) => {
                return Err(HostError::InvalidArgument(
                    "this delivery is a start: answer it with a result, a start or a failure"
                        .into(),
                ));
            }
            (NexusTaskKind::Cancel, _) => {
                return Err(HostError::InvalidArgument(
                    "this delivery is a cancel: answer it with cancel-accepted or a failure".into(),
                ));
            }
        };
        let (inner, ns) = (self.inner.clone(), self.namespace.clone());
        let fx = tokio::task::spawn_blocking(move || {
            let _turn = inner.store.lane(&ns);
            inner
                .store
                .report_nexus(t.run, t.scheduled, t.attempt, report, inner.now_ms())
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        match fx {
            Some(fx) => {
                self.inner.apply(&fx);
                Ok(())
            }
            None => Err(unknown()),
        }
    }

    async fn report(
        &self,
        task_token: &str,
        outcome: Result<Payload, Failure>,
    ) -> Result<(), HostError> {
        let t = self.token(task_token)?;
        let label = crate::telemetry::attempt_outcome(&outcome).to_string();
        let (inner, ns) = (self.inner.clone(), self.namespace.clone());
        let fx = tokio::task::spawn_blocking(move || {
            let _turn = inner.store.lane(&ns);
            inner
                .store
                .report_activity(t.run, t.scheduled, t.attempt, outcome, inner.now_ms())
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        match fx {
            Some(fx) => {
                crate::telemetry::activity_attempt(&self.namespace, &label, true, None);
                self.inner.apply(&fx);
                Ok(())
            }
            None => {
                info!(
                    task_token,
                    "a remote attempt's outcome came after it ended; dropped"
                );
                Err(HostError::UnknownActivityTask(task_token.to_string()))
            }
        }
    }

    /// The attempt `task_token` names, if it is well formed and its run is of this
    /// namespace; otherwise the token is unknown here (nothing about other namespaces leaks).
    fn token(&self, task_token: &str) -> Result<Token, HostError> {
        let unknown = || HostError::UnknownActivityTask(task_token.to_string());
        let t = Token::decode(task_token)
            .filter(|t| t.kind.is_none())
            .ok_or_else(unknown)?;
        match self.inner.store.find_run(t.run)? {
            Some(rec) if rec.namespace == self.namespace => Ok(t),
            _ => Err(unknown()),
        }
    }
}

fn handed_out(leased: LeasedActivity) -> ActivityTask {
    let LeasedActivity {
        run,
        scheduled_event_id,
        task,
        ..
    } = leased;
    ActivityTask {
        task_token: Token::encode(run, scheduled_event_id, task.attempt),
        workflow_id: task.workflow_id.to_string(),
        run_id: run.to_string(),
        activity_id: scheduled_event_id.0,
        activity_type: task.activity_type,
        task_queue: task.task_queue,
        input: task.input,
        attempt: task.attempt,
        heartbeat_details: task.heartbeat_details,
        start_to_close_timeout_ms: task.start_to_close_timeout_ms,
        heartbeat_timeout_ms: task.heartbeat_timeout_ms,
    }
}

fn nexus_handed_out(leased: LeasedNexus) -> NexusTask {
    let LeasedNexus {
        run,
        scheduled_event_id,
        kind,
        task,
        ..
    } = leased;
    NexusTask {
        task_token: Token::encode_nexus(run, scheduled_event_id, task.attempt, kind),
        kind: match kind {
            NexusTaskKind::Start => "start",
            NexusTaskKind::Cancel => "cancel",
        },
        endpoint: task.endpoint,
        service: task.service,
        operation: task.operation,
        input: task.input,
        request_id: task.request_id,
        operation_token: task.operation_token,
        attempt: task.attempt,
        caller_workflow_id: task.workflow_id.to_string(),
    }
}
