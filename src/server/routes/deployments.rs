//! Deployment routes: list, create, rename, delete, history and metrics.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, created, no_content, ok, on_app, segment};
use crate::api::management::{
    Deployment, DeploymentEnvelope, DeploymentsEnvelope, EventsEnvelope, HistoryEnvelope, MetricsEnvelope,
    NewDeployment, PolicyEnvelope, Rename, SeriesEnvelope,
};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::apps::{self, DeploymentRow};
use crate::server::store::{StoreResult, metrics, policy, releases};

fn deployment_view(
    state: &ServerState,
    connection: &rusqlite::Connection,
    row: DeploymentRow,
) -> StoreResult<Deployment> {
    let package = releases::latest(connection, row.id)?.map(|r| r.to_package(state.blob_url(&r.blob_sha256)));
    Ok(Deployment { name: row.name, key: row.key, package, created_time: Some(row.created_time) })
}

/// `GET /apps/{app}/deployments`.
pub async fn list(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let view = state.clone();
    let deployments = on_app(&state, caller, app, move |c, _, access| {
        apps::list_deployments(c, access)?.into_iter().map(|row| deployment_view(&view, c, row)).collect()
    })
    .await?;
    Ok(ok(&DeploymentsEnvelope { deployments }))
}

/// `POST /apps/{app}/deployments` (Owner); the key may be chosen by the caller.
pub async fn create(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<NewDeployment>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let name = request.name.ok_or_else(|| ApiError::BadRequest("name: a deployment name is required".into()))?;
    let (app_name, row) = on_app(&state, caller, app, move |c, _, access| {
        Ok((access.name.clone(), apps::create_deployment(c, access, &name, request.key.as_deref())?))
    })
    .await?;
    let location = format!("/apps/{}/deployments/{}", segment(&app_name), segment(&row.name));
    let deployment = Deployment { name: row.name, key: row.key, package: None, created_time: None };
    Ok(created(&location, &DeploymentEnvelope { deployment }))
}

/// `GET /apps/{app}/deployments/{deployment}`.
pub async fn get(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let view = state.clone();
    let deployment = on_app(&state, caller, app, move |c, _, access| {
        deployment_view(&view, c, apps::find_deployment(c, access, &name)?)
    })
    .await?;
    Ok(ok(&DeploymentEnvelope { deployment }))
}

/// `PATCH /apps/{app}/deployments/{deployment}`: rename (Owner).
pub async fn rename(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
    JsonBody(request): JsonBody<Rename>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let Some(new_name) = request.name else { return Ok(no_content()) };
    let view = state.clone();
    let deployment = on_app(&state, caller, app, move |c, _, access| {
        deployment_view(&view, c, apps::rename_deployment(c, access, &name, &new_name)?)
    })
    .await?;
    Ok(ok(&DeploymentEnvelope { deployment }))
}

/// `DELETE /apps/{app}/deployments/{deployment}` (Owner).
pub async fn delete(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    on_app(&state, caller, app, move |c, _, access| apps::delete_deployment(c, access, &name)).await?;
    state.cache.invalidate();
    Ok(no_content())
}

/// `GET …/history`: oldest first.
pub async fn history(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let view = state.clone();
    let history = on_app(&state, caller, app, move |c, _, access| {
        let row = apps::find_deployment(c, access, &name)?;
        let history = releases::history(c, row.id)?;
        Ok(history.into_iter().map(|r| r.to_package(view.blob_url(&r.blob_sha256))).collect())
    })
    .await?;
    Ok(ok(&HistoryEnvelope { history }))
}

/// `DELETE …/history` (Owner): releases and metrics.
pub async fn clear_history(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    on_app(&state, caller, app, move |c, _, access| releases::clear_history(c, access, &name)).await?;
    state.cache.invalidate();
    Ok(no_content())
}

/// `GET …/metrics`.
pub async fn metrics(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let metrics = on_app(&state, caller, app, move |c, _, access| {
        metrics::metrics(c, apps::find_deployment(c, access, &name)?.id)
    })
    .await?;
    Ok(ok(&MetricsEnvelope { metrics }))
}

/// `GET …/policy` (otadeck extension): the deployment's rollout schedule and health gate.
pub async fn get_policy(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let found =
        on_app(&state, caller, app, move |c, _, access| policy::get(c, apps::find_deployment(c, access, &name)?.id))
            .await?;
    let policy = found.ok_or_else(|| ApiError::NotFound("This deployment has no rollout policy.".into()))?;
    Ok(ok(&PolicyEnvelope { policy }))
}

/// `PUT …/policy` (otadeck extension, Owner): sets the schedule and health gate.
pub async fn set_policy(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
    JsonBody(request): JsonBody<PolicyEnvelope>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Rollout)?;
    let policy = request.policy;
    let stored = policy.clone();
    on_app(&state, caller, app, move |c, _, access| {
        access.require_owner()?;
        policy::set(c, apps::find_deployment(c, access, &name)?.id, &stored)
    })
    .await?;
    Ok(ok(&PolicyEnvelope { policy }))
}

/// `DELETE …/policy` (otadeck extension, Owner).
pub async fn delete_policy(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Rollout)?;
    on_app(&state, caller, app, move |c, _, access| {
        access.require_owner()?;
        policy::delete(c, apps::find_deployment(c, access, &name)?.id)
    })
    .await?;
    Ok(no_content())
}

/// `GET …/events` (otadeck extension): what the schedule, the health gate and people did.
pub async fn events(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let events =
        on_app(&state, caller, app, move |c, _, access| policy::events(c, apps::find_deployment(c, access, &name)?.id))
            .await?;
    Ok(ok(&EventsEnvelope { events }))
}

/// `GET …/metrics/{label}/series` (otadeck extension): installs, downloads and failures over time.
pub async fn series(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name, label)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    crate::domain::validate::label(&label).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let series = on_app(&state, caller, app, move |c, _, access| {
        metrics::samples(c, apps::find_deployment(c, access, &name)?.id, &label)
    })
    .await?;
    Ok(ok(&SeriesEnvelope { series }))
}
