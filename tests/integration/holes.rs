//! Smaller holes, each closed with a test: multipart parts are limited, a transfer cannot make an
//! app unmanageable, unreferenced blobs are collected, a blob that exists is never a 404, the
//! database is private and refused when a newer version wrote it, error bodies are not sniffed.

use std::time::Duration;

use crate::support::{ADMIN_KEY, TestServer, app_with_keys, info, package, upload};

fn release_url(server: &TestServer, app: &str) -> String {
    format!("{}/apps/{app}/deployments/Staging/release", server.url)
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_take_exactly_one_package_and_one_bounded_package_info() {
    let server = TestServer::start().await;
    app_with_keys(&server.admin(), "Parts").await;
    // Refused uploads close their connection before the body is read: no pooling, so no request
    // lands on a connection the server already closed.
    otadeck::tls::install_crypto_provider();
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let send = |form: reqwest::multipart::Form| {
        http.post(release_url(&server, "Parts")).bearer_auth(ADMIN_KEY).multipart(form).send()
    };
    let part = || reqwest::multipart::Part::bytes(b"console.log(1)".to_vec()).file_name("bundle.js");
    let info = r#"{"appVersion":"1.0.0"}"#;

    let twice =
        reqwest::multipart::Form::new().part("package", part()).part("package", part()).text("packageInfo", info);
    let response = send(twice).await.expect("send");
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("text").contains("more than one \"package\""));

    let unknown = reqwest::multipart::Form::new().part("package", part()).text("packageInfo", info).text("extra", "x");
    assert_eq!(send(unknown).await.expect("send").status(), 400, "unknown parts are refused");

    let huge = format!(r#"{{"appVersion":"1.0.0","description":"{}"}}"#, "x".repeat(300_000));
    let oversized = reqwest::multipart::Form::new().part("package", part()).text("packageInfo", huge);
    assert_eq!(send(oversized).await.expect("send").status(), 413, "packageInfo is not buffered without limit");

    let good = reqwest::multipart::Form::new().part("package", part()).text("packageInfo", info);
    assert_eq!(send(good).await.expect("send").status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_to_someone_who_owns_an_app_of_that_name_is_refused() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "Shared").await;
    let store = otadeck::server::store::Store::open(&server.data_dir.path().join("otadeck.sqlite3")).expect("store");
    let other_key = store
        .run(|c| {
            let id = otadeck::server::store::accounts::create_account(c, "other@example.com", "Other")?;
            let caller = otadeck::server::store::AuthenticatedCaller::full(id, "other@example.com", "Other");
            otadeck::server::store::accounts::create_access_key(c, &caller, "laptop", "test", None, false)
        })
        .await
        .expect("second account");
    let other = otadeck::client::ManagementClient::new(&server.url, &other_key.name).expect("client");
    other.create_app("Shared").await.expect("the other account's own app");
    let error = admin.transfer_app("Shared", "other@example.com").await.expect_err("refused");
    assert_eq!(error.status(), Some(409));
    assert!(error.to_string().contains("already owns an app named"), "{error}");
    assert!(other.app("Shared").await.is_ok(), "the receiver's app stays manageable");
    assert!(admin.app("Shared").await.is_ok(), "and so does the sender's");
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_no_release_uses_are_collected_and_used_ones_stay() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "Kept").await;
    app_with_keys(&admin, "Deleted").await;
    let dir = tempfile::tempdir().expect("dir");
    let kept =
        admin.release("Kept", "Staging", &upload(package(dir.path(), "kept"), info("1.0.0"))).await.expect("kept");
    let gone =
        admin.release("Deleted", "Staging", &upload(package(dir.path(), "gone"), info("1.0.0"))).await.expect("gone");
    admin.delete_app("Deleted").await.expect("delete app");
    let http = server.http();
    // Within the grace period nothing is collected (a release row may be on its way).
    assert_eq!(server.state.collect_blobs(Duration::from_secs(3600)).await.expect("collect"), 0);
    assert_eq!(server.state.collect_blobs(Duration::ZERO).await.expect("collect"), 1, "the deleted app's package");
    assert_eq!(http.get(&gone.blob_url).send().await.expect("get").status(), 404, "no longer downloadable");
    assert_eq!(http.get(&kept.blob_url).send().await.expect("get").status(), 200, "a used blob stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_is_private_and_error_bodies_are_not_sniffed() {
    let server = TestServer::start().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode =
            std::fs::metadata(server.data_dir.path().join("otadeck.sqlite3")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the database file is readable by the server's user only");
    }
    let response = server.http().get(format!("{}/no/such/route", server.url)).send().await.expect("send");
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_written_by_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("otadeck.sqlite3");
    {
        let connection = rusqlite::Connection::open(&path).expect("sqlite");
        connection.pragma_update(None, "user_version", 999).expect("version");
    }
    let error = otadeck::server::store::Store::open(&path).err().expect("refused");
    assert!(error.to_string().contains("newer otadeck"), "{error}");
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("sqlite")
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 999, "nothing was migrated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_patch_changes_nothing() {
    use otadeck::api::management::AccessKeyPatch;
    let server = TestServer::start().await;
    let admin = server.admin();
    admin.create_access_key("ci", None).await.expect("ci key");
    admin.create_access_key("laptop", None).await.expect("laptop key");
    let before = admin.access_key("ci").await.expect("ci");
    let bad_ttl = AccessKeyPatch { friendly_name: Some("renamed".into()), ttl: Some(-1.0) };
    assert_eq!(admin.patch_access_key("ci", &bad_ttl).await.expect_err("bad ttl").status(), Some(400));
    assert!(admin.access_key("ci").await.is_ok(), "not renamed by a refused patch");
    let clash = AccessKeyPatch { friendly_name: Some("laptop".into()), ttl: Some(0.0) };
    assert_eq!(admin.patch_access_key("ci", &clash).await.expect_err("name taken").status(), Some(409));
    let after = admin.access_key("ci").await.expect("ci");
    assert_eq!(after.expires, before.expires, "the expiry was not changed either");
}
