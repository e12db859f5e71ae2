//! Deployment routes: list, create, rename, delete, history and metrics.

use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, created, no_content, ok, segment};
use crate::api::management::{
    Deployment, DeploymentEnvelope, DeploymentsEnvelope, HistoryEnvelope, MetricsEnvelope,
    NewDeployment, Rename,
};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::apps::{self, DeploymentRow, resolve_app};
use crate::server::store::{StoreResult, metrics, releases};

fn deployment_view(
    state: &ServerState,
    connection: &rusqlite::Connection,
    row: DeploymentRow,
) -> StoreResult<Deployment> {
    let package =
        releases::latest(connection, row.id)?.map(|r| r.to_package(state.blob_url(&r.blob_sha256)));
    Ok(Deployment {
        name: row.name,
        key: row.key,
        package,
        created_time: Some(row.created_time),
    })
}

/// `GET /apps/{app}/deployments`.
pub async fn list(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let view_state = state.clone();
    let deployments = state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            let rows = apps::list_deployments(c, &access)?;
            rows.into_iter()
                .map(|row| deployment_view(&view_state, c, row))
                .collect()
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
    let name = request
        .name
        .ok_or_else(|| ApiError::BadRequest("name: a deployment name is required".into()))?;
    let (app_name, row) = state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            let row = apps::create_deployment(c, &access, &name, request.key.as_deref())?;
            Ok((access.name, row))
        })
        .await?;
    let location = format!(
        "/apps/{}/deployments/{}",
        segment(&app_name),
        segment(&row.name)
    );
    let deployment = Deployment {
        name: row.name,
        key: row.key,
        package: None,
        created_time: None,
    };
    Ok(created(&location, &DeploymentEnvelope { deployment }))
}

/// `GET /apps/{app}/deployments/{deployment}`.
pub async fn get(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view_state = state.clone();
    let deployment = state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            let row = apps::find_deployment(c, &access, &name)?;
            deployment_view(&view_state, c, row)
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
    let Some(new_name) = request.name else {
        return Ok(no_content());
    };
    let view_state = state.clone();
    let deployment = state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            let row = apps::rename_deployment(c, &access, &name, &new_name)?;
            deployment_view(&view_state, c, row)
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
    state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            apps::delete_deployment(c, &access, &name)
        })
        .await?;
    state.cache.invalidate();
    Ok(no_content())
}

/// `GET …/history`: oldest first.
pub async fn history(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view_state = state.clone();
    let history = state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            let row = apps::find_deployment(c, &access, &name)?;
            let history = releases::history(c, row.id)?;
            Ok(history
                .into_iter()
                .map(|r| r.to_package(view_state.blob_url(&r.blob_sha256)))
                .collect())
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
    state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            releases::clear_history(c, &access, &name)
        })
        .await?;
    state.cache.invalidate();
    Ok(no_content())
}

/// `GET …/metrics`.
pub async fn metrics(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let metrics = state
        .store
        .run(move |c| {
            let access = resolve_app(c, &caller, &app)?;
            let row = apps::find_deployment(c, &access, &name)?;
            metrics::metrics(c, row.id)
        })
        .await?;
    Ok(ok(&MetricsEnvelope { metrics }))
}
