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
    #[error("{0}")]
    PayloadTooLarge(String),
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
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
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
            StoreError::History(rule) => {
                let message = rule.to_string();
                match rule {
                    HistoryError::NoReleases | HistoryError::LabelNotFound => Self::NotFound(message),
                    _ => Self::Conflict(message),
                }
            }
            StoreError::Sqlite(e) => Self::Internal(e.to_string()),
            StoreError::Task(e) => Self::Internal(e),
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(error: std::io::Error) -> Self {
        Self::Internal(error.to_string())
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
        (status, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
    }
}
