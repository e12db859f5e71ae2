//! The server the window talks to: its name, URL, management client and transport (TLS trust and
//! timeouts, shared with the simulated devices the app starts).

use std::path::Path;

use crate::client::{ClientError, ManagementClient, Transport};

/// A server connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    pub url: String,
    pub client: ManagementClient,
    pub transport: Transport,
    /// The server this app started itself (demo data and simulated devices are offered only there).
    pub embedded: bool,
}

impl Connection {
    /// A connection to `url` with `access_key` (extra CA from `OTADECK_CA_CERT`, if set).
    ///
    /// # Errors
    /// When the key cannot be used as a header.
    pub fn new(name: &str, url: &str, access_key: &str) -> Result<Self, ClientError> {
        Self::with_ca(name, url, access_key, None)
    }

    /// A connection that also trusts the CA certificates in `ca_cert` (a profile's private CA).
    ///
    /// # Errors
    /// When the key cannot be used as a header or the CA file cannot be used.
    pub fn with_ca(name: &str, url: &str, access_key: &str, ca_cert: Option<&Path>) -> Result<Self, ClientError> {
        let transport = Transport::from_env().with_extra_ca(ca_cert.map(Path::to_path_buf));
        Self::with_transport(name, url, access_key, transport)
    }

    /// A connection over an explicit transport (TLS trust and timeouts).
    ///
    /// # Errors
    /// When the key cannot be used as a header or the CA file cannot be used.
    pub fn with_transport(name: &str, url: &str, access_key: &str, transport: Transport) -> Result<Self, ClientError> {
        let client = ManagementClient::with_transport(url, access_key, &transport)?;
        Ok(Self { name: name.to_owned(), url: url.to_owned(), client, transport, embedded: false })
    }

    /// Marks this as the server the app started itself.
    #[must_use]
    pub fn embedded(mut self) -> Self {
        self.embedded = true;
        self
    }

    /// The connection of a saved profile.
    ///
    /// # Errors
    /// When the key or the profile's CA file cannot be used.
    pub fn for_profile(profile: &super::settings::Profile, access_key: &str) -> Result<Self, ClientError> {
        Self::with_ca(&profile.name, &profile.url, access_key, profile.ca_cert.as_deref())
    }
}
