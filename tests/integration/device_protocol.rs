//! Device protocol over HTTP: the observed outcomes of §3.5–3.7, both path families, downloads,
//! status reports and metrics.

use otadeck::api::acquisition::{DeployReport, DownloadReport, UpdateCheckQuery};
use otadeck::api::management::PackageInfo;
use serde_json::{Value, json};

use crate::support::{TestServer, app_with_keys, info, package, upload};

fn query(key: &str, version: &str, client: &str) -> UpdateCheckQuery {
    UpdateCheckQuery {
        deployment_key: Some(key.into()),
        app_version: Some(version.into()),
        client_unique_id: Some(client.into()),
        ..UpdateCheckQuery::default()
    }
}

/// The observed deployment: v1 `^1.0.0`, v2 `1.0.0 - 1.2.x` mandatory at 50 %.
async fn observed(server: &TestServer, dir: &std::path::Path) -> String {
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    admin.release("App", "Staging", &upload(package(dir, "one"), info("^1.0.0"))).await.expect("v1");
    let mut second = info("1.0.0 - 1.2.x");
    second.is_mandatory = Some(true);
    second.rollout = Some(json!(50));
    admin.release("App", "Staging", &upload(package(dir, "two"), second)).await.expect("v2");
    key
}

#[tokio::test(flavor = "multi_thread")]
async fn observed_outcomes_of_the_reference_server() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let key = observed(&server, dir.path()).await;
    let device = server.device();

    let inside = device.check_for_update(&query(&key, "1.0.0", "aaa")).await.expect("aaa");
    assert!(inside.is_available && inside.is_mandatory);
    assert_eq!(inside.label, "v2");
    assert_eq!(inside.target_binary_range, "1.0.0");
    let outside = device.check_for_update(&query(&key, "1.0.0", "bbb")).await.expect("bbb");
    assert_eq!((outside.label.as_str(), outside.is_mandatory), ("v1", false));
    let newer_range = device.check_for_update(&query(&key, "1.3.0", "aaa")).await.expect("1.3.0");
    assert_eq!(newer_range.label, "v1");

    let admin = server.admin();
    admin
        .patch_release("App", "Staging", PackageInfo { rollout: Some(json!(100)), ..PackageInfo::default() })
        .await
        .expect("complete");
    let too_new = device.check_for_update(&query(&key, "2.0.0", "aaa")).await.expect("2.0.0");
    assert!(!too_new.is_available && too_new.should_run_binary_version && !too_new.update_app_version);
    assert_eq!(too_new.app_version, "1.0.0 - 1.2.x");
    assert_eq!(too_new.target_binary_range, "1.0.0 - 1.2.x");
    let too_old = device.check_for_update(&query(&key, "0.9.0", "aaa")).await.expect("0.9.0");
    assert!(!too_old.is_available && too_old.update_app_version);
    for short in ["1.0", "1"] {
        let answer = device.check_for_update(&query(&key, short, "x")).await.expect("short");
        assert_eq!((answer.label.as_str(), answer.is_mandatory, answer.app_version.as_str()), ("v2", true, short));
    }

    admin.release("App", "Staging", &upload(package(dir.path(), "three"), info("1.0.0 - 1.2.x"))).await.expect("v3");
    let history = admin.history("App", "Staging").await.expect("history");
    let on = |label: &str| {
        let release = history.iter().find(|p| p.label == label).expect("label");
        UpdateCheckQuery {
            label: Some(label.into()),
            package_hash: Some(release.package_hash.clone()),
            ..query(&key, "1.0.0", "x")
        }
    };
    let from_v1 = device.check_for_update(&on("v1")).await.expect("from v1");
    assert_eq!((from_v1.label.as_str(), from_v1.is_mandatory), ("v3", true));
    let from_v2 = device.check_for_update(&on("v2")).await.expect("from v2");
    assert_eq!((from_v2.label.as_str(), from_v2.is_mandatory), ("v3", false));
    let latest = device.check_for_update(&on("v3")).await.expect("on v3");
    assert!(!latest.is_available);
    assert_eq!((latest.app_version.as_str(), latest.target_binary_range.as_str()), ("", ""));

    admin
        .patch_release("App", "Staging", PackageInfo { is_disabled: Some(true), ..PackageInfo::default() })
        .await
        .expect("disable v3");
    let after_disable = device.check_for_update(&query(&key, "1.0.0", "x")).await.expect("disabled");
    assert_eq!(after_disable.label, "v2", "cache invalidated and previous enabled release served");
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_version_releases_and_companion_devices() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "exact"), info("1.2.3"))).await.expect("release");
    let device = server.device();
    let newer = device.check_for_update(&query(&key, "1.2.4", "x")).await.expect("newer");
    assert!(!newer.is_available && newer.should_run_binary_version);
    let older = device.check_for_update(&query(&key, "1.2.2", "x")).await.expect("older");
    assert!(!older.is_available && older.update_app_version);
    let companion = UpdateCheckQuery { is_companion: Some("true".into()), ..query(&key, "1.2.4", "x") };
    let answer = device.check_for_update(&companion).await.expect("companion");
    assert!(answer.is_available);
    assert_eq!(answer.target_binary_range, "1.2.4");
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.expect("send").json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_path_speaks_camel_case_and_both_spellings_are_accepted() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "legacy"), info("^1.0.0"))).await.expect("release");
    let http = server.http();
    let legacy: Value =
        get_json(&http, format!("{}/updateCheck?deploymentKey={key}&appVersion=1.0.0&clientUniqueId=abc", server.url))
            .await;
    let info = &legacy["updateInfo"];
    assert_eq!(info["isAvailable"], true);
    assert!(info["downloadURL"].as_str().expect("url").starts_with("http://127.0.0.1"));
    for k in [
        "description",
        "isMandatory",
        "appVersion",
        "packageHash",
        "label",
        "packageSize",
        "updateAppVersion",
        "shouldRunBinaryVersion",
        "target_binary_range",
    ] {
        assert!(info.get(k).is_some(), "{k} missing: {info}");
    }
    let mixed: Value = get_json(
        &http,
        format!("{}/v0.1/public/codepush/update_check?deploymentKey={key}&app_version=1.0.0", server.url),
    )
    .await;
    assert_eq!(mixed["update_info"]["is_available"], true);
    assert_eq!(mixed["update_info"].as_object().expect("object").len(), 11, "every key present");
    let none: Value = get_json(
        &http,
        format!("{}/v0.1/public/codepush/update_check?deployment_key={key}&app_version=9.0.0", server.url),
    )
    .await;
    assert_eq!(none["update_info"]["download_url"], "");
    assert_eq!(none["update_info"]["package_size"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_have_exact_length_without_compression_or_chunking() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let zip = package(dir.path(), "len");
    let released = admin.release("App", "Staging", &upload(zip.clone(), info("*"))).await.expect("release");
    let response =
        server.http().get(&released.blob_url).header("Accept-Encoding", "gzip, identity").send().await.expect("get");
    assert_eq!(response.status(), 200);
    let expected = std::fs::metadata(&zip).expect("meta").len();
    assert_eq!(response.headers()["content-length"], expected.to_string().as_str());
    assert!(response.headers().get("transfer-encoding").is_none());
    assert!(response.headers().get("content-encoding").is_none());
    assert_eq!(response.bytes().await.expect("bytes").len() as u64, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn build_number_targeting_limits_releases_to_matching_binaries() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "general"), info("1.0.0"))).await.expect("v1");
    let mut pinned = info("1.0.0");
    pinned.build_number = Some("40-45".into());
    let v2 = admin.release("App", "Staging", &upload(package(dir.path(), "pinned"), pinned)).await.expect("v2");
    assert_eq!(v2.build_number.as_deref(), Some("40-45"));
    let device = server.device();
    let with_build =
        |b: Option<&str>| UpdateCheckQuery { build_number: b.map(Into::into), ..query(&key, "1.0.0", "x") };
    assert_eq!(device.check_for_update(&with_build(Some("42"))).await.expect("42").label, "v2");
    assert_eq!(device.check_for_update(&with_build(Some("46"))).await.expect("46").label, "v1");
    assert_eq!(device.check_for_update(&with_build(None)).await.expect("none").label, "v1");
    let bad = device.check_for_update(&with_build(Some("forty"))).await.expect_err("bad build");
    assert_eq!(bad.status(), Some(400));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_count_once_and_feed_metrics() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "m1"), info("*"))).await.expect("v1");
    let device = server.device();
    let download = DownloadReport {
        deployment_key: Some(key.clone()),
        label: Some("v1".into()),
        client_unique_id: Some("dev-1".into()),
    };
    let installed = DeployReport {
        deployment_key: Some(key.clone()),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some("dev-1".into()),
        label: Some("v1".into()),
        status: Some("DeploymentSucceeded".into()),
        previous_label_or_app_version: Some("1.0.0".into()),
        previous_deployment_key: Some(key.clone()),
    };
    let binary = DeployReport {
        deployment_key: Some(key.clone()),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some("dev-1".into()),
        ..DeployReport::default()
    };
    device.report_deploy(&binary).await.expect("binary report");
    for _ in 0..3 {
        device.report_download(&download).await.expect("download report");
        device.report_deploy(&installed).await.expect("deploy report (retried)");
    }
    let failed = DeployReport {
        client_unique_id: Some("dev-2".into()),
        status: Some("DeploymentFailed".into()),
        ..installed.clone()
    };
    let dev2_download = DownloadReport { client_unique_id: Some("dev-2".into()), ..download.clone() };
    device.report_download(&dev2_download).await.expect("download report");
    device.report_deploy(&failed).await.expect("failed report");

    let metrics = admin.metrics("App", "Staging").await.expect("metrics");
    let v1 = &metrics["v1"];
    assert_eq!((v1.active, v1.downloaded, v1.installed, v1.failed), (1, Some(2), Some(1), Some(1)));
    assert_eq!(metrics["1.0.0"].active, 0, "moved from the binary to v1");
    assert_eq!(metrics["1.0.0"].installed, None);

    // Mendix apps send a non-semver SDK version and no client id: accepted (never an error a device
    // retries), but without a client there is no download receipt, so it is counted as unverified.
    let response = server
        .http()
        .post(format!("{}/v0.1/public/codepush/report_status/deploy", server.url))
        .header("X-CodePush-SDK-Version", "^4.0.5")
        .json(&json!({"deployment_key": key, "app_version": "1.0.0", "label": "v1", "status": "DeploymentSucceeded"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "OK");
    let legacy = server
        .http()
        .post(format!("{}/reportStatus/download", server.url))
        .json(&json!({"deploymentKey": key, "label": "v1", "clientUniqueId": "dev-9"}))
        .send()
        .await
        .expect("send");
    assert_eq!(legacy.status(), 200);
    let metrics = admin.metrics("App", "Staging").await.expect("metrics");
    assert_eq!((metrics["v1"].active, metrics["v1"].downloaded), (1, Some(3)));
    assert_eq!(metrics["v1"].unverified, Some(1), "the report without a client id is counted apart");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_needs_no_external_service() {
    let server = TestServer::start().await;
    let response = server.http().get(format!("{}/health", server.url)).send().await.expect("health");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text"), "Healthy");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_over_time_count_retried_reports_once_and_compact_to_hours() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "ts"), info("*"))).await.expect("v1");
    let device = server.device();
    for n in 0..3 {
        let id = format!("ts-{n}");
        for _ in 0..2 {
            device
                .report_download(&DownloadReport {
                    deployment_key: Some(key.clone()),
                    label: Some("v1".into()),
                    client_unique_id: Some(id.clone()),
                })
                .await
                .expect("download report");
            let report = DeployReport {
                deployment_key: Some(key.clone()),
                app_version: Some("1.0.0".into()),
                client_unique_id: Some(id.clone()),
                label: Some("v1".into()),
                status: Some(if n == 2 { "DeploymentFailed" } else { "DeploymentSucceeded" }.into()),
                ..DeployReport::default()
            };
            device.report_deploy(&report).await.expect("deploy report (sent twice)");
        }
    }
    let series = admin.metric_series("App", "Staging", "v1").await.expect("series");
    let totals = |s: &[otadeck::api::management::MetricSample]| {
        s.iter().fold((0, 0, 0), |(d, i, f), x| (d + x.downloaded, i + x.installed, f + x.failed))
    };
    assert_eq!(totals(&series), (3, 2, 1), "retries are not counted twice: {series:?}");
    assert!(series.iter().all(|s| s.bucket_ms == 60_000), "fresh data is per minute");

    let two_days_later = otadeck::server::store::now_ms() + 2 * 86_400_000;
    server.state.advance_schedules(two_days_later).await.expect("compaction tick");
    let compacted = admin.metric_series("App", "Staging", "v1").await.expect("series");
    assert!(compacted.iter().all(|s| s.bucket_ms == 3_600_000), "older than a day becomes hourly: {compacted:?}");
    assert_eq!(totals(&compacted), (3, 2, 1), "compaction keeps the totals");
    let bad = admin.metric_series("App", "Staging", "latest").await.expect_err("bad label");
    assert_eq!(bad.status(), Some(400));
}

/// Update checks skip the router; the same check with a trailing slash (or as `HEAD`) goes through
/// it. Both ways give the same answer, a request id, and a count in the same metric series, errors
/// included.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_check_is_answered_and_observed_alike_with_or_without_the_router() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let key = observed(&server, dir.path()).await;
    let http = server.http();
    for (path, spelling) in [
        ("/v0.1/public/codepush/update_check", "deployment_key={key}&app_version=1.0.0&client_unique_id=aaa"),
        ("/updateCheck", "deploymentKey={key}&appVersion=1.0.0&clientUniqueId=a%61a"),
    ] {
        let query = spelling.replace("{key}", &key);
        let direct = http.get(format!("{}{path}?{query}", server.url)).send().await.expect("direct");
        let routed = http.get(format!("{}{path}/?{query}", server.url)).send().await.expect("routed");
        assert_eq!((direct.status().as_u16(), routed.status().as_u16()), (200, 200), "{path}");
        for answer in [&direct, &routed] {
            assert_eq!(answer.headers()["content-type"], "application/json", "{path}");
            assert!(answer.headers().contains_key("x-request-id"), "{path}");
        }
        let (direct, routed): (Value, Value) = (direct.json().await.expect("json"), routed.json().await.expect("json"));
        assert_eq!(direct, routed, "{path}");
        let info = direct.get("update_info").or_else(|| direct.get("updateInfo")).expect("update info");
        assert_eq!(info["label"], "v2", "{path}: client aaa is inside the 50 % rollout");

        let unknown = http.get(format!("{}{path}?deployment_key=NoSuchKeyHere&app_version=1.0.0", server.url));
        let unknown = unknown.send().await.expect("unknown key");
        assert_eq!(unknown.status(), 404, "{path}");
        assert!(unknown.text().await.expect("text").contains("NoSuchKeyHere"), "{path}: the error names the key");
    }
    let head = http.head(format!("{}/updateCheck?deploymentKey={key}&appVersion=1.0.0", server.url));
    assert_eq!(head.send().await.expect("head").status(), 200);

    let metrics = server.metrics_text().await;
    for expected in [
        "otadeck_update_checks_total 7",
        r#"otadeck_http_requests_total{method="GET",route="/v0.1/public/codepush/update_check",status="200"} 2"#,
        r#"otadeck_http_requests_total{method="GET",route="/v0.1/public/codepush/update_check",status="404"} 1"#,
        r#"otadeck_http_requests_total{method="GET",route="/updateCheck",status="200"} 2"#,
        r#"otadeck_http_requests_total{method="GET",route="/updateCheck",status="404"} 1"#,
        r#"otadeck_http_requests_total{method="HEAD",route="/updateCheck",status="200"} 1"#,
        r#"otadeck_http_request_duration_seconds_count{method="GET",route="/updateCheck"} 3"#,
    ] {
        assert!(metrics.contains(expected), "missing {expected:?} in\n{metrics}");
    }
}

/// Status reports are answered before the router too: the same answers, counts and metric series
/// whichever way a report comes in (the path with a trailing slash goes through the router).
#[tokio::test(flavor = "multi_thread")]
async fn a_status_report_is_answered_and_observed_alike_with_or_without_the_router() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let key = observed(&server, dir.path()).await;
    let http = server.http();
    let paths = [
        ("/v0.1/public/codepush/report_status/download", "/v0.1/public/codepush/report_status/deploy"),
        ("/reportStatus/download", "/reportStatus/deploy"),
    ];
    for (index, (download, deploy)) in paths.into_iter().enumerate() {
        for (way, slash) in [("direct", ""), ("routed", "/")] {
            let client = format!("device-{index}-{way}");
            let reports = [
                (download, json!({"deployment_key": key, "label": "v2", "client_unique_id": client})),
                (
                    deploy,
                    json!({"deployment_key": key, "app_version": "1.0.0", "label": "v2",
                           "status": "DeploymentSucceeded", "client_unique_id": client}),
                ),
            ];
            for (path, body) in reports {
                let answer =
                    http.post(format!("{}{path}{slash}", server.url)).json(&body).send().await.expect("report");
                assert_eq!(answer.status(), 200, "{way} {path}");
                assert!(answer.headers().contains_key("x-request-id"), "{way} {path}");
                assert_eq!(answer.text().await.expect("text"), "OK", "{way} {path}");

                let unknown = json!({"deployment_key": "NoSuchKeyHere", "label": "v2", "app_version": "1.0.0",
                                     "status": "DeploymentSucceeded"});
                let unknown = http.post(format!("{}{path}{slash}", server.url)).json(&unknown).send().await;
                let unknown = unknown.expect("unknown key");
                assert_eq!(unknown.status(), 404, "{way} {path}");
                assert!(unknown.text().await.expect("text").contains("NoSuchKeyHere"), "{way} {path}");

                let garbled = http.post(format!("{}{path}{slash}", server.url)).body("{not json").send().await;
                assert_eq!(garbled.expect("garbled").status(), 400, "{way} {path}");
            }
        }
    }
    let counts = server.admin().metrics("App", "Staging").await.expect("metrics");
    let v2 = &counts["v2"];
    assert_eq!((v2.downloaded, v2.installed, v2.active), (Some(4), Some(4), 4), "every report counted once: {v2:?}");

    let metrics = server.metrics_text().await;
    for (download, deploy) in paths {
        for route in [download, deploy] {
            for (status, count) in [("200", 2), ("404", 2), ("400", 2)] {
                let expected = format!(
                    r#"otadeck_http_requests_total{{method="POST",route="{route}",status="{status}"}} {count}"#
                );
                assert!(metrics.contains(&expected), "missing {expected:?} in\n{metrics}");
            }
        }
    }
}
