//! App and collaborator routes.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};

use super::body::{JsonBody, created, no_content, ok, on_app, segment};
use crate::api::management::{AppEnvelope, AppsEnvelope, CollaboratorsEnvelope, NewApp, Rename};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::apps;

/// `GET /apps`.
pub async fn list(State(state): State<ServerState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let apps = state.store.run(move |c| apps::list_apps(c, &caller)).await?;
    Ok(ok(&AppsEnvelope { apps }))
}

/// `POST /apps`: creates `Production` and `Staging` unless `manuallyProvisionDeployments`.
pub async fn create(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<NewApp>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let name = request.name.ok_or_else(|| ApiError::BadRequest("name: an app name is required".into()))?;
    let manual = request.manually_provision_deployments.unwrap_or(false);
    let app = state.store.run(move |c| apps::create_app(c, &caller, &name, manual)).await?;
    Ok(created(&format!("/apps/{}", segment(&app.name)), &AppEnvelope { app }))
}

/// `GET /apps/{app}`.
pub async fn get(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let app = on_app(&state, caller, app, |c, caller, access| apps::app_view(c, caller, access)).await?;
    Ok(ok(&AppEnvelope { app }))
}

/// `PATCH /apps/{app}`: rename (Owner).
pub async fn rename(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<Rename>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let Some(new_name) = request.name else { return Ok(no_content()) };
    let app =
        on_app(&state, caller, app, move |c, caller, access| apps::rename_app(c, caller, access, &new_name)).await?;
    Ok(ok(&AppEnvelope { app }))
}

/// `DELETE /apps/{app}` (Owner).
pub async fn delete(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    on_app(&state, caller, app, |c, _, access| apps::delete_app(c, access)).await?;
    state.cache.invalidate();
    Ok(no_content())
}

/// `POST /apps/{app}/transfer/{email}` (Owner).
pub async fn transfer(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    on_app(&state, caller, app, move |c, _, access| apps::transfer_app(c, access, &email)).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `GET /apps/{app}/collaborators`.
pub async fn collaborators(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let collaborators =
        on_app(&state, caller, app, |c, caller, access| apps::collaborators(c, caller, access.app_id)).await?;
    Ok(ok(&CollaboratorsEnvelope { collaborators }))
}

/// `POST /apps/{app}/collaborators/{email}` (Owner).
pub async fn add_collaborator(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    on_app(&state, caller, app, move |c, _, access| apps::add_collaborator(c, access, &email)).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /apps/{app}/collaborators/{email}` (Owner, or yourself).
pub async fn remove_collaborator(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    on_app(&state, caller, app, move |c, caller, access| apps::remove_collaborator(c, caller, access, &email)).await?;
    Ok(no_content())
}
