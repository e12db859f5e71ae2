//! Deployment histories: releasing, patching, promoting and rolling back.
//!
//! Each operation reads the history, asks [`crate::domain::history`] whether the change is allowed,
//! and writes in one transaction. Labels are `v<N>`, N = last label number + 1 per deployment.

use super::db::{Db, Row, params};

use super::apps::{AppAccess, DeploymentRow, find_deployment};
use super::{StoreError, StoreResult, diffs, now_ms};
use crate::api::management::{Package, PackageInfo, ReleaseMethod};
use crate::domain::history::{self, NewReleaseKind};
use crate::domain::{BuildRange, ReleaseRules, TargetRange, validate};

/// One stored release.
#[derive(Debug, Clone)]
pub struct StoredRelease {
    pub label_number: u64,
    pub app_version: String,
    pub build_number: Option<String>,
    pub description: String,
    pub is_mandatory: bool,
    pub is_disabled: bool,
    /// Halted: no new device gets it, devices that have it keep it (by a person or the health gate).
    pub is_paused: bool,
    pub rollout: Option<u8>,
    pub package_hash: String,
    pub blob_sha256: String,
    pub size: u64,
    pub release_method: ReleaseMethod,
    pub original_label: Option<String>,
    pub original_deployment: Option<String>,
    pub released_by: String,
    pub upload_time: i64,
    /// When the rollout last changed (`None`: at upload).
    pub rollout_changed_time: Option<i64>,
    /// The runtime-OTA bundle of a release on a Mendix channel.
    pub mendix: Option<MendixBundle>,
}

/// What a release on a Mendix channel carries besides its zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MendixBundle {
    /// The deployment ID compiled into the bundle (always the one advertised).
    pub deployment_id: String,
    pub needs: crate::domain::mendix::NativeNeeds,
    /// The unguessable part of the download path (Android downloads without cookies).
    pub token: String,
}

impl StoredRelease {
    /// The fields a person can change, for the audit trail (a complete rollout reads 100).
    #[must_use]
    pub fn audit_fields(&self) -> serde_json::Value {
        serde_json::json!({
            "appVersion": self.app_version,
            "buildNumber": self.build_number,
            "description": self.description,
            "isMandatory": self.is_mandatory,
            "isDisabled": self.is_disabled,
            "isPaused": self.is_paused,
            "rollout": self.rollout.unwrap_or(100),
            "packageHash": self.package_hash,
        })
    }

    /// `v<N>`.
    #[must_use]
    pub fn label(&self) -> String {
        validate::label_for(self.label_number)
    }

    /// The facts selection and history rules need.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] if a stored range no longer parses (never for rows we wrote).
    pub fn rules(&self) -> StoreResult<ReleaseRules> {
        let target = TargetRange::parse(&self.app_version).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let build = match &self.build_number {
            Some(text) => Some(text.parse::<BuildRange>().map_err(|e| StoreError::Invalid(e.to_string()))?),
            None => None,
        };
        Ok(ReleaseRules {
            label: self.label(),
            package_hash: self.package_hash.clone(),
            target,
            build,
            is_mandatory: self.is_mandatory,
            is_disabled: self.is_disabled,
            is_paused: self.is_paused,
            rollout: self.rollout,
        })
    }

    /// The wire form; `blob_url` is where devices download it.
    #[must_use]
    pub fn to_package(&self, blob_url: String) -> Package {
        Package {
            label: self.label(),
            app_version: self.app_version.clone(),
            description: self.description.clone(),
            is_mandatory: self.is_mandatory,
            is_disabled: self.is_disabled,
            is_paused: self.is_paused,
            rollout: self.rollout,
            package_hash: self.package_hash.clone(),
            blob_url,
            size: self.size,
            release_method: self.release_method,
            original_label: self.original_label.clone(),
            original_deployment: self.original_deployment.clone(),
            released_by: self.released_by.clone(),
            upload_time: self.upload_time,
            build_number: self.build_number.clone(),
            rollout_changed_time: Some(self.rollout_changed_time.unwrap_or(self.upload_time)),
            diff_packages: Vec::new(),
        }
    }
}

fn method_to_str(method: ReleaseMethod) -> &'static str {
    match method {
        ReleaseMethod::Upload => "Upload",
        ReleaseMethod::Promote => "Promote",
        ReleaseMethod::Rollback => "Rollback",
    }
}

fn method_from_str(text: &str) -> ReleaseMethod {
    match text {
        "Promote" => ReleaseMethod::Promote,
        "Rollback" => ReleaseMethod::Rollback,
        _ => ReleaseMethod::Upload,
    }
}

const RELEASE_COLUMNS: &str = "label_number, app_version, build_number, description, is_mandatory, is_disabled, rollout, \
     package_hash, blob_sha256, size, release_method, original_label, original_deployment, released_by, upload_time";
/// Read-only columns selected after [`RELEASE_COLUMNS`].
const EXTRA_COLUMNS: &str = "rollout_changed_time, is_paused, mendix_deployment_id, mendix_needs, bundle_token";

fn release_from_row(row: &Row) -> StoreResult<StoredRelease> {
    Ok(StoredRelease {
        label_number: row.get(0)?,
        app_version: row.get(1)?,
        build_number: row.get(2)?,
        description: row.get(3)?,
        is_mandatory: row.get(4)?,
        is_disabled: row.get(5)?,
        rollout: row.get(6)?,
        package_hash: row.get(7)?,
        blob_sha256: row.get(8)?,
        size: row.get(9)?,
        release_method: method_from_str(&row.get::<String>(10)?),
        original_label: row.get(11)?,
        original_deployment: row.get(12)?,
        released_by: row.get(13)?,
        upload_time: row.get(14)?,
        rollout_changed_time: row.get(15)?,
        is_paused: row.get(16)?,
        mendix: match (row.get::<Option<String>>(17)?, row.get::<Option<String>>(19)?) {
            (Some(deployment_id), Some(token)) => Some(MendixBundle {
                deployment_id,
                needs: row.get::<Option<String>>(18)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
                token,
            }),
            _ => None,
        },
    })
}

/// A deployment's releases, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn history(connection: &Db, deployment_id: i64) -> StoreResult<Vec<StoredRelease>> {
    let rows = connection.query_map(
        &format!(
            "SELECT {RELEASE_COLUMNS}, {EXTRA_COLUMNS} FROM releases WHERE deployment_id = ?1 ORDER BY label_number"
        ),
        params![deployment_id],
        release_from_row,
    )?;
    Ok(rows)
}

/// The latest release of a deployment, if any.
///
/// # Errors
/// SQLite errors.
pub fn latest(connection: &Db, deployment_id: i64) -> StoreResult<Option<StoredRelease>> {
    connection
        .query_opt(
            &format!(
                "SELECT {RELEASE_COLUMNS}, {EXTRA_COLUMNS} FROM releases WHERE deployment_id = ?1 ORDER BY label_number DESC LIMIT 1"
            ),
            params![deployment_id],
            release_from_row,
        )
}

/// Selection facts of a whole history.
///
/// # Errors
/// See [`StoredRelease::rules`].
pub fn rules_of(history: &[StoredRelease]) -> StoreResult<Vec<ReleaseRules>> {
    history.iter().map(StoredRelease::rules).collect()
}

/// The deployment a device key belongs to.
///
/// # Errors
/// SQLite errors.
pub fn deployment_id_by_key(connection: &Db, key: &str) -> StoreResult<Option<i64>> {
    connection.query_opt("SELECT id FROM deployments WHERE key = ?1", params![key], |row| row.get(0))
}

/// Which of `candidates` (blob digests) no release references.
///
/// # Errors
/// SQLite errors.
pub fn unreferenced_blobs(connection: &Db, candidates: Vec<String>) -> StoreResult<Vec<String>> {
    let referenced: std::collections::HashSet<String> = referenced_blobs(connection)?.into_iter().collect();
    Ok(candidates.into_iter().filter(|sha256| !referenced.contains(sha256)).collect())
}

/// Every blob a release uses: full packages and diff packages, sorted.
///
/// # Errors
/// Database errors.
pub fn referenced_blobs(connection: &Db) -> StoreResult<Vec<String>> {
    connection.query_map(
        "SELECT blob_sha256 FROM releases UNION SELECT blob_sha256 FROM release_diffs ORDER BY 1",
        params![],
        |row| row.get(0),
    )
}

/// `packageInfo` after validation; `None` fields were not provided.
#[derive(Debug, Default)]
pub struct ReleaseFields {
    pub app_version: Option<TargetRange>,
    pub description: Option<String>,
    pub is_mandatory: Option<bool>,
    pub is_disabled: Option<bool>,
    pub is_paused: Option<bool>,
    pub rollout: Option<u8>,
    pub label: Option<String>,
    /// `Some(None)` clears the constraint (an empty string on the wire).
    pub build: Option<Option<BuildRange>>,
}

impl ReleaseFields {
    /// Validates every provided field.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming the field.
    pub fn parse(info: &PackageInfo) -> StoreResult<Self> {
        let invalid = |message: String| StoreError::Invalid(message);
        let app_version = match &info.app_version {
            Some(text) => Some(TargetRange::parse(text).map_err(|e| invalid(e.to_string()))?),
            None => None,
        };
        if let Some(description) = &info.description {
            validate::description(description).map_err(|e| invalid(e.to_string()))?;
        }
        let rollout = match &info.rollout {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(validate::rollout(value).map_err(|e| invalid(e.to_string()))?),
        };
        if let Some(label) = &info.label {
            validate::label(label).map_err(|e| invalid(e.to_string()))?;
        }
        let build = match info.build_number.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(text) => Some(Some(text.parse::<BuildRange>().map_err(|e| invalid(e.to_string()))?)),
        };
        Ok(Self {
            app_version,
            description: info.description.clone(),
            is_mandatory: info.is_mandatory,
            is_disabled: info.is_disabled,
            is_paused: info.is_paused,
            rollout,
            label: info.label.clone(),
            build,
        })
    }
}

/// A release about to be appended to a deployment.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub app_version: String,
    pub build_number: Option<String>,
    pub description: String,
    pub is_mandatory: bool,
    pub is_disabled: bool,
    pub rollout: Option<u8>,
    pub package_hash: String,
    pub blob_sha256: String,
    pub size: u64,
    pub release_method: ReleaseMethod,
    pub original_label: Option<String>,
    pub original_deployment: Option<String>,
    pub released_by: String,
    pub mendix: Option<MendixBundle>,
}

fn append(tx: &Db, deployment_id: i64, history: &[StoredRelease], new: NewRelease) -> StoreResult<StoredRelease> {
    let label_number = history.last().map_or(1, |r| r.label_number + 1);
    if let Some(previous) = history.last() {
        tx.execute(
            "UPDATE releases SET rollout = NULL WHERE deployment_id = ?1 AND label_number = ?2",
            params![deployment_id, previous.label_number],
        )?;
    }
    let stored = StoredRelease {
        label_number,
        app_version: new.app_version,
        build_number: new.build_number,
        description: new.description,
        is_mandatory: new.is_mandatory,
        is_disabled: new.is_disabled,
        is_paused: false,
        rollout: new.rollout.filter(|&p| p != 100),
        package_hash: new.package_hash,
        blob_sha256: new.blob_sha256,
        size: new.size,
        release_method: new.release_method,
        original_label: new.original_label,
        original_deployment: new.original_deployment,
        released_by: new.released_by,
        upload_time: now_ms(),
        rollout_changed_time: None,
        mendix: new.mendix,
    };
    // Mendix runtime OTA downloads whole bundles, and a release no device can run an earlier
    // package of has nothing to diff from: either is built at once, so the diff builder does not
    // write it again (and invalidate the update-check cache) for nothing.
    let diffs_built = stored.mendix.is_some() || {
        let mut with_new = history.to_vec();
        with_new.push(stored.clone());
        diffs::bases_of(tx, deployment_id, &with_new, history.len())?.is_empty()
    };
    tx.execute(
        &format!("INSERT INTO releases (deployment_id, {RELEASE_COLUMNS}, diffs_built) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
        params![
            deployment_id,
            stored.label_number,
            stored.app_version,
            stored.build_number,
            stored.description,
            stored.is_mandatory,
            stored.is_disabled,
            stored.rollout,
            stored.package_hash,
            stored.blob_sha256,
            stored.size,
            method_to_str(stored.release_method),
            stored.original_label,
            stored.original_deployment,
            stored.released_by,
            stored.upload_time,
            diffs_built,
        ],
    )?;
    if let Some(mendix) = &stored.mendix {
        let needs = serde_json::to_string(&mendix.needs).map_err(|e| StoreError::Invalid(e.to_string()))?;
        tx.execute(
            "UPDATE releases SET mendix_deployment_id = ?1, mendix_needs = ?2, bundle_token = ?3
             WHERE deployment_id = ?4 AND label_number = ?5",
            params![mendix.deployment_id, needs, mendix.token, deployment_id, stored.label_number],
        )?;
    }
    Ok(stored)
}

/// Appends an uploaded release after checking the history rules.
///
/// # Errors
/// Not found, rule violations (409) or SQLite errors.
pub fn release_upload(
    connection: &Db,
    access: &AppAccess,
    deployment_name: &str,
    new: NewRelease,
) -> StoreResult<(DeploymentRow, StoredRelease)> {
    connection.transaction(|tx| {
        let deployment = find_deployment(tx, access, deployment_name)?;
        let history = history(tx, deployment.id)?;
        let target = TargetRange::parse(&new.app_version).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let build = new
            .build_number
            .as_deref()
            .map(str::parse::<BuildRange>)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        history::check_new_release(&rules_of(&history)?, NewReleaseKind::Upload, &target, build, &new.package_hash)?;
        let stored = append(tx, deployment.id, &history, new)?;
        Ok((deployment, stored))
    })
}

/// Changes a release's fields; returns `None` when nothing changed.
///
/// # Errors
/// Not found, rollout rules (409), validation, SQLite errors.
pub fn patch_release(
    connection: &Db,
    access: &AppAccess,
    deployment_name: &str,
    fields: &ReleaseFields,
    actor: &str,
) -> StoreResult<(DeploymentRow, StoredRelease, Option<StoredRelease>)> {
    connection.transaction(|tx| {
    let deployment = find_deployment(tx, access, deployment_name)?;
    let history = history(tx, deployment.id)?;
    let rules = rules_of(&history)?;
    let (index, _) = history::find_release(&rules, fields.label.as_deref())?;
    let before = &history[index];
    let mut after = before.clone();
    if let Some(target) = &fields.app_version {
        target.as_str().clone_into(&mut after.app_version);
    }
    if let Some(description) = fields.description.as_ref().filter(|d| !d.is_empty()) {
        description.clone_into(&mut after.description);
    }
    if let Some(is_mandatory) = fields.is_mandatory {
        after.is_mandatory = is_mandatory;
    }
    if let Some(is_disabled) = fields.is_disabled {
        after.is_disabled = is_disabled;
    }
    if let Some(is_paused) = fields.is_paused {
        after.is_paused = is_paused;
    }
    if let Some(rollout) = fields.rollout {
        after.rollout = history::patch_rollout(before.rollout, rollout)?;
    }
    if let Some(build) = fields.build {
        after.build_number = build.map(|b| b.to_string());
    }
    let changed = after.app_version != before.app_version
        || after.description != before.description
        || after.is_mandatory != before.is_mandatory
        || after.is_disabled != before.is_disabled
        || after.is_paused != before.is_paused
        || after.rollout != before.rollout
        || after.build_number != before.build_number;
    if !changed {
        return Ok((deployment, before.clone(), None));
    }
    tx.execute(
        "UPDATE releases SET app_version = ?1, description = ?2, is_mandatory = ?3, is_disabled = ?4, rollout = ?5, build_number = ?6,
             is_paused = ?9
         WHERE deployment_id = ?7 AND label_number = ?8",
        params![
            after.app_version,
            after.description,
            after.is_mandatory,
            after.is_disabled,
            after.rollout,
            after.build_number,
            deployment.id,
            after.label_number,
            after.is_paused
        ],
    )?;
    let now = super::now_ms();
    if after.is_paused != before.is_paused {
        let (kind, detail) = if after.is_paused {
            ("paused", "paused: no new device gets it; devices that have it keep it")
        } else {
            ("resumed", "resumed: the rollout and its schedule continue")
        };
        super::policy::record_event(tx, deployment.id, after.label_number, actor, kind, detail, now)?;
    }
    // A resumed release's schedule counts its interval from the resume, not from before the pause.
    if after.rollout != before.rollout || (before.is_paused && !after.is_paused) {
        tx.execute(
            "UPDATE releases SET rollout_changed_time = ?1 WHERE deployment_id = ?2 AND label_number = ?3",
            params![now, deployment.id, after.label_number],
        )?;
    }
    Ok((deployment, history[index].clone(), Some(after)))
    })
}

/// Copies a release of `source` into `destination` as a new release, with overrides.
///
/// # Errors
/// Not found, rule violations (409), SQLite errors.
pub fn promote(
    connection: &Db,
    access: &AppAccess,
    source: &str,
    destination: &str,
    fields: &ReleaseFields,
    released_by: &str,
) -> StoreResult<(DeploymentRow, StoredRelease)> {
    connection.transaction(|tx| {
        let source_deployment = find_deployment(tx, access, source)?;
        let destination_deployment = find_deployment(tx, access, destination)?;
        let source_history = history(tx, source_deployment.id)?;
        let (index, _) = history::find_release(&rules_of(&source_history)?, fields.label.as_deref())?;
        let origin = &source_history[index];
        let target = fields.app_version.clone().map_or_else(|| TargetRange::parse(&origin.app_version), Ok);
        let target = target.map_err(|e| StoreError::Invalid(e.to_string()))?;
        let build_number = fields.build.map_or_else(|| origin.build_number.clone(), |b| b.map(|b| b.to_string()));
        let build = build_number
            .as_deref()
            .map(str::parse::<BuildRange>)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let destination_history = history(tx, destination_deployment.id)?;
        history::check_new_release(
            &rules_of(&destination_history)?,
            NewReleaseKind::Promote,
            &target,
            build,
            &origin.package_hash,
        )?;
        let new = NewRelease {
            app_version: target.as_str().to_owned(),
            build_number,
            description: fields
                .description
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| origin.description.clone()),
            is_mandatory: fields.is_mandatory.unwrap_or(origin.is_mandatory),
            is_disabled: fields.is_disabled.unwrap_or(origin.is_disabled),
            rollout: fields.rollout,
            package_hash: origin.package_hash.clone(),
            blob_sha256: origin.blob_sha256.clone(),
            size: origin.size,
            release_method: ReleaseMethod::Promote,
            original_label: Some(origin.label()),
            original_deployment: Some(source_deployment.name.clone()),
            released_by: released_by.to_owned(),
            mendix: origin.mendix.clone(),
        };
        let stored = append(tx, destination_deployment.id, &destination_history, new)?;
        Ok((destination_deployment, stored))
    })
}

/// Re-releases an earlier release (`label`, or the one before the latest) as a new release.
///
/// # Errors
/// Not found, rule violations (409), SQLite errors.
pub fn rollback(
    connection: &Db,
    access: &AppAccess,
    deployment_name: &str,
    label: Option<&str>,
    released_by: &str,
) -> StoreResult<(DeploymentRow, StoredRelease)> {
    connection.transaction(|tx| {
        let deployment = find_deployment(tx, access, deployment_name)?;
        let history = history(tx, deployment.id)?;
        let index = history::rollback_target(&rules_of(&history)?, label)?;
        let target = &history[index];
        let new = NewRelease {
            app_version: target.app_version.clone(),
            build_number: target.build_number.clone(),
            description: target.description.clone(),
            is_mandatory: target.is_mandatory,
            is_disabled: target.is_disabled,
            rollout: None,
            package_hash: target.package_hash.clone(),
            blob_sha256: target.blob_sha256.clone(),
            size: target.size,
            release_method: ReleaseMethod::Rollback,
            original_label: Some(target.label()),
            original_deployment: None,
            released_by: released_by.to_owned(),
            mendix: target.mendix.clone(),
        };
        let stored = append(tx, deployment.id, &history, new)?;
        super::diffs::copy(tx, deployment.id, target.label_number, stored.label_number)?;
        Ok((deployment, stored))
    })
}

/// Deletes a deployment's releases and metrics (Owner only).
///
/// # Errors
/// Permission, not found, SQLite errors.
pub fn clear_history(connection: &Db, access: &AppAccess, deployment_name: &str) -> StoreResult<DeploymentRow> {
    access.require_owner()?;
    connection.transaction(|tx| {
        let deployment = find_deployment(tx, access, deployment_name)?;
        for table in ["releases", "metrics", "report_receipts"] {
            tx.execute(&format!("DELETE FROM {table} WHERE deployment_id = ?1"), params![deployment.id])?;
        }
        Ok(deployment)
    })
}
