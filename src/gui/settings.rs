//! The only persisted GUI state: server profiles (without secrets), recent projects, last selection.
//! Access keys live in a separate file readable only by the user (`keys.toml`, mode 0600, in the
//! config dir), never in the settings that eframe stores.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A server the app can connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Access keys by profile name, in a 0600 file.
#[derive(Debug, Clone)]
pub struct KeyStore {
    path: Option<PathBuf>,
}

impl KeyStore {
    /// The key file in the platform config dir.
    #[must_use]
    pub fn in_config_dir() -> Self {
        Self {
            path: directories::ProjectDirs::from("dev", "otadeck", "otadeck").map(|d| d.config_dir().join("keys.toml")),
        }
    }

    /// A key file at `path` (tests).
    #[must_use]
    pub fn at(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    fn read(&self) -> BTreeMap<String, String> {
        self.path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// The stored key of a profile.
    #[must_use]
    pub fn get(&self, profile: &str) -> Option<String> {
        self.read().get(profile).cloned()
    }

    /// Stores a profile's key.
    ///
    /// # Errors
    /// I/O errors writing the file.
    pub fn set(&self, profile: &str, key: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        let Some(path) = &self.path else { return Err(std::io::Error::other("no config dir on this system")) };
        let mut keys = self.read();
        keys.insert(profile.to_owned(), key.to_owned());
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        let text = toml::to_string(&keys).map_err(std::io::Error::other)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)?.write_all(text.as_bytes())
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
        assert_eq!(store.get("prod").as_deref(), Some("secret-key-123"));
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
}
