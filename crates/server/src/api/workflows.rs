//! Workflow routes: start, list, describe, result (long poll), history (pages and an SSE
//! stream), signal, signal-with-start, query, update, cancel, terminate. Each is one call of
//! the namespace's `weft::Client`.

use crate::auth::Ns;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::{AppState, random_hex, rfc3339};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use weft::{
    Client, Event, EventKind, HostError, IdReusePolicy, RunStatus, StartOptions,
    WorkflowDescription, WorkflowOutcome,
};

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

/// Page of the history route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Events per page (default 1000, at most 10000).
    pub page_size: Option<usize>,
    /// The `next_page_token` of the page before.
    pub next_page_token: Option<String>,
}

/// An event in weft's own serde form: `kind` is `{"<EventKind name>": {fields}}` (or the
/// bare name for kinds without fields); payloads are arrays of bytes holding JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEvent {
    /// Position in the history, from 1.
    pub id: u64,
    /// When it was recorded, ms since the epoch.
    pub time_ms: u64,
    /// What happened.
    pub kind: Value,
}

impl HistoryEvent {
    fn of(e: &Event) -> HistoryEvent {
        HistoryEvent {
            id: e.id.0,
            time_ms: e.time_ms,
            kind: serde_json::to_value(&e.kind).unwrap_or(Value::Null),
        }
    }
}

/// A page of a run's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The run.
    pub run_id: String,
    /// Events in order.
    pub events: Vec<HistoryEvent>,
    /// The token of the next page; null on the last.
    pub next_page_token: Option<String>,
}

/// The event stream's start.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Send events with ids above this (default 0: all).
    pub after: Option<u64>,
}

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

/// A page of the history of a workflow's current run.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/history",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), HistoryParams),
    responses(
        (status = 200, description = "A page of events", body = HistoryPage),
        (status = 400, description = "Bad page size or token", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    ns: Ns,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Result<Json<HistoryPage>, ApiError> {
    let page_size = p.page_size.unwrap_or(1000);
    if !(1..=10_000).contains(&page_size) {
        return Err(ApiError::bad_request("page_size must be 1 to 10000"));
    }
    let start = match &p.next_page_token {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("invalid next_page_token"))?,
        None => 0,
    };
    let run_id = ns.client.describe(&id)?.run_id;
    let events = ns.client.history(&id)?;
    let end = (start + page_size).min(events.len());
    let page = events
        .get(start.min(events.len())..end)
        .unwrap_or_default()
        .iter()
        .map(HistoryEvent::of)
        .collect();
    Ok(Json(HistoryPage {
        run_id,
        events: page,
        next_page_token: (end < events.len()).then(|| end.to_string()),
    }))
}

/// The whole history of a workflow's current run in weft's history format
/// (docs/history-format.md): JSON that keeps every payload byte for byte, which
/// `weft replay` reads.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/history/export",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The history file", content_type = "application/json", body = Object),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export_history(
    ns: Ns,
    Path(id): Path<String>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let run_id = ns.client.describe(&id)?.run_id;
    let events = ns.client.history(&id)?;
    let file = weft::history::HistoryFile::new(&ns.namespace, &id, &run_id, events);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        file.to_json(),
    ))
}

/// What the event stream keeps between polls.
struct EventStream {
    state: Arc<AppState>,
    client: Client,
    id: String,
    run_id: String,
    after: u64,
    queue: VecDeque<Event>,
    /// The run was closed when the queued events were read: end once they are sent.
    closed: bool,
    first: bool,
}

/// How often the event stream looks at the history.
const EVENTS_POLL: Duration = Duration::from_millis(150);

impl EventStream {
    /// The next SSE message, or `None` to end the stream.
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, EventStream)> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                let data = serde_json::to_string(&HistoryEvent::of(&e)).unwrap_or_default();
                let msg = SseEvent::default()
                    .id(e.id.0.to_string())
                    .event(e.kind.name())
                    .data(data);
                return Some((Ok(msg), self));
            }
            if self.closed || self.state.is_stopping() {
                return None;
            }
            if !self.first {
                tokio::select! {
                    _ = tokio::time::sleep(EVENTS_POLL) => {}
                    _ = self.state.stopped() => return None,
                }
            }
            self.first = false;
            // Describe first: if the run is closed now, the history read after it holds
            // the closing event.
            let d = self.client.describe(&self.id).ok()?;
            if d.run_id != self.run_id {
                return None; // the run continued as a new one
            }
            let events = self.client.history(&self.id).ok()?;
            for e in events {
                if e.id.0 > self.after {
                    self.after = e.id.0;
                    self.queue.push_back(e);
                }
            }
            self.closed = d.status.is_closed();
        }
    }
}

/// Streams the events of a workflow's current run (Server-Sent Events): each event with an
/// id above `after`, then each new one as it is recorded; the stream ends after the run's
/// closing event.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/events",
    tag = "workflows",
    params(("id" = String, Path, description = "Workflow id"), EventsParams),
    responses(
        (status = 200, description = "`text/event-stream`: `id:` the event id, `event:` its kind, `data:` the event (HistoryEvent) as JSON", content_type = "text/event-stream", body = String),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 404, description = "No such workflow in the namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    ns: Ns,
    Path(id): Path<String>,
    Query(p): Query<EventsParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let run_id = ns.client.describe(&id)?.run_id;
    let init = EventStream {
        state,
        client: ns.client,
        id,
        run_id,
        after: p.after.unwrap_or(0),
        queue: VecDeque::new(),
        closed: false,
        first: true,
    };
    let stream = futures_util::stream::unfold(init, EventStream::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
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
