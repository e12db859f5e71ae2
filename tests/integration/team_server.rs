//! A server a team can run: HTTPS with a private CA for every client (management, device, CLI,
//! `simulate`), named network failures and timeouts, one owner per data dir, the public-URL rule,
//! draining on SIGTERM, certificate reload on SIGHUP, and the operations endpoints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otadeck::api::acquisition::UpdateCheckQuery;
use otadeck::client::{ClientError, DeviceClient, ManagementClient, NetworkError, Transport};

use crate::support::{ADMIN_KEY, TestPki, TestServer, app_with_keys, free_port, info, package, upload};

/// `otadeck serve` as a child process, its stderr captured in a file.
struct ServeProcess {
    child: Child,
    log: PathBuf,
}

impl ServeProcess {
    /// A server on a free loopback port with `extra` arguments; returns it, its URL and an admin
    /// client once it answers.
    async fn start_loopback(data_dir: &Path, extra: &[&str], log_dir: &Path) -> (Self, String, ManagementClient) {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let server = Self::spawn(data_dir, &[&["--listen", listen.as_str()], extra].concat(), log_dir);
        let url = format!("http://{listen}");
        let admin = ManagementClient::new(&url, ADMIN_KEY).expect("client");
        wait_ready(&admin).await;
        (server, url, admin)
    }

    fn spawn(data_dir: &Path, args: &[&str], log_dir: &Path) -> Self {
        let log = log_dir.join(format!("serve-{}.log", rand::random::<u32>()));
        let child = Command::new(env!("CARGO_BIN_EXE_otadeck"))
            .arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("OTADECK_ADMIN_KEY", ADMIN_KEY)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn otadeck serve");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("send signal");
    }

    /// Waits for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_ready(client: &ManagementClient) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.authenticated().await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn network_error(error: ClientError) -> NetworkError {
    match error {
        ClientError::Network(kind) => kind,
        other => panic!("expected a network error, got {other}"),
    }
}

/// Runs the `otadeck` binary with a clean environment for server settings.
async fn otadeck(args: &[&str]) -> (i32, String, String) {
    crate::support::run_otadeck(args, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_speaks_https_with_a_private_ca_and_names_an_untrusted_certificate() {
    let pki = TestPki::new();
    let files = pki.tls_files();
    let server = TestServer::start_with(|config| config.tls = Some(files)).await;
    assert!(server.url.starts_with("https://localhost:"), "{}", server.url);
    let dir = tempfile::tempdir().expect("dir");

    // Management client.
    let trusted = server.admin_over(&pki.transport());
    let (staging, _) = app_with_keys(&trusted, "Tls-Android").await;
    trusted
        .release("Tls-Android", "Staging", &upload(package(dir.path(), "tls"), info("1.0.0")))
        .await
        .expect("upload over TLS");
    let untrusted = server.admin_over(&Transport::default());
    let error = network_error(untrusted.apps().await.expect_err("no CA, no trust"));
    assert!(matches!(&error, NetworkError::CertificateNotTrusted { host } if host.starts_with("localhost")), "{error}");
    assert!(error.to_string().contains("not trusted"), "{error}");

    // A name the certificate does not carry.
    let by_ip = server.url.replace("localhost", "127.0.0.1");
    let mismatch = ManagementClient::with_transport(&by_ip, ADMIN_KEY, &pki.transport()).expect("client");
    let error = network_error(mismatch.apps().await.expect_err("wrong name"));
    assert!(matches!(error, NetworkError::HostNameMismatch { .. }), "{error}");

    // Device client: check, download over HTTPS (download URLs use https too).
    let device = DeviceClient::with_transport(&server.url, &pki.transport()).expect("device");
    let query = UpdateCheckQuery {
        deployment_key: Some(staging.clone()),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some("phone-1".into()),
        ..UpdateCheckQuery::default()
    };
    let offered = device.check_for_update(&query).await.expect("check over TLS");
    assert!(offered.is_available, "an update is offered");
    let url = offered.download_url.clone();
    assert!(url.starts_with("https://localhost:"), "{url}");
    assert_eq!(device.download(&url).await.expect("download").len() as u64, offered.package_size);
    let plain_device = DeviceClient::with_transport(&server.url, &Transport::default()).expect("device");
    let error = network_error(plain_device.check_for_update(&query).await.expect_err("untrusted"));
    assert!(matches!(error, NetworkError::CertificateNotTrusted { .. }), "{error}");

    // The CLI binary, with --ca-cert and without.
    let ca = pki.path("ca.pem").display().to_string();
    let common = ["release", "list", "--app", "Tls-Android", "--deployment", "Staging", "--server", &server.url];
    let (code, stdout, _) = otadeck(&[&common[..], &["--access-key", ADMIN_KEY, "--ca-cert", &ca]].concat()).await;
    assert_eq!(code, 0, "release list over HTTPS with --ca-cert");
    assert!(stdout.contains("v1"), "{stdout}");
    let (code, _, stderr) = otadeck(&[&common[..], &["--access-key", ADMIN_KEY]].concat()).await;
    assert_eq!(code, 4, "server error exit code");
    assert!(stderr.contains("not trusted") && stderr.contains("--ca-cert"), "{stderr}");

    // `simulate`, with --ca-cert and without.
    let sim = ["simulate", "--server", &server.url, "--deployment-key", &staging, "--devices", "20", "--json"];
    let (code, stdout, _) =
        otadeck(&[&sim[..], &["--ca-cert", &ca, "--app-version", "1.0.0", "--accept-optional", "1"]].concat()).await;
    assert_eq!(code, 0, "simulate over HTTPS");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("json summary");
    assert_eq!(summary["labels"]["v1"]["installed"], 20, "{summary}");
    let (code, _, stderr) = otadeck(&sim).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("not trusted"), "{stderr}");

    // OTADECK_CA_CERT in the environment works like the flag.
    let (code, _, stderr) =
        crate::support::run_otadeck(&common, &[("OTADECK_ACCESS_KEY", ADMIN_KEY), ("OTADECK_CA_CERT", &ca)]).await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_accepts_and_never_answers_is_a_timeout_within_the_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    // Accepts, reads nothing, answers nothing; for downloads, sends a head and then stalls.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0_u8; 4096];
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let read = socket.read(&mut buffer).await.unwrap_or(0);
            if String::from_utf8_lossy(&buffer[..read]).starts_with("GET /blobs/") {
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\npartial";
                let _ = socket.write_all(head.as_bytes()).await;
            }
            held.push(socket);
        }
    });
    let url = format!("http://{address}");
    let transport = Transport {
        request_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(800),
        ..Transport::default()
    };
    let client = ManagementClient::with_transport(&url, ADMIN_KEY, &transport).expect("client");
    let started = Instant::now();
    let error = network_error(client.apps().await.expect_err("no answer"));
    let waited = started.elapsed();
    assert!(matches!(error, NetworkError::TimedOut { seconds, .. } if (seconds - 0.8).abs() < 1e-9), "{error}");
    assert!(error.to_string().contains("timed out after 0.8 s"), "{error}");
    assert!(waited >= Duration::from_millis(700) && waited < Duration::from_secs(3), "waited {waited:?}");

    let device = DeviceClient::with_transport(&url, &transport).expect("device");
    let started = Instant::now();
    let error = network_error(device.download(&format!("{url}/blobs/abc")).await.expect_err("stalled body"));
    assert!(matches!(error, NetworkError::TimedOut { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Nobody listening: refused, said plainly.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let error =
        network_error(ManagementClient::new(&closed, ADMIN_KEY).expect("client").apps().await.expect_err("refused"));
    assert!(matches!(error, NetworkError::Refused { .. }), "{error}");
}

/// A multipart release upload whose package streams in `chunks` pieces, `pause` apart; with `stall`
/// it stops sending halfway and never finishes.
async fn slow_upload(
    url: &str,
    zip: Vec<u8>,
    chunks: usize,
    pause: Duration,
    stall: bool,
) -> Result<reqwest::Response, reqwest::Error> {
    let size = zip.len();
    let piece = size.div_ceil(chunks);
    let parts: Vec<Vec<u8>> = zip.chunks(piece).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::unfold((parts.into_iter(), 0_usize), move |(mut rest, sent)| async move {
        if stall && sent >= chunks / 2 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(pause).await;
        let next = rest.next()?;
        Some((Ok::<_, std::io::Error>(next), (rest, sent + 1)))
    });
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), size as u64)
        .file_name("package.zip");
    let form = reqwest::multipart::Form::new().part("package", part).text("packageInfo", r#"{"appVersion":"1.0.0"}"#);
    otadeck::tls::install_crypto_provider();
    reqwest::Client::new()
        .post(format!("{url}/apps/App/deployments/Staging/release"))
        .bearer_auth(ADMIN_KEY)
        .multipart(form)
        .send()
        .await
}

fn zip_bytes(dir: &Path, marker: &str) -> Vec<u8> {
    std::fs::read(package(dir, marker)).expect("zip")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_dir_exits_and_the_first_keeps_its_upload() {
    let data = tempfile::tempdir().expect("data");
    let scratch = tempfile::tempdir().expect("scratch");
    let (first, url, admin) = ServeProcess::start_loopback(data.path(), &[], scratch.path()).await;
    admin.create_app("App").await.expect("app");

    let upload_url = url.clone();
    let zip = zip_bytes(scratch.path(), "in-flight");
    let in_flight =
        tokio::spawn(async move { slow_upload(&upload_url, zip, 8, Duration::from_millis(250), false).await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let temp_files = std::fs::read_dir(data.path().join("tmp")).expect("tmp").count();
    assert!(temp_files > 0, "the first server is writing the upload to tmp/");

    let mut second =
        ServeProcess::spawn(data.path(), &["--listen", &format!("127.0.0.1:{}", free_port())], scratch.path());
    let status = second.wait_exit(Duration::from_secs(10)).expect("the second server exits at once");
    assert!(!status.success(), "non-zero exit");
    let log = second.log();
    assert!(log.contains("is in use by another otadeck server"), "{log}");
    assert!(
        log.contains(&format!("pid {}", first.child.id())) && log.contains(&data.path().display().to_string()),
        "{log}"
    );
    assert!(std::fs::read_dir(data.path().join("tmp")).expect("tmp").count() > 0, "tmp/ was not wiped");

    let response = in_flight.await.expect("task").expect("upload answered");
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
    let history = admin.history("App", "Staging").await.expect("history");
    assert_eq!(history.len(), 1, "the in-flight upload completed on the first server");
    let download = reqwest::get(&history[0].blob_url).await.expect("download").bytes().await.expect("bytes");
    assert_eq!(download.len() as u64, history[0].size);
    drop(first);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_desktop_app_connects_to_a_server_that_owns_the_data_dir() {
    let data = tempfile::tempdir().expect("data");
    let scratch = tempfile::tempdir().expect("scratch");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut owner = Command::new(env!("CARGO_BIN_EXE_otadeck"));
    owner
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env_remove("OTADECK_ADMIN_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let owner = owner.spawn().expect("spawn");
    let owner = ServeProcess { child: owner, log: scratch.path().join("none") };
    let deadline = Instant::now() + Duration::from_secs(20);
    while otadeck::server::data_dir::read_owner(data.path()).is_none() || !data.path().join("admin-access-key").exists()
    {
        assert!(Instant::now() < deadline, "server did not record itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let embedded = otadeck::server::start_embedded(data.path().to_path_buf(), 0).await.expect("discover");
    assert_eq!(embedded.owner_pid, Some(owner.child.id()));
    assert_eq!(embedded.url, url);
    let client = ManagementClient::new(&embedded.url, &embedded.admin_key).expect("client");
    wait_ready(&client).await;
    assert_eq!(client.account().await.expect("account").email, "admin@localhost");
}

#[tokio::test(flavor = "multi_thread")]
async fn listening_on_all_addresses_needs_a_public_url_and_download_urls_use_it() {
    let data = tempfile::tempdir().expect("data");
    let (code, _, stderr) =
        otadeck(&["serve", "--listen", "0.0.0.0:0", "--data-dir", &data.path().display().to_string()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--public-url") && stderr.lines().count() == 1, "one clear sentence: {stderr}");
    assert_eq!(std::fs::read_dir(data.path()).expect("data").count(), 0, "nothing was created");
    let (code, _, stderr) = otadeck(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        "ftp://ota.example.com",
        "--data-dir",
        &data.path().display().to_string(),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("scheme must be http or https"), "{stderr}");

    let scratch = tempfile::tempdir().expect("scratch");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/ota");
    let _server = ServeProcess::spawn(
        data.path(),
        &["--listen", &format!("0.0.0.0:{port}"), "--public-url", &format!("{public}/")],
        scratch.path(),
    );
    let admin = ManagementClient::new(&format!("http://127.0.0.1:{port}"), ADMIN_KEY).expect("client");
    wait_ready(&admin).await;
    admin.create_app("App").await.expect("app");
    let release =
        admin.release("App", "Staging", &upload(package(scratch.path(), "pub"), info("1.0.0"))).await.expect("release");
    assert!(release.blob_url.starts_with(&format!("{public}/blobs/")), "{}", release.blob_url);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_uploads_in_flight_and_cuts_off_stalled_ones_after_the_grace_period() {
    let data = tempfile::tempdir().expect("data");
    let scratch = tempfile::tempdir().expect("scratch");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let args = ["--listen", listen.as_str(), "--shutdown-grace-seconds", "3"];
    let mut server = ServeProcess::spawn(data.path(), &args, scratch.path());
    let admin = ManagementClient::new(&url, ADMIN_KEY).expect("client");
    wait_ready(&admin).await;
    admin.create_app("App").await.expect("app");

    // An upload that finishes within the grace period completes, and is listed after a restart.
    let (finishing, zip) = (url.clone(), zip_bytes(scratch.path(), "drained"));
    let in_flight =
        tokio::spawn(async move { slow_upload(&finishing, zip, 6, Duration::from_millis(200), false).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let answer = in_flight.await.expect("task");
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits after draining");
    assert!(status.success(), "clean exit: {status:?}\n{}", server.log());
    let completed = answer.as_ref().is_ok_and(|r| r.status() == 201);
    let log = server.log();
    assert!(log.contains("draining") && log.contains("stopped"), "{log}");

    let mut server = ServeProcess::spawn(data.path(), &args, scratch.path());
    wait_ready(&admin).await;
    let history = admin.history("App", "Staging").await.expect("history");
    assert_eq!(history.len(), usize::from(completed), "listed exactly when acknowledged");
    assert!(completed, "an upload that ends inside the grace period completes");

    // A stalled upload does not hold shutdown for ever: cut off after the grace period, nothing half.
    let (stalling, zip) = (url.clone(), zip_bytes(scratch.path(), "stalled"));
    let stalled = tokio::spawn(async move { slow_upload(&stalling, zip, 6, Duration::from_millis(100), true).await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let signalled = Instant::now();
    server.signal(nix::sys::signal::Signal::SIGTERM);
    server.wait_exit(Duration::from_secs(15)).expect("exits although an upload is stalled");
    let took = signalled.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "cut off after the grace: {took:?}");
    assert!(stalled.await.expect("task").is_err(), "the stalled upload fails on the client");
    let _server = ServeProcess::spawn(data.path(), &args, scratch.path());
    wait_ready(&admin).await;
    assert_eq!(admin.history("App", "Staging").await.expect("history").len(), 1, "no half release");
    assert_eq!(std::fs::read_dir(data.path().join("tmp")).expect("tmp").count(), 0, "no temp file left");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_certificate_is_picked_up_on_sighup_without_dropping_an_upload() {
    let data = tempfile::tempdir().expect("data");
    let scratch = tempfile::tempdir().expect("scratch");
    let pki = TestPki::new();
    pki.issue("renewed CA", "-renewed");
    let port = free_port();
    let url = format!("https://localhost:{port}");
    let live_cert = scratch.path().join("live-cert.pem");
    let live_key = scratch.path().join("live-key.pem");
    std::fs::copy(pki.path("cert.pem"), &live_cert).expect("cert");
    std::fs::copy(pki.path("key.pem"), &live_key).expect("key");
    let listen = format!("127.0.0.1:{port}");
    let (cert_arg, key_arg) = (live_cert.display().to_string(), live_key.display().to_string());
    let server = ServeProcess::spawn(
        data.path(),
        &["--listen", &listen, "--public-url", &url, "--tls-cert", &cert_arg, "--tls-key", &key_arg],
        scratch.path(),
    );
    let old_trust = ManagementClient::with_transport(&url, ADMIN_KEY, &pki.transport()).expect("client");
    wait_ready(&old_trust).await;
    old_trust.create_app("App").await.expect("app");

    // An upload on a connection made with the old certificate runs across the reload.
    let ca = pki.path("ca.pem");
    let zip = zip_bytes(scratch.path(), "across-reload");
    let upload_url = url.clone();
    let in_flight = tokio::spawn(async move {
        let size = zip.len() as u64;
        let chunks: Vec<Vec<u8>> = zip.chunks(zip.len().div_ceil(6)).map(<[u8]>::to_vec).collect();
        let stream = futures_util::stream::unfold(chunks.into_iter(), |mut rest| async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            rest.next().map(|c| (Ok::<_, std::io::Error>(c), rest))
        });
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), size)
            .file_name("package.zip");
        let form =
            reqwest::multipart::Form::new().part("package", part).text("packageInfo", r#"{"appVersion":"1.0.0"}"#);
        let certs = reqwest::Certificate::from_pem_bundle(&std::fs::read(ca).expect("ca")).expect("pem");
        let client = reqwest::Client::builder().tls_certs_merge(certs).build().expect("client");
        client
            .post(format!("{upload_url}/apps/App/deployments/Staging/release"))
            .bearer_auth(ADMIN_KEY)
            .multipart(form)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::copy(pki.path("cert-renewed.pem"), &live_cert).expect("renew cert");
    std::fs::copy(pki.path("key-renewed.pem"), &live_key).expect("renew key");
    server.signal(nix::sys::signal::Signal::SIGHUP);

    let renewed = Transport { extra_ca: Some(pki.path("ca-renewed.pem")), ..Transport::default() };
    let new_trust = ManagementClient::with_transport(&url, ADMIN_KEY, &renewed).expect("client");
    let deadline = Instant::now() + Duration::from_secs(10);
    while new_trust.apps().await.is_err() {
        assert!(Instant::now() < deadline, "the renewed certificate was not served\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = in_flight.await.expect("task").expect("upload across the reload");
    assert_eq!(response.status(), 201);
    assert!(server.log().contains("TLS certificate reloaded"), "{}", server.log());
    let fresh_old = ManagementClient::with_transport(&url, ADMIN_KEY, &pki.transport()).expect("client");
    let error = network_error(fresh_old.apps().await.expect_err("old CA no longer matches"));
    assert!(matches!(error, NetworkError::CertificateNotTrusted { .. }), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints_request_ids_and_metrics() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (staging, _) = app_with_keys(&admin, "Ops-Android").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Ops-Android", "Staging", &upload(package(dir.path(), "ops"), info("1.0.0"))).await.expect("release");
    let device = server.device();
    let query = UpdateCheckQuery {
        deployment_key: Some(staging),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some("ops-phone".into()),
        ..UpdateCheckQuery::default()
    };
    for _ in 0..3 {
        device.check_for_update(&query).await.expect("check");
    }
    let http = server.http();
    let health = http.get(format!("{}/health", server.url)).send().await.expect("health");
    assert_eq!(health.status(), 200);
    let first_id = health.headers().get("x-request-id").expect("request id").to_str().expect("ascii").to_owned();
    let ready = http.get(format!("{}/ready", server.url)).send().await.expect("ready");
    assert_eq!(ready.status(), 200);
    let second_id = ready.headers().get("x-request-id").expect("request id").to_str().expect("ascii").to_owned();
    assert_ne!(first_id, second_id, "each request has its own id");
    let echoed = http.get(format!("{}/health", server.url)).header("x-request-id", "from-the-proxy-42").send().await;
    assert_eq!(echoed.expect("health").headers()["x-request-id"], "from-the-proxy-42", "a proxy's id is kept");

    let metrics = server.metrics_text().await;
    for expected in [
        "otadeck_update_checks_total 3",
        r#"otadeck_http_requests_total{method="GET",route="/v0.1/public/codepush/update_check",status="200"} 3"#,
        r#"otadeck_uploads_total{kind="stored"} 1"#,
        "otadeck_http_request_duration_seconds_bucket",
        "otadeck_database_seconds_count",
    ] {
        assert!(metrics.contains(expected), "missing {expected:?} in\n{metrics}");
    }
    assert!(!metrics.contains("Ops-Android"), "routes are templates, not app names");

    // The blob store cannot take files: not ready, and the answer says why.
    let tmp = server.data_dir.path().join("tmp");
    std::fs::remove_dir_all(&tmp).expect("remove tmp");
    let ready = http.get(format!("{}/ready", server.url)).send().await.expect("ready");
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.expect("text").contains("blob store"), "names what is not ready");
    std::fs::create_dir_all(&tmp).expect("restore tmp");
    assert_eq!(http.get(format!("{}/ready", server.url)).send().await.expect("ready").status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_has_request_ids_and_never_a_key() {
    let data = tempfile::tempdir().expect("data");
    let scratch = tempfile::tempdir().expect("scratch");
    let (server, url, admin) = ServeProcess::start_loopback(data.path(), &[], scratch.path()).await;
    let (staging, _) = app_with_keys(&admin, "Log-Android").await;
    let device = DeviceClient::new(&url).expect("device");
    let query = UpdateCheckQuery {
        deployment_key: Some(staging.clone()),
        app_version: Some("1.0.0".into()),
        ..UpdateCheckQuery::default()
    };
    device.check_for_update(&query).await.expect("check");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("update_check") {
        assert!(Instant::now() < deadline, "no access line:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = server.log();
    assert!(log.contains("otadeck::access") && log.contains("status=200"), "{log}");
    assert!(log.contains("id="), "request ids in the log: {log}");
    assert!(!log.contains(ADMIN_KEY) && !log.contains(&staging), "no key in the log:\n{log}");
}

/// A forwarding HTTP proxy on loopback for plain-HTTP targets (absolute-form requests): it counts the
/// connections it relays.
async fn forwarding_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = listener.local_addr().expect("addr");
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&relayed);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = vec![0_u8; 16 * 1024];
                let read = client.read(&mut head).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&head[..read]).into_owned();
                // "GET http://127.0.0.1:PORT/path HTTP/1.1"
                let Some(target) = text.split_whitespace().nth(1).and_then(|u| u.strip_prefix("http://")) else {
                    return;
                };
                let authority = target.split('/').next().unwrap_or_default().to_owned();
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&authority).await else { return };
                if upstream.write_all(&head[..read]).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (format!("http://{address}"), relayed)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_goes_through_http_proxy_and_honours_no_proxy() {
    let server = TestServer::start().await;
    server.admin().create_app("Proxied-Android").await.expect("app");
    let (proxy, relayed) = forwarding_proxy().await;
    let list = ["release", "list", "--app", "Proxied-Android", "--deployment", "Staging", "--server", &server.url];
    let via_proxy = [("OTADECK_ACCESS_KEY", ADMIN_KEY), ("HTTP_PROXY", proxy.as_str()), ("NO_PROXY", "")];
    let (code, _, stderr) = crate::support::run_otadeck(&list, &via_proxy).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(relayed.load(std::sync::atomic::Ordering::SeqCst) > 0, "the request went through HTTP_PROXY");

    // NO_PROXY bypasses a proxy that does not even exist.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let bypass = [("OTADECK_ACCESS_KEY", ADMIN_KEY), ("HTTP_PROXY", dead.as_str()), ("NO_PROXY", "127.0.0.1")];
    let (code, _, stderr) = crate::support::run_otadeck(&list, &bypass).await;
    assert_eq!(code, 0, "NO_PROXY is honoured: {stderr}");
    let through_dead = [("OTADECK_ACCESS_KEY", ADMIN_KEY), ("HTTP_PROXY", dead.as_str()), ("NO_PROXY", "")];
    let (code, _, stderr) = crate::support::run_otadeck(&list, &through_dead).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("proxy error") && stderr.contains(&dead), "the proxy is named: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_gateway_listen_answers_mendix_checks_and_stops_on_sigterm() {
    let data = tempfile::tempdir().expect("data");
    let logs = tempfile::tempdir().expect("logs");
    let gateway = format!("127.0.0.1:{}", free_port());
    let (mut server, _, admin) =
        ServeProcess::start_loopback(data.path(), &["--gateway-listen", gateway.as_str()], logs.path()).await;
    admin.create_app("Field-Android").await.expect("android");
    admin.create_app("Field-iOS").await.expect("ios");
    let channel = otadeck::api::mendix::MendixChannel {
        host: "127.0.0.1".into(),
        upstream: format!("http://127.0.0.1:{}/", free_port()),
        android_app: "Field-Android".into(),
        ios_app: "Field-iOS".into(),
        deployment: "Production".into(),
        mode: otadeck::api::mendix::ChannelMode::Serve,
    };
    admin.set_mendix_channel(&channel).await.expect("channel");
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let check = serde_json::json!({"action": "get_ota_info", "params": {"platform": "ios", "nativeBinaryVersion": 40}});
    let answer: serde_json::Value = http
        .post(format!("http://{gateway}/xas/"))
        .json(&check)
        .send()
        .await
        .expect("check")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["otaEnabled"], serde_json::json!(false), "no release yet: {answer}");
    let passed = http.get(format!("http://{gateway}/p/home")).send().await.expect("pass-through");
    assert_eq!(passed.status(), 502, "the upstream of this channel is down");
    assert!(server.log().contains("Mendix OTA gateway ready"), "{}", server.log());
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log());
}
