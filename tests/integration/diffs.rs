//! Diff packages end to end: the server builds them after a release, the update check links them
//! for the package a device runs, and a virtual device applies them like react-native-code-push and
//! ends with a folder that hashes to the release's package hash.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use otadeck::api::acquisition::{UpdateCheckQuery, UpdateInfo};
use otadeck::api::management::{Package, PackageInfo};
use otadeck::client::{Behavior, DeviceProfile, VirtualDevice};

use crate::support::{TestServer, app_with_keys, code_push_folder, info, noise, upload, zip_folder};

/// A package's files, as written into its zip under `CodePush/`.
type Files = Vec<(&'static str, Vec<u8>)>;

/// A change from one release's files to the next one's.
type Change = Box<dyn Fn(&mut Files)>;

fn zip_of(dir: &Path, name: &str, files: &Files) -> PathBuf {
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(path, bytes)| (*path, bytes.as_slice())).collect();
    let folder = code_push_folder(&dir.join(format!("src-{name}")), &borrowed);
    let zip = dir.join(format!("{name}.zip"));
    zip_folder(&folder, &zip);
    zip
}

/// What a device should end up with: the files at their paths in the package.
fn folder_of(files: &Files) -> BTreeMap<String, Bytes> {
    files.iter().map(|(path, bytes)| (format!("CodePush/{path}"), Bytes::from(bytes.clone()))).collect()
}

fn query(key: &str, running: Option<(&str, &str)>) -> UpdateCheckQuery {
    UpdateCheckQuery {
        deployment_key: Some(key.to_owned()),
        app_version: Some("1.0.0".into()),
        label: running.map(|(label, _)| label.to_owned()),
        package_hash: running.map(|(_, hash)| hash.to_owned()),
        client_unique_id: Some("checker".into()),
        ..UpdateCheckQuery::default()
    }
}

/// The update check of a device running (`label`, `hash`) once the diff builder has linked a diff
/// for it (the release itself is downloadable as a full package at once).
pub async fn diff_offered(server: &TestServer, key: &str, running: (&str, &str), full: &Package) -> UpdateInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = server.device().check_for_update(&query(key, Some(running))).await.expect("update check");
        assert_eq!(answer.package_hash, full.package_hash, "the answer names the full package's hash");
        if answer.download_url != full.blob_url {
            return answer;
        }
        assert!(Instant::now() < deadline, "no diff from {running:?} to {} within 30 s", full.label);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn device(key: &str) -> VirtualDevice {
    VirtualDevice::new(DeviceProfile {
        client_unique_id: "phone".into(),
        deployment_key: key.to_owned(),
        app_version: "1.0.0".into(),
        build_number: None,
        public_key_pem: None,
        network_address: None,
    })
}

fn accept_all() -> Behavior {
    Behavior { accept_optional: 1.0, ..Behavior::default() }
}

/// The names in a zip and its `hotcodepush.json`, if it has one.
fn zip_contents(bytes: &[u8]) -> (Vec<String>, Option<serde_json::Value>) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let names = (0..archive.len())
        .map(|index| archive.by_index(index).expect("entry").name().expect("name").into_owned())
        .collect();
    let manifest = archive.by_name("hotcodepush.json").ok().map(|mut file| {
        let mut text = String::new();
        file.read_to_string(&mut text).expect("read hotcodepush.json");
        serde_json::from_str(&text).expect("hotcodepush.json is JSON")
    });
    (names, manifest)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shape_of_change_reaches_the_device_as_a_diff_that_verifies() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Diffs").await;
    let dir = tempfile::tempdir().expect("dir");
    let http = server.http();

    let mut files: Files = vec![
        ("index.android.bundle", noise(1, 40_000)),
        ("assets/a.png", noise(2, 20_000)),
        ("assets/b.png", noise(3, 20_000)),
        ("assets/dir/c.png", noise(4, 20_000)),
    ];
    let first = admin.release("Diffs", "Staging", &upload(zip_of(dir.path(), "v1", &files), info("^1.0.0"))).await;
    let first = first.expect("v1");
    let mut phone = device(&key);
    for _ in 0..2 {
        phone.start_up(&server.device(), &accept_all()).await.expect("launch");
    }
    assert_eq!(phone.running.as_ref().map(|p| p.package_hash.as_str()), Some(first.package_hash.as_str()));

    // (what changes, new or changed paths in the diff, deletedFiles)
    let shapes: Vec<(&str, Change, Vec<&str>, Vec<&str>)> = vec![
        (
            "the bundle changed",
            Box::new(|f: &mut Files| f[0].1 = noise(11, 40_000)),
            vec!["CodePush/index.android.bundle"],
            vec![],
        ),
        (
            "a file added",
            Box::new(|f: &mut Files| f.push(("assets/d.png", noise(5, 20_000)))),
            vec!["CodePush/assets/d.png"],
            vec![],
        ),
        (
            "a file deleted",
            Box::new(|f: &mut Files| f.retain(|(p, _)| *p != "assets/b.png")),
            vec![],
            vec!["CodePush/assets/b.png"],
        ),
        (
            "a file moved",
            Box::new(|f: &mut Files| {
                for entry in f.iter_mut().filter(|(p, _)| *p == "assets/dir/c.png") {
                    entry.0 = "assets/moved/c.png";
                }
            }),
            vec!["CodePush/assets/moved/c.png"],
            vec!["CodePush/assets/dir/c.png"],
        ),
        (
            "nothing but assets",
            Box::new(|f: &mut Files| {
                for (path, bytes) in f.iter_mut().filter(|(p, _)| p.starts_with("assets/")) {
                    *bytes = noise(path.len() as u8 + 40, 20_000);
                }
            }),
            vec!["CodePush/assets/a.png", "CodePush/assets/d.png", "CodePush/assets/moved/c.png"],
            vec![],
        ),
    ];
    let mut hashes = vec![first.package_hash.clone()];
    let mut last_diff_size = 0;
    for (number, (shape, change, changed, deleted)) in shapes.into_iter().enumerate() {
        change(&mut files);
        let label = format!("v{}", number + 2);
        let zip = zip_of(dir.path(), &label, &files);
        let released = admin.release("Diffs", "Staging", &upload(zip, info("^1.0.0"))).await.expect(&label);
        hashes.push(released.package_hash.clone());
        let running = phone.running.clone().expect("the phone runs a package");
        let offered = diff_offered(&server, &key, (&running.label, &running.package_hash), &released).await;
        assert!(offered.package_size < released.size, "{shape}: the diff is smaller than the package");
        last_diff_size = offered.package_size;

        let diff = http.get(&offered.download_url).send().await.expect("download diff").bytes().await.expect("bytes");
        assert_eq!(diff.len() as u64, offered.package_size, "{shape}: the linked size is the diff's");
        let (mut names, manifest) = zip_contents(&diff);
        assert_eq!(names.remove(0), "hotcodepush.json", "{shape}: the marker comes first");
        names.sort_unstable();
        assert_eq!(names, changed, "{shape}: only new or changed files");
        assert_eq!(manifest, Some(serde_json::json!({ "deletedFiles": deleted })), "{shape}");

        let downloaded = phone.start_up(&server.device(), &accept_all()).await.expect("launch");
        assert_eq!(downloaded.downloaded.as_deref(), Some(label.as_str()), "{shape}");
        assert!(downloaded.applied_diff && !downloaded.diff_fell_back, "{shape}: {downloaded:?}");
        assert_eq!(downloaded.downloaded_bytes, offered.package_size, "{shape}: only the diff was downloaded");
        phone.start_up(&server.device(), &accept_all()).await.expect("launch");
        let now = phone.running.as_ref().expect("installed");
        assert_eq!((now.label.as_str(), now.package_hash.as_str()), (label.as_str(), released.package_hash.as_str()));
        assert_eq!(*now.files, folder_of(&files), "{shape}: the device's folder is the release's");
    }

    // A device on a package the server never diffed gets the full package.
    let latest = admin.history("Diffs", "Staging").await.expect("history").pop().expect("latest");
    // The management API shows the diffs, newest base first (v1 shares nothing: no diff from it).
    let from: Vec<&str> = latest.diff_packages.iter().map(|d| d.from.as_str()).collect();
    assert_eq!(from, ["v5", "v4", "v3", "v2"]);
    assert_eq!(latest.diff_packages[0].size, last_diff_size);
    assert_eq!(latest.diff_packages[0].from_package_hash, hashes[4]);
    let unknown = "0".repeat(64);
    let answer = server.device().check_for_update(&query(&key, Some(("v0", &unknown)))).await.expect("check");
    assert_eq!((answer.download_url.as_str(), answer.package_size), (latest.blob_url.as_str(), latest.size));
    let from_binary = server.device().check_for_update(&query(&key, None)).await.expect("check");
    assert_eq!(from_binary.download_url, latest.blob_url, "a device on its binary gets the full package");

    // v1 shares no file with the latest: a diff would be no smaller, so v1 devices get the package.
    let from_v1 = server.device().check_for_update(&query(&key, Some(("v1", &first.package_hash)))).await;
    assert_eq!(from_v1.expect("check").download_url, latest.blob_url);

    // Blob collection keeps the diffs releases link.
    let offered = server.device().check_for_update(&query(&key, Some(("v2", &hashes[1])))).await;
    let offered = offered.expect("check");
    assert_ne!(offered.download_url, latest.blob_url, "v2 devices get a diff to the latest");
    server.state.collect_blobs(Duration::ZERO).await.expect("collect");
    let after = http.get(&offered.download_url).send().await.expect("download diff");
    assert_eq!(after.status(), 200, "collection kept a linked diff");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diff_that_does_not_verify_falls_back_to_the_full_package() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Fallback").await;
    let dir = tempfile::tempdir().expect("dir");
    let mut files: Files = vec![("index.android.bundle", noise(1, 30_000)), ("assets/a.png", noise(2, 30_000))];
    admin.release("Fallback", "Staging", &upload(zip_of(dir.path(), "v1", &files), info("^1.0.0"))).await.expect("v1");
    let mut phone = device(&key);
    for _ in 0..2 {
        phone.start_up(&server.device(), &accept_all()).await.expect("launch");
    }
    // Something on the phone changed the running package's folder (the hash it reports is stale).
    let running = phone.running.as_mut().expect("v1 installed");
    let mut tampered = (*running.files).clone();
    tampered.insert("CodePush/stray.txt".into(), Bytes::from_static(b"left over"));
    running.files = tampered.into();
    let (label, hash) = (running.label.clone(), running.package_hash.clone());

    files[0].1 = noise(9, 30_000);
    let v2 = admin.release("Fallback", "Staging", &upload(zip_of(dir.path(), "v2", &files), info("^1.0.0"))).await;
    let v2 = v2.expect("v2");
    let diff = diff_offered(&server, &key, (&label, &hash), &v2).await;
    let launch = phone.start_up(&server.device(), &accept_all()).await.expect("launch");
    assert!(launch.diff_fell_back && !launch.applied_diff, "{launch:?}");
    assert_eq!(launch.downloaded_bytes, diff.package_size + v2.size, "the diff, then the full package");
    assert_eq!(launch.corrupt, None);
    phone.start_up(&server.device(), &accept_all()).await.expect("launch");
    let now = phone.running.as_ref().expect("installed");
    assert_eq!((now.label.as_str(), now.package_hash.as_str()), ("v2", v2.package_hash.as_str()));
    assert_eq!(*now.files, folder_of(&files), "the full package replaced the tampered folder");
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_builds_diffs_for_its_deployment_and_rollback_keeps_the_old_ones() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (staging, production) = app_with_keys(&admin, "Moves").await;
    let dir = tempfile::tempdir().expect("dir");
    let package = |name: &str, seed: u8| {
        let files: Files = vec![("index.android.bundle", noise(seed, 30_000)), ("assets/a.png", noise(99, 30_000))];
        upload(zip_of(dir.path(), name, &files), info("^1.0.0"))
    };
    let a = admin.release("Moves", "Staging", &package("a", 1)).await.expect("A");
    let b = admin.release("Moves", "Staging", &package("b", 2)).await.expect("B");
    let from_a_to_b = diff_offered(&server, &staging, ("v1", &a.package_hash), &b).await;
    let c = admin.release("Moves", "Staging", &package("c", 3)).await.expect("C");
    diff_offered(&server, &staging, ("v2", &b.package_hash), &c).await;
    let mut on_c = device(&staging);
    for _ in 0..2 {
        on_c.start_up(&server.device(), &accept_all()).await.expect("launch");
    }

    // Production runs a package Staging never had; promoting B there diffs from it.
    let p = admin.release("Moves", "Production", &package("p", 4)).await.expect("P");
    let promoted = admin.promote("Moves", "Staging", "Production", PackageInfo::default()).await.expect("promote");
    assert_eq!(promoted.package_hash, c.package_hash, "the latest of Staging");
    let from_p = diff_offered(&server, &production, ("v1", &p.package_hash), &promoted).await;
    assert!(from_p.package_size < promoted.size);

    // Rolling Staging back to B: B's diff from A comes along at once, and one from C follows.
    let rolled = admin.rollback("Moves", "Staging", None).await.expect("rollback");
    assert_eq!(rolled.package_hash, b.package_hash);
    let at_once = server.device().check_for_update(&query(&staging, Some(("v1", &a.package_hash)))).await;
    let at_once = at_once.expect("check");
    assert_eq!(
        (at_once.download_url.as_str(), at_once.package_size),
        (from_a_to_b.download_url.as_str(), from_a_to_b.package_size)
    );
    let from_c = diff_offered(&server, &staging, ("v3", &c.package_hash), &rolled).await;
    assert!(from_c.package_size < rolled.size);
    let launch = on_c.start_up(&server.device(), &accept_all()).await.expect("launch");
    assert!(launch.applied_diff, "{launch:?}");
    on_c.start_up(&server.device(), &accept_all()).await.expect("launch");
    assert_eq!(on_c.running.as_ref().map(|p| p.package_hash.clone()), Some(b.package_hash.clone()));
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_on_a_store_build_with_a_registered_bundle_get_diffs_from_it() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Binary").await;
    let dir = tempfile::tempdir().expect("dir");
    let shipped: Files = vec![("index.ios.bundle", noise(1, 30_000)), ("assets/a.png", noise(2, 30_000))];
    let mut files = shipped.clone();
    files[0].1 = noise(3, 30_000);
    // The release comes first; registering the binary afterwards still gives it a diff.
    let v1 = admin.release("Binary", "Staging", &upload(zip_of(dir.path(), "v1", &files), info("^1.0.0"))).await;
    let v1 = v1.expect("v1");
    let borrowed: Vec<(&str, &[u8])> = shipped.iter().map(|(path, bytes)| (*path, bytes.as_slice())).collect();
    let bundle_folder = code_push_folder(&dir.path().join("shipped"), &borrowed);
    let lines = otadeck::bundle::package::manifest_lines(&bundle_folder).expect("manifest");
    let new = otadeck::api::management::NewBinary {
        platform: Some("ios".into()),
        app_version: Some("1.0.0".into()),
        fingerprint: Some(serde_json::json!({})),
        bundle_manifest: Some(lines),
        ..otadeck::api::management::NewBinary::default()
    };
    let binary = admin.register_binary("Binary", &new).await.expect("register");
    let phone = device(&key).with_binary_bundle(std::sync::Arc::new(folder_of(&shipped)));
    let shipped_hash = otadeck::client::virtual_device::folder_hash(&folder_of(&shipped));
    assert_eq!(binary.bundle_hash.as_deref(), Some(shipped_hash.as_str()), "the hash the device names");

    let mut query = query(&key, None);
    query.package_hash = Some(shipped_hash);
    let deadline = Instant::now() + Duration::from_secs(30);
    let offered = loop {
        let answer = server.device().check_for_update(&query).await.expect("check");
        if answer.download_url != v1.blob_url {
            break answer;
        }
        assert!(Instant::now() < deadline, "no diff from the binary's bundle within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(offered.package_size < v1.size);
    let history = admin.history("Binary", "Staging").await.expect("history");
    let shown: Vec<(&str, u64)> = history[0].diff_packages.iter().map(|d| (d.from.as_str(), d.size)).collect();
    assert_eq!(shown, [("binary 1.0.0", offered.package_size)]);

    let mut phone = phone;
    let launch = phone.start_up(&server.device(), &accept_all()).await.expect("launch");
    assert!(launch.applied_diff, "{launch:?}");
    assert_eq!(launch.downloaded_bytes, offered.package_size);
    phone.start_up(&server.device(), &accept_all()).await.expect("launch");
    let now = phone.running.as_ref().expect("installed");
    assert_eq!(now.package_hash, v1.package_hash);
    assert_eq!(*now.files, folder_of(&files));

    let bad =
        otadeck::api::management::NewBinary { bundle_manifest: Some(vec!["CodePush/a.js:not-a-digest".into()]), ..new };
    let refused = admin.register_binary("Binary", &bad).await.expect_err("a bad manifest line");
    assert!(refused.to_string().contains("bundleManifest"), "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_with_nothing_to_diff_from_is_never_waiting_for_the_diff_builder() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Fresh").await;
    let dir = tempfile::tempdir().expect("dir");
    let files: Files = vec![("index.android.bundle", noise(1, 30_000))];
    let waiting = || server.state.store.run(|c| otadeck::server::store::diffs::pending(c, 10));

    admin.release("Fresh", "Staging", &upload(zip_of(dir.path(), "v1", &files), info("^1.0.0"))).await.expect("v1");
    assert_eq!(waiting().await.expect("pending"), vec![], "a first release has no earlier package");
    // So the diff builder writes nothing for it and leaves the warm update-check cache alone.
    assert!(server.device().check_for_update(&query(&key, None)).await.expect("check").is_available);
    let warmed = server.state.cache.generation();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(server.state.cache.generation(), warmed);
    assert!(server.state.cache.get(&key).is_some(), "the snapshot is still cached");

    // A release for another store version range has nothing a device could run before it either.
    let other = upload(zip_of(dir.path(), "v2", &files), info("^2.0.0"));
    admin.release("Fresh", "Staging", &other).await.expect("v2 for 2.x");
    assert_eq!(waiting().await.expect("pending"), vec![]);
}
