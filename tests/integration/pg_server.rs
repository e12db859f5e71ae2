//! A real PostgreSQL for the tests: Debian's server binaries (`postgresql` package), a throw-away
//! cluster made by `initdb` in a temp dir and started once per test process on a loopback port
//! (as the `postgres` user when the tests run as root, since `initdb` refuses root). A watchdog
//! stops it and deletes the cluster when the test process ends. Each test gets its own database.
//!
//! `OTADECK_TEST_DATABASE_URL` (a `postgres://` URL of a role that may create databases) uses an
//! existing server instead. Without either the PostgreSQL tests skip loudly; under `CI=true` that
//! is a failure instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The directory of `initdb` and `postgres`: on PATH, or Debian's versioned folder.
fn server_binaries() -> Result<PathBuf, String> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").exists() && dir.join("postgres").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL server installed (Debian: apt install postgresql)".to_owned())?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_owned())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `program` (as `postgres` when we are root).
fn command(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Makes a cluster in a fresh temp dir and starts it; returns the admin URL.
fn launch() -> Result<String, String> {
    if let Ok(url) = std::env::var("OTADECK_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        return Ok(url);
    }
    let bin = server_binaries()?;
    let dir = tempfile::Builder::new()
        .prefix("otadeck-pg-")
        .tempdir()
        .map_err(|e| format!("cannot make a temp dir: {e}"))?
        .keep();
    if running_as_root() {
        let chowned = Command::new("chown").arg("postgres").arg(&dir).status().map_err(|e| e.to_string())?;
        if !chowned.success() {
            return Err(format!("cannot hand {} to the postgres user", dir.display()));
        }
    }
    let output = command(&bin.join("initdb"))
        .args(["-D"])
        .arg(dir.join("data"))
        .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !output.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let port = crate::support::free_port();
    // The server is only a test fixture: no fsync (the durability under test is otadeck's).
    let script = format!(
        "\"$0\" -D \"$1/data\" -h 127.0.0.1 -p {port} -k \"$1\" -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300 >\"$1/log\" 2>&1 & server=$!; \
         while [ -d /proc/{parent} ] && kill -0 $server 2>/dev/null; do sleep 1; done; \
         kill $server; wait $server; rm -rf \"$1\"",
        parent = std::process::id()
    );
    command(Path::new("sh"))
        .args(["-c", &script])
        .arg(bin.join("postgres"))
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if postgres::Client::connect(&url, postgres::NoTls).is_ok() {
            return Ok(url);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    Err(format!("postgres did not accept connections on port {port} within 30 s: {log}"))
}

fn admin_url() -> Result<String, String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(launch).clone()
}

/// The URL of a new, empty database on the test server, or `None` after a loud message when no
/// server can be had; under `CI=true` that panics instead.
pub async fn database(what: &str) -> Option<String> {
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        let admin = crate::support::or_skip(&what, admin_url().map_err(|e| format!("no PostgreSQL server: {e}")))?;
        let name = format!("otadeck_{:016x}", rand::random::<u64>());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to the test server");
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        Some(with_database(&admin, &name))
    })
    .await
    .expect("database task")
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// Runs `sql` on the test server's `postgres` database (as its superuser).
pub async fn admin_sql(sql: &str) {
    sql_on(&admin_url().expect("the test server"), sql).await;
}

/// Runs `sql` on the database at `url`.
pub async fn sql_on(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test server");
        client.batch_execute(&sql).expect("admin statement");
    })
    .await
    .expect("admin task");
}

/// The database name of a URL from [`database`].
pub fn name_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}
