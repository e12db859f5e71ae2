//! Fleets of virtual Mendix phones ([`VirtualMendixDevice`]) against a runtime URL (the gateway):
//! `otadeck simulate --mendix` and the tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::client::mendix_device::{MendixDeviceProfile, MendixHttp, MendixStart, VirtualMendixDevice};

/// A Mendix fleet to run.
#[derive(Debug, Clone)]
pub struct MendixFleetConfig {
    /// The runtime URL compiled into the app (the gateway's host).
    pub runtime_url: String,
    pub platform: String,
    pub devices: usize,
    pub native_binary_version: u32,
    /// The deployment ID of the bundle inside the binary.
    pub embedded_deployment_id: String,
    /// `versionName-versionCode` of the binary.
    pub app_version: String,
    /// App starts per device.
    pub restarts: usize,
    pub concurrency: usize,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MendixSummary {
    pub devices: usize,
    pub starts: usize,
    pub updated: usize,
    pub up_to_date: usize,
    pub skipped: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    /// Devices per deployment ID they run at the end.
    pub running: BTreeMap<String, usize>,
}

/// Starts every device once, `concurrency` at a time, in order.
pub async fn start_all(devices: &mut [VirtualMendixDevice], concurrency: usize) -> Vec<MendixStart> {
    futures_util::stream::iter(devices.iter_mut().map(VirtualMendixDevice::start))
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Devices running `id`.
#[must_use]
pub fn running(devices: &[VirtualMendixDevice], id: &str) -> usize {
    devices.iter().filter(|d| d.running_deployment_id() == id).count()
}

/// Runs a fresh fleet (its files in a temp dir) and summarises it.
///
/// # Errors
/// When the HTTP clients or the temp dir cannot be set up.
pub async fn run(config: &MendixFleetConfig) -> Result<MendixSummary, String> {
    let runtime_url =
        if config.runtime_url.ends_with('/') { config.runtime_url.clone() } else { format!("{}/", config.runtime_url) };
    let http = MendixHttp::new(&config.platform)?;
    let files = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut devices: Vec<VirtualMendixDevice> = (0..config.devices)
        .map(|n| {
            let profile = MendixDeviceProfile {
                runtime_url: runtime_url.clone(),
                platform: config.platform.clone(),
                native_binary_version: config.native_binary_version,
                native_dependencies: BTreeMap::new(),
                embedded_deployment_id: config.embedded_deployment_id.clone(),
                app_version: config.app_version.clone(),
                keeps_cookies: true,
                fails_to_apply: Vec::new(),
            };
            let dir: PathBuf = files.path().join(format!("phone-{n}"));
            VirtualMendixDevice::with_http(profile, &dir, http.clone())
        })
        .collect();
    let mut summary = MendixSummary { devices: config.devices, ..MendixSummary::default() };
    for _ in 0..config.restarts {
        for outcome in start_all(&mut devices, config.concurrency).await {
            summary.starts += 1;
            match outcome {
                MendixStart::Updated { .. } => summary.updated += 1,
                MendixStart::UpToDate | MendixStart::Disabled => summary.up_to_date += 1,
                MendixStart::Skipped(_) => summary.skipped += 1,
                MendixStart::AlreadyDeployed { advertised } => {
                    summary.failed += 1;
                    summary.first_error.get_or_insert(format!("OTA_ALREADY_DEPLOYED {advertised}"));
                }
                MendixStart::CheckFailed(why) | MendixStart::DownloadFailed(why) => {
                    summary.failed += 1;
                    summary.first_error.get_or_insert(why);
                }
            }
        }
    }
    for device in &devices {
        *summary.running.entry(device.running_deployment_id()).or_default() += 1;
    }
    Ok(summary)
}
