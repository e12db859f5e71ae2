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
//! A downloaded zip with `hotcodepush.json` is a diff package, applied as react-native-code-push
//! does: a copy of the running package's folder (or of the binary's bundle when the device runs the
//! binary), minus `deletedFiles`, with the diff's files laid over it, must hash to the offered
//! `package_hash`. When it does not, the device downloads the full package instead.
//!
//! Randomness (crashes, accepting optional updates) comes from a generator seeded by the device id, so
//! a fleet behaves the same way on every run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::sync::Arc;

use bytes::Bytes;

use super::{ClientError, DeviceClient};
use crate::api::acquisition::{DeployReport, DownloadReport, UpdateCheckQuery, UpdateInfo, status};
use crate::domain::diff::{self, DIFF_MANIFEST_NAME};
use crate::domain::package::{
    ManifestEntry, SIGNATURE_FILE_NAME, ZipLimits, inspect_zip, is_ignored, looks_like_zip, manifest_hash, sha256_hex,
};

/// The files of a package as unpacked on a device, by path (a single-file package is one entry
/// named `""`). Shared, since a verified folder never changes.
pub type PackageFolder = Arc<BTreeMap<String, Bytes>>;

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
    pub files: PackageFolder,
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
    /// Bytes of packages downloaded (diffs, and full packages after a diff failed).
    pub downloaded_bytes: u64,
    /// A diff package was applied and verified.
    pub applied_diff: bool,
    /// A diff package did not hash to the release's package hash; the full package was fetched.
    pub diff_fell_back: bool,
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
    /// The JS bundle and assets shipped in the binary, if the device names it in update checks (as
    /// iOS does with its hash); `None`: it names no package while running the binary (Android).
    binary_bundle: Option<(String, PackageFolder)>,
    unsent: Vec<DeployReport>,
    rng: u64,
}

/// What a downloaded package turned into.
enum Unpacked {
    /// The folder the device runs next; it hashes to the offered package hash. `true`: it was
    /// made from a diff.
    Verified(PackageFolder, bool),
    /// A diff whose result does not hash to the package hash.
    DiffMismatch,
    /// Not a readable package, or a full package with another hash.
    Corrupt,
}

impl VirtualDevice {
    /// A device that runs its binary.
    #[must_use]
    pub fn new(profile: DeviceProfile) -> Self {
        let seed = profile
            .client_unique_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        Self {
            profile,
            running: None,
            pending: None,
            failed_hashes: HashSet::new(),
            binary_bundle: None,
            unsent: Vec::new(),
            rng: seed | 1,
        }
    }

    /// The same device with the bundle its binary ships; it then names the bundle's package hash
    /// in update checks while it runs the binary, and applies diffs against it.
    #[must_use]
    pub fn with_binary_bundle(mut self, files: PackageFolder) -> Self {
        self.binary_bundle = Some((folder_hash(&files), files));
        self
    }

    /// Replaces the device's package folders by equal ones in `folders` (by package hash, which the
    /// device verified), adding its own where there is none: a fleet then keeps one copy of each
    /// package in memory.
    pub fn share_folders(&mut self, folders: &mut HashMap<String, PackageFolder>) {
        for package in [self.running.as_mut(), self.pending.as_mut()].into_iter().flatten() {
            let shared = folders.entry(package.package_hash.clone()).or_insert_with(|| Arc::clone(&package.files));
            package.files = Arc::clone(shared);
        }
    }

    /// The package hash and folder the device runs: its CodePush package, or the binary's bundle.
    fn running_folder(&self) -> Option<(&str, &PackageFolder)> {
        match &self.running {
            Some(package) => Some((&package.package_hash, &package.files)),
            None => self.binary_bundle.as_ref().map(|(hash, files)| (hash.as_str(), files)),
        }
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
            package_hash: self.running_folder().map(|(hash, _)| hash.to_owned()),
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
        let already_running = self.running_folder().is_some_and(|(hash, _)| hash == update.package_hash);
        if already_running || self.failed_hashes.contains(&update.package_hash) {
            return Ok(log);
        }
        if !update.is_mandatory && self.random() >= behavior.accept_optional {
            return Ok(log);
        }
        let Some(files) = self.fetch(client, &query, &update, &mut log).await? else {
            log.corrupt = Some(update.label.clone());
            return Ok(log);
        };
        if let Some(public_key) = &self.profile.public_key_pem
            && !signature_matches(&files, public_key, &update.package_hash)
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
        self.pending = Some(LocalPackage { label: update.label, package_hash: update.package_hash, files });
        Ok(log)
    }

    /// Downloads what the update check linked and unpacks it into the folder to run. A diff that
    /// does not verify is replaced by the full package, which the update check links for a device
    /// that names no running package. `None`: nothing that verifies arrived.
    async fn fetch(
        &self,
        client: &DeviceClient,
        query: &UpdateCheckQuery,
        update: &UpdateInfo,
        log: &mut LaunchLog,
    ) -> Result<Option<PackageFolder>, DeviceError> {
        match self.download(client, update, log).await? {
            Unpacked::Verified(files, _) => Ok(Some(files)),
            Unpacked::Corrupt => Ok(None),
            Unpacked::DiffMismatch => {
                log.diff_fell_back = true;
                let full_query = UpdateCheckQuery { package_hash: None, ..query.clone() };
                let full = client.check_for_update(&full_query).await?;
                if !full.is_available || full.package_hash != update.package_hash {
                    return Ok(None);
                }
                match self.download(client, &full, log).await? {
                    Unpacked::Verified(files, _) => Ok(Some(files)),
                    Unpacked::DiffMismatch | Unpacked::Corrupt => Ok(None),
                }
            }
        }
    }

    /// One download of `update.download_url`, length-checked and unpacked.
    async fn download(
        &self,
        client: &DeviceClient,
        update: &UpdateInfo,
        log: &mut LaunchLog,
    ) -> Result<Unpacked, DeviceError> {
        let bytes = client.download(&update.download_url).await?;
        log.downloaded_bytes += bytes.len() as u64;
        if bytes.len() as u64 != update.package_size {
            return Ok(Unpacked::Corrupt);
        }
        let unpacked = self.unpack(bytes, &update.package_hash);
        log.applied_diff |= matches!(unpacked, Unpacked::Verified(_, true));
        Ok(unpacked)
    }

    /// A downloaded package as the folder to run, verified against `package_hash`.
    fn unpack(&self, bytes: Vec<u8>, package_hash: &str) -> Unpacked {
        if !looks_like_zip(&bytes) {
            return if sha256_hex(&bytes) == package_hash {
                Unpacked::Verified(Arc::new(BTreeMap::from([(String::new(), Bytes::from(bytes))])), false)
            } else {
                Unpacked::Corrupt
            };
        }
        let Some(mut files) = unzip(&bytes) else { return Unpacked::Corrupt };
        let from_diff = match files.remove(DIFF_MANIFEST_NAME) {
            Some(manifest) => {
                let empty = PackageFolder::default();
                let base = self.running_folder().map_or(&empty, |(_, files)| files);
                match diff::apply(base, files, &manifest) {
                    Ok(applied) => files = applied,
                    Err(_) => return Unpacked::Corrupt,
                }
                true
            }
            None => false,
        };
        match (folder_hash(&files) == package_hash, from_diff) {
            (true, _) => Unpacked::Verified(Arc::new(files), from_diff),
            (false, true) => Unpacked::DiffMismatch,
            (false, false) => Unpacked::Corrupt,
        }
    }
}

/// The files of a zip (the same safety checks as the server's), or `None` when it is not a
/// package a device would unpack.
fn unzip(bytes: &[u8]) -> Option<BTreeMap<String, Bytes>> {
    inspect_zip(std::io::Cursor::new(bytes), ZipLimits::default()).ok()?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut files = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).ok()?;
        let name = entry.name().ok()?.into_owned();
        if entry.is_dir() || name.ends_with('/') || is_ignored(&name) {
            continue;
        }
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).ok()?;
        files.insert(name, Bytes::from(contents));
    }
    Some(files)
}

/// The hash a device computes over a package folder: the manifest hash of a zip's files, or the
/// SHA-256 of a single-file package.
#[must_use]
pub fn folder_hash(files: &BTreeMap<String, Bytes>) -> String {
    if let (1, Some(single)) = (files.len(), files.get("")) {
        return sha256_hex(single);
    }
    let entries: Vec<ManifestEntry> =
        files.iter().map(|(path, bytes)| ManifestEntry { path: path.clone(), sha256: sha256_hex(bytes) }).collect();
    manifest_hash(&entries)
}

/// Whether a package folder carries a `.codepushrelease` signed by `public_key` for this hash.
#[must_use]
pub fn signature_matches(files: &BTreeMap<String, Bytes>, public_key: &str, package_hash: &str) -> bool {
    let Some(token) = files.get(&format!("CodePush/{SIGNATURE_FILE_NAME}")) else { return false };
    let Ok(token) = std::str::from_utf8(token) else { return false };
    crate::domain::signature::verify(token, public_key).is_ok_and(|claims| claims.content_hash == package_hash)
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
