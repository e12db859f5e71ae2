//! The release server: CodePush device protocol + v2 management API over axum.
//!
//! [`ServerState::open`] prepares storage under a data dir; [`serve`] runs the router on a bound
//! listener until a shutdown future resolves. Handlers in [`routes`] are thin: rules live in
//! [`crate::domain`], persistence in [`store`].

pub mod auth;
pub mod blobs;
pub mod cache;
pub mod error;
pub mod routes;
pub mod store;
pub mod upload;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::domain::package::ZipLimits;
pub use error::ApiError;

/// Default upload limit: 200 MB, as the reference server.
pub const DEFAULT_UPLOAD_LIMIT_BYTES: u64 = 200 * 1024 * 1024;

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// Base of absolute download URLs; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// Access key for `admin@localhost` on a fresh database (`OTADECK_ADMIN_KEY`).
    pub admin_key: Option<String>,
    pub upload_limit_bytes: u64,
    pub zip_limits: ZipLimits,
}

impl ServerConfig {
    /// Defaults for a data dir.
    #[must_use]
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            public_url: None,
            admin_key: None,
            upload_limit_bytes: DEFAULT_UPLOAD_LIMIT_BYTES,
            zip_limits: ZipLimits::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot write the admin access key file: {0}")]
    AdminKeyFile(std::io::Error),
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct ServerState {
    pub store: store::Store,
    pub blobs: Arc<blobs::BlobStore>,
    pub cache: Arc<cache::UpdateCache>,
    pub public_url: Arc<str>,
    pub upload_limit_bytes: u64,
    pub zip_limits: ZipLimits,
}

/// What opening a data dir produced.
pub struct Opened {
    pub state: ServerState,
    /// Set when a fresh database got a generated admin key (also written to `admin-access-key`).
    pub generated_admin_key: Option<String>,
}

impl ServerState {
    /// Opens storage under the config's data dir; `bound` is used for the default public URL.
    ///
    /// # Errors
    /// [`StartError`] if the folder, database or admin key file cannot be prepared.
    pub async fn open(config: &ServerConfig, bound: SocketAddr) -> Result<Opened, StartError> {
        let data_dir = config.data_dir.clone();
        let dir_error = |source| StartError::DataDir { path: data_dir.clone(), source };
        std::fs::create_dir_all(&data_dir).map_err(dir_error)?;
        let blobs = Arc::new(blobs::BlobStore::open(&data_dir).map_err(dir_error)?);
        let store = store::Store::open(&data_dir.join("otadeck.sqlite3"))?;
        let admin_key = config.admin_key.clone();
        let generated_admin_key = store.run(move |c| store::accounts::bootstrap_admin(c, admin_key.as_deref())).await?;
        if let Some(key) = &generated_admin_key {
            write_private_file(&data_dir.join("admin-access-key"), key).map_err(StartError::AdminKeyFile)?;
        }
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        let state = ServerState {
            store,
            blobs,
            cache: Arc::new(cache::UpdateCache::default()),
            public_url: public_url.trim_end_matches('/').into(),
            upload_limit_bytes: config.upload_limit_bytes,
            zip_limits: config.zip_limits,
        };
        Ok(Opened { state, generated_admin_key })
    }

    /// Advances every rollout schedule that is due at `now_ms` and compacts metric samples older than
    /// a day (the server's ticker passes the real clock; tests pass a simulated one). Returns how many
    /// releases moved.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn advance_schedules(&self, now_ms: i64) -> Result<usize, store::StoreError> {
        self.store.run(move |c| store::metrics::compact_samples(c, now_ms)).await?;
        let moved = self.store.run(move |c| store::policy::advance_schedules(c, now_ms)).await?;
        if moved > 0 {
            self.cache.invalidate();
        }
        Ok(moved)
    }

    /// Absolute download URL of a blob.
    #[must_use]
    pub fn blob_url(&self, sha256: &str) -> String {
        format!("{}{}{sha256}", self.public_url, routes::BLOB_PATH_PREFIX)
    }
}

fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Serves until `shutdown` resolves.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = tokio::spawn(schedule_ticker(state.clone()));
    // Routing happens after this rewrite, so `/apps/` (as code-push-cli sends it) finds `/apps`.
    let app = tower::ServiceExt::map_request(routes::router(state), strip_trailing_slash);
    let result = axum::serve(listener, axum::ServiceExt::<axum::extract::Request>::into_make_service(app))
        .with_graceful_shutdown(shutdown)
        .await;
    ticker.abort();
    result
}

/// Advances rollout schedules every 30 seconds with the real clock.
async fn schedule_ticker(state: ServerState) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        interval.tick().await;
        if let Err(error) = state.advance_schedules(store::now_ms()).await {
            tracing::error!(%error, "rollout schedule tick failed");
        }
    }
}

/// Removes trailing slashes from the request path (`/apps/` -> `/apps`), keeping the query.
fn strip_trailing_slash(mut request: axum::extract::Request) -> axum::extract::Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// A server running in this process for the desktop app.
#[derive(Debug, Clone)]
pub struct EmbeddedServer {
    pub url: String,
    pub admin_key: String,
}

/// Starts a server on `127.0.0.1:<preferred_port>` (or any free port if that one is taken) with data
/// in `data_dir`, serving until the runtime stops. The admin key is the bootstrap key: generated on
/// first start and read back from `admin-access-key` afterwards.
///
/// # Errors
/// [`StartError`] if storage cannot be opened or the admin key is not available.
pub async fn start_embedded(data_dir: PathBuf, preferred_port: u16) -> Result<EmbeddedServer, StartError> {
    let listener = match TcpListener::bind(("127.0.0.1", preferred_port)).await {
        Ok(listener) => listener,
        Err(_) => TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| StartError::DataDir { path: data_dir.clone(), source })?,
    };
    let address = listener.local_addr().map_err(|source| StartError::DataDir { path: data_dir.clone(), source })?;
    let opened = ServerState::open(&ServerConfig::new(data_dir.clone()), address).await?;
    let admin_key = match opened.generated_admin_key {
        Some(key) => key,
        None => std::fs::read_to_string(data_dir.join("admin-access-key"))
            .map(|k| k.trim().to_owned())
            .map_err(StartError::AdminKeyFile)?,
    };
    tokio::spawn(async move {
        if let Err(error) = serve(listener, opened.state, std::future::pending()).await {
            tracing::error!(%error, "embedded server stopped");
        }
    });
    Ok(EmbeddedServer { url: format!("http://{address}"), admin_key })
}
