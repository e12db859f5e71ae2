//! The storage-sensitive tests again, on PostgreSQL + an S3-compatible bucket: this test reruns
//! this very test binary with `OTADECK_TEST_BACKEND=postgres` and a filter naming those modules,
//! so each of their test servers keeps its metadata in a fresh PostgreSQL database and its
//! packages in a fresh bucket. A failure there fails this test with the child's output.

use std::process::Command;

/// The modules whose behaviour must not depend on the backend: management, the device protocol,
/// diff packages, rollout policies and metrics (fleet), the audit trail, key scopes, forged reports, Mendix
/// channels, bad input, and the real CodePush clients.
const MODULES: &[&str] = &[
    "management::",
    "device_protocol::",
    "diffs::",
    "fleet::",
    "audit::",
    "scopes::",
    "forgery::",
    "mendix::",
    "bad_input::",
    "real_clients::",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_storage_sensitive_tests_pass_on_postgresql_and_a_bucket() {
    if crate::support::on_postgres() {
        return; // the rerun itself (never selected by its filter, but cheap to guard)
    }
    // Start (or install) both servers up front, so a missing one fails or skips here, loudly.
    let Some(_) = crate::pg_server::database("the PostgreSQL test run").await else { return };
    let Some(_) = crate::s3_server::bucket("the PostgreSQL test run").await else { return };
    let exe = std::env::current_exe().expect("the test binary");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args(MODULES)
            .args(["--test-threads", "2"])
            .env("OTADECK_TEST_BACKEND", "postgres")
            .output()
            .expect("rerun the tests")
    })
    .await
    .expect("rerun task");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout.lines().filter(|l| l.starts_with("test result")).collect();
    eprintln!("on PostgreSQL + bucket: {}", summary.join(" "));
    assert!(
        output.status.success(),
        "the tests failed on PostgreSQL + a bucket:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let passed: usize =
        summary.iter().filter_map(|l| l.split(" passed").next()?.rsplit(' ').next()?.parse::<usize>().ok()).sum();
    assert!(passed >= 40, "only {passed} tests ran on PostgreSQL: {summary:?}");
}
