//! The release server: CodePush device protocol + v2 management API over axum.
//!
//! [`ServerState::open`] locks a data dir (one owner per dir, see [`data_dir`]) and prepares storage
//! under it; [`serve`] runs the router on a bound listener, over HTTP or HTTPS (rustls, certificate
//! re-read on SIGHUP), until a shutdown future resolves, then drains: the listener closes, requests
//! in flight get a grace period, and the database is checkpointed. Handlers in [`routes`] are thin:
//! rules live in [`crate::domain`], persistence in [`store`]; [`observability`] adds request ids, the
//! access log, `/metrics`, `/health` and `/ready`.

pub mod auth;
pub mod blobs;
pub mod byte_range;
pub mod cache;
pub mod data_dir;
pub mod diffs;
pub mod error;
pub mod gateway;
pub mod limits;
pub mod migrate;
pub mod observability;
pub mod replicas;
pub mod routes;
pub mod store;
pub mod upload;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use tokio::net::TcpListener;

use crate::domain::package::ZipLimits;
pub use error::ApiError;

/// Default upload limit: 200 MB, as the reference server.
pub const DEFAULT_UPLOAD_LIMIT_BYTES: u64 = 200 * 1024 * 1024;

/// Unreferenced blobs younger than this are kept (their release row may be on its way).
pub const BLOB_COLLECTION_GRACE: Duration = Duration::from_secs(3600);

/// How long requests in flight (uploads included) may run on after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// Base of absolute download URLs (validated with [`parse_public_url`]); defaults to
    /// `http(s)://<bound address>`.
    pub public_url: Option<String>,
    /// Access key for `admin@localhost` on a fresh database (`OTADECK_ADMIN_KEY`).
    pub admin_key: Option<String>,
    pub upload_limit_bytes: u64,
    pub zip_limits: ZipLimits,
    /// Take the client address from the last `X-Forwarded-For` entry (set only behind a proxy that
    /// writes it; otherwise clients could claim any address).
    pub trust_forwarded_for: bool,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<TlsFiles>,
    pub shutdown_grace: Duration,
    /// Connection caps, timeouts and per-address rate limits.
    pub limits: limits::Limits,
    /// The metadata database: `None` for the data dir's SQLite file, or a PostgreSQL URL
    /// (`postgres://user:password@host/name`) shared by any number of replicas.
    pub database: Option<String>,
    /// Where package blobs live: the data dir's folder or an S3-compatible bucket.
    pub blobs: blobs::BlobLocation,
    /// Download URLs point here (`<base>/ab/abcdef…`) instead of at this server: a CDN or the
    /// bucket in front of the blobs.
    pub blob_base_url: Option<String>,
    /// How often the leader advances rollout schedules and compacts series.
    pub schedule_tick: Duration,
}

/// Default period of the schedule ticker.
pub const DEFAULT_SCHEDULE_TICK: Duration = Duration::from_secs(30);

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
            trust_forwarded_for: false,
            tls: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            limits: limits::Limits::default(),
            database: None,
            blobs: blobs::BlobLocation::Folder,
            blob_base_url: None,
            schedule_tick: DEFAULT_SCHEDULE_TICK,
        }
    }

    /// Checks the public URL, and refuses to listen on all addresses without one: devices would be
    /// handed download URLs on `0.0.0.0` or `::`, which no phone can reach. Touches nothing.
    ///
    /// # Errors
    /// [`StartError::PublicUrl`], [`StartError::NoPublicUrl`].
    pub fn check_listen(&self, listen: SocketAddr) -> Result<(), StartError> {
        if let Some(url) = &self.database {
            store::describe_postgres(url).map_err(|reason| StartError::DatabaseUrl { reason })?;
        }
        match &self.public_url {
            Some(url) => parse_public_url(url).map(|_| ()),
            None if listen.ip().is_unspecified() => Err(StartError::NoPublicUrl { listen }),
            None => Ok(()),
        }
    }
}

/// Validates a public base URL: `http` or `https`, a host, no query or fragment. Returns it without
/// a trailing slash.
///
/// # Errors
/// [`StartError::PublicUrl`] naming what is wrong.
pub fn parse_public_url(text: &str) -> Result<String, StartError> {
    let invalid = |reason: &str| StartError::PublicUrl { url: text.to_owned(), reason: reason.to_owned() };
    let url = url::Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    match url.host() {
        None => return Err(invalid("it has no host")),
        Some(url::Host::Ipv4(ip)) if ip.is_unspecified() => return Err(invalid("0.0.0.0 is not reachable by devices")),
        Some(url::Host::Ipv6(ip)) if ip.is_unspecified() => return Err(invalid(":: is not reachable by devices")),
        Some(_) => {}
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not have a query, a fragment or credentials"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Locked(#[from] data_dir::LockError),
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
    #[error("--database is not usable: {reason}")]
    DatabaseUrl { reason: String },
    #[error("cannot write the admin access key file: {0}")]
    AdminKeyFile(std::io::Error),
    #[error("--public-url {url:?} is not usable: {reason}")]
    PublicUrl { url: String, reason: String },
    #[error(
        "listening on {listen} (all addresses) needs --public-url (e.g. https://ota.example.com): the address devices download packages from"
    )]
    NoPublicUrl { listen: SocketAddr },
    #[error("cannot load the TLS certificate {cert} and key {key}: {reason}", cert = .files.cert.display(), key = .files.key.display())]
    Tls { files: TlsFiles, reason: String },
    #[error("--blob-base-url {url:?} is not usable: {reason}")]
    BlobBaseUrl { url: String, reason: String },
    #[error("cannot open the blob store {target}: {source}")]
    Blobs { target: String, source: std::io::Error },
}

impl StartError {
    /// Whether the error is in the configuration (the binary exits 2) rather than the environment.
    #[must_use]
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::PublicUrl { .. }
                | Self::NoPublicUrl { .. }
                | Self::Tls { .. }
                | Self::BlobBaseUrl { .. }
                | Self::DatabaseUrl { .. }
        )
    }
}

/// How the listener serves: TLS (reloadable) and the drain period.
struct Listening {
    tls: Option<(TlsFiles, RustlsConfig)>,
    grace: Duration,
    gate: limits::ConnectionGate,
    header_read_timeout: Duration,
}

/// Shared state of all handlers: one reference-counted pointer, since axum clones it for every
/// request (fields are reached through `Deref`).
#[derive(Clone)]
pub struct ServerState(Arc<SharedState>);

impl std::ops::Deref for ServerState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`ServerState`] points to.
pub struct SharedState {
    pub store: store::Store,
    pub blobs: Arc<blobs::BlobStore>,
    pub cache: Arc<cache::UpdateCache>,
    /// The other replicas on the same PostgreSQL database, and whether this one leads.
    pub replicas: Arc<replicas::Replicas>,
    pub public_url: Arc<str>,
    pub upload_limit_bytes: u64,
    pub zip_limits: ZipLimits,
    pub metrics: Arc<observability::ServerMetrics>,
    pub trust_forwarded_for: bool,
    /// Period of the schedule ticker (see [`ServerConfig::schedule_tick`]).
    pub schedule_tick: Duration,
    /// Per-address token buckets of status reports and of package downloads.
    pub report_limiter: Arc<limits::RateLimiter>,
    pub download_limiter: Arc<limits::RateLimiter>,
    /// Wakes the diff builder ([`diffs`]) after a new release.
    pub diff_wake: Arc<tokio::sync::Notify>,
    listening: Arc<Listening>,
    /// Held for as long as any clone of the state lives: the data dir is this server's alone.
    _lock: Arc<data_dir::DataDirLock>,
}

/// What opening a data dir produced.
pub struct Opened {
    pub state: ServerState,
    /// Set when a fresh database got a generated admin key (also written to `admin-access-key`).
    pub generated_admin_key: Option<String>,
}

impl ServerState {
    /// Locks the config's data dir and opens storage under it; `bound` is the listener's address, for
    /// the default public URL and the lock file.
    ///
    /// # Errors
    /// [`StartError::Locked`] when another server owns the dir (nothing in it is touched); otherwise
    /// if the folder, database, admin key file or TLS files cannot be prepared.
    pub async fn open(config: &ServerConfig, bound: SocketAddr) -> Result<Opened, StartError> {
        let data_dir = config.data_dir.clone();
        let dir_error = |source| StartError::DataDir { path: data_dir.clone(), source };
        std::fs::create_dir_all(&data_dir).map_err(dir_error)?;
        let mut lock = data_dir::DataDirLock::acquire(&data_dir)?;
        let tls = match &config.tls {
            Some(files) => Some((files.clone(), load_tls(files).await?)),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = match &config.public_url {
            Some(url) => parse_public_url(url)?,
            None => format!("{scheme}://{bound}"),
        };
        lock.record(&data_dir::Owner {
            pid: std::process::id(),
            url: if tls.is_some() { public_url.clone() } else { format!("http://{}", reachable(bound)) },
            public_url: public_url.clone(),
            started_ms: store::now_ms(),
        })?;
        if let Some(base) = &config.blob_base_url {
            parse_public_url(base).map_err(|error| match error {
                StartError::PublicUrl { url, reason } => StartError::BlobBaseUrl { url, reason },
                other => other,
            })?;
        }
        let blobs =
            blobs::BlobStore::open(&data_dir, &config.blobs, config.blob_base_url.as_deref()).map_err(|source| {
                match config.blobs {
                    blobs::BlobLocation::Folder => dir_error(source),
                    _ => StartError::Blobs { target: config.blobs.describe(), source },
                }
            })?;
        let blobs = Arc::new(blobs);
        let store = match &config.database {
            Some(url) => store::Store::connect(url).await?,
            None => store::Store::open(&data_dir.join("otadeck.sqlite3"))?,
        };
        let admin_key = config.admin_key.clone();
        let generated_admin_key = store.run(move |c| store::accounts::bootstrap_admin(c, admin_key.as_deref())).await?;
        if let Some(key) = &generated_admin_key {
            write_private_file(&data_dir.join("admin-access-key"), key).map_err(StartError::AdminKeyFile)?;
        }
        let metrics = Arc::new(observability::ServerMetrics::new(store.busy_seconds()));
        let cache = Arc::new(cache::UpdateCache::default());
        let replicas = Arc::new(match &config.database {
            Some(url) => replicas::Replicas::join(url, &cache),
            None => replicas::Replicas::alone(),
        });
        let state = ServerState(Arc::new(SharedState {
            store,
            blobs,
            cache,
            replicas,
            public_url: public_url.into(),
            upload_limit_bytes: config.upload_limit_bytes,
            zip_limits: config.zip_limits,
            metrics,
            trust_forwarded_for: config.trust_forwarded_for,
            schedule_tick: config.schedule_tick,
            report_limiter: Arc::new(limits::RateLimiter::new(
                config.limits.reports_per_second,
                config.limits.report_burst,
            )),
            download_limiter: Arc::new(limits::RateLimiter::new(
                config.limits.downloads_per_second,
                config.limits.download_burst,
            )),
            diff_wake: Arc::new(tokio::sync::Notify::new()),
            listening: Arc::new(Listening {
                tls,
                grace: config.shutdown_grace,
                gate: limits::ConnectionGate::new(
                    config.limits.per_address_connections,
                    limits::total_connection_cap(&config.limits, limits::raise_open_file_limit()),
                ),
                header_read_timeout: config.limits.header_read_timeout,
            }),
            _lock: Arc::new(lock),
        }));
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
        self.store.run(store::metrics::compact_receipts).await?;
        self.report_limiter.shrink();
        self.download_limiter.shrink();
        let moved = self.store.run(move |c| store::policy::advance_schedules(c, now_ms)).await?;
        if moved > 0 {
            self.cache.invalidate();
        }
        Ok(moved)
    }

    /// Deletes blobs that no release references and that were written more than `grace` ago (a
    /// refused upload's blob, a deleted app's packages). The grace keeps a blob whose release row is
    /// about to be written. Returns how many went.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn collect_blobs(&self, grace: Duration) -> Result<usize, store::StoreError> {
        let cutoff = std::time::SystemTime::now().checked_sub(grace).unwrap_or(std::time::UNIX_EPOCH);
        let candidates = self.blobs.older_than(cutoff).await.map_err(|e| store::StoreError::Task(e.to_string()))?;
        let unused = self.store.run(move |c| store::releases::unreferenced_blobs(c, candidates)).await?;
        for sha256 in &unused {
            if let Err(error) = self.blobs.remove(sha256).await {
                tracing::warn!(%error, sha256, "cannot delete an unreferenced blob");
            }
        }
        Ok(unused.len())
    }

    /// The client's address: the peer, or the last `X-Forwarded-For` entry when the server is set
    /// to trust its proxy.
    #[must_use]
    pub fn client_address(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if self.trust_forwarded_for
            && let Some(forwarded) = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
                .next_back()
        {
            return forwarded;
        }
        peer.ip()
    }

    /// Absolute download URL of a blob: under `--blob-base-url` when set, else this server's.
    #[must_use]
    pub fn blob_url(&self, sha256: &str) -> String {
        self.blobs
            .public_url(sha256)
            .unwrap_or_else(|| format!("{}{}{sha256}", self.public_url, routes::BLOB_PATH_PREFIX))
    }
}

/// The address a local client uses to reach a listener (loopback for an unspecified address).
fn reachable(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bound.port()),
        _ => bound,
    }
}

async fn load_tls(files: &TlsFiles) -> Result<RustlsConfig, StartError> {
    crate::tls::install_crypto_provider();
    RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .map_err(|e| StartError::Tls { files: files.clone(), reason: e.to_string() })
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

/// Serves until `shutdown` resolves, then drains: no new connections, requests in flight get the
/// configured grace period, and the database is checkpointed before returning.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = tokio::spawn(schedule_ticker(state.clone()));
    let diff_builder = tokio::spawn(diffs::run(state.clone()));
    let observe = observability::ObserveLayer::new(state.metrics.clone());
    // Routing happens after this rewrite, so `/apps/` (as code-push-cli sends it) finds `/apps`.
    let routed = tower::ServiceExt::map_request(routes::router(state.clone(), observe.clone()), rewrite_request);
    let app = routes::FastPath::new(routed, state.clone(), observe);
    let result = serve_app(listener, &state, app, shutdown).await;
    ticker.abort();
    diff_builder.abort();
    if let Err(error) = state.store.close().await {
        tracing::warn!(%error, "cannot checkpoint the database at shutdown");
    }
    result
}

/// Serves the Mendix OTA gateway ([`gateway`]) on `listener`, with the API listener's TLS and
/// connection limits, until `shutdown` resolves (then drains like [`serve`]).
///
/// # Errors
/// I/O errors of the listener, or a failed set-up of the upstream client.
pub async fn serve_gateway(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let checks = gateway::checks::CheckCounter::default();
    let router = gateway::router(state.clone(), checks.clone()).map_err(std::io::Error::other)?;
    let flusher = tokio::spawn(checks.clone().flush_periodically(state.store.clone()));
    // Paths reach the runtime exactly as sent: `/xas/` keeps its slash.
    let result = serve_app(listener, &state, tower::ServiceExt::map_request(router, keep_request), shutdown).await;
    flusher.abort();
    checks.flush(&state.store).await;
    result
}

fn keep_request(request: IncomingRequest) -> axum::extract::Request {
    request.map(axum::body::Body::new)
}

async fn serve_app<S>(
    listener: TcpListener,
    state: &ServerState,
    app: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<IncomingRequest, Response = axum::response::Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let make_service = axum::ServiceExt::<IncomingRequest>::into_make_service_with_connect_info::<SocketAddr>(app);
    let handle = axum_server::Handle::new();
    let grace = state.listening.grace;
    let drain = handle.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        tracing::info!(
            grace_seconds = grace.as_secs_f64(),
            "draining: no new connections; requests in flight may finish"
        );
        drain.graceful_shutdown(Some(grace));
    });
    let listener = listener.into_std()?;
    let gated = limits::GatedAcceptor::new(state.listening.gate.clone());
    let header_timeout = state.listening.header_read_timeout;
    let result = match &state.listening.tls {
        None => {
            let mut server = axum_server::from_tcp(listener)?.acceptor(gated).handle(handle);
            server.http_builder().http1().header_read_timeout(header_timeout);
            server.first_request_timeout(header_timeout).serve(make_service).await
        }
        Some((files, config)) => {
            let reloader = tokio::spawn(reload_on_sighup(files.clone(), config.clone()));
            let tls = axum_server::tls_rustls::RustlsAcceptor::new(config.clone()).acceptor(gated);
            let mut server = axum_server::from_tcp(listener)?.acceptor(tls).handle(handle);
            server.http_builder().http1().header_read_timeout(header_timeout);
            let result = server.first_request_timeout(header_timeout).serve(make_service).await;
            reloader.abort();
            result
        }
    };
    watcher.abort();
    result
}

type IncomingRequest = axum::http::Request<hyper::body::Incoming>;

/// Re-reads the certificate and key on every SIGHUP; connections stay up, new handshakes use the new
/// certificate. A bad file keeps the old certificate and logs why.
async fn reload_on_sighup(files: TlsFiles, config: RustlsConfig) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match config.reload_from_pem_file(&files.cert, &files.key).await {
                Ok(()) => tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded"),
                Err(error) => {
                    tracing::error!(%error, cert = %files.cert.display(), "TLS certificate not reloaded; keeping the old one");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (files, config);
}

/// Advances rollout schedules every [`ServerConfig::schedule_tick`] with the real clock, on the
/// leader only.
async fn schedule_ticker(state: ServerState) {
    let mut interval = tokio::time::interval(state.schedule_tick);
    // Blob collection walks the whole store: about every 10 minutes.
    let collect_every = (600 / state.schedule_tick.as_secs().max(1)).max(1);
    let mut ticks: u64 = 0;
    loop {
        interval.tick().await;
        // With several replicas on one database, only the leader keeps house.
        if !state.replicas.is_leader() {
            continue;
        }
        // Walking the blob folder is the costly part of housekeeping: every 10 minutes is enough.
        if ticks.is_multiple_of(collect_every)
            && let Err(error) = state.collect_blobs(BLOB_COLLECTION_GRACE).await
        {
            tracing::warn!(%error, "collecting unreferenced blobs failed");
        }
        ticks += 1;
        if let Err(error) = state.advance_schedules(store::now_ms()).await {
            tracing::error!(%error, "rollout schedule tick failed");
        }
    }
}

/// Gives hyper's request body axum's body type and removes trailing slashes from the path
/// (`/apps/` -> `/apps`), keeping the query.
fn rewrite_request(request: IncomingRequest) -> axum::extract::Request {
    let mut request = request.map(axum::body::Body::new);
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

/// A server for the desktop app: started in this process, or one already running on the data dir.
#[derive(Debug, Clone)]
pub struct EmbeddedServer {
    pub url: String,
    pub admin_key: String,
    /// `Some(pid)` when another process owns the data dir and the app connects to it instead.
    pub owner_pid: Option<u32>,
}

/// Starts a server on `127.0.0.1:<preferred_port>` (or any free port if that one is taken) with data
/// in `data_dir`, serving until the runtime stops. The admin key is the bootstrap key: generated on
/// first start and read back from `admin-access-key` afterwards.
///
/// When another process (an `otadeck serve`, another window) already owns `data_dir`, nothing is
/// opened: the answer names that server's URL (from the lock file) and its bootstrap key.
///
/// # Errors
/// [`StartError`] if storage cannot be opened or the admin key is not available.
pub async fn start_embedded(data_dir: PathBuf, preferred_port: u16) -> Result<EmbeddedServer, StartError> {
    let dir_error = |source| StartError::DataDir { path: data_dir.clone(), source };
    std::fs::create_dir_all(&data_dir).map_err(dir_error)?;
    let admin_key_file = data_dir.join("admin-access-key");
    let read_admin_key =
        || std::fs::read_to_string(&admin_key_file).map(|k| k.trim().to_owned()).map_err(StartError::AdminKeyFile);
    let listener = match TcpListener::bind(("127.0.0.1", preferred_port)).await {
        Ok(listener) => listener,
        Err(_) => TcpListener::bind(("127.0.0.1", 0)).await.map_err(dir_error)?,
    };
    let address = listener.local_addr().map_err(dir_error)?;
    // The app's own server on loopback: every simulated device shares one address.
    let mut config = ServerConfig::new(data_dir.clone());
    config.limits.reports_per_second = 1_000_000;
    config.limits.report_burst = 1_000_000;
    config.limits.downloads_per_second = 1_000_000;
    config.limits.download_burst = 1_000_000;
    config.limits.per_address_connections = 4_096;
    let opened = match ServerState::open(&config, address).await {
        Ok(opened) => opened,
        Err(StartError::Locked(data_dir::LockError::Held { owner: Some(owner), .. })) => {
            return Ok(EmbeddedServer { url: owner.url, admin_key: read_admin_key()?, owner_pid: Some(owner.pid) });
        }
        Err(error) => return Err(error),
    };
    let admin_key = match opened.generated_admin_key {
        Some(key) => key,
        None => read_admin_key()?,
    };
    tokio::spawn(async move {
        if let Err(error) = serve(listener, opened.state, std::future::pending()).await {
            tracing::error!(%error, "embedded server stopped");
        }
    });
    Ok(EmbeddedServer { url: format!("http://{address}"), admin_key, owner_pid: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_must_be_reachable_http_urls() {
        assert_eq!(parse_public_url("https://ota.example.com/").expect("valid"), "https://ota.example.com");
        assert_eq!(parse_public_url("http://10.0.0.5:3000/ota").expect("valid"), "http://10.0.0.5:3000/ota");
        for bad in [
            "ota.example.com",
            "ftp://ota.example.com",
            "http://0.0.0.0:3000",
            "http://[::]:3000",
            "https://x/?a=1",
            "https://u:p@x/",
        ] {
            let error = parse_public_url(bad).expect_err(bad);
            assert!(error.is_configuration() && error.to_string().contains(bad.trim_end_matches('/')), "{error}");
        }
    }

    #[test]
    fn listening_on_all_addresses_needs_a_public_url() {
        let mut config = ServerConfig::new(PathBuf::from("/tmp/x"));
        let any: SocketAddr = "0.0.0.0:3000".parse().expect("addr");
        let error = config.check_listen(any).expect_err("refused");
        assert!(error.is_configuration() && error.to_string().contains("--public-url"), "{error}");
        assert!(config.check_listen("[::]:3000".parse().expect("addr")).is_err());
        assert!(config.check_listen("127.0.0.1:3000".parse().expect("addr")).is_ok());
        config.public_url = Some("https://ota.example.com".into());
        assert!(config.check_listen(any).is_ok());
    }
}
