//! Nexus worker routes: a remote worker polls an endpoint for start and cancel deliveries,
//! answers each by its task token (a synchronous result, an asynchronous start, a failure, a
//! cancel accepted), and later completes an asynchronous operation by its operation token.

use crate::api::workers::{PollRequest, WorkerFailure};
use crate::auth::Ns;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use weft::{Failure, NexusOutcome, NexusTaskResult, Payload};

/// A Nexus delivery handed to the worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct NexusTask {
    /// Names this delivery in `/v1/nexus-tasks/respond`.
    pub task_token: String,
    /// `start` or `cancel`.
    pub kind: String,
    /// The endpoint polled.
    pub endpoint: String,
    /// Service.
    pub service: String,
    /// Operation.
    pub operation: String,
    /// Input of the operation.
    pub input: Value,
    /// The same for every delivery of this operation: start at most once per request id.
    pub request_id: String,
    /// For a cancel: the token the start returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_token: Option<String>,
    /// Delivery attempt, from 1.
    pub attempt: u32,
    /// The workflow that called the operation.
    pub caller_workflow_id: String,
}

impl From<weft::NexusTask> for NexusTask {
    fn from(t: weft::NexusTask) -> NexusTask {
        NexusTask {
            task_token: t.task_token,
            kind: t.kind.to_string(),
            endpoint: t.endpoint,
            service: t.service,
            operation: t.operation,
            input: t.input.to_json(),
            request_id: t.request_id,
            operation_token: t.operation_token,
            attempt: t.attempt,
            caller_workflow_id: t.caller_workflow_id,
        }
    }
}

/// The answer to a delivery: exactly one of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NexusRespondRequest {
    /// The delivery's token.
    pub task_token: String,
    /// A start finished synchronously with this result.
    #[serde(default)]
    pub completed: Option<Value>,
    /// A start began an asynchronous operation under this token.
    #[serde(default)]
    pub started: Option<StartedOperation>,
    /// The handler failed (`non_retryable` false: delivered again later).
    #[serde(default)]
    pub failed: Option<WorkerFailure>,
    /// A cancel was accepted (`true`).
    #[serde(default)]
    pub cancel_accepted: Option<bool>,
}

/// An asynchronous operation started.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartedOperation {
    /// The handler's token, unique in the namespace.
    pub operation_token: String,
}

/// The completion of an asynchronous operation: exactly one of `result`, `failure`,
/// `canceled`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationCompleteRequest {
    /// The token the start returned.
    pub operation_token: String,
    /// It completed with this result.
    #[serde(default)]
    pub result: Option<Value>,
    /// It failed.
    #[serde(default)]
    pub failure: Option<WorkerFailure>,
    /// It was canceled (`true`).
    #[serde(default)]
    pub canceled: Option<bool>,
}

fn failure_of(f: WorkerFailure) -> (Failure, bool) {
    let retryable = !f.non_retryable.unwrap_or(false);
    let mut failure = Failure::new(f.error_type, f.message);
    if !retryable {
        failure = failure.non_retryable();
    }
    (failure, retryable)
}

fn exactly_one(what: &str, given: usize) -> Result<(), ApiError> {
    if given != 1 {
        return Err(ApiError::bad_request(format!(
            "give exactly one of {what} ({given} given)"
        )));
    }
    Ok(())
}

/// Waits for a Nexus delivery (start or cancel) of endpoint `endpoint` in the key's namespace.
#[utoipa::path(
    post,
    path = "/v1/nexus-endpoints/{endpoint}/tasks/poll",
    tag = "workers",
    params(("endpoint" = String, Path, description = "Nexus endpoint")),
    request_body = PollRequest,
    responses(
        (status = 200, description = "A delivery", body = NexusTask),
        (status = 204, description = "None came within the wait"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn poll(
    State(state): State<Arc<AppState>>,
    ns: Ns,
    Path(endpoint): Path<String>,
    ApiJson(req): ApiJson<PollRequest>,
) -> Result<Response, ApiError> {
    let wait = Duration::from_millis(req.wait_ms.unwrap_or(20_000).min(60_000));
    let task = tokio::select! {
        r = ns.client.poll_nexus_task(&endpoint, wait) => r?,
        _ = state.stopped() => None,
    };
    Ok(match task {
        Some(t) => Json(NexusTask::from(t)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Answers a Nexus delivery.
#[utoipa::path(
    post,
    path = "/v1/nexus-tasks/respond",
    tag = "workers",
    request_body = NexusRespondRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Bad request, or an answer that does not fit the delivery", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "The delivery is no longer current", body = ErrorBody),
        (status = 413, description = "Result too large", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn respond(
    ns: Ns,
    ApiJson(req): ApiJson<NexusRespondRequest>,
) -> Result<StatusCode, ApiError> {
    let given = usize::from(req.completed.is_some())
        + usize::from(req.started.is_some())
        + usize::from(req.failed.is_some())
        + usize::from(req.cancel_accepted == Some(true));
    exactly_one("completed, started, failed, cancel_accepted", given)?;
    let result = if let Some(v) = req.completed {
        NexusTaskResult::Completed(Payload::json(&v))
    } else if let Some(s) = req.started {
        NexusTaskResult::Started {
            operation_token: s.operation_token,
        }
    } else if let Some(f) = req.failed {
        let (failure, retryable) = failure_of(f);
        NexusTaskResult::Failed { failure, retryable }
    } else {
        NexusTaskResult::CancelAccepted
    };
    ns.client
        .respond_nexus_task(&req.task_token, result)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Completes an asynchronous Nexus operation by the token its start returned.
#[utoipa::path(
    post,
    path = "/v1/nexus-operations/complete",
    tag = "workers",
    request_body = OperationCompleteRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No pending operation has this token", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn complete_operation(
    ns: Ns,
    ApiJson(req): ApiJson<OperationCompleteRequest>,
) -> Result<StatusCode, ApiError> {
    let given = usize::from(req.result.is_some())
        + usize::from(req.failure.is_some())
        + usize::from(req.canceled == Some(true));
    exactly_one("result, failure, canceled", given)?;
    let outcome = if let Some(v) = req.result {
        NexusOutcome::Completed(Payload::json(&v))
    } else if let Some(f) = req.failure {
        NexusOutcome::Failed(failure_of(f).0)
    } else {
        NexusOutcome::Canceled
    };
    ns.client
        .complete_nexus_operation(&req.operation_token, outcome)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
