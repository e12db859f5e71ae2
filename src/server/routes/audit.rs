//! `GET /audit` (otadeck extension): the audit trail, filtered by app, deployment, account and
//! time, newest first.

use axum::extract::{Query, State};
use axum::response::Response;

use super::body::ok;
use crate::api::management::{AuditEnvelope, AuditQuery};
use crate::domain::scope::Permission;
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::{StoreError, apps, audit};

/// `GET /audit?app=&deployment=&account=&from=&to=&limit=`. An app the caller can still see is
/// matched by identity (across renames); a deleted one by the name it had.
pub async fn list(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let Query(query) =
        query.map_err(|e| ApiError::BadRequest(format!("The audit query is not valid: {}", e.body_text())))?;
    if query.deployment.is_some() && query.app.is_none() {
        return Err(ApiError::BadRequest("deployment: name the app too (app=…)".into()));
    }
    let entries = state
        .store
        .run(move |c| {
            let app_id = match query.app.as_deref().map(|app| apps::resolve_app(c, &caller, app)) {
                Some(Ok(access)) => Some(access.app_id),
                Some(Err(StoreError::NotFound(_))) | None => None,
                Some(Err(other)) => return Err(other),
            };
            audit::list(c, &caller, &query, app_id)
        })
        .await?;
    Ok(ok(&AuditEnvelope { entries }))
}
