//! Conformance with the real npm clients: `code-push-cli@2.1.9` (management) and the
//! `AcquisitionManager` of `code-push@4.2.3` (device), run by node against our server.
//!
//! The tests install them on first use (see `node_tools`). Without node they skip loudly; under
//! `CI=true` a missing client is a failure.

use std::path::{Path, PathBuf};

use otadeck::domain::package::{ManifestEntry, manifest_hash, sha256_hex};
use serde_json::Value;

use crate::support::{ADMIN_KEY, TestServer};

struct NodeClients {
    cli: PathBuf,
    acquisition_sdk: PathBuf,
}

fn node_clients() -> Option<NodeClients> {
    let root = crate::node_tools::installed("REAL-CLIENT CONFORMANCE TEST")?;
    Some(NodeClients {
        cli: root.join("cli2/node_modules/code-push-cli/script/cli.js"),
        acquisition_sdk: root.join("cp/node_modules/code-push/script/acquisition-sdk.js"),
    })
}

/// Runs `code-push <args>` with an isolated HOME, answering `y` to confirmations; returns stdout.
async fn code_push(clients: &NodeClients, home: &Path, args: &[&str]) -> String {
    code_push_with(clients, home, args, &[]).await
}

/// Like [`code_push`], with extra environment variables.
async fn code_push_with(clients: &NodeClients, home: &Path, args: &[&str], envs: &[(&str, &Path)]) -> String {
    let mut child = tokio::process::Command::new("node")
        .arg("--no-warnings")
        .arg(&clients.cli)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn node");
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt as _;
        stdin.write_all(b"y\n").await.expect("answer prompt");
    }
    let output = child.wait_with_output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "code-push {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
    eprintln!("$ code-push {}\n{stdout}", args.join(" "));
    stdout
}

fn folder_hash(folder: &Path) -> String {
    let parent = folder.parent().expect("parent");
    let mut entries = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(parent).expect("relative").to_string_lossy().replace('\\', "/");
                entries
                    .push(ManifestEntry { path: relative, sha256: sha256_hex(&std::fs::read(&path).expect("read")) });
            }
        }
    }
    manifest_hash(&entries)
}

#[tokio::test(flavor = "multi_thread")]
async fn code_push_cli_2_1_9_drives_the_whole_release_flow() {
    let Some(clients) = node_clients() else {
        return;
    };
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let folder = crate::support::code_push_folder(
        work.path(),
        &[("index.android.bundle", b"console.log(\"v1\");\n"), ("assets/img.png", b"PNGDATA"), (".DS_Store", b"junk")],
    );
    let folder_text = folder.to_string_lossy().into_owned();

    let login = code_push(&clients, home.path(), &["login", &server.url, "--accessKey", ADMIN_KEY]).await;
    assert!(login.contains("Successfully logged-in"), "{login}");
    let added = code_push(&clients, home.path(), &["app", "add", "MyApp-Android", "android", "react-native"]).await;
    assert!(added.contains("Successfully added"), "{added}");
    let admin = server.admin();
    let deployments = admin.deployments("MyApp-Android").await.expect("deployments");
    let listed = code_push(&clients, home.path(), &["deployment", "ls", "MyApp-Android", "-k"]).await;
    for deployment in &deployments {
        assert!(listed.contains(&deployment.key), "{} missing from:\n{listed}", deployment.key);
    }

    let released = code_push(
        &clients,
        home.path(),
        &["release", "MyApp-Android", &folder_text, "^1.0.0", "-d", "Staging", "--des", "first fix", "-m", "-r", "50"],
    )
    .await;
    assert!(released.contains("Successfully released"), "{released}");
    let history = admin.history("MyApp-Android", "Staging").await.expect("history");
    assert_eq!(history.len(), 1);
    let v1 = &history[0];
    assert_eq!(
        (v1.label.as_str(), v1.app_version.as_str(), v1.is_mandatory, v1.rollout),
        ("v1", "^1.0.0", true, Some(50))
    );
    assert_eq!(v1.description, "first fix");
    assert_eq!(v1.package_hash, folder_hash(&folder), "the CLI's zip hashes like the folder (domain hash)");
    assert_eq!(v1.package_hash.len(), 64);

    let patched = code_push(&clients, home.path(), &["patch", "MyApp-Android", "Staging", "-r", "100"]).await;
    assert!(patched.contains("Successfully updated"), "{patched}");
    assert_eq!(admin.history("MyApp-Android", "Staging").await.expect("history")[0].rollout, None);

    let promoted = code_push(&clients, home.path(), &["promote", "MyApp-Android", "Staging", "Production"]).await;
    assert!(promoted.contains("Successfully promoted"), "{promoted}");
    let production = admin.history("MyApp-Android", "Production").await.expect("production");
    assert_eq!(production[0].original_deployment.as_deref(), Some("Staging"));
    assert_eq!(production[0].description, "first fix");

    std::fs::write(folder.join("index.android.bundle"), "console.log(\"v2\");\n").expect("edit bundle");
    code_push(&clients, home.path(), &["release", "MyApp-Android", &folder_text, "^1.0.0", "-d", "Staging"]).await;
    let rolled = code_push(&clients, home.path(), &["rollback", "MyApp-Android", "Staging"]).await;
    assert!(rolled.contains("Successfully performed a rollback"), "{rolled}");

    let shown = code_push(&clients, home.path(), &["deployment", "history", "MyApp-Android", "Staging"]).await;
    for expected in ["v1", "v2", "v3", "Rolled back v2 to v1", "first fix"] {
        assert!(shown.contains(expected), "{expected} missing from:\n{shown}");
    }
    let v3 = admin.history("MyApp-Android", "Staging").await.expect("history").pop().expect("v3");
    assert_eq!(v3.package_hash, v1.package_hash);
}

/// Runs `tests/node/acquisition.js` (code-push@4.2.3's AcquisitionManager) with `request`; returns
/// its results.
async fn acquisition_manager(clients: &NodeClients, request: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/acquisition.js");
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&clients.acquisition_sdk)
        .arg(request.to_string())
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "acquisition.js failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    eprintln!("AcquisitionManager results: {stdout}");
    serde_json::from_str(stdout.trim()).expect("json results")
}

#[tokio::test(flavor = "multi_thread")]
async fn code_push_4_2_3_acquisition_manager_receives_the_diff_for_the_package_it_runs() {
    let Some(clients) = node_clients() else {
        return;
    };
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = crate::support::app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let release = |marker: &str| {
        crate::support::upload(crate::support::package(dir.path(), marker), crate::support::info("^1.0.0"))
    };
    let v1 = admin.release("App", "Staging", &release("first")).await.expect("v1");
    let v2 = admin.release("App", "Staging", &release("second")).await.expect("v2");
    let diff = crate::diffs::diff_offered(&server, &key, ("v1", &v1.package_hash), &v2).await;

    let running = serde_json::json!({ "label": "v1", "packageHash": v1.package_hash });
    let request = serde_json::json!({
        "serverUrl": format!("{}/", server.url), "deploymentKey": key, "clientUniqueId": "bbb", "running": running,
    });
    let results = acquisition_manager(&clients, &request).await;
    let from_v1 = &results["fromPackage"];
    assert_eq!(from_v1["downloadUrl"], diff.download_url.as_str(), "the SDK is sent the diff");
    assert_eq!(from_v1["packageSize"], diff.package_size);
    assert_eq!(from_v1["packageHash"], v2.package_hash.as_str(), "and verifies against the full package's hash");
    assert_eq!(from_v1["label"], "v2");
    assert_eq!(results["fromBinary"]["downloadUrl"], v2.blob_url.as_str(), "a binary gets the full package");
    assert_eq!(results["fromBinary"]["packageSize"], v2.size);
}

#[tokio::test(flavor = "multi_thread")]
async fn code_push_4_2_3_acquisition_manager_checks_downloads_and_reports() {
    let Some(clients) = node_clients() else {
        return;
    };
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = crate::support::app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let mut range = crate::support::info("1.0.0 - 1.2.x");
    range.is_mandatory = Some(true);
    range.description = Some("important".into());
    let released = admin
        .release("App", "Staging", &crate::support::upload(crate::support::package(dir.path(), "sdk"), range))
        .await
        .expect("release");

    let request =
        serde_json::json!({ "serverUrl": format!("{}/", server.url), "deploymentKey": key, "clientUniqueId": "aaa" });
    let results = acquisition_manager(&clients, &request).await;

    let remote = &results["fromBinary"];
    assert_eq!(remote["label"], "v1");
    assert_eq!(remote["packageHash"], released.package_hash.as_str());
    assert_eq!(remote["isMandatory"], true);
    assert_eq!(remote["description"], "important");
    assert_eq!(remote["appVersion"], "1.0.0");
    assert_eq!(remote["packageSize"], released.size);
    assert_eq!(remote["downloadUrl"], released.blob_url.as_str());
    assert_eq!(results["downloadedBytes"], released.size);
    assert_eq!(results["downloadStartsWithPK"], true);
    assert!(results["afterInstall"].is_null(), "no update once installed: {}", results["afterInstall"]);
    assert_eq!(results["oldBinary"]["updateAppVersion"], true);
    assert_eq!(results["oldBinary"]["appVersion"], "1.0.0 - 1.2.x");

    let metrics = admin.metrics("App", "Staging").await.expect("metrics");
    let v1 = &metrics["v1"];
    assert_eq!((v1.active, v1.downloaded, v1.installed, v1.failed), (1, Some(1), Some(1), Some(0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn otadeck_packaging_hashes_exactly_like_code_push_cli_release() {
    let Some(clients) = node_clients() else { return };
    let server = TestServer::start().await;
    let admin = server.admin();
    admin.create_app("Parity").await.expect("app");
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    // Names chosen to trip sorting and path handling: a.b vs a, nesting, Unicode, ignored files.
    let folder = crate::support::code_push_folder(
        work.path(),
        &[
            ("index.android.bundle", b"console.log('parity');\n"),
            ("a", b"1"),
            ("a.b", b"2"),
            ("assets/img@2x.png", b"PNG2"),
            ("assets/nested/deeper/file.json", b"{}"),
            ("assets/\u{e9}t\u{e9}.txt", "unicode".as_bytes()),
            ("assets/.DS_Store", b"junk"),
            ("__MACOSX/._a", b"meta"),
        ],
    );
    let zip = work.path().join("otadeck.zip");
    let ours = otadeck::bundle::package::package(&folder, &zip, None).expect("package");

    let folder_text = folder.to_string_lossy().into_owned();
    code_push(&clients, home.path(), &["login", &server.url, "--accessKey", ADMIN_KEY]).await;
    code_push(&clients, home.path(), &["release", "Parity", &folder_text, "*", "-d", "Staging"]).await;
    let cli_hash = admin.history("Parity", "Staging").await.expect("history")[0].package_hash.clone();
    assert_eq!(ours.package_hash, cli_hash, "code-push-cli's release of the folder hashes like otadeck's packaging");

    let uploaded = admin
        .release("Parity", "Production", &crate::support::upload(zip, crate::support::info("*")))
        .await
        .expect("upload otadeck's zip");
    assert_eq!(uploaded.package_hash, cli_hash, "the server reads otadeck's zip to the same hash");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_push_cli_works_against_an_https_server_with_node_extra_ca_certs() {
    let Some(clients) = node_clients() else { return };
    let pki = crate::support::TestPki::new();
    let files = pki.tls_files();
    let server = TestServer::start_with(|config| config.tls = Some(files)).await;
    let home = tempfile::tempdir().expect("home");
    let ca = pki.path("ca.pem");
    let env = [("NODE_EXTRA_CA_CERTS", ca.as_path())];
    code_push_with(&clients, home.path(), &["login", &server.url, "--accessKey", ADMIN_KEY], &env).await;
    code_push_with(&clients, home.path(), &["app", "add", "Tls-Android", "android", "react-native"], &env).await;
    let listed = code_push_with(&clients, home.path(), &["deployment", "ls", "Tls-Android", "-k"], &env).await;
    assert!(listed.contains("Staging") && listed.contains("Production"), "{listed}");
    let apps = server.admin_over(&pki.transport()).apps().await.expect("apps");
    assert!(apps.iter().any(|a| a.name == "Tls-Android"));
}
