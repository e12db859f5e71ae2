//! Metadata storage: accounts, keys, apps, deployments, releases and metrics, in SQLite (the
//! default: one file in WAL mode) or PostgreSQL (for several replicas).
//!
//! One connection behind a mutex; every call runs on tokio's blocking pool through [`Store::run`],
//! and every statement goes through [`db::Db`], so each function below is written once for both
//! databases. Schema changes are embedded migrations, keyed by `PRAGMA user_version` in SQLite and
//! the `otadeck_schema` table in PostgreSQL; a database written by a newer version is refused. A
//! release row is only ever inserted after its blob is durable, inside one transaction, so a crash
//! at any moment leaves either the whole release or nothing.

pub mod accounts;
pub mod apps;
pub mod audit;
pub mod binaries;
pub mod db;
pub mod diffs;
pub mod mendix;
pub mod metrics;
pub mod models;
pub mod policy;
pub mod releases;

use std::path::Path;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub use db::{Db, Dialect, params};

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
    #[error("database error: {}", db::postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    /// A stored value that does not read as the type expected (never for rows we wrote).
    #[error("unexpected stored value: {0}")]
    Decode(String),
    /// The database cannot be reached; the server answers 503 and retries on the next call.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
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
    include_str!("migrations/011_diff_packages.sql"),
];

/// Connections each server keeps to PostgreSQL for its requests (plus one for
/// [`crate::server::replicas`]). Management changes still happen one at a time across all
/// replicas (see [`audit::in_transaction`]); reports and reads run side by side.
pub const POSTGRES_CONNECTIONS: usize = 8;

/// PostgreSQL schema changes, each with the SQLite schema version it brings the database to. The
/// first is the whole schema of SQLite version 10; later ones come in pairs with SQLite's.
const POSTGRES_MIGRATIONS: &[(usize, &str)] = &[
    (10, include_str!("migrations/postgres/010_schema.sql")),
    (11, include_str!("migrations/postgres/011_diff_packages.sql")),
];

/// The metadata database: one connection (SQLite file or PostgreSQL server) behind a mutex; work
/// runs on tokio's blocking pool through [`Store::run`].
#[derive(Clone)]
pub struct Store {
    /// One SQLite connection, or a pool of [`POSTGRES_CONNECTIONS`] to PostgreSQL.
    connections: Arc<[Mutex<Db>]>,
    /// Where the next call starts looking for a free connection.
    next: Arc<std::sync::atomic::AtomicUsize>,
    /// Where to reconnect when a PostgreSQL connection is lost.
    postgres_url: Option<Arc<str>>,
    /// After a failed reconnect, calls fail at once until this time (ms since the epoch), so a
    /// database that is away costs each request nothing but a 503.
    retry_at_ms: Arc<std::sync::atomic::AtomicI64>,
    /// Seconds each unit of database work took (lock held), for `/metrics`.
    busy_seconds: Histogram,
    /// The group-commit writer of [`Store::run_batched`], started on first use.
    batches: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<BatchJob>>>,
}

/// Called after the commit of a batch with the commit's error, if any.
type BatchFinish = Box<dyn FnOnce(Option<String>) + Send>;
/// One unit of batched work: runs inside the batch's transaction, answers after its commit.
type BatchJob = Box<dyn FnOnce(&Db) -> BatchFinish + Send>;

/// The most units of work one batch commits together.
const MAX_BATCH: usize = 512;

/// Prepared statements kept per SQLite connection: more than the distinct statements the server
/// runs, so none on the device paths is parsed twice.
const SQLITE_STATEMENT_CACHE: usize = 512;

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database file.
    ///
    /// # Errors
    /// SQLite errors opening or migrating the file.
    pub fn open(path: &Path) -> StoreResult<Self> {
        create_private(path).map_err(|e| StoreError::Task(format!("cannot create {}: {e}", path.display())))?;
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // rusqlite keeps 16 prepared statements by default; a status report alone runs about ten
        // distinct ones, so with update checks and downloads in between they were parsed again.
        connection.set_prepared_statement_cache_capacity(SQLITE_STATEMENT_CACHE);
        let db = Db::sqlite(connection);
        migrate(&db)?;
        Ok(Self::with(vec![db], None))
    }

    /// Connects to a PostgreSQL database (`postgres://user:password@host:port/name`), creating or
    /// migrating the schema if needed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached, or migration errors.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let owned = url.to_owned();
        let pool = tokio::task::spawn_blocking(move || -> StoreResult<Vec<Db>> {
            let first = Db::postgres(connect_postgres(&owned)?);
            migrate(&first)?;
            let mut pool = vec![first];
            for _ in 1..POSTGRES_CONNECTIONS {
                pool.push(Db::postgres(connect_postgres(&owned)?));
            }
            Ok(pool)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(Self::with(pool, Some(url.into())))
    }

    fn with(connections: Vec<Db>, postgres_url: Option<Arc<str>>) -> Self {
        let busy_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 20));
        Self {
            connections: connections.into_iter().map(Mutex::new).collect(),
            next: Arc::default(),
            postgres_url,
            retry_at_ms: Arc::default(),
            busy_seconds,
            batches: Arc::default(),
        }
    }

    /// Where the metadata lives, without secrets, for logs.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.postgres_url {
            Some(url) => describe_postgres(url).unwrap_or_else(|_| "postgres".into()),
            None => "sqlite (data dir)".into(),
        }
    }

    /// The histogram of time spent in database work.
    #[must_use]
    pub fn busy_seconds(&self) -> Histogram {
        self.busy_seconds.clone()
    }

    /// Checkpoints SQLite's write-ahead log into the database file, so a stopped server leaves one
    /// self-contained file behind. Called once at shutdown, after the last request.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn close(&self) -> StoreResult<()> {
        self.run(|db| {
            if let Some(connection) = db.as_sqlite() {
                connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(())
        })
        .await
    }

    /// Runs `work` with the connection on the blocking pool. A lost PostgreSQL connection is
    /// reopened first (and the call answers [`StoreError::Unavailable`] while that fails).
    ///
    /// # Errors
    /// Whatever `work` returns, or [`StoreError::Task`] if the task panicked.
    pub async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> StoreResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.run_now(work)).await.map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// [`Store::run`] on the calling thread, which may block: for the blocking pool and the batch
    /// writer's own thread.
    fn run_now<T>(&self, work: impl FnOnce(&Db) -> StoreResult<T>) -> StoreResult<T> {
        use std::sync::atomic::Ordering;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A free connection if there is one, else wait for the next in turn.
        let connections = &self.connections;
        let count = connections.len();
        let free = (0..count).find_map(|offset| connections[(start + offset) % count].try_lock().ok());
        let mut guard = match free {
            Some(guard) => guard,
            None => connections[start % count].lock().map_err(|_| StoreError::Task("database lock poisoned".into()))?,
        };
        if let Some(url) = self.postgres_url.as_deref().filter(|_| guard.is_closed()) {
            if now_ms() < self.retry_at_ms.load(Ordering::Acquire) {
                return Err(StoreError::Unavailable("the connection to PostgreSQL is down".into()));
            }
            match connect_postgres(url) {
                Ok(client) => *guard = Db::postgres(client),
                Err(error) => {
                    self.retry_at_ms.store(now_ms() + 1_000, Ordering::Release);
                    return Err(error);
                }
            }
        }
        // Left open by work that failed half-way: undo it before anyone builds on it.
        guard.reset()?;
        let started = std::time::Instant::now();
        let result = work(&guard);
        self.busy_seconds.observe(started.elapsed().as_secs_f64());
        result
    }
}

/// `postgres://user@host:port/name` without the password, for logs; an error when the URL does
/// not parse or is not a PostgreSQL URL.
///
/// # Errors
/// Why the URL is not usable.
pub fn describe_postgres(url: &str) -> Result<String, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("expected postgres://user:password@host:port/database".into());
    }
    let config: postgres::Config = url.parse().map_err(|e: postgres::Error| e.to_string())?;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    Ok(format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    ))
}

impl Store {
    /// Runs `work` like [`Store::run`], but committed together with the other work that arrives
    /// while the previous batch is being written: one transaction (one fsync) for many status
    /// reports. Each unit runs in a savepoint of its own, so a failing one changes nothing and does
    /// not spoil the others; each caller is answered only after the commit that holds its work.
    ///
    /// # Errors
    /// What `work` returns; [`StoreError::Unavailable`] when the batch could not be committed.
    pub async fn run_batched<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: BatchJob = Box::new(move |db: &Db| -> BatchFinish {
            let result = db.transaction(work);
            Box::new(move |commit_error: Option<String>| {
                let _ = answer.send(match commit_error {
                    None => result,
                    Some(error) => Err(StoreError::Unavailable(format!("the batch was not committed: {error}"))),
                });
            })
        });
        let writer = self.batches.get_or_init(|| self.start_batch_writer());
        writer.send(job).map_err(|_| StoreError::Task("the batch writer stopped".into()))?;
        answered.await.map_err(|_| StoreError::Unavailable("the batch could not be written".into()))?
    }

    /// The writer, on a thread of its own: takes the first waiting unit, everything else already
    /// queued (up to [`MAX_BATCH`]), commits them in one transaction and answers them. A thread
    /// rather than a task on the blocking pool, so a batch costs no hand-over to a pool thread and
    /// back. It holds a copy of the store without the queue, so it ends when the last store (and
    /// so the last sender) is gone.
    fn start_batch_writer(&self) -> tokio::sync::mpsc::UnboundedSender<BatchJob> {
        let (sender, mut queue) = tokio::sync::mpsc::unbounded_channel::<BatchJob>();
        let store = Self { batches: Arc::default(), ..self.clone() };
        let writer = move || {
            while let Some(first) = queue.blocking_recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let written = store.run_now(move |db| {
                    let mut finishers = Vec::with_capacity(jobs.len());
                    let committed = db.transaction(|db| {
                        finishers.extend(jobs.into_iter().map(|job| job(db)));
                        Ok(())
                    });
                    Ok((finishers, committed.err().map(|e| e.to_string())))
                });
                // When the work could not start, the jobs are dropped and their callers are told
                // the batch could not be written.
                if let Ok((finishers, error)) = written {
                    for finish in finishers {
                        finish(error.clone());
                    }
                }
            }
        };
        // Without the thread the queue's receiver is gone, and every batched call fails with
        // "the batch writer stopped".
        if let Err(error) = std::thread::Builder::new().name("otadeck-batch-writer".into()).spawn(writer) {
            tracing::error!(%error, "cannot start the status-report writer");
        }
        sender
    }
}

/// Opens a PostgreSQL connection (no TLS: the database is on a private network or loopback).
///
/// # Errors
/// [`StoreError::Invalid`] for a URL that does not parse, [`StoreError::Unavailable`] otherwise.
pub(crate) fn connect_postgres(url: &str) -> StoreResult<postgres::Client> {
    let mut config: postgres::Config =
        url.parse().map_err(|e| StoreError::Invalid(format!("the database URL is not usable: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(5));
    }
    config.application_name("otadeck");
    config.connect(postgres::NoTls).map_err(|e| StoreError::Unavailable(e.to_string()))
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

fn refuse_newer(current: usize) -> StoreResult<()> {
    if current > MIGRATIONS.len() {
        return Err(StoreError::Invalid(format!(
            "the database was written by a newer otadeck (schema {current}; this version knows {}): refusing to use it",
            MIGRATIONS.len()
        )));
    }
    Ok(())
}

fn migrate(db: &Db) -> StoreResult<()> {
    match db.as_sqlite() {
        Some(connection) => {
            let current: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
            refuse_newer(current)?;
            for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
                db.transaction(|db| {
                    db.batch(sql)?;
                    db.batch(&format!("PRAGMA user_version = {}", index + 1))
                })?;
            }
            Ok(())
        }
        None => db.transaction(|db| {
            // One migrating replica at a time; the others wait here and find the work done.
            db.one_at_a_time(db::Exclusive::Migration)?;
            let known: bool =
                db.query_one("SELECT to_regclass('otadeck_schema') IS NOT NULL", params![], |row| row.get(0))?;
            if !known {
                db.batch("CREATE TABLE otadeck_schema (version BIGINT NOT NULL)")?;
            }
            let current: Option<usize> =
                db.query_opt("SELECT version FROM otadeck_schema", params![], |row| row.get(0))?;
            if current.is_none() {
                db.execute("INSERT INTO otadeck_schema (version) VALUES (0)", params![])?;
            }
            let current = current.unwrap_or(0);
            refuse_newer(current)?;
            for (version, sql) in POSTGRES_MIGRATIONS.iter().filter(|(version, _)| *version > current) {
                db.batch(sql)?;
                db.execute("UPDATE otadeck_schema SET version = ?1", params![*version])?;
            }
            Ok(())
        }),
    }
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}
