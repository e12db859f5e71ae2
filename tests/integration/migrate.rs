//! `otadeck migrate`: an embedded server with releases, metrics, a policy and an audit trail moves
//! to PostgreSQL + a bucket, where the same requests get the same answers; a second run changes
//! nothing, and a database with other data is refused.

use otadeck::api::acquisition::UpdateCheckQuery;
use otadeck::api::management::{AuditQuery, PackageInfo, RolloutPolicy};
use otadeck::server::blobs::{BlobLocation, BucketConfig};
use otadeck::sim::{FleetConfig, devices, run};
use serde_json::json;

use crate::support::{TestServer, app_with_keys, fleet_config, info, package, run_otadeck, upload};

/// Everything a client can see of the app, in a comparable form.
async fn observe(server: &TestServer, key: &str) -> serde_json::Value {
    let admin = server.admin();
    let mut answers = Vec::new();
    for n in 0..40 {
        let query = UpdateCheckQuery {
            deployment_key: Some(key.to_owned()),
            app_version: Some("1.0.0".into()),
            client_unique_id: Some(format!("probe-{n}")),
            ..UpdateCheckQuery::default()
        };
        let answer = server.device().check_for_update(&query).await.expect("check");
        answers.push(json!([answer.is_available, answer.label, answer.package_hash]));
    }
    let history: Vec<_> = admin
        .history("Shop", "Staging")
        .await
        .expect("history")
        .into_iter()
        .map(|p| json!([p.label, p.package_hash, p.rollout, p.size, p.upload_time, p.released_by]))
        .collect();
    let audit: Vec<_> = admin
        .audit(&AuditQuery::default())
        .await
        .expect("audit")
        .into_iter()
        .map(|e| json!([e.id, e.time, e.action, e.target]))
        .collect();
    json!({
        "answers": answers,
        "history": history,
        "metrics": admin.metrics("Shop", "Staging").await.expect("metrics"),
        "policy": admin.policy("Shop", "Staging").await.expect("policy"),
        "audit": audit,
        "keys": admin.access_keys().await.expect("keys").len(),
    })
}

fn bucket_args(bucket: &BucketConfig) -> Vec<String> {
    vec![
        "--blobs".into(),
        format!("s3://{}/{}", bucket.bucket, bucket.prefix),
        "--s3-endpoint".into(),
        bucket.endpoint.clone().expect("endpoint"),
    ]
}

const BUCKET_ENV: &[(&str, &str)] =
    &[("AWS_ACCESS_KEY_ID", "test-key-id"), ("AWS_SECRET_ACCESS_KEY", "test-secret"), ("AWS_REGION", "us-east-1")];

async fn migrate(from: &std::path::Path, to: &str, bucket: &BucketConfig, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> =
        vec!["migrate".into(), "--from".into(), from.display().to_string(), "--to".into(), to.into()];
    args.extend(bucket_args(bucket));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_otadeck(&args, BUCKET_ENV).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedded_server_moves_to_postgresql_and_a_bucket_with_its_whole_history() {
    let Some(url) = crate::pg_server::database("migrate").await else { return };
    let Some(bucket) = crate::s3_server::bucket("migrate").await else { return };

    let embedded = TestServer::start_with(|config| {
        config.database = None;
        config.blobs = BlobLocation::Folder;
    })
    .await;
    let admin = embedded.admin();
    let (key, _) = app_with_keys(&admin, "Shop").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Shop", "Staging", &upload(package(dir.path(), "one"), info("^1.0.0"))).await.expect("v1");
    let mut half = info("^1.0.0");
    half.rollout = Some(json!(50));
    admin.release("Shop", "Staging", &upload(package(dir.path(), "two"), half)).await.expect("v2");
    let policy = RolloutPolicy {
        steps: vec![50, 100],
        interval_ms: 3_600_000,
        max_failure_ratio: 0.5,
        min_reports: 50,
        min_failure_prefixes: 2,
    };
    admin.set_policy("Shop", "Staging", &policy).await.expect("policy");
    admin.create_access_key("CI", None).await.expect("key");
    let fleet = FleetConfig { restarts: 2, concurrency: 16, ..fleet_config(&embedded, &key, "phone", 300) };
    run(&fleet, devices(&fleet), |_, _| {}).await.expect("fleet");
    admin
        .patch_release("Shop", "Staging", PackageInfo { description: Some("moved".into()), ..PackageInfo::default() })
        .await
        .expect("patch");
    let before = observe(&embedded, &key).await;
    assert!(
        before["metrics"]["v2"]["installed"].as_i64().unwrap_or(0) > 0,
        "the fleet installed: {}",
        before["metrics"]
    );

    // A running server's data dir is refused: it is locked.
    let (code, _, stderr) = migrate(embedded.data_dir.path(), &url, &bucket, &[]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("in use") || stderr.contains("lock") || stderr.contains("running"), "{stderr}");

    // v2's diff from v1 is built, so that it moves too.
    otadeck::server::diffs::build_pending(&embedded.state).await.expect("diff packages");
    let data_dir = embedded.stop().await;
    let (code, stdout, stderr) = migrate(data_dir.path(), &url, &bucket, &[]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 copied"), "two packages and a diff: {stdout}");

    let moved = TestServer::start_with(|config| {
        config.database = Some(url.clone());
        config.blobs = BlobLocation::Bucket(bucket.clone());
    })
    .await;
    assert_eq!(observe(&moved, &key).await, before, "the same answers after the move");
    // The packages came along, byte for byte.
    for package in moved.admin().history("Shop", "Staging").await.expect("history") {
        let bytes = moved.device().download(&package.blob_url).await.expect("download");
        assert_eq!(
            otadeck::domain::package::sha256_hex(&bytes),
            package.blob_url.rsplit('/').next().unwrap_or_default()
        );
    }
    // So did the diff, and devices on v1 are still sent it.
    let history = moved.admin().history("Shop", "Staging").await.expect("history");
    let mut offered = None;
    for probe in 0..100 {
        let check = otadeck::api::acquisition::UpdateCheckQuery {
            deployment_key: Some(key.clone()),
            app_version: Some("1.0.0".into()),
            label: Some("v1".into()),
            package_hash: Some(history[0].package_hash.clone()),
            client_unique_id: Some(format!("probe-{probe}")),
            ..Default::default()
        };
        let answer = moved.device().check_for_update(&check).await.expect("check");
        if answer.is_available {
            offered = Some(answer);
            break;
        }
    }
    let offered = offered.expect("one of 100 devices is inside the 50 % rollout");
    assert!(offered.package_size < history[1].size, "a diff: {offered:?}");
    let bytes = moved.device().download(&offered.download_url).await.expect("download the diff");
    assert_eq!(bytes.len() as u64, offered.package_size);
    // New rows continue after the copied ids.
    moved.admin().create_app("Another").await.expect("a new app on the moved server");
    drop(moved);

    // Again: nothing changes.
    let (code, stdout, stderr) = migrate(data_dir.path(), &url, &bucket, &[]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.lines().filter(|l| l.contains("rows,")).all(|l| l.trim_end().ends_with(" 0 added")), "{stdout}");
    assert!(stdout.contains("0 copied"), "{stdout}");

    // A database with data from elsewhere is refused.
    let Some(other) = crate::pg_server::database("migrate").await else { return };
    drop(TestServer::start_with(|config| config.database = Some(other.clone())).await);
    let (code, _, stderr) = migrate(data_dir.path(), &other, &bucket, &[]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("--allow-non-empty"), "{stderr}");
}
