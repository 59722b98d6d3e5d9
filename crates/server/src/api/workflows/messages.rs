//! Messages to a run: signals, signal-with-start, queries and updates.

use super::Started;
use crate::auth::Ns;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::{AppState, random_hex};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use weft::{Client, EventKind, HostError, StartOptions};

/// A signal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// Signal name.
    pub name: String,
    /// Input (default null).
    #[serde(default)]
    pub input: Option<Value>,
}

/// Signal-with-start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalWithStartRequest {
    /// The workflow id.
    pub workflow_id: String,
    /// Its type, if it must be started.
    pub workflow_type: String,
    /// Input of the start (default null).
    #[serde(default)]
    pub input: Option<Value>,
    /// Signal name.
    pub signal_name: String,
    /// Signal input (default null).
    #[serde(default)]
    pub signal_input: Option<Value>,
}

/// A query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Query name.
    pub name: String,
    /// Input (default null).
    #[serde(default)]
    pub input: Option<Value>,
}

/// A query's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResponse {
    /// The handler's answer.
    pub result: Value,
}

/// Which stage of an update to wait for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStage {
    /// Recorded as accepted by the workflow's validator.
    Accepted,
    /// Its handler returned.
    #[default]
    Completed,
}

/// An update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// Update name.
    pub name: String,
    /// Input (default null).
    #[serde(default)]
    pub input: Option<Value>,
    /// The update's id (default: a fresh one); a repeated request with the same id is the
    /// same update.
    #[serde(default)]
    pub update_id: Option<String>,
    /// Answer once accepted, or once completed (default).
    #[serde(default)]
    pub wait_for: Option<UpdateStage>,
}

/// Where an update is.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateResponse {
    /// The update's id.
    pub update_id: String,
    /// The stage reached.
    pub stage: UpdateStage,
    /// The handler's result, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// Sends a signal to a workflow's running run.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/signal",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = SignalRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
        (status = 413, description = "Input too large", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn signal(
    ns: Ns,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SignalRequest>,
) -> Result<StatusCode, ApiError> {
    ns.client
        .signal(&id, &req.name, req.input.unwrap_or(Value::Null))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signals a workflow, starting it first if it is not running.
#[utoipa::path(
    post,
    path = "/v1/signal-with-start",
    tag = "workflows",
    request_body = SignalWithStartRequest,
    responses(
        (status = 200, description = "The run that received the signal", body = Started),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 409, description = "The id may not be reused", body = ErrorBody),
        (status = 413, description = "Input too large", body = ErrorBody),
        (status = 429, description = "Namespace quota reached", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn signal_with_start(
    ns: Ns,
    ApiJson(req): ApiJson<SignalWithStartRequest>,
) -> Result<Json<Started>, ApiError> {
    let run = ns
        .client
        .signal_with_start(
            &req.workflow_type,
            &req.workflow_id,
            req.input.unwrap_or(Value::Null),
            &req.signal_name,
            req.signal_input.unwrap_or(Value::Null),
            &StartOptions::default(),
        )
        .await?;
    Ok(Json(Started {
        workflow_id: req.workflow_id,
        run_id: run.to_string(),
    }))
}

/// Runs a query against a workflow's current run (nothing is recorded).
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/query",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = QueryRequest,
    responses(
        (status = 200, description = "The handler's answer", body = QueryResponse),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
        (status = 422, description = "The query failed (`query_failed`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn query(
    ns: Ns,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<QueryRequest>,
) -> Result<Json<QueryResponse>, ApiError> {
    let result = ns
        .client
        .query(&id, &req.name, req.input.unwrap_or(Value::Null))
        .await?;
    Ok(Json(QueryResponse { result }))
}

/// True when `client`'s history of `id` records update `update_id` as accepted.
fn accepted(client: &Client, id: &str, update_id: &str) -> bool {
    client.history(id).is_ok_and(|h| {
        h.iter().any(|e| {
            matches!(&e.kind, EventKind::WorkflowExecutionUpdateAccepted { update_id: u, .. } if u == update_id)
        })
    })
}

/// Sends an update and waits until it is accepted or completed.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/update",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Accepted or completed", body = UpdateResponse),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
        (status = 413, description = "Input too large", body = ErrorBody),
        (status = 422, description = "Rejected by the validator (`update_rejected`), or its handler failed (`update_failed`)", body = ErrorBody),
        (status = 503, description = "The server is stopping", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    ns: Ns,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<UpdateResponse>, ApiError> {
    let update_id = req.update_id.unwrap_or_else(|| random_hex(16));
    let wait_for = req.wait_for.unwrap_or_default();
    let input = req.input.unwrap_or(Value::Null);
    // Unknown ids answer 404 at once.
    ns.client.describe(&id)?;
    let task = {
        let (client, id, update_id, name) =
            (ns.client.clone(), id.clone(), update_id.clone(), req.name);
        tokio::spawn(async move { client.update_with_id(&id, &update_id, &name, input).await })
    };
    let completed = |r: Result<Result<Value, HostError>, tokio::task::JoinError>| match r {
        Ok(Ok(v)) => Ok(Json(UpdateResponse {
            update_id: update_id.clone(),
            stage: UpdateStage::Completed,
            result: Some(v),
        })),
        Ok(Err(e)) => Err(ApiError::from(e)),
        Err(e) => Err(ApiError::internal(e.to_string())),
    };
    if wait_for == UpdateStage::Completed {
        tokio::select! {
            r = task => return completed(r),
            _ = state.stopped() => return Err(ApiError::unavailable()),
        }
    }
    // Accepted: the task goes on in the background; look for the acceptance meanwhile.
    let mut task = task;
    loop {
        tokio::select! {
            r = &mut task => return completed(r),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = state.stopped() => return Err(ApiError::unavailable()),
        }
        if accepted(&ns.client, &id, &update_id) {
            return Ok(Json(UpdateResponse {
                update_id,
                stage: UpdateStage::Accepted,
                result: None,
            }));
        }
    }
}
