//! Request-body and response helpers shared by the management routes.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::JSON_BODY_LIMIT;
use crate::server::ServerState;
use crate::server::error::ApiError;
use crate::server::store::apps::{AppAccess, resolve_app};
use crate::server::store::audit::{self, Change};
use crate::server::store::{AuthenticatedCaller, StoreResult};

/// A JSON body parsed regardless of `Content-Type`, with a 400 text message on bad JSON (413 over
/// the size limit). An empty body is read as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ServerState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &ServerState) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(request).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("The request body is not valid: {e}")))
    }
}

/// The body of a JSON request, at most [`JSON_BODY_LIMIT`] bytes whatever route it came by (the
/// router's body limit is not consulted): 413 naming the limit over it, 400 when it cannot be read.
///
/// # Errors
/// [`ApiError::PayloadTooLarge`] or [`ApiError::BadRequest`].
pub async fn read_json_body(request: Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(request.into_body(), JSON_BODY_LIMIT).await.map_err(|e| {
        let message = format!("Could not read the request body: {e}");
        if std::error::Error::source(&e).is_some_and(|source| source.is::<http_body_util::LengthLimitError>()) {
            ApiError::PayloadTooLarge(format!("{message} (JSON bodies are limited to {} KiB)", JSON_BODY_LIMIT / 1024))
        } else {
            ApiError::BadRequest(message)
        }
    })
}

/// 200 with a JSON body.
pub fn ok<T: Serialize>(value: &T) -> Response {
    json(StatusCode::OK, value)
}

/// 201 with a JSON body and a `Location` header.
pub fn created<T: Serialize>(location: &str, value: &T) -> Response {
    let mut response = json(StatusCode::CREATED, value);
    if let Ok(location) = header::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// 204.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response(),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

/// Percent-encodes a path segment for `Location` headers.
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Runs `work` in the store with the caller's access to `app` resolved first (404 if the caller
/// cannot see it). Every app-scoped management route goes through here.
pub async fn on_app<T, F>(state: &ServerState, caller: AuthenticatedCaller, app: String, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&crate::server::store::Db, &AuthenticatedCaller, &AppAccess) -> StoreResult<T> + Send + 'static,
{
    let result = state
        .store
        .run(move |connection| {
            let access = resolve_app(connection, &caller, &app)?;
            work(connection, &caller, &access)
        })
        .await?;
    Ok(result)
}

/// Runs a mutation of `app` and records it in the audit trail, in one transaction. `deployment`
/// is the deployment the change lands in, if any: when it is protected the change needs a reason,
/// checked before anything is touched. Every app-scoped management mutation goes through here.
pub async fn change_on_app<T, F>(
    state: &ServerState,
    caller: AuthenticatedCaller,
    app: String,
    deployment: Option<String>,
    work: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&crate::server::store::Db, &AuthenticatedCaller, &AppAccess) -> StoreResult<(T, Option<Change>)>
        + Send
        + 'static,
{
    let result = state
        .store
        .run(move |connection| {
            let access = resolve_app(connection, &caller, &app)?;
            if let Some(deployment) = &deployment {
                audit::require_reason(connection, &caller, &access, deployment)?;
            }
            audit::in_transaction(connection, &caller, |c| work(c, &caller, &access))
        })
        .await?;
    Ok(result)
}

/// Runs a mutation outside any app (access keys, new apps) and records it in the audit trail, in
/// one transaction.
pub async fn change<T, F>(state: &ServerState, caller: AuthenticatedCaller, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&crate::server::store::Db, &AuthenticatedCaller) -> StoreResult<(T, Option<Change>)> + Send + 'static,
{
    let result =
        state.store.run(move |connection| audit::in_transaction(connection, &caller, |c| work(c, &caller))).await?;
    Ok(result)
}
