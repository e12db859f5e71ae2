//! A virtual phone running a Mendix native app with runtime OTA, following the reference
//! (`mendix-runtime-ota.md` §1 and §3d) step by step:
//!
//! 1. at start, pick the bundle: the OTA bundle when `Ota/manifest.json` parses, its `appVersion`
//!    equals the binary's and the bundle file exists; else the embedded one;
//! 2. `POST <runtime>xas/` with the exact body and headers, a 5 s timeout and no redirects; only a
//!    200 with a JSON body counts;
//! 3. when `otaEnabled` and the advertised `deploymentID` differs from the running one and both
//!    `satisfies*` verdicts are true: download `<runtime><bundlePath>` (the URL must start with the
//!    runtime URL; 2xx only; Android without cookies), guard against deploying the same ID twice
//!    (`OTA_ALREADY_DEPLOYED`), unzip into `Ota/<id>/`, write `Ota/manifest.json`, and reload, which
//!    is a new start.
//!
//! Cookies are kept like the platform's cookie store (or not at all, for devices whose store
//! drops them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, SET_COOKIE};

use crate::api::mendix::{GET_OTA_INFO, OtaInfoResponse};
use crate::domain::mendix;

/// The check's timeout in the Mendix client.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the binary is and how its platform behaves.
#[derive(Debug, Clone)]
pub struct MendixDeviceProfile {
    /// The runtime URL compiled into the binary, normalised with a trailing `/`.
    pub runtime_url: String,
    /// `android` or `ios`.
    pub platform: String,
    pub native_binary_version: u32,
    pub native_dependencies: BTreeMap<String, String>,
    /// The deployment ID of the bundle inside the binary.
    pub embedded_deployment_id: String,
    /// `versionName-versionCode` (Android) or `CFBundleShortVersionString-CFBundleVersion` (iOS).
    pub app_version: String,
    /// Whether the cookie store keeps cookies between starts.
    pub keeps_cookies: bool,
    /// Deployment IDs this phone fails to apply (unzip or deploy fails: a full disk, a corrupt
    /// zip), so it downloads them again at every start.
    pub fails_to_apply: Vec<String>,
}

/// What one start of the app did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MendixStart {
    /// The check answered the ID the device runs.
    UpToDate,
    /// Downloaded and deployed `to`; the reload's check then found nothing new.
    Updated { from: String, to: String },
    /// The native guard refused to deploy the same ID again: the served bundle's compiled ID
    /// differs from the advertised one (the device stays, and downloads again next start).
    AlreadyDeployed { advertised: String },
    /// OTA disabled on the server.
    Disabled,
    /// A verdict was false: the update is skipped with a warning.
    Skipped(String),
    /// The check failed (timeout, non-200, bad JSON, wrong types): start with the current bundle.
    CheckFailed(String),
    /// Download or deploy failed: start with the current bundle.
    DownloadFailed(String),
}

/// Contents of `Ota/manifest.json`, with the device's exact keys.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(rename = "otaDeploymentID")]
    ota_deployment_id: String,
    relative_bundle_path: String,
    app_version: String,
}

/// The HTTP stacks of a platform: the check (no redirects, 5 s) and the download (redirects
/// followed, as OkHttp and URLSession do; iOS gives up after 10 s). A fleet shares one, as its
/// phones would share nothing but the network; cookies stay per device.
#[derive(Debug, Clone)]
pub struct MendixHttp {
    check: reqwest::Client,
    download: reqwest::Client,
}

impl MendixHttp {
    /// The stacks of `platform`.
    ///
    /// # Errors
    /// When TLS cannot be set up.
    pub fn new(platform: &str) -> Result<Self, String> {
        crate::tls::install_crypto_provider();
        let check = reqwest::Client::builder()
            .tls_backend_rustls()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(CHECK_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let download = reqwest::Client::builder()
            .tls_backend_rustls()
            .no_proxy()
            .timeout(Duration::from_secs(if platform == "ios" { 10 } else { 60 }))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { check, download })
    }
}

/// One virtual phone with its own files.
pub struct VirtualMendixDevice {
    pub profile: MendixDeviceProfile,
    dir: PathBuf,
    cookies: BTreeMap<String, String>,
    http: MendixHttp,
    /// Bundle downloads so far.
    pub downloads: u32,
}

impl VirtualMendixDevice {
    /// A freshly installed app storing its files under `dir`.
    ///
    /// # Errors
    /// When the HTTP clients cannot be set up.
    pub fn new(profile: MendixDeviceProfile, dir: &Path) -> Result<Self, String> {
        let http = MendixHttp::new(&profile.platform)?;
        Ok(Self::with_http(profile, dir, http))
    }

    /// A freshly installed app sharing `http` with the rest of its fleet.
    #[must_use]
    pub fn with_http(profile: MendixDeviceProfile, dir: &Path, http: MendixHttp) -> Self {
        Self { profile, dir: dir.to_path_buf(), cookies: BTreeMap::new(), http, downloads: 0 }
    }

    fn ota_dir(&self) -> PathBuf {
        self.dir.join("Ota")
    }

    fn bundle_name(&self) -> &'static str {
        mendix::bundle_file(&self.profile.platform).unwrap_or("index.android.bundle")
    }

    fn manifest(&self) -> Option<Manifest> {
        let text = std::fs::read_to_string(self.ota_dir().join("manifest.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The deployment ID of the bundle the app starts with: the OTA bundle's compiled ID when the
    /// manifest is valid for this binary, else the embedded one.
    #[must_use]
    pub fn running_deployment_id(&self) -> String {
        let Some(manifest) = self.manifest() else { return self.profile.embedded_deployment_id.clone() };
        let bundle = self.ota_dir().join(&manifest.relative_bundle_path);
        if manifest.app_version != self.profile.app_version || !bundle.is_file() {
            return self.profile.embedded_deployment_id.clone();
        }
        std::fs::read(&bundle)
            .ok()
            .and_then(|bytes| mendix::compiled_deployment_id(&bytes, None).ok())
            .unwrap_or_else(|| self.profile.embedded_deployment_id.clone())
    }

    /// A store update: a new binary version (its own embedded bundle); the OTA bundle is then
    /// ignored until a new one is deployed.
    pub fn install_store_update(&mut self, app_version: &str, embedded_deployment_id: &str) {
        app_version.clone_into(&mut self.profile.app_version);
        embedded_deployment_id.clone_into(&mut self.profile.embedded_deployment_id);
    }

    fn cookie_header(&self) -> Option<String> {
        (!self.cookies.is_empty())
            .then(|| self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        if !self.profile.keeps_cookies {
            return;
        }
        for value in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let mut attributes = value.split(';');
            let Some((name, cookie)) = attributes.next().and_then(|pair| pair.trim().split_once('=')) else { continue };
            let expired = attributes.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if expired {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), cookie.to_owned());
            }
        }
    }

    /// The OTA check, exactly as the client sends it.
    async fn check(&mut self) -> Result<OtaInfoResponse, String> {
        let body = serde_json::json!({
            "action": GET_OTA_INFO,
            "params": {
                "platform": self.profile.platform,
                "nativeDependencies": self.profile.native_dependencies,
                "nativeBinaryVersion": self.profile.native_binary_version,
            }
        });
        let mut request = self
            .http
            .check
            .post(format!("{}xas/", self.profile.runtime_url))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(cookies) = self.cookie_header() {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.map_err(|e| format!("get_ota_info: {e}"))?;
        self.keep_cookies(response.headers());
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("get_ota_info answered {}", response.status()));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        if value.get("deploymentID").is_some_and(|id| !id.is_string()) {
            return Err("deploymentID is not a string".into());
        }
        if value.get("bundlePath").and_then(|p| p.as_str()).is_some_and(|p| p.starts_with('/')) {
            return Err("bundlePath starts with /".into());
        }
        serde_json::from_value(value).map_err(|e| format!("unexpected answer: {e}"))
    }

    /// One start of the app (and, after an update, the reload).
    pub async fn start(&mut self) -> MendixStart {
        let running = self.running_deployment_id();
        let answer = match self.check().await {
            Ok(answer) => answer,
            Err(error) => return MendixStart::CheckFailed(error),
        };
        if !answer.ota_enabled {
            return MendixStart::Disabled;
        }
        let (Some(advertised), Some(bundle_path)) = (answer.deployment_id.clone(), answer.bundle_path.clone()) else {
            return MendixStart::CheckFailed("otaEnabled without deploymentID or bundlePath".into());
        };
        if advertised == running {
            return MendixStart::UpToDate;
        }
        if !answer.satisfies_native_dependencies {
            return MendixStart::Skipped("non-matching native dependencies".into());
        }
        if !answer.satisfies_native_binary_version {
            return MendixStart::Skipped("native binary version mismatch".into());
        }
        if let Err(outcome) = self.download_and_deploy(&advertised, &bundle_path).await {
            return outcome;
        }
        // The reload: a new start with the new bundle must find nothing new.
        match Box::pin(self.check()).await {
            Ok(again) if again.deployment_id.as_deref() == Some(self.running_deployment_id().as_str()) => {
                MendixStart::Updated { from: running, to: advertised }
            }
            Ok(again) => MendixStart::DownloadFailed(format!(
                "after the reload the device runs {} but {} is advertised",
                self.running_deployment_id(),
                again.deployment_id.unwrap_or_default()
            )),
            Err(error) => MendixStart::CheckFailed(error),
        }
    }

    async fn download_and_deploy(&mut self, id: &str, bundle_path: &str) -> Result<(), MendixStart> {
        let failed = |why: String| MendixStart::DownloadFailed(why);
        let url = format!("{}{bundle_path}", self.profile.runtime_url);
        if !url.starts_with(&self.profile.runtime_url) {
            return Err(failed("INVALID_RUNTIME_URL".into()));
        }
        let mut request = self.http.download.get(&url);
        if self.profile.platform == "ios"
            && let Some(cookies) = self.cookie_header()
        {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await.map_err(|e| failed(format!("download: {e}")))?;
        if !response.status().is_success() {
            return Err(failed(format!("download answered {}", response.status())));
        }
        let zip = response.bytes().await.map_err(|e| failed(format!("download: {e}")))?;
        self.downloads += 1;
        let ota = self.ota_dir();
        let bundle_name = self.bundle_name();
        if self.manifest().is_some_and(|m| m.ota_deployment_id == id) && ota.join(id).join(bundle_name).is_file() {
            return Err(MendixStart::AlreadyDeployed { advertised: id.to_owned() });
        }
        if !mendix::is_valid_id(id) {
            return Err(failed(format!("INVALID_DEPLOY_CONFIG: {id}")));
        }
        if self.profile.fails_to_apply.iter().any(|broken| broken == id) {
            return Err(failed("OTA_DEPLOYMENT_FAILED: the bundle could not be applied".into()));
        }
        let target = ota.join(id);
        let _ = std::fs::remove_dir_all(&target);
        if let Err(error) = unzip(&zip, &target) {
            let _ = std::fs::remove_dir_all(&target);
            return Err(failed(format!("OTA_DEPLOYMENT_FAILED: {error}")));
        }
        if !target.join(bundle_name).is_file() {
            let _ = std::fs::remove_dir_all(&target);
            return Err(failed(format!("OTA_DEPLOYMENT_FAILED: no {bundle_name} at the zip's root")));
        }
        let previous = self.manifest();
        let manifest = Manifest {
            ota_deployment_id: id.to_owned(),
            relative_bundle_path: format!("{id}/{bundle_name}"),
            app_version: self.profile.app_version.clone(),
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| failed(e.to_string()))?;
        std::fs::write(ota.join("manifest.json"), text).map_err(|e| failed(e.to_string()))?;
        if let Some(previous) = previous.filter(|p| p.ota_deployment_id != id) {
            let _ = std::fs::remove_dir_all(ota.join(previous.ota_deployment_id));
        }
        Ok(())
    }
}

/// Unzips into `target`, refusing entries that would land outside it (otadeck must never serve
/// such a zip; Android's own unzip would write them).
fn unzip(bytes: &[u8], target: &Path) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let relative = entry.enclosed_name().ok_or_else(|| format!("zip-slip entry \"{name}\""))?;
        let path = target.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut file).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unzip;
    use std::io::Write as _;

    fn zip_with(name: &str) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(name, zip::write::SimpleFileOptions::default()).expect("entry");
        zip.write_all(b"x").expect("write");
        zip.finish().expect("finish").into_inner()
    }

    #[test]
    fn unzipping_refuses_entries_that_escape_the_target() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("Ota/638700000000000001");
        assert!(unzip(&zip_with("../../files/evil.js"), &target).expect_err("zip-slip").contains("zip-slip"));
        assert!(!dir.path().join("files/evil.js").exists());
        unzip(&zip_with("raw/logo.txt"), &target).expect("a normal entry");
        assert!(target.join("raw/logo.txt").is_file());
    }
}
