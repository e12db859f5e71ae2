//! A virtual phone running react-native-code-push, over the real device protocol.
//!
//! Each [`VirtualDevice::start_up`] is one app launch:
//! 1. unsent status reports are retried;
//! 2. a pending update (downloaded on an earlier launch) is installed; if the new bundle crashes before
//!    it signals "ready", the device rolls back to what it ran before, remembers the package hash as
//!    failed and reports `DeploymentFailed`; otherwise it reports `DeploymentSucceeded`;
//! 3. it checks for an update; a new package that is not a remembered failure is downloaded (exact
//!    length and package hash verified) when it is mandatory, or when the user accepts an optional one.
//!
//! Randomness (crashes, accepting optional updates) comes from a generator seeded by the device id, so
//! a fleet behaves the same way on every run.

use std::collections::{BTreeMap, HashSet};

use super::{ClientError, DeviceClient};
use crate::api::acquisition::{DeployReport, DownloadReport, UpdateCheckQuery, status};
use crate::domain::package::{ZipLimits, inspect_zip, looks_like_zip, manifest_hash, sha256_hex};

/// What the app binary is.
#[derive(Debug, Clone)]
pub struct DeviceProfile {
    pub client_unique_id: String,
    pub deployment_key: String,
    pub app_version: String,
    pub build_number: Option<u64>,
    /// The app's `CodePushPublicKey`: when set, only correctly signed packages are installed.
    pub public_key_pem: Option<String>,
    /// The device's network address as a proxy reports it (`X-Forwarded-For`), for fleets spread
    /// over many networks; `None`: the connection's own address.
    pub network_address: Option<String>,
}

/// How the fleet behaves: crash probability on first run per label, and how often users accept an
/// optional update.
#[derive(Debug, Clone, Default)]
pub struct Behavior {
    pub crash_probability: BTreeMap<String, f64>,
    pub accept_optional: f64,
}

/// A CodePush package on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPackage {
    pub label: String,
    pub package_hash: String,
}

/// What happened during one launch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchLog {
    /// Labels offered by the update check.
    pub offered: Option<String>,
    pub downloaded: Option<String>,
    pub installed: Option<String>,
    /// The label that crashed and was rolled back.
    pub rolled_back: Option<String>,
    /// The package hash failed verification after download.
    pub corrupt: Option<String>,
    /// The package's signature was missing or did not verify (a public key is configured).
    pub unsigned: Option<String>,
}

/// Why a launch could not talk to the server (reports stay queued and are retried).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// One virtual device.
#[derive(Debug, Clone)]
pub struct VirtualDevice {
    pub profile: DeviceProfile,
    /// `None` while the device runs the bundle shipped in the binary.
    pub running: Option<LocalPackage>,
    pub pending: Option<LocalPackage>,
    pub failed_hashes: HashSet<String>,
    unsent: Vec<DeployReport>,
    rng: u64,
}

impl VirtualDevice {
    /// A device that runs its binary.
    #[must_use]
    pub fn new(profile: DeviceProfile) -> Self {
        let seed = profile
            .client_unique_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        Self { profile, running: None, pending: None, failed_hashes: HashSet::new(), unsent: Vec::new(), rng: seed | 1 }
    }

    /// A uniform number in [0, 1) (xorshift64*).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        #[allow(clippy::cast_precision_loss)]
        let value = (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1_u64 << 53) as f64;
        value
    }

    /// Whether status reports are still waiting to be acknowledged.
    #[must_use]
    pub fn has_unsent_reports(&self) -> bool {
        !self.unsent.is_empty()
    }

    fn deploy_report(
        &self,
        label: Option<&LocalPackage>,
        status: Option<&str>,
        previous: Option<&LocalPackage>,
    ) -> DeployReport {
        DeployReport {
            deployment_key: Some(self.profile.deployment_key.clone()),
            app_version: Some(self.profile.app_version.clone()),
            client_unique_id: Some(self.profile.client_unique_id.clone()),
            label: label.map(|p| p.label.clone()),
            status: status.map(str::to_owned),
            previous_label_or_app_version: Some(
                previous.map_or_else(|| self.profile.app_version.clone(), |p| p.label.clone()),
            ),
            previous_deployment_key: Some(self.profile.deployment_key.clone()),
        }
    }

    async fn flush_reports(&mut self, client: &DeviceClient) -> Result<(), DeviceError> {
        while let Some(report) = self.unsent.first() {
            client.report_deploy(report).await?;
            self.unsent.remove(0);
        }
        Ok(())
    }

    /// One app launch; see the module docs.
    ///
    /// # Errors
    /// Transport or server errors; the device keeps its state and retries reports next time.
    pub async fn start_up(&mut self, client: &DeviceClient, behavior: &Behavior) -> Result<LaunchLog, DeviceError> {
        let behind_proxy;
        let client = match &self.profile.network_address {
            Some(address) => {
                behind_proxy = client.behind(Some(address));
                &behind_proxy
            }
            None => client,
        };
        let mut log = LaunchLog::default();
        if let Some(pending) = self.pending.take() {
            let crash = behavior.crash_probability.get(&pending.label).copied().unwrap_or(0.0);
            if self.random() < crash {
                self.failed_hashes.insert(pending.package_hash.clone());
                log.rolled_back = Some(pending.label.clone());
                self.unsent.push(self.deploy_report(
                    Some(&pending),
                    Some(status::DEPLOYMENT_FAILED),
                    self.running.as_ref(),
                ));
            } else {
                let previous = self.running.replace(pending.clone());
                log.installed = Some(pending.label.clone());
                self.unsent.push(self.deploy_report(
                    Some(&pending),
                    Some(status::DEPLOYMENT_SUCCEEDED),
                    previous.as_ref(),
                ));
            }
        }
        self.flush_reports(client).await?;

        let query = UpdateCheckQuery {
            deployment_key: Some(self.profile.deployment_key.clone()),
            app_version: Some(self.profile.app_version.clone()),
            package_hash: self.running.as_ref().map(|p| p.package_hash.clone()),
            label: self.running.as_ref().map(|p| p.label.clone()),
            client_unique_id: Some(self.profile.client_unique_id.clone()),
            build_number: self.profile.build_number.map(|b| b.to_string()),
            is_companion: None,
        };
        let update = client.check_for_update(&query).await?;
        if !update.is_available || update.update_app_version {
            return Ok(log);
        }
        log.offered = Some(update.label.clone());
        let already_running = self.running.as_ref().is_some_and(|p| p.package_hash == update.package_hash);
        if already_running || self.failed_hashes.contains(&update.package_hash) {
            return Ok(log);
        }
        if !update.is_mandatory && self.random() >= behavior.accept_optional {
            return Ok(log);
        }
        let bytes = client.download(&update.download_url).await?;
        let length_ok = u64::try_from(bytes.len()).is_ok_and(|n| n == update.package_size);
        if !length_ok || package_hash_of(&bytes).as_deref() != Some(update.package_hash.as_str()) {
            log.corrupt = Some(update.label.clone());
            return Ok(log);
        }
        if let Some(public_key) = &self.profile.public_key_pem
            && !signature_matches(&bytes, public_key, &update.package_hash)
        {
            log.unsigned = Some(update.label.clone());
            return Ok(log);
        }
        client
            .report_download(&DownloadReport {
                deployment_key: Some(self.profile.deployment_key.clone()),
                label: Some(update.label.clone()),
                client_unique_id: Some(self.profile.client_unique_id.clone()),
            })
            .await?;
        log.downloaded = Some(update.label.clone());
        self.pending = Some(LocalPackage { label: update.label, package_hash: update.package_hash });
        Ok(log)
    }
}

/// Whether a downloaded zip carries `CodePush/.codepushrelease` signed by `public_key` for this hash.
#[must_use]
pub fn signature_matches(bytes: &[u8], public_key: &str, package_hash: &str) -> bool {
    let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else { return false };
    let Ok(mut file) = archive.by_name("CodePush/.codepushrelease") else { return false };
    let mut token = String::new();
    if std::io::Read::read_to_string(&mut file, &mut token).is_err() {
        return false;
    }
    crate::domain::signature::verify(&token, public_key).is_ok_and(|claims| claims.content_hash == package_hash)
}

/// The package hash a device computes for downloaded bytes.
#[must_use]
pub fn package_hash_of(bytes: &[u8]) -> Option<String> {
    if looks_like_zip(bytes) {
        let entries = inspect_zip(std::io::Cursor::new(bytes), ZipLimits::default()).ok()?;
        Some(manifest_hash(&entries))
    } else {
        Some(sha256_hex(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_is_deterministic_per_device_and_uniform_enough() {
        let profile = |id: &str| DeviceProfile {
            client_unique_id: id.into(),
            deployment_key: "k".into(),
            app_version: "1.0.0".into(),
            build_number: None,
            public_key_pem: None,
            network_address: None,
        };
        let mut a = VirtualDevice::new(profile("device-1"));
        let mut b = VirtualDevice::new(profile("device-1"));
        assert_eq!(a.random().to_bits(), b.random().to_bits());
        let mut c = VirtualDevice::new(profile("device-2"));
        let below_half = (0..10_000).filter(|_| c.random() < 0.5).count();
        assert!((4_800..5_200).contains(&below_half), "{below_half}");
    }
}
