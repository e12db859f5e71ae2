//! Management API stories: release, patch, promote, rollback, keys, permissions, history.

use otadeck::api::management::{AccessKeyPatch, PackageInfo, ReleaseMethod};
use serde_json::json;

use crate::support::{TestServer, app_with_keys, info, package, upload};

#[tokio::test(flavor = "multi_thread")]
async fn release_then_history_shows_labels_metadata_and_a_working_download() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "Shop-Android").await;
    let dir = tempfile::tempdir().expect("dir");
    let zip = package(dir.path(), "v1");
    let mut first = info("^1.0.0");
    first.description = Some("first release".into());
    let released = admin.release("Shop-Android", "Staging", &upload(zip.clone(), first)).await.expect("release");
    assert_eq!(released.label, "v1");
    assert_eq!(released.release_method, ReleaseMethod::Upload);
    assert_eq!(released.released_by, "admin@localhost");
    assert_eq!(released.rollout, Some(100));
    assert!(released.upload_time > 0);
    assert_eq!(released.size, std::fs::metadata(&zip).expect("meta").len());
    assert!(released.blob_url.starts_with(&server.url), "absolute URL: {}", released.blob_url);

    let bytes = server.device().download(&released.blob_url).await.expect("download");
    assert_eq!(bytes, std::fs::read(&zip).expect("zip bytes"));

    let second =
        admin.release("Shop-Android", "Staging", &upload(package(dir.path(), "v2"), info("^1.0.0"))).await.expect("v2");
    assert_eq!(second.label, "v2");
    let history = admin.history("Shop-Android", "Staging").await.expect("history");
    assert_eq!(history.iter().map(|p| p.label.as_str()).collect::<Vec<_>>(), ["v1", "v2"]);
    assert_eq!(history[0].description, "first release");
    assert_eq!(history[1].rollout, None, "history shows complete rollouts as null");

    let deployment = admin.deployment("Shop-Android", "Staging").await.expect("deployment");
    assert_eq!(deployment.package.expect("latest").label, "v2");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_answers_201_with_location_and_delete_answers_204() {
    let server = TestServer::start().await;
    let http = server.http();
    let auth = format!("Bearer {}", crate::support::ADMIN_KEY);
    let response = http
        .post(format!("{}/apps", server.url))
        .header("Authorization", &auth)
        .json(&json!({"name": "My App"}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/apps/My%20App");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["app"]["deployments"], json!(["Production", "Staging"]));
    assert_eq!(body["app"]["collaborators"]["admin@localhost"]["permission"], "Owner");
    let deleted = http
        .delete(format!("{}/apps/My%20App", server.url))
        .header("Authorization", &auth)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let again =
        http.get(format!("{}/apps/My%20App", server.url)).header("Authorization", &auth).send().await.expect("get");
    assert_eq!(again.status(), 404);
    assert!(again.text().await.expect("text").contains("does not exist"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_rules_partial_blocks_new_release_and_only_increases() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let mut partial = info("^1.0.0");
    partial.rollout = Some(json!(30));
    let v1 = admin.release("App", "Staging", &upload(package(dir.path(), "a"), partial)).await.expect("v1");
    assert_eq!(v1.rollout, Some(30));

    let blocked =
        admin.release("App", "Staging", &upload(package(dir.path(), "b"), info("^1.0.0"))).await.expect_err("blocked");
    assert_eq!(blocked.status(), Some(409));
    assert!(blocked.to_string().contains("100% rollout"), "{blocked}");

    let lower = PackageInfo { rollout: Some(json!(20)), ..PackageInfo::default() };
    let error = admin.patch_release("App", "Staging", lower).await.expect_err("decrease refused");
    assert_eq!(error.status(), Some(409));
    assert!(error.to_string().contains("greater than \"30\""), "{error}");

    let raised = admin
        .patch_release("App", "Staging", PackageInfo { rollout: Some(json!(60)), ..PackageInfo::default() })
        .await
        .expect("raise");
    assert_eq!(raised.expect("changed").rollout, Some(60));
    let done = admin
        .patch_release("App", "Staging", PackageInfo { rollout: Some(json!(100)), ..PackageInfo::default() })
        .await
        .expect("complete");
    assert_eq!(done.expect("changed").rollout, Some(100));
    let history = admin.history("App", "Staging").await.expect("history");
    assert_eq!(history[0].rollout, None);

    let complete = admin
        .patch_release("App", "Staging", PackageInfo { rollout: Some(json!(70)), ..PackageInfo::default() })
        .await
        .expect_err("complete");
    assert!(complete.to_string().contains("completed rollout"), "{complete}");
    let unchanged = admin
        .patch_release("App", "Staging", PackageInfo { is_mandatory: Some(false), ..PackageInfo::default() })
        .await
        .expect("no-op");
    assert!(unchanged.is_none(), "nothing changed answers 204");
    admin.release("App", "Staging", &upload(package(dir.path(), "b"), info("^1.0.0"))).await.expect("now allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_content_is_refused_with_409() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let zip = package(dir.path(), "same");
    admin.release("App", "Staging", &upload(zip.clone(), info("^1.0.0"))).await.expect("first");
    let error = admin.release("App", "Staging", &upload(zip.clone(), info("^1.0.0"))).await.expect_err("duplicate");
    assert_eq!(error.status(), Some(409));
    assert!(error.to_string().contains("identical"), "{error}");
    admin.release("App", "Staging", &upload(zip, info("^2.0.0"))).await.expect("other binaries are fine");
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_copies_the_release_with_its_origin() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let mut first = info("1.2.3");
    first.description = Some("fix typo".into());
    first.is_mandatory = Some(true);
    let staged = admin.release("App", "Staging", &upload(package(dir.path(), "p"), first)).await.expect("stage");
    let promoted = admin
        .promote("App", "Staging", "Production", PackageInfo { rollout: Some(json!(25)), ..PackageInfo::default() })
        .await
        .expect("promote");
    assert_eq!(promoted.label, "v1");
    assert_eq!(promoted.release_method, ReleaseMethod::Promote);
    assert_eq!(promoted.original_label.as_deref(), Some("v1"));
    assert_eq!(promoted.original_deployment.as_deref(), Some("Staging"));
    assert_eq!(promoted.package_hash, staged.package_hash);
    assert_eq!(promoted.description, "fix typo");
    assert!(promoted.is_mandatory);
    assert_eq!(promoted.rollout, Some(25));
    let again =
        admin.promote("App", "Staging", "Production", PackageInfo::default()).await.expect_err("partial in dst");
    assert!(again.to_string().contains("unfinished rollout"), "{again}");
    let missing = admin.promote("App", "Staging", "Nowhere", PackageInfo::default()).await.expect_err("no dst");
    assert_eq!(missing.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_answers_the_new_label_and_refuses_disabled_targets() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (staging_key, _) = app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let v1 = admin.release("App", "Staging", &upload(package(dir.path(), "one"), info("*"))).await.expect("v1");
    admin.release("App", "Staging", &upload(package(dir.path(), "two"), info("*"))).await.expect("v2");

    let rolled = admin.rollback("App", "Staging", None).await.expect("rollback");
    assert_eq!(rolled.label, "v3");
    assert_eq!(rolled.release_method, ReleaseMethod::Rollback);
    assert_eq!(rolled.original_label.as_deref(), Some("v1"));
    assert_eq!(rolled.package_hash, v1.package_hash);
    assert_eq!(rolled.released_by, "admin@localhost");

    let query = otadeck::api::acquisition::UpdateCheckQuery {
        deployment_key: Some(staging_key),
        app_version: Some("1.0.0".into()),
        ..Default::default()
    };
    let offered = server.device().check_for_update(&query).await.expect("check");
    assert_eq!(offered.label, "v3");
    assert_eq!(offered.package_hash, v1.package_hash);

    let latest = admin.rollback("App", "Staging", Some("v3")).await.expect_err("latest");
    assert_eq!(latest.status(), Some(409));
    let missing = admin.rollback("App", "Staging", Some("v9")).await.expect_err("missing");
    assert_eq!(missing.status(), Some(404));

    admin
        .patch_release(
            "App",
            "Staging",
            PackageInfo { label: Some("v2".into()), is_disabled: Some(true), ..PackageInfo::default() },
        )
        .await
        .expect("disable v2");
    let disabled = admin.rollback("App", "Staging", Some("v2")).await.expect_err("disabled target");
    assert_eq!(disabled.status(), Some(409));
    assert!(disabled.to_string().contains("disabled"), "{disabled}");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_keys_are_hashed_masked_and_expire() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let created = admin.create_access_key("CI pipeline", None).await.expect("create");
    assert_eq!(created.name.len(), 43);
    let listed = admin.access_keys().await.expect("list");
    assert!(listed.iter().all(|k| k.name == "(hidden)"), "{listed:?}");
    assert!(listed.iter().any(|k| k.friendly_name == "CI pipeline"));

    let contains = |haystack: &[u8], needle: &str| haystack.windows(needle.len()).any(|w| w == needle.as_bytes());
    if crate::support::on_postgres() {
        // Every text the database holds about keys, as PostgreSQL returns it.
        let stored: Vec<String> = server
            .state
            .store
            .run(|c| {
                c.query_map("SELECT CAST(k.* AS TEXT) FROM access_keys k", otadeck::server::store::params![], |row| {
                    row.get(0)
                })
            })
            .await
            .expect("keys");
        assert_eq!(stored.len(), 2, "{stored:?}");
        assert!(stored.iter().all(|row| !row.contains(&created.name)), "secret stored in clear: {stored:?}");
    } else {
        let database = std::fs::read(server.data_dir.path().join("otadeck.sqlite3")).expect("db");
        let wal = std::fs::read(server.data_dir.path().join("otadeck.sqlite3-wal")).unwrap_or_default();
        assert!(!contains(&database, &created.name) && !contains(&wal, &created.name), "secret stored in clear");
    }

    let ci = otadeck::client::ManagementClient::new(&server.url, &created.name).expect("client");
    assert_eq!(ci.account().await.expect("account").email, "admin@localhost");
    admin
        .patch_access_key("CI pipeline", &AccessKeyPatch { ttl: Some(0.0), ..AccessKeyPatch::default() })
        .await
        .expect("expire");
    let expired = ci.account().await.expect_err("expired");
    assert_eq!(expired.status(), Some(401));
    assert!(expired.to_string().contains("expired"), "{expired}");

    let stranger = otadeck::client::ManagementClient::new(&server.url, "not-a-real-key-000").expect("client");
    let invalid = stranger.apps().await.expect_err("invalid");
    assert_eq!(invalid.status(), Some(401));
    admin.delete_access_key("CI pipeline").await.expect("delete");
    assert_eq!(admin.access_key("CI pipeline").await.expect_err("gone").status(), Some(404));
}

#[tokio::test(flavor = "multi_thread")]
async fn collaborators_may_release_but_not_delete() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let support_key = server
        .state
        .store
        .run(|c| {
            let id = otadeck::server::store::accounts::create_account(c, "support@example.com", "Support")?;
            let caller = otadeck::server::store::AuthenticatedCaller::full(id, "support@example.com", "Support");
            otadeck::server::store::accounts::create_access_key(c, &caller, "laptop", "test", None, false)
        })
        .await
        .expect("second account");
    let support = otadeck::client::ManagementClient::new(&server.url, &support_key.name).expect("client");
    assert_eq!(support.app("App").await.expect_err("not yet").status(), Some(404));

    admin.add_collaborator("App", "support@example.com").await.expect("add");
    let collaborators = admin.collaborators("App").await.expect("list");
    assert_eq!(collaborators.len(), 2);
    let dir = tempfile::tempdir().expect("dir");
    support
        .release("App", "Staging", &upload(package(dir.path(), "c"), info("*")))
        .await
        .expect("collaborator releases");
    let forbidden = support.delete_app("App").await.expect_err("owner only");
    assert_eq!(forbidden.status(), Some(403));
    assert!(forbidden.to_string().contains("Owner"), "{forbidden}");
    assert_eq!(support.clear_history("App", "Staging").await.expect_err("owner only").status(), Some(403));
    let unknown = admin.add_collaborator("App", "nobody@example.com").await.expect_err("unknown");
    assert_eq!(unknown.status(), Some(404));

    admin.transfer_app("App", "support@example.com").await.expect("transfer");
    support.clear_history("App", "Staging").await.expect("new owner may clear");
    assert!(support.history("App", "Staging").await.expect("history").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn deployments_can_be_added_renamed_and_removed() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let custom = admin.create_deployment("App", "QA", Some("my-own-deployment-key")).await.expect("create");
    assert_eq!(custom.key, "my-own-deployment-key");
    let duplicate = admin.create_deployment("App", "QA", None).await.expect_err("dup");
    assert_eq!(duplicate.status(), Some(409));
    let renamed = admin.rename_deployment("App", "QA", "Beta").await.expect("rename");
    assert_eq!(renamed.name, "Beta");
    admin.delete_deployment("App", "Beta").await.expect("delete");
    let names: Vec<String> = admin.deployments("App").await.expect("list").into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["Production", "Staging"]);
    admin.rename_app("App", "Renamed").await.expect("rename app");
    assert_eq!(admin.apps().await.expect("apps")[0].name, "Renamed");
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_progress_reports_every_byte() {
    let server = TestServer::start().await;
    let admin = server.admin();
    app_with_keys(&admin, "App").await;
    let dir = tempfile::tempdir().expect("dir");
    let zip = package(dir.path(), "progress");
    let size = std::fs::metadata(&zip).expect("meta").len();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    admin
        .release_with_progress("App", "Staging", &upload(zip, info("*")), move |sent, total| {
            record.lock().expect("lock").push((sent, total));
        })
        .await
        .expect("release");
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.last(), Some(&(size, size)), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "monotonic");
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_keeps_devices_where_they_are_and_resume_continues_the_rollout_and_its_schedule() {
    use otadeck::api::acquisition::UpdateCheckQuery;
    use otadeck::api::management::RolloutPolicy;
    const HOUR: i64 = 3_600_000;
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Paused").await;
    let policy = RolloutPolicy {
        steps: vec![10, 50, 100],
        interval_ms: HOUR,
        max_failure_ratio: 0.5,
        min_reports: 100,
        min_failure_prefixes: 1,
    };
    admin.set_policy("Paused", "Staging", &policy).await.expect("policy");
    let dir = tempfile::tempdir().expect("dir");
    let v1 = admin.release("Paused", "Staging", &upload(package(dir.path(), "one"), info("1.0.0"))).await.expect("v1");
    let mut partial = info("1.0.0");
    partial.rollout = Some(json!(10));
    let v2 = admin.release("Paused", "Staging", &upload(package(dir.path(), "two"), partial)).await.expect("v2");
    let device = server.device();
    let check = |id: String, on: Option<&otadeck::api::management::Package>| {
        let device = device.clone();
        let query = UpdateCheckQuery {
            deployment_key: Some(key.clone()),
            app_version: Some("1.0.0".into()),
            client_unique_id: Some(id),
            label: on.map(|p| p.label.clone()),
            package_hash: on.map(|p| p.package_hash.clone()),
            ..UpdateCheckQuery::default()
        };
        async move { device.check_for_update(&query).await.expect("check") }
    };
    // Two devices inside v2's 10 %: one has installed v2, the other runs v1.
    let mut inside = Vec::new();
    for n in 0..2_000 {
        let id = format!("phone-{n}");
        if check(id.clone(), Some(&v1)).await.label == "v2" {
            inside.push(id);
        }
        if inside.len() == 2 {
            break;
        }
    }
    let (on_v2, on_v1) = (inside[0].clone(), inside[1].clone());
    assert!(!check(on_v2.clone(), Some(&v2)).await.is_available);

    let pause = PackageInfo { label: Some("v2".into()), is_paused: Some(true), ..PackageInfo::default() };
    let paused = admin.patch_release("Paused", "Staging", pause).await.expect("pause").expect("changed");
    assert!(paused.is_paused && !paused.is_disabled);
    let kept = check(on_v2.clone(), Some(&v2)).await;
    assert!(!kept.is_available && !kept.should_run_binary_version, "a device on v2 keeps it, not moved to v1");
    assert!(!check(on_v1.clone(), Some(&v1)).await.is_available, "no device moves onto a paused release");
    assert_eq!(check("fresh-phone".into(), None).await.label, "v1", "new devices get v1");
    let far_future = otadeck::server::store::now_ms() + 10 * HOUR;
    assert_eq!(server.state.advance_schedules(far_future).await.expect("tick"), 0, "a paused release never advances");

    let resume = PackageInfo { label: Some("v2".into()), is_paused: Some(false), ..PackageInfo::default() };
    let resumed_at = otadeck::server::store::now_ms();
    admin.patch_release("Paused", "Staging", resume).await.expect("resume").expect("changed");
    assert_eq!(check(on_v1.clone(), Some(&v1)).await.label, "v2", "the rollout continues");
    assert_eq!(
        server.state.advance_schedules(resumed_at + HOUR - 1_000).await.expect("tick"),
        0,
        "interval from resume"
    );
    assert_eq!(server.state.advance_schedules(resumed_at + HOUR + 2_000).await.expect("tick"), 1);
    assert_eq!(admin.history("Paused", "Staging").await.expect("history")[1].rollout, Some(50));
    let kinds: Vec<(String, String)> =
        admin.events("Paused", "Staging").await.expect("events").into_iter().map(|e| (e.kind, e.actor)).collect();
    for kind in ["paused", "resumed"] {
        assert!(kinds.contains(&(kind.to_owned(), "admin@localhost".to_owned())), "{kind} event with who: {kinds:?}");
    }

    // A paused partial release does not block the fix: a new release can be pushed over it.
    let pause = PackageInfo { label: Some("v2".into()), is_paused: Some(true), ..PackageInfo::default() };
    admin.patch_release("Paused", "Staging", pause).await.expect("pause again");
    admin.release("Paused", "Staging", &upload(package(dir.path(), "three"), info("1.0.0"))).await.expect("v3 over it");
    assert_eq!(check(on_v2, Some(&v2)).await.label, "v3", "the fix reaches devices on v2");
}
