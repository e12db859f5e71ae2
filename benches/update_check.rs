//! Update-check and durable status-report throughput and latency over HTTP on loopback, measured
//! with `wrk`, next to a trivial fixed-response axum server in the same run, with the servers on one
//! and on two runtime threads; plus package-hash throughput on a 50 MB folder.
//!
//! Run: `cargo bench --bench update_check` (needs `wrk` from apt). Prints a table for BENCHMARKS.md:
//! each figure is the mean of three interleaved 4 s rounds.

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/seed.rs"]
mod seed;
#[path = "common/server.rs"]
mod server;
#[path = "common/wrk.rs"]
mod wrk;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use otadeck::domain::package::{ManifestEntry, hash_reader, manifest_hash};

/// Each measurement runs this many times for [`DURATION`], interleaved with the others, and the
/// rounds are averaged: this VM's speed drifts within a minute, and interleaving spreads the drift
/// over the baseline and otadeck alike.
const ROUNDS: usize = 3;
const DURATION: &str = "4s";

struct WrkResult {
    requests_per_second: f64,
    /// CPU time of this process (every server here) per request, in µs.
    cpu_us_per_request: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

impl WrkResult {
    /// The mean of each figure over `rounds` (non-2xx answers summed).
    #[allow(clippy::cast_precision_loss)]
    fn mean(rounds: &[Self]) -> Self {
        let count = rounds.len() as f64;
        let mean = |figure: fn(&Self) -> f64| rounds.iter().map(figure).sum::<f64>() / count;
        Self {
            requests_per_second: mean(|r| r.requests_per_second),
            cpu_us_per_request: mean(|r| r.cpu_us_per_request),
            p50_ms: mean(|r| r.p50_ms),
            p99_ms: mean(|r| r.p99_ms),
            non_2xx: rounds.iter().map(|r| r.non_2xx).sum(),
        }
    }
}

fn parse_ms(text: &str) -> f64 {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * scale
}

fn run_wrk(url: &str, script: Option<&Path>) -> WrkResult {
    let mut args: Vec<&OsStr> = ["-t2", "-c64", "-d", DURATION, "--latency"].iter().map(OsStr::new).collect();
    if let Some(script) = script {
        args.extend([OsStr::new("-s"), script.as_os_str()]);
    }
    args.push(OsStr::new(url));
    let cpu_before = cpu::own_cpu_seconds();
    let report = wrk::run(&args);
    let cpu = cpu::own_cpu_seconds() - cpu_before;
    let requests: f64 = report.requests().unwrap_or(f64::NAN);
    let field = |prefix: &str| report.field(prefix);
    WrkResult {
        requests_per_second: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        cpu_us_per_request: cpu * 1e6 / requests,
        p50_ms: parse_ms(&field("50%")),
        p99_ms: parse_ms(&field("99%")),
        non_2xx: field("Non-2xx or 3xx responses:").parse().unwrap_or(0),
    }
}

fn package_hash_throughput(dir: &Path) -> (f64, f64) {
    let folder = dir.join("big/CodePush");
    std::fs::create_dir_all(folder.join("assets")).expect("mkdir");
    let mut total = 0_u64;
    for i in 0..50_u32 {
        let bytes: Vec<u8> =
            (0..1_048_576_u32).map(|n| (n.wrapping_mul(2_654_435_761).wrapping_add(i) >> 13) as u8).collect();
        total += bytes.len() as u64;
        std::fs::write(folder.join(format!("assets/file{i}.bin")), bytes).expect("write");
    }
    let started = Instant::now();
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(folder.join("assets")).expect("read dir") {
        let path = entry.expect("entry").path();
        let (sha256, _) = hash_reader(std::fs::File::open(&path).expect("open")).expect("hash");
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        entries.push(ManifestEntry { path: format!("CodePush/assets/{name}"), sha256 });
    }
    let hash = manifest_hash(&entries);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(hash.len(), 64);
    #[allow(clippy::cast_precision_loss)]
    let megabytes = total as f64 / 1_048_576.0;
    (megabytes, megabytes / seconds)
}

/// The trivial server and otadeck (seeded), on a runtime of `threads` workers; returns their URLs
/// and the deployment key.
fn start_servers(runtime: &tokio::runtime::Runtime, dir: &Path) -> (String, String, String) {
    let body = "x".repeat(400);
    runtime.block_on(async {
        // Trivial fixed-response server: the ceiling of this machine for this HTTP stack.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let trivial_url = format!("http://{}/", listener.local_addr().expect("addr"));
        // It answers every path, so it can be sent the very requests otadeck gets (the load
        // generator's per-request script costs the same on both sides).
        let app = axum::Router::new().fallback(move || std::future::ready(body.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("trivial server") });

        let url = server::start(dir.join("data"), seed::ADMIN_KEY).await;
        let key = seed::seed(&url, dir).await;
        (trivial_url, url, key)
    })
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(2);
    }
    println!("| server threads | measurement | requests/s | p50 | p99 | non-2xx | ratio | server CPU µs/request |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for threads in [1, 2] {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let (trivial_url, otadeck_url, key) = start_servers(&runtime, dir.path());
        let checks_script = wrk::check_script(dir.path(), &key, "client");
        // A new client id for every report of every round: a repeated one would be a cheaper retry.
        let reports_scripts: Vec<_> = (0..ROUNDS)
            .map(|round| wrk::report_script(dir.path(), &key, &format!("device-{threads}-{round}")))
            .collect();
        if std::env::var_os("OTADECK_BENCH_HOLD").is_some() {
            // For profiling by hand: keep both servers up and print how to reach them.
            println!("trivial: {trivial_url}\notadeck: {otadeck_url}\nscript: {}", checks_script.display());
            std::thread::sleep(std::time::Duration::from_secs(600));
            return;
        }
        let mut rounds: [Vec<WrkResult>; 4] = Default::default();
        for reports_script in &reports_scripts {
            rounds[0].push(run_wrk(&trivial_url, None));
            rounds[1].push(run_wrk(&trivial_url, Some(&checks_script)));
            rounds[2].push(run_wrk(&otadeck_url, Some(&checks_script)));
            rounds[3].push(run_wrk(&otadeck_url, Some(reports_script)));
        }
        let [trivial_plain, trivial, checks, reports] = rounds.map(|results| WrkResult::mean(&results));
        let row = |name: &str, result: &WrkResult, base: &WrkResult| {
            println!(
                "| {threads} | {name} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.2} | {:.1} |",
                result.requests_per_second,
                result.p50_ms,
                result.p99_ms,
                result.non_2xx,
                result.requests_per_second / base.requests_per_second,
                result.cpu_us_per_request
            );
        };
        row("trivial fixed 400-byte response, `GET /` (no script)", &trivial_plain, &trivial_plain);
        row("trivial fixed 400-byte response, sent the update checks' requests", &trivial, &trivial);
        row(
            "update check (50 releases, 1 at 50 % rollout, 10k client ids), ratio to trivial sent the same requests",
            &checks,
            &trivial,
        );
        row("durable status report (new client id each), ratio to update check", &reports, &checks);
        runtime.shutdown_background();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (megabytes, hash_rate) = package_hash_throughput(dir.path());
    println!("\npackage hash of a {megabytes:.0} MB folder: {hash_rate:.0} MB/s");
}
