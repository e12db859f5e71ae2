//! The `Caller` extractor: resolves `Authorization: Bearer <access key>` for management routes,
//! with the client's address and the change's reason (`X-Otadeck-Reason`) for the audit trail.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::api::management::REASON_HEADER;
use crate::server::store::audit::MAX_REASON_CHARS;

use super::ServerState;
use super::error::ApiError;
use super::store::accounts::{self, AuthenticatedCaller};

/// The authenticated account of a management request.
pub struct Caller(pub AuthenticatedCaller);

impl FromRequestParts<ServerState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ServerState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let secret = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("Missing access key: send \"Authorization: Bearer <access key>\".".into())
            })?
            .to_owned();
        let reason = reason(&parts.headers)?;
        let mut caller = state.store.run(move |c| accounts::authenticate(c, &secret)).await?;
        caller.client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| state.client_address(*peer, &parts.headers).to_string());
        caller.reason = reason;
        Ok(Self(caller))
    }
}

/// The reason header: percent-encoded UTF-8, trimmed, at most [`MAX_REASON_CHARS`] characters
/// without control characters. Blank counts as none.
fn reason(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(REASON_HEADER) else { return Ok(None) };
    let invalid = |why: &str| ApiError::BadRequest(format!("X-Otadeck-Reason: {why}"));
    let text = value.to_str().map_err(|_| invalid("send it percent-encoded (UTF-8)"))?;
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| invalid("not valid percent-encoded UTF-8"))?;
    let reason = decoded.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(&format!("at most {MAX_REASON_CHARS} characters")));
    }
    if reason.chars().any(char::is_control) {
        return Err(invalid("no control characters (line breaks, tabs)"));
    }
    Ok((!reason.is_empty()).then(|| reason.to_owned()))
}
