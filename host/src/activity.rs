//! Activities: native async Rust functions registered on the host, run as tokio tasks from the
//! persisted activity queue.
//!
//! Delivery is at-least-once: a task is leased for its start-to-close timeout; if the worker
//! dies the lease expires (or the next process releases it at open) and the task runs again.
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

/// What an activity knows about the call it serves.
#[derive(Clone, Debug)]
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
}

/// An activity's error: a failure that is retried unless marked non-retryable.
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
pub(crate) fn context(
    namespace: Namespace,
    workflow_id: WorkflowId,
    run: RunId,
    scheduled: EventId,
    activity_type: String,
    attempt: u32,
) -> ActivityContext {
    ActivityContext {
        namespace,
        workflow_id,
        run_id: run,
        activity_id: ActivityId(scheduled),
        activity_type,
        attempt,
    }
}
