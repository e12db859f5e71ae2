//! Project detection and `otadeck.toml`.
//!
//! A folder is a **Mendix** project (a `*.mpr` file), an **Expo** project (`expo` dependency or an
//! `app.json` with an `expo` key), a **React Native** project (`react-native` dependency), or any
//! folder with an `otadeck.toml`. The config is optional for the first three; it names the server
//! apps per platform, the default deployment, the build command, the output folder and a signing key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{BundleError, Platform};

/// The config file name.
pub const CONFIG_FILE: &str = "otadeck.toml";

/// Kinds of projects otadeck knows how to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ProjectKind {
    ReactNative,
    Expo,
    Mendix,
    /// Any folder with an `otadeck.toml` and a build command.
    Custom,
}

impl std::fmt::Display for ProjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ReactNative => "React Native",
            Self::Expo => "Expo",
            Self::Mendix => "Mendix",
            Self::Custom => "custom",
        })
    }
}

/// `otadeck.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    #[serde(default)]
    pub apps: AppsConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub signing: SigningConfig,
    #[serde(default)]
    pub mendix: MendixConfig,
}

/// `[apps]`: server app names per platform and the default deployment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppsConfig {
    pub android: Option<String>,
    pub ios: Option<String>,
    pub deployment: Option<String>,
}

/// `[build]`: how to build and where the output lands.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// A shell command (run with `sh -c`). It gets `OTADECK_PLATFORM`, `OTADECK_CODEPUSH_DIR`,
    /// `OTADECK_BUNDLE_OUTPUT` and `OTADECK_ENTRY_FILE` in its environment.
    pub command: Option<String>,
    /// The JS entry file (default `index.js`).
    pub entry: Option<String>,
    /// Build timeout in seconds (default 900).
    pub timeout_seconds: Option<u64>,
    /// Extra environment for the build command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// `[signing]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// PEM RSA private key, relative to the project folder.
    pub private_key: Option<PathBuf>,
}

/// `[mendix]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MendixConfig {
    /// Path of the `mxbuild` executable that matches the project's Studio Pro version.
    pub mxbuild: Option<PathBuf>,
    /// Java home for MxBuild.
    pub java_home: Option<PathBuf>,
}

/// A detected project.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub kind: ProjectKind,
    /// Display name: `name` in package.json, the `.mpr` stem, or the folder name.
    pub name: String,
    pub config: ProjectConfig,
    /// The Mendix project file, for Mendix projects.
    pub mpr: Option<PathBuf>,
}

impl Project {
    /// Detects the project in `root`.
    ///
    /// # Errors
    /// [`BundleError::NotAProject`] naming what was looked for; config and I/O errors.
    pub fn detect(root: &Path) -> Result<Self, BundleError> {
        let root = root.canonicalize().map_err(BundleError::io(root))?;
        let config = read_config(&root)?;
        let package = read_json(&root.join("package.json"))?;
        let app_json = read_json(&root.join("app.json"))?;
        let depends_on = |name: &str| {
            package.as_ref().is_some_and(|p| {
                ["dependencies", "devDependencies"].iter().any(|section| p[section].get(name).is_some())
            })
        };
        let mpr = find_mpr(&root)?;
        let kind = if mpr.is_some() {
            ProjectKind::Mendix
        } else if depends_on("expo") || app_json.as_ref().is_some_and(|a| a.get("expo").is_some()) {
            ProjectKind::Expo
        } else if depends_on("react-native") {
            ProjectKind::ReactNative
        } else if config.is_some() {
            ProjectKind::Custom
        } else {
            return Err(BundleError::NotAProject(root));
        };
        let folder_name = root.file_name().map_or_else(|| "project".to_owned(), |n| n.to_string_lossy().into_owned());
        let name = match (&mpr, package.as_ref().and_then(|p| p["name"].as_str())) {
            (Some(mpr), _) => mpr.file_stem().map_or(folder_name, |s| s.to_string_lossy().into_owned()),
            (None, Some(name)) => name.to_owned(),
            (None, None) => folder_name,
        };
        Ok(Self { root, kind, name, config: config.unwrap_or_default(), mpr })
    }

    /// The server app for a platform: from `[apps]`, else `<name>-Android` / `<name>-iOS`.
    #[must_use]
    pub fn app_name(&self, platform: Platform) -> String {
        let configured = match platform {
            Platform::Android => self.config.apps.android.clone(),
            Platform::Ios => self.config.apps.ios.clone(),
        };
        configured.unwrap_or_else(|| {
            let suffix = match platform {
                Platform::Android => "Android",
                Platform::Ios => "iOS",
            };
            format!("{}-{suffix}", self.name)
        })
    }

    /// The deployment to push to unless told otherwise (`Staging` by default).
    #[must_use]
    pub fn default_deployment(&self) -> String {
        self.config.apps.deployment.clone().unwrap_or_else(|| "Staging".to_owned())
    }

    /// The JS entry file (config, else `index.js`).
    #[must_use]
    pub fn entry_file(&self) -> String {
        self.config.build.entry.clone().unwrap_or_else(|| "index.js".to_owned())
    }

    /// The signing key path from the config, resolved against the project folder.
    #[must_use]
    pub fn signing_key(&self) -> Option<PathBuf> {
        self.config.signing.private_key.as_ref().map(|p| self.root.join(p))
    }
}

fn read_config(root: &Path) -> Result<Option<ProjectConfig>, BundleError> {
    let path = root.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(BundleError::io(&path))?;
    toml::from_str(&text).map(Some).map_err(|e| BundleError::Config { path, message: e.to_string() })
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>, BundleError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(BundleError::io(path))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| BundleError::Config { path: path.to_path_buf(), message: e.to_string() })
}

fn find_mpr(root: &Path) -> Result<Option<PathBuf>, BundleError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).map_err(BundleError::io(root))? {
        let path = entry.map_err(BundleError::io(root))?.path();
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("mpr")) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write");
        }
        dir
    }

    #[test]
    fn detects_each_kind() {
        let rn = folder(&[("package.json", r#"{"name":"shop","dependencies":{"react-native":"0.81.0"}}"#)]);
        let project = Project::detect(rn.path()).expect("rn");
        assert_eq!((project.kind, project.name.as_str()), (ProjectKind::ReactNative, "shop"));
        assert_eq!(project.app_name(Platform::Ios), "shop-iOS");

        let expo = folder(&[("package.json", r#"{"dependencies":{"expo":"54.0.0","react-native":"0.81.0"}}"#)]);
        assert_eq!(Project::detect(expo.path()).expect("expo").kind, ProjectKind::Expo);
        let expo_app_json = folder(&[("app.json", r#"{"expo":{"name":"x"}}"#)]);
        assert_eq!(Project::detect(expo_app_json.path()).expect("expo").kind, ProjectKind::Expo);

        let mendix = folder(&[("FieldService.mpr", "")]);
        let project = Project::detect(mendix.path()).expect("mendix");
        assert_eq!((project.kind, project.name.as_str()), (ProjectKind::Mendix, "FieldService"));

        let custom = folder(&[(
            CONFIG_FILE,
            "[apps]\nandroid = \"A\"\ndeployment = \"Production\"\n[build]\ncommand = \"true\"\n",
        )]);
        let project = Project::detect(custom.path()).expect("custom");
        assert_eq!(project.kind, ProjectKind::Custom);
        assert_eq!(project.app_name(Platform::Android), "A");
        assert_eq!(project.default_deployment(), "Production");
    }

    #[test]
    fn detection_errors_say_what_was_looked_for() {
        let empty = folder(&[("README.md", "hi")]);
        let message = Project::detect(empty.path()).expect_err("not a project").to_string();
        for looked_for in ["*.mpr", "expo", "react-native", "otadeck.toml"] {
            assert!(message.contains(looked_for), "{message}");
        }
        let bad = folder(&[(CONFIG_FILE, "[build]\ncomand = \"typo\"\n")]);
        let message = Project::detect(bad.path()).expect_err("bad config").to_string();
        assert!(message.contains("otadeck.toml") && message.contains("comand"), "{message}");
    }
}
