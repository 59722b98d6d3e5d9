//! A run's history: pages, the history file export, and the event stream (SSE).

use crate::auth::Ns;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use weft::{Client, Event};

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
