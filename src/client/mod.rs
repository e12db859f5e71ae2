//! HTTP clients of the release server: [`ManagementClient`] for the v2 management API and
//! [`DeviceClient`] for the device protocol. No egui and no server imports.

mod device;
mod management;
pub mod virtual_device;

pub use device::DeviceClient;
pub use management::{ManagementClient, PackageUpload};
pub use virtual_device::{Behavior, DeviceProfile, LaunchLog, VirtualDevice};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the server answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    #[error("cannot read {path}: {source}")]
    File { path: std::path::PathBuf, source: std::io::Error },
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

/// Turns a non-success response into [`ClientError::Api`] with the server's text.
async fn check(response: reqwest::Response) -> ClientResult<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let message = response.text().await.unwrap_or_default();
    Err(ClientError::Api { status: status.as_u16(), message })
}

async fn json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> ClientResult<T> {
    let bytes = check(response).await?.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Percent-encodes one path segment.
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
