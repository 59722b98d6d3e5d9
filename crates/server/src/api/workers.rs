//! Worker routes: remote activity workers poll a task queue, heartbeat, and complete or fail
//! the attempt, by its task token.

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
use weft::{Failure, Payload};

/// A poll.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// How long to wait for a task, ms (default 20000, at most 60000).
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// An activity attempt leased to the worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityTask {
    /// Names this attempt in heartbeat, complete and fail.
    pub task_token: String,
    /// The workflow that scheduled it.
    pub workflow_id: String,
    /// Its run.
    pub run_id: String,
    /// The activity's id in the run (its ActivityTaskScheduled event id).
    pub activity_id: u64,
    /// Activity type.
    pub activity_type: String,
    /// Task queue.
    pub task_queue: String,
    /// Input.
    pub input: Value,
    /// Attempt, from 1.
    pub attempt: u32,
    /// Details of the last heartbeat of an earlier attempt, to resume from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_details: Option<Value>,
    /// The attempt times out this long after it was leased.
    pub start_to_close_timeout_ms: u64,
    /// The attempt times out when no heartbeat comes within this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_ms: Option<u64>,
}

impl From<weft::ActivityTask> for ActivityTask {
    fn from(t: weft::ActivityTask) -> ActivityTask {
        ActivityTask {
            task_token: t.task_token,
            workflow_id: t.workflow_id,
            run_id: t.run_id,
            activity_id: t.activity_id,
            activity_type: t.activity_type,
            task_queue: t.task_queue,
            input: t.input.to_json(),
            attempt: t.attempt,
            heartbeat_details: t.heartbeat_details.map(|p| p.to_json()),
            start_to_close_timeout_ms: t.start_to_close_timeout_ms,
            heartbeat_timeout_ms: t.heartbeat_timeout_ms,
        }
    }
}

/// A heartbeat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The attempt's token.
    pub task_token: String,
    /// Progress to resume from in a later attempt.
    #[serde(default)]
    pub details: Option<Value>,
}

/// A heartbeat's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatResponse {
    /// The workflow asked to cancel the activity: stop and fail it with `Canceled`.
    pub cancel_requested: bool,
}

/// A completion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The attempt's token.
    pub task_token: String,
    /// The result (default null).
    #[serde(default)]
    pub result: Option<Value>,
}

/// A failure reported by a worker.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerFailure {
    /// Machine-readable type, matched by the retry policy; `Canceled` after a cancel request
    /// records the activity canceled.
    pub error_type: String,
    /// Message.
    pub message: String,
    /// Do not retry (default false).
    #[serde(default)]
    pub non_retryable: Option<bool>,
}

/// A failed attempt.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    /// The attempt's token.
    pub task_token: String,
    /// What went wrong.
    pub failure: WorkerFailure,
}

/// Waits for an activity task of queue `queue` in the key's namespace and leases it.
#[utoipa::path(
    post,
    path = "/v1/task-queues/{queue}/activity-tasks/poll",
    tag = "workers",
    params(("queue" = String, Path, description = "Task queue")),
    request_body = PollRequest,
    responses(
        (status = 200, description = "A leased attempt", body = ActivityTask),
        (status = 204, description = "No task came within the wait"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn poll(
    State(state): State<Arc<AppState>>,
    ns: Ns,
    Path(queue): Path<String>,
    ApiJson(req): ApiJson<PollRequest>,
) -> Result<Response, ApiError> {
    let wait = Duration::from_millis(req.wait_ms.unwrap_or(20_000).min(60_000));
    let task = tokio::select! {
        r = ns.client.poll_activity_task(&queue, wait) => r?,
        _ = state.stopped() => None,
    };
    Ok(match task {
        Some(t) => Json(ActivityTask::from(t)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Records a heartbeat of an attempt (moving its heartbeat deadline).
#[utoipa::path(
    post,
    path = "/v1/activity-tasks/heartbeat",
    tag = "workers",
    request_body = HeartbeatRequest,
    responses(
        (status = 200, description = "Recorded", body = HeartbeatResponse),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "The attempt is no longer current: stop working on it", body = ErrorBody),
        (status = 413, description = "Details too large", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn heartbeat(
    ns: Ns,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let details = req.details.as_ref().map(Payload::json);
    let cancel_requested = ns
        .client
        .heartbeat_activity(&req.task_token, details)
        .await?;
    Ok(Json(HeartbeatResponse { cancel_requested }))
}

/// Completes an attempt with its result.
#[utoipa::path(
    post,
    path = "/v1/activity-tasks/complete",
    tag = "workers",
    request_body = CompleteRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "The attempt is no longer current", body = ErrorBody),
        (status = 413, description = "Result too large", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn complete(
    ns: Ns,
    ApiJson(req): ApiJson<CompleteRequest>,
) -> Result<StatusCode, ApiError> {
    let result = Payload::json(&req.result.unwrap_or(Value::Null));
    ns.client.complete_activity(&req.task_token, result).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fails an attempt (retried by the activity's retry policy unless non-retryable).
#[utoipa::path(
    post,
    path = "/v1/activity-tasks/fail",
    tag = "workers",
    request_body = FailRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "The attempt is no longer current", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn fail(ns: Ns, ApiJson(req): ApiJson<FailRequest>) -> Result<StatusCode, ApiError> {
    let mut failure = Failure::new(req.failure.error_type, req.failure.message);
    if req.failure.non_retryable.unwrap_or(false) {
        failure = failure.non_retryable();
    }
    ns.client.fail_activity(&req.task_token, failure).await?;
    Ok(StatusCode::NO_CONTENT)
}
