//! From a project folder to a CodePush package: detect the project, run its real build tool,
//! package `CodePush/` exactly as the CodePush CLI does, sign it, and check that it is safe to ship
//! over the air. Synchronous except for the build runner; never touches the network.

pub mod build;
pub mod fingerprint;
pub mod mendix_model;
pub mod package;
pub mod preflight;
pub mod project;
pub mod sign;

use std::path::PathBuf;

/// What can go wrong turning a project into a package.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "no project found in {0}: looked for a *.mpr file (Mendix), a package.json depending on expo (Expo) or react-native (React Native), or an otadeck.toml"
    )]
    NotAProject(PathBuf),
    #[error("{path} is not valid: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{tool} was not found ({detail}). {hint}")]
    ToolMissing { tool: String, detail: String, hint: String },
    #[error("the build failed with {status}; the last output lines are above")]
    BuildFailed { status: String },
    #[error("the build was cancelled")]
    Cancelled,
    #[error("the build took longer than {0:?} and was stopped")]
    TimedOut(std::time::Duration),
    #[error("the build finished but produced no {0}")]
    NoOutput(PathBuf),
    #[error("cannot read or write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot write the package zip: {0}")]
    Zip(String),
    #[error("cannot sign the package: {0}")]
    Signing(String),
}

impl BundleError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// The two mobile platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Android,
    Ios,
}

impl Platform {
    /// Both platforms, Android first.
    pub const ALL: [Platform; 2] = [Platform::Android, Platform::Ios];

    /// The name the bundlers use (`android`, `ios`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Ios => "ios",
        }
    }

    /// The bundle file name react-native-code-push looks for.
    #[must_use]
    pub fn bundle_file_name(self) -> &'static str {
        match self {
            Self::Android => "index.android.bundle",
            Self::Ios => "main.jsbundle",
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "android" => Ok(Self::Android),
            "ios" => Ok(Self::Ios),
            other => Err(format!("unknown platform \"{other}\": use android or ios")),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
