//! Where the per-request cost of otadeck's HTTP stack goes: the same 400-byte answer served through
//! each layer of the stack on its own, next to the trivial server, in one run and on one runtime.
//! Each row adds one piece to the row above; the last rows are the real router's `/health` and
//! the real update check.
//!
//! Run: `cargo bench --bench stack` (needs `wrk` from apt). Prints a table for BENCHMARKS.md.

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/seed.rs"]
mod seed;
#[path = "common/server.rs"]
mod server;
#[path = "common/wrk.rs"]
mod wrk;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use otadeck::server::{ServerConfig, ServerState, limits, observability};

const DURATION: &str = "5s";
const ROUNDS: usize = 3;

/// Requests per second, and the servers' CPU time per request in µs (steal time on a shared
/// machine moves the first a lot more than the second).
fn measure(url: &str, script: Option<&std::path::Path>) -> (f64, f64) {
    let mut args: Vec<std::ffi::OsString> = ["-t2", "-c64", "-d", DURATION].iter().map(Into::into).collect();
    if let Some(script) = script {
        args.extend(["-s".into(), script.as_os_str().to_owned()]);
    }
    args.push(url.into());
    let cpu_before = cpu::own_cpu_seconds();
    let report = wrk::run(&args);
    let cpu = cpu::own_cpu_seconds() - cpu_before;
    let rate = report.field("Requests/sec:").parse().unwrap_or(f64::NAN);
    (rate, cpu * 1e6 / report.requests().unwrap_or(f64::NAN))
}

fn fixed_body() -> Router {
    let body = "x".repeat(400);
    Router::new().route("/", get(move || std::future::ready(body.clone())))
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    (listener, url)
}

/// `router` through `axum::serve` (the trivial server's stack).
async fn axum_serve(router: Router) -> String {
    let (listener, url) = bind().await;
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    url
}

/// `router` through axum-server as otadeck serves it: connection gate, header-read and
/// first-request timeouts, connect info.
async fn axum_server(router: Router) -> String {
    let (listener, url) = bind().await;
    let listener = listener.into_std().expect("std listener");
    let make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let timeout = Duration::from_secs(30);
        let gated = limits::GatedAcceptor::new(limits::ConnectionGate::new(4_096, 100_000));
        let mut server = axum_server::from_tcp(listener).expect("from tcp").acceptor(gated);
        server.http_builder().http1().header_read_timeout(timeout);
        server.first_request_timeout(timeout).serve(make_service).await.expect("serve");
    });
    url
}

fn observed(router: Router, state: &ServerState) -> Router {
    router.layer(observability::ObserveLayer::new(state.metrics.clone()))
}

fn main() {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(2);
    }
    let threads: usize = std::env::var("OTADECK_BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (rows, script) = runtime.block_on(async {
        let otadeck_url = server::start(dir.path().join("data"), seed::ADMIN_KEY).await;
        let key = seed::seed(&otadeck_url, dir.path()).await;
        let script = wrk::check_script(dir.path(), &key, "client");
        let state =
            ServerState::open(&ServerConfig::new(dir.path().join("layers")), "127.0.0.1:0".parse().expect("addr"))
                .await
                .expect("state")
                .state;
        let rows: Vec<(&str, String, bool)> = vec![
            ("trivial: axum::serve, fixed 400-byte body", axum_serve(fixed_body()).await, false),
            (
                "axum-server as otadeck's listener (gate, timeouts, connect info)",
                axum_server(fixed_body()).await,
                false,
            ),
            (
                "… + request id, access log and metrics (ObserveLayer)",
                axum_server(observed(fixed_body(), &state)).await,
                false,
            ),
            ("otadeck: GET /health, the real router", format!("{otadeck_url}/health"), false),
            ("otadeck: update check, the real router", otadeck_url.clone(), true),
        ];
        (rows, script)
    });
    let mut measured = vec![Vec::new(); rows.len()];
    for _ in 0..ROUNDS {
        for (index, (_, url, check)) in rows.iter().enumerate() {
            measured[index].push(measure(url, check.then_some(script.as_path())));
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let rates = |values: &[(f64, f64)]| values.iter().map(|v| v.0).collect::<Vec<_>>();
    let costs = |values: &[(f64, f64)]| values.iter().map(|v| v.1).collect::<Vec<_>>();
    let trivial_rate = mean(&rates(&measured[0]));
    let trivial_cost = mean(&costs(&measured[0]));
    println!("server threads: {threads}; wrk -t2 -c64 -d{DURATION}, {ROUNDS} rounds interleaved\n");
    println!("| stack | requests/s (mean) | rounds | ratio to trivial | server CPU µs/request | ratio of CPU |");
    println!("|---|---:|---|---:|---:|---:|");
    for ((name, _, _), values) in rows.iter().zip(&measured) {
        let each: Vec<String> = rates(values).iter().map(|v| format!("{v:.0}")).collect();
        let (rate, cost) = (mean(&rates(values)), mean(&costs(values)));
        println!(
            "| {name} | {rate:.0} | {} | {:.2} | {cost:.1} | {:.2} |",
            each.join(", "),
            rate / trivial_rate,
            trivial_cost / cost
        );
    }
    runtime.shutdown_background();
}
