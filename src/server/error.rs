//! `ApiError`: every failure a handler can return, rendered as a status code and a plain-text body
//! (the CodePush clients print the body as-is). Internal details are logged once, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::store::StoreError;
use crate::domain::history::HistoryError;

/// A handler failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A protected deployment takes changes only with a reason (428 Precondition Required).
    #[error("{0}")]
    ReasonRequired(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Too many requests from this address; retry after this many seconds.
    #[error("Too many requests from this address; retry in {0} s.")]
    TooManyRequests(u64),
    /// The server cannot take the request now (no file descriptor, disk full); nothing was stored.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::ReasonRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Forbidden(m) => Self::Forbidden(m),
            StoreError::Invalid(m) => Self::BadRequest(m),
            StoreError::Unauthorized(m) => Self::Unauthorized(m),
            StoreError::ReasonRequired(m) => Self::ReasonRequired(m),
            StoreError::History(rule) => {
                let message = rule.to_string();
                match rule {
                    HistoryError::NoReleases | HistoryError::LabelNotFound => Self::NotFound(message),
                    _ => Self::Conflict(message),
                }
            }
            StoreError::Sqlite(e) => Self::Internal(e.to_string()),
            StoreError::Postgres(ref e) if super::store::db::connection_lost(e) => database_unavailable(&error),
            StoreError::Unavailable(_) => database_unavailable(&error),
            StoreError::Postgres(e) => Self::Internal(e.to_string()),
            StoreError::Decode(e) => Self::Internal(e),
            StoreError::Task(e) => Self::Internal(e),
        }
    }
}

/// 503 for a database that is away (the detail is logged, not sent).
fn database_unavailable(error: &StoreError) -> ApiError {
    tracing::warn!(%error, "database unavailable");
    ApiError::Unavailable("The database cannot be reached right now; nothing was changed. Retry shortly.".into())
}

impl From<std::io::Error> for ApiError {
    /// Running out of file descriptors or disk space is the server's state, not a bug: 503 with a
    /// clear message, so clients retry later.
    fn from(error: std::io::Error) -> Self {
        match error.raw_os_error() {
            Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE => {
                Self::Unavailable("The server has too many open files right now; retry shortly.".into())
            }
            Some(code) if code == nix::libc::ENOSPC || code == nix::libc::EDQUOT => {
                Self::Unavailable("The server's disk is full; nothing was stored.".into())
            }
            _ if error.get_ref().is_some_and(|e| e.is::<crate::server::blobs::BucketUnavailable>()) => {
                tracing::warn!(%error, "package bucket request failed");
                Self::Unavailable("The package store cannot be reached right now; retry shortly.".into())
            }
            _ => Self::Internal(error.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "The server hit an internal error; it has been logged.".to_owned()
            }
            other => other.to_string(),
        };
        let mut response =
            (status, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
        response
            .headers_mut()
            .insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
        if let Self::TooManyRequests(seconds) = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}
