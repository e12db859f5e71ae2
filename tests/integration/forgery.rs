//! What a holder of a deployment key (it ships inside every app) can no longer do to a fleet:
//! halt a release with forged failures, dilute the health gate with forged successes, drive another
//! deployment's active count to zero, or grow the database with made-up labels and huge strings.

use futures_util::StreamExt as _;
use otadeck::api::acquisition::{DeployReport, DownloadReport};
use otadeck::api::management::RolloutPolicy;
use otadeck::client::DeviceClient;
use serde_json::json;

use crate::support::{TestServer, app_with_keys, info, package, upload};

/// A gate that trips at 10 % failures after 20 reports from at least 3 networks.
fn gate() -> RolloutPolicy {
    RolloutPolicy {
        steps: vec![10, 50, 100],
        interval_ms: 3_600_000,
        max_failure_ratio: 0.1,
        min_reports: 20,
        min_failure_prefixes: 3,
    }
}

/// App `Target` with a gate and v1 (complete) plus v2 at 10 %; returns the Staging key.
async fn gated(server: &TestServer) -> String {
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Target").await;
    admin.set_policy("Target", "Staging", &gate()).await.expect("policy");
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Target", "Staging", &upload(package(dir.path(), "one"), info("1.0.0"))).await.expect("v1");
    let mut partial = info("1.0.0");
    partial.rollout = Some(json!(10));
    admin.release("Target", "Staging", &upload(package(dir.path(), "two"), partial)).await.expect("v2");
    key
}

fn failure(key: &str, client: String, label: &str, failed: bool) -> DeployReport {
    DeployReport {
        deployment_key: Some(key.to_owned()),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some(client),
        label: Some(label.to_owned()),
        status: Some(if failed { "DeploymentFailed" } else { "DeploymentSucceeded" }.into()),
        previous_label_or_app_version: Some("1.0.0".into()),
        previous_deployment_key: Some(key.to_owned()),
    }
}

/// Sends `count` reports built by `report(n)`, from network `address(n)`, 32 at a time.
async fn send_all(
    device: &DeviceClient,
    count: usize,
    address: impl Fn(usize) -> String,
    download_first: Option<&str>,
    report: impl Fn(usize) -> DeployReport,
) {
    futures_util::stream::iter(0..count)
        .map(|n| {
            let client = device.behind(Some(&address(n)));
            let deploy = report(n);
            let download = download_first.map(|label| DownloadReport {
                deployment_key: deploy.deployment_key.clone(),
                label: Some(label.to_owned()),
                client_unique_id: deploy.client_unique_id.clone(),
            });
            async move {
                if let Some(download) = download {
                    client.report_download(&download).await.expect("download report");
                }
                client.report_deploy(&deploy).await.expect("report accepted");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_forged_failures_without_downloads_neither_halt_nor_count() {
    let server = TestServer::start().await;
    let key = gated(&server).await;
    let device = server.device();
    send_all(
        &device,
        1000,
        |n| format!("10.{}.{}.9", n / 200, n % 200),
        None,
        |n| failure(&key, format!("forged-{n}"), "v2", true),
    )
    .await;
    let admin = server.admin();
    let history = admin.history("Target", "Staging").await.expect("history");
    assert!(!history[1].is_paused && !history[1].is_disabled, "v2 is still rolling out");
    let v2 = admin.metrics("Target", "Staging").await.expect("metrics").remove("v2").expect("v2 metrics");
    assert_eq!((v2.failed, v2.installed), (Some(0), Some(0)), "no forged report moved a counter");
    assert_eq!(v2.unverified, Some(1000), "they are visible, counted apart");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_failures_with_real_downloads_from_one_network_do_not_trip_the_gate() {
    let server = TestServer::start().await;
    let key = gated(&server).await;
    let device = server.device();
    send_all(
        &device,
        100,
        |n| format!("203.0.113.{}", n % 250),
        Some("v2"),
        |n| failure(&key, format!("one-host-{n}"), "v2", true),
    )
    .await;
    let admin = server.admin();
    let v2 = admin.metrics("Target", "Staging").await.expect("metrics").remove("v2").expect("v2");
    assert_eq!(v2.failed, Some(100), "they are counted");
    assert!(!admin.history("Target", "Staging").await.expect("history")[1].is_paused, "one /24 cannot trip the gate");

    // The same failures from three networks do.
    send_all(
        &device,
        2,
        |n| format!("198.51.{}.1", 100 + n),
        Some("v2"),
        |n| failure(&key, format!("elsewhere-{n}"), "v2", true),
    )
    .await;
    assert!(admin.history("Target", "Staging").await.expect("history")[1].is_paused, "three networks trip it");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_successes_cannot_dilute_genuine_failures() {
    let server = TestServer::start().await;
    let key = gated(&server).await;
    let device = server.device();
    // 300 successes without downloads: unverified, so the gate does not see them.
    send_all(
        &device,
        300,
        |n| format!("10.9.{}.1", n % 250),
        None,
        |n| failure(&key, format!("fake-{n}"), "v2", false),
    )
    .await;
    // 30 genuine failures (downloaded, from 30 networks) against 10 genuine successes: 75 %.
    send_all(&device, 10, |n| format!("10.7.{n}.1"), Some("v2"), |n| failure(&key, format!("ok-{n}"), "v2", false))
        .await;
    send_all(&device, 30, |n| format!("10.8.{n}.1"), Some("v2"), |n| failure(&key, format!("crash-{n}"), "v2", true))
        .await;
    let admin = server.admin();
    let v2 = admin.metrics("Target", "Staging").await.expect("metrics").remove("v2").expect("v2");
    assert_eq!((v2.installed, v2.failed, v2.unverified), (Some(10), Some(30), Some(300)));
    assert!(admin.history("Target", "Staging").await.expect("history")[1].is_paused, "the gate halted v2");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_deployments_active_count_cannot_be_driven_to_zero() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (staging, production) = app_with_keys(&admin, "Target").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Target", "Production", &upload(package(dir.path(), "prod"), info("1.0.0"))).await.expect("v1");
    let device = server.device();
    // 20 genuine devices run v1 on Production.
    send_all(
        &device,
        20,
        |n| format!("10.1.{n}.1"),
        Some("v1"),
        |n| failure(&production, format!("real-{n}"), "v1", false),
    )
    .await;
    assert_eq!(admin.metrics("Target", "Production").await.expect("metrics")["v1"].active, 20);
    // An attacker with the Staging key reports installs that claim to leave Production's v1.
    admin.release("Target", "Staging", &upload(package(dir.path(), "stg"), info("1.0.0"))).await.expect("staging v1");
    let forged = |n: usize| DeployReport {
        previous_label_or_app_version: Some("v1".into()),
        previous_deployment_key: Some(production.clone()),
        ..failure(&staging, format!("attacker-{n}"), "v1", false)
    };
    send_all(&device, 50, |n| format!("10.2.{n}.1"), Some("v1"), forged).await;
    let production_v1 = admin.metrics("Target", "Production").await.expect("metrics")["v1"].active;
    assert_eq!(production_v1, 20, "only a device counted on Production's v1 can leave it");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_labels_and_oversized_strings_are_refused_and_the_database_stays_small() {
    let server = TestServer::start().await;
    let key = gated(&server).await;
    let database = server.data_dir.path().join("otadeck.sqlite3");
    let size = || {
        ["", "-wal"]
            .iter()
            .map(|suffix| std::fs::metadata(format!("{}{suffix}", database.display())).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    let before = size();
    let http = server.http();
    let statuses: Vec<u16> = futures_util::stream::iter(0..1000)
        .map(|n| {
            let body = json!({"deployment_key": key, "app_version": "1.0.0", "label": format!("v{}", 1000 + n),
                "status": "DeploymentSucceeded", "client_unique_id": format!("c{n}")});
            let request = http.post(format!("{}/v0.1/public/codepush/report_status/deploy", server.url)).json(&body);
            async move { request.send().await.expect("send").status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 404), "unknown labels are 404: {:?}", &statuses[..5]);
    let huge = "9".repeat(1_000_000);
    // The server refuses a 1 MB body before reading it and closes that connection: no pooling, so no
    // request lands on a connection the server already closed.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    for n in 0..200 {
        let body = json!({"deployment_key": key, "app_version": huge, "client_unique_id": format!("h{n}")});
        let response = http
            .post(format!("{}/v0.1/public/codepush/report_status/deploy", server.url))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert!(response.status() == 400 || response.status() == 413, "{}", response.status());
    }
    let download = json!({"deployment_key": key, "label": "v77", "client_unique_id": "x"});
    let response =
        http.post(format!("{}/v0.1/public/codepush/report_status/download", server.url)).json(&download).send().await;
    assert_eq!(response.expect("send").status(), 404, "unknown labels are refused in download reports too");
    let grown = size().saturating_sub(before);
    eprintln!("forgery: database grew by {grown} bytes after 1,000 unknown labels and 200 oversized reports");
    assert!(grown < 1024 * 1024, "the database grew by {grown} bytes");
    let metrics = server.admin().metrics("Target", "Staging").await.expect("metrics");
    assert!(metrics.keys().all(|k| k.len() <= 16), "no oversized subject was stored: {:?}", metrics.keys());
}
