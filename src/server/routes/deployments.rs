//! Deployment routes: list, create, rename, delete, history and metrics.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, change_on_app, created, no_content, ok, on_app, segment};
use crate::api::management::{
    Deployment, DeploymentEnvelope, DeploymentsEnvelope, EventsEnvelope, HistoryEnvelope, MetricsEnvelope,
    NewDeployment, PolicyEnvelope, Rename, SeriesEnvelope,
};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::apps::{self, DeploymentRow};
use crate::server::store::audit::Change;
use crate::server::store::{StoreResult, metrics, policy, releases};

fn deployment_view(
    state: &ServerState,
    connection: &crate::server::store::Db,
    row: DeploymentRow,
) -> StoreResult<Deployment> {
    let package = releases::latest(connection, row.id)?.map(|r| r.to_package(state.blob_url(&r.blob_sha256)));
    Ok(Deployment {
        name: row.name,
        key: row.key,
        package,
        created_time: Some(row.created_time),
        is_protected: row.is_protected,
        mendix_host: crate::server::store::mendix::host_of_deployment(connection, row.id)?,
    })
}

/// A deployment's fields in the audit trail (its key is left out: it names no person's change).
fn audit_fields(row: &DeploymentRow) -> serde_json::Value {
    serde_json::json!({ "name": row.name, "isProtected": row.is_protected })
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
    let (app_name, row) = change_on_app(&state, caller, app, None, move |c, _, access| {
        let row = apps::create_deployment(c, access, &name, request.key.as_deref())?;
        let change =
            Change::in_app("deployment.create", access, Some(&row.name), None).fields(None, Some(audit_fields(&row)));
        Ok(((access.name.clone(), row), Some(change)))
    })
    .await?;
    let location = format!("/apps/{}/deployments/{}", segment(&app_name), segment(&row.name));
    let deployment = Deployment {
        name: row.name,
        key: row.key,
        package: None,
        created_time: None,
        is_protected: false,
        mendix_host: None,
    };
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

/// `PATCH /apps/{app}/deployments/{deployment}`: rename, and protect or unprotect (otadeck
/// extension `isProtected`) (Owner).
pub async fn rename(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, name)): Path<(String, String)>,
    JsonBody(request): JsonBody<Rename>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    if request.name.is_none() && request.is_protected.is_none() {
        return Ok(no_content());
    }
    let view = state.clone();
    let deployment = change_on_app(&state, caller, app, Some(name.clone()), move |c, _, access| {
        let (before, after) = apps::update_deployment(c, access, &name, request.name.as_deref(), request.is_protected)?;
        let change = (audit_fields(&before) != audit_fields(&after)).then(|| {
            Change::in_app("deployment.update", access, Some(&before.name), None)
                .fields(Some(audit_fields(&before)), Some(audit_fields(&after)))
        });
        Ok((deployment_view(&view, c, after)?, change))
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
    change_on_app(&state, caller, app, Some(name.clone()), move |c, _, access| {
        let row = apps::delete_deployment(c, access, &name)?;
        let change =
            Change::in_app("deployment.delete", access, Some(&row.name), None).fields(Some(audit_fields(&row)), None);
        Ok(((), Some(change)))
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
    caller.require(&Permission::Read)?;
    let view = state.clone();
    let history = on_app(&state, caller, app, move |c, _, access| {
        let row = apps::find_deployment(c, access, &name)?;
        let history = releases::history(c, row.id)?;
        let mut diffs = crate::server::store::diffs::described(c, row.id, &history)?;
        Ok(history
            .iter()
            .map(|r| {
                let mut package = r.to_package(view.blob_url(&r.blob_sha256));
                package.diff_packages = diffs.remove(&r.label_number).unwrap_or_default();
                package
            })
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
    caller.require(&Permission::Admin)?;
    change_on_app(&state, caller, app, Some(name.clone()), move |c, _, access| {
        let releases = releases::history(c, apps::find_deployment(c, access, &name)?.id)?.len();
        let row = releases::clear_history(c, access, &name)?;
        let change = Change::in_app("deployment.clearHistory", access, Some(&row.name), None)
            .fields(Some(serde_json::json!({ "releases": releases })), Some(serde_json::json!({ "releases": 0 })));
        Ok(((), Some(change)))
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
    caller.require(&Permission::Read)?;
    let metrics = on_app(&state, caller, app, move |c, _, access| {
        let id = apps::find_deployment(c, access, &name)?.id;
        // A Mendix channel's devices send no reports: its counters are inferred from checks and
        // downloads through the gateway.
        match crate::server::store::mendix::platform_of_deployment(c, id)? {
            Some(_) => crate::server::store::mendix::inferred_metrics(c, id),
            None => metrics::metrics(c, id),
        }
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
    change_on_app(&state, caller, app, Some(name.clone()), move |c, _, access| {
        access.require_owner()?;
        let id = apps::find_deployment(c, access, &name)?.id;
        let before = policy::get(c, id)?;
        policy::set(c, id, &stored)?;
        let change = (before.as_ref() != Some(&stored)).then(|| {
            Change::in_app("policy.set", access, Some(&name), None)
                .fields(before.map(|p| serde_json::json!(p)), Some(serde_json::json!(stored)))
        });
        Ok(((), change))
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
    change_on_app(&state, caller, app, Some(name.clone()), move |c, _, access| {
        access.require_owner()?;
        let id = apps::find_deployment(c, access, &name)?.id;
        let before = policy::get(c, id)?;
        policy::delete(c, id)?;
        let change = before.map(|before| {
            Change::in_app("policy.delete", access, Some(&name), None).fields(Some(serde_json::json!(before)), None)
        });
        Ok(((), change))
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
