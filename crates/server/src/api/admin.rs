//! Admin routes: namespaces (created, changed and removed while the host runs) and their API
//! keys. Each change updates the host, the control database and the key index together,
//! under the admin lock.

use crate::auth::Admin;
use crate::config::QuotasConfig;
use crate::control::{KeyRecord, NamespaceRecord};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::state::{AppState, KeyEntry, now_ms, random_hex, sha256};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use weft::HostError;

/// A namespace with its quotas and usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceInfo {
    /// Its name.
    pub name: String,
    /// Its quotas.
    pub quotas: QuotasConfig,
    /// Open (running) workflows.
    pub open_workflows: u64,
    /// History bytes stored.
    pub stored_bytes: u64,
}

/// All namespaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamespaceList {
    /// By name.
    pub namespaces: Vec<NamespaceInfo>,
}

/// A namespace to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespace {
    /// 1 to 64 of `[A-Za-z0-9._-]`.
    pub name: String,
    /// Its quotas (default none).
    #[serde(default)]
    pub quotas: Option<QuotasConfig>,
}

/// New quotas of a namespace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchNamespace {
    /// The quotas, replacing the old ones.
    pub quotas: QuotasConfig,
}

/// A key to create.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A label, to recognize the key in listings.
    #[serde(default)]
    pub label: Option<String>,
}

/// A key just created: the key is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key's public id.
    pub key_id: String,
    /// The key: send it as `Authorization: Bearer <key>`.
    pub key: String,
}

/// A key as listed (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyInfo {
    /// The key's public id.
    pub key_id: String,
    /// Its label.
    pub label: String,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
}

/// The keys of a namespace.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// By creation time.
    pub keys: Vec<KeyInfo>,
}

fn exists(state: &AppState, name: &str) -> bool {
    state.host.namespace_names().iter().any(|n| n == name)
}

fn info(state: &AppState, name: &str) -> Result<NamespaceInfo, ApiError> {
    let usage = state.host.namespace(name)?.usage()?;
    let quotas = state
        .control
        .namespace(name)?
        .map(|r| r.quotas)
        .unwrap_or_default();
    Ok(NamespaceInfo {
        name: name.to_string(),
        quotas,
        open_workflows: usage.open_workflows,
        stored_bytes: usage.stored_bytes,
    })
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!("no namespace named '{name}'"))
}

/// Lists the namespaces with their quotas and usage.
#[utoipa::path(
    get,
    path = "/v1/namespaces",
    tag = "admin",
    responses(
        (status = 200, description = "The namespaces", body = NamespaceList),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_namespaces(
    State(state): State<Arc<AppState>>,
    _: Admin,
) -> Result<Json<NamespaceList>, ApiError> {
    let mut names = state.host.namespace_names();
    names.sort();
    let namespaces = names
        .iter()
        .map(|n| info(&state, n))
        .collect::<Result<_, _>>()?;
    Ok(Json(NamespaceList { namespaces }))
}

/// Creates a namespace, served at once.
#[utoipa::path(
    post,
    path = "/v1/namespaces",
    tag = "admin",
    request_body = CreateNamespace,
    responses(
        (status = 201, description = "Created", body = NamespaceInfo),
        (status = 400, description = "Bad name", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
        (status = 409, description = "Exists", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_namespace(
    State(state): State<Arc<AppState>>,
    _: Admin,
    ApiJson(req): ApiJson<CreateNamespace>,
) -> Result<(StatusCode, Json<NamespaceInfo>), ApiError> {
    weft::Namespace::new(&req.name).map_err(ApiError::bad_request)?;
    let _guard = state.admin_lock.lock().await;
    if exists(&state, &req.name) {
        return Err(ApiError::conflict(format!(
            "namespace '{}' exists",
            req.name
        )));
    }
    let quotas = req.quotas.unwrap_or_default();
    let q = quotas.to_quotas();
    state
        .host
        .add_namespace(&req.name, move |ns| ns.quotas(q).remote_activities())
        .await?;
    state.control.put_namespace(
        &req.name,
        &NamespaceRecord {
            quotas,
            created_ms: now_ms(),
        },
    )?;
    tracing::info!(namespace = %req.name, "namespace created");
    Ok((StatusCode::CREATED, Json(info(&state, &req.name)?)))
}

/// Replaces a namespace's quotas.
#[utoipa::path(
    patch,
    path = "/v1/namespaces/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "Namespace")),
    request_body = PatchNamespace,
    responses(
        (status = 200, description = "Changed", body = NamespaceInfo),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch_namespace(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<PatchNamespace>,
) -> Result<Json<NamespaceInfo>, ApiError> {
    let _guard = state.admin_lock.lock().await;
    if !exists(&state, &name) {
        return Err(unknown(&name));
    }
    state.host.set_quotas(&name, req.quotas.to_quotas())?;
    let created_ms = state
        .control
        .namespace(&name)?
        .map(|r| r.created_ms)
        .unwrap_or_else(now_ms);
    state.control.put_namespace(
        &name,
        &NamespaceRecord {
            quotas: req.quotas,
            created_ms,
        },
    )?;
    Ok(Json(info(&state, &name)?))
}

/// Removes a namespace without open workflows, and revokes its keys.
#[utoipa::path(
    delete,
    path = "/v1/namespaces/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "Namespace")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The default namespace", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
        (status = 409, description = "It has open workflows", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_namespace(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if name == weft::Namespace::DEFAULT {
        return Err(ApiError::bad_request("namespace default cannot be removed"));
    }
    let _guard = state.admin_lock.lock().await;
    if !exists(&state, &name) {
        return Err(unknown(&name));
    }
    let open = state.host.namespace(&name)?.usage()?.open_workflows;
    if open > 0 {
        return Err(ApiError::conflict(format!(
            "namespace '{name}' has {open} open workflows; close them first"
        )));
    }
    state.host.remove_namespace(&name).map_err(|e| match e {
        HostError::InvalidArgument(m) => ApiError::conflict(m),
        e => e.into(),
    })?;
    state.control.remove_namespace(&name)?;
    state
        .keys
        .write()
        .expect("keys lock")
        .retain(|_, k| k.namespace != name);
    tracing::info!(namespace = %name, "namespace removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an API key of a namespace; the key is shown this once.
#[utoipa::path(
    post,
    path = "/v1/namespaces/{name}/keys",
    tag = "admin",
    params(("name" = String, Path, description = "Namespace")),
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created", body = CreatedKey),
        (status = 400, description = "Bad request", body = ErrorBody),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let _guard = state.admin_lock.lock().await;
    if !exists(&state, &name) {
        return Err(unknown(&name));
    }
    let key = format!("wk_{}", random_hex(32));
    let key_id = format!("key_{}", random_hex(8));
    let hash = sha256(key.as_bytes());
    let rec = KeyRecord {
        namespace: name.clone(),
        key_id: key_id.clone(),
        label: req.label.unwrap_or_default(),
        created_ms: now_ms(),
    };
    state.control.put_key(&hex::encode(hash), &rec)?;
    state.keys.write().expect("keys lock").insert(
        hash,
        KeyEntry {
            namespace: rec.namespace,
            key_id: rec.key_id,
            label: rec.label,
            created_ms: rec.created_ms,
            from_config: false,
        },
    );
    tracing::info!(namespace = %name, key_id, "API key created");
    Ok((StatusCode::CREATED, Json(CreatedKey { key_id, key })))
}

/// Lists the keys of a namespace (their ids and labels; keys are never shown again).
#[utoipa::path(
    get,
    path = "/v1/namespaces/{name}/keys",
    tag = "admin",
    params(("name" = String, Path, description = "Namespace")),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
        (status = 404, description = "No such namespace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    if !exists(&state, &name) {
        return Err(unknown(&name));
    }
    let mut keys: Vec<KeyInfo> = state
        .keys
        .read()
        .expect("keys lock")
        .values()
        .filter(|k| k.namespace == name)
        .map(|k| KeyInfo {
            key_id: k.key_id.clone(),
            label: k.label.clone(),
            created_ms: k.created_ms,
        })
        .collect();
    keys.sort_by(|a, b| (a.created_ms, &a.key_id).cmp(&(b.created_ms, &b.key_id)));
    Ok(Json(KeyList { keys }))
}

/// Revokes a key.
#[utoipa::path(
    delete,
    path = "/v1/namespaces/{name}/keys/{key_id}",
    tag = "admin",
    params(
        ("name" = String, Path, description = "Namespace"),
        ("key_id" = String, Path, description = "The key's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No or unknown key", body = ErrorBody),
        (status = 403, description = "A namespace key", body = ErrorBody),
        (status = 404, description = "No such namespace or key", body = ErrorBody),
        (status = 409, description = "A key of the configuration file (remove it there)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_key(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Path((name, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let _guard = state.admin_lock.lock().await;
    let found = state
        .keys
        .read()
        .expect("keys lock")
        .iter()
        .find(|(_, k)| k.namespace == name && k.key_id == key_id)
        .map(|(h, k)| (*h, k.from_config));
    let Some((hash, from_config)) = found else {
        return Err(ApiError::not_found(format!(
            "namespace '{name}' has no key '{key_id}'"
        )));
    };
    if from_config {
        return Err(ApiError::conflict(format!(
            "key '{key_id}' is written in the configuration file; remove it there and restart"
        )));
    }
    state.control.remove_key(&hex::encode(hash))?;
    state.keys.write().expect("keys lock").remove(&hash);
    tracing::info!(namespace = %name, key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
