//! The fleet simulator: many [`VirtualDevice`]s with stable ids launching their app a few times
//! against a real server, so rollouts, mandatory updates, failed installs and rollbacks can be seen
//! and tested without phones.

pub mod demo;
pub mod mendix;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::client::virtual_device::PackageFolder;
use crate::client::{Behavior, DeviceClient, DeviceProfile, LaunchLog, Transport, VirtualDevice};

/// A fleet to run.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub server: String,
    pub deployment_key: String,
    pub devices: usize,
    /// Binary versions, assigned round-robin (a mixed fleet when there are several).
    pub app_versions: Vec<String>,
    /// Build numbers, assigned round-robin (none: devices send no build number).
    pub build_numbers: Vec<u64>,
    pub behavior: Behavior,
    /// Launches per device.
    pub restarts: usize,
    pub concurrency: usize,
    /// Device ids are `<prefix>-<n>`; the same prefix gives the same devices.
    pub id_prefix: String,
    /// The apps' `CodePushPublicKey`, if they verify signatures.
    pub public_key_pem: Option<String>,
    /// TLS trust, proxies and timeouts of the devices' connections.
    pub transport: Transport,
    /// Devices appear to come from many networks (a `X-Forwarded-For` per device, for a server that
    /// trusts its proxy), as a real fleet does; otherwise all come from this machine.
    pub spread_networks: bool,
}

/// Per-label counts over the whole run (each device counted once per label).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelSummary {
    pub offered: usize,
    pub downloaded: usize,
    pub installed: usize,
    pub rolled_back: usize,
    /// Devices running it at the end.
    pub active: usize,
}

/// The outcome of a fleet run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetSummary {
    pub devices: usize,
    pub launches: usize,
    pub labels: BTreeMap<String, LabelSummary>,
    /// Devices still running their binary at the end.
    pub on_binary: usize,
    /// Bytes of packages the fleet downloaded (full packages and diffs).
    pub downloaded_bytes: u64,
    /// Downloads that were diff packages, applied and verified.
    pub diffs_applied: usize,
    /// Diff packages that did not verify, replaced by the full package.
    pub diff_fallbacks: usize,
    /// Launches that failed to reach the server (their reports are retried on the next launch).
    pub errors: usize,
    /// Why the first failed launch failed (e.g. an untrusted certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Creates the fleet's devices (ids `<prefix>-<n>`).
#[must_use]
pub fn devices(config: &FleetConfig) -> Vec<VirtualDevice> {
    (0..config.devices)
        .map(|n| {
            VirtualDevice::new(DeviceProfile {
                client_unique_id: format!("{}-{n}", config.id_prefix),
                deployment_key: config.deployment_key.clone(),
                app_version: config
                    .app_versions
                    .get(n % config.app_versions.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| "1.0.0".into()),
                build_number: (!config.build_numbers.is_empty())
                    .then(|| config.build_numbers[n % config.build_numbers.len()]),
                public_key_pem: config.public_key_pem.clone(),
                network_address: config.spread_networks.then(|| network_address(n)),
            })
        })
        .collect()
}

/// A distinct /24 per device, `10.a.b.7` (sent as `X-Forwarded-For`; no traffic goes there).
fn network_address(n: usize) -> String {
    format!("10.{}.{}.7", (n / 250) % 250, n % 250)
}

/// Runs `config.restarts` launches of every device; `progress(done, total)` after each launch.
///
/// # Errors
/// When the device client cannot be created.
pub async fn run(
    config: &FleetConfig,
    fleet: Vec<VirtualDevice>,
    progress: impl Fn(usize, usize),
) -> Result<(FleetSummary, Vec<VirtualDevice>), crate::client::ClientError> {
    let client = DeviceClient::with_transport(&config.server, &config.transport)?;
    let total = fleet.len() * config.restarts;
    let mut summary = FleetSummary { devices: fleet.len(), ..FleetSummary::default() };
    let mut seen: BTreeSet<(usize, &'static str, String)> = BTreeSet::new();
    let mut devices = fleet;
    let mut done = 0;
    // Verified package folders by package hash: devices with the same package share its bytes
    // (as soon as each launch ends, so a fleet never holds a copy per device).
    let folders = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<String, PackageFolder>::new()));
    for _ in 0..config.restarts {
        let launches = futures_util::stream::iter(devices.into_iter().enumerate())
            .map(|(index, mut device)| {
                let (client, behavior, folders) = (client.clone(), config.behavior.clone(), folders.clone());
                async move {
                    let log = device.start_up(&client, &behavior).await;
                    if let Ok(mut folders) = folders.lock() {
                        device.share_folders(&mut folders);
                    }
                    (index, device, log)
                }
            })
            .buffer_unordered(config.concurrency.max(1));
        let mut results: Vec<(usize, VirtualDevice, Result<LaunchLog, _>)> = launches.collect().await;
        results.sort_by_key(|(index, _, _)| *index);
        devices = Vec::with_capacity(results.len());
        for (index, device, log) in results {
            done += 1;
            summary.launches += 1;
            match log {
                Ok(log) => {
                    summary.downloaded_bytes += log.downloaded_bytes;
                    summary.diffs_applied += usize::from(log.applied_diff);
                    summary.diff_fallbacks += usize::from(log.diff_fell_back);
                    for (kind, label) in [
                        ("offered", &log.offered),
                        ("downloaded", &log.downloaded),
                        ("installed", &log.installed),
                        ("rolled_back", &log.rolled_back),
                    ] {
                        if let Some(label) = label {
                            seen.insert((index, kind, label.clone()));
                        }
                    }
                }
                Err(error) => {
                    summary.errors += 1;
                    summary.first_error.get_or_insert_with(|| error.to_string());
                }
            }
            devices.push(device);
            progress(done, total);
        }
    }
    for (_, kind, label) in &seen {
        let entry = summary.labels.entry(label.clone()).or_default();
        match *kind {
            "offered" => entry.offered += 1,
            "downloaded" => entry.downloaded += 1,
            "installed" => entry.installed += 1,
            _ => entry.rolled_back += 1,
        }
    }
    for device in &devices {
        match &device.running {
            Some(package) => summary.labels.entry(package.label.clone()).or_default().active += 1,
            None => summary.on_binary += 1,
        }
    }
    Ok((summary, devices))
}

/// Parses `v5=0.3,v6=0.1` into crash probabilities.
///
/// # Errors
/// A message naming the bad entry.
pub fn parse_failures(text: &str) -> Result<BTreeMap<String, f64>, String> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (label, rate) = part.split_once('=').ok_or_else(|| format!("\"{part}\" should look like v5=0.3"))?;
            let rate: f64 = rate.trim().parse().map_err(|_| format!("\"{rate}\" is not a probability"))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{rate} is not between 0 and 1"));
            }
            Ok((label.trim().to_owned(), rate))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_specs() {
        let parsed = parse_failures("v5=0.3, v6=0").expect("valid");
        assert_eq!(parsed.get("v5"), Some(&0.3));
        assert_eq!(parsed.get("v6"), Some(&0.0));
        assert!(parse_failures("v5").is_err());
        assert!(parse_failures("v5=1.5").is_err());
    }

    #[test]
    fn mixed_fleets_assign_versions_round_robin() {
        let config = FleetConfig {
            server: String::new(),
            deployment_key: "k".into(),
            devices: 4,
            app_versions: vec!["1.0.0".into(), "2.0.0".into()],
            build_numbers: vec![7],
            behavior: Behavior::default(),
            restarts: 1,
            concurrency: 1,
            id_prefix: "d".into(),
            public_key_pem: None,
            transport: Transport::default(),
            spread_networks: false,
        };
        let fleet = devices(&config);
        let versions: Vec<&str> = fleet.iter().map(|d| d.profile.app_version.as_str()).collect();
        assert_eq!(versions, ["1.0.0", "2.0.0", "1.0.0", "2.0.0"]);
        assert_eq!(fleet[3].profile.client_unique_id, "d-3");
        assert!(fleet.iter().all(|d| d.profile.build_number == Some(7)));
    }
}
