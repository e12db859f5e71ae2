//! HTTP clients of the release server: [`ManagementClient`] for the v2 management API and
//! [`DeviceClient`] for the device protocol, both built on one [`Transport`] (TLS, proxies,
//! timeouts). No egui and no server imports.

mod device;
mod management;
pub mod mendix_device;
pub mod transport;
pub mod virtual_device;

pub use device::DeviceClient;
pub use management::{ManagementClient, PackageUpload};
pub use transport::{NetworkError, Transport};
pub use virtual_device::{Behavior, DeviceProfile, LaunchLog, VirtualDevice};

use transport::Limit;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the connection failed, TLS was refused, or the server was too slow.
    #[error("cannot reach the server: {0}")]
    Network(NetworkError),
    #[error("the server answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    #[error("cannot read {path}: {source}")]
    File { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot use the CA certificate file {path}: {reason}")]
    CaCert { path: std::path::PathBuf, reason: String },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl ClientError {
    /// The HTTP status for API errors.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Result of client calls.
pub type ClientResult<T> = Result<T, ClientError>;

/// A `reqwest` client with the [`Transport`] it was built from, so every failure is named with the
/// limit that was in force.
#[derive(Debug, Clone)]
struct Http {
    client: reqwest::Client,
    transport: Transport,
}

impl Http {
    fn new(transport: &Transport, headers: reqwest::header::HeaderMap) -> ClientResult<Self> {
        Ok(Self { client: transport.build(headers)?, transport: transport.clone() })
    }

    fn network(&self, error: &reqwest::Error, limit: Limit) -> ClientError {
        ClientError::Network(self.transport.classify(error, limit))
    }

    /// Sends a request under `limit`; non-success answers become [`ClientError::Api`].
    async fn send(&self, request: reqwest::RequestBuilder, limit: Limit) -> ClientResult<reqwest::Response> {
        let response = self.transport.limit(request, limit).send().await.map_err(|e| self.network(&e, limit))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = response.text().await.unwrap_or_default();
        Err(ClientError::Api { status: status.as_u16(), message })
    }

    /// Reads a whole answer body.
    async fn bytes(&self, response: reqwest::Response, limit: Limit) -> ClientResult<bytes::Bytes> {
        response.bytes().await.map_err(|e| self.network(&e, limit))
    }

    /// Sends an API call and decodes its JSON answer.
    async fn json<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> ClientResult<T> {
        let response = self.send(request, Limit::Request).await?;
        let bytes = self.bytes(response, Limit::Request).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// Percent-encodes one path segment.
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
