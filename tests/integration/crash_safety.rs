//! SIGKILL during a stream of uploads and patches, then restart: only complete releases remain, each
//! blob matches its hash, and every acknowledged release survived. Run with the blob folder and with
//! an S3-compatible bucket (`serve --blobs s3://…`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otadeck::api::management::PackageInfo;
use otadeck::domain::package::sha256_hex;
use otadeck::server::blobs::BucketConfig;
use serde_json::json;

use crate::support::{ADMIN_KEY, free_port, info, upload};

/// Where the killed server keeps its data: the data dir alone, its blobs in a bucket, or its
/// metadata in PostgreSQL too, with a second replica that answers after the kill.
#[derive(Clone, Copy)]
struct Storage<'a> {
    bucket: Option<&'a BucketConfig>,
    database: Option<&'a str>,
}

/// `otadeck serve` on `data_dir`, its blobs in the folder or in a bucket, its metadata in the
/// data dir or in PostgreSQL.
fn start_server(data_dir: &Path, port: u16, storage: Storage<'_>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_otadeck"));
    command.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(data_dir);
    if let Some(database) = storage.database {
        command.env("OTADECK_DATABASE_URL", database);
    }
    let bucket = storage.bucket;
    if let Some(bucket) = bucket {
        command
            .args(["--blobs", &format!("s3://{}/{}", bucket.bucket, bucket.prefix)])
            .env("AWS_ENDPOINT_URL", bucket.endpoint.as_deref().unwrap_or_default())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", bucket.access_key_id.as_deref().unwrap_or_default())
            .env("AWS_SECRET_ACCESS_KEY", bucket.secret_access_key.as_deref().unwrap_or_default());
    }
    command
        .env("OTADECK_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn otadeck serve")
}

async fn wait_healthy(url: &str) {
    otadeck::tls::install_crypto_provider();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{url}/health")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {url} did not become healthy");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_uploads_leaves_only_complete_releases() {
    sigkill_during_uploads(Storage { bucket: None, database: None }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_uploads_to_a_bucket_leaves_only_complete_releases() {
    let Some(bucket) = crate::s3_server::bucket("sigkill_during_uploads_to_a_bucket").await else { return };
    sigkill_during_uploads(Storage { bucket: Some(&bucket), database: None }).await;
    // Every object is complete: its bytes hash to its key (an upload cut off by the kill is at
    // most an unreferenced object, swept later).
    let objects = crate::s3_server::objects(&bucket).await;
    assert!(!objects.is_empty());
    for (key, bytes) in &objects {
        assert!(key.ends_with(&sha256_hex(bytes)), "{key} holds exactly its content");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_one_replica_during_uploads_leaves_the_other_serving_only_complete_releases() {
    let Some(database) = crate::pg_server::database("sigkill of a replica").await else { return };
    let Some(bucket) = crate::s3_server::bucket("sigkill of a replica").await else { return };
    sigkill_during_uploads(Storage { bucket: Some(&bucket), database: Some(&database) }).await;
    for (key, bytes) in &crate::s3_server::objects(&bucket).await {
        assert!(key.ends_with(&sha256_hex(bytes)), "{key} holds exactly its content");
    }
}

/// Streams uploads and patches to a server, SIGKILLs it, and checks what is left: after a restart,
/// or at once on a second replica when the metadata is in PostgreSQL.
async fn sigkill_during_uploads(storage: Storage<'_>) {
    let data = tempfile::tempdir().expect("data dir");
    let fixtures = tempfile::tempdir().expect("fixtures");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = start_server(data.path(), port, storage);
    wait_healthy(&url).await;
    // With replicas, the survivor runs from the start on a data dir of its own.
    let other_data = tempfile::tempdir().expect("second data dir");
    let other_port = free_port();
    let mut other = storage.database.map(|_| start_server(other_data.path(), other_port, storage));
    let survivor_url = if other.is_some() { format!("http://127.0.0.1:{other_port}") } else { url.clone() };
    if other.is_some() {
        wait_healthy(&survivor_url).await;
    }
    let admin = otadeck::client::ManagementClient::new(&url, ADMIN_KEY).expect("client");
    admin.create_app("App").await.expect("app");

    // An endless stream of ~300 KB uploads and patches; the kill lands in the middle of it.
    let writer_admin = admin.clone();
    let fixture_root = fixtures.path().to_path_buf();
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..100_000_u32 {
            let root = fixture_root.join(format!("p{i}"));
            let noise: Vec<u8> =
                (0..300_000_u32).map(|n| (n.wrapping_mul(2_654_435_761).wrapping_add(i) >> 11) as u8).collect();
            let folder = crate::support::code_push_folder(
                &root,
                &[("index.android.bundle", format!("v{i}").as_bytes()), ("assets/noise.bin", &noise)],
            );
            let zip = fixture_root.join(format!("p{i}.zip"));
            crate::support::zip_folder(&folder, &zip);
            let mut release_info = info("^1.0.0");
            release_info.rollout = Some(json!(10));
            match writer_admin.release("App", "Staging", &upload(zip, release_info)).await {
                Ok(package) => acknowledged.push(package.label.clone()),
                Err(_) => break,
            }
            let complete = PackageInfo {
                rollout: Some(json!(100)),
                description: Some(format!("patched {i}")),
                ..PackageInfo::default()
            };
            if writer_admin.patch_release("App", "Staging", complete).await.is_err() {
                break;
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!writer.is_finished(), "the writer is still streaming when the server is killed");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let acknowledged = writer.await.expect("writer task");
    assert!(!acknowledged.is_empty(), "some releases were acknowledged before the kill");

    let mut restarted = match other.take() {
        Some(survivor) => survivor,
        None => {
            let restarted = start_server(data.path(), port, storage);
            wait_healthy(&url).await;
            restarted
        }
    };
    let admin = otadeck::client::ManagementClient::new(&survivor_url, ADMIN_KEY).expect("client");
    let history = admin.history("App", "Staging").await.expect("history after restart");
    for label in &acknowledged {
        assert!(history.iter().any(|p| &p.label == label), "acknowledged {label} lost after restart");
    }
    for (index, release) in history.iter().enumerate() {
        assert_eq!(release.label, format!("v{}", index + 1), "labels are contiguous");
        let bytes = reqwest::get(&release.blob_url).await.expect("download").bytes().await.expect("bytes");
        assert_eq!(bytes.len() as u64, release.size, "{} size", release.label);
        let file_hash = sha256_hex(&bytes);
        assert!(release.blob_url.ends_with(&file_hash), "{} blob matches its content address", release.label);
        let entries = otadeck::domain::package::inspect_zip(std::io::Cursor::new(bytes.to_vec()), Default::default())
            .expect("complete zip");
        assert_eq!(
            otadeck::domain::package::manifest_hash(&entries),
            release.package_hash,
            "{} package hash",
            release.label
        );
    }
    if storage.database.is_none() {
        // Only upload temp files count: the diff builder may be reading blobs into tmp/ right now.
        let leftovers = std::fs::read_dir(data.path().join("tmp"))
            .expect("tmp")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("upload-"))
            .count();
        assert_eq!(leftovers, 0, "temp uploads are cleaned at start");
    }
    eprintln!("crash test: {} acknowledged, {} in history after SIGKILL + restart", acknowledged.len(), history.len());

    // The restarted server still accepts releases (a partial rollout left by the kill is completed first).
    let finish = PackageInfo { rollout: Some(json!(100)), ..PackageInfo::default() };
    let _ = admin.patch_release("App", "Staging", finish).await;
    let fresh = fixtures.path().join("fresh.zip");
    let folder =
        crate::support::code_push_folder(&fixtures.path().join("fresh"), &[("index.android.bundle", b"fresh")]);
    crate::support::zip_folder(&folder, &fresh);
    admin.release("App", "Staging", &upload(fresh, info("^1.0.0"))).await.expect("release after restart");
    restarted.kill().expect("stop");
    restarted.wait().expect("reap");
}

/// Sends one deploy report for `label` from `client`; whether the server acknowledged it.
async fn report(http: &reqwest::Client, url: &str, key: &str, client: &str) -> bool {
    let body = json!({
        "deployment_key": key,
        "app_version": "1.0.0",
        "client_unique_id": client,
        "label": "v1",
        "status": "DeploymentSucceeded",
    });
    let sent = http.post(format!("{url}/v0.1/public/codepush/report_status/deploy")).json(&body).send().await;
    sent.is_ok_and(|response| response.status().is_success())
}

/// The reports counted for v1 (verified or not).
async fn counted(admin: &otadeck::client::ManagementClient) -> i64 {
    let metrics = admin.metrics("App", "Staging").await.expect("metrics");
    metrics.get("v1").map_or(0, |m| m.installed.unwrap_or(0) + m.unverified.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_batched_status_reports_loses_no_acknowledged_report_and_counts_none_twice() {
    let data = tempfile::tempdir().expect("data dir");
    let fixtures = tempfile::tempdir().expect("fixtures");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let storage = Storage { bucket: None, database: None };
    let mut child = start_server(data.path(), port, storage);
    wait_healthy(&url).await;
    let admin = otadeck::client::ManagementClient::new(&url, ADMIN_KEY).expect("client");
    let (key, _) = crate::support::app_with_keys(&admin, "App").await;
    let folder = crate::support::code_push_folder(&fixtures.path().join("one"), &[("index.android.bundle", b"one")]);
    let zip = fixtures.path().join("one.zip");
    crate::support::zip_folder(&folder, &zip);
    admin.release("App", "Staging", &upload(zip, info("^1.0.0"))).await.expect("v1");

    // 32 devices at a time report, each report from a new device, until the server dies.
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    for lane in 0..32 {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        senders.push(tokio::spawn(async move {
            let (mut sent, mut acknowledged) = (Vec::new(), 0_i64);
            for n in 0..1_000_000 {
                let client = format!("device-{lane}-{n}");
                sent.push(client.clone());
                if !report(&http, &url, &key, &client).await {
                    break;
                }
                acknowledged += 1;
            }
            (sent, acknowledged)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let mut sent = Vec::new();
    let mut acknowledged = 0;
    for sender in senders {
        let (lane_sent, lane_acknowledged) = sender.await.expect("sender");
        sent.extend(lane_sent);
        acknowledged += lane_acknowledged;
    }
    assert!(acknowledged > 100, "reports were flowing before the kill ({acknowledged})");

    let mut restarted = start_server(data.path(), port, storage);
    wait_healthy(&url).await;
    let after_restart = counted(&admin).await;
    assert!(after_restart >= acknowledged, "{acknowledged} acknowledged, {after_restart} counted after the restart");
    assert!(after_restart <= i64::try_from(sent.len()).unwrap_or(i64::MAX), "nothing counted that was not sent");
    // Devices retry what they are not sure of: every report again. Each still counts once.
    for client in &sent {
        assert!(report(&http, &url, &key, client).await, "retry of {client}");
    }
    let after_retries = counted(&admin).await;
    assert_eq!(after_retries, i64::try_from(sent.len()).unwrap_or(i64::MAX), "each report counted exactly once");
    eprintln!(
        "batched reports: {acknowledged} acknowledged, {after_restart} counted after SIGKILL + restart, {} sent, {after_retries} after every device retried",
        sent.len()
    );
    restarted.kill().expect("stop");
    restarted.wait().expect("reap");
}
