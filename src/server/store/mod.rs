//! SQLite metadata storage: accounts, keys, apps, deployments, releases and metrics.
//!
//! One connection in WAL mode behind a mutex; every call runs on tokio's blocking pool through
//! [`Store::run`]. Schema changes are embedded migrations keyed by `PRAGMA user_version`. A release
//! row is only ever inserted after its blob is durable, inside one transaction, so a crash at any
//! moment leaves either the whole release or nothing.

pub mod accounts;
pub mod apps;
pub mod audit;
pub mod binaries;
pub mod mendix;
pub mod metrics;
pub mod models;
pub mod policy;
pub mod releases;

use std::path::Path;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use rusqlite::Connection;

pub use accounts::{AuthenticatedCaller, hash_access_key};
pub use apps::{AppAccess, DeploymentRow};
pub use metrics::ReportOutcome;
pub use releases::{NewRelease, StoredRelease};

use crate::domain::history::HistoryError;

/// What can go wrong in storage; the server maps each kind to a status code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A change to a protected deployment without a reason.
    #[error("{0}")]
    ReasonRequired(String),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("storage task failed: {0}")]
    Task(String),
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_binaries.sql"),
    include_str!("migrations/003_rollout_policies.sql"),
    include_str!("migrations/004_metric_samples.sql"),
    include_str!("migrations/005_paused.sql"),
    include_str!("migrations/006_report_receipts.sql"),
    include_str!("migrations/007_key_scopes.sql"),
    include_str!("migrations/008_audit.sql"),
    include_str!("migrations/009_mendix.sql"),
    include_str!("migrations/010_mendix_models.sql"),
];

/// The metadata database.
#[derive(Clone)]
pub struct Store {
    connection: Arc<Mutex<Connection>>,
    /// Seconds each unit of database work took (lock held), for `/metrics`.
    busy_seconds: Histogram,
}

impl Store {
    /// Opens (creating and migrating if needed) the database file.
    ///
    /// # Errors
    /// SQLite errors opening or migrating the file.
    pub fn open(path: &Path) -> StoreResult<Self> {
        create_private(path).map_err(|e| StoreError::Task(format!("cannot create {}: {e}", path.display())))?;
        let mut connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut connection)?;
        let busy_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 20));
        Ok(Self { connection: Arc::new(Mutex::new(connection)), busy_seconds })
    }

    /// The histogram of time spent in database work.
    #[must_use]
    pub fn busy_seconds(&self) -> Histogram {
        self.busy_seconds.clone()
    }

    /// Checkpoints the write-ahead log into the database file, so a stopped server leaves one
    /// self-contained file behind. Called once at shutdown, after the last request.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn close(&self) -> StoreResult<()> {
        self.run(|connection| {
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Runs `work` with the connection on the blocking pool.
    ///
    /// # Errors
    /// Whatever `work` returns, or [`StoreError::Task`] if the task panicked.
    pub async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        let busy_seconds = self.busy_seconds.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().map_err(|_| StoreError::Task("database lock poisoned".into()))?;
            if !guard.is_autocommit() {
                // Left open by work that failed half-way: undo it before anyone builds on it.
                guard.execute_batch("ROLLBACK")?;
            }
            let started = std::time::Instant::now();
            let result = work(&mut guard);
            busy_seconds.observe(started.elapsed().as_secs_f64());
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Creates the database file readable only by the server's user, if it does not exist yet (SQLite
/// gives its WAL and shared-memory files the same mode).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
}

fn migrate(connection: &mut Connection) -> StoreResult<()> {
    let current: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Invalid(format!(
            "the database was written by a newer otadeck (schema {current}; this version knows {}): refusing to use it",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}
