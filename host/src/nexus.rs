//! Nexus operations: handlers registered per namespace under (endpoint, service, operation),
//! started and canceled by Nexus tasks from the persisted queue.
//!
//! Every delivery of a start carries the request id recorded in NexusOperationScheduled, so a
//! handler seeing the same request id again (after a crash or a retry) must return the same
//! outcome without starting twice. The built-in workflow operation does this by deriving the
//! workflow id from the request id. A synchronous handler returns its result from start; an
//! asynchronous one returns an operation token and is completed later through
//! `Client::complete_nexus_operation` (or, for the workflow operation, when the workflow
//! closes). This module holds the handler types; `api` runs them and `store` records them.

use crate::history::{Failure, Payload};
use crate::ids::{Namespace, WorkflowId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a Nexus handler knows about the request it serves.
///
/// ```no_run
/// use weft::{HostBuilder, NexusContext, NexusError, NexusStart};
/// # async fn run() -> Result<(), weft::HostError> {
/// let host = HostBuilder::new("shop.redb")
///     .namespace("default", |ns| {
///         ns.workflow_file("checkout", "checkout.wasm").nexus_operation(
///             "payments", "fx", "quote",
///             |ctx: NexusContext, cents: u64| async move {
///                 // Every delivery of this start has the same request id: de-duplicate on it.
///                 println!("{} from {} (attempt {})", ctx.request_id, ctx.caller_workflow_id, ctx.attempt);
///                 Ok::<_, NexusError>(NexusStart::Sync(cents * 108 / 100))
///             },
///         )
///     })
///     .start()
///     .await?;
/// # drop(host);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NexusContext {
    /// Namespace of the caller (and of the handler).
    pub namespace: Namespace,
    /// The same for every delivery of this operation's start: de-duplicate on it.
    pub request_id: String,
    /// Endpoint.
    pub endpoint: String,
    /// Service.
    pub service: String,
    /// Operation.
    pub operation: String,
    /// The calling workflow.
    pub caller_workflow_id: WorkflowId,
    /// Delivery attempt, from 1.
    pub attempt: u32,
}

/// How a start went.
///
/// ```no_run
/// use weft::{HostBuilder, NexusContext, NexusError, NexusOutcome, NexusStart, Payload};
/// # async fn run() -> Result<(), weft::HostError> {
/// let host = HostBuilder::new("shop.redb")
///     .namespace("default", |ns| {
///         ns.workflow_file("checkout", "checkout.wasm").nexus_operation(
///             "payments", "charge", "run",
///             |ctx: NexusContext, _cents: u64| async move {
///                 // Started elsewhere; the caller waits until the token is completed.
///                 let operation_token = format!("charge-{}", ctx.request_id);
///                 Ok::<NexusStart<String>, NexusError>(NexusStart::Async { operation_token })
///             },
///         )
///     })
///     .start()
///     .await?;
/// let done = NexusOutcome::Completed(Payload::json(&serde_json::json!({"charge_id": "ch-42"})));
/// host.namespace("default")?.complete_nexus_operation("charge-<request id>", done).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum NexusStart<O> {
    /// A synchronous operation's result.
    Sync(O),
    /// An asynchronous operation started; it completes later under this token.
    Async {
        /// The handler's token, unique in the namespace.
        operation_token: String,
    },
}

/// A handler's error.
///
/// ```
/// use weft::NexusError;
/// let busy = NexusError::retryable("Unavailable", "the payment provider is down");
/// assert!(busy.retryable); // delivered again with backoff
/// let refused = NexusError::failed("CardDeclined", "insufficient funds");
/// assert!(!refused.retryable && refused.failure.non_retryable); // NexusOperationFailed
/// assert_eq!(refused.failure.to_string(), "CardDeclined: insufficient funds");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NexusError {
    /// What went wrong.
    pub failure: Failure,
    /// Retried with backoff (until the schedule-to-close timeout) when true; the operation
    /// fails at once when false.
    pub retryable: bool,
}

impl NexusError {
    /// A transient handler error: the task is delivered again later.
    pub fn retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        NexusError {
            failure: Failure::new(error_type, message),
            retryable: true,
        }
    }

    /// The operation failed: recorded as NexusOperationFailed.
    pub fn failed(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        NexusError {
            failure: Failure::new(error_type, message).non_retryable(),
            retryable: false,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type StartFn = Arc<
    dyn Fn(NexusContext, Payload) -> BoxFuture<Result<NexusStart<Payload>, NexusError>>
        + Send
        + Sync,
>;
pub(crate) type CancelFn =
    Arc<dyn Fn(NexusContext, String) -> BoxFuture<Result<(), NexusError>> + Send + Sync>;

/// A registered operation.
#[derive(Clone)]
pub(crate) enum NexusHandler {
    /// User code.
    Custom {
        start: StartFn,
        cancel: Option<CancelFn>,
    },
    /// Starts a workflow of this type in the namespace; completes when it closes.
    Workflow { workflow_type: String },
}

/// Wraps a typed start function.
pub(crate) fn erase_start<I, O, F, Fut>(f: F) -> StartFn
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(NexusContext, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<NexusStart<O>, NexusError>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |ctx: NexusContext, input: Payload| {
        let f = f.clone();
        Box::pin(async move {
            let input: I = serde_json::from_slice(&input.0).map_err(|e| {
                NexusError::failed(
                    "InvalidNexusInput",
                    format!("input of {}/{}: {e}", ctx.service, ctx.operation),
                )
            })?;
            match f(ctx, input).await? {
                NexusStart::Sync(o) => serde_json::to_vec(&o)
                    .map(|v| NexusStart::Sync(Payload(v)))
                    .map_err(|e| NexusError::failed("InvalidNexusResult", e.to_string())),
                NexusStart::Async { operation_token } => Ok(NexusStart::Async { operation_token }),
            }
        }) as BoxFuture<_>
    })
}

/// Wraps a cancel function.
pub(crate) fn erase_cancel<F, Fut>(f: F) -> CancelFn
where
    F: Fn(NexusContext, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), NexusError>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |ctx, token| {
        let f = f.clone();
        Box::pin(async move { f(ctx, token).await }) as BoxFuture<_>
    })
}
