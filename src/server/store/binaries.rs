//! The binaries registry: store builds of an app with the native fingerprint they were built from.
//! Registering the same platform, version and build number again replaces the baseline.

use super::db::{Db, params};

use super::apps::AppAccess;
use super::{StoreError, StoreResult, now_ms};
use crate::api::management::{Binary, NewBinary};
use crate::domain::package::{ManifestEntry, is_sha256_hex, manifest_hash};
use crate::domain::{DeviceVersion, TargetRange};

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
    let bundle = new.bundle_manifest.as_deref().map(bundle_manifest).transpose()?;
    let bundle_hash = bundle.as_ref().map(|entries| manifest_hash(entries));
    let bundle_json = new.bundle_manifest.as_ref().map(|lines| serde_json::json!(lines).to_string());
    let created_time = now_ms();
    connection.execute(
        "DELETE FROM binaries WHERE app_id = ?1 AND platform = ?2 AND app_version = ?3 AND COALESCE(build_number, -1) = COALESCE(?4, -1)",
        params![access.app_id, platform, app_version, new.build_number],
    )?;
    connection.execute(
        "INSERT INTO binaries (app_id, platform, app_version, build_number, fingerprint, registered_by, created_time, mendix_model, bundle_manifest, bundle_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            access.app_id,
            platform,
            app_version,
            new.build_number,
            fingerprint.to_string(),
            registered_by,
            created_time,
            mendix_model,
            bundle_json,
            bundle_hash
        ],
    )?;
    if bundle_hash.is_some() {
        // Devices on this build may run any deployment's latest release next: those get a diff from
        // its bundle (the diff builder skips the bases they have diffs from already).
        connection.execute(
            "UPDATE releases SET diffs_built = 0
             WHERE deployment_id IN (SELECT id FROM deployments WHERE app_id = ?1) AND mendix_deployment_id IS NULL
               AND label_number = (SELECT MAX(r.label_number) FROM releases r WHERE r.deployment_id = releases.deployment_id)",
            params![access.app_id],
        )?;
    }
    Ok(Binary {
        platform,
        app_version,
        build_number: new.build_number,
        fingerprint,
        mendix_model: new.mendix_model,
        bundle_hash,
        registered_by: registered_by.to_owned(),
        created_time,
    })
}

/// The app's registered store builds, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn list(connection: &Db, access: &AppAccess) -> StoreResult<Vec<Binary>> {
    let rows = connection.query_map("SELECT platform, app_version, build_number, fingerprint, registered_by, created_time, mendix_model, bundle_hash FROM binaries
         WHERE app_id = ?1 ORDER BY created_time, id", params![access.app_id], |row| {
        let fingerprint: String = row.get(3)?;
        Ok(Binary {
            platform: row.get(0)?,
            app_version: row.get(1)?,
            build_number: row.get(2)?,
            fingerprint: serde_json::from_str(&fingerprint).unwrap_or_default(),
            mendix_model: row.get::<Option<String>>(6)?.and_then(|m| serde_json::from_str(&m).ok()),
            bundle_hash: row.get(7)?,
            registered_by: row.get(4)?,
            created_time: row.get(5)?,
        })
    })?;
    Ok(rows)
}

/// Parses registered `path:sha256` manifest lines.
///
/// # Errors
/// [`StoreError::Invalid`] naming the first bad line, or an empty manifest.
pub fn bundle_manifest(lines: &[String]) -> StoreResult<Vec<ManifestEntry>> {
    if lines.is_empty() {
        return Err(StoreError::Invalid("bundleManifest: lists no file".into()));
    }
    lines
        .iter()
        .map(|line| {
            let (path, sha256) = line.rsplit_once(':').unwrap_or_default();
            if path.is_empty() || !is_sha256_hex(sha256) {
                return Err(StoreError::Invalid(format!(
                    "bundleManifest: \"{line}\" is not <path>:<lowercase hex sha256>"
                )));
            }
            Ok(ManifestEntry { path: path.to_owned(), sha256: sha256.to_owned() })
        })
        .collect()
}

/// The bundle manifests of an app's binaries whose version a release's target range admits, by
/// the bundle's package hash: the packages devices on those binaries run.
///
/// # Errors
/// Database errors.
pub fn bundles_for(
    connection: &Db,
    app_id: i64,
    target: &TargetRange,
) -> StoreResult<Vec<(String, Vec<ManifestEntry>)>> {
    let rows: Vec<(String, String, String)> = connection.query_map(
        "SELECT app_version, bundle_hash, bundle_manifest FROM binaries
         WHERE app_id = ?1 AND bundle_hash IS NOT NULL AND bundle_manifest IS NOT NULL ORDER BY id",
        params![app_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let mut found: Vec<(String, Vec<ManifestEntry>)> = Vec::new();
    for (version, hash, manifest) in rows {
        let admitted = DeviceVersion::parse(&version).is_ok_and(|v| target.is_satisfied_by(v.version()));
        let lines: Vec<String> = serde_json::from_str(&manifest).unwrap_or_default();
        if admitted
            && !found.iter().any(|(known, _)| *known == hash)
            && let Ok(entries) = bundle_manifest(&lines)
        {
            found.push((hash, entries));
        }
    }
    Ok(found)
}
