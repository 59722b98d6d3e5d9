//! Component routes: upload (validated by the host, then stored content-addressed in the
//! control database) and listing.

use crate::auth::Ns;
use crate::error::{ApiError, ErrorBody, RawBody};
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A component registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentRegistered {
    /// The workflow type it runs.
    pub workflow_type: String,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size, bytes.
    pub size: u64,
    /// With `move_compatible_runs=true`: the open runs of the type replayed against this
    /// version, and which of them moved to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<VersionReport>,
}

/// The open runs of a workflow type replayed against a component version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionReport {
    /// The version, `sha256:<hex>`.
    pub digest: String,
    /// Runs whose histories it replays (moved to it when registering with
    /// `move_compatible_runs=true`).
    pub compatible: Vec<String>,
    /// Runs it would diverge from, with the reason; they stay on their version.
    pub incompatible: Vec<DivergenceReport>,
    /// Runs already on this version.
    pub unchanged: Vec<String>,
}

/// An open run a version would diverge from.
#[derive(Debug, Serialize, ToSchema)]
pub struct DivergenceReport {
    /// The workflow id.
    pub workflow_id: String,
    /// What the replay found.
    pub reason: String,
}

impl From<weft::VersionCheck> for VersionReport {
    fn from(c: weft::VersionCheck) -> VersionReport {
        VersionReport {
            digest: c.digest,
            compatible: c.compatible,
            incompatible: c
                .incompatible
                .into_iter()
                .map(|d| DivergenceReport {
                    workflow_id: d.workflow_id,
                    reason: d.reason,
                })
                .collect(),
            unchanged: c.unchanged,
        }
    }
}

/// Options of a registration.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterParams {
    /// Move the type's open runs whose histories this version replays to it.
    #[serde(default)]
    pub move_compatible_runs: bool,
}

/// The newest registration of a workflow type.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentInfo {
    /// The workflow type.
    pub workflow_type: String,
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// Its size, bytes.
    pub size: u64,
    /// When it was registered, ms since the epoch.
    pub registered_ms: u64,
}

/// The components of a namespace.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentList {
    /// One per workflow type, by type.
    pub components: Vec<ComponentInfo>,
}

/// Registers a workflow component (its bytes as the body) as the newest version of
/// `workflow_type` in the key's namespace: new runs get it, runs already started stay on their
/// version unless `move_compatible_runs=true` moves those whose histories it replays. The host
/// checks it first; a refused component is not stored.
#[utoipa::path(
    post,
    path = "/v1/components/{workflow_type}",
    tag = "components",
    params(("workflow_type" = String, Path, description = "The workflow type the component runs"), RegisterParams),
    request_body(content = inline(String), content_type = "application/wasm", description = "The component's bytes"),
    responses(
        (status = 201, description = "Registered", body = ComponentRegistered),
        (status = 400, description = "Refused component (bad wasm, wrong world, too large)", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 413, description = "Body above max_request_bytes", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn register(
    State(state): State<Arc<AppState>>,
    ns: Ns,
    Path(workflow_type): Path<String>,
    Query(params): Query<RegisterParams>,
    RawBody(bytes): RawBody,
) -> Result<(StatusCode, Json<ComponentRegistered>), ApiError> {
    let digest = ns
        .client
        .register_workflow(&workflow_type, bytes.to_vec())
        .await?;
    let control = state.control.clone();
    let (namespace, ty, d) = (ns.namespace.clone(), workflow_type.clone(), digest.clone());
    let reg = tokio::task::spawn_blocking(move || {
        control.register(&namespace, &ty, &d, &bytes, now_ms())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    tracing::info!(namespace = %ns.namespace, workflow_type, digest, "component registered");
    let moved = if params.move_compatible_runs {
        Some(ns.client.move_compatible_runs(&workflow_type).await?.into())
    } else {
        None
    };
    Ok((
        StatusCode::CREATED,
        Json(ComponentRegistered {
            workflow_type,
            digest,
            size: reg.size,
            moved,
        }),
    ))
}

/// Dry run of a new version (its bytes as the body): replays every open run of
/// `workflow_type` against it and reports which would go on and which would diverge, with the
/// reason. Registers and stores nothing.
#[utoipa::path(
    post,
    path = "/v1/components/{workflow_type}/check",
    tag = "components",
    params(("workflow_type" = String, Path, description = "The workflow type the component would run")),
    request_body(content = inline(String), content_type = "application/wasm", description = "The component's bytes"),
    responses(
        (status = 200, description = "What the replays found", body = VersionReport),
        (status = 400, description = "Refused component (bad wasm, wrong world, too large)", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
        (status = 413, description = "Body above max_request_bytes", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check(
    ns: Ns,
    Path(workflow_type): Path<String>,
    RawBody(bytes): RawBody,
) -> Result<Json<VersionReport>, ApiError> {
    let report = ns
        .client
        .check_workflow(&workflow_type, bytes.to_vec())
        .await?;
    Ok(Json(report.into()))
}

/// The components of the key's namespace: the newest registration of each workflow type.
#[utoipa::path(
    get,
    path = "/v1/components",
    tag = "components",
    responses(
        (status = 200, description = "The components", body = ComponentList),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "The admin key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    ns: Ns,
) -> Result<Json<ComponentList>, ApiError> {
    let components = state
        .control
        .registrations(&ns.namespace)?
        .into_iter()
        .map(|(workflow_type, r)| ComponentInfo {
            workflow_type,
            digest: r.digest,
            size: r.size,
            registered_ms: r.registered_ms,
        })
        .collect();
    Ok(Json(ComponentList { components }))
}
