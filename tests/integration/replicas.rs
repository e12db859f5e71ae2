//! Two replicas on one PostgreSQL database and one bucket: a change through either is served by
//! both within a second, a fleet spread over both sees one rollout, and exactly one replica leads
//! (and another takes over when it goes).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use otadeck::server::blobs::BlobLocation;
use otadeck::sim::{FleetConfig, devices, run};
use serde_json::json;

use crate::support::{TestServer, app_with_keys, fleet_config, info, package, upload};

/// Two servers sharing a fresh database and bucket, or `None` (skipped loudly) without them.
async fn two_replicas(what: &str) -> Option<(TestServer, TestServer)> {
    two_replicas_ticking(what, otadeck::server::DEFAULT_SCHEDULE_TICK).await
}

/// [`two_replicas`] whose schedule ticker runs every `tick`.
async fn two_replicas_ticking(what: &str, tick: Duration) -> Option<(TestServer, TestServer)> {
    let url = crate::pg_server::database(what).await?;
    let bucket = crate::s3_server::bucket(what).await?;
    let start = || {
        let (url, bucket) = (url.clone(), bucket.clone());
        TestServer::start_with(move |config| {
            config.database = Some(url);
            config.blobs = BlobLocation::Bucket(bucket);
            config.schedule_tick = tick;
        })
    };
    let a = start().await;
    let b = start().await;
    Some((a, b))
}

/// The label a device with no update installed is offered by `server`.
async fn offered(server: &TestServer, key: &str) -> Option<String> {
    let query = otadeck::api::acquisition::UpdateCheckQuery {
        deployment_key: Some(key.to_owned()),
        app_version: Some("1.0.0".to_owned()),
        client_unique_id: Some("replica-probe".to_owned()),
        ..otadeck::api::acquisition::UpdateCheckQuery::default()
    };
    let answer = server.device().check_for_update(&query).await.expect("update check");
    answer.is_available.then_some(answer.label)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_through_one_replica_is_served_by_the_other_within_a_second() {
    let Some((a, b)) = two_replicas("replica invalidation").await else { return };
    let admin = a.admin();
    let (key, _) = app_with_keys(&admin, "Shared").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Shared", "Staging", &upload(package(dir.path(), "one"), info("^1.0.0"))).await.expect("v1");
    admin.release("Shared", "Staging", &upload(package(dir.path(), "two"), info("^1.0.0"))).await.expect("v2");
    // B has v2 in its cache now.
    assert_eq!(offered(&b, &key).await.as_deref(), Some("v2"));
    assert_eq!(offered(&b, &key).await.as_deref(), Some("v2"));

    admin.rollback("Shared", "Staging", None).await.expect("rollback through A");
    let started = Instant::now();
    loop {
        let label = offered(&b, &key).await;
        if label.as_deref() == Some("v3") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "B still offers {label:?} after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("B served the rollback after {:?}", started.elapsed());

    // And the other way round: a patch through B reaches A.
    assert_eq!(offered(&a, &key).await.as_deref(), Some("v3"));
    b.admin()
        .patch_release(
            "Shared",
            "Staging",
            otadeck::api::management::PackageInfo { is_disabled: Some(true), ..Default::default() },
        )
        .await
        .expect("disable through B");
    let started = Instant::now();
    while offered(&a, &key).await.as_deref() == Some("v3") {
        assert!(started.elapsed() < Duration::from_secs(1), "A still offers v3");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn fleet(server: &TestServer, key: &str, prefix: &str) -> FleetConfig {
    fleet_config(server, key, prefix, 5_000)
}

/// The devices of one half-fleet run that were offered v2.
async fn offered_v2(config: FleetConfig) -> BTreeSet<String> {
    let (summary, fleet) = run(&config, devices(&config), |_, _| {}).await.expect("fleet");
    assert_eq!(summary.errors, 0);
    fleet
        .iter()
        .filter(|d| d.pending.as_ref().is_some_and(|p| p.label == "v2"))
        .map(|d| d.profile.client_unique_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_of_10000_over_two_replicas_sees_one_sticky_25_percent_rollout() {
    let Some((a, b)) = two_replicas("replica fleet").await else { return };
    let admin = a.admin();
    let (key, _) = app_with_keys(&admin, "Fleet").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Fleet", "Staging", &upload(package(dir.path(), "base"), info("^1.0.0"))).await.expect("v1");
    let mut partial = info("^1.0.0");
    partial.rollout = Some(json!(25));
    b.admin().release("Fleet", "Staging", &upload(package(dir.path(), "new"), partial)).await.expect("v2 through B");

    let (on_a, on_b) = tokio::join!(offered_v2(fleet(&a, &key, "left")), offered_v2(fleet(&b, &key, "right")));
    #[allow(clippy::cast_precision_loss)]
    let share = (on_a.len() + on_b.len()) as f64 / 10_000.0;
    assert!((0.23..=0.27).contains(&share), "25% rollout over two replicas reached {share:.3}");

    // The same devices, each half now on the other replica: the same ones are inside.
    let (again_b, again_a) = tokio::join!(offered_v2(fleet(&b, &key, "left")), offered_v2(fleet(&a, &key, "right")));
    assert_eq!(on_a, again_b, "devices stay inside (or outside) whichever replica answers");
    assert_eq!(on_b, again_a);
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(5), "{what} within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_replica_leads_and_another_takes_over_when_it_goes() {
    let Some((a, b)) = two_replicas("replica leadership").await else { return };
    let (ra, rb) = (a.state.replicas.clone(), b.state.replicas.clone());
    wait_for("a leader", || ra.is_leader() || rb.is_leader()).await;
    for _ in 0..20 {
        assert!(ra.is_leader() != rb.is_leader(), "exactly one leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (leader, follower, survivor) = if ra.is_leader() { (a, b, rb) } else { (b, a, ra) };
    drop(leader);
    let took = wait_for("the other replica to take over", || survivor.is_leader()).await;
    eprintln!("the follower led {took:?} after the leader stopped");
    drop(follower);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_loses_the_database_answers_checks_from_its_cache_refuses_writes_and_recovers() {
    let Some(url) = crate::pg_server::database("database loss").await else { return };
    let name = crate::pg_server::name_of(&url).to_owned();
    let server = TestServer::start_with(|config| config.database = Some(url.clone())).await;
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Away").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Away", "Staging", &upload(package(dir.path(), "one"), info("^1.0.0"))).await.expect("v1");
    // v1 is the first release: it has nothing to diff from, so no diff-builder write follows it
    // and invalidates the cache this warms.
    assert_eq!(offered(&server, &key).await.as_deref(), Some("v1"));

    // The database goes away: no new connections, and every open one is cut.
    crate::pg_server::admin_sql(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    ))
    .await;
    for _ in 0..3 {
        assert_eq!(offered(&server, &key).await.as_deref(), Some("v1"), "checks are answered from the cache");
    }
    let refused = admin
        .patch_release(
            "Away",
            "Staging",
            otadeck::api::management::PackageInfo { is_disabled: Some(true), ..Default::default() },
        )
        .await
        .expect_err("no database, no write");
    assert_eq!(refused.status(), Some(503), "{refused}");
    let ready = server.http().get(format!("{}/ready", server.url)).send().await.expect("ready");
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.expect("body").contains("database"));

    // It comes back, and the replica with it, without a restart.
    crate::pg_server::admin_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    let started = Instant::now();
    loop {
        let patched = admin
            .patch_release(
                "Away",
                "Staging",
                otadeck::api::management::PackageInfo { is_disabled: Some(true), ..Default::default() },
            )
            .await;
        if patched.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still refused: {patched:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(offered(&server, &key).await, None, "the disabled release is no longer offered");
    let ready = server.http().get(format!("{}/ready", server.url)).send().await.expect("ready");
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_advances_once_per_interval_with_two_replicas_and_after_the_leader_dies() {
    const INTERVAL_MS: i64 = 1_500;
    let Some((a, b)) = two_replicas_ticking("replica schedule", Duration::from_millis(100)).await else { return };
    let (ra, rb) = (a.state.replicas.clone(), b.state.replicas.clone());
    wait_for("a leader", || ra.is_leader() || rb.is_leader()).await;
    let (leader, survivor) = if ra.is_leader() { (a, b) } else { (b, a) };
    let admin = survivor.admin();
    app_with_keys(&admin, "Scheduled").await;
    let policy = otadeck::api::management::RolloutPolicy {
        steps: vec![10, 30, 60, 100],
        interval_ms: INTERVAL_MS,
        ..otadeck::api::management::RolloutPolicy::default()
    };
    admin.set_policy("Scheduled", "Staging", &policy).await.expect("policy");
    let dir = tempfile::tempdir().expect("dir");
    let mut partial = info("^1.0.0");
    partial.rollout = Some(json!(10));
    admin.release("Scheduled", "Staging", &upload(package(dir.path(), "one"), partial)).await.expect("v1 at 10 %");

    let schedule_events = || async {
        let events = admin.events("Scheduled", "Staging").await.expect("events");
        events.into_iter().filter(|e| e.actor == "schedule").collect::<Vec<_>>()
    };
    let started = Instant::now();
    while schedule_events().await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the first step within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The leader goes; the other replica carries the schedule on.
    drop(leader);
    while schedule_events().await.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "every step within 20 s: {:?}", schedule_events().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more ticks: nothing moves twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = schedule_events().await;
    let details: Vec<&str> = events.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["rollout 10% -> 30%", "rollout 30% -> 60%", "rollout 60% -> 100%"], "each step once");
    for pair in events.windows(2) {
        assert!(pair[1].time - pair[0].time >= INTERVAL_MS, "steps at least an interval apart: {events:?}");
    }
    let history = admin.history("Scheduled", "Staging").await.expect("history");
    assert_eq!(history.last().and_then(|p| p.rollout), None, "complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_database_written_by_a_newer_version_is_refused() {
    let Some(url) = crate::pg_server::database("newer schema").await else { return };
    drop(otadeck::server::store::Store::connect(&url).await.expect("a fresh database is set up"));
    crate::pg_server::sql_on(&url, "UPDATE otadeck_schema SET version = 999").await;
    let refused = otadeck::server::store::Store::connect(&url).await.err().expect("refused");
    assert!(refused.to_string().contains("newer otadeck"), "{refused}");
}
