//! Activities: native async Rust functions registered on the host, run as tokio tasks from the
//! persisted activity queue.
//!
//! Delivery is at-least-once: a task is leased for its start-to-close timeout (or until its
//! next heartbeat is due); if the worker dies the lease expires (or the next process releases
//! it at open) and the task runs again. Heartbeats carry details to the next attempt and tell
//! the attempt when the workflow asked to cancel it.
//! Each attempt gets an idempotency key (workflow id, activity id, attempt) to make side
//! effects safe to repeat. Retries follow the activity's retry policy and write no history
//! events; only the final outcome is recorded. This module does not touch workflow code.

use crate::history::{Failure, Payload};
use crate::ids::{ActivityId, EventId, Namespace, RunId, WorkflowId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// What a heartbeat learned, from the store.
pub(crate) type HeartbeatFn = Arc<
    dyn Fn(Option<Payload>) -> Pin<Box<dyn Future<Output = crate::store::HeartbeatAck> + Send>>
        + Send
        + Sync,
>;

/// What an activity knows about the call it serves.
///
/// ```no_run
/// use weft::{ActivityContext, ActivityError, HostBuilder};
/// # async fn run() -> Result<(), weft::HostError> {
/// let host = HostBuilder::new("import.redb")
///     .workflow_file("import", "import.wasm")
///     .activity("import_rows", |ctx: ActivityContext, rows: u64| async move {
///         let from: u64 = ctx.heartbeat_details().unwrap_or(0); // an earlier attempt's checkpoint
///         for row in from..rows {
///             // ... write `row`, keyed by `ctx.activity_key()` so a retry does not repeat it ...
///             ctx.heartbeat(&(row + 1)).await?; // an error once the workflow cancels
///         }
///         Ok::<_, ActivityError>(format!("{rows} rows in attempt {}", ctx.attempt))
///     })
///     .start()
///     .await?;
/// # drop(host);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ActivityContext {
    /// Namespace of the workflow.
    pub namespace: Namespace,
    /// Workflow that scheduled it.
    pub workflow_id: WorkflowId,
    /// Run that scheduled it.
    pub run_id: RunId,
    /// Its id within the run (the ActivityTaskScheduled event id).
    pub activity_id: ActivityId,
    /// Registered type.
    pub activity_type: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    details: Option<Payload>,
    cancel: watch::Receiver<bool>,
    beat: HeartbeatFn,
    last_beat: Arc<AtomicU64>,
}

impl std::fmt::Debug for ActivityContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivityContext")
            .field("namespace", &self.namespace)
            .field("workflow_id", &self.workflow_id)
            .field("run_id", &self.run_id)
            .field("activity_id", &self.activity_id)
            .field("activity_type", &self.activity_type)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl ActivityContext {
    /// A key that is the same for every delivery of this attempt and differs between
    /// attempts and activities: `<workflow id>/<run id>/<activity id>/<attempt>`.
    pub fn idempotency_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.workflow_id, self.run_id, self.activity_id, self.attempt
        )
    }

    /// A key that is the same for every attempt of this activity:
    /// `<workflow id>/<run id>/<activity id>`. Use it to make the activity's side effect
    /// happen once across retries.
    pub fn activity_key(&self) -> String {
        format!("{}/{}/{}", self.workflow_id, self.run_id, self.activity_id)
    }

    /// Records progress: `details` are kept durably and handed to the next attempt (see
    /// [`ActivityContext::heartbeat_details`]), and the attempt's heartbeat timeout starts
    /// again. Writes are throttled: the first heartbeat is recorded at once, later ones at
    /// most once per 0.8 of the heartbeat timeout (30 s without one), the latest details held
    /// back until then (a failed attempt records them before its failure); a held-back call
    /// returns at once. Returns [`ActivityError::canceled`] once the workflow asked to cancel the
    /// activity, or when this attempt is no longer current (it timed out): stop then, and
    /// return the error.
    pub async fn heartbeat<T: Serialize>(&self, details: &T) -> Result<(), ActivityError> {
        let payload = serde_json::to_vec(details).ok().map(Payload);
        self.last_beat
            .store(crate::workflow_task::now_ms(), Ordering::Relaxed);
        match (self.beat)(payload).await {
            crate::store::HeartbeatAck::Continue if !self.is_cancel_requested() => Ok(()),
            crate::store::HeartbeatAck::Gone => Err(ActivityError::canceled(
                "this attempt is no longer current (it timed out or the activity ended)",
            )),
            _ => Err(ActivityError::canceled(
                "the workflow canceled the activity",
            )),
        }
    }

    /// The details of the last heartbeat of an earlier attempt (or of this one), to resume
    /// from a checkpoint.
    pub fn heartbeat_details<T: DeserializeOwned>(&self) -> Option<T> {
        self.details
            .as_ref()
            .and_then(|d| serde_json::from_slice(&d.0).ok())
    }

    /// True once the workflow asked to cancel this activity.
    pub fn is_cancel_requested(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Completes when the workflow asks to cancel this activity.
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.clone();
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// An activity's error: a failure that is retried unless marked non-retryable.
///
/// ```
/// use weft::ActivityError;
/// let declined = ActivityError::non_retryable("CardDeclined", "insufficient funds");
/// assert!(declined.0.non_retryable); // the workflow sees the failure at once
/// assert_eq!(declined.to_string(), "CardDeclined: insufficient funds");
/// let flaky = ActivityError::retryable("ConnectionReset", "the database went away");
/// assert!(!flaky.0.non_retryable); // retried as the activity's retry policy says
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityError(pub Failure);

impl ActivityError {
    /// A retryable error of `error_type`.
    pub fn retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        ActivityError(Failure::new(error_type, message))
    }

    /// An error that must not be retried (a business decision such as a declined card).
    pub fn non_retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        ActivityError(Failure::new(error_type, message).non_retryable())
    }

    /// The activity stops because it was canceled. After a cancel request this ends the
    /// activity as canceled (ActivityTaskCanceled).
    pub fn canceled(message: impl Into<String>) -> Self {
        ActivityError(Failure::new("Canceled", message).non_retryable())
    }
}

impl std::fmt::Display for ActivityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ActivityError {}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Payload, Failure>> + Send>>;

/// A registered activity, type-erased to payloads.
pub(crate) type ActivityFn = Arc<dyn Fn(ActivityContext, Payload) -> BoxFuture + Send + Sync>;

/// Wraps a typed async function as a payload-to-payload activity.
pub(crate) fn erase<I, O, F, Fut>(f: F) -> ActivityFn
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, ActivityError>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |ctx: ActivityContext, input: Payload| {
        let f = f.clone();
        Box::pin(async move {
            let input: I = serde_json::from_slice(&input.0).map_err(|e| {
                Failure::new(
                    "InvalidActivityInput",
                    format!(
                        "input of activity {} does not parse: {e}",
                        ctx.activity_type
                    ),
                )
                .non_retryable()
            })?;
            let out = f(ctx, input).await.map_err(|e| e.0)?;
            serde_json::to_vec(&out).map(Payload).map_err(|e| {
                Failure::new(
                    "InvalidActivityResult",
                    format!("result does not serialize: {e}"),
                )
                .non_retryable()
            })
        }) as BoxFuture
    })
}

/// Builds the context of an attempt.
/// Everything an attempt's context is made of.
pub(crate) struct AttemptParts {
    pub namespace: Namespace,
    pub workflow_id: WorkflowId,
    pub run: RunId,
    pub scheduled: EventId,
    pub activity_type: String,
    pub attempt: u32,
    pub details: Option<Payload>,
    pub cancel: watch::Receiver<bool>,
    pub beat: HeartbeatFn,
    pub last_beat: Arc<AtomicU64>,
}

pub(crate) fn context(p: AttemptParts) -> ActivityContext {
    ActivityContext {
        namespace: p.namespace,
        workflow_id: p.workflow_id,
        run_id: p.run,
        activity_id: ActivityId(p.scheduled),
        activity_type: p.activity_type,
        attempt: p.attempt,
        details: p.details,
        cancel: p.cancel,
        beat: p.beat,
        last_beat: p.last_beat,
    }
}
