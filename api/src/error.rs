//! One error type for handlers. Under `/api` every error is RFC 9457 `application/problem+json`
//! (`type`, `title`, `status`, `detail`, plus the `request_id` the logs carry); `problem.rs`
//! turns errors produced outside the handlers (unknown routes, wrong methods, body limits) into
//! the same shape. Internals are logged, never sent.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxcast_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid credentials: send Authorization: Bearer TOKEN or log in")]
    Unauthorized,
    #[error("wrong name or password")]
    WrongLogin,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// Something that worked once and no longer does (a used or expired direct-upload URL).
    #[error("{0}")]
    Gone(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// tus: the request does not speak the protocol version this server does.
    #[error("{0}")]
    PreconditionFailed(String),
    /// tus: another request is writing to the same upload.
    #[error("{0}")]
    Locked(String),
    /// tus checksum extension: the body's digest differs (status 460).
    #[error("checksum mismatch: the body's SHA-1 is not the one in Upload-Checksum; its bytes were dropped")]
    ChecksumMismatch,
    /// The media storage has no room for the upload.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("too many requests; retry in {} s", retry_after.as_secs().max(1))]
    TooManyRequests { retry_after: Duration },
    /// A part of the service this node does not run (search off).
    #[error("{0}")]
    Unavailable(String),
    /// The database does not answer (restarting, failing over): nothing was changed; retry.
    #[error("the database is unavailable right now; nothing was changed, retry shortly")]
    DatabaseUnavailable,
    /// The media storage did not take the bytes (restarting, unreachable): what it kept is
    /// kept, and the upload's offset says how much.
    #[error("the media storage is unavailable right now; ask for the upload's offset and resume shortly")]
    StorageUnavailable,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An RFC 9457 problem, as every `/api` error is sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The `X-Request-Id` of the request, as in the server's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Retry-After` of a 503 sent while the database is away.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 2;

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: None,
        }
    }

    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidName(msg) => AppError::BadRequest(msg),
            StoreError::InvalidPassphrase(msg) => AppError::BadRequest(format!("srt passphrase {msg}")),
            StoreError::InvalidDisplayName(e) => AppError::BadRequest(format!("name: {e}")),
            e @ (StoreError::UnknownProfile { .. } | StoreError::UnknownStream(_) | StoreError::Invalid(_)) => {
                AppError::BadRequest(e.to_string())
            }
            StoreError::NameTaken(name) => AppError::Conflict(format!("stream {name} already exists")),
            StoreError::UserTaken(name) => AppError::Conflict(format!("user {name} already exists")),
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::DatabaseUnavailable
            }
            other => AppError::Internal(Box::new(other)),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        AppError::BadRequest(rejection.body_text())
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::WrongLogin => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            AppError::Locked(_) => StatusCode::LOCKED,
            AppError::ChecksumMismatch => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            AppError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::DatabaseUnavailable | AppError::StorageUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Internal(source) = &self {
            tracing::error!(error = %source, "request failed");
        }
        let mut response = Problem::new(status, self.to_string()).into_response_with(status);
        let headers = response.headers_mut();
        match &self {
            AppError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::PreconditionFailed(_) => {
                headers.insert("tus-version", HeaderValue::from_static(crate::uploads::TUS_VERSION));
            }
            AppError::TooManyRequests { retry_after } => {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            AppError::DatabaseUnavailable | AppError::StorageUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(DATABASE_RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response
    }
}
