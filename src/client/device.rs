//! Device-protocol client: what react-native-code-push does on a phone, for the simulator and tests.

use super::transport::Limit;
use super::{ClientResult, Http, Transport};
use crate::api::acquisition::{
    DeployReport, DownloadReport, REPORT_DEPLOY_PATH, REPORT_DOWNLOAD_PATH, UPDATE_CHECK_PATH, UpdateCheckQuery,
    UpdateCheckResponse, UpdateInfo,
};

/// A device talking to one server.
#[derive(Debug, Clone)]
pub struct DeviceClient {
    http: Http,
    base: String,
    /// Sent as `X-Forwarded-For`, as a proxy in front of the server would (simulated networks).
    forwarded_for: Option<reqwest::header::HeaderValue>,
}

impl DeviceClient {
    /// A client for `base_url` with [`Transport::from_env`].
    ///
    /// # Errors
    /// Transport setup errors.
    pub fn new(base_url: &str) -> ClientResult<Self> {
        Self::with_transport(base_url, &Transport::from_env())
    }

    /// A client for `base_url` over `transport`.
    ///
    /// # Errors
    /// Transport setup errors ([`super::ClientError::CaCert`] for a bad CA file).
    pub fn with_transport(base_url: &str, transport: &Transport) -> ClientResult<Self> {
        let http = Http::new(transport, reqwest::header::HeaderMap::new())?;
        Ok(Self { http, base: base_url.trim_end_matches('/').to_owned(), forwarded_for: None })
    }

    /// The same client as seen from `address` behind a proxy that writes `X-Forwarded-For` (fleet
    /// simulations from many networks; the server must be set to trust its proxy).
    #[must_use]
    pub fn behind(&self, address: Option<&str>) -> Self {
        let forwarded_for = address.and_then(|a| reqwest::header::HeaderValue::from_str(a).ok());
        Self { forwarded_for, ..self.clone() }
    }

    /// Sends the headers react-native-code-push 9.0.1 sends with every request.
    fn with_sdk_headers(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = match &self.forwarded_for {
            Some(address) => request.header("X-Forwarded-For", address.clone()),
            None => request,
        };
        request
            .header("X-CodePush-Plugin-Name", "react-native-code-push")
            .header("X-CodePush-Plugin-Version", "9.0.1")
            .header("X-CodePush-SDK-Version", "4.2.3")
    }

    /// `GET /v0.1/public/codepush/update_check`.
    ///
    /// # Errors
    /// [`super::ClientError`].
    pub async fn check_for_update(&self, query: &UpdateCheckQuery) -> ClientResult<UpdateInfo> {
        let request = self.http.client.get(format!("{}{UPDATE_CHECK_PATH}", self.base)).query(query);
        Ok(self.http.json::<UpdateCheckResponse>(self.with_sdk_headers(request)).await?.update_info)
    }

    /// Downloads a package from an absolute URL and returns its bytes (idle timeout, no total one).
    ///
    /// # Errors
    /// [`super::ClientError`].
    pub async fn download(&self, url: &str) -> ClientResult<Vec<u8>> {
        let request = self.with_sdk_headers(self.http.client.get(url).header("Accept-Encoding", "identity"));
        let response = self.http.send(request, Limit::Transfer).await?;
        Ok(self.http.bytes(response, Limit::Transfer).await?.to_vec())
    }

    /// `POST …/report_status/deploy`.
    ///
    /// # Errors
    /// [`super::ClientError`].
    pub async fn report_deploy(&self, report: &DeployReport) -> ClientResult<()> {
        let request = self.http.client.post(format!("{}{REPORT_DEPLOY_PATH}", self.base)).json(report);
        self.http.send(self.with_sdk_headers(request), Limit::Request).await?;
        Ok(())
    }

    /// `POST …/report_status/download`.
    ///
    /// # Errors
    /// [`super::ClientError`].
    pub async fn report_download(&self, report: &DownloadReport) -> ClientResult<()> {
        let request = self.http.client.post(format!("{}{REPORT_DOWNLOAD_PATH}", self.base)).json(report);
        self.http.send(self.with_sdk_headers(request), Limit::Request).await?;
        Ok(())
    }
}
