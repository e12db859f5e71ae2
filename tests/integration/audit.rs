//! The audit trail: every management mutation leaves exactly one entry with the right fields
//! before and after, refused or empty changes leave none, the log cannot be rewritten, protected
//! deployments refuse changes without a reason, and collaborator roles cap keys.

use otadeck::api::management::{AccessKeyPatch, AuditEntry, AuditQuery, NewBinary, PackageInfo, RolloutPolicy};
use otadeck::client::ManagementClient;
use otadeck::server::store::{AuthenticatedCaller, accounts};
use serde_json::json;

use crate::support::{TestServer, info, package, upload};

/// All entries the admin can see, newest first.
async fn entries(admin: &ManagementClient) -> Vec<AuditEntry> {
    admin.audit(&AuditQuery::default()).await.expect("audit")
}

/// Runs `mutation` and checks it added exactly one entry with `action`, returning it.
async fn one_entry<T>(
    admin: &ManagementClient,
    action: &str,
    mutation: impl std::future::Future<Output = T>,
) -> AuditEntry {
    let before = entries(admin).await.len();
    mutation.await;
    let after = entries(admin).await;
    assert_eq!(after.len(), before + 1, "{action}: exactly one new entry; newest: {:?}", after.first());
    let entry = after.into_iter().next().expect("newest");
    assert_eq!(entry.action, action);
    entry
}

async fn no_entry<T>(admin: &ManagementClient, what: &str, mutation: impl std::future::Future<Output = T>) {
    let before = entries(admin).await.len();
    mutation.await;
    assert_eq!(entries(admin).await.len(), before, "{what}: no entry");
}

/// A second account with a full key.
async fn account(server: &TestServer, email: &str) -> ManagementClient {
    let email = email.to_owned();
    let key = server
        .state
        .store
        .run(move |c| {
            let id = accounts::create_account(c, &email, "Colleague")?;
            let caller = AuthenticatedCaller::full(id, &email, "Colleague");
            accounts::create_access_key(c, &caller, "laptop", "test", None, false)
        })
        .await
        .expect("account");
    ManagementClient::new(&server.url, &key.name).expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mutation_leaves_exactly_one_entry_with_its_fields_before_and_after() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let dir = tempfile::tempdir().expect("dir");
    account(&server, "colleague@example.com").await;

    let created = one_entry(&admin, "app.create", async { admin.create_app("Audited").await.expect("app") }).await;
    assert_eq!(created.before, None);
    assert_eq!(created.after, Some(json!({"name": "Audited", "deployments": ["Production", "Staging"]})));
    assert_eq!(created.account, "admin@localhost");
    assert_eq!(created.key_name, "Bootstrap admin key");
    assert_eq!(created.client_ip.as_deref(), Some("127.0.0.1"));

    let entry = one_entry(&admin, "deployment.create", async {
        admin.create_deployment("Audited", "QA", None).await.expect("deployment")
    })
    .await;
    assert_eq!(entry.target, "Audited/QA");
    assert_eq!(entry.after, Some(json!({"name": "QA", "isProtected": false})));

    let entry = one_entry(&admin, "release.upload", async {
        let mut first = info("1.0.0");
        first.rollout = Some(json!(10));
        admin.release("Audited", "Staging", &upload(package(dir.path(), "one"), first)).await.expect("v1")
    })
    .await;
    assert_eq!((entry.deployment.as_deref(), entry.label.as_deref()), (Some("Staging"), Some("v1")));
    let after = entry.after.expect("after");
    assert_eq!((after["rollout"].clone(), after["releaseMethod"].clone()), (json!(10), json!("Upload")));

    let entry = one_entry(&admin, "release.patch", async {
        let raise = PackageInfo { rollout: Some(json!(50)), ..PackageInfo::default() };
        admin.patch_release("Audited", "Staging", raise).await.expect("patch")
    })
    .await;
    assert_eq!(entry.before, Some(json!({"rollout": 10})), "only the changed field");
    assert_eq!(entry.after, Some(json!({"rollout": 50})));
    assert_eq!(entry.target, "Audited/Staging v1");

    no_entry(&admin, "a patch that changes nothing", async {
        let same = PackageInfo { is_mandatory: Some(false), ..PackageInfo::default() };
        assert!(admin.patch_release("Audited", "Staging", same).await.expect("no-op").is_none());
    })
    .await;
    no_entry(&admin, "a refused change (rollout down)", async {
        let lower = PackageInfo { rollout: Some(json!(5)), ..PackageInfo::default() };
        assert_eq!(admin.patch_release("Audited", "Staging", lower).await.expect_err("409").status(), Some(409));
    })
    .await;

    let entry = one_entry(&admin, "release.patch", async {
        let both = PackageInfo { is_mandatory: Some(true), is_paused: Some(true), ..PackageInfo::default() };
        admin.patch_release("Audited", "Staging", both).await.expect("patch")
    })
    .await;
    assert_eq!(entry.before, Some(json!({"isMandatory": false, "isPaused": false})));
    assert_eq!(entry.after, Some(json!({"isMandatory": true, "isPaused": true})));

    let entry = one_entry(&admin, "release.promote", async {
        admin.promote("Audited", "Staging", "Production", PackageInfo::default()).await.expect("promote")
    })
    .await;
    assert_eq!((entry.deployment.as_deref(), entry.label.as_deref()), (Some("Production"), Some("v1")));
    assert_eq!(entry.after.expect("after")["originalDeployment"], json!("Staging"));

    admin.release("Audited", "Staging", &upload(package(dir.path(), "two"), info("1.0.0"))).await.expect("v2");
    let entry = one_entry(&admin, "release.rollback", async {
        admin.rollback("Audited", "Staging", None).await.expect("rollback")
    })
    .await;
    assert_eq!(entry.label.as_deref(), Some("v3"));
    assert_eq!(entry.after.expect("after")["originalLabel"], json!("v1"));

    let policy: RolloutPolicy = serde_json::from_value(
        json!({"steps": [50, 100], "intervalMs": 60000, "maxFailureRatio": 0.5, "minReports": 10}),
    )
    .expect("policy");
    let entry = one_entry(&admin, "policy.set", async {
        admin.set_policy("Audited", "Staging", &policy).await.expect("policy")
    })
    .await;
    assert_eq!(entry.before, None);
    assert_eq!(entry.after.expect("after")["steps"], json!([50, 100]));
    no_entry(&admin, "the same policy again", async {
        admin.set_policy("Audited", "Staging", &policy).await.expect("same policy")
    })
    .await;
    let entry = one_entry(&admin, "policy.delete", async {
        admin.delete_policy("Audited", "Staging").await.expect("delete policy")
    })
    .await;
    assert_eq!(entry.after, None);

    let entry = one_entry(&admin, "binary.register", async {
        let binary = NewBinary {
            platform: Some("android".into()),
            app_version: Some("1.0.0".into()),
            build_number: Some(7),
            fingerprint: Some(json!({"react-native": "0.77.0"})),
            mendix_model: None,
            bundle_manifest: None,
        };
        admin.register_binary("Audited", &binary).await.expect("binary")
    })
    .await;
    assert_eq!(entry.after.expect("after")["buildNumber"], json!(7));

    let entry = one_entry(&admin, "collaborator.add", async {
        admin.add_collaborator_with_role("Audited", "colleague@example.com", vec!["support".into()]).await.expect("add")
    })
    .await;
    assert_eq!(
        entry.after,
        Some(json!({"collaborator": "colleague@example.com", "role": ["read", "rollback", "pause"]}))
    );
    let entry = one_entry(&admin, "collaborator.role", async {
        admin.set_collaborator_role("Audited", "colleague@example.com", None).await.expect("role")
    })
    .await;
    assert_eq!(entry.before, Some(json!({"role": ["read", "rollback", "pause"]})));
    assert_eq!(entry.after, Some(json!({"role": null})));
    one_entry(&admin, "collaborator.remove", async {
        admin.remove_collaborator("Audited", "colleague@example.com").await.expect("remove")
    })
    .await;

    let entry = one_entry(&admin, "deployment.update", async {
        admin.rename_deployment("Audited", "QA", "Beta").await.expect("rename")
    })
    .await;
    assert_eq!((entry.before, entry.after), (Some(json!({"name": "QA"})), Some(json!({"name": "Beta"}))));
    let entry = one_entry(&admin, "deployment.clearHistory", async {
        admin.clear_history("Audited", "Staging").await.expect("clear")
    })
    .await;
    assert_eq!((entry.before, entry.after), (Some(json!({"releases": 3})), Some(json!({"releases": 0}))));
    let entry = one_entry(&admin, "deployment.delete", async {
        admin.delete_deployment("Audited", "Beta").await.expect("delete")
    })
    .await;
    assert_eq!(entry.before, Some(json!({"name": "Beta", "isProtected": false})));

    let mut secret = String::new();
    let entry = one_entry(&admin, "accessKey.create", async {
        secret = admin.create_scoped_access_key("ci", None, vec!["release:Staging".into()]).await.expect("key").name;
    })
    .await;
    let fields = entry.after.expect("after");
    assert_eq!(fields["scopes"], json!(["release:Staging"]));
    assert!(secret.len() > 40 && !fields.to_string().contains(&secret), "never the secret");
    let entry = one_entry(&admin, "accessKey.update", async {
        let rename = AccessKeyPatch { friendly_name: Some("ci-staging".into()), ..AccessKeyPatch::default() };
        admin.patch_access_key("ci", &rename).await.expect("patch key")
    })
    .await;
    assert_eq!(entry.after.expect("after")["friendlyName"], json!("ci-staging"));
    one_entry(&admin, "accessKey.delete", async { admin.delete_access_key("ci-staging").await.expect("delete key") })
        .await;

    let entry =
        one_entry(&admin, "app.rename", async { admin.rename_app("Audited", "Renamed").await.expect("rename") }).await;
    assert_eq!((entry.before, entry.after), (Some(json!({"name": "Audited"})), Some(json!({"name": "Renamed"}))));
    one_entry(&admin, "app.delete", async { admin.delete_app("Renamed").await.expect("delete app") }).await;

    admin.create_app("Handover").await.expect("app");
    let entry = one_entry(&admin, "app.transfer", async {
        admin.transfer_app("Handover", "colleague@example.com").await.expect("transfer")
    })
    .await;
    assert_eq!(entry.after, Some(json!({"owner": "colleague@example.com"})));
    let session = json!({"friendlyName": "Login on laptop-1", "createdBy": "laptop-1", "isSession": true});
    let response = server
        .http()
        .post(format!("{}/accessKeys", server.url))
        .bearer_auth(crate::support::ADMIN_KEY)
        .json(&session)
        .send()
        .await
        .expect("session");
    assert_eq!(response.status(), 201);
    let entry =
        one_entry(&admin, "session.delete", async { admin.delete_sessions("laptop-1").await.expect("sessions") }).await;
    assert_eq!(entry.target, "sessions created by \"laptop-1\"");

    // Filters: entries of the app stay findable by the name it had, in time order.
    let by_app = AuditQuery { app: Some("Audited".into()), ..AuditQuery::default() };
    let by_app = admin.audit(&by_app).await.expect("q");
    assert!(by_app.len() > 15 && by_app.iter().all(|e| e.app.as_deref() == Some("Audited")), "{}", by_app.len());
    let staging =
        AuditQuery { app: Some("Audited".into()), deployment: Some("Staging".into()), ..AuditQuery::default() };
    let staging = admin.audit(&staging).await.expect("q");
    assert!(staging.iter().all(|e| e.deployment.as_deref() == Some("Staging")) && staging.len() >= 8);
    let all = entries(&admin).await;
    let middle = all[all.len() / 2].time;
    let later = admin.audit(&AuditQuery { from: Some(middle), ..AuditQuery::default() }).await.expect("q");
    assert!(later.iter().all(|e| e.time >= middle) && later.len() < all.len());
    let none = AuditQuery { account: Some("colleague@example.com".into()), ..AuditQuery::default() };
    assert!(admin.audit(&none).await.expect("q").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_is_append_only_and_private_to_the_apps_collaborators() {
    let server = TestServer::start().await;
    let admin = server.admin();
    admin.create_app("Private").await.expect("app");
    let stranger = account(&server, "stranger@example.com").await;
    stranger.create_app("Theirs").await.expect("their app");
    let seen: Vec<String> =
        stranger.audit(&AuditQuery::default()).await.expect("audit").into_iter().map(|e| e.target).collect();
    assert_eq!(seen, vec!["Theirs".to_owned()], "only their own entries");

    let tampered = server
        .state
        .store
        .run(|c| {
            let update = c
                .execute("UPDATE audit_log SET account = 'someone-else'", otadeck::server::store::params![])
                .map(|_| ());
            let delete = c.execute("DELETE FROM audit_log", otadeck::server::store::params![]).map(|_| ());
            Ok((update.err().map(|e| e.to_string()), delete.err().map(|e| e.to_string())))
        })
        .await
        .expect("store");
    assert!(tampered.0.as_ref().is_some_and(|e| e.contains("append-only")), "{tampered:?}");
    assert!(tampered.1.is_some_and(|e| e.contains("append-only")));
    assert_eq!(entries(&admin).await.len(), 1, "still there");

    // A change whose entry cannot be written does not happen either.
    server
        .state
        .store
        .run(|c| {
            c.batch(match c.dialect() {
                otadeck::server::store::Dialect::Sqlite => {
                    "CREATE TRIGGER refuse_entries BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"
                }
                otadeck::server::store::Dialect::Postgres => {
                    "CREATE FUNCTION refuse_entries() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk says no'; END; $$;
                     CREATE TRIGGER refuse_entries BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_entries();"
                }
            })?;
            Ok(())
        })
        .await
        .expect("trigger");
    let failed = admin.create_deployment("Private", "QA", None).await.expect_err("no entry, no change");
    assert_eq!(failed.status(), Some(500));
    let names: Vec<String> = admin.deployments("Private").await.expect("list").into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["Production", "Staging"], "the deployment was rolled back with its entry");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_deployment_refuses_changes_without_a_reason() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let dir = tempfile::tempdir().expect("dir");
    admin.create_app("Guarded").await.expect("app");
    let mut first = info("1.0.0");
    first.rollout = Some(json!(10));
    admin.release("Guarded", "Production", &upload(package(dir.path(), "one"), first)).await.expect("v1");
    let protected = admin.set_deployment_protected("Guarded", "Production", true).await.expect("protect");
    assert!(protected.is_protected);

    let before = entries(&admin).await.len();
    let raise = PackageInfo { rollout: Some(json!(50)), ..PackageInfo::default() };
    let refused = admin.patch_release("Guarded", "Production", raise.clone()).await.expect_err("needs a reason");
    assert_eq!(refused.status(), Some(428));
    assert!(refused.to_string().contains("protected") && refused.to_string().contains("reason"), "{refused}");
    let refused = admin
        .release("Guarded", "Production", &upload(package(dir.path(), "two"), info("1.0.0")))
        .await
        .expect_err("upload needs a reason");
    assert_eq!(refused.status(), Some(428));
    assert_eq!(admin.rollback("Guarded", "Production", None).await.expect_err("rollback").status(), Some(428));
    let unprotect = admin.set_deployment_protected("Guarded", "Production", false).await.expect_err("unprotect");
    assert_eq!(unprotect.status(), Some(428));
    let history = admin.history("Guarded", "Production").await.expect("history");
    assert_eq!((history.len(), history[0].rollout), (1, Some(10)), "nothing changed");
    assert_eq!(entries(&admin).await.len(), before, "and nothing was recorded");

    // Staging is not protected: no reason needed there.
    admin.release("Guarded", "Staging", &upload(package(dir.path(), "three"), info("1.0.0"))).await.expect("staging");

    let reason = "Crash rate fine after 24 h – raising (ticket OPS-12, 100% ✓)";
    let with_reason = admin.clone().with_reason(Some(reason));
    let entry = one_entry(&admin, "release.patch", async {
        with_reason.patch_release("Guarded", "Production", raise).await.expect("with a reason")
    })
    .await;
    assert_eq!(entry.reason.as_deref(), Some(reason), "kept exactly, non-ASCII included");
    assert_eq!(entry.after, Some(json!({"rollout": 50})));

    let bad = server
        .http()
        .patch(format!("{}/apps/Guarded/deployments/Production/release", server.url))
        .bearer_auth(crate::support::ADMIN_KEY)
        .header("X-Otadeck-Reason", "x".repeat(501))
        .json(&json!({"packageInfo": {"rollout": 60}}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400, "an oversized reason is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collaborator_role_caps_every_key_of_that_collaborator_on_the_app() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let dir = tempfile::tempdir().expect("dir");
    admin.create_app("Shared").await.expect("app");
    admin.release("Shared", "Staging", &upload(package(dir.path(), "one"), info("1.0.0"))).await.expect("v1");
    admin.release("Shared", "Staging", &upload(package(dir.path(), "two"), info("1.0.0"))).await.expect("v2");
    let support = account(&server, "support@example.com").await;
    admin.add_collaborator_with_role("Shared", "support@example.com", vec!["support".into()]).await.expect("add");
    let listed = admin.collaborators("Shared").await.expect("collaborators");
    assert_eq!(listed["support@example.com"].role, Some(vec!["read".into(), "rollback".into(), "pause".into()]));

    // Their key is unscoped, yet on this app they may only do what the role allows.
    assert_eq!(support.history("Shared", "Staging").await.expect("read").len(), 2);
    let mandatory = PackageInfo { is_mandatory: Some(true), ..PackageInfo::default() };
    let refused = support.patch_release("Shared", "Staging", mandatory.clone()).await.expect_err("no rollout");
    assert_eq!(refused.status(), Some(403));
    assert!(refused.to_string().contains("role"), "{refused}");
    let refused = support
        .release("Shared", "Staging", &upload(package(dir.path(), "three"), info("1.0.0")))
        .await
        .expect_err("no release");
    assert_eq!(refused.status(), Some(403));
    let pause = PackageInfo { is_paused: Some(true), ..PackageInfo::default() };
    support.patch_release("Shared", "Staging", pause).await.expect("pause is in the role");
    support.rollback("Shared", "Staging", None).await.expect("rollback is in the role");

    // Their own app is not capped.
    support.create_app("Mine").await.expect("own app");
    support.release("Mine", "Staging", &upload(package(dir.path(), "four"), info("1.0.0"))).await.expect("own");

    // Without a role, the collaborator is back to full collaborator rights.
    admin.set_collaborator_role("Shared", "support@example.com", None).await.expect("lift");
    support.patch_release("Shared", "Staging", mandatory).await.expect("now allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_protects_a_deployment_passes_reasons_and_shows_the_trail() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let dir = tempfile::tempdir().expect("dir");
    admin.create_app("Cli-Android").await.expect("app");
    let mut first = info("1.0.0");
    first.rollout = Some(json!(10));
    admin.release("Cli-Android", "Production", &upload(package(dir.path(), "one"), first)).await.expect("v1");
    let otadeck = |args: &'static [&'static str]| cli(&server, args);
    let (code, stdout, stderr) =
        otadeck(&["deployment", "protect", "--app", "Cli-Android", "--deployment", "Production"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("protected"), "{stdout}");

    let patch: &'static [&'static str] = &[
        "release",
        "patch-update",
        "--app",
        "Cli-Android",
        "--deployment",
        "Production",
        "--rollout-percentage",
        "40",
    ];
    let (code, _, stderr) = otadeck(patch).await;
    assert_eq!(code, 4, "refused by the server: {stderr}");
    assert!(stderr.contains("protected") && stderr.contains("--reason"), "{stderr}");
    let with_reason = [patch, &["--reason", "Nachts um 2: Absturzrate ok"]].concat();
    let (code, _, stderr) = cli(&server, &with_reason).await;
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) =
        otadeck(&["audit", "--app", "Cli-Android", "--deployment", "Production", "--since", "1h", "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let newest = &document["entries"][0];
    assert_eq!(newest["action"], json!("release.patch"));
    assert_eq!(newest["reason"], json!("Nachts um 2: Absturzrate ok"));
    assert_eq!((newest["before"].clone(), newest["after"].clone()), (json!({"rollout": 10}), json!({"rollout": 40})));
    let (code, stdout, _) = otadeck(&["audit", "--app", "Cli-Android"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("release.patch") && stdout.contains("reason: Nachts um 2"), "{stdout}");
}

async fn cli(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let envs = [("OTADECK_SERVER", server.url.as_str()), ("OTADECK_ACCESS_KEY", crate::support::ADMIN_KEY)];
    crate::support::run_otadeck(args, &envs).await
}
