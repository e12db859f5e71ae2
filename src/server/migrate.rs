//! `otadeck migrate`: moves an embedded server (a data dir's SQLite file and blob folder) onto
//! PostgreSQL and a bucket, keeping every row and id: accounts and hashed keys, apps, deployments,
//! histories, metrics and their series, receipts, policies and events, the audit trail, Mendix
//! channels, models — and every package, each hash checked before and after the copy.
//!
//! Rows are copied with `ON CONFLICT DO NOTHING`, so running it again copies only what is missing
//! (nothing, the second time). A target that already holds data from elsewhere is refused unless
//! the caller allows it: ids from two servers would collide. The source data dir is locked for the
//! whole run, so no server can change it meanwhile.

use std::path::Path;

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::blobs::{BlobLocation, BlobStore};
use super::data_dir::DataDirLock;
use super::store::db::{Db, ToValue, Value};
use super::store::{Store, StoreError, params};

/// Every table, parents before children. A table in the source that is not listed stops the run:
/// a new table must be added here.
pub const TABLES: &[&str] = &[
    "accounts",
    "access_keys",
    "apps",
    "collaborators",
    "deployments",
    "releases",
    "metrics",
    "report_receipts",
    "binaries",
    "rollout_policies",
    "release_events",
    "metric_samples",
    "download_receipts",
    "device_positions",
    "failure_prefixes",
    "audit_log",
    "mendix_channels",
    "mendix_devices",
    "mendix_downloads",
    "mendix_checks",
    "mendix_observations",
    "release_models",
    "release_diffs",
];

/// Tables whose `id` comes from an identity sequence in PostgreSQL.
const WITH_IDS: &[&str] = &[
    "accounts",
    "access_keys",
    "apps",
    "deployments",
    "releases",
    "binaries",
    "release_events",
    "audit_log",
    "mendix_channels",
];

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Locked(#[from] super::data_dir::LockError),
    #[error("{0} has no otadeck database (otadeck.sqlite3)")]
    NoSource(String),
    #[error(
        "the target database already holds data that did not come from {0}: ids would collide. Migrate into an empty database, or pass --allow-non-empty to add only what is missing"
    )]
    TargetNotEmpty(String),
    #[error("blob {sha256}: {reason}")]
    Blob { sha256: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What one run copied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// (table, rows in the source, rows added to the target).
    pub tables: Vec<(String, usize, usize)>,
    pub blobs_checked: usize,
    pub blobs_copied: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, source, added) in &self.tables {
            writeln!(f, "{table:<22} {source:>9} rows, {added:>9} added")?;
        }
        write!(
            f,
            "packages               {:>9} checked, {:>6} copied (each hash verified)",
            self.blobs_checked, self.blobs_copied
        )
    }
}

/// Copies the embedded server in `data_dir` into the PostgreSQL database at `database` and the
/// blob store at `blobs`.
///
/// # Errors
/// A locked or missing source, a non-empty target (unless `allow_non_empty`), a blob whose bytes
/// do not match its name, or database and store errors. Rows and blobs copied before an error stay;
/// running again completes the copy.
pub async fn migrate(
    data_dir: &Path,
    database: &str,
    blobs: &BlobLocation,
    allow_non_empty: bool,
) -> Result<Report, MigrateError> {
    let _lock = DataDirLock::acquire(data_dir)?;
    let sqlite = data_dir.join("otadeck.sqlite3");
    if !sqlite.exists() {
        return Err(MigrateError::NoSource(data_dir.display().to_string()));
    }
    let source = Store::open(&sqlite)?;
    let target = Store::connect(database).await?;
    let origin = std::fs::canonicalize(data_dir)?.display().to_string();

    let checked = origin.clone();
    let empty_or_ours = target
        .run(move |db| {
            let accounts: i64 = db.query_one("SELECT COUNT(*) FROM accounts", params![], |r| r.get(0))?;
            let ours =
                db.query_opt("SELECT 1 FROM otadeck_migrated_from WHERE source = ?1", params![checked], |_| Ok(()))?;
            Ok(accounts == 0 || ours.is_some())
        })
        .await?;
    if !empty_or_ours && !allow_non_empty {
        return Err(MigrateError::TargetNotEmpty(origin));
    }

    let mut report = Report::default();
    for table in TABLES.iter().copied() {
        let rows = source.run(move |db| read_table(db, table)).await?;
        let count = rows.1.len();
        let added = target.run(move |db| write_table(db, table, &rows.0, &rows.1)).await?;
        report.tables.push((table.to_owned(), count, added));
    }
    let unknown: Vec<String> = source
        .run(|db| {
            db.query_map(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                params![],
                |r| r.get(0),
            )
        })
        .await?
        .into_iter()
        .filter(|name: &String| !TABLES.contains(&name.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(MigrateError::Store(StoreError::Invalid(format!(
            "the source has tables this version does not know how to copy: {}",
            unknown.join(", ")
        ))));
    }

    copy_blobs(data_dir, &source, blobs, &mut report).await?;
    target
        .run(move |db| {
            db.execute(
                "INSERT INTO otadeck_migrated_from (source, finished_ms) VALUES (?1, ?2)
                 ON CONFLICT (source) DO UPDATE SET finished_ms = excluded.finished_ms",
                params![origin, super::store::now_ms()],
            )
            .map(|_| ())
        })
        .await?;
    Ok(report)
}

type Table = (Vec<String>, Vec<super::store::db::Row>);

fn read_table(db: &Db, table: &str) -> Result<Table, StoreError> {
    let columns: Vec<String> =
        db.query_map("SELECT name FROM pragma_table_info(?1) ORDER BY cid", params![table], |r| r.get(0))?;
    let rows = db.query(&format!("SELECT {} FROM {table}", columns.join(", ")), params![])?;
    Ok((columns, rows))
}

fn write_table(db: &Db, table: &str, columns: &[String], rows: &[super::store::db::Row]) -> Result<usize, StoreError> {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
        columns.join(", "),
        placeholders.join(", ")
    );
    db.transaction(|db| {
        let mut added = 0;
        for row in rows {
            let values: Vec<Value> = (0..columns.len()).map(|i| row.get::<Value>(i)).collect::<Result<_, _>>()?;
            let bound: Vec<&dyn ToValue> = values.iter().map(|v| v as &dyn ToValue).collect();
            added += db.execute(&sql, &bound)?;
        }
        if WITH_IDS.contains(&table) {
            // New rows made by the target continue after the copied ids.
            db.query_one(
                &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"),
                params![],
                |_| Ok(()),
            )?;
        }
        Ok(added)
    })
}

/// Copies every package a release refers to, checking the source bytes against the name before
/// and the stored bytes after.
async fn copy_blobs(
    data_dir: &Path,
    source: &Store,
    target: &BlobLocation,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let wanted = source.run(super::store::releases::referenced_blobs).await?;
    let scratch = tempfile::tempdir()?;
    let to = BlobStore::open(&scratch.path().join("target"), target, None)?;
    let folder = data_dir.join("blobs");
    for sha256 in wanted {
        let blob_error = |reason: String| MigrateError::Blob { sha256: sha256.clone(), reason };
        report.blobs_checked += 1;
        if let Some(body) = to.open_blob(&sha256, None).await? {
            if hash_stream(body.stream).await? == sha256 {
                continue;
            }
            return Err(blob_error("the copy in the target has other bytes; remove it and run again".into()));
        }
        let path = folder.join(&sha256[..2]).join(&sha256);
        let bytes =
            tokio::fs::read(&path).await.map_err(|e| blob_error(format!("cannot read {}: {e}", path.display())))?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(blob_error(format!("{} does not hash to its name", path.display())));
        }
        let temp = to.tmp_dir().join(format!("migrate-{sha256}"));
        let mut file = tokio::fs::File::create(&temp).await?;
        file.write_all(&bytes).await?;
        file.sync_all().await?;
        drop(file);
        to.commit(&temp, &sha256).await?;
        let _ = tokio::fs::remove_file(&temp).await;
        let stored = to.open_blob(&sha256, None).await?.ok_or_else(|| blob_error("not found after the copy".into()))?;
        if hash_stream(stored.stream).await? != sha256 {
            return Err(blob_error("the copy does not hash to its name".into()));
        }
        report.blobs_copied += 1;
    }
    Ok(())
}

async fn hash_stream(
    mut stream: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>,
) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        hasher.update(&chunk?);
    }
    Ok(hex::encode(hasher.finalize()))
}
