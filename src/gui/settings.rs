//! The only persisted GUI state: server profiles (without secrets), recent projects, last selection.
//! Access keys live in a separate file readable only by the user (`keys.toml`, mode 0600, in the
//! config dir, written atomically), never in the settings that eframe stores.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A server the app can connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub url: String,
    /// A PEM file of CA certificates to trust for this server (private PKI), besides the system's.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

impl Profile {
    /// An empty profile for the "Add server" form.
    #[must_use]
    pub fn blank() -> Self {
        Self { name: String::new(), url: String::new(), ca_cert: None }
    }
}

/// Persisted settings (`#[serde(default)]` so older saves still load).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub profiles: Vec<Profile>,
    /// Name of the active profile; `None` = the embedded local server.
    pub active_profile: Option<String>,
    pub recent_projects: Vec<PathBuf>,
    pub last_app: Option<String>,
    pub last_deployment: Option<String>,
}

impl Settings {
    /// The storage key in eframe's persistence.
    pub const KEY: &'static str = "otadeck-settings";

    /// Remembers a project folder (most recent first, at most 8).
    pub fn remember_project(&mut self, folder: PathBuf) {
        self.recent_projects.retain(|p| *p != folder);
        self.recent_projects.insert(0, folder);
        self.recent_projects.truncate(8);
    }
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("no config folder on this system to keep access keys in")]
    NoConfigDir,
    #[error("cannot read the key file {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot write the key file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The keyring service name the app's access keys are stored under.
const KEYRING_SERVICE: &str = "dev.otadeck.otadeck";

/// Access keys by profile name: in the OS keyring (Secret Service, Keychain, Credential Manager)
/// where one runs, else in a 0600 file written atomically (temp file + rename). An unreadable or
/// damaged file is an error, never an empty map, so a save never drops the other keys.
#[derive(Debug, Clone)]
pub struct KeyStore {
    path: Option<PathBuf>,
    use_keyring: bool,
}

impl KeyStore {
    /// The OS keyring, with the key file in the platform config dir as the fallback.
    #[must_use]
    pub fn in_config_dir() -> Self {
        Self {
            path: directories::ProjectDirs::from("dev", "otadeck", "otadeck").map(|d| d.config_dir().join("keys.toml")),
            use_keyring: true,
        }
    }

    /// Only a key file at `path` (tests).
    #[must_use]
    pub fn at(path: PathBuf) -> Self {
        Self { path: Some(path), use_keyring: false }
    }

    fn keyring_entry(&self, profile: &str) -> Option<keyring::Entry> {
        self.use_keyring.then(|| keyring::Entry::new(KEYRING_SERVICE, profile).ok()).flatten()
    }

    fn read(&self) -> Result<BTreeMap<String, String>, KeyStoreError> {
        let path = self.path.as_ref().ok_or(KeyStoreError::NoConfigDir)?;
        let unreadable = |reason: String| KeyStoreError::Unreadable { path: path.clone(), reason };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(error) => return Err(unreadable(error.to_string())),
        };
        toml::from_str(&text).map_err(|e| unreadable(e.to_string()))
    }

    /// The stored key of a profile.
    ///
    /// # Errors
    /// [`KeyStoreError`] when the file cannot be read.
    pub fn get(&self, profile: &str) -> Result<Option<String>, KeyStoreError> {
        if let Some(Ok(key)) = self.keyring_entry(profile).map(|entry| entry.get_password()) {
            return Ok(Some(key));
        }
        Ok(self.read()?.get(profile).cloned())
    }

    /// Stores a profile's key, keeping every other key.
    ///
    /// # Errors
    /// [`KeyStoreError`] when the file cannot be read or written; nothing is changed then.
    pub fn set(&self, profile: &str, key: &str) -> Result<(), KeyStoreError> {
        if let Some(entry) = self.keyring_entry(profile) {
            match entry.set_password(key) {
                Ok(()) => return Ok(()),
                Err(error) => tracing::info!(%error, "no OS keyring; keeping the access key in the 0600 key file"),
            }
        }
        self.set_in_file(profile, key)
    }

    fn set_in_file(&self, profile: &str, key: &str) -> Result<(), KeyStoreError> {
        use std::io::Write as _;
        let mut keys = self.read()?;
        let path = self.path.as_ref().ok_or(KeyStoreError::NoConfigDir)?;
        let write_error = |source| KeyStoreError::Write { path: path.clone(), source };
        keys.insert(profile.to_owned(), key.to_owned());
        let folder = path.parent().unwrap_or_else(|| std::path::Path::new("."));
        std::fs::create_dir_all(folder).map_err(write_error)?;
        let text = toml::to_string(&keys).map_err(|e| write_error(std::io::Error::other(e)))?;
        let mut temp = tempfile::Builder::new().prefix(".keys-").tempfile_in(folder).map_err(write_error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(write_error)?;
        }
        temp.write_all(text.as_bytes()).map_err(write_error)?;
        temp.as_file().sync_all().map_err(write_error)?;
        temp.persist(path).map_err(|e| write_error(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kept_apart_from_settings_in_a_private_file() {
        let dir = tempfile::tempdir().expect("dir");
        let store = KeyStore::at(dir.path().join("keys.toml"));
        store.set("prod", "secret-key-123").expect("set");
        store.set("staging", "other-key").expect("set");
        assert_eq!(store.get("prod").expect("read").as_deref(), Some("secret-key-123"));
        assert_eq!(store.get("staging").expect("read").as_deref(), Some("other-key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("keys.toml")).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let mut settings = Settings::default();
        settings.profiles.push(Profile {
            name: "prod".into(),
            url: "https://ota.example.com".into(),
            ca_cert: Some(PathBuf::from("/etc/ca.pem")),
        });
        let saved = serde_json::to_string(&settings).expect("json");
        assert!(!saved.contains("secret-key-123"));
        for i in 0..10 {
            settings.remember_project(PathBuf::from(format!("/p{i}")));
        }
        settings.remember_project(PathBuf::from("/p3"));
        assert_eq!(settings.recent_projects.len(), 8);
        assert_eq!(settings.recent_projects[0], PathBuf::from("/p3"));
    }

    #[test]
    fn a_damaged_key_file_is_an_error_and_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys.toml");
        std::fs::write(&path, "this is = = not toml").expect("write");
        let store = KeyStore::at(path.clone());
        assert!(matches!(store.get("prod"), Err(KeyStoreError::Unreadable { .. })));
        assert!(store.set("new", "key").is_err(), "a save must not replace the keys it could not read");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "this is = = not toml");
    }

    #[test]
    fn the_keyring_lookup_answers_at_once_where_no_keyring_service_runs() {
        let started = std::time::Instant::now();
        let missing = KeyStore::in_config_dir().get("otadeck-test-profile-that-does-not-exist");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the lookup must not hang the UI");
        assert!(!matches!(missing, Ok(Some(_))), "an unknown profile has no key");
    }
}
