//! The binaries registry: store builds of an app with the native fingerprint they were built from.
//! Registering the same platform, version and build number again replaces the baseline.

use super::db::{Db, params};

use super::apps::AppAccess;
use super::{StoreError, StoreResult, now_ms};
use crate::api::management::{Binary, NewBinary};
use crate::domain::DeviceVersion;

/// Registers (or replaces) a store build.
///
/// # Errors
/// [`StoreError::Invalid`] for a bad platform, version or fingerprint.
pub fn register(connection: &Db, access: &AppAccess, registered_by: &str, new: NewBinary) -> StoreResult<Binary> {
    let invalid = |m: &str| StoreError::Invalid(m.to_owned());
    let platform = new
        .platform
        .filter(|p| p == "android" || p == "ios")
        .ok_or_else(|| invalid("platform: must be android or ios"))?;
    let app_version = new.app_version.ok_or_else(|| invalid("appVersion: the store build's version is required"))?;
    DeviceVersion::parse(&app_version).map_err(|e| StoreError::Invalid(format!("appVersion: {e}")))?;
    let fingerprint = new
        .fingerprint
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| invalid("fingerprint: must be a JSON object"))?;
    let mendix_model =
        new.mendix_model.as_ref().map(serde_json::to_string).transpose().map_err(|e| invalid(&e.to_string()))?;
    let created_time = now_ms();
    connection.execute(
        "DELETE FROM binaries WHERE app_id = ?1 AND platform = ?2 AND app_version = ?3 AND COALESCE(build_number, -1) = COALESCE(?4, -1)",
        params![access.app_id, platform, app_version, new.build_number],
    )?;
    connection.execute(
        "INSERT INTO binaries (app_id, platform, app_version, build_number, fingerprint, registered_by, created_time, mendix_model)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            access.app_id,
            platform,
            app_version,
            new.build_number,
            fingerprint.to_string(),
            registered_by,
            created_time,
            mendix_model
        ],
    )?;
    Ok(Binary {
        platform,
        app_version,
        build_number: new.build_number,
        fingerprint,
        mendix_model: new.mendix_model,
        registered_by: registered_by.to_owned(),
        created_time,
    })
}

/// The app's registered store builds, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn list(connection: &Db, access: &AppAccess) -> StoreResult<Vec<Binary>> {
    let rows = connection.query_map("SELECT platform, app_version, build_number, fingerprint, registered_by, created_time, mendix_model FROM binaries
         WHERE app_id = ?1 ORDER BY created_time, id", params![access.app_id], |row| {
        let fingerprint: String = row.get(3)?;
        Ok(Binary {
            platform: row.get(0)?,
            app_version: row.get(1)?,
            build_number: row.get(2)?,
            fingerprint: serde_json::from_str(&fingerprint).unwrap_or_default(),
            mendix_model: row.get::<Option<String>>(6)?.and_then(|m| serde_json::from_str(&m).ok()),
            registered_by: row.get(4)?,
            created_time: row.get(5)?,
        })
    })?;
    Ok(rows)
}
