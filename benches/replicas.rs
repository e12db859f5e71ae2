//! Update checks and durable status reports against the embedded default (SQLite + blob folder),
//! one replica on PostgreSQL + a bucket, and two replicas on them, all in one run. Each server is the
//! release `otadeck serve` binary; the load is two `wrk` processes (one thread, 32 connections each),
//! both on the one server or one per replica.
//!
//! Run: `OTADECK_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres \
//!       AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
//!       AWS_SECRET_ACCESS_KEY=bench cargo bench --bench replicas`
//! with a PostgreSQL role that may create databases and an S3-compatible server (moto_server from
//! `target/tools/moto`, which the tests install, or MinIO). Needs `wrk` from apt. Prints a table for
//! BENCHMARKS.md.

#[path = "common/seed.rs"]
mod seed;
#[path = "common/wrk.rs"]
mod wrk;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DURATION: &str = "10s";

/// One `otadeck serve` process, killed on drop.
struct Server {
    url: String,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the servers of one configuration keep their data.
struct Storage {
    database: Option<String>,
    bucket: Option<String>,
}

fn start(data_dir: &Path, storage: &Storage) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_otadeck"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .args(["--report-rate-limit", "10000000", "--download-rate-limit", "10000000"])
        .env("OTADECK_ADMIN_KEY", seed::ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .env_remove("OTADECK_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(database) = &storage.database {
        command.env("OTADECK_DATABASE_URL", database);
    }
    if let Some(bucket) = &storage.bucket {
        command.args(["--blobs", bucket]);
    }
    let child = command.spawn().expect("otadeck serve");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "otadeck serve did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { url, child }
}

/// A fresh database on the benchmark's PostgreSQL server; its URL.
fn fresh_database(admin: &str, name: &str) -> String {
    let mut client = postgres::Client::connect(admin, postgres::NoTls).expect("connect to OTADECK_BENCH_POSTGRES");
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop");
    client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create");
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// A fresh bucket on the S3-compatible server; its `s3://` location.
fn fresh_bucket(runtime: &tokio::runtime::Runtime, endpoint: &str, name: &str) -> String {
    runtime.block_on(async {
        otadeck::tls::install_crypto_provider();
        let created = reqwest::Client::new().put(format!("{endpoint}/{name}")).send().await.expect("create bucket");
        assert!(created.status().is_success(), "create bucket: {}", created.status());
    });
    format!("s3://{name}/packages")
}

/// Two `wrk` processes at once, the first on `urls[0]`, the second on the last URL; their summed
/// requests per second and the share of non-2xx answers.
fn load(urls: &[String], scripts: [&Path; 2]) -> (f64, u64) {
    let run = |url: &str, script: &Path| {
        let args: Vec<std::ffi::OsString> = ["-t1", "-c32", "-d", DURATION, "-s"]
            .iter()
            .map(Into::into)
            .chain([script.as_os_str().to_owned(), url.into()])
            .collect();
        wrk::run(&args)
    };
    let (first, last) = (urls[0].clone(), urls[urls.len() - 1].clone());
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run(&first, scripts[0]));
        let b = scope.spawn(|| run(&last, scripts[1]));
        (a.join().expect("wrk"), b.join().expect("wrk"))
    });
    let rate = |r: &wrk::Report| r.field("Requests/sec:").parse::<f64>().unwrap_or(f64::NAN);
    let errors = |r: &wrk::Report| r.field("Non-2xx or 3xx responses:").parse::<u64>().unwrap_or(0);
    (rate(&a) + rate(&b), errors(&a) + errors(&b))
}

struct Row {
    name: &'static str,
    checks: f64,
    check_errors: u64,
    reports: f64,
    report_errors: u64,
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    name: &'static str,
    storage: &Storage,
    replicas: usize,
) -> Row {
    let servers: Vec<Server> = (0..replicas).map(|i| start(&dir.join(format!("{name}-{i}")), storage)).collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let key = runtime.block_on(seed::seed(&urls[0], dir));
    let tag = name.replace(' ', "-");
    let checks = [wrk::check_script(dir, &key, &format!("{tag}-a")), wrk::check_script(dir, &key, &format!("{tag}-b"))];
    let reports =
        [wrk::report_script(dir, &key, &format!("{tag}-a")), wrk::report_script(dir, &key, &format!("{tag}-b"))];
    let (checks, check_errors) = load(&urls, [&checks[0], &checks[1]]);
    let (reports, report_errors) = load(&urls, [&reports[0], &reports[1]]);
    Row { name, checks, check_errors, reports, report_errors }
}

fn main() {
    let (Ok(postgres), Ok(endpoint)) = (std::env::var("OTADECK_BENCH_POSTGRES"), std::env::var("AWS_ENDPOINT_URL"))
    else {
        eprintln!(
            "set OTADECK_BENCH_POSTGRES (a postgres:// admin URL) and AWS_ENDPOINT_URL (an S3-compatible server)"
        );
        std::process::exit(2);
    };
    for (name, value) in
        [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")]
    {
        if std::env::var_os(name).is_none() {
            // The servers read the bucket's settings from the environment they inherit.
            eprintln!("set {name} (for moto, any value: {name}={value})");
            std::process::exit(2);
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Storage { database: None, bucket: None };
    let one = Storage {
        database: Some(fresh_database(&postgres, "otadeck_bench_one")),
        bucket: Some(fresh_bucket(&runtime, &endpoint, &format!("otadeck-bench-one-{}", std::process::id()))),
    };
    let two = Storage {
        database: Some(fresh_database(&postgres, "otadeck_bench_two")),
        bucket: Some(fresh_bucket(&runtime, &endpoint, &format!("otadeck-bench-two-{}", std::process::id()))),
    };
    let rows = [
        measure(&runtime, dir.path(), "embedded", &embedded, 1),
        measure(&runtime, dir.path(), "postgres one", &one, 1),
        measure(&runtime, dir.path(), "postgres two", &two, 2),
    ];
    let base = &rows[0];
    println!("| configuration | update checks/s | ratio | durable reports/s | ratio | non-2xx |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} | {} |",
            row.name,
            row.checks,
            row.checks / base.checks,
            row.reports,
            row.reports / base.reports,
            row.check_errors + row.report_errors
        );
    }
}
