//! Account, access-key and session routes.

use crate::domain::scope::Permission;
use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, change, created, no_content, ok, segment};
use crate::api::management::{
    AccessKey, AccessKeyEnvelope, AccessKeyPatch, AccessKeysEnvelope, AccountEnvelope, AuthenticatedEnvelope,
    NewAccessKey,
};
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::accounts;
use crate::server::store::audit::Change;

/// A key in the audit trail: never its secret.
fn audit_fields(key: &AccessKey) -> serde_json::Value {
    serde_json::json!({
        "friendlyName": key.friendly_name,
        "scopes": key.scopes,
        "expires": key.expires,
        "isSession": key.is_session,
    })
}

fn key_change(action: &'static str, name: &str, before: Option<&AccessKey>, after: Option<&AccessKey>) -> Change {
    Change::new(action, format!("access key \"{name}\"")).fields(before.map(audit_fields), after.map(audit_fields))
}

/// `GET /authenticated`.
pub async fn authenticated(_caller: Caller) -> Response {
    ok(&AuthenticatedEnvelope { authenticated: true })
}

/// `GET /account`.
pub async fn account(Caller(caller): Caller) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    Ok(ok(&AccountEnvelope { account: accounts::account(&caller) }))
}

/// `GET /accessKeys`: secrets masked.
pub async fn list(State(state): State<ServerState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let keys = state.store.run(move |c| accounts::list_access_keys(c, &caller)).await?;
    Ok(ok(&AccessKeysEnvelope { access_keys: keys }))
}

/// `POST /accessKeys`: the response carries the secret, once.
pub async fn create(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<NewAccessKey>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let friendly_name = request
        .friendly_name
        .or(request.description)
        .ok_or_else(|| ApiError::BadRequest("friendlyName: a name for the access key is required".into()))?;
    let created_by = request.created_by.unwrap_or_else(|| "otadeck".to_owned());
    let is_session = request.is_session.unwrap_or(false);
    let scopes = match request.scopes {
        Some(texts) => Some(
            texts
                .iter()
                .map(|t| crate::domain::scope::Scope::parse(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::BadRequest(format!("scopes: {e}")))?,
        ),
        None => None,
    };
    let key = change(&state, caller, move |c, caller| {
        let key = accounts::create_scoped_access_key(
            c,
            caller,
            &friendly_name,
            &created_by,
            request.ttl,
            is_session,
            scopes,
        )?;
        let change = key_change("accessKey.create", &key.friendly_name, None, Some(&key));
        Ok((key, Some(change)))
    })
    .await?;
    let location = format!("/accessKeys/{}", segment(&key.friendly_name));
    Ok(created(&location, &AccessKeyEnvelope { access_key: key }))
}

/// `GET /accessKeys/{name}` (by secret or friendly name), masked.
pub async fn get(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let key = state.store.run(move |c| accounts::get_access_key(c, &caller, &name)).await?;
    Ok(ok(&AccessKeyEnvelope { access_key: key }))
}

/// `PATCH /accessKeys/{name}`: rename and/or new TTL from now.
pub async fn patch(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<AccessKeyPatch>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let key = change(&state, caller, move |c, caller| {
        let before = accounts::get_access_key(c, caller, &name)?;
        let after = accounts::patch_access_key(c, caller, &name, request.friendly_name.as_deref(), request.ttl)?;
        let change = (audit_fields(&before) != audit_fields(&after))
            .then(|| key_change("accessKey.update", &before.friendly_name, Some(&before), Some(&after)));
        Ok((after, change))
    })
    .await?;
    Ok(ok(&AccessKeyEnvelope { access_key: key }))
}

/// `DELETE /accessKeys/{name}`.
pub async fn delete(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    change(&state, caller, move |c, caller| {
        let before = accounts::get_access_key(c, caller, &name)?;
        accounts::delete_access_key(c, caller, &name)?;
        Ok(((), Some(key_change("accessKey.delete", &before.friendly_name, Some(&before), None))))
    })
    .await?;
    Ok(no_content())
}

/// `DELETE /sessions/{createdBy}`.
pub async fn delete_sessions(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(created_by): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    change(&state, caller, move |c, caller| {
        accounts::delete_sessions(c, caller, &created_by)?;
        let change = Change::new("session.delete", format!("sessions created by \"{created_by}\""));
        Ok(((), Some(change)))
    })
    .await?;
    Ok(no_content())
}
