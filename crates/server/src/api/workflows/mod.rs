//! Workflow routes: start, list, describe, result (long poll), cancel, terminate here;
//! history pages, export and the SSE stream in `histories`; signal, signal-with-start, query
//! and update in `messages`. Each is one call of the namespace's `weft::Client`.

mod histories;
mod messages;

pub use histories::*;
pub use messages::*;

use crate::auth::Ns;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::{AppState, rfc3339};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use weft::{IdReusePolicy, RunStatus, StartOptions, WorkflowDescription, WorkflowOutcome};

/// Status of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// Open.
    Running,
    /// Closed with a result.
    Completed,
    /// Closed with a failure.
    Failed,
    /// Closed as canceled.
    Canceled,
    /// Terminated.
    Terminated,
    /// A newer run continues the execution.
    ContinuedAsNew,
    /// Closed by a timeout.
    TimedOut,
}

impl From<RunStatus> for WorkflowStatus {
    fn from(s: RunStatus) -> WorkflowStatus {
        match s {
            RunStatus::Running => WorkflowStatus::Running,
            RunStatus::Completed => WorkflowStatus::Completed,
            RunStatus::Failed => WorkflowStatus::Failed,
            RunStatus::Canceled => WorkflowStatus::Canceled,
            RunStatus::Terminated => WorkflowStatus::Terminated,
            RunStatus::ContinuedAsNew => WorkflowStatus::ContinuedAsNew,
            RunStatus::TimedOut => WorkflowStatus::TimedOut,
        }
    }
}

/// What a workflow id may do after its execution closes.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = IdReusePolicy)]
pub enum IdReusePolicyDto {
    /// A new run may start after any close (the default).
    AllowDuplicate,
    /// Only if the last run did not complete successfully.
    AllowDuplicateFailedOnly,
    /// Never again.
    RejectDuplicate,
}

impl From<IdReusePolicyDto> for IdReusePolicy {
    fn from(p: IdReusePolicyDto) -> IdReusePolicy {
        match p {
            IdReusePolicyDto::AllowDuplicate => IdReusePolicy::AllowDuplicate,
            IdReusePolicyDto::AllowDuplicateFailedOnly => IdReusePolicy::AllowDuplicateFailedOnly,
            IdReusePolicyDto::RejectDuplicate => IdReusePolicy::RejectDuplicate,
        }
    }
}

/// Start a workflow.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The workflow id (1 to 1000 bytes), unique among running workflows of the namespace.
    pub workflow_id: String,
    /// A registered workflow type.
    pub workflow_type: String,
    /// Input (JSON; default null).
    #[serde(default)]
    pub input: Option<Value>,
    /// Id reuse policy (default `allow_duplicate`).
    #[serde(default)]
    pub id_reuse_policy: Option<IdReusePolicyDto>,
    /// Maximum time of the whole execution, ms.
    #[serde(default)]
    pub execution_timeout_ms: Option<u64>,
    /// Maximum time of one run, ms.
    #[serde(default)]
    pub run_timeout_ms: Option<u64>,
    /// Maximum time of one Workflow Task, ms.
    #[serde(default)]
    pub task_timeout_ms: Option<u64>,
}

/// A run started (or signaled, for signal-with-start).
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    /// The workflow id.
    pub workflow_id: String,
    /// The run.
    pub run_id: String,
}

/// The description of a workflow's current run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Description {
    /// The workflow id.
    pub workflow_id: String,
    /// The current run.
    pub run_id: String,
    /// Its type.
    pub workflow_type: String,
    /// Its status.
    pub status: WorkflowStatus,
    /// Start, RFC 3339.
    pub start_time: String,
    /// Close, RFC 3339, once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_time: Option<String>,
    /// Events in the run's history.
    pub history_length: u64,
    /// Attempt of the execution (1 unless its retry policy started it again).
    pub attempt: u32,
    /// Attempt of the pending Workflow Task, if one is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_workflow_task_attempt: Option<u32>,
    /// Why the last Workflow Task failed, while failures continue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_workflow_task_failure: Option<String>,
    /// Runs of the execution, first to current.
    pub run_chain: Vec<String>,
    /// The parent's workflow id, for a child workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_workflow_id: Option<String>,
    /// A cancel request is recorded.
    pub cancel_requested: bool,
    /// `sha256:<hex>` of the component version the run is pinned to (absent before its first
    /// Workflow Task for runs a client did not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_digest: Option<String>,
}

impl From<WorkflowDescription> for Description {
    fn from(d: WorkflowDescription) -> Description {
        Description {
            workflow_id: d.workflow_id,
            run_id: d.run_id,
            workflow_type: d.workflow_type,
            status: d.status.into(),
            start_time: rfc3339(d.start_ms),
            close_time: d.close_ms.map(rfc3339),
            history_length: d.history_length,
            attempt: d.attempt,
            pending_workflow_task_attempt: d.pending_workflow_task_attempt,
            last_workflow_task_failure: d.last_workflow_task_failure,
            run_chain: d.run_chain,
            parent_workflow_id: d.parent_workflow_id,
            cancel_requested: d.cancel_requested,
            component_digest: d.component_digest,
        }
    }
}

/// Filters and page of the workflow list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only workflows whose current run has this status.
    pub status: Option<WorkflowStatus>,
    /// Only workflows of this type.
    pub workflow_type: Option<String>,
    /// Only runs started at or after this time, ms since the epoch.
    pub started_after_ms: Option<u64>,
    /// Only runs started before this time, ms since the epoch.
    pub started_before_ms: Option<u64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page of workflows.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    /// Workflows, by id.
    pub workflows: Vec<Description>,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Long-poll wait of the result route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultParams {
    /// How long to wait for the run to close, ms (default 30000, at most 60000).
    pub wait_ms: Option<u64>,
}

/// A failure: its type and message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailureBody {
    /// Machine-readable type (`Terminated`, `Canceled`, `TimedOut` for those closes).
    pub error_type: String,
    /// Message.
    pub message: String,
}

/// How a run ended, or that it is still open.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowResult {
    /// False if the run was still open at the end of the wait.
    pub done: bool,
    /// How it closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkflowStatus>,
    /// Its result, when completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Its failure, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureBody>,
}

/// A reason for a cancel or terminate.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (recorded in the history).
    #[serde(default)]
    pub reason: Option<String>,
}

fn ms(v: Option<u64>) -> Option<Duration> {
    v.map(Duration::from_millis)
}

/// Starts a workflow.
#[utoipa::path(
    post,
    path = "/v1/workflows",
    tag = "workflows",
    request_body = StartRequest,
    responses(
        (status = 201, description = "Started", body = Started),
        (status = 400, description = "Bad request (unknown type, bad id)", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 409, description = "Already running, or the id may not be reused", body = ErrorBody),
        (status = 413, description = "Input or body too large", body = ErrorBody),
        (status = 429, description = "Namespace quota reached", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn start(
    ns: Ns,
    ApiJson(req): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let options = StartOptions {
        execution_timeout: ms(req.execution_timeout_ms),
        run_timeout: ms(req.run_timeout_ms),
        task_timeout: ms(req.task_timeout_ms),
        id_reuse_policy: req.id_reuse_policy.map(Into::into).unwrap_or_default(),
        ..StartOptions::default()
    };
    let run = ns
        .client
        .start_workflow_with(
            &req.workflow_type,
            &req.workflow_id,
            req.input.unwrap_or(Value::Null),
            &options,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Started {
            workflow_id: req.workflow_id,
            run_id: run.to_string(),
        }),
    ))
}

/// Lists the namespace's workflows (their current runs), ordered by workflow id.
#[utoipa::path(
    get,
    path = "/v1/workflows",
    tag = "workflows",
    params(ListParams),
    responses(
        (status = 200, description = "A page of workflows", body = WorkflowList),
        (status = 400, description = "Bad filter or cursor", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(ns: Ns, Query(p): Query<ListParams>) -> Result<Json<WorkflowList>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 1000"));
    }
    let after = match &p.cursor {
        Some(c) => Some(
            hex::decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::bad_request("invalid cursor"))?,
        ),
        None => None,
    };
    let client = ns.client.clone();
    let all = tokio::task::spawn_blocking(move || client.list_workflows())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let mut matching = all.into_iter().filter(|d| {
        after
            .as_ref()
            .is_none_or(|a| d.workflow_id.as_str() > a.as_str())
            && p.status.is_none_or(|s| WorkflowStatus::from(d.status) == s)
            && p.workflow_type
                .as_ref()
                .is_none_or(|t| &d.workflow_type == t)
            && p.started_after_ms.is_none_or(|t| d.start_ms >= t)
            && p.started_before_ms.is_none_or(|t| d.start_ms < t)
    });
    let page: Vec<WorkflowDescription> = matching.by_ref().take(limit).collect();
    let next_cursor = match (matching.next(), page.last()) {
        (Some(_), Some(last)) => Some(hex::encode(last.workflow_id.as_bytes())),
        _ => None,
    };
    Ok(Json(WorkflowList {
        workflows: page.into_iter().map(Description::from).collect(),
        next_cursor,
    }))
}

/// Describes a workflow's current run.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Its description", body = Description),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn describe(ns: Ns, Path(id): Path<String>) -> Result<Json<Description>, ApiError> {
    Ok(Json(ns.client.describe(&id)?.into()))
}

/// Waits (long poll) for a workflow's current run to close and tells how it ended.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/result",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), ResultParams),
    responses(
        (status = 200, description = "How it ended, or done=false if still open", body = WorkflowResult),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn result(
    State(state): State<Arc<AppState>>,
    ns: Ns,
    Path(id): Path<String>,
    Query(p): Query<ResultParams>,
) -> Result<Json<WorkflowResult>, ApiError> {
    let wait = Duration::from_millis(p.wait_ms.unwrap_or(30_000).min(60_000));
    let not_done = WorkflowResult {
        done: false,
        status: None,
        result: None,
        failure: None,
    };
    // Unknown ids answer 404 at once.
    ns.client.describe(&id)?;
    let outcome = tokio::select! {
        r = tokio::time::timeout(wait, ns.client.result(&id)) => match r {
            Ok(outcome) => outcome?,
            Err(_) => return Ok(Json(not_done)),
        },
        _ = state.stopped() => return Ok(Json(not_done)),
    };
    let status = ns.client.describe(&id)?.status.into();
    Ok(Json(match outcome {
        WorkflowOutcome::Completed(v) => WorkflowResult {
            done: true,
            status: Some(WorkflowStatus::Completed),
            result: Some(v),
            failure: None,
        },
        WorkflowOutcome::Failed(f) => WorkflowResult {
            done: true,
            status: Some(status),
            result: None,
            failure: Some(FailureBody {
                error_type: f.error_type,
                message: f.message,
            }),
        },
    }))
}

/// Requests cancellation of a workflow.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/cancel",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = ReasonRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    ns: Ns,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReasonRequest>,
) -> Result<StatusCode, ApiError> {
    let reason = req
        .reason
        .unwrap_or_else(|| "canceled through the HTTP API".into());
    ns.client.cancel(&id, &reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Terminates a workflow at once.
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/terminate",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    request_body = ReasonRequest,
    responses(
        (status = 204, description = "Terminated"),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn terminate(
    ns: Ns,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReasonRequest>,
) -> Result<StatusCode, ApiError> {
    let reason = req
        .reason
        .unwrap_or_else(|| "terminated through the HTTP API".into());
    ns.client.terminate(&id, &reason).await?;
    Ok(StatusCode::NO_CONTENT)
}
