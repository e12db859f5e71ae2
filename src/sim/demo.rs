//! Demo data for a first start: a sample app with a few releases and a simulated fleet, written
//! through the real management API and device protocol, so a new user sees what otadeck shows for a
//! live deployment. Everything lives in the apps named in [`DEMO_APPS`], which [`remove`] deletes.
//!
//! What it leaves on `Staging` of `Demo-Android`:
//! - v1, complete, installed by the fleet;
//! - v2, halted by the health gate at its first step (it crashes on half of the first runs);
//! - v3, the fix, rolling out at 25 % under a rollout schedule.

use std::io::Write as _;

use crate::api::management::{PackageInfo, RolloutPolicy};
use crate::client::{Behavior, ClientError, ManagementClient, PackageUpload, Transport};

/// The demo app (one name, so demo data is easy to tell apart and to remove).
pub const DEMO_APP: &str = "Demo-Android";
/// Every app the demo creates.
pub const DEMO_APPS: [&str; 1] = [DEMO_APP];
const DEPLOYMENT: &str = "Staging";
const FLEET: usize = 600;

/// Why the demo could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot write a demo package: {0}")]
    Package(std::io::Error),
}

/// Whether an app is demo data.
#[must_use]
pub fn is_demo_app(name: &str) -> bool {
    DEMO_APPS.contains(&name)
}

/// Creates the demo app on the server at `server_url`, releases v1–v3 and runs a fleet against it.
///
/// # Errors
/// [`DemoError`] when the server refuses a step (for example when the demo app exists already).
pub async fn seed(client: &ManagementClient, server_url: &str, transport: &Transport) -> Result<(), DemoError> {
    client.create_app(DEMO_APP).await?;
    let key = client
        .deployments(DEMO_APP)
        .await?
        .into_iter()
        .find(|d| d.name == DEPLOYMENT)
        .map(|d| d.key)
        .ok_or_else(|| ClientError::Decode(format!("{DEMO_APP} has no {DEPLOYMENT} deployment")))?;
    let policy = RolloutPolicy {
        steps: vec![10, 25, 50, 100],
        interval_ms: 24 * 3_600_000,
        max_failure_ratio: 0.2,
        min_reports: 20,
        // The simulated phones all run on this machine: one network.
        min_failure_prefixes: 1,
    };
    client.set_policy(DEMO_APP, DEPLOYMENT, &policy).await?;
    let dir = tempfile::tempdir().map_err(DemoError::Package)?;
    let fleet = |crash: &[(&str, f64)]| crate::sim::FleetConfig {
        server: server_url.to_owned(),
        deployment_key: key.clone(),
        devices: FLEET,
        app_versions: vec!["1.4.0".into()],
        build_numbers: Vec::new(),
        behavior: Behavior {
            crash_probability: crash.iter().map(|(label, p)| ((*label).to_owned(), *p)).collect(),
            accept_optional: 1.0,
        },
        restarts: 2,
        concurrency: 32,
        id_prefix: "demo-phone".into(),
        public_key_pem: None,
        transport: transport.clone(),
        spread_networks: false,
    };

    release(client, &dir, "v1", "Smoother login screen", None).await?;
    let config = fleet(&[]);
    let (_, devices) = crate::sim::run(&config, crate::sim::devices(&config), |_, _| {}).await?;
    release(client, &dir, "v2", "New checkout flow", Some(10)).await?;
    let config = fleet(&[("v2", 0.5)]);
    let (_, devices) = crate::sim::run(&config, devices, |_, _| {}).await?;
    release(client, &dir, "v3", "Fix the crash in the checkout flow", Some(25)).await?;
    let config = fleet(&[]);
    crate::sim::run(&config, devices, |_, _| {}).await?;
    Ok(())
}

/// Deletes the demo apps (what does not exist is skipped).
///
/// # Errors
/// [`ClientError`] other than "not found".
pub async fn remove(client: &ManagementClient) -> Result<(), ClientError> {
    for app in DEMO_APPS {
        match client.delete_app(app).await {
            Err(error) if error.status() != Some(404) => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

async fn release(
    client: &ManagementClient,
    dir: &tempfile::TempDir,
    marker: &str,
    description: &str,
    rollout: Option<u8>,
) -> Result<(), DemoError> {
    let file = dir.path().join(format!("{marker}.zip"));
    write_package(&file, marker).map_err(DemoError::Package)?;
    let info = PackageInfo {
        app_version: Some("~1.4.0".into()),
        description: Some(description.to_owned()),
        rollout: rollout.map(|r| serde_json::json!(r)),
        ..PackageInfo::default()
    };
    client.release(DEMO_APP, DEPLOYMENT, &PackageUpload { file, info, mendix_model: None }).await?;
    Ok(())
}

fn write_package(path: &std::path::Path, marker: &str) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path)?);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("CodePush/index.android.bundle", options).map_err(std::io::Error::other)?;
    zip.write_all(format!("// otadeck demo bundle {marker}\nconsole.log({marker:?});\n").as_bytes())?;
    zip.start_file("CodePush/assets/logo.png", options).map_err(std::io::Error::other)?;
    zip.write_all(marker.as_bytes())?;
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}
