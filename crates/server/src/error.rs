//! [`ApiError`]: every refusal as `{"error":{"code","message"}}`, the mapping from
//! `weft::HostError`, the JSON body extractor with JSON rejections, and the middleware that
//! turns axum's own plain-text refusals (unknown route, wrong method, bad query) into the same
//! JSON.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use weft::HostError;
use weft_engine::StoreError;

/// The body of every refusal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error of an [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `quota_exceeded`,
    /// `update_rejected`, `update_failed`, `query_failed`, `unavailable`, `internal`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
}

/// A refusal: status, code and message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `code` of the body.
    pub code: &'static str,
    /// The `message` of the body.
    pub message: String,
}

impl ApiError {
    /// A refusal with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 503 `unavailable` (the server is stopping).
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is shutting down",
        )
    }

    /// 500 `internal`, logged.
    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::error!(%message, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The code used for a bare status (refusals not made by a handler).
    fn code_of(status: StatusCode) -> &'static str {
        match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::TOO_MANY_REQUESTS => "quota_exceeded",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(format!("{e:#}"))
    }
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> ApiError {
        use StatusCode as S;
        let message = e.to_string();
        let (status, code) = match &e {
            HostError::Store(s) => match s {
                StoreError::UnknownWorkflow(_) => (S::NOT_FOUND, "not_found"),
                StoreError::AlreadyRunning(..)
                | StoreError::IdReused { .. }
                | StoreError::NotRunning(..)
                | StoreError::Conflict(..)
                | StoreError::ResetRefused(..)
                | StoreError::HistoryLimit(_) => (S::CONFLICT, "conflict"),
                StoreError::QuotaExceeded { .. } => (S::TOO_MANY_REQUESTS, "quota_exceeded"),
                StoreError::Closed(_) => (S::SERVICE_UNAVAILABLE, "unavailable"),
                _ => (S::INTERNAL_SERVER_ERROR, "internal"),
            },
            HostError::NotRunning(_) => (S::CONFLICT, "conflict"),
            HostError::Admission(_)
            | HostError::UnknownWorkflowType(..)
            | HostError::InvalidArgument(_) => (S::BAD_REQUEST, "bad_request"),
            HostError::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "payload_too_large"),
            HostError::Unauthorized => (S::UNAUTHORIZED, "unauthorized"),
            HostError::UnknownNamespace(_)
            | HostError::UnknownNexusOperation(_)
            | HostError::UnknownActivityTask(_)
            | HostError::UnknownNexusTask(_) => (S::NOT_FOUND, "not_found"),
            HostError::UpdateRejected(_) => (S::UNPROCESSABLE_ENTITY, "update_rejected"),
            HostError::UpdateFailed(_) | HostError::WorkflowTaskFailed(_) => {
                (S::UNPROCESSABLE_ENTITY, "update_failed")
            }
            HostError::QueryFailed(_) => (S::UNPROCESSABLE_ENTITY, "query_failed"),
            HostError::CannotOpen { .. } | HostError::ReplayDiverged(_) | HostError::Engine(_) => {
                (S::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        if status.is_server_error() {
            tracing::error!(error = %message, "host error");
        }
        ApiError::new(status, code, message)
    }
}

/// A JSON request body: malformed JSON or a wrong shape answers 400 `bad_request`, a body
/// over `max_request_bytes` 413 `payload_too_large`. The `Content-Type` is not checked, and an
/// empty body reads as `{}` (for bodies whose fields are all optional).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// The raw body, with the body limit's refusal as 413 JSON.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                "the request body is larger than the server's max_request_bytes",
            )
        } else {
            ApiError::new(status, ApiError::code_of(status), e.body_text())
        }
    })
}

/// Middleware: a 4xx or 5xx response that is not JSON (axum's own refusals: unknown route,
/// wrong method, bad path or query) is replaced by the JSON error body, its text as message.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, ApiError::code_of(status), message).into_response();
    // Keep headers such as `Allow` of a 405.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// A raw request body, with the body limit's refusal as 413 JSON.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        body_bytes(req, state).await.map(RawBody)
    }
}
