//! Diff packages of releases (CodePush protocol §3.8): which releases still need theirs built, the
//! diffs a deployment's update checks link, and copying them when a release is rolled back to.
//!
//! A new release that has something to diff from is written with `diffs_built = 0` (see
//! `releases::append`, which marks the others built at once); the server's diff builder asks
//! [`pending`] for the work, builds the zips off the request path and hands them to [`record`],
//! which marks the release built in the same transaction. Rows never change after that.

use std::collections::HashMap;

use super::db::{Db, params};
use super::releases::StoredRelease;
use super::{StoreResult, binaries, releases};
use crate::api::management::DiffPackage;
use crate::domain::package::ManifestEntry;
use crate::domain::{TargetRange, diff};

/// One diff package of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// The package hash a device must run for this diff to apply.
    pub from_package_hash: String,
    pub blob_sha256: String,
    pub size: u64,
}

/// A release whose diffs are still to be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRelease {
    pub release_id: i64,
    pub blob_sha256: String,
    /// Each package a device may run that has no diff yet: (package hash, where its files are known).
    pub bases: Vec<(String, DiffBase)>,
}

/// Where the manifest of a package to diff from comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffBase {
    /// An earlier release's zip, by blob.
    Blob(String),
    /// The bundle a registered binary ships, by its registered manifest.
    Manifest(Vec<ManifestEntry>),
}

/// Releases waiting for their diffs, newest first (at most `limit`).
///
/// # Errors
/// Database errors.
pub fn pending(connection: &Db, limit: usize) -> StoreResult<Vec<PendingRelease>> {
    let waiting: Vec<(i64, i64, u64)> = connection.query_map(
        "SELECT id, deployment_id, label_number FROM releases WHERE diffs_built = 0 ORDER BY id DESC LIMIT ?1",
        params![i64::try_from(limit).unwrap_or(i64::MAX)],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let mut found = Vec::with_capacity(waiting.len());
    for (release_id, deployment_id, label_number) in waiting {
        let history = releases::history(connection, deployment_id)?;
        let Some(index) = history.iter().position(|r| r.label_number == label_number) else { continue };
        let built: Vec<String> = connection.query_map(
            "SELECT from_package_hash FROM release_diffs WHERE release_id = ?1",
            params![release_id],
            |row| row.get(0),
        )?;
        let release = &history[index];
        let mut bases = bases_of(connection, deployment_id, &history, index)?;
        bases.retain(|(hash, _)| !built.contains(hash));
        found.push(PendingRelease { release_id, blob_sha256: release.blob_sha256.clone(), bases });
    }
    Ok(found)
}

/// The packages a device may run before release `index` of `history` that it could get a diff
/// from: the newest earlier releases with an overlapping target range (`diff::bases`), then each
/// registered store build's bundle the release targets.
///
/// # Errors
/// Database errors.
pub fn bases_of(
    connection: &Db,
    deployment_id: i64,
    history: &[StoredRelease],
    index: usize,
) -> StoreResult<Vec<(String, DiffBase)>> {
    let Some(release) = history.get(index) else { return Ok(Vec::new()) };
    let mut bases: Vec<(String, DiffBase)> = diff::bases(&releases::rules_of(history)?, index)
        .into_iter()
        .filter_map(|hash| {
            let blob = history.iter().find(|r| r.package_hash == hash)?.blob_sha256.clone();
            Some((hash, DiffBase::Blob(blob)))
        })
        .collect();
    // Devices on a store build whose bundle is registered name that bundle's hash.
    let app_id: i64 =
        connection
            .query_one("SELECT app_id FROM deployments WHERE id = ?1", params![deployment_id], |row| row.get(0))?;
    if let Ok(target) = TargetRange::parse(&release.app_version) {
        for (hash, entries) in binaries::bundles_for(connection, app_id, &target)? {
            if hash != release.package_hash && !bases.iter().any(|(known, _)| *known == hash) {
                bases.push((hash, DiffBase::Manifest(entries)));
            }
        }
    }
    Ok(bases)
}

/// Stores the diffs built for a release and marks it built, in one transaction. A release deleted
/// meanwhile is skipped.
///
/// # Errors
/// Database errors.
pub fn record(connection: &Db, release_id: i64, diffs: &[DiffRow]) -> StoreResult<()> {
    connection.transaction(|tx| {
        let exists = tx.query_opt("SELECT 1 FROM releases WHERE id = ?1", params![release_id], |_| Ok(()))?;
        if exists.is_none() {
            return Ok(());
        }
        for diff in diffs {
            tx.execute(
                "INSERT INTO release_diffs (release_id, from_package_hash, blob_sha256, size) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (release_id, from_package_hash) DO NOTHING",
                params![release_id, diff.from_package_hash, diff.blob_sha256, diff.size],
            )?;
        }
        tx.execute("UPDATE releases SET diffs_built = 1 WHERE id = ?1", params![release_id])?;
        Ok(())
    })
}

/// The diffs of every release of a deployment, by label number.
///
/// # Errors
/// Database errors.
pub fn of_deployment(connection: &Db, deployment_id: i64) -> StoreResult<HashMap<u64, Vec<DiffRow>>> {
    let rows: Vec<(u64, DiffRow)> = connection.query_map(
        "SELECT r.label_number, d.from_package_hash, d.blob_sha256, d.size
         FROM release_diffs d JOIN releases r ON r.id = d.release_id WHERE r.deployment_id = ?1",
        params![deployment_id],
        |row| {
            Ok((row.get(0)?, DiffRow { from_package_hash: row.get(1)?, blob_sha256: row.get(2)?, size: row.get(3)? }))
        },
    )?;
    let mut by_label: HashMap<u64, Vec<DiffRow>> = HashMap::new();
    for (label, diff) in rows {
        by_label.entry(label).or_default().push(diff);
    }
    Ok(by_label)
}

/// Gives release `to_label` the diffs of release `from_label` (a rollback re-releases a package, so
/// the diffs into it still hold). The diff builder then adds diffs from the packages released since.
///
/// # Errors
/// Database errors.
pub fn copy(tx: &Db, deployment_id: i64, from_label: u64, to_label: u64) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO release_diffs (release_id, from_package_hash, blob_sha256, size)
         SELECT (SELECT id FROM releases WHERE deployment_id = ?1 AND label_number = ?3),
                from_package_hash, blob_sha256, size
         FROM release_diffs
         WHERE release_id = (SELECT id FROM releases WHERE deployment_id = ?1 AND label_number = ?2)",
        params![deployment_id, from_label, to_label],
    )?;
    Ok(())
}

/// The diff packages of each release of a deployment as the management API shows them, by label
/// number, newest base first; each names the label (or store build) it applies to.
///
/// # Errors
/// Database errors.
pub fn described(
    connection: &Db,
    deployment_id: i64,
    history: &[releases::StoredRelease],
) -> StoreResult<HashMap<u64, Vec<DiffPackage>>> {
    let binaries: Vec<(String, String)> = connection.query_map(
        "SELECT b.bundle_hash, b.app_version FROM binaries b JOIN deployments d ON d.app_id = b.app_id
         WHERE d.id = ?1 AND b.bundle_hash IS NOT NULL ORDER BY b.id",
        params![deployment_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let name_of = |hash: &str| {
        let release = history.iter().rev().find(|r| r.package_hash == hash).map(releases::StoredRelease::label);
        let binary =
            || binaries.iter().find(|(known, _)| known == hash).map(|(_, version)| format!("binary {version}"));
        release.or_else(binary).unwrap_or_default()
    };
    Ok(of_deployment(connection, deployment_id)?
        .into_iter()
        .map(|(label, mut diffs)| {
            // Newest base first; store builds' bundles last.
            diffs.sort_by_key(|d| {
                std::cmp::Reverse(history.iter().rposition(|r| r.package_hash == d.from_package_hash))
            });
            let described = diffs
                .into_iter()
                .map(|d| DiffPackage {
                    from: name_of(&d.from_package_hash),
                    from_package_hash: d.from_package_hash,
                    size: d.size,
                })
                .collect();
            (label, described)
        })
        .collect())
}
