//! 100,000 simulated devices, each doing what react-native-code-push does for an update: one update
//! check, the package download (length checked), the download report and the install report,
//! against the real server binary on loopback (simulator and server share the machine's two
//! cores). The release is at 30 % and its predecessor at 100 %, so every device downloads one of
//! the two. Prints devices per second, p50/p99 check latency and the server's CPU time per 1,000
//! devices and the simulator's (from /proc).
//!
//! Run: `cargo bench --bench fleet`.

#[path = "common/cpu.rs"]
mod cpu;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use otadeck::api::acquisition::{DeployReport, DownloadReport, UpdateCheckQuery, status};
use otadeck::api::management::PackageInfo;
use otadeck::client::{DeviceClient, ManagementClient, PackageUpload};

const DEVICES: usize = 100_000;
const CONCURRENCY: usize = 64;
const ADMIN_KEY: &str = "fleet-bench-admin-key-1";

fn main() {
    let data = tempfile::tempdir().expect("data dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_otadeck"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        // 100,000 devices share this machine's address: lift the per-address limits.
        .args(["--report-rate-limit", "10000000", "--download-rate-limit", "10000000"])
        .args(["--max-connections-per-address", "4096"])
        .env("OTADECK_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server binary");
    let url = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let key = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        otadeck::tls::install_crypto_provider();
        while reqwest::get(format!("{url}/health")).await.is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let admin = ManagementClient::new(&url, ADMIN_KEY).expect("client");
        admin.create_app("Fleet").await.expect("app");
        let dir = tempfile::tempdir().expect("dir");
        for (name, rollout) in [("v1.js", 100), ("v2.js", 30)] {
            let file = dir.path().join(name);
            // An 11 KB bundle, like the download benchmark's small package.
            std::fs::write(&file, format!("console.log('{name}');\n").repeat(500)).expect("bundle");
            let info = PackageInfo {
                app_version: Some("^1.0.0".into()),
                rollout: Some(serde_json::json!(rollout)),
                ..PackageInfo::default()
            };
            let upload = PackageUpload { file, info, mendix_model: None };
            admin.release("Fleet", "Staging", &upload).await.expect("release");
        }
        admin
            .deployments("Fleet")
            .await
            .expect("deployments")
            .into_iter()
            .find(|d| d.name == "Staging")
            .expect("staging")
            .key
    });

    let cpu_before = cpu::cpu_seconds(server.id());
    let own_cpu_before = cpu::cpu_seconds(std::process::id());
    let started = Instant::now();
    let client = DeviceClient::new(&url).expect("device client");
    let latencies: Vec<Duration> = runtime.block_on(async {
        futures_util::stream::iter(0..DEVICES)
            .map(|n| {
                let (client, key) = (client.clone(), key.clone());
                async move {
                    let id = format!("bench-device-{n}");
                    let query = UpdateCheckQuery {
                        deployment_key: Some(key.clone()),
                        app_version: Some("1.0.0".into()),
                        client_unique_id: Some(id.clone()),
                        ..UpdateCheckQuery::default()
                    };
                    let begun = Instant::now();
                    let update = client.check_for_update(&query).await.expect("update check");
                    let check_latency = begun.elapsed();
                    assert!(update.is_available, "every device is offered v1 or v2");
                    let bytes = client.download(&update.download_url).await.expect("download");
                    assert_eq!(bytes.len() as u64, update.package_size, "the whole package");
                    let downloaded = DownloadReport {
                        deployment_key: Some(key.clone()),
                        label: Some(update.label.clone()),
                        client_unique_id: Some(id.clone()),
                    };
                    client.report_download(&downloaded).await.expect("download report");
                    let report = DeployReport {
                        deployment_key: Some(key),
                        app_version: Some("1.0.0".into()),
                        client_unique_id: Some(id),
                        label: Some(update.label),
                        status: Some(status::DEPLOYMENT_SUCCEEDED.into()),
                        ..DeployReport::default()
                    };
                    client.report_deploy(&report).await.expect("report");
                    check_latency
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
    });
    let elapsed = started.elapsed();
    let cpu = cpu::cpu_seconds(server.id()) - cpu_before;
    let own_cpu = cpu::cpu_seconds(std::process::id()) - own_cpu_before;
    let _ = server.kill();
    let _ = server.wait();

    let mut sorted = latencies;
    sorted.sort();
    let pick = |p: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let index = ((sorted.len() - 1) as f64 * p) as usize;
        sorted[index].as_secs_f64() * 1000.0
    };
    #[allow(clippy::cast_precision_loss)]
    let devices = DEVICES as f64;
    println!("| measurement | value |");
    println!("|---|---:|");
    println!(
        "| {DEVICES} devices (check + download + download report + install report), concurrency {CONCURRENCY} | {:.1} s |",
        elapsed.as_secs_f64()
    );
    println!("| devices per second | {:.0} |", devices / elapsed.as_secs_f64());
    println!("| update check latency p50 / p99 | {:.2} ms / {:.2} ms |", pick(0.5), pick(0.99));
    println!("| server CPU per 1,000 devices | {:.1} ms |", cpu * 1000.0 / (devices / 1000.0));
    println!("| simulator (this process) CPU per 1,000 devices | {:.1} ms |", own_cpu * 1000.0 / (devices / 1000.0));
}
