//! Test harness: a real server on loopback, clients for it, and package fixtures.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use otadeck::api::management::PackageInfo;
use otadeck::client::{DeviceClient, ManagementClient, PackageUpload, Transport};
use otadeck::server::{ServerConfig, ServerState, serve};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// `found`, or `None` after a loud message naming what is skipped and why; under `CI=true` a
/// missing tool or server fails the run instead.
pub fn or_skip<T>(what: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(reason) => {
            let message = format!("{what} SKIPPED: {reason}");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
            None
        }
    }
}

/// Whether test servers keep their metadata in PostgreSQL and packages in a bucket
/// (`OTADECK_TEST_BACKEND=postgres`, set by `backends::…` when it reruns the storage-sensitive
/// tests) rather than in the data dir's SQLite file and blob folder.
pub fn on_postgres() -> bool {
    std::env::var("OTADECK_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// A running server; shut down on drop.
pub struct TestServer {
    pub url: String,
    pub data_dir: TempDir,
    /// The server's state, for driving its scheduler with a simulated clock.
    pub state: ServerState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        otadeck::tls::install_crypto_provider();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(data_dir.path().to_path_buf());
        config.admin_key = Some(ADMIN_KEY.to_owned());
        // Tests stand in for a proxy: simulated fleets send X-Forwarded-For from many networks.
        config.trust_forwarded_for = true;
        // Fleets of thousands share this machine's address; the limits have their own test.
        config.limits.reports_per_second = 1_000_000;
        config.limits.report_burst = 1_000_000;
        config.limits.downloads_per_second = 1_000_000;
        config.limits.download_burst = 1_000_000;
        config.limits.per_address_connections = 4_096;
        if on_postgres() {
            config.database = Some(crate::pg_server::database("a PostgreSQL test server").await.expect("PostgreSQL"));
            let bucket = crate::s3_server::bucket("a bucket test server").await.expect("S3-compatible server");
            config.blobs = otadeck::server::blobs::BlobLocation::Bucket(bucket);
        }
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address = listener.local_addr().expect("local addr");
        // A TLS test server is reached by name: its certificate is for `localhost`.
        let url = match config.tls {
            Some(_) => format!("https://localhost:{}", address.port()),
            None => format!("http://{address}"),
        };
        if config.tls.is_some() && config.public_url.is_none() {
            config.public_url = Some(url.clone());
        }
        let opened = ServerState::open(&config, address).await.expect("open server state");
        let (tx, rx) = oneshot::channel::<()>();
        let state = opened.state.clone();
        tokio::spawn(async move {
            serve(listener, opened.state, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self { url, data_dir, state, shutdown: Some(tx) }
    }

    /// Starts the Mendix OTA gateway on another loopback port; returns its URL (runtime-URL style,
    /// with a trailing `/`). It runs until the test's runtime ends.
    pub async fn start_gateway(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind gateway");
        let port = listener.local_addr().expect("gateway addr").port();
        // Over TLS the gateway is reached by the certificate's name.
        let url = if self.url.starts_with("https://") {
            format!("https://localhost:{port}/")
        } else {
            format!("http://127.0.0.1:{port}/")
        };
        let state = self.state.clone();
        tokio::spawn(async move {
            otadeck::server::serve_gateway(listener, state, std::future::pending()).await.expect("gateway runs");
        });
        url
    }

    pub fn admin(&self) -> ManagementClient {
        ManagementClient::new(&self.url, ADMIN_KEY).expect("client")
    }

    pub fn device(&self) -> DeviceClient {
        DeviceClient::new(&self.url).expect("device client")
    }

    /// A management client over `transport` (TLS trust, timeouts).
    pub fn admin_over(&self, transport: &Transport) -> ManagementClient {
        ManagementClient::with_transport(&self.url, ADMIN_KEY, transport).expect("client")
    }

    pub fn http(&self) -> reqwest::Client {
        otadeck::tls::install_crypto_provider();
        reqwest::Client::new()
    }

    /// The text of `GET /metrics`.
    pub async fn metrics_text(&self) -> String {
        let answer = self.http().get(format!("{}/metrics", self.url)).send().await.expect("metrics");
        answer.text().await.expect("metrics text")
    }
}

impl TestServer {
    /// Stops the server and waits until it has let go of its data dir, which it hands back.
    pub async fn stop(mut self) -> TempDir {
        let placeholder = tempfile::tempdir().expect("temp dir");
        let data_dir = std::mem::replace(&mut self.data_dir, placeholder);
        drop(self);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if otadeck::server::data_dir::DataDirLock::acquire(data_dir.path()).is_ok() {
                return data_dir;
            }
            assert!(std::time::Instant::now() < deadline, "the server did not release its data dir");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Writes `files` under `root/CodePush/` and returns the `CodePush` folder.
pub fn code_push_folder(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let folder = root.join("CodePush");
    for (name, contents) in files {
        let path = folder.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write fixture");
    }
    folder
}

/// Zips a `CodePush` folder like the CLI: files only, paths relative to its parent.
pub fn zip_folder(folder: &Path, zip_path: &Path) {
    let parent = folder.parent().expect("parent");
    let mut files = Vec::new();
    collect_files(folder, &mut files);
    files.sort();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(zip_path).expect("create zip"));
    for file in files {
        let name = file.strip_prefix(parent).expect("relative").to_string_lossy().replace('\\', "/");
        writer.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        writer.write_all(&std::fs::read(&file).expect("read")).expect("write");
    }
    writer.finish().expect("finish zip");
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A zipped package whose bundle says `marker`; returns the zip path (kept in `dir`).
pub fn package(dir: &Path, marker: &str) -> PathBuf {
    let root = dir.join(format!("src-{marker}"));
    let bundle = format!("console.log({marker:?});\n");
    let folder =
        code_push_folder(&root, &[("index.android.bundle", bundle.as_bytes()), ("assets/img.png", b"PNGDATA")]);
    let zip_path = dir.join(format!("{marker}.zip"));
    zip_folder(&folder, &zip_path);
    zip_path
}

/// `packageInfo` with a target range.
pub fn info(app_version: &str) -> PackageInfo {
    PackageInfo { app_version: Some(app_version.to_owned()), ..PackageInfo::default() }
}

pub fn upload(file: PathBuf, info: PackageInfo) -> PackageUpload {
    PackageUpload { file, info, mendix_model: None }
}

/// A fleet of `devices` on binary 1.0.0 against `server`, accepting every optional update, one
/// launch each, from many networks; tests change what they need with struct update syntax.
pub fn fleet_config(server: &TestServer, key: &str, prefix: &str, devices: usize) -> otadeck::sim::FleetConfig {
    otadeck::sim::FleetConfig {
        server: server.url.clone(),
        deployment_key: key.to_owned(),
        devices,
        app_versions: vec!["1.0.0".into()],
        build_numbers: Vec::new(),
        behavior: otadeck::client::Behavior { accept_optional: 1.0, ..otadeck::client::Behavior::default() },
        restarts: 1,
        concurrency: 24,
        id_prefix: prefix.to_owned(),
        public_key_pem: None,
        transport: Transport::default(),
        spread_networks: true,
    }
}

/// Creates an app and returns its Staging and Production keys.
pub async fn app_with_keys(client: &ManagementClient, name: &str) -> (String, String) {
    client.create_app(name).await.expect("create app");
    let deployments = client.deployments(name).await.expect("deployments");
    let key = |wanted: &str| deployments.iter().find(|d| d.name == wanted).expect("deployment").key.clone();
    (key("Staging"), key("Production"))
}

/// A throw-away private CA and a server certificate for `localhost` signed by it.
pub struct TestPki {
    pub dir: TempDir,
}

impl TestPki {
    pub fn new() -> Self {
        let pki = Self { dir: tempfile::tempdir().expect("pki dir") };
        pki.issue("otadeck test CA", "");
        pki
    }

    /// Writes `ca{suffix}.pem`, `cert{suffix}.pem` and `key{suffix}.pem`: a fresh CA and a
    /// `localhost` server certificate it signed.
    pub fn issue(&self, ca_name: &str, suffix: &str) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, ca_name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).expect("server certificate");
        std::fs::write(self.dir.path().join(format!("ca{suffix}.pem")), ca_cert.pem()).expect("write CA");
        std::fs::write(self.dir.path().join(format!("cert{suffix}.pem")), server_cert.pem()).expect("write cert");
        std::fs::write(self.dir.path().join(format!("key{suffix}.pem")), server_key.serialize_pem())
            .expect("write key");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn tls_files(&self) -> otadeck::server::TlsFiles {
        otadeck::server::TlsFiles { cert: self.path("cert.pem"), key: self.path("key.pem") }
    }

    /// A transport that trusts this CA.
    pub fn transport(&self) -> Transport {
        Transport { extra_ca: Some(self.path("ca.pem")), ..Transport::default() }
    }
}

/// Runs the `otadeck` binary with `envs` (and none of the caller's server settings); returns (exit
/// code, stdout, stderr) and echoes the run into the test log.
pub async fn run_otadeck(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_otadeck"))
        .args(args)
        .env_remove("OTADECK_SERVER")
        .env_remove("OTADECK_ACCESS_KEY")
        .env_remove("OTADECK_CA_CERT")
        .env("OTADECK_CONFIG", "/nonexistent/otadeck-config.toml")
        .envs(envs.iter().copied())
        .output()
        .await
        .expect("run otadeck");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("$ otadeck {}\n{stdout}{stderr}", args.join(" "));
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Incompressible bytes, so a package's size says what it carries.
pub fn noise(seed: u8, length: usize) -> Vec<u8> {
    let mut state = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}
