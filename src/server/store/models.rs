//! Mendix model snapshots of releases, keyed by app and package hash (a promoted or rolled-back copy
//! of a release carries the same bundle, so it keeps its model).

use super::db::{Db, params};

use super::apps::{AppAccess, find_deployment};
use super::releases::latest;
use super::{StoreError, StoreResult};
use crate::domain::model_diff::ModelSnapshot;

/// Stores the model a release's bundle was built from.
///
/// # Errors
/// SQLite errors.
pub fn save(connection: &Db, access: &AppAccess, package_hash: &str, model: &ModelSnapshot) -> StoreResult<()> {
    let text = serde_json::to_string(model).map_err(|e| StoreError::Invalid(e.to_string()))?;
    connection.execute(
        "INSERT INTO release_models (app_id, package_hash, model) VALUES (?1, ?2, ?3)
         ON CONFLICT (app_id, package_hash) DO UPDATE SET model = excluded.model",
        params![access.app_id, package_hash, text],
    )?;
    Ok(())
}

/// The label and model of the deployment's current (latest) release.
///
/// # Errors
/// [`StoreError::NotFound`] when the deployment has no release or its release has no model.
pub fn of_current_release(
    connection: &Db,
    access: &AppAccess,
    deployment: &str,
) -> StoreResult<(String, ModelSnapshot)> {
    let row = find_deployment(connection, access, deployment)?;
    let release = latest(connection, row.id)?
        .ok_or_else(|| StoreError::NotFound(format!("Deployment {deployment} has no release yet.")))?;
    let text: Option<String> = connection.query_opt(
        "SELECT model FROM release_models WHERE app_id = ?1 AND package_hash = ?2",
        params![access.app_id, release.package_hash],
        |r| r.get(0),
    )?;
    let model = text.and_then(|t| serde_json::from_str(&t).ok()).ok_or_else(|| {
        StoreError::NotFound(format!("Release {} of {deployment} has no Mendix model.", release.label()))
    })?;
    Ok((release.label(), model))
}
