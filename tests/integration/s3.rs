//! Package blobs in a real S3-compatible bucket (moto, see `s3_server`): releases land in the bucket
//! before their row, devices download them through the server or straight from `--blob-base-url`,
//! unreferenced objects are swept, and an unreachable bucket is a clear 503 that loses nothing.
//! Downloads resume (`Range`, `If-Range`) and revalidate (`If-None-Match`) the same from the folder
//! and from a bucket.

use std::time::Duration;

use otadeck::api::acquisition::UpdateCheckQuery;
use otadeck::domain::package::sha256_hex;
use otadeck::server::blobs::{BlobLocation, BucketConfig};

use crate::s3_server::{bucket, objects};
use crate::support::{TestServer, app_with_keys, info, package, upload};

async fn server_on(bucket: &BucketConfig, base_url: Option<String>) -> TestServer {
    let location = BlobLocation::Bucket(bucket.clone());
    TestServer::start_with(move |config| {
        config.blobs = location;
        config.blob_base_url = base_url;
    })
    .await
}

fn check(key: &str) -> UpdateCheckQuery {
    UpdateCheckQuery {
        deployment_key: Some(key.into()),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some("device-1".into()),
        ..UpdateCheckQuery::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn releases_live_in_the_bucket_and_devices_download_them_through_the_server() {
    let Some(bucket) = bucket("releases_live_in_the_bucket").await else { return };
    let server = server_on(&bucket, None).await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let released = admin.release("App", "Staging", &upload(package(dir.path(), "one"), info("^1.0.0"))).await;
    let released = released.expect("release");

    let stored = objects(&bucket).await;
    let [(object_key, bytes)] = stored.as_slice() else { panic!("one object: {stored:?}") };
    let sha = sha256_hex(bytes);
    assert_eq!(object_key, &format!("packages/{}/{sha}", &sha[..2]), "content-addressed under the prefix");
    assert!(released.blob_url.ends_with(&sha), "{}", released.blob_url);
    let blob_folder = server.data_dir.path().join("blobs");
    assert!(!blob_folder.exists(), "nothing is written to the data dir's blob folder");

    let device = server.device();
    let answer = device.check_for_update(&check(&key)).await.expect("check");
    assert!(answer.download_url.starts_with(&server.url), "{}", answer.download_url);
    let downloaded = device.download(&answer.download_url).await.expect("download");
    assert_eq!(sha256_hex(&downloaded), sha, "the device gets the bucket's bytes");
    let missing = server.http().get(format!("{}/blobs/{}", server.url, "0".repeat(64))).send().await.expect("get");
    assert_eq!(missing.status(), 404);
    assert_eq!(server.http().get(format!("{}/ready", server.url)).send().await.expect("ready").status(), 200);

    // Promote keeps the object; collection sweeps only what no release uses.
    admin
        .promote("App", "Staging", "Production", otadeck::api::management::PackageInfo::default())
        .await
        .expect("promote");
    let orphan = tempfile::NamedTempFile::new().expect("orphan");
    std::fs::write(orphan.path(), b"an upload whose release row never landed").expect("write");
    let orphan_sha = sha256_hex(b"an upload whose release row never landed");
    server.state.blobs.commit(orphan.path(), &orphan_sha).await.expect("orphan object");
    assert_eq!(objects(&bucket).await.len(), 2);
    assert_eq!(server.state.collect_blobs(Duration::ZERO).await.expect("collect"), 1);
    let left: Vec<String> = objects(&bucket).await.into_iter().map(|(key, _)| key).collect();
    assert_eq!(left, std::slice::from_ref(object_key), "the released package stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn blob_base_url_sends_devices_to_the_bucket_or_cdn() {
    let Some(bucket) = bucket("blob_base_url").await else { return };
    // A bucket readable by anyone, as behind a CDN: devices fetch objects without signatures.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{}/*", bucket.bucket)}]
    });
    let endpoint = bucket.endpoint.as_deref().expect("endpoint");
    let public = reqwest::Client::new().put(format!("{endpoint}/{}?policy", bucket.bucket)).json(&policy).send().await;
    assert!(public.expect("policy").status().is_success(), "bucket policy");
    let base = format!("{}/{}/{}", bucket.endpoint.as_deref().expect("endpoint"), bucket.bucket, bucket.prefix);
    let server = server_on(&bucket, Some(format!("{base}/"))).await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("App", "Staging", &upload(package(dir.path(), "cdn"), info("^1.0.0"))).await.expect("release");
    let device = server.device();
    let answer = device.check_for_update(&check(&key)).await.expect("check");
    assert!(answer.download_url.starts_with(&format!("{base}/")), "{}", answer.download_url);
    let bytes = device.download(&answer.download_url).await.expect("download from the bucket");
    assert!(answer.download_url.ends_with(&sha256_hex(&bytes)), "{}", answer.download_url);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_bucket_refuses_uploads_with_503_and_update_checks_go_on() {
    let Some(reachable) = bucket("an_unreachable_bucket").await else { return };
    // The bucket's endpoint is a closed port.
    let gone =
        BucketConfig { endpoint: Some(format!("http://127.0.0.1:{}", crate::support::free_port())), ..reachable };
    let dir = tempfile::tempdir().expect("dir");
    let server = server_on(&gone, None).await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "App").await;
    let refused = admin.release("App", "Staging", &upload(package(dir.path(), "two"), info("^1.0.0"))).await;
    let error = refused.expect_err("no bucket, no release");
    assert_eq!(error.status(), Some(503), "{error}");
    assert!(error.to_string().contains("package store cannot be reached"), "{error}");
    assert!(admin.history("App", "Staging").await.expect("history").is_empty(), "nothing half released");
    let ready = server.http().get(format!("{}/ready", server.url)).send().await.expect("ready");
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.expect("text").contains("blob store"));
    let answer = server.device().check_for_update(&check(&key)).await.expect("checks need no bucket");
    assert!(!answer.is_available);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_names_a_bad_blob_setting_and_exits_2() {
    let data = tempfile::tempdir().expect("data");
    let data_dir = data.path().to_string_lossy().into_owned();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir];
    for (extra, expected) in [
        (["--blobs", "gs://packages"], "expected `folder` or s3://bucket/prefix"),
        (["--blob-base-url", "ftp://cdn.example.com"], "--blob-base-url \"ftp://cdn.example.com\" is not usable"),
    ] {
        let args = [&serve[..], &extra[..]].concat();
        let (code, _, stderr) = crate::support::run_otadeck(&args, &[]).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

/// `Range`, `If-Range` and `If-None-Match` on `GET /blobs/…`, the same for the folder and a bucket,
/// for a small package (kept in memory after the first download) and a large one (read from the
/// store for each range).
async fn downloads_resume_and_revalidate(server: &TestServer) {
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let large = dir.path().join("large.bundle");
    let noise: Vec<u8> = (0..1_500_000_u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&large, noise).expect("large package");
    for (index, file) in [package(dir.path(), "ranges"), large].into_iter().enumerate() {
        let deployment = if index == 0 { "Staging" } else { "Production" };
        let released = admin.release("App", deployment, &upload(file, info("^1.0.0"))).await;
        resume_and_revalidate(server, &released.expect("release").blob_url).await;
    }
}

async fn resume_and_revalidate(server: &TestServer, url: &str) {
    let url = url.to_owned();
    let http = server.http();
    let whole = http.get(&url).send().await.expect("get");
    assert_eq!(whole.status(), 200);
    let etag = whole.headers()["etag"].to_str().expect("etag").to_owned();
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let bytes = whole.bytes().await.expect("bytes");
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&bytes)), "the ETag is the content hash");
    let size = bytes.len();

    let get = |range: &'static str| http.get(&url).header("range", range).send();
    let part = get("bytes=10-19").await.expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 10-19/{size}").as_str());
    assert_eq!(part.bytes().await.expect("bytes"), bytes.slice(10..20));
    let tail = get("bytes=-7").await.expect("suffix");
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.expect("bytes"), bytes.slice(size - 7..));
    let resumed = http.get(&url).header("range", "bytes=100-").header("if-range", &etag).send().await.expect("resume");
    assert_eq!(resumed.status(), 206);
    assert_eq!(resumed.bytes().await.expect("bytes"), bytes.slice(100..));
    let changed = http.get(&url).header("range", "bytes=100-").header("if-range", "\"other\"").send().await;
    let changed = changed.expect("if-range mismatch");
    assert_eq!(changed.status(), 200, "another copy gets the whole file");
    assert_eq!(changed.bytes().await.expect("bytes"), bytes);
    let beyond = http.get(&url).header("range", format!("bytes={size}-")).send().await.expect("416");
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], format!("bytes */{size}").as_str());

    let revalidated = http.get(&url).header("if-none-match", &etag).send().await.expect("304");
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert!(revalidated.bytes().await.expect("body").is_empty());
    let other = http.get(&url).header("if-none-match", "\"not-this\"").send().await.expect("200");
    assert_eq!(other.status(), 200);
    let missing = http.get(format!("{}/blobs/{}", server.url, "a".repeat(64))).header("range", "bytes=0-1").send();
    assert_eq!(missing.await.expect("404").status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_resume_and_revalidate_from_the_folder() {
    downloads_resume_and_revalidate(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_resume_and_revalidate_from_a_bucket() {
    let Some(bucket) = bucket("downloads_resume_and_revalidate_from_a_bucket").await else { return };
    downloads_resume_and_revalidate(&server_on(&bucket, None).await).await;
}
