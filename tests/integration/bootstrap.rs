//! The `otadeck` binary on a fresh data dir: the generated admin key is saved 0600 and only its path
//! is printed (stderr is not a terminal here, as under systemd),
//! download URLs use `--public-url`, and `--help` lists the commands.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{info, package, upload};

#[tokio::test(flavor = "multi_thread")]
async fn fresh_server_generates_a_private_admin_key_once_and_uses_the_public_url() {
    let data = tempfile::tempdir().expect("data dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_otadeck"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--public-url", "https://ota.example.test/base/"])
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("OTADECK_ADMIN_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn otadeck serve")
    };
    let url = format!("http://127.0.0.1:{port}");
    let wait_healthy = || async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            otadeck::tls::install_crypto_provider();
            if reqwest::get(format!("{url}/health")).await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not start");
    };

    let mut first = start();
    wait_healthy().await;
    let key_file = data.path().join("admin-access-key");
    let key = std::fs::read_to_string(&key_file).expect("key file").trim().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "admin key file must be private");
    }
    let admin = otadeck::client::ManagementClient::new(&url, &key).expect("client");
    assert_eq!(admin.account().await.expect("account").email, "admin@localhost");
    admin.create_app("App").await.expect("app");
    let dir = tempfile::tempdir().expect("dir");
    let released =
        admin.release("App", "Staging", &upload(package(dir.path(), "pub"), info("*"))).await.expect("release");
    assert!(released.blob_url.starts_with("https://ota.example.test/base/blobs/"), "{}", released.blob_url);
    first.kill().expect("stop");
    let mut stderr = String::new();
    first.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    first.wait().expect("reap");
    // stderr is a pipe here, as under systemd (the journal): the key must not land in a log.
    assert!(!stderr.contains(&key), "the key is not written to a non-terminal stderr:\n{stderr}");
    assert!(stderr.contains(&key_file.display().to_string()), "the key file's path is given instead:\n{stderr}");

    let mut second = start();
    wait_healthy().await;
    assert_eq!(std::fs::read_to_string(&key_file).expect("key file").trim(), key, "not regenerated");
    assert!(admin.apps().await.is_ok(), "the saved key still works after restart");
    second.kill().expect("stop");
    let mut stderr = String::new();
    second.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    second.wait().expect("reap");
    assert!(!stderr.contains(&key), "the key is never printed again");
}

#[test]
fn help_lists_the_commands() {
    let output = Command::new(env!("CARGO_BIN_EXE_otadeck")).arg("--help").output().expect("run otadeck");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Usage: otadeck") && stdout.contains("serve"), "{stdout}");
}
