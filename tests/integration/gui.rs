//! The desktop app driven through its AccessKit tree (egui_kittest) against a real server on
//! loopback: the release list, rollout, toggles, rollback, promote, the push flow, and losing the
//! server. Each test owns a multi-thread runtime; waits are bounded polls, never fixed sleeps.

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use otadeck::api::acquisition::DeployReport;
use otadeck::api::management::{Package, PackageInfo, ReleaseMethod};
use otadeck::gui::views::format::{count, local_time, percent};
use otadeck::gui::{Connection, OtadeckApp};
use serde_json::json;

use crate::support::{ADMIN_KEY, TestServer, info, package, upload};

struct Gui {
    runtime: tokio::runtime::Runtime,
    server: Option<TestServer>,
    dir: tempfile::TempDir,
}

impl Gui {
    /// A server with app `Shop-Android`: v1 (1.0.0), v2 (1.0.0, builds 40-45), v3 (1.0.0, 20 %).
    fn seeded() -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let dir = tempfile::tempdir().expect("dir");
        let server = runtime.block_on(async {
            let server = TestServer::start().await;
            let admin = server.admin();
            admin.create_app("Shop-Android").await.expect("app");
            admin
                .release("Shop-Android", "Staging", &upload(package(dir.path(), "one"), info("1.0.0")))
                .await
                .expect("v1");
            let mut pinned = info("1.0.0");
            pinned.build_number = Some("40-45".into());
            admin.release("Shop-Android", "Staging", &upload(package(dir.path(), "two"), pinned)).await.expect("v2");
            let mut partial = info("1.0.0");
            partial.rollout = Some(json!(20));
            partial.description = Some("third".into());
            admin.release("Shop-Android", "Staging", &upload(package(dir.path(), "three"), partial)).await.expect("v3");
            server
        });
        Self { runtime, server: Some(server), dir }
    }

    /// Reports `active` devices running `label` (or the binary, for a version) on Staging.
    fn report_active(&self, subject: &str, active: usize) {
        let server = self.server();
        self.runtime.block_on(async {
            let key = server.admin().deployment("Shop-Android", "Staging").await.expect("deployment").key;
            let device = server.device();
            for n in 0..active {
                if subject != "1.0.0" {
                    let download = otadeck::api::acquisition::DownloadReport {
                        deployment_key: Some(key.clone()),
                        label: Some(subject.to_owned()),
                        client_unique_id: Some(format!("{subject}-phone-{n}")),
                    };
                    device.report_download(&download).await.expect("download report");
                }
                let report = DeployReport {
                    deployment_key: Some(key.clone()),
                    app_version: Some("1.0.0".into()),
                    client_unique_id: Some(format!("{subject}-phone-{n}")),
                    label: (subject != "1.0.0").then(|| subject.to_owned()),
                    status: (subject != "1.0.0").then(|| "DeploymentSucceeded".to_owned()),
                    previous_label_or_app_version: None,
                    previous_deployment_key: None,
                };
                device.report_deploy(&report).await.expect("report");
            }
        });
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().expect("server running")
    }

    /// The app on the seeded server, which stands in for the app's own embedded server.
    fn harness(&self) -> Harness<'static, OtadeckApp> {
        let connection = Connection::new("Test", &self.server().url, ADMIN_KEY).expect("connection").embedded();
        let handle = self.runtime.handle().clone();
        Harness::builder()
            .with_size(egui::vec2(1500.0, 950.0))
            .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection))
    }

    /// The app on the seeded server, keeping access keys in `keys.toml` in the test's dir; waits for
    /// the first load.
    fn harness_with_key_file(&self) -> Harness<'static, OtadeckApp> {
        let connection = Connection::new("Test", &self.server().url, ADMIN_KEY).expect("connection");
        let handle = self.runtime.handle().clone();
        let key_store = otadeck::gui::KeyStore::at(self.dir.path().join("keys.toml"));
        let mut harness = Harness::builder()
            .with_size(egui::vec2(1500.0, 950.0))
            .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection).with_key_store(key_store));
        step_until(&mut harness, "first server loaded", |h| shows(h, "Shop"));
        harness
    }

    fn history(&self, deployment: &str) -> Vec<Package> {
        self.runtime.block_on(self.server().admin().history("Shop-Android", deployment)).expect("history")
    }
}

/// Steps the app until `done` holds, for at most 60 s (the suite shares two cores with servers,
/// fleets and the PostgreSQL rerun).
fn step_until(
    harness: &mut Harness<'_, OtadeckApp>,
    what: &str,
    mut done: impl FnMut(&Harness<'_, OtadeckApp>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        if done(harness) {
            return;
        }
        if Instant::now() >= deadline {
            let labels: Vec<String> =
                harness.query_all_by_label_contains("").filter_map(|n| n.accesskit_node().label()).collect();
            panic!("timed out waiting for: {what}\nvisible labels: {labels:?}");
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn shows(harness: &Harness<'_, OtadeckApp>, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

/// Opens Server → Add server…, types `fields` (label, value) and saves.
fn add_server(harness: &mut Harness<'_, OtadeckApp>, fields: &[(&str, &str)]) {
    harness.get_by_label("Server").click();
    step_until(harness, "server menu", |h| shows(h, "Add server…"));
    harness.get_by_label("Add server…").click();
    step_until(harness, "add server window", |h| shows(h, "Save and connect"));
    for (field, value) in fields {
        harness.get_by_role_and_label(Role::TextInput, field).focus();
        harness.step();
        harness.get_by_role_and_label(Role::TextInput, field).type_text(value);
        harness.step();
    }
    harness.get_by_label("Save and connect").click();
}

/// Waits for a server-side condition while the app keeps running.
fn wait_for_server(harness: &mut Harness<'_, OtadeckApp>, what: &str, mut done: impl FnMut() -> bool) {
    step_until(harness, what, |_| done());
}

#[test]
fn lists_seeded_releases_grouped_by_target_version_and_build() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "releases listed", |h| shows(h, "v1") && shows(h, "v2") && shows(h, "v3"));
    assert!(shows(&harness, "Target 1.0.0"), "group of releases without a build constraint");
    assert!(shows(&harness, "Target 1.0.0 · builds 40-45"), "group of the build-pinned release");
    assert!(shows(&harness, "Shop-Android / Staging"));
    assert!(shows(&harness, "Release v3"), "the newest release is selected");
}

#[test]
fn raising_the_rollout_with_confirmation_changes_the_server() {
    let gui = Gui::seeded();
    gui.report_active("v1", 30);
    gui.report_active("1.0.0", 10);
    gui.report_active("v2", 7);
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_role_and_label(Role::Slider, "Rollout percentage").set_value_accesskit(60.0);
    harness.run_steps(2);
    harness.get_by_label("Apply rollout…").click();
    step_until(&mut harness, "confirmation", |h| shows(h, "Confirm rollout"));
    assert!(shows(&harness, "From 20% to 60% of devices on Staging."));
    // The blast radius: v1's 30 devices and the 1.0.0 binary's 10 share v3's target (v2 is pinned to builds).
    assert!(
        shows(&harness, "About 16 more of the 40 active devices on 1.0.0 get v3 at their next start."),
        "blast radius from the metrics"
    );
    harness.get_by_label("Confirm rollout").click_accesskit();
    wait_for_server(&mut harness, "rollout 60 on the server", || gui.history("Staging")[2].rollout == Some(60));
    step_until(&mut harness, "row shows 60%", |h| shows(h, "60%"));
}

#[test]
fn mandatory_and_enabled_toggles_change_the_server() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_role_and_label(Role::CheckBox, "Mandatory").click();
    wait_for_server(&mut harness, "v3 mandatory", || gui.history("Staging")[2].is_mandatory);
    step_until(&mut harness, "pending cleared", |h| !shows(h, "saving…") && shows(h, "mandatory"));
    harness.get_by_role_and_label(Role::CheckBox, "Enabled").click();
    wait_for_server(&mut harness, "v3 disabled", || gui.history("Staging")[2].is_disabled);
    step_until(&mut harness, "row shows disabled", |h| shows(h, "disabled"));
}

#[test]
fn roll_back_creates_a_rollback_release_and_promote_copies_to_production() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_label("Roll back…").click();
    step_until(&mut harness, "rollback confirmation", |h| shows(h, "Confirm rollback"));
    assert!(shows(&harness, "Roll Staging back to v2?"));
    harness.get_by_label("Confirm rollback").click_accesskit();
    wait_for_server(&mut harness, "rollback release", || {
        gui.history("Staging")
            .last()
            .is_some_and(|p| p.release_method == ReleaseMethod::Rollback && p.original_label.as_deref() == Some("v2"))
    });
    step_until(&mut harness, "v4 listed and selected", |h| shows(h, "Release v4"));

    harness.get_by_label("Promote…").click();
    step_until(&mut harness, "promote confirmation", |h| shows(h, "Confirm promote"));
    harness.get_by_label("Confirm promote").click_accesskit();
    wait_for_server(&mut harness, "promoted to Production", || gui.history("Production").len() == 1);
    assert_eq!(gui.history("Production")[0].original_deployment.as_deref(), Some("Staging"));
}

#[test]
fn a_refused_change_reverts_and_shows_the_servers_message() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    // Disable v2 behind the app's back, then try to roll back to it: the server refuses.
    gui.runtime
        .block_on(gui.server().admin().patch_release(
            "Shop-Android",
            "Staging",
            PackageInfo { label: Some("v2".into()), is_disabled: Some(true), ..PackageInfo::default() },
        ))
        .expect("disable v2");
    harness.get_by_label("Roll back…").click();
    step_until(&mut harness, "rollback confirmation", |h| shows(h, "Confirm rollback"));
    harness.get_by_label("Confirm rollback").click_accesskit();
    step_until(&mut harness, "refusal shown", |h| {
        h.query_all_by_label_contains("because it is disabled").next().is_some()
    });
    assert_eq!(gui.history("Staging").len(), 3, "nothing was created");
}

/// Opens the push dialog and fills it for an Android-only push of `project` to `target_version`.
fn fill_android_push(harness: &mut Harness<'_, OtadeckApp>, project: &std::path::Path, target_version: &str) {
    step_until(harness, "apps loaded", |h| shows(h, "Shop"));
    harness.get_by_label("Push update…").click();
    step_until(harness, "dialog", |h| shows(h, "Build and push"));
    for (field, text) in [("Project folder", project.display().to_string()), ("Target version", target_version.into())]
    {
        harness.get_by_role_and_label(Role::TextInput, field).focus();
        harness.step();
        harness.get_by_role_and_label(Role::TextInput, field).type_text(&text);
        harness.step();
    }
    harness.get_by_label("iOS").click();
}

#[test]
fn push_flow_from_a_fixture_project_creates_the_app_and_a_release() {
    let gui = Gui::seeded();
    let project = gui.dir.path().join("rn-app");
    crate::cli::copy_fixture("rn-app", &project);
    std::fs::write(
        project.join("otadeck.toml"),
        "[apps]\nandroid = \"FieldService-Android\"\n[build]\ncommand = \"echo built-by-gui; echo 'console.log(42)' > \\\"$OTADECK_BUNDLE_OUTPUT\\\"\"\n",
    )
    .expect("config");
    let mut harness = gui.harness();
    fill_android_push(&mut harness, &project, "1.0.0");
    step_until(&mut harness, "project detected", |h| {
        h.query_all_by_label_contains("React Native project").next().is_some()
    });
    harness.get_by_label("Build and push").click();
    step_until(&mut harness, "push finished", |h| {
        h.query_all_by_label_contains("Released FieldService-Android v1").next().is_some()
    });
    assert!(shows(&harness, "[android] built-by-gui"), "the build log is shown live");
    let pushed =
        gui.runtime.block_on(gui.server().admin().history("FieldService-Android", "Staging")).expect("history");
    assert_eq!(pushed.len(), 1);
    assert!(pushed[0].is_mandatory, "mandatory is on by default, as in Native Builder");
    harness.get_by_label("Close").click();
    step_until(&mut harness, "new release selected", |h| {
        shows(h, "FieldService-Android / Staging") && shows(h, "Release v1")
    });
}

#[test]
fn a_mendix_push_is_stopped_by_the_model_preflight_and_the_dialog_lists_the_finding() {
    use crate::mendix_preflight::{copy_fixture, original, rename_offline_entity};
    use otadeck::api::management::NewBinary;
    let gui = Gui::seeded();
    let project = copy_fixture();
    rename_offline_entity(project.path());
    let app = "NativeComponentsTestProject-Android";
    gui.runtime.block_on(async {
        let admin = gui.server().admin();
        admin.create_app(app).await.expect("app");
        let binary = NewBinary {
            platform: Some("android".into()),
            app_version: Some("1.0.0".into()),
            build_number: None,
            fingerprint: Some(json!({})),
            mendix_model: Some(original()),
            bundle_manifest: None,
        };
        admin.register_binary(app, &binary).await.expect("binary");
    });
    let mut harness = gui.harness();
    fill_android_push(&mut harness, project.path(), "1.0.0");
    step_until(&mut harness, "project detected", |h| h.query_all_by_label_contains("Mendix project").next().is_some());
    harness.get_by_label("Build and push").click();
    step_until(&mut harness, "blocked", |h| {
        h.query_all_by_label_contains("renamed to NativeMobileResources_Tests.VoiceMemo").next().is_some()
    });
    assert!(shows(&harness, "Preflight found changes that are not safe over the air:"));
    assert!(
        harness
            .query_all_by_label_contains("- android 1.0.0: offline-synced entity NativeMobileResources_Tests.AudioFile")
            .next()
            .is_some(),
        "the finding names the store build it was found against"
    );
    assert!(shows(&harness, "Push anyway"), "a written reason can override");
    assert!(gui.runtime.block_on(gui.server().admin().history(app, "Staging")).expect("history").is_empty());
}

#[test]
fn losing_the_server_shows_a_banner_and_keeps_the_last_data() {
    let mut gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "releases listed", |h| shows(h, "v3") && shows(h, "Release v3"));
    drop(gui.server.take());
    harness.get_by_label("Refresh").click();
    step_until(&mut harness, "banner", |h| h.query_all_by_label_contains("Cannot reach").next().is_some());
    assert!(shows(&harness, "v1") && shows(&harness, "v3"), "last data stays visible");
    assert!(shows(&harness, "Read-only: the server cannot be reached."));
    assert!(shows(&harness, "Retry"));
}

#[test]
fn adding_a_server_profile_switches_everything_to_it_and_back() {
    let gui = Gui::seeded();
    let other = gui.runtime.block_on(async {
        let other = TestServer::start().await;
        other.admin().create_app("Warehouse-iOS").await.expect("app");
        other
    });
    let keys = gui.dir.path().join("keys.toml");
    let mut harness = gui.harness_with_key_file();
    add_server(
        &mut harness,
        &[("Server name", "Warehouse"), ("Server URL", other.url.as_str()), ("Access key", ADMIN_KEY)],
    );
    step_until(&mut harness, "switched to the other server", |h| shows(h, "Warehouse") && !shows(h, "Shop"));
    assert!(std::fs::read_to_string(&keys).expect("key file").contains(ADMIN_KEY), "the key went to the key file");
    harness.get_by_label("Server").click();
    step_until(&mut harness, "server menu", |h| h.query_all_by_label_contains("Test (").next().is_some());
    let home = harness
        .query_all_by_label_contains("Test (")
        .last()
        .expect("home entry")
        .accesskit_node()
        .label()
        .expect("label");
    harness.get_by_label(&home).click();
    step_until(&mut harness, "back on the first server", |h| shows(h, "Shop") && !shows(h, "Warehouse"));
}

#[test]
fn simulate_devices_makes_the_metrics_move() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_label("Simulate devices").click();
    step_until(&mut harness, "fleet finished", |h| {
        h.query_all_by_label_contains("A simulated fleet of 500 devices finished").next().is_some()
    });
    let metrics = gui.runtime.block_on(gui.server().admin().metrics("Shop-Android", "Staging")).expect("metrics");
    let installed: i64 = metrics.values().filter_map(|m| m.installed).sum();
    assert!(installed > 0, "devices installed releases: {metrics:?}");
    let v3 = metrics.get("v3").cloned().unwrap_or_default();
    assert!(v3.active > 0, "simulated devices run v3: {metrics:?}");
    let (installed, failed) = (v3.installed.unwrap_or(0), v3.failed.unwrap_or(0));
    let line = format!("Failed {} · failure rate {}", count(failed), percent(failed, installed + failed));
    step_until(&mut harness, "the new numbers in the release panel", |h| {
        shows(h, &line) && shows(h, &count(installed)) && shows(h, &count(v3.active))
    });
    step_until(&mut harness, "the installs chart", |h| shows(h, "Installs over time"));
}

#[test]
fn clicking_a_column_header_sorts_inside_each_group() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "releases listed", |h| shows(h, "v1") && shows(h, "v3"));
    let y = |h: &Harness<'_, OtadeckApp>, label: &str| {
        h.get_all_by_label(label).map(|n| n.rect().min.y).fold(f32::MAX, f32::min)
    };
    assert!(y(&harness, "v3") < y(&harness, "v1"), "newest first by default");
    harness.get_by_label("Label").click();
    harness.run_steps(2);
    assert!(shows(&harness, "Label v"), "descending marker");
    harness.get_by_label("Label v").click();
    harness.run_steps(2);
    assert!(shows(&harness, "Label ^"));
    assert!(y(&harness, "v1") < y(&harness, "v3"), "ascending puts v1 first");
}

#[test]
fn a_release_halted_by_the_health_gate_shows_why_and_the_schedule() {
    use otadeck::api::acquisition::DeployReport;
    use otadeck::api::management::RolloutPolicy;
    let gui = Gui::seeded();
    gui.runtime.block_on(async {
        let admin = gui.server().admin();
        let policy = RolloutPolicy {
            steps: vec![20, 50, 100],
            interval_ms: 3_600_000,
            max_failure_ratio: 0.2,
            min_reports: 5,
            min_failure_prefixes: 1,
        };
        admin.set_policy("Shop-Android", "Staging", &policy).await.expect("policy");
        let key = admin.deployment("Shop-Android", "Staging").await.expect("deployment").key;
        let device = gui.server().device();
        for n in 0..5 {
            let download = otadeck::api::acquisition::DownloadReport {
                deployment_key: Some(key.clone()),
                label: Some("v3".into()),
                client_unique_id: Some(format!("crashy-{n}")),
            };
            device.report_download(&download).await.expect("download report");
            let report = DeployReport {
                deployment_key: Some(key.clone()),
                app_version: Some("1.0.0".into()),
                client_unique_id: Some(format!("crashy-{n}")),
                label: Some("v3".into()),
                status: Some("DeploymentFailed".into()),
                previous_label_or_app_version: Some("1.0.0".into()),
                previous_deployment_key: Some(key.clone()),
            };
            device.report_deploy(&report).await.expect("report");
        }
    });
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    step_until(&mut harness, "halt banner", |h| {
        h.query_all_by_label_contains("Halted by the health gate").next().is_some()
    });
    assert!(shows(&harness, "Schedule 20% > 50% > 100% every 60 min; halts above 20% failures after 5 installs"));
    assert!(
        harness.query_all_by_label_contains("health gate · halted: failure ratio 100.0%").next().is_some(),
        "activity line"
    );
    assert!(shows(&harness, "paused"), "the row shows it paused (halted), not disabled");
    assert!(harness.query_all_by_label_contains("next step").next().is_none(), "a halted release has no next step");
}

#[test]
fn a_scheduled_release_shows_its_next_step_and_when() {
    use otadeck::api::management::RolloutPolicy;
    let gui = Gui::seeded();
    let v3 = gui.history("Staging").pop().expect("v3");
    gui.runtime
        .block_on(gui.server().admin().set_policy(
            "Shop-Android",
            "Staging",
            &RolloutPolicy {
                steps: vec![20, 50, 100],
                interval_ms: 3_600_000,
                max_failure_ratio: 0.2,
                min_reports: 5,
                min_failure_prefixes: 1,
            },
        ))
        .expect("policy");
    let due = local_time(v3.rollout_changed_time.expect("changed time") + 3_600_000);
    let mut harness = gui.harness();
    let expected = format!("Rolling out 20% · next step 50% at {due} (in ");
    step_until(&mut harness, "next step shown", |h| h.query_all_by_label_contains(&expected).next().is_some());
}

#[test]
fn a_server_profile_with_a_private_ca_reaches_an_https_server() {
    let gui = Gui::seeded();
    let pki = crate::support::TestPki::new();
    let files = pki.tls_files();
    let secure = gui.runtime.block_on(async {
        let secure = TestServer::start_with(|config| config.tls = Some(files)).await;
        secure.admin_over(&pki.transport()).create_app("Secure-iOS").await.expect("app");
        secure
    });
    let mut harness = gui.harness_with_key_file();
    let ca = pki.path("ca.pem").display().to_string();
    add_server(
        &mut harness,
        &[
            ("Server name", "Secure"),
            ("Server URL", secure.url.as_str()),
            ("Access key", ADMIN_KEY),
            ("CA certificate file (optional)", ca.as_str()),
        ],
    );
    step_until(&mut harness, "the HTTPS server's apps", |h| shows(h, "Secure") && !shows(h, "Shop"));
    assert!(!harness.state().is_offline(), "connected over HTTPS with the profile's CA");
}

#[test]
fn a_server_that_stops_answering_shows_the_offline_banner_and_refreshing_goes_on() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let url = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        format!("http://{address}")
    });
    let transport = otadeck::client::Transport {
        request_timeout: Duration::from_millis(700),
        ..otadeck::client::Transport::default()
    };
    let connection = Connection::with_transport("Stalled", &url, ADMIN_KEY, transport).expect("connection");
    let handle = runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection));
    step_until(&mut harness, "offline banner after the timeout", |h| {
        h.query_all_by_label_contains("timed out after 0.7 s").next().is_some()
    });
    assert!(harness.state().is_offline());
    let before = accepted.load(Ordering::SeqCst);
    step_until(&mut harness, "another automatic refresh", |_| accepted.load(Ordering::SeqCst) > before);
}

#[test]
fn first_start_on_an_empty_server_offers_demo_data_marked_and_removable() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestServer::start());
    let connection = Connection::new("Local", &server.url, ADMIN_KEY).expect("connection").embedded();
    let handle = runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection));
    step_until(&mut harness, "first-start page", |h| shows(h, "Push your first update…"));
    assert!(shows(&harness, "Explore with demo data"));
    harness.get_by_label("Load demo data").click();
    let deadline = Duration::from_secs(60);
    let started = Instant::now();
    while !shows(&harness, "Demo data finished") {
        assert!(started.elapsed() < deadline, "demo data did not finish");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    step_until(&mut harness, "the demo app, marked", |h| shows(h, "Demo") && shows(h, "demo data"));
    let history = runtime.block_on(server.admin().history("Demo-Android", "Staging")).expect("history");
    assert_eq!(history.len(), 3);
    assert!(history[1].is_paused, "v2 halted by the health gate");
    assert_eq!(history[2].rollout, Some(25), "v3 rolling out");
    step_until(&mut harness, "v3 rolling out", |h| h.query_all_by_label_contains("Rolling out 25%").next().is_some());
    harness.get_by_label("Remove demo data…").click();
    step_until(&mut harness, "confirmation", |h| shows(h, "Remove the demo data?"));
    harness.get_by_label("Remove demo data").click_accesskit();
    step_until(&mut harness, "back to the first-start page", |h| shows(h, "Push your first update…"));
    assert!(runtime.block_on(server.admin().apps()).expect("apps").is_empty());
}

#[test]
fn demo_data_and_simulated_devices_are_not_offered_on_a_shared_server() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(TestServer::start());
    let connection = Connection::new("Production server", &server.url, ADMIN_KEY).expect("connection");
    let handle = runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection));
    step_until(&mut harness, "first-start page", |h| shows(h, "Push your first update…"));
    assert!(!shows(&harness, "Explore with demo data"), "no demo data on a server the app did not start");
    assert!(!shows(&harness, "Simulate devices"), "no fake devices on a shared server");
}

#[test]
fn pause_then_resume_a_rollout_from_the_release_panel() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_label("Pause").click();
    wait_for_server(&mut harness, "v3 paused", || gui.history("Staging")[2].is_paused);
    step_until(&mut harness, "paused banner with Resume", |h| shows(h, "Paused") && shows(h, "Resume"));
    assert!(!gui.history("Staging")[2].is_disabled, "pausing is not disabling");
    assert!(
        harness.query_all_by_label_contains("admin@localhost (key \"Bootstrap admin key\") · paused").next().is_some(),
        "the timeline says who paused it, with which key"
    );
    harness.get_by_label("Resume").click();
    wait_for_server(&mut harness, "v3 resumed", || !gui.history("Staging")[2].is_paused);
    step_until(&mut harness, "rolling out again", |h| {
        h.query_all_by_label_contains("Rolling out 20%").next().is_some()
    });
}

#[test]
fn the_rollback_dialog_shows_what_each_store_build_gets_now_and_after() {
    use otadeck::api::management::NewBinary;
    let gui = Gui::seeded();
    gui.runtime.block_on(async {
        let binary = NewBinary {
            platform: Some("android".into()),
            app_version: Some("1.0.0".into()),
            build_number: Some(42),
            fingerprint: Some(json!({})),
            mendix_model: None,
            bundle_manifest: None,
        };
        gui.server().admin().register_binary("Shop-Android", &binary).await.expect("binary");
    });
    gui.report_active("1.0.0", 3);
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_label("Roll back…").click();
    step_until(&mut harness, "rollback dialog", |h| shows(h, "Confirm rollback"));
    for expected in ["Store build", "Gets now", "After the rollback", "android 1.0.0 (build 42)"] {
        assert!(shows(&harness, expected), "{expected}");
    }
    assert!(shows(&harness, "v3 for 20% of devices, else v2"), "now: v3 in its rollout, v2 (builds 40-45) outside");
    assert!(shows(&harness, "v2 (as the rollback)"), "after: the rollback copy of v2");
}

#[test]
fn a_slow_answer_from_the_previous_server_never_shows_after_a_switch() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let gui = Gui::seeded();
    // A server that answers every request after 1.5 s with one app, "Stale-Android".
    let slow_url = gui.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0_u8; 8192];
                    let _ = socket.read(&mut buffer).await;
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    let body = r#"{"apps":[{"name":"Stale-Android","collaborators":{}}],"deployments":[{"name":"Staging","key":"k"}]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{address}")
    });
    let connection = Connection::new("Slow", &slow_url, ADMIN_KEY).expect("connection");
    let handle = gui.runtime.handle().clone();
    let key_store = otadeck::gui::KeyStore::at(gui.dir.path().join("keys.toml"));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection).with_key_store(key_store));
    harness.run_steps(3);
    add_server(
        &mut harness,
        &[("Server name", "Fast"), ("Server URL", gui.server().url.as_str()), ("Access key", ADMIN_KEY)],
    );
    step_until(&mut harness, "the new server's apps", |h| shows(h, "Shop"));
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        harness.step();
        assert!(!shows(&harness, "Stale"), "an answer from the previous server showed after the switch");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_protected_deployment_takes_changes_only_with_a_reason_and_the_timeline_shows_it() {
    let gui = Gui::seeded();
    gui.runtime
        .block_on(gui.server().admin().set_deployment_protected("Shop-Android", "Staging", true))
        .expect("protect");
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    step_until(&mut harness, "protection shown", |h| shows(h, "Staging is protected: give a reason to make changes."));
    let mandatory = harness.get_by_role_and_label(Role::CheckBox, "Mandatory");
    assert!(mandatory.accesskit_node().is_disabled(), "no change without a reason");

    let reason = "Night shift: crash reports fixed by v3";
    harness.get_by_role_and_label(Role::TextInput, "Reason for changes").focus();
    harness.step();
    harness.get_by_role_and_label(Role::TextInput, "Reason for changes").type_text(reason);
    harness.run_steps(2);
    assert!(!shows(&harness, "Staging is protected: give a reason to make changes."));
    harness.get_by_role_and_label(Role::CheckBox, "Mandatory").click();
    wait_for_server(&mut harness, "v3 mandatory", || gui.history("Staging")[2].is_mandatory);
    let audit = gui
        .runtime
        .block_on(gui.server().admin().audit(&otadeck::api::management::AuditQuery::default()))
        .expect("audit");
    assert_eq!(audit[0].reason.as_deref(), Some(reason));
    assert_eq!(audit[0].after, Some(json!({"isMandatory": true})));
    step_until(&mut harness, "timeline shows the change and its reason", |h| {
        h.query_all_by_label_contains("mandatory on").next().is_some() && shows(h, &format!("“{reason}”"))
    });
}

#[test]
fn the_access_keys_window_creates_a_scoped_key_and_shows_its_secret_once() {
    let gui = Gui::seeded();
    let mut harness = gui.harness();
    step_until(&mut harness, "apps loaded", |h| shows(h, "Shop"));
    harness.get_by_label("Access keys…").click();
    step_until(&mut harness, "window with the bootstrap key", |h| shows(h, "Bootstrap admin key"));
    harness.get_by_role_and_label(Role::TextInput, "Key name").focus();
    harness.step();
    harness.get_by_role_and_label(Role::TextInput, "Key name").type_text("Night shift");
    harness.step();
    harness.get_by_label("Support (read, pause, roll back)").click();
    step_until(&mut harness, "scopes previewed", |h| shows(h, "Scopes: read rollback pause"));
    harness.get_by_label("Create key").click();
    step_until(&mut harness, "secret shown", |h| shows(h, "Copy secret"));
    let keys = gui.runtime.block_on(gui.server().admin().access_keys()).expect("keys");
    let created = keys.iter().find(|k| k.friendly_name == "Night shift").expect("created on the server");
    assert_eq!(created.scopes, Some(vec!["read".into(), "rollback".into(), "pause".into()]));
    step_until(&mut harness, "listed with its scopes", |h| shows(h, "read rollback pause"));
}

#[test]
fn a_mendix_channel_deployment_says_updates_apply_at_the_next_start_and_counts_are_inferred() {
    let gui = Gui::seeded();
    gui.runtime.block_on(async {
        let admin = gui.server().admin();
        admin.create_app("Shop-iOS").await.expect("ios app");
        let channel = otadeck::api::mendix::MendixChannel {
            host: "shop.example.com".into(),
            upstream: "https://runtime.internal/".into(),
            android_app: "Shop-Android".into(),
            ios_app: "Shop-iOS".into(),
            deployment: "Staging".into(),
            mode: otadeck::api::mendix::ChannelMode::Serve,
        };
        admin.set_mendix_channel(&channel).await.expect("channel");
    });
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    step_until(&mut harness, "the Mendix note", |h| {
        h.query_all_by_label_contains(
            "Mendix runtime OTA via shop.example.com: every update is applied at the next start",
        )
        .next()
        .is_some()
    });
    assert!(shows(&harness, "Adoption (inferred)"));
    assert!(
        harness.query_by_role_and_label(Role::CheckBox, "Mandatory").is_none(),
        "no optional updates in this protocol"
    );
    assert!(shows(&harness, "Enabled"), "the other controls stay");
}

#[test]
fn the_mendix_channel_window_puts_the_deployment_behind_the_gateway() {
    let gui = Gui::seeded();
    gui.runtime.block_on(gui.server().admin().create_app("Shop-iOS")).expect("ios app");
    let mut harness = gui.harness();
    step_until(&mut harness, "v3 selected", |h| shows(h, "Release v3"));
    harness.get_by_label("Mendix channel…").click();
    step_until(&mut harness, "window", |h| shows(h, "Save channel"));
    for (field, value) in
        [("Runtime host", "shop.example.com"), ("Upstream runtime URL", "https://runtime.internal:8080/")]
    {
        harness.get_by_role_and_label(Role::TextInput, field).focus();
        harness.step();
        harness.get_by_role_and_label(Role::TextInput, field).type_text(value);
        harness.step();
    }
    harness.get_by_label("Save channel").click();
    wait_for_server(&mut harness, "channel stored", || {
        let channels = gui.runtime.block_on(gui.server().admin().mendix_channels()).expect("channels");
        channels.iter().any(|c| {
            c.host == "shop.example.com"
                && c.ios_app == "Shop-iOS"
                && c.deployment == "Staging"
                && c.upstream == "https://runtime.internal:8080/"
        })
    });
    step_until(&mut harness, "the release panel knows", |h| {
        h.query_all_by_label_contains("Mendix runtime OTA via shop.example.com").next().is_some()
    });
}

#[test]
fn a_mendix_fleet_gets_a_staged_rollout_and_a_rollback_from_the_app() {
    use crate::mendix::{RUNTIME_ID, bundle_zip, profile, stub_runtime};
    use otadeck::client::mendix_device::{MendixHttp, VirtualMendixDevice};
    use otadeck::sim::mendix::{running, start_all};
    let gui = Gui::seeded();
    let v2 = "638700000000000100";
    let (gateway, mut devices) = gui.runtime.block_on(async {
        let admin = gui.server().admin();
        admin.create_app("Shop-iOS").await.expect("ios app");
        let channel = otadeck::api::mendix::MendixChannel {
            host: "127.0.0.1".into(),
            upstream: stub_runtime().await,
            android_app: "Shop-Android".into(),
            ios_app: "Shop-iOS".into(),
            deployment: "Production".into(),
            mode: otadeck::api::mendix::ChannelMode::Serve,
        };
        admin.set_mendix_channel(&channel).await.expect("channel");
        for (id, rollout) in [(RUNTIME_ID, None), (v2, Some(10))] {
            let info = PackageInfo {
                app_version: Some("*".into()),
                rollout: rollout.map(|r| json!(r)),
                ..PackageInfo::default()
            };
            let zip = bundle_zip(gui.dir.path(), id, "android", id);
            admin.release("Shop-Android", "Production", &upload(zip, info)).await.expect("mendix release");
        }
        let gateway = gui.server().start_gateway().await;
        let http = MendixHttp::new("android").expect("http");
        let devices: Vec<VirtualMendixDevice> = (0..400)
            .map(|n| {
                VirtualMendixDevice::with_http(
                    profile(&gateway, true),
                    &gui.dir.path().join(format!("phone-{n}")),
                    http.clone(),
                )
            })
            .collect();
        (gateway, devices)
    });
    assert!(gateway.starts_with("http://127.0.0.1:"));
    let fleet_starts = |devices: &mut Vec<VirtualMendixDevice>| {
        gui.runtime.block_on(async {
            start_all(devices, 64).await;
            start_all(devices, 64).await;
        });
        running(devices, v2)
    };
    let at_ten = fleet_starts(&mut devices);
    assert!((20..=70).contains(&at_ten), "about 10 % of 400: {at_ten}");

    let mut harness = gui.harness();
    step_until(&mut harness, "deployments loaded", |h| shows(h, "Production · v2"));
    harness.get_by_label("Production · v2").click();
    step_until(&mut harness, "v2 of Production", |h| shows(h, "Shop-Android / Production") && shows(h, "Release v2"));
    harness.get_by_role_and_label(Role::Slider, "Rollout percentage").set_value_accesskit(60.0);
    harness.run_steps(2);
    harness.get_by_label("Apply rollout…").click();
    step_until(&mut harness, "confirmation", |h| shows(h, "Confirm rollout"));
    harness.get_by_label("Confirm rollout").click_accesskit();
    wait_for_server(&mut harness, "rollout 60", || gui.history("Production")[1].rollout == Some(60));
    let at_sixty = fleet_starts(&mut devices);
    assert!((200..=280).contains(&at_sixty) && at_sixty > at_ten, "about 60 % of 400: {at_sixty}");

    harness.get_by_label("Roll back…").click();
    step_until(&mut harness, "rollback confirmation", |h| shows(h, "Confirm rollback"));
    harness.get_by_label("Confirm rollback").click_accesskit();
    wait_for_server(&mut harness, "rollback release", || gui.history("Production").len() == 3);
    assert_eq!(fleet_starts(&mut devices), 0, "every device is back on v1");
    assert_eq!(running(&devices, RUNTIME_ID), 400);
}
