//! An otadeck server in the benchmark's own process, shared by the in-process HTTP benchmarks.

use std::path::PathBuf;

use otadeck::server::{ServerConfig, ServerState, serve};

/// Starts a server on a loopback port with its data in `data_dir` and `admin_key` as the admin's
/// key; returns its URL. The load comes from one address, so per-address limits are lifted.
pub async fn start(data_dir: PathBuf, admin_key: &str) -> String {
    let mut config = ServerConfig::new(data_dir);
    config.admin_key = Some(admin_key.to_owned());
    config.limits.downloads_per_second = 100_000_000;
    config.limits.download_burst = 100_000_000;
    config.limits.reports_per_second = 100_000_000;
    config.limits.report_burst = 100_000_000;
    config.limits.per_address_connections = 4_096;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    let opened = ServerState::open(&config, address).await.expect("open");
    tokio::spawn(async move { serve(listener, opened.state, std::future::pending()).await.expect("server") });
    format!("http://{address}")
}
