//! The HTTP API of `docs/http-api.md`: the router, the OpenAPI document built from the
//! handlers' annotations, the operations routes, and the per-request middleware (tracing span,
//! metrics, JSON errors, body limit). One file per group of routes:
//!
//! - `components`: upload and list workflow components.
//! - `workflows`: start, list, describe, result, history, events, messages, cancel, terminate.
//! - `workers`: remote activity workers.
//! - `admin`: namespaces and API keys.

pub mod admin;
pub mod components;
pub mod nexus;
pub mod workers;
pub mod workflows;

use crate::error::{ApiError, ErrorBody, json_errors};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The status of a health or readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` (healthz) or `ready` (readyz).
    pub status: String,
}

/// The process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Running", body = Status))
)]
pub async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// The host is started and accepting; 503 once shutdown began.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Accepting requests", body = Status),
        (status = 503, description = "Stopping", body = ErrorBody),
    )
)]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Status>, ApiError> {
    if state.is_stopping() {
        return Err(ApiError::unavailable());
    }
    Ok(Json(Status {
        status: "ready".into(),
    }))
}

/// Prometheus metrics (text format).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    // The sticky cache keeps its own counters; they are read at each scrape.
    let cache = state.host.cache_stats();
    metrics::gauge!("weft_sticky_cache_entries").set(cache.entries as f64);
    metrics::counter!("weft_sticky_cache_hits_total").absolute(cache.hits);
    metrics::counter!("weft_sticky_cache_evictions_total").absolute(cache.evictions);
    // Activity queues: a scan of the queue index, at each scrape.
    match state.host.activity_queues() {
        Ok(queues) => {
            for q in queues {
                let labels = [("namespace", q.namespace), ("task_queue", q.task_queue)];
                metrics::gauge!("weft_activity_queue_depth", &labels).set(q.depth as f64);
                metrics::gauge!("weft_activity_queue_oldest_wait_seconds", &labels)
                    .set(q.oldest_wait_ms as f64 / 1000.0);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the activity queues for /metrics"),
    }
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Adds the bearer security scheme.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A namespace key (namespace routes) or the admin key (admin routes)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of the server.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "weft's HTTP API: components, workflows, remote activity workers and administration. See docs/http-api.md."
    ),
    paths(
        healthz,
        readyz,
        metrics,
        openapi,
        components::register,
        components::check,
        components::list,
        workflows::start,
        workflows::list,
        workflows::describe,
        workflows::result,
        workflows::history,
        workflows::export_history,
        workflows::events,
        workflows::signal,
        workflows::signal_with_start,
        workflows::query,
        workflows::update,
        workflows::cancel,
        workflows::terminate,
        workers::poll,
        workers::heartbeat,
        workers::complete,
        workers::fail,
        nexus::poll,
        nexus::respond,
        nexus::complete_operation,
        admin::list_namespaces,
        admin::create_namespace,
        admin::patch_namespace,
        admin::delete_namespace,
        admin::create_key,
        admin::list_keys,
        admin::delete_key,
    ),
    components(schemas(ErrorBody, Status, workflows::HistoryEvent)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness, metrics, this document (no key)"),
        (name = "components", description = "Workflow components (namespace key)"),
        (name = "workflows", description = "Workflows (namespace key)"),
        (name = "workers", description = "Remote activity workers (namespace key)"),
        (name = "admin", description = "Namespaces and keys (admin key)"),
    )
)]
pub struct ApiDoc;

/// Middleware: `weft_http_requests_total{route,status}` and
/// `weft_http_request_seconds{route}`, by the matched route (never the raw URI).
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::counter!(
        "weft_http_requests_total",
        "route" => route.clone(),
        "status" => resp.status().as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("weft_http_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// The router of every route, with its middleware. Bodies are limited to `max_request_bytes`,
/// except component uploads, limited to `max_component_bytes` (the host's component limit).
pub fn router(
    state: Arc<AppState>,
    max_request_bytes: usize,
    max_component_bytes: usize,
) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("unmatched");
        tracing::info_span!(
            "request",
            method = %req.method(),
            route,
            namespace = tracing::field::Empty
        )
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/components", get(components::list))
        .route(
            "/v1/components/{workflow_type}",
            post(components::register).layer(DefaultBodyLimit::max(max_component_bytes)),
        )
        .route(
            "/v1/components/{workflow_type}/check",
            post(components::check).layer(DefaultBodyLimit::max(max_component_bytes)),
        )
        .route("/v1/workflows", post(workflows::start).get(workflows::list))
        .route("/v1/workflows/{id}", get(workflows::describe))
        .route("/v1/workflows/{id}/result", get(workflows::result))
        .route("/v1/workflows/{id}/history", get(workflows::history))
        .route(
            "/v1/workflows/{id}/history/export",
            get(workflows::export_history),
        )
        .route("/v1/workflows/{id}/events", get(workflows::events))
        .route("/v1/workflows/{id}/signal", post(workflows::signal))
        .route("/v1/signal-with-start", post(workflows::signal_with_start))
        .route("/v1/workflows/{id}/query", post(workflows::query))
        .route("/v1/workflows/{id}/update", post(workflows::update))
        .route("/v1/workflows/{id}/cancel", post(workflows::cancel))
        .route("/v1/workflows/{id}/terminate", post(workflows::terminate))
        .route(
            "/v1/task-queues/{queue}/activity-tasks/poll",
            post(workers::poll),
        )
        .route("/v1/activity-tasks/heartbeat", post(workers::heartbeat))
        .route("/v1/activity-tasks/complete", post(workers::complete))
        .route("/v1/activity-tasks/fail", post(workers::fail))
        .route(
            "/v1/nexus-endpoints/{endpoint}/tasks/poll",
            post(nexus::poll),
        )
        .route("/v1/nexus-tasks/respond", post(nexus::respond))
        .route(
            "/v1/nexus-operations/complete",
            post(nexus::complete_operation),
        )
        .route(
            "/v1/namespaces",
            get(admin::list_namespaces).post(admin::create_namespace),
        )
        .route(
            "/v1/namespaces/{name}",
            delete(admin::delete_namespace).patch(admin::patch_namespace),
        )
        .route(
            "/v1/namespaces/{name}/keys",
            get(admin::list_keys).post(admin::create_key),
        )
        .route(
            "/v1/namespaces/{name}/keys/{key_id}",
            delete(admin::delete_key),
        )
        .fallback(not_found)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(track))
        .layer(trace)
        .layer(DefaultBodyLimit::max(max_request_bytes))
        .with_state(state)
}
