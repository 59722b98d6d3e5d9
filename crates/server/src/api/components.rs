//! Component routes: upload (validated by the host, then stored content-addressed in the
//! control database) and listing.

use crate::auth::Ns;
use crate::error::{ApiError, ErrorBody, RawBody};
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa::ToSchema;

/// A component registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentRegistered {
    /// The workflow type it runs.
    pub workflow_type: String,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size, bytes.
    pub size: u64,
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

/// Registers a workflow component (its bytes as the body) as `workflow_type` in the key's
/// namespace. The host checks it first; a refused component is not stored.
#[utoipa::path(
    post,
    path = "/v1/components/{workflow_type}",
    tag = "components",
    params(("workflow_type" = String, Path, description = "The workflow type the component runs")),
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
    RawBody(bytes): RawBody,
) -> Result<(StatusCode, Json<ComponentRegistered>), ApiError> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    ns.client
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
    Ok((
        StatusCode::CREATED,
        Json(ComponentRegistered {
            workflow_type,
            digest,
            size: reg.size,
        }),
    ))
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
