//! The `otadeck` binary's release commands against a real server: push with a real bundler, list,
//! patch, roll back, promote; preflight blocks and forced pushes; exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use otadeck::api::acquisition::UpdateCheckQuery;
use otadeck::domain::package::{ZipLimits, inspect_zip, manifest_hash};
use serde_json::Value;

use crate::support::{ADMIN_KEY, TestServer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Copies a fixture project to `to`.
pub fn copy_fixture(name: &str, to: &Path) {
    copy_dir(&fixture(name), to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Runs `otadeck <args>` against `server`; returns (exit code, stdout, stderr).
async fn otadeck(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    crate::support::run_otadeck(args, &[("OTADECK_SERVER", &server.url), ("OTADECK_ACCESS_KEY", ADMIN_KEY)]).await
}

fn metro_modules() -> Option<PathBuf> {
    Some(crate::node_tools::installed("REAL-BUNDLER TEST")?.join("metro/node_modules"))
}

#[tokio::test(flavor = "multi_thread")]
async fn push_update_builds_with_metro_and_devices_install_it() {
    let Some(modules) = metro_modules() else { return };
    let server = TestServer::start().await;
    let admin = server.admin();
    admin.create_app("MetroApp-Android").await.expect("app");
    // Metro does not crawl folders whose path has a dot-directory, such as tempfile's `.tmpXXXX`.
    let work = tempfile::Builder::new().prefix("otadeck-e2e-").tempdir().expect("work");
    let project = work.path().join("metro-app");
    copy_dir(&fixture("metro-app"), &project);
    // Metro follows one level of symlink only: link straight to the real folder.
    let modules = modules.canonicalize().expect("metro node_modules");
    std::os::unix::fs::symlink(&modules, project.join("node_modules")).expect("link node_modules");
    let project_arg = project.to_string_lossy().into_owned();

    let (code, stdout, stderr) = otadeck(
        &server,
        &[
            "release",
            "push-update",
            "--project",
            &project_arg,
            "--platform",
            "android",
            "--target-version",
            "^1.0.0",
            "--rollout-percentage",
            "100",
            "--mandatory",
            "false",
            "--description",
            "typo fix",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "push-update failed:\n{stderr}");
    assert!(stderr.contains("no store build registered"), "preflight warns when it has nothing to compare: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("json output");
    let release = &report["releases"][0];
    assert_eq!(release["label"], "v1");
    let package_hash = release["packageHash"].as_str().expect("hash").to_owned();

    // A device on 1.0.0 finds it, downloads it, and the zip hashes to the advertised package hash.
    let key = admin
        .deployments("MetroApp-Android")
        .await
        .expect("deployments")
        .into_iter()
        .find(|d| d.name == "Staging")
        .expect("staging")
        .key;
    let query = UpdateCheckQuery {
        deployment_key: Some(key.clone()),
        app_version: Some("1.0.0".into()),
        ..UpdateCheckQuery::default()
    };
    let device = server.device();
    let offered = device.check_for_update(&query).await.expect("check");
    assert!(offered.is_available && !offered.is_mandatory);
    assert_eq!(
        (offered.label.as_str(), offered.package_hash.as_str(), offered.description.as_str()),
        ("v1", package_hash.as_str(), "typo fix")
    );
    let bytes = device.download(&offered.download_url).await.expect("download");
    let entries = inspect_zip(std::io::Cursor::new(bytes.clone()), ZipLimits::default()).expect("zip");
    assert_eq!(manifest_hash(&entries), package_hash);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("archive");
    let mut bundle = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("CodePush/index.android.bundle").expect("bundle"), &mut bundle)
        .expect("read");
    assert!(bundle.contains("This bundle was built by metro for otadeck"), "real metro output");
    assert!(bundle.contains("__d("), "metro module wrapper present");
    assert!(archive.by_name("CodePush/assets/note.txt").is_ok());

    // Second push at 20 %, then patch, list, rollback.
    std::fs::write(project.join("src/greeting.js"), "export function greeting(name) { return `Hi ${name}, v2`; }\n")
        .expect("edit");
    let (code, _, stderr) = otadeck(
        &server,
        &[
            "release",
            "push-update",
            "--project",
            &project_arg,
            "--platform",
            "android",
            "--target-version",
            "^1.0.0",
            "--rollout-percentage",
            "20",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) =
        otadeck(&server, &["release", "patch-update", "--app", "MetroApp-Android", "--rollout-percentage", "80"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("v2 is now") && stdout.contains("rollout 80%") && stdout.contains("mandatory"), "{stdout}");
    let (code, stdout, _) =
        otadeck(&server, &["release", "list", "--project", &project_arg, "--platform", "android"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("MetroApp-Android / Staging (2 releases)") && stdout.contains("typo fix"), "{stdout}");
    let (code, stdout, _) =
        otadeck(&server, &["release", "rollback-update", "--app", "MetroApp-Android", "--label", "v1"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("rolled back to v1 (new release v3)"), "{stdout}");
    let after = device.check_for_update(&query).await.expect("check");
    assert_eq!((after.label.as_str(), after.package_hash.as_str()), ("v3", package_hash.as_str()));
    let (code, stdout, _) = otadeck(&server, &["release", "promote", "--app", "MetroApp-Android", "--json"]).await;
    assert_eq!(code, 0);
    let promoted: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(promoted["promoted"][0]["release"]["label"], "v1");
    assert_eq!(promoted["promoted"][0]["to"], "Production");
}

/// Puts back one file of a copied `rn-app` fixture.
fn restore_fixture_file(project: &Path, relative: &str) {
    std::fs::copy(fixture("rn-app").join(relative), project.join(relative)).expect("restore fixture file");
}

/// A copy of the RN fixture whose build is a shell command (no React Native toolchain needed).
fn rn_project(work: &Path) -> PathBuf {
    let project = work.join("rn-app");
    copy_dir(&fixture("rn-app"), &project);
    std::fs::write(
        project.join("otadeck.toml"),
        "[apps]\nandroid = \"FieldService-Android\"\n[build]\ncommand = \"echo \\\"console.log('$(date +%s%N)')\\\" > \\\"$OTADECK_BUNDLE_OUTPUT\\\"\"\n",
    )
    .expect("config");
    project
}

/// (the finding preflight must report, make the change, undo it)
type Flip<'a> = (&'a str, Box<dyn Fn() + 'a>, Box<dyn Fn() + 'a>);

#[tokio::test(flavor = "multi_thread")]
async fn preflight_blocks_each_native_change_and_a_forced_push_stores_its_reason() {
    let server = TestServer::start().await;
    server.admin().create_app("FieldService-Android").await.expect("app");
    let work = tempfile::tempdir().expect("work");
    let project = rn_project(work.path());
    let project_arg = project.to_string_lossy().into_owned();
    let push = |extra: &'static [&'static str]| {
        let mut args = vec![
            "release",
            "push-update",
            "--project",
            &project_arg,
            "--platform",
            "android",
            "--target-version",
            "1.0.0",
            "--rollout-percentage",
            "100",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| {
        let server = &server;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            otadeck(server, &refs).await
        }
    };
    let (code, _, stderr) = otadeck(
        &server,
        &[
            "binary",
            "register",
            "--project",
            &project_arg,
            "--platform",
            "android",
            "--app-version",
            "1.0.0",
            "--build-number",
            "7",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(push(&[])).await;
    assert_eq!(code, 0, "an unchanged project passes preflight: {stderr}");

    let res = project.join("android/app/src/main/res");
    let flips: Vec<Flip<'_>> = vec![
        (
            "native module added: react-native-ble-plx 3.1.2",
            Box::new(|| {
                let module = project.join("node_modules/react-native-ble-plx");
                std::fs::create_dir_all(module.join("ios")).expect("mkdir");
                std::fs::write(module.join("package.json"), r#"{"name":"react-native-ble-plx","version":"3.1.2"}"#)
                    .expect("write");
                let package = std::fs::read_to_string(project.join("package.json")).expect("read");
                std::fs::write(
                    project.join("package.json"),
                    package.replace("\"lodash\"", "\"react-native-ble-plx\": \"3.1.2\",\n    \"lodash\""),
                )
                .expect("write");
            }),
            Box::new(|| {
                let package = std::fs::read_to_string(project.join("package.json")).expect("read");
                std::fs::write(
                    project.join("package.json"),
                    package.replace("\"react-native-ble-plx\": \"3.1.2\",\n    ", ""),
                )
                .expect("write");
            }),
        ),
        (
            "native module changed: react-native-camera 4.2.1 -> 4.3.0",
            Box::new(|| {
                std::fs::write(
                    project.join("node_modules/react-native-camera/package.json"),
                    r#"{"name":"react-native-camera","version":"4.3.0"}"#,
                )
                .expect("write")
            }),
            Box::new(|| {
                std::fs::write(
                    project.join("node_modules/react-native-camera/package.json"),
                    r#"{"name":"react-native-camera","version":"4.2.1"}"#,
                )
                .expect("write")
            }),
        ),
        (
            "launcher icon changed: android/app/src/main/res/mipmap-hdpi/ic_launcher.png",
            Box::new(|| std::fs::write(res.join("mipmap-hdpi/ic_launcher.png"), b"new icon").expect("write")),
            Box::new(|| restore_fixture_file(&project, "android/app/src/main/res/mipmap-hdpi/ic_launcher.png")),
        ),
        (
            "splash screen changed: android/app/src/main/res/drawable/splash.png",
            Box::new(|| std::fs::write(res.join("drawable/splash.png"), b"new splash").expect("write")),
            Box::new(|| restore_fixture_file(&project, "android/app/src/main/res/drawable/splash.png")),
        ),
        (
            "app renamed: Field Service -> Field Service Pro",
            Box::new(|| {
                let strings = std::fs::read_to_string(res.join("values/strings.xml")).expect("read");
                std::fs::write(
                    res.join("values/strings.xml"),
                    strings.replace(">Field Service<", ">Field Service Pro<"),
                )
                .expect("write");
            }),
            Box::new(|| restore_fixture_file(&project, "android/app/src/main/res/values/strings.xml")),
        ),
        (
            "app id changed: com.acme.fieldservice -> com.acme.fieldservice2",
            Box::new(|| {
                let gradle = project.join("android/app/build.gradle");
                let text = std::fs::read_to_string(&gradle).expect("read");
                std::fs::write(&gradle, text.replace("com.acme.fieldservice\"", "com.acme.fieldservice2\""))
                    .expect("write");
            }),
            Box::new(|| restore_fixture_file(&project, "android/app/build.gradle")),
        ),
        (
            "react-native version changed: 0.81.0 -> 0.82.0",
            Box::new(|| {
                std::fs::write(
                    project.join("node_modules/react-native/package.json"),
                    r#"{"name":"react-native","version":"0.82.0"}"#,
                )
                .expect("write")
            }),
            Box::new(|| {
                std::fs::write(
                    project.join("node_modules/react-native/package.json"),
                    r#"{"name":"react-native","version":"0.81.0"}"#,
                )
                .expect("write")
            }),
        ),
    ];
    for (expected, flip, restore) in &flips {
        flip();
        let (code, _, stderr) = run(push(&[])).await;
        assert_eq!(code, 3, "{expected}: preflight must block:\n{stderr}");
        assert!(stderr.contains(&format!("android 1.0.0 (build 7): {expected}")), "{expected} not reported:\n{stderr}");
        restore();
    }
    let history = server.admin().history("FieldService-Android", "Staging").await.expect("history");
    assert_eq!(history.len(), 1, "blocked pushes created nothing");

    // Out of reach of the registered binary: not compared, so not blocked.
    flips[0].1();
    let (code, _, stderr) = run(vec![
        "release".into(),
        "push-update".into(),
        "--project".into(),
        project_arg.clone(),
        "--platform".into(),
        "android".into(),
        "--target-version".into(),
        "2.0.0".into(),
        "--rollout-percentage".into(),
        "100".into(),
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) =
        run(push(&["--force-reason", "BLE module is only used behind a feature flag", "--description", "hotfix"]))
            .await;
    assert_eq!(code, 0, "forced push goes through: {stderr}");
    let latest =
        server.admin().history("FieldService-Android", "Staging").await.expect("history").pop().expect("release");
    assert!(latest.description.starts_with("hotfix"), "{}", latest.description);
    assert!(
        latest.description.contains("preflight overridden: BLE module is only used behind a feature flag"),
        "{}",
        latest.description
    );
    assert!(latest.description.contains("native module added: react-native-ble-plx 3.1.2"), "{}", latest.description);
}

#[tokio::test(flavor = "multi_thread")]
async fn mendix_pushes_need_the_offline_checklist_and_an_mxbuild() {
    let server = TestServer::start().await;
    server.admin().create_app("FieldService-Android").await.expect("app");
    let project = fixture("mendix-app").to_string_lossy().into_owned();
    let base = [
        "release",
        "push-update",
        "--project",
        &project,
        "--platform",
        "android",
        "--target-version",
        "*",
        "--rollout-percentage",
        "10",
    ];
    let (code, _, stderr) = otadeck(&server, &base).await;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("offline-first checklist"), "{stderr}");
    let mut confirmed = base.to_vec();
    confirmed.push("--confirm-offline-checklist");
    let (code, _, stderr) = otadeck(&server, &confirmed).await;
    assert_eq!(code, 5, "no MxBuild configured is a build error: {stderr}");
    assert!(stderr.contains("[mendix] mxbuild"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_tell_usage_server_and_build_errors_apart() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().expect("work");
    let project = rn_project(work.path());
    let project_arg = project.to_string_lossy().into_owned();
    let push = [
        "release",
        "push-update",
        "--project",
        &project_arg,
        "--platform",
        "android",
        "--target-version",
        "1.0.0",
        "--rollout-percentage",
        "100",
    ];

    let no_server = Command::new(env!("CARGO_BIN_EXE_otadeck"))
        .args(["release", "list", "--app", "X"])
        .env_remove("OTADECK_SERVER")
        .env_remove("OTADECK_ACCESS_KEY")
        .env("OTADECK_CONFIG", "/nonexistent/otadeck-config.toml")
        .output()
        .expect("run");
    assert_eq!(no_server.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_server.stderr).contains("no server"));
    let (code, _, stderr) = otadeck(
        &server,
        &["release", "push-update", "--project", &project_arg, "--target-version", "1", "--rollout-percentage", "0"],
    )
    .await;
    assert_eq!(code, 2, "clap rejects rollout 0: {stderr}");
    let (code, _, stderr) = otadeck(&server, &push).await;
    assert_eq!(code, 4, "the app does not exist on the server: {stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    let mut create = push.to_vec();
    create.push("--create-apps");
    let (code, _, stderr) = otadeck(&server, &create).await;
    assert_eq!(code, 0, "--create-apps creates the missing app: {stderr}");
    assert_eq!(server.admin().deployments("FieldService-Android").await.expect("created").len(), 2);

    std::fs::write(
        project.join("otadeck.toml"),
        "[apps]\nandroid = \"FieldService-Android\"\n[build]\ncommand = \"echo failing build >&2; exit 7\"\n",
    )
    .expect("config");
    let (code, _, stderr) = otadeck(&server, &push).await;
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("failing build") && stderr.contains("the build failed"), "{stderr}");
    let (code, _, stderr) = otadeck(
        &server,
        &[
            "release",
            "push-update",
            "--project",
            "/nonexistent/project",
            "--target-version",
            "1",
            "--rollout-percentage",
            "5",
        ],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_push_carries_a_signature_that_verifies_against_the_package_hash() {
    let server = TestServer::start().await;
    server.admin().create_app("FieldService-Android").await.expect("app");
    let work = tempfile::tempdir().expect("work");
    let project = rn_project(work.path());
    let project_arg = project.to_string_lossy().into_owned();
    let key = fixture("keys/test-only-private.pem").to_string_lossy().into_owned();
    let (code, stdout, stderr) = otadeck(
        &server,
        &[
            "release",
            "push-update",
            "--project",
            &project_arg,
            "--platform",
            "android",
            "--target-version",
            "1.0.0",
            "--rollout-percentage",
            "100",
            "--sign-key",
            &key,
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["releases"][0]["signed"], true);
    let release =
        server.admin().history("FieldService-Android", "Staging").await.expect("history").pop().expect("release");
    let bytes = server.device().download(&release.blob_url).await.expect("download");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    let mut token = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("CodePush/.codepushrelease").expect("signature in zip"),
        &mut token,
    )
    .expect("read");
    let public = std::fs::read_to_string(fixture("keys/test-only-public.pem")).expect("public key");
    let claims = otadeck::bundle::sign::verify(&token, &public).expect("signature verifies");
    assert_eq!(claims.content_hash, release.package_hash, "devices compare contentHash with the package hash");
    assert_eq!(claims.claim_version, "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_runs_a_fleet_and_reports_per_label() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = crate::support::app_with_keys(&admin, "Sim").await;
    let dir = tempfile::tempdir().expect("dir");
    let released = admin
        .release(
            "Sim",
            "Staging",
            &crate::support::upload(crate::support::package(dir.path(), "s1"), crate::support::info("*")),
        )
        .await
        .expect("v1");
    let (code, stdout, stderr) = otadeck(
        &server,
        &[
            "simulate",
            "--deployment-key",
            &key,
            "--devices",
            "300",
            "--restarts",
            "2",
            "--accept-optional",
            "1",
            "--fail",
            "v1=0.5",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(stdout.trim()).expect("json");
    let v1 = &summary["labels"]["v1"];
    assert_eq!(v1["downloaded"], 300);
    assert_eq!(summary["downloaded_bytes"], 300 * released.size, "every device downloaded the package once");
    assert_eq!(summary["diffs_applied"], 0, "from the binary: full packages");
    let (installed, rolled_back) = (v1["installed"].as_u64().expect("n"), v1["rolled_back"].as_u64().expect("n"));
    assert_eq!(installed + rolled_back, 300);
    assert!((105..=195).contains(&rolled_back), "about half crash: {rolled_back}");
    assert_eq!(summary["onBinary"].as_u64().or_else(|| summary["on_binary"].as_u64()), Some(rolled_back));
    let metrics = admin.metrics("Sim", "Staging").await.expect("metrics");
    assert_eq!(metrics["v1"].failed, Some(i64::try_from(rolled_back).expect("n")));

    let (code, _, stderr) = otadeck(&server, &["simulate", "--deployment-key", &key, "--fail", "v1=2"]).await;
    assert_eq!(code, 2, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_load_and_remove_from_the_command_line() {
    let server = TestServer::start().await;
    let (code, stdout, _) = otadeck(&server, &["demo", "load"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("Loaded Demo-Android"), "{stdout}");
    let history = server.admin().history("Demo-Android", "Staging").await.expect("history");
    let states: Vec<(String, bool, Option<u8>)> =
        history.iter().map(|p| (p.label.clone(), p.is_paused, p.rollout)).collect();
    assert_eq!(states, [("v1".into(), false, None), ("v2".into(), true, None), ("v3".into(), false, Some(25))]);
    let metrics = server.admin().metrics("Demo-Android", "Staging").await.expect("metrics");
    assert!(metrics.get("v1").is_some_and(|m| m.active > 0), "the fleet runs v1: {metrics:?}");
    let (code, _, _) = otadeck(&server, &["demo", "remove"]).await;
    assert_eq!(code, 0);
    assert!(server.admin().apps().await.expect("apps").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ci_key_from_the_command_line_can_push_to_staging_only() {
    let server = TestServer::start().await;
    crate::support::app_with_keys(&server.admin(), "Ci-Android").await;
    let (code, stdout, _) = otadeck(&server, &["key", "create", "GitHub Actions", "--preset", "ci", "--json"]).await;
    assert_eq!(code, 0);
    let key: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(key["scopes"], serde_json::json!(["read", "release:Staging"]));
    let ci =
        otadeck::client::ManagementClient::new(&server.url, key["name"].as_str().expect("secret")).expect("client");
    let dir = tempfile::tempdir().expect("dir");
    let staging = crate::support::upload(crate::support::package(dir.path(), "ci"), crate::support::info("1.0.0"));
    ci.release("Ci-Android", "Staging", &staging).await.expect("Staging is allowed");
    let production = crate::support::upload(crate::support::package(dir.path(), "prod"), crate::support::info("1.0.0"));
    let refused = ci.release("Ci-Android", "Production", &production).await.expect_err("Production is not");
    assert_eq!(refused.status(), Some(403));
    assert!(refused.to_string().contains("release:Production"), "{refused}");
    assert_eq!(ci.rollback("Ci-Android", "Staging", None).await.expect_err("no rollback scope").status(), Some(403));
    let (code, stdout, _) = otadeck(&server, &["key", "list"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("GitHub Actions") && stdout.contains("read release:Staging"), "{stdout}");
}
