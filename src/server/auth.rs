//! The `Caller` extractor: resolves `Authorization: Bearer <access key>` for management routes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
        let caller = state.store.run(move |c| accounts::authenticate(c, &secret)).await?;
        Ok(Self(caller))
    }
}
