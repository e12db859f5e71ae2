//! A real S3-compatible server for the bucket tests: moto's `moto_server` (PyPI, pinned), installed
//! by the tests into `target/tools/moto` on first use (a Python venv, once, under a file lock) and
//! started once per test process on a loopback port. A watchdog stops it when the test process
//! ends. Each test gets its own bucket.
//!
//! Without python3 or the package index the bucket tests skip loudly; under `CI=true` that is a
//! failure instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use otadeck::server::blobs::BucketConfig;

const PACKAGES: &[&str] = &["moto[s3]==5.2.5", "flask==3.1.3", "flask-cors==6.0.5"];

fn tools_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/moto")
}

/// `target/tools/moto/bin/moto_server`, installed once.
fn install() -> Result<PathBuf, String> {
    let root = tools_root();
    let binary = root.join("bin/moto_server");
    let marker = root.join(".installed");
    if marker.exists() && binary.exists() {
        return Ok(binary);
    }
    let parent = root.parent().unwrap_or(&root);
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let lock = std::fs::File::create(parent.join(".moto.lock")).map_err(|e| format!("cannot create the lock: {e}"))?;
    lock.lock().map_err(|e| format!("cannot lock {}: {e}", parent.display()))?;
    if marker.exists() && binary.exists() {
        return Ok(binary);
    }
    eprintln!("installing {} into {} (once)", PACKAGES.join(" "), root.display());
    let run = |command: &mut Command| -> Result<(), String> {
        let output = command.output().map_err(|e| format!("cannot run {command:?}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr)))
        }
    };
    run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&root))?;
    run(Command::new(root.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(PACKAGES))?;
    std::fs::write(&marker, PACKAGES.join("\n")).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(binary)
}

/// Starts moto on a free loopback port; a shell watchdog kills it once this process is gone.
fn launch(binary: &Path) -> Result<String, String> {
    let port = crate::support::free_port();
    let script = format!(
        "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & server=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done; kill $server",
        parent = std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .arg(binary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto_server: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("moto_server did not listen on port {port} within 30 s"))
}

fn endpoint() -> Result<String, String> {
    static ENDPOINT: OnceLock<Result<String, String>> = OnceLock::new();
    ENDPOINT.get_or_init(|| install().and_then(|binary| launch(&binary))).clone()
}

/// A new, empty bucket on the test S3 server (key prefix `packages`), or `None` after a loud
/// message when no server can be had; under `CI=true` that panics instead.
pub async fn bucket(what: &str) -> Option<BucketConfig> {
    let found = tokio::task::spawn_blocking(endpoint).await.expect("install task");
    let endpoint = crate::support::or_skip(what, found.map_err(|e| format!("no S3-compatible server: {e}")))?;
    let name = format!("otadeck-{:016x}", rand::random::<u64>());
    otadeck::tls::install_crypto_provider();
    let created = reqwest::Client::new().put(format!("{endpoint}/{name}")).send().await.expect("create bucket");
    assert!(created.status().is_success(), "create bucket: {}", created.status());
    Some(BucketConfig {
        bucket: name,
        prefix: "packages".into(),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        access_key_id: Some("test-key-id".into()),
        secret_access_key: Some("test-secret".into()),
    })
}

/// Every object under the bucket's prefix: (key, bytes), fetched with path-style GETs.
pub async fn objects(bucket: &BucketConfig) -> Vec<(String, Vec<u8>)> {
    use futures_util::TryStreamExt as _;
    use object_store::ObjectStoreExt as _;
    use object_store::aws::AmazonS3Builder;
    let store = AmazonS3Builder::new()
        .with_bucket_name(&bucket.bucket)
        .with_region("us-east-1")
        .with_endpoint(bucket.endpoint.as_deref().expect("endpoint"))
        .with_allow_http(true)
        .with_access_key_id("test-key-id")
        .with_secret_access_key("test-secret")
        .build()
        .expect("inspection client");
    let prefix = object_store::path::Path::from(bucket.prefix.as_str());
    let listed: Vec<_> = object_store::ObjectStore::list(&store, Some(&prefix)).try_collect().await.expect("list");
    let mut found = Vec::new();
    for meta in listed {
        let bytes = store.get(&meta.location).await.expect("get").bytes().await.expect("bytes");
        found.push((meta.location.to_string(), bytes.to_vec()));
    }
    found
}
