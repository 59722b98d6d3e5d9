//! Authentication: `Authorization: Bearer KEY` → SHA-256 → the key index (namespace keys) or
//! a constant-time comparison with the admin key's hash. The extractors [`Ns`] (a namespace
//! route: a client bound to the key's namespace) and [`Admin`] (an admin route).

use crate::error::ApiError;
use crate::state::{AppState, ct_eq, sha256};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use std::sync::Arc;
use weft::Client;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No key, in open development mode: namespace `default` and the admin routes.
    Open,
    /// The admin key.
    Admin,
    /// A key of this namespace.
    Namespace(String),
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The caller of a request, from its `Authorization` header.
pub fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        if state.open_mode {
            return Ok(Caller::Open);
        }
        return Err(unauthorized(
            "missing API key: send the header `Authorization: Bearer <key>`",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
    let key = match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => {
            return Err(unauthorized(
                "the Authorization header must be `Bearer <key>`",
            ));
        }
    };
    let hash = sha256(key.as_bytes());
    if let Some(admin) = &state.admin_hash
        && ct_eq(admin, &hash)
    {
        return Ok(Caller::Admin);
    }
    let keys = state.keys.read().expect("keys lock");
    match keys.get(&hash) {
        Some(entry) => Ok(Caller::Namespace(entry.namespace.clone())),
        None => Err(unauthorized("unknown API key")),
    }
}

/// A namespace route's caller: a client of the key's namespace (`default` in open mode).
pub struct Ns {
    /// The namespace's client.
    pub client: Client,
    /// Its name.
    pub namespace: String,
}

impl FromRequestParts<Arc<AppState>> for Ns {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let namespace = match caller(parts, state)? {
            Caller::Open => weft::Namespace::DEFAULT.to_string(),
            Caller::Namespace(ns) => ns,
            Caller::Admin => {
                return Err(forbidden(
                    "the admin key reaches the admin routes only; use a namespace key",
                ));
            }
        };
        tracing::Span::current().record("namespace", namespace.as_str());
        // A key whose namespace was just removed is refused like an unknown key.
        let client = state
            .host
            .namespace(&namespace)
            .map_err(|_| unauthorized("unknown API key"))?;
        Ok(Ns { client, namespace })
    }
}

/// An admin route's caller (the admin key, or no key in open mode).
pub struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        match caller(parts, state)? {
            Caller::Open | Caller::Admin => Ok(Admin),
            Caller::Namespace(_) => Err(forbidden(
                "a namespace key cannot reach the admin routes; use the admin key",
            )),
        }
    }
}
