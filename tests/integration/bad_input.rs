//! Malformed requests get a 4xx with a message, and the server keeps serving.

use std::io::Write as _;

use serde_json::json;

use crate::support::{ADMIN_KEY, TestServer, app_with_keys, info, noise, package, upload};

async fn status_and_text(response: reqwest::Response) -> (u16, String) {
    (response.status().as_u16(), response.text().await.expect("text"))
}

fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, contents) in entries {
        writer.start_file(*name, zip::write::SimpleFileOptions::default()).expect("start");
        writer.write_all(contents).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

async fn raw_release(server: &TestServer, package: Option<Vec<u8>>, package_info: Option<&str>) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(bytes) = package {
        form = form.part("package", reqwest::multipart::Part::bytes(bytes).file_name("p.zip"));
    }
    if let Some(text) = package_info {
        form = form.text("packageInfo", text.to_owned());
    }
    let response = server
        .http()
        .post(format!("{}/apps/App/deployments/Staging/release", server.url))
        .bearer_auth(ADMIN_KEY)
        .multipart(form)
        .send()
        .await
        .expect("send");
    status_and_text(response).await
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_update_checks_are_400_with_a_message() {
    let server = TestServer::start().await;
    let (key, _) = app_with_keys(&server.admin(), "App").await;
    let http = server.http();
    let cases = [
        ("app_version=1.0.0".to_owned(), "deployment key"),
        (format!("deployment_key={key}"), "app version"),
        (format!("deployment_key={key}&app_version=abc"), "not a valid semver"),
        (format!("deployment_key={key}&app_version=1.2.3.4"), "not a valid semver"),
        ("deployment_key=bad%20key!&app_version=1.0.0".to_owned(), "deployment_key"),
    ];
    for (query, expected) in cases {
        let url = format!("{}/v0.1/public/codepush/update_check?{query}", server.url);
        let (status, text) = status_and_text(http.get(url).send().await.expect("send")).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(text.contains(expected), "{query}: {text}");
    }
    let unknown =
        format!("{}/v0.1/public/codepush/update_check?deployment_key=unknown-key-123&app_version=1.0.0", server.url);
    let (status, text) = status_and_text(http.get(unknown).send().await.expect("send")).await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("not found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_reports_are_400() {
    let server = TestServer::start().await;
    let (key, _) = app_with_keys(&server.admin(), "App").await;
    let http = server.http();
    let url = format!("{}/v0.1/public/codepush/report_status/deploy", server.url);
    let cases = [
        ("not json".to_owned(), "not valid JSON"),
        (json!({"app_version": "1.0.0"}).to_string(), "deployment key"),
        (json!({"deployment_key": key}).to_string(), "app version"),
        (json!({"deployment_key": key, "app_version": "1.0.0", "label": "v1"}).to_string(), "status"),
        (
            json!({"deployment_key": key, "app_version": "1.0.0", "label": "v1", "status": "Nope"}).to_string(),
            "Invalid status",
        ),
    ];
    for (body, expected) in cases {
        let (status, text) = status_and_text(http.post(&url).body(body.clone()).send().await.expect("send")).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(expected), "{body}: {text}");
    }
    let download = format!("{}/v0.1/public/codepush/report_status/download", server.url);
    let (status, _) =
        status_and_text(http.post(&download).json(&json!({"deployment_key": key})).send().await.expect("send")).await;
    assert_eq!(status, 400);
}

/// (package bytes, packageInfo text, expected status, expected message part)
type UploadCase<'a> = (Option<Vec<u8>>, Option<&'a str>, u16, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn bad_release_uploads_are_refused_and_nothing_is_released() {
    let server = TestServer::start().await;
    app_with_keys(&server.admin(), "App").await;
    let good_zip = raw_zip(&[("CodePush/index.android.bundle", b"ok")]);
    let valid_info = r#"{"appVersion":"^1.0.0"}"#;
    let cases: Vec<UploadCase<'_>> = vec![
        (None, Some(valid_info), 400, "must include a file"),
        (Some(good_zip.clone()), None, 400, "packageInfo"),
        (Some(good_zip.clone()), Some("{"), 400, "packageInfo is not valid"),
        (Some(good_zip.clone()), Some("{}"), 400, "appVersion"),
        (Some(good_zip.clone()), Some(r#"{"appVersion":"not a range"}"#), 400, "not a valid semver range"),
        (Some(good_zip.clone()), Some(r#"{"appVersion":"*","rollout":0}"#), 400, "rollout"),
        (Some(good_zip.clone()), Some(r#"{"appVersion":"*","rollout":50.5}"#), 400, "rollout"),
        (Some(good_zip.clone()), Some(r#"{"appVersion":"*","isMandatory":"yes"}"#), 400, "packageInfo is not valid"),
        (Some(good_zip.clone()), Some(r#"{"appVersion":"*","buildNumber":"9-1"}"#), 400, "build number"),
        (Some(raw_zip(&[("../evil.js", b"x")])), Some(valid_info), 400, "unsafe path"),
        (Some(raw_zip(&[("/etc/passwd", b"x")])), Some(valid_info), 400, "unsafe path"),
        (
            Some(raw_zip(&[("hotcodepush.json", br#"{"deletedFiles":[]}"#), ("CodePush/a.js", b"x")])),
            Some(valid_info),
            400,
            "take it for a diff",
        ),
        (Some(b"PK\x03\x04 truncated".to_vec()), Some(valid_info), 400, "not a readable zip"),
        (Some(Vec::new()), Some(valid_info), 400, "empty"),
    ];
    for (package, package_info, expected_status, expected_text) in cases {
        let (status, text) = raw_release(&server, package, package_info).await;
        assert_eq!(status, expected_status, "{package_info:?}: {text}");
        assert!(text.contains(expected_text), "{package_info:?}: {text}");
    }
    assert!(server.admin().history("App", "Staging").await.expect("history").is_empty());
    let leftovers = std::fs::read_dir(server.data_dir.path().join("tmp")).expect("tmp").count();
    assert_eq!(leftovers, 0, "refused uploads leave no temp files");
    let (status, text) = raw_release(&server, Some(good_zip), Some(valid_info)).await;
    assert_eq!(status, 201, "server keeps serving: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_mendix_model_part_is_refused_and_nothing_is_released() {
    let server = TestServer::start().await;
    app_with_keys(&server.admin(), "App").await;
    let good_zip = raw_zip(&[("CodePush/index.android.bundle", b"ok")]);
    let send = |models: Vec<String>| {
        let mut form = reqwest::multipart::Form::new()
            .part("package", reqwest::multipart::Part::bytes(good_zip.clone()).file_name("p.zip"))
            .text("packageInfo", r#"{"appVersion":"*"}"#);
        for model in models {
            form = form.text("mendixModel", model);
        }
        server
            .http()
            .post(format!("{}/apps/App/deployments/Staging/release", server.url))
            .bearer_auth(ADMIN_KEY)
            .multipart(form)
            .send()
    };
    let huge = format!(r#"{{"productVersion":"{}"}}"#, "x".repeat(8 * 1024 * 1024));
    let cases = [
        (vec!["not json".to_owned()], 400, "mendixModel is not a Mendix model snapshot"),
        (vec![r#"{"entities":{}}"#.to_owned()], 400, "productVersion"),
        (vec![r#"{"productVersion":"10.24.0"}"#.to_owned(); 2], 400, "more than one \"mendixModel\""),
        (vec![huge], 413, "mendixModel is larger than"),
    ];
    for (models, expected_status, expected_text) in cases {
        let (status, text) = status_and_text(send(models).await.expect("send")).await;
        assert_eq!(status, expected_status, "{text}");
        assert!(text.contains(expected_text), "{text}");
    }
    assert!(server.admin().history("App", "Staging").await.expect("history").is_empty());
    let (status, text) =
        status_and_text(send(vec![r#"{"productVersion":"10.24.0"}"#.to_owned()]).await.expect("send")).await;
    assert_eq!(status, 201, "{text}");
    let stored = server.admin().current_release_model("App", "Staging").await.expect("model").expect("stored");
    assert_eq!((stored.label.as_str(), stored.mendix_model.product_version.as_str()), ("v1", "10.24.0"));
    assert!(server.admin().current_release_model("App", "Production").await.expect("none").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn zip_bombs_and_oversized_uploads_are_refused() {
    let server = TestServer::start_with(|config| {
        config.upload_limit_bytes = 64 * 1024;
        config.zip_limits =
            otadeck::domain::package::ZipLimits { max_entries: 100, max_uncompressed_bytes: 1024 * 1024 };
    })
    .await;
    app_with_keys(&server.admin(), "App").await;
    let zeros = vec![0_u8; 4 * 1024 * 1024];
    let bomb = raw_zip(&[("CodePush/zeros.bin", &zeros)]);
    assert!(bomb.len() < 64 * 1024, "bomb fits the upload limit: {}", bomb.len());
    let (status, text) = raw_release(&server, Some(bomb), Some(r#"{"appVersion":"*"}"#)).await;
    assert_eq!((status, text.contains("unpacks to more than")), (400, true), "{text}");

    let many: Vec<(String, Vec<u8>)> = (0..101).map(|i| (format!("CodePush/f{i}"), vec![1_u8])).collect();
    let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let (status, text) = raw_release(&server, Some(raw_zip(&refs)), Some(r#"{"appVersion":"*"}"#)).await;
    assert_eq!((status, text.contains("more than 100 entries")), (400, true), "{text}");

    let big: Vec<u8> = (0..200_000_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (status, text) = raw_release(&server, Some(big), Some(r#"{"appVersion":"*"}"#)).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("too large") || text.contains("larger than"), "{text}");
    assert!(server.admin().history("App", "Staging").await.expect("history").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_management_requests_are_4xx_with_messages() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "x"), info("*"))).await.expect("release");
    let http = server.http();
    let url = |path: &str| format!("{}{path}", server.url);
    let no_auth = http.get(url("/apps")).send().await.expect("send");
    let (status, text) = status_and_text(no_auth).await;
    assert_eq!((status, text.contains("Missing access key")), (401, true), "{text}");

    let requests = [
        (http.post(url("/apps")).bearer_auth(ADMIN_KEY).json(&json!({"name": "a/b"})), 400, "name"),
        (http.post(url("/apps")).bearer_auth(ADMIN_KEY).body("{not json"), 400, "not valid"),
        (http.post(url("/apps")).bearer_auth(ADMIN_KEY).json(&json!({"name": "App"})), 409, "already exists"),
        (
            http.post(url("/apps/App/deployments")).bearer_auth(ADMIN_KEY).json(&json!({"name": "X", "key": "short"})),
            400,
            "key",
        ),
        (http.post(url("/apps/App/deployments/Staging/rollback/latest")).bearer_auth(ADMIN_KEY), 400, "label"),
        (
            http.patch(url("/apps/App/deployments/Staging/release"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"packageInfo": {"rollout": 101}})),
            400,
            "rollout",
        ),
        (
            http.patch(url("/apps/App/deployments/Staging/release"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"packageInfo": {"label": "v0"}})),
            400,
            "label",
        ),
        (
            http.patch(url("/apps/App/deployments/Staging/release"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"packageInfo": {"label": "v7", "isMandatory": true}})),
            404,
            "Release not found",
        ),
        (
            http.patch(url("/apps/App/deployments/Staging/release"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"packageInfo": {"appVersion": "x.y"}})),
            400,
            "range",
        ),
        (
            http.post(url("/accessKeys")).bearer_auth(ADMIN_KEY).json(&json!({"friendlyName": "k", "ttl": -5})),
            400,
            "ttl",
        ),
        (http.post(url("/apps/App/collaborators/__proto__")).bearer_auth(ADMIN_KEY), 400, "email"),
        (http.get(url("/nope")).bearer_auth(ADMIN_KEY), 404, "No such route"),
    ];
    for (request, expected_status, expected_text) in requests {
        let (status, text) = status_and_text(request.send().await.expect("send")).await;
        assert_eq!(status, expected_status, "{text}");
        assert!(text.contains(expected_text), "expected {expected_text:?} in {text:?}");
    }
    assert_eq!(admin.history("App", "Staging").await.expect("still serving").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_bodies_are_capped_but_release_uploads_are_not_held_to_that_cap() {
    let server = TestServer::start().await;
    app_with_keys(&server.admin(), "App").await;
    let huge = json!({ "name": "x".repeat(300 * 1024) });
    // A management route and both device report routes: the same cap, with the same answer (the
    // admin key is ignored where no key is needed).
    for path in ["/apps", "/v0.1/public/codepush/report_status/deploy", "/v0.1/public/codepush/report_status/download"]
    {
        let request = server.http().post(format!("{}{path}", server.url)).bearer_auth(ADMIN_KEY).json(&huge);
        let (status, text) = status_and_text(request.send().await.expect("send")).await;
        assert_eq!(status, 413, "{path}: a 300 KB JSON body is over the 256 KiB cap: {text}");
        assert!(text.contains("256 KiB"), "{path}: the answer names the cap: {text}");
    }

    // A 3 MB package: over the JSON cap and axum's 2 MB default, under the upload limit.
    let bytes = raw_zip(&[("CodePush/index.android.bundle", &noise(7, 3_000_000))]);
    assert!(bytes.len() > 2_900_000, "noise does not deflate: {}", bytes.len());
    let (status, text) = raw_release(&server, Some(bytes), Some(r#"{"appVersion":"1.0.0"}"#)).await;
    assert_eq!(status, 201, "{text}");
}
