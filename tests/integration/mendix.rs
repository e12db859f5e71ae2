//! The Mendix runtime OTA gateway against a stub Mendix runtime on loopback, driven by virtual
//! Mendix devices that follow the reference doc: pass-through, the check's exact answer, staged
//! rollouts that stay sticky, rollback, halt, upload validation, devices without cookies.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use otadeck::api::management::PackageInfo;
use otadeck::api::mendix::{ChannelMode, MendixChannel};
use otadeck::client::ManagementClient;
use otadeck::client::mendix_device::{MendixDeviceProfile, MendixHttp, MendixStart, VirtualMendixDevice};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::{TestServer, upload};

/// The deployment ID the stub runtime serves, and the one inside the binaries' embedded bundle.
pub const RUNTIME_ID: &str = "638405879271646879";

/// A stub Mendix runtime: answers `/xas/` (echoing what it got, or its own OTA answer), echoes
/// headers, streams and counts large bodies. Returns its URL with a trailing `/`.
pub async fn stub_runtime() -> String {
    let app = axum::Router::new().fallback(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind stub");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("stub runs") });
    url
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        map.insert(name.as_str().to_owned(), json!(value.to_str().unwrap_or("?")));
    }
    Value::Object(map)
}

async fn stub(request: Request) -> Response {
    let (method, path, query) =
        (request.method().clone(), request.uri().path().to_owned(), request.uri().query().map(str::to_owned));
    let headers = request.headers().clone();
    if path == "/ota/runtime.zip" {
        return ([(header::CONTENT_TYPE, "application/zip")], bundle_zip_bytes("android", RUNTIME_ID, "runtime"))
            .into_response();
    }
    if path == "/big" {
        let chunks = futures_util::stream::iter(
            (0..320_u32).map(|n| Ok::<_, std::io::Error>(Bytes::from(vec![(n % 251) as u8; 65_536]))),
        );
        return Body::from_stream(chunks).into_response();
    }
    if path.starts_with("/status/") {
        let code = path.trim_start_matches("/status/").parse().unwrap_or(500);
        return (StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "status").into_response();
    }
    // Stream the body through a hash: large bodies are never held whole.
    let mut stream = request.into_body().into_data_stream();
    let (mut length, mut hasher, mut head) = (0_usize, sha2::Sha256::new(), Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("body");
        length += chunk.len();
        hasher.update(&chunk);
        if head.len() < 100_000 {
            head.extend_from_slice(&chunk);
        }
    }
    let action = serde_json::from_slice::<Value>(&head).ok().and_then(|v| v["action"].as_str().map(str::to_owned));
    if path == "/xas/" && action.as_deref() == Some("get_ota_info") {
        return axum::Json(json!({"otaEnabled": true, "deploymentID": RUNTIME_ID, "bundlePath": "ota/runtime.zip",
            "satisfiesNativeDependencies": true, "satisfiesNativeBinaryVersion": true}))
        .into_response();
    }
    let echo = json!({
        "method": method.as_str(), "path": path, "query": query, "headers": headers_json(&headers),
        "bytes": length, "sha256": format!("{:x}", hasher.finalize()), "action": action,
    });
    ([(header::SET_COOKIE, "XASSESSIONID=runtime-session; Path=/; HttpOnly")], axum::Json(echo)).into_response()
}

/// A JS bundle with `id` compiled in, zipped as MxBuild lays out a bundle folder.
fn bundle_zip_bytes(platform: &str, id: &str, name: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(format!("index.{platform}.bundle"), options).expect("entry");
    let js = format!("__d(function(g,r,i,a,m,e,d){{e.default={{deploymentID:\"{id}\",checkForOTAUpdates:!0}}}},42);");
    zip.write_all(js.as_bytes()).expect("write");
    zip.start_file("res/raw/app_logo.txt", options).expect("asset");
    zip.write_all(name.as_bytes()).expect("write");
    zip.finish().expect("finish").into_inner()
}

pub fn bundle_zip(dir: &std::path::Path, name: &str, platform: &str, id: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.zip"));
    std::fs::write(&path, bundle_zip_bytes(platform, id, name)).expect("zip");
    path
}

/// `Shop-Android`/`Shop-iOS` with a channel on `Production` for host 127.0.0.1 in front of `upstream`.
async fn channel(admin: &ManagementClient, upstream: &str, mode: ChannelMode) {
    admin.create_app("Shop-Android").await.expect("android app");
    admin.create_app("Shop-iOS").await.expect("ios app");
    let channel = MendixChannel {
        host: "127.0.0.1".into(),
        upstream: upstream.into(),
        android_app: "Shop-Android".into(),
        ios_app: "Shop-iOS".into(),
        deployment: "Production".into(),
        mode,
    };
    let stored = admin.set_mendix_channel(&channel).await.expect("channel");
    assert_eq!(stored.host, "127.0.0.1");
}

async fn release(admin: &ManagementClient, dir: &std::path::Path, id: &str, rollout: Option<u8>) {
    let mut info = PackageInfo { app_version: Some("*".into()), ..PackageInfo::default() };
    info.rollout = rollout.map(|r| json!(r));
    let zip = bundle_zip(dir, id, "android", id);
    admin.release("Shop-Android", "Production", &upload(zip, info)).await.expect("mendix release");
}

fn phone(gateway: &str, dir: &std::path::Path, keeps_cookies: bool) -> VirtualMendixDevice {
    VirtualMendixDevice::new(profile(gateway, keeps_cookies), dir).expect("device")
}

pub fn profile(gateway: &str, keeps_cookies: bool) -> MendixDeviceProfile {
    MendixDeviceProfile {
        runtime_url: gateway.to_owned(),
        platform: "android".into(),
        native_binary_version: 40,
        native_dependencies: BTreeMap::new(),
        embedded_deployment_id: RUNTIME_ID.into(),
        app_version: "1.0.0-7".into(),
        keeps_cookies,
        fails_to_apply: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_but_the_ota_check_streams_through_to_the_runtime_unchanged() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    channel(&server.admin(), &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let http =
        reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // A 20 MB synchronize-style body without a length, then a 20 MB answer.
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let chunks = futures_util::stream::iter(0..320_u32).map(move |n| {
        counter.fetch_add(65_536, Ordering::Relaxed);
        Ok::<_, std::io::Error>(Bytes::from(vec![(n % 7) as u8; 65_536]))
    });
    let echo: Value = http
        .post(format!("{gateway}xas/"))
        .header("X-Custom", "kept")
        .header(header::COOKIE, "XASSESSIONID=abc")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("large post")
        .json()
        .await
        .expect("echo");
    let mut expected = sha2::Sha256::new();
    for n in 0..320_u32 {
        expected.update(vec![(n % 7) as u8; 65_536]);
    }
    assert_eq!(echo["bytes"], json!(20_971_520));
    assert_eq!(echo["sha256"], json!(format!("{:x}", expected.finalize())), "the body arrives intact");
    assert_eq!(echo["headers"]["x-custom"], json!("kept"));
    assert_eq!(echo["headers"]["cookie"], json!("XASSESSIONID=abc"));
    assert_eq!(echo["headers"]["x-forwarded-for"], json!("127.0.0.1"));
    assert_eq!(echo["headers"]["x-forwarded-proto"], json!("http"));
    assert!(echo["headers"]["x-forwarded-host"].as_str().is_some_and(|h| h.starts_with("127.0.0.1:")));

    let big = http.get(format!("{gateway}big")).send().await.expect("big");
    assert_eq!(big.status(), 200);
    let body = big.bytes().await.expect("body");
    assert_eq!(body.len(), 20_971_520);
    assert!(body.chunks(65_536).enumerate().all(|(n, chunk)| chunk.iter().all(|b| usize::from(*b) == n % 251)));

    // Other actions, query strings, cookies from the runtime and status codes pass unchanged.
    let small = http
        .post(format!("{gateway}xas/?x=1"))
        .body(r#"{"action":"get_session_data","params":{}}"#)
        .send()
        .await
        .expect("other action");
    assert_eq!(small.headers()[header::SET_COOKIE], "XASSESSIONID=runtime-session; Path=/; HttpOnly");
    let small: Value = small.json().await.expect("json");
    assert_eq!((small["action"].clone(), small["query"].clone()), (json!("get_session_data"), json!("x=1")));
    let teapot = http.get(format!("{gateway}status/418")).send().await.expect("status");
    assert_eq!(teapot.status(), 418);
    let unknown =
        http.get(format!("{gateway}p/home")).header(header::HOST, "other.example").send().await.expect("host");
    assert_eq!(unknown.status(), 404, "a host without a channel");

    // A runtime that is down: a clear 502, not a hang.
    server
        .admin()
        .set_mendix_channel(&MendixChannel {
            host: "127.0.0.1".into(),
            upstream: format!("http://127.0.0.1:{}/", crate::support::free_port()),
            android_app: "Shop-Android".into(),
            ios_app: "Shop-iOS".into(),
            deployment: "Production".into(),
            mode: ChannelMode::Serve,
        })
        .await
        .expect("channel to nowhere");
    let down = http.get(format!("{gateway}p/home")).send().await.expect("down");
    assert_eq!(down.status(), 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ota_check_gets_exactly_the_answer_the_mendix_client_expects() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let check = json!({"action": "get_ota_info",
        "params": {"platform": "android", "nativeDependencies": {"react-native-maps": "1.20.1"}, "nativeBinaryVersion": 40}});

    let none: Value =
        http.post(format!("{gateway}xas/")).json(&check).send().await.expect("check").json().await.expect("json");
    assert_eq!(none["otaEnabled"], json!(false), "no release yet: devices keep what they run");

    release(&admin, dir.path(), "638700000000000001", None).await;
    let answer = http.post(format!("{gateway}xas/")).json(&check).send().await.expect("check");
    assert_eq!(answer.status(), 200);
    let cookie = answer.headers()[header::SET_COOKIE].to_str().expect("cookie").to_owned();
    assert!(
        cookie.starts_with("otadeck_device=") && cookie.contains("HttpOnly") && cookie.contains("Max-Age="),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "not over plain HTTP");
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["otaEnabled"], json!(true));
    assert_eq!(body["deploymentID"], json!("638700000000000001"), "a string, never a number");
    assert_eq!(
        (body["satisfiesNativeDependencies"].clone(), body["satisfiesNativeBinaryVersion"].clone()),
        (json!(true), json!(true))
    );
    let path = body["bundlePath"].as_str().expect("bundlePath");
    assert!(path.starts_with("otadeck/b/") && path.ends_with("/638700000000000001.zip"), "{path}");
    let zip = http.get(format!("{gateway}{path}")).send().await.expect("download");
    assert_eq!(zip.status(), 200);
    assert!(zip.bytes().await.expect("zip").starts_with(b"PK"));
    let guessed =
        http.get(format!("{gateway}otadeck/b/not-a-token/-/638700000000000001.zip")).send().await.expect("guess");
    assert_eq!(guessed.status(), 404, "bundle URLs need their token");

    // The device's own virtual run: download, deploy, reload, and nothing more next time.
    let mut device = phone(&gateway, dir.path().join("phone").as_path(), true);
    let started = device.start().await;
    assert_eq!(started, MendixStart::Updated { from: RUNTIME_ID.into(), to: "638700000000000001".into() });
    assert_eq!(device.start().await, MendixStart::UpToDate);
    assert_eq!(device.downloads, 1);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("phone/Ota/manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["relativeBundlePath"], json!("638700000000000001/index.android.bundle"));
    assert_eq!(manifest["appVersion"], json!("1.0.0-7"));

    // Made-up device tags in the bundle path count for nothing: no forged downloads or failures.
    let token = path.split('/').nth(2).expect("token");
    for n in 0..10 {
        let forged = format!("{gateway}otadeck/b/{token}/{n:024x}/638700000000000001.zip");
        for _ in 0..2 {
            assert_eq!(http.get(&forged).send().await.expect("forged download").status(), 200);
        }
    }
    let metrics = admin.metrics("Shop-Android", "Production").await.expect("metrics");
    assert_eq!(
        (metrics["v1"].downloaded, metrics["v1"].failed),
        (Some(2), Some(0)),
        "the raw download and the phone, no forged ones"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_to_a_mendix_channel_must_be_runtime_ota_zips_with_a_known_id() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let dir = tempfile::tempdir().expect("dir");
    let info = || PackageInfo { app_version: Some("*".into()), ..PackageInfo::default() };
    let refused = |error: otadeck::client::ClientError| (error.status(), error.to_string());

    let ios_layout = bundle_zip(dir.path(), "wrong-platform", "ios", "638700000000000002");
    let (status, message) =
        refused(admin.release("Shop-Android", "Production", &upload(ios_layout, info())).await.expect_err("layout"));
    assert_eq!(status, Some(400));
    assert!(message.contains("index.android.bundle must be at the zip's root"), "{message}");

    let mut claimed = info();
    claimed.mendix_deployment_id = Some("638799999999999999".into());
    let zip = bundle_zip(dir.path(), "mismatch", "android", "638700000000000003");
    let (status, message) =
        refused(admin.release("Shop-Android", "Production", &upload(zip, claimed)).await.expect_err("mismatch"));
    assert_eq!(status, Some(400), "an advertised ID other than the compiled one would loop devices");
    assert!(message.contains("638700000000000003") && message.contains("638799999999999999"), "{message}");

    let no_id = dir.path().join("no-id.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&no_id).expect("zip"));
    zip.start_file("index.android.bundle", zip::write::SimpleFileOptions::default()).expect("entry");
    zip.write_all(b"console.log('no config here')").expect("write");
    zip.finish().expect("finish");
    let (status, message) =
        refused(admin.release("Shop-Android", "Production", &upload(no_id, info())).await.expect_err("no id"));
    assert_eq!(status, Some(400));
    assert!(message.contains("deploymentID"), "{message}");

    let slip = dir.path().join("slip.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&slip).expect("zip"));
    zip.start_file("index.android.bundle", zip::write::SimpleFileOptions::default()).expect("entry");
    zip.write_all(br#"deploymentID:"638700000000000004""#).expect("write");
    zip.start_file("../../files/evil.js", zip::write::SimpleFileOptions::default()).expect("entry");
    zip.write_all(b"x").expect("write");
    zip.finish().expect("finish");
    let (status, message) =
        refused(admin.release("Shop-Android", "Production", &upload(slip, info())).await.expect_err("zip-slip"));
    assert_eq!(status, Some(400));
    assert!(message.contains("unsafe path"), "{message}");

    assert!(admin.history("Shop-Android", "Production").await.expect("history").is_empty(), "nothing was stored");
}

async fn start_all(devices: &mut [VirtualMendixDevice]) -> Vec<MendixStart> {
    otadeck::sim::mendix::start_all(devices, 64).await
}

fn running(devices: &[VirtualMendixDevice], id: &str) -> usize {
    otadeck::sim::mendix::running(devices, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_10000_rolls_out_25_percent_sticky_then_rolls_back_and_halts() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    // v1 is what the binaries carry (so no one downloads it), v2 is the new bundle.
    let (v1, v2) = (RUNTIME_ID, "638700000000000010");
    release(&admin, dir.path(), v1, None).await;
    let http = MendixHttp::new("android").expect("http");
    let mut devices: Vec<VirtualMendixDevice> = (0..10_000)
        .map(|n| {
            VirtualMendixDevice::with_http(
                profile(&gateway, true),
                &dir.path().join(format!("phone-{n}")),
                http.clone(),
            )
        })
        .collect();
    let first = start_all(&mut devices).await;
    let odd = first.iter().find(|o| **o != MendixStart::UpToDate);
    assert!(odd.is_none(), "everyone runs v1 and gets a cookie: {odd:?}");

    release(&admin, dir.path(), v2, Some(25)).await;
    start_all(&mut devices).await;
    let on_v2 = running(&devices, v2);
    assert!((2_300..=2_700).contains(&on_v2), "25 % ± 2 points of 10,000: {on_v2}");
    let first_wave: Vec<bool> = devices.iter().map(|d| d.running_deployment_id() == v2).collect();
    start_all(&mut devices).await;
    assert_eq!(running(&devices, v2), on_v2, "the same devices at the next start: no flips");

    let raise = PackageInfo { rollout: Some(json!(50)), ..PackageInfo::default() };
    admin.patch_release("Shop-Android", "Production", raise).await.expect("50 %");
    start_all(&mut devices).await;
    let now_v2: Vec<bool> = devices.iter().map(|d| d.running_deployment_id() == v2).collect();
    assert!(
        first_wave.iter().zip(&now_v2).all(|(was, is)| !was || *is),
        "a device on v2 never goes back as the rollout grows"
    );
    let half = now_v2.iter().filter(|v| **v).count();
    assert!((4_800..=5_200).contains(&half), "50 % ± 2 points: {half}");
    let downloads: u32 = devices.iter().map(|d| d.downloads).sum();
    assert_eq!(usize::try_from(downloads).expect("count"), half, "one download per device that moved");

    // Halt: devices stay where they are; nobody new gets v2.
    let pause = PackageInfo { is_paused: Some(true), ..PackageInfo::default() };
    admin.patch_release("Shop-Android", "Production", pause).await.expect("halt");
    let halted = start_all(&mut devices).await;
    assert!(halted.iter().all(|o| *o == MendixStart::UpToDate), "a halt moves no device");
    assert_eq!(running(&devices, v2), half);

    // Rollback: everyone is told to run v1 again (its old ID and zip).
    admin.rollback("Shop-Android", "Production", None).await.expect("rollback");
    start_all(&mut devices).await;
    assert_eq!(running(&devices, v1), 10_000, "all devices back on v1");
    assert_eq!(running(&devices, v2), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_whose_cookie_store_drops_the_cookie_never_flips() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    release(&admin, dir.path(), RUNTIME_ID, None).await;
    release(&admin, dir.path(), "638700000000000020", Some(99)).await;
    let mut forgetful = phone(&gateway, &dir.path().join("forgetful"), false);
    for _ in 0..20 {
        assert_eq!(forgetful.start().await, MendixStart::UpToDate);
    }
    assert_eq!(forgetful.downloads, 0, "outside every partial rollout, so never a download");
    let mut keeper = phone(&gateway, &dir.path().join("keeper"), true);
    assert_eq!(keeper.start().await, MendixStart::UpToDate, "first start: no cookie yet");
    let second = keeper.start().await;
    assert!(matches!(second, MendixStart::Updated { .. } | MendixStart::UpToDate), "{second:?}");

    // The operator sees that checks arrive without the cookie (written every few seconds).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let without = loop {
        let checks = admin.mendix_checks("127.0.0.1").await.expect("checks");
        let without: i64 = checks.iter().filter(|c| !c.with_cookie).map(|c| c.count).sum();
        let with: i64 = checks.iter().filter(|c| c.with_cookie).map(|c| c.count).sum();
        if without + with >= 22 || std::time::Instant::now() > deadline {
            assert!(with >= 1, "{checks:?}");
            assert!(checks.iter().all(|c| c.platform == "android" && c.native_binary_version == "40"));
            break without;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(without, 21, "20 starts of the forgetful phone and the keeper's first");
    let envs = [("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", crate::support::ADMIN_KEY)];
    let (code, stdout, stderr) = crate::support::run_otadeck(&["mendix", "checks", "--host", "127.0.0.1"], &envs).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.lines().any(|l| l.contains("without cookie") && l.trim_end().ends_with(" 21")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_metrics_count_installs_and_a_re_download_loop_trips_the_health_gate() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    let policy: otadeck::api::management::RolloutPolicy = serde_json::from_value(
        json!({"steps": [100], "intervalMs": 3_600_000, "maxFailureRatio": 0.2, "minReports": 10, "minFailurePrefixes": 1}),
    )
    .expect("policy");
    admin.set_policy("Shop-Android", "Production", &policy).await.expect("gate");
    release(&admin, dir.path(), RUNTIME_ID, None).await;
    let bad = "638700000000000030";
    let http = MendixHttp::new("android").expect("http");
    let mut devices: Vec<VirtualMendixDevice> = (0..40)
        .map(|n| {
            let mut profile = profile(&gateway, true);
            if n % 10 < 3 {
                profile.fails_to_apply = vec![bad.to_owned()];
            }
            VirtualMendixDevice::with_http(profile, &dir.path().join(format!("phone-{n}")), http.clone())
        })
        .collect();
    start_all(&mut devices).await;
    release(&admin, dir.path(), bad, None).await;
    start_all(&mut devices).await;

    let metrics = admin.metrics("Shop-Android", "Production").await.expect("metrics");
    let v2 = &metrics["v2"];
    assert_eq!((v2.downloaded, v2.installed, v2.failed), (Some(40), Some(28), Some(0)), "one start: 28 applied it");
    assert_eq!(v2.unconfirmed, Some(0), "nothing is overdue yet");
    // Eleven minutes later, the 12 phones that could not apply it have not checked since.
    server
        .state
        .store
        .run(|c| {
            c.execute(
                "UPDATE mendix_downloads SET last_download = last_download - 660000",
                otadeck::server::store::params![],
            )
        })
        .await
        .expect("age the downloads");
    server
        .state
        .store
        .run(|c| {
            c.execute("UPDATE mendix_devices SET last_check = last_check - 660000", otadeck::server::store::params![])
        })
        .await
        .expect("age the checks");
    let metrics = admin.metrics("Shop-Android", "Production").await.expect("metrics");
    assert_eq!(metrics["v2"].unconfirmed, Some(12), "downloaded, never checked again: possible crashes");
    start_all(&mut devices).await;
    let history = admin.history("Shop-Android", "Production").await.expect("history");
    assert!(history[1].is_paused, "12 of 40 re-downloading devices (30 % > 20 %) halt the release");
    let events = admin.events("Shop-Android", "Production").await.expect("events");
    assert!(events.iter().any(|e| e.kind == "halted" && e.detail.contains("inferred")), "{events:?}");

    // Halted: the 28 keep v2, the 12 failing phones are told to stay on what they run.
    let outcomes = start_all(&mut devices).await;
    assert!(outcomes.iter().all(|o| *o == MendixStart::UpToDate), "{outcomes:?}");
    assert_eq!(running(&devices, bad), 28);
    let metrics = admin.metrics("Shop-Android", "Production").await.expect("metrics");
    assert_eq!((metrics["v2"].installed, metrics["v2"].failed, metrics["v2"].active), (Some(28), Some(12), 28));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_sets_and_lists_mendix_channels() {
    let server = TestServer::start().await;
    let admin = server.admin();
    admin.create_app("Shop-Android").await.expect("android app");
    admin.create_app("Shop-iOS").await.expect("ios app");
    let envs = [("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", crate::support::ADMIN_KEY)];
    let set = [
        "mendix",
        "channel",
        "set",
        "--android-app",
        "Shop-Android",
        "--ios-app",
        "Shop-iOS",
        "--deployment",
        "Production",
        "--host",
        "Shop.Example.com",
        "--upstream",
        "https://runtime.internal:8080",
        "--mode",
        "observe",
        "--json",
    ];
    let (code, stdout, stderr) = crate::support::run_otadeck(&set, &envs).await;
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(answer["channel"]["host"], json!("shop.example.com"));
    assert_eq!(answer["channel"]["upstream"], json!("https://runtime.internal:8080/"));
    assert_eq!(answer["channel"]["mode"], json!("observe"));
    let (code, stdout, _) = crate::support::run_otadeck(&["mendix", "channel", "list"], &envs).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("shop.example.com -> https://runtime.internal:8080/ (observe)"), "{stdout}");
    let mut bad = set;
    bad[12] = "ftp://runtime";
    let (code, _, stderr) = crate::support::run_otadeck(&bad, &envs).await;
    assert_eq!(code, 4, "refused by the server");
    assert!(stderr.contains("upstream"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn observe_then_import_then_take_over_with_a_rollback_target_from_day_one() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Observe).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    // These phones carry an older bundle than the runtime serves.
    let old = "638400000000000000";
    let mut device = VirtualMendixDevice::new(
        MendixDeviceProfile { embedded_deployment_id: old.into(), ..profile(&gateway, true) },
        &dir.path().join("phone"),
    )
    .expect("device");

    // Observe: the runtime answers, through the gateway, and otadeck records what it served.
    assert_eq!(device.start().await, MendixStart::Updated { from: old.into(), to: RUNTIME_ID.into() });
    let seen = admin.mendix_observations("127.0.0.1").await.expect("observations");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0].platform.as_str(), seen[0].native_binary_version.as_str()), ("android", "40"));
    assert_eq!((seen[0].deployment_id.as_str(), seen[0].bundle_path.as_str()), (RUNTIME_ID, "ota/runtime.zip"));
    assert_eq!(seen[0].count, 2, "the check and the reload's check");
    assert!(admin.history("Shop-Android", "Production").await.expect("history").is_empty(), "nothing decided yet");

    let envs = [("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", crate::support::ADMIN_KEY)];
    let (code, stdout, stderr) =
        crate::support::run_otadeck(&["mendix", "observations", "--host", "127.0.0.1"], &envs).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("deploymentID {RUNTIME_ID} at ota/runtime.zip (2 checks)")), "{stdout}");

    // Import: the runtime's bundle becomes v1, with the ID the runtime advertises.
    let import = ["mendix", "import", "--host", "127.0.0.1", "--platform", "android"];
    let (code, stdout, stderr) = crate::support::run_otadeck(&import, &envs).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Imported the runtime's android bundle as v1"), "{stdout}");
    let audit = admin.audit(&otadeck::api::management::AuditQuery::default()).await.expect("audit");
    assert_eq!(audit[0].action, "mendix.import");
    assert_eq!(audit[0].after.as_ref().expect("after")["deploymentID"], json!(RUNTIME_ID));

    // Take over: otadeck answers; a new bundle, then a rollback to the imported one.
    let mut serve = admin.mendix_channels().await.expect("channels").remove(0);
    serve.mode = ChannelMode::Serve;
    admin.set_mendix_channel(&serve).await.expect("serve");
    assert_eq!(device.start().await, MendixStart::UpToDate, "otadeck serves what the runtime served");
    release(&admin, dir.path(), "638700000000000040", None).await;
    assert_eq!(device.start().await, MendixStart::Updated { from: RUNTIME_ID.into(), to: "638700000000000040".into() });
    admin.rollback("Shop-Android", "Production", Some("v1")).await.expect("rollback to the imported bundle");
    assert_eq!(device.start().await, MendixStart::Updated { from: "638700000000000040".into(), to: RUNTIME_ID.into() });
}

#[tokio::test(flavor = "multi_thread")]
async fn push_update_packs_mxbuild_output_for_both_platforms_and_devices_install_it() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    admin.create_app("FieldService-Android").await.expect("android app");
    admin.create_app("FieldService-iOS").await.expect("ios app");
    let channel = MendixChannel {
        host: "127.0.0.1".into(),
        upstream: upstream.clone(),
        android_app: "FieldService-Android".into(),
        ios_app: "FieldService-iOS".into(),
        deployment: "Production".into(),
        mode: ChannelMode::Serve,
    };
    admin.set_mendix_channel(&channel).await.expect("channel");
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");

    // MxBuild's deployment/native/bundle, as `mxbuild --target=deploy --native-packager` leaves it.
    let id = "638800000000000001";
    let bundle = dir.path().join("deployment/native/bundle");
    let js = format!("__d(function(g,r,i,a,m,e,d){{e.default={{deploymentID:\"{id}\",checkForOTAUpdates:!0}}}},7);");
    for (path, contents) in [
        ("android/assets/index.android.bundle", js.as_str()),
        ("android/res/raw/app_config.json", "{}"),
        ("android/res/drawable-mdpi/logo.png", "png"),
        ("iOS/index.ios.bundle", js.as_str()),
        ("iOS/assets/logo.png", "png"),
    ] {
        let file = bundle.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, contents).expect("write");
    }
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mendix-app");
    let (project, bundle) = (project.to_string_lossy().into_owned(), bundle.to_string_lossy().into_owned());
    let envs = [("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", crate::support::ADMIN_KEY)];
    let push = [
        "release",
        "push-update",
        "--project",
        &project,
        "--deployment",
        "Production",
        "--target-version",
        "*",
        "--rollout-percentage",
        "100",
        "--confirm-offline-checklist",
        "--bundle-dir",
        &bundle,
    ];
    let (code, stdout, stderr) = crate::support::run_otadeck(&push, &envs).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    for (platform, asset) in [("android", "raw/app_config.json"), ("ios", "assets/logo.png")] {
        let phone_dir = dir.path().join(format!("phone-{platform}"));
        let mut device = VirtualMendixDevice::new(
            MendixDeviceProfile { platform: platform.into(), ..profile(&gateway, true) },
            &phone_dir,
        )
        .expect("device");
        assert_eq!(device.start().await, MendixStart::Updated { from: RUNTIME_ID.into(), to: id.into() }, "{platform}");
        assert!(phone_dir.join("Ota").join(id).join(asset).is_file(), "{platform}: {asset} next to the bundle");
    }
    let android = dir.path().join("phone-android/Ota").join(id);
    assert!(android.join("drawable-mdpi/logo.png").is_file() && !android.join("assets").exists(), "Android layout");

    // Staged: a second bundle at 50 % from the CLI, raised to 100 %, then rolled back from the CLI.
    let id2 = "638800000000000002";
    let js2 = js.replace(id, id2);
    std::fs::write(dir.path().join("deployment/native/bundle/android/assets/index.android.bundle"), &js2)
        .expect("write");
    std::fs::write(dir.path().join("deployment/native/bundle/iOS/index.ios.bundle"), &js2).expect("write");
    let mut half = push.to_vec();
    half[9] = "50";
    let (code, _, stderr) = crate::support::run_otadeck(&half, &envs).await;
    assert_eq!(code, 0, "{stderr}");
    let http = MendixHttp::new("android").expect("http");
    let mut fleet: Vec<VirtualMendixDevice> = (0..200)
        .map(|n| {
            VirtualMendixDevice::with_http(
                profile(&gateway, true),
                &dir.path().join(format!("fleet-{n}")),
                http.clone(),
            )
        })
        .collect();
    start_all(&mut fleet).await;
    start_all(&mut fleet).await;
    let on_new = running(&fleet, id2);
    assert!((70..=130).contains(&on_new), "about half of 200: {on_new}");
    assert_eq!(on_new + running(&fleet, id), 200);
    let project_args = ["--project", project.as_str(), "--deployment", "Production"];
    let raise = [&["release", "patch-update", "--rollout-percentage", "100"][..], &project_args].concat();
    let (code, _, stderr) = crate::support::run_otadeck(&raise, &envs).await;
    assert_eq!(code, 0, "{stderr}");
    start_all(&mut fleet).await;
    assert_eq!(running(&fleet, id2), 200);
    let rollback = [&["release", "rollback-update"][..], &project_args].concat();
    let (code, _, stderr) = crate::support::run_otadeck(&rollback, &envs).await;
    assert_eq!(code, 0, "{stderr}");
    start_all(&mut fleet).await;
    assert_eq!(running(&fleet, id), 200, "back on the first bundle");

    // A deployment that is not on a channel refuses --bundle-dir with a clear message.
    let mut staging = push.to_vec();
    staging[5] = "Staging";
    let (code, _, stderr) = crate::support::run_otadeck(&staging, &envs).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("--bundle-dir is for Mendix channels"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn otadeck_simulate_mendix_runs_a_fleet_through_the_gateway() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    release(&admin, dir.path(), "638700000000000050", None).await;
    let args = [
        "simulate",
        "--mendix",
        "--server",
        gateway.as_str(),
        "--devices",
        "50",
        "--restarts",
        "2",
        "--embedded-deployment-id",
        RUNTIME_ID,
        "--app-version",
        "1.0.0-7",
        "--json",
    ];
    let (code, stdout, stderr) = crate::support::run_otadeck(&args, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!((summary["updated"].clone(), summary["upToDate"].clone()), (json!(50), json!(50)), "{summary}");
    assert_eq!(summary["running"], json!({"638700000000000050": 50}));
}

/// A runtime that answers the check badly in one of the ways the reference lists.
async fn bad_runtime(answer: &'static str) -> String {
    let app = axum::Router::new().fallback(move || async move {
        match answer {
            "500" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
            "html" => (StatusCode::OK, "<html>login</html>").into_response(),
            "number" => axum::Json(json!({"otaEnabled": true, "deploymentID": 638_700_000_000_000_060_u64,
                "bundlePath": "x.zip", "satisfiesNativeDependencies": true, "satisfiesNativeBinaryVersion": true}))
            .into_response(),
            "slash" => axum::Json(json!({"otaEnabled": true, "deploymentID": "638700000000000061",
                "bundlePath": "/x.zip", "satisfiesNativeDependencies": true, "satisfiesNativeBinaryVersion": true}))
            .into_response(),
            "redirect" => (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]).into_response(),
            "flags" => axum::Json(json!({"otaEnabled": true, "deploymentID": "638700000000000062",
                "bundlePath": "x.zip", "satisfiesNativeDependencies": true, "satisfiesNativeBinaryVersion": false}))
            .into_response(),
            "slow" => {
                tokio::time::sleep(std::time::Duration::from_secs(6)).await;
                (StatusCode::OK, "{}").into_response()
            }
            _ => (StatusCode::OK, r#"{"otaEnabled":false}"#).into_response(),
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("bad runtime runs") });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn the_virtual_device_keeps_its_bundle_whenever_the_check_goes_wrong() {
    let dir = tempfile::tempdir().expect("dir");
    for (answer, expected) in [
        ("500", "answered 500"),
        ("html", "not JSON"),
        ("number", "deploymentID is not a string"),
        ("slash", "bundlePath starts with /"),
        ("redirect", "answered 302"),
        ("slow", "get_ota_info"),
    ] {
        let runtime = bad_runtime(answer).await;
        let mut device = phone(&runtime, &dir.path().join(answer), true);
        match device.start().await {
            MendixStart::CheckFailed(why) => assert!(why.contains(expected), "{answer}: {why}"),
            other => panic!("{answer}: {other:?}"),
        }
        assert_eq!((device.downloads, device.running_deployment_id()), (0, RUNTIME_ID.to_owned()), "{answer}");
    }
    let mut skipping = phone(&bad_runtime("flags").await, &dir.path().join("flags"), true);
    assert_eq!(skipping.start().await, MendixStart::Skipped("native binary version mismatch".into()));
    let mut disabled = phone(&bad_runtime("off").await, &dir.path().join("off"), true);
    assert_eq!(disabled.start().await, MendixStart::Disabled);
    let down = format!("http://127.0.0.1:{}/", crate::support::free_port());
    let mut offline = phone(&down, &dir.path().join("down"), true);
    assert!(matches!(offline.start().await, MendixStart::CheckFailed(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_store_update_the_old_ota_id_is_not_applied_again() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    release(&admin, dir.path(), "638700000000000070", None).await;
    let mut device = phone(&gateway, &dir.path().join("phone"), true);
    assert!(matches!(device.start().await, MendixStart::Updated { .. }));
    // The store update carries a newer embedded bundle; the manifest's appVersion no longer matches.
    device.install_store_update("1.1.0-8", "638700000000000080");
    assert_eq!(device.running_deployment_id(), "638700000000000080", "the embedded bundle of the new binary");
    // The gateway still advertises v1's ID. The old OTA files are still there, so the device's
    // loop guard refuses to deploy that ID again, and it keeps running the new binary's bundle.
    assert_eq!(device.start().await, MendixStart::AlreadyDeployed { advertised: "638700000000000070".into() });
    assert_eq!((device.downloads, device.running_deployment_id().as_str()), (2, "638700000000000080"));
}

#[tokio::test(flavor = "multi_thread")]
async fn over_https_the_gateway_uses_the_servers_certificate_and_a_secure_cookie() {
    let pki = crate::support::TestPki::new();
    let files = pki.tls_files();
    let server = TestServer::start_with(|config| config.tls = Some(files)).await;
    let upstream = stub_runtime().await;
    let admin = server.admin_over(&pki.transport());
    admin.create_app("Shop-Android").await.expect("android app");
    admin.create_app("Shop-iOS").await.expect("ios app");
    let channel = MendixChannel {
        host: "localhost".into(),
        upstream,
        android_app: "Shop-Android".into(),
        ios_app: "Shop-iOS".into(),
        deployment: "Production".into(),
        mode: ChannelMode::Serve,
    };
    admin.set_mendix_channel(&channel).await.expect("channel");
    let gateway = server.start_gateway().await;
    assert!(gateway.starts_with("https://localhost:"), "{gateway}");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.path("ca.pem")).expect("ca")).expect("pem");
    let http = reqwest::Client::builder().no_proxy().tls_certs_merge([ca]).build().expect("client");
    let check = json!({"action": "get_ota_info", "params": {"platform": "android", "nativeBinaryVersion": 40}});
    let answer = http.post(format!("{gateway}xas/")).json(&check).send().await.expect("check over TLS");
    assert_eq!(answer.status(), 200);
    let cookie = answer.headers()[header::SET_COOKIE].to_str().expect("cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let echo: Value =
        http.get(format!("{gateway}echo")).send().await.expect("pass-through").json().await.expect("json");
    assert_eq!(echo["headers"]["x-forwarded-proto"], json!("https"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hermes_bundle_needs_its_id_given_and_containing_it() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let dir = tempfile::tempdir().expect("dir");
    let hermes = dir.path().join("hermes.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&hermes).expect("zip"));
    zip.start_file("index.android.bundle", zip::write::SimpleFileOptions::default()).expect("entry");
    zip.write_all(&otadeck::domain::mendix::HERMES_MAGIC).expect("magic");
    zip.write_all(b"\x00\x00string table: 638700000000000090\x00").expect("strings");
    zip.finish().expect("finish");
    let info = || PackageInfo { app_version: Some("*".into()), ..PackageInfo::default() };
    let refused =
        admin.release("Shop-Android", "Production", &upload(hermes.clone(), info())).await.expect_err("no id");
    assert_eq!(refused.status(), Some(400));
    assert!(refused.to_string().contains("Hermes") && refused.to_string().contains("mendixDeploymentId"), "{refused}");
    let mut given = info();
    given.mendix_deployment_id = Some("638700000000000090".into());
    admin.release("Shop-Android", "Production", &upload(hermes, given)).await.expect("the ID is in the bundle");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_schedule_moves_a_mendix_release_forward() {
    let server = TestServer::start().await;
    let upstream = stub_runtime().await;
    let admin = server.admin();
    channel(&admin, &upstream, ChannelMode::Serve).await;
    let gateway = server.start_gateway().await;
    let dir = tempfile::tempdir().expect("dir");
    let policy: otadeck::api::management::RolloutPolicy = serde_json::from_value(
        json!({"steps": [25, 100], "intervalMs": 60_000, "maxFailureRatio": 0.5, "minReports": 10}),
    )
    .expect("policy");
    admin.set_policy("Shop-Android", "Production", &policy).await.expect("schedule");
    release(&admin, dir.path(), RUNTIME_ID, None).await;
    let v2 = "638700000000000110";
    release(&admin, dir.path(), v2, Some(25)).await;
    let http = MendixHttp::new("android").expect("http");
    let mut devices: Vec<VirtualMendixDevice> = (0..200)
        .map(|n| {
            VirtualMendixDevice::with_http(
                profile(&gateway, true),
                &dir.path().join(format!("phone-{n}")),
                http.clone(),
            )
        })
        .collect();
    start_all(&mut devices).await;
    start_all(&mut devices).await;
    assert!(running(&devices, v2) < 100, "about a quarter: {}", running(&devices, v2));
    // The ticker's work, one interval later.
    let later = otadeck::server::store::now_ms() + 61_000;
    let moved = server
        .state
        .store
        .run(move |c| otadeck::server::store::policy::advance_schedules(c, later))
        .await
        .expect("advance");
    assert_eq!(moved, 1);
    start_all(&mut devices).await;
    assert_eq!(running(&devices, v2), 200, "the schedule took the release to 100 %");
}
