//! Fleets of 10,000 virtual devices against a real server: rollout share and stickiness, mandatory
//! propagation across a skipped release, and a crashing release rolled back on devices and counted.

use std::collections::BTreeSet;

use otadeck::api::management::PackageInfo;
use otadeck::client::Behavior;
use otadeck::sim::{FleetConfig, devices, run};
use serde_json::json;

use crate::support::{TestServer, app_with_keys, fleet_config, info, package, upload};

const FLEET: usize = 10_000;

fn config(server: &TestServer, key: &str, prefix: &str, behavior: Behavior, restarts: usize) -> FleetConfig {
    FleetConfig { behavior, restarts, concurrency: 48, ..fleet_config(server, key, prefix, FLEET) }
}

fn accept_all() -> Behavior {
    Behavior { accept_optional: 1.0, ..Behavior::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_share_is_on_target_and_devices_stay_in_as_it_grows() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Fleet").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "base"), info("^1.0.0"))).await.expect("v1");
    let mut partial = info("^1.0.0");
    partial.rollout = Some(json!(25));
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "new"), partial)).await.expect("v2");

    let first = config(&server, &key, "device", accept_all(), 1);
    let (summary, fleet) = run(&first, devices(&first), |_, _| {}).await.expect("fleet");
    assert_eq!(summary.errors, 0);
    let offered_v2 = summary.labels["v2"].offered;
    #[allow(clippy::cast_precision_loss)]
    let share = offered_v2 as f64 / FLEET as f64;
    assert!((0.23..=0.27).contains(&share), "25% rollout reached {share:.3} of devices");
    assert_eq!(offered_v2 + summary.labels["v1"].offered, FLEET, "everyone else gets the previous release");
    let pending_v2: BTreeSet<String> = fleet
        .iter()
        .filter(|d| d.pending.as_ref().is_some_and(|p| p.label == "v2"))
        .map(|d| d.profile.client_unique_id.clone())
        .collect();

    admin
        .patch_release("Fleet", "Staging", PackageInfo { rollout: Some(json!(50)), ..PackageInfo::default() })
        .await
        .expect("50%");
    let fresh = config(&server, &key, "device", accept_all(), 1);
    let (_, again) = run(&fresh, devices(&fresh), |_, _| {}).await.expect("fleet");
    let at_fifty: BTreeSet<String> = again
        .iter()
        .filter(|d| d.pending.as_ref().is_some_and(|p| p.label == "v2"))
        .map(|d| d.profile.client_unique_id.clone())
        .collect();
    assert!(pending_v2.is_subset(&at_fifty), "a device inside the rollout stays inside as it grows");
    #[allow(clippy::cast_precision_loss)]
    let share = at_fifty.len() as f64 / FLEET as f64;
    assert!((0.48..=0.52).contains(&share), "50% rollout reached {share:.3}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mandatory_release_in_between_makes_the_newest_mandatory_and_crashes_roll_back() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Fleet").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "one"), info("^1.0.0"))).await.expect("v1");

    // Everyone installs v1 (optional, all accept): launch 1 downloads, launch 2 installs.
    let mut cfg = config(&server, &key, "phone", accept_all(), 2);
    let (summary, fleet) = run(&cfg, devices(&cfg), |_, _| {}).await.expect("fleet");
    assert_eq!(summary.labels["v1"].active, FLEET);

    // v2 mandatory, then v3 optional: devices on v1 must get v3 as mandatory even if they refuse optionals.
    let mut mandatory = info("^1.0.0");
    mandatory.is_mandatory = Some(true);
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "two"), mandatory)).await.expect("v2");
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "three"), info("^1.0.0"))).await.expect("v3");
    cfg.behavior = Behavior { accept_optional: 0.0, ..Behavior::default() };
    let (summary, fleet) = run(&cfg, fleet, |_, _| {}).await.expect("fleet");
    assert_eq!(summary.labels["v3"].installed, FLEET, "v3 is mandatory for devices on v1 (v2 was skipped)");
    assert_eq!(summary.labels.get("v2").map_or(0, |s| s.installed), 0, "the skipped release is never installed");

    // v4 crashes on 30% of first runs: those devices roll back to v3, report failure, never retry it.
    let mut bad = info("^1.0.0");
    bad.is_mandatory = Some(true);
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "four"), bad)).await.expect("v4");
    cfg.behavior = Behavior { crash_probability: [("v4".to_owned(), 0.3)].into(), accept_optional: 0.0 };
    cfg.restarts = 3;
    let (summary, fleet) = run(&cfg, fleet, |_, _| {}).await.expect("fleet");
    let v4 = &summary.labels["v4"];
    #[allow(clippy::cast_precision_loss)]
    let crash_share = v4.rolled_back as f64 / FLEET as f64;
    assert!((0.28..=0.32).contains(&crash_share), "{crash_share:.3} of devices rolled back");
    assert_eq!(
        v4.installed + v4.rolled_back,
        FLEET,
        "{} launches failed, the first with {:?}",
        summary.errors,
        summary.first_error
    );
    assert_eq!(v4.downloaded, FLEET, "a crashed package is never downloaded again");
    assert_eq!(summary.labels["v3"].active, v4.rolled_back, "rolled-back devices run v3 again");
    assert!(fleet.iter().all(|d| !d.has_unsent_reports()), "every report was acknowledged");

    let metrics = admin.metrics("Fleet", "Staging").await.expect("metrics");
    assert_eq!(
        metrics["v4"].failed,
        Some(i64::try_from(v4.rolled_back).expect("count")),
        "server counted each failure once"
    );
    assert_eq!(metrics["v4"].installed, Some(i64::try_from(v4.installed).expect("count")));
    assert_eq!(metrics["v4"].active, i64::try_from(v4.active).expect("count"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_with_a_public_key_installs_only_correctly_signed_releases() {
    use otadeck::client::{DeviceClient, DeviceProfile, VirtualDevice};
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Signed").await;
    let dir = tempfile::tempdir().expect("dir");
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys");
    let signer = otadeck::bundle::sign::ReleaseSigner::from_pem_file(&keys.join("test-only-private.pem")).expect("key");
    // An asset that never changes, so that a later signed release reaches devices as a diff.
    let asset: Vec<u8> = (0..20_000_u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let folder = crate::support::code_push_folder(
        &dir.path().join("signed"),
        &[("index.android.bundle", b"signed bundle"), ("assets/big.png", &asset)],
    );
    let signed_zip = dir.path().join("signed.zip");
    otadeck::bundle::package::package(&folder, &signed_zip, Some(&signer)).expect("package");
    admin.release("Signed", "Staging", &upload(signed_zip, info("*"))).await.expect("v1 signed");

    let device = |public_key: &str, id: &str| {
        VirtualDevice::new(DeviceProfile {
            client_unique_id: id.into(),
            deployment_key: key.clone(),
            app_version: "1.0.0".into(),
            build_number: None,
            public_key_pem: Some(std::fs::read_to_string(keys.join(public_key)).expect("public key")),
            network_address: None,
        })
    };
    let client = DeviceClient::new(&server.url).expect("client");
    let behavior = accept_all();
    let mut trusting = device("test-only-public.pem", "trusting");
    let launch = trusting.start_up(&client, &behavior).await.expect("launch");
    assert_eq!((launch.downloaded.as_deref(), launch.unsigned.as_deref()), (Some("v1"), None));
    trusting.start_up(&client, &behavior).await.expect("launch");
    assert_eq!(trusting.running.as_ref().map(|p| p.label.as_str()), Some("v1"), "the signed release is installed");

    let mut other_key = device("test-only-other-public.pem", "other");
    let launch = other_key.start_up(&client, &behavior).await.expect("launch");
    assert_eq!(launch.unsigned.as_deref(), Some("v1"), "a signature from another key is refused");
    assert!(other_key.pending.is_none());

    admin.release("Signed", "Staging", &upload(package(dir.path(), "unsigned"), info("*"))).await.expect("v2 unsigned");
    let launch = trusting.start_up(&client, &behavior).await.expect("launch");
    assert_eq!(launch.unsigned.as_deref(), Some("v2"), "an unsigned release is refused when a key is configured");
    assert!(trusting.pending.is_none());

    // A signed release as a diff: the new signature comes with the changed bundle, and is checked
    // on the folder the diff produced.
    let v1_hash = trusting.running.as_ref().expect("v1").package_hash.clone();
    let folder = crate::support::code_push_folder(
        &dir.path().join("signed-again"),
        &[("index.android.bundle", b"signed bundle, second edition"), ("assets/big.png", &asset)],
    );
    let again_zip = dir.path().join("signed-again.zip");
    otadeck::bundle::package::package(&folder, &again_zip, Some(&signer)).expect("package");
    let v3 = admin.release("Signed", "Staging", &upload(again_zip, info("*"))).await.expect("v3 signed");
    crate::diffs::diff_offered(&server, &key, ("v1", &v1_hash), &v3).await;
    let launch = trusting.start_up(&client, &behavior).await.expect("launch");
    assert!(launch.applied_diff, "{launch:?}");
    assert_eq!((launch.downloaded.as_deref(), launch.unsigned.as_deref()), (Some("v3"), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_gate_halts_a_crashing_release_and_the_schedule_advances_a_healthy_one() {
    use otadeck::api::management::RolloutPolicy;
    let server = TestServer::start().await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Gated").await;
    let dir = tempfile::tempdir().expect("dir");
    // An hour between steps: the server's real-time ticker cannot interfere; the test moves a simulated clock.
    const HOUR: i64 = 3_600_000;
    let policy = RolloutPolicy {
        steps: vec![10, 50, 100],
        interval_ms: HOUR,
        max_failure_ratio: 0.2,
        min_reports: 50,
        min_failure_prefixes: 1,
    };
    admin.set_policy("Gated", "Staging", &policy).await.expect("policy");
    let bad = RolloutPolicy { steps: vec![50, 10], ..policy.clone() };
    assert_eq!(admin.set_policy("Gated", "Staging", &bad).await.expect_err("invalid").status(), Some(400));

    admin.release("Gated", "Staging", &upload(package(dir.path(), "good"), info("^1.0.0"))).await.expect("v1");
    let mut first_step = info("^1.0.0");
    first_step.rollout = Some(json!(10));
    admin.release("Gated", "Staging", &upload(package(dir.path(), "bad"), first_step)).await.expect("v2 at 10%");

    // v2 crashes on 30% of first runs: the gate (20% after 50 installs) halts it while it is at its first step.
    let crashing = Behavior { crash_probability: [("v2".to_owned(), 0.3)].into(), accept_optional: 1.0 };
    let cfg = config(&server, &key, "early", crashing.clone(), 2);
    let (summary, early_fleet) = run(&cfg, devices(&cfg), |_, _| {}).await.expect("fleet");
    let v2 = &summary.labels["v2"];
    assert!(v2.rolled_back > 0 && v2.installed > 0, "{v2:?}");
    let history = admin.history("Gated", "Staging").await.expect("history");
    assert!(history[1].is_paused && !history[1].is_disabled, "the health gate paused (halted) v2, not disabled it");
    assert_eq!(history[1].rollout, Some(10), "halted at its first step, never beyond");
    let events = admin.events("Gated", "Staging").await.expect("events");
    let halt = events.iter().find(|e| e.kind == "halted").expect("a halt event");
    assert_eq!((halt.label.as_str(), halt.actor.as_str()), ("v2", "health gate"));
    assert!(halt.detail.contains("failure ratio"), "{}", halt.detail);

    // Later devices no longer receive it, and the schedule does not advance a halted release.
    let later = config(&server, &key, "late", accept_all(), 1);
    let (summary, _) = run(&later, devices(&later), |_, _| {}).await.expect("fleet");
    assert!(!summary.labels.contains_key("v2"), "nobody is offered the halted release: {:?}", summary.labels);
    // Devices that run v2 keep it: a halt moves nobody (disabling would send them back to v1).
    let on_v2 = early_fleet.iter().filter(|d| d.running.as_ref().is_some_and(|p| p.label == "v2")).count();
    assert!(on_v2 > 0, "some devices installed v2 before the halt");
    let cfg = config(&server, &key, "early", crashing, 1);
    let (_, relaunched) = run(&cfg, early_fleet, |_, _| {}).await.expect("fleet");
    let still_on_v2 = relaunched.iter().filter(|d| d.running.as_ref().is_some_and(|p| p.label == "v2")).count();
    assert_eq!(still_on_v2, on_v2, "devices on the halted release keep it");
    let far_future = otadeck::server::store::now_ms() + 10 * HOUR;
    assert_eq!(server.state.advance_schedules(far_future).await.expect("tick"), 0);

    // A healthy release moves 10 -> 50 -> 100 exactly when each interval has passed (simulated clock).
    admin
        .release(
            "Gated",
            "Staging",
            &upload(package(dir.path(), "fixed"), {
                let mut fixed = info("^1.0.0");
                fixed.rollout = Some(json!(10));
                fixed
            }),
        )
        .await
        .expect("v3 at 10%");
    let start = otadeck::server::store::now_ms();
    assert_eq!(server.state.advance_schedules(start + HOUR - 1_000).await.expect("tick"), 0, "not due yet");
    assert_eq!(server.state.advance_schedules(start + HOUR + 1_000).await.expect("tick"), 1);
    assert_eq!(admin.history("Gated", "Staging").await.expect("history")[2].rollout, Some(50));
    assert_eq!(server.state.advance_schedules(start + 2 * HOUR).await.expect("tick"), 0);
    assert_eq!(server.state.advance_schedules(start + 2 * HOUR + 1_000).await.expect("tick"), 1);
    assert_eq!(admin.history("Gated", "Staging").await.expect("history")[2].rollout, None, "complete");
    let advanced: Vec<String> = admin
        .events("Gated", "Staging")
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "advanced")
        .map(|e| format!("{} {}", e.label, e.detail))
        .collect();
    assert_eq!(advanced, ["v3 rollout 10% -> 50%", "v3 rollout 50% -> 100%"]);
}
