//! App and collaborator routes.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};

use super::body::{JsonBody, change_on_app, created, no_content, ok, on_app, segment};
use crate::api::management::{AppEnvelope, AppsEnvelope, CollaboratorRole, CollaboratorsEnvelope, NewApp, Rename};
use crate::domain::scope::Scope;
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::apps;
use crate::server::store::audit::Change;

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
    let app = super::body::change(&state, caller, move |c, caller| {
        let (access, app) = apps::create_app(c, caller, &name, manual)?;
        let fields = serde_json::json!({ "name": app.name, "deployments": app.deployments });
        Ok((app, Some(Change::in_app("app.create", &access, None, None).fields(None, Some(fields)))))
    })
    .await?;
    Ok(created(&format!("/apps/{}", segment(&app.name)), &AppEnvelope { app }))
}

/// `GET /apps/{app}`.
pub async fn get(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let app = on_app(&state, caller, app, apps::app_view).await?;
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
    let app = change_on_app(&state, caller, app, None, move |c, caller, access| {
        let app = apps::rename_app(c, caller, access, &new_name)?;
        let change = (app.name != access.name).then(|| {
            Change::in_app("app.rename", access, None, None)
                .fields(Some(serde_json::json!({ "name": access.name })), Some(serde_json::json!({ "name": app.name })))
        });
        Ok((app, change))
    })
    .await?;
    Ok(ok(&AppEnvelope { app }))
}

/// `DELETE /apps/{app}` (Owner).
pub async fn delete(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    change_on_app(&state, caller, app, None, |c, caller, access| {
        let before = apps::app_view(c, caller, access)?;
        apps::delete_app(c, access)?;
        let fields = serde_json::json!({ "name": before.name, "deployments": before.deployments });
        Ok(((), Some(Change::in_app("app.delete", access, None, None).fields(Some(fields), None))))
    })
    .await?;
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
    change_on_app(&state, caller, app, None, move |c, caller, access| {
        apps::transfer_app(c, access, &email)?;
        let change = Change::in_app("app.transfer", access, None, None)
            .fields(Some(serde_json::json!({ "owner": caller.email })), Some(serde_json::json!({ "owner": email })));
        Ok(((), Some(change)))
    })
    .await?;
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

/// A role as scopes: a preset name (`ci`, `product-owner`, `support`) or scope names.
fn parse_role(request: CollaboratorRole) -> Result<Option<Vec<Scope>>, ApiError> {
    let Some(texts) = request.role else { return Ok(None) };
    if let [name] = texts.as_slice()
        && let Some(preset) = crate::domain::scope::preset(name)
    {
        return Ok(Some(preset));
    }
    let scopes = texts.iter().map(|t| Scope::parse(t)).collect::<Result<Vec<_>, _>>();
    scopes.map(Some).map_err(|e| ApiError::BadRequest(format!("role: {e}")))
}

fn role_fields(role: Option<&[Scope]>) -> serde_json::Value {
    serde_json::json!({ "role": role.map(|r| r.iter().map(ToString::to_string).collect::<Vec<_>>()) })
}

/// `POST /apps/{app}/collaborators/{email}` (Owner), optionally with a role (otadeck extension).
pub async fn add_collaborator(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, email)): Path<(String, String)>,
    JsonBody(request): JsonBody<CollaboratorRole>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let role = parse_role(request)?;
    change_on_app(&state, caller, app, None, move |c, _, access| {
        apps::add_collaborator(c, access, &email, role.as_deref())?;
        let mut fields = role_fields(role.as_deref());
        fields["collaborator"] = email.clone().into();
        Ok(((), Some(Change::in_app("collaborator.add", access, None, None).fields(None, Some(fields)))))
    })
    .await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `PATCH /apps/{app}/collaborators/{email}` (otadeck extension, Owner): changes the role.
pub async fn set_role(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, email)): Path<(String, String)>,
    JsonBody(request): JsonBody<CollaboratorRole>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let role = parse_role(request)?;
    change_on_app(&state, caller, app, None, move |c, _, access| {
        let before = apps::set_collaborator_role(c, access, &email, role.as_deref())?;
        let change = (before != role).then(|| {
            let mut change = Change::in_app("collaborator.role", access, None, None)
                .fields(Some(role_fields(before.as_deref())), Some(role_fields(role.as_deref())));
            change.target = format!("{} collaborator {email}", access.name);
            change
        });
        Ok(((), change))
    })
    .await?;
    Ok(no_content())
}

/// `DELETE /apps/{app}/collaborators/{email}` (Owner, or yourself).
pub async fn remove_collaborator(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    change_on_app(&state, caller, app, None, move |c, caller, access| {
        apps::remove_collaborator(c, caller, access, &email)?;
        let fields = serde_json::json!({ "collaborator": email });
        Ok(((), Some(Change::in_app("collaborator.remove", access, None, None).fields(Some(fields), None))))
    })
    .await?;
    Ok(no_content())
}
