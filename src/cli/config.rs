//! Where the CLI finds its server, access key and extra CA: flags, then environment
//! (`OTADECK_SERVER`, `OTADECK_ACCESS_KEY`, `OTADECK_CA_CERT`), then `config.toml` in the platform
//! config dir (or `$OTADECK_CONFIG`).

use std::path::PathBuf;

use serde::Deserialize;

use super::{CliError, ConnectionArgs};
use crate::client::{ManagementClient, Transport};

/// The CLI config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliConfig {
    pub server: Option<String>,
    pub access_key: Option<String>,
    /// PEM file of CA certificates to trust besides the system's.
    pub ca_cert: Option<PathBuf>,
}

impl CliConfig {
    /// The config file path: `$OTADECK_CONFIG`, else `<config dir>/otadeck/config.toml`.
    #[must_use]
    pub fn path() -> Option<PathBuf> {
        std::env::var_os("OTADECK_CONFIG").map(PathBuf::from).or_else(|| {
            directories::ProjectDirs::from("dev", "otadeck", "otadeck").map(|d| d.config_dir().join("config.toml"))
        })
    }

    /// Reads the config file if there is one.
    ///
    /// # Errors
    /// [`CliError::Usage`] for an unreadable or invalid file.
    pub fn load() -> Result<Self, CliError> {
        let Some(path) = Self::path().filter(|p| p.exists()) else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| CliError::Usage(format!("{} is not valid: {e}", path.display())))
    }
}

/// A resolved server connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub server: String,
    pub client: ManagementClient,
}

impl Connection {
    /// Resolves flags/env first, then the config file.
    ///
    /// # Errors
    /// [`CliError::Usage`] when the server or key is missing.
    pub fn resolve(args: &ConnectionArgs) -> Result<Self, CliError> {
        let file = CliConfig::load()?;
        let server = args.server.clone().or(file.server).ok_or_else(|| {
            CliError::Usage(
                "no server: pass --server URL, set OTADECK_SERVER, or add `server = \"…\"` to the config file".into(),
            )
        })?;
        let key = args.access_key.clone().or(file.access_key).ok_or_else(|| {
            CliError::Usage("no access key: pass --access-key, set OTADECK_ACCESS_KEY, or add `access_key = \"…\"` to the config file".into())
        })?;
        let transport = Transport::from_env().with_extra_ca(args.ca_cert.clone().or(file.ca_cert));
        let client = ManagementClient::with_transport(&server, &key, &transport)?.with_reason(args.reason.as_deref());
        Ok(Self { server, client })
    }
}
