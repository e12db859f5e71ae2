//! Binaries registry routes (otadeck extension): `GET`/`POST /apps/{app}/binaries`.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, change_on_app, created, ok, on_app, segment};
use crate::api::management::{BinariesEnvelope, BinaryEnvelope, NewBinary};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::audit::Change;
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

/// `POST /apps/{app}/binaries`: records a store build's native fingerprint (and, if given, the
/// manifest of the bundle it ships).
pub async fn register(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<NewBinary>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Release(None))?;
    let (app_name, binary) = change_on_app(&state, caller, app, None, move |c, caller, access| {
        let binary = binaries::register(c, access, &caller.email, request)?;
        let fields = serde_json::json!({
            "platform": binary.platform,
            "appVersion": binary.app_version,
            "buildNumber": binary.build_number,
            "fingerprint": binary.fingerprint,
        });
        let change = Change::in_app("binary.register", access, None, None).fields(None, Some(fields));
        Ok(((access.name.clone(), binary), Some(change)))
    })
    .await?;
    if binary.bundle_hash.is_some() {
        // The deployments' latest releases now also get a diff from this binary's bundle.
        state.diff_wake.notify_one();
    }
    Ok(created(&format!("/apps/{}/binaries", segment(&app_name)), &BinaryEnvelope { binary }))
}
