//! Binaries registry routes (otadeck extension): `GET`/`POST /apps/{app}/binaries`.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, created, ok, on_app, segment};
use crate::api::management::{BinariesEnvelope, BinaryEnvelope, NewBinary};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::binaries;

/// `GET /apps/{app}/binaries`.
pub async fn list(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let binaries = on_app(&state, caller, app, |c, _, access| binaries::list(c, access)).await?;
    Ok(ok(&BinariesEnvelope { binaries }))
}

/// `POST /apps/{app}/binaries`: records a store build's native fingerprint.
pub async fn register(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<NewBinary>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Release(None))?;
    let (app_name, binary) = on_app(&state, caller, app, move |c, caller, access| {
        Ok((access.name.clone(), binaries::register(c, access, &caller.email, request)?))
    })
    .await?;
    Ok(created(&format!("/apps/{}/binaries", segment(&app_name)), &BinaryEnvelope { binary }))
}
