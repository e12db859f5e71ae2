//! Typed client of the CodePush v2 management API, one method per route.

use std::path::{Path, PathBuf};

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};

use super::transport::Limit;
use super::{ClientError, ClientResult, Http, Transport, segment};
use crate::api::management::{
    ACCEPT_V2, AccessKey, AccessKeyEnvelope, AccessKeyPatch, AccessKeysEnvelope, Account, AccountEnvelope, App,
    AppEnvelope, AppsEnvelope, AuditEntry, AuditEnvelope, AuditQuery, BinariesEnvelope, Binary, BinaryEnvelope,
    CollaboratorProperties, CollaboratorRole, CollaboratorsEnvelope, Deployment, DeploymentEnvelope,
    DeploymentsEnvelope, EventsEnvelope, HistoryEnvelope, MetricSample, Metrics, MetricsEnvelope, NewAccessKey, NewApp,
    NewBinary, NewDeployment, Package, PackageEnvelope, PackageInfo, PackageInfoEnvelope, PolicyEnvelope,
    REASON_HEADER, ReleaseEvent, ReleaseModel, Rename, RolloutPolicy, SeriesEnvelope,
};
use crate::api::mendix::{
    CheckCount, CheckCountsEnvelope, ImportRequest, MendixChannel, MendixChannelEnvelope, MendixChannelsEnvelope,
    Observation, ObservationsEnvelope,
};
use crate::domain::model_diff::ModelSnapshot;

/// A signed-in management client.
#[derive(Debug, Clone)]
pub struct ManagementClient {
    http: Http,
    base: String,
    /// `X-Otadeck-Reason` for every request, percent-encoded.
    reason: Option<HeaderValue>,
}

/// What the reason header percent-encodes besides non-ASCII: controls and `%` itself.
const REASON_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// What to upload as a release: a file (zip or single bundle), its `packageInfo`, and for Mendix
/// projects the model snapshot it was built from.
#[derive(Debug, Clone)]
pub struct PackageUpload {
    pub file: PathBuf,
    pub info: PackageInfo,
    pub mendix_model: Option<ModelSnapshot>,
}

impl ManagementClient {
    /// A client for `base_url` using `access_key`, with [`Transport::from_env`].
    ///
    /// # Errors
    /// [`ClientError::Decode`] if the key cannot be sent as a header; transport setup errors.
    pub fn new(base_url: &str, access_key: &str) -> ClientResult<Self> {
        Self::with_transport(base_url, access_key, &Transport::from_env())
    }

    /// A client for `base_url` using `access_key` over `transport`.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if the key cannot be sent as a header; [`ClientError::CaCert`] for a
    /// bad CA file.
    pub fn with_transport(base_url: &str, access_key: &str, transport: &Transport) -> ClientResult<Self> {
        let mut headers = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {access_key}"))
            .map_err(|_| ClientError::Decode("the access key contains characters not allowed in a header".into()))?;
        headers.insert(AUTHORIZATION, bearer);
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_V2));
        let http = Http::new(transport, headers)?;
        Ok(Self { http, base: base_url.trim_end_matches('/').to_owned(), reason: None })
    }

    /// This client, sending `reason` with every change (the audit trail records it; protected
    /// deployments require it). Blank: none.
    #[must_use]
    pub fn with_reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.map(str::trim).filter(|r| !r.is_empty()).and_then(|reason| {
            HeaderValue::from_str(&percent_encoding::utf8_percent_encode(reason, REASON_ENCODE).to_string()).ok()
        });
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.client.request(method, self.url(path));
        match &self.reason {
            Some(reason) => request.header(REASON_HEADER, reason.clone()),
            None => request,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn app_path(app: &str) -> String {
        format!("/apps/{}", segment(app))
    }

    fn deployment_path(app: &str, deployment: &str) -> String {
        format!("/apps/{}/deployments/{}", segment(app), segment(deployment))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.http.json(self.request(reqwest::Method::GET, path)).await
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl serde::Serialize,
    ) -> ClientResult<T> {
        self.http.json(self.request(method, path).json(body)).await
    }

    async fn send_empty(&self, method: reqwest::Method, path: &str) -> ClientResult<()> {
        self.http.send(self.request(method, path), Limit::Request).await?;
        Ok(())
    }

    /// `GET /authenticated`.
    ///
    /// # Errors
    /// [`ClientError`] (401 for a bad key).
    pub async fn authenticated(&self) -> ClientResult<()> {
        self.send_empty(reqwest::Method::GET, "/authenticated").await
    }

    /// `GET /account`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn account(&self) -> ClientResult<Account> {
        Ok(self.get::<AccountEnvelope>("/account").await?.account)
    }

    /// `GET /accessKeys`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn access_keys(&self) -> ClientResult<Vec<AccessKey>> {
        Ok(self.get::<AccessKeysEnvelope>("/accessKeys").await?.access_keys)
    }

    /// `POST /accessKeys`; the answer's `name` is the secret.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_access_key(&self, friendly_name: &str, ttl_ms: Option<f64>) -> ClientResult<AccessKey> {
        let body =
            NewAccessKey { friendly_name: Some(friendly_name.to_owned()), ttl: ttl_ms, ..NewAccessKey::default() };
        Ok(self.send_json::<AccessKeyEnvelope>(reqwest::Method::POST, "/accessKeys", &body).await?.access_key)
    }

    /// `POST /accessKeys` with scopes (otadeck extension); the answer's `name` is the secret.
    ///
    /// # Errors
    /// [`ClientError`] (403 when the scopes exceed the calling key's).
    pub async fn create_scoped_access_key(
        &self,
        friendly_name: &str,
        ttl_ms: Option<f64>,
        scopes: Vec<String>,
    ) -> ClientResult<AccessKey> {
        let body = NewAccessKey {
            friendly_name: Some(friendly_name.to_owned()),
            ttl: ttl_ms,
            scopes: Some(scopes),
            ..NewAccessKey::default()
        };
        Ok(self.send_json::<AccessKeyEnvelope>(reqwest::Method::POST, "/accessKeys", &body).await?.access_key)
    }

    /// `GET /accessKeys/{name}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn access_key(&self, name: &str) -> ClientResult<AccessKey> {
        Ok(self.get::<AccessKeyEnvelope>(&format!("/accessKeys/{}", segment(name))).await?.access_key)
    }

    /// `PATCH /accessKeys/{name}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn patch_access_key(&self, name: &str, patch: &AccessKeyPatch) -> ClientResult<AccessKey> {
        let path = format!("/accessKeys/{}", segment(name));
        Ok(self.send_json::<AccessKeyEnvelope>(reqwest::Method::PATCH, &path, patch).await?.access_key)
    }

    /// `DELETE /accessKeys/{name}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_access_key(&self, name: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::DELETE, &format!("/accessKeys/{}", segment(name))).await
    }

    /// `DELETE /sessions/{createdBy}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_sessions(&self, created_by: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::DELETE, &format!("/sessions/{}", segment(created_by))).await
    }

    /// `GET /apps`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn apps(&self) -> ClientResult<Vec<App>> {
        Ok(self.get::<AppsEnvelope>("/apps").await?.apps)
    }

    /// `POST /apps` (with `Production` and `Staging`).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_app(&self, name: &str) -> ClientResult<App> {
        let body = NewApp { name: Some(name.to_owned()), manually_provision_deployments: None };
        Ok(self.send_json::<AppEnvelope>(reqwest::Method::POST, "/apps", &body).await?.app)
    }

    /// `GET /apps/{app}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn app(&self, app: &str) -> ClientResult<App> {
        Ok(self.get::<AppEnvelope>(&Self::app_path(app)).await?.app)
    }

    /// `PATCH /apps/{app}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn rename_app(&self, app: &str, new_name: &str) -> ClientResult<App> {
        let body = Rename { name: Some(new_name.to_owned()), is_protected: None };
        Ok(self.send_json::<AppEnvelope>(reqwest::Method::PATCH, &Self::app_path(app), &body).await?.app)
    }

    /// `DELETE /apps/{app}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_app(&self, app: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::DELETE, &Self::app_path(app)).await
    }

    /// `POST /apps/{app}/transfer/{email}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn transfer_app(&self, app: &str, email: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::POST, &format!("{}/transfer/{}", Self::app_path(app), segment(email))).await
    }

    /// `GET /apps/{app}/binaries` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn binaries(&self, app: &str) -> ClientResult<Vec<Binary>> {
        Ok(self.get::<BinariesEnvelope>(&format!("{}/binaries", Self::app_path(app))).await?.binaries)
    }

    /// `POST /apps/{app}/binaries` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn register_binary(&self, app: &str, binary: &NewBinary) -> ClientResult<Binary> {
        let path = format!("{}/binaries", Self::app_path(app));
        Ok(self.send_json::<BinaryEnvelope>(reqwest::Method::POST, &path, binary).await?.binary)
    }

    /// `GET /apps/{app}/collaborators`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn collaborators(
        &self,
        app: &str,
    ) -> ClientResult<std::collections::BTreeMap<String, CollaboratorProperties>> {
        let path = format!("{}/collaborators", Self::app_path(app));
        Ok(self.get::<CollaboratorsEnvelope>(&path).await?.collaborators)
    }

    /// `POST /apps/{app}/collaborators/{email}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn add_collaborator(&self, app: &str, email: &str) -> ClientResult<()> {
        let path = format!("{}/collaborators/{}", Self::app_path(app), segment(email));
        self.send_empty(reqwest::Method::POST, &path).await
    }

    /// `POST /apps/{app}/collaborators/{email}` with a role (otadeck extension): scope names or a
    /// preset (`ci`, `product-owner`, `support`) capping the collaborator's keys on this app.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn add_collaborator_with_role(&self, app: &str, email: &str, role: Vec<String>) -> ClientResult<()> {
        let path = format!("{}/collaborators/{}", Self::app_path(app), segment(email));
        let body = CollaboratorRole { role: Some(role) };
        self.http.send(self.request(reqwest::Method::POST, &path).json(&body), Limit::Request).await?;
        Ok(())
    }

    /// `PATCH /apps/{app}/collaborators/{email}` (otadeck extension): a new role, `None` for none.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn set_collaborator_role(&self, app: &str, email: &str, role: Option<Vec<String>>) -> ClientResult<()> {
        let path = format!("{}/collaborators/{}", Self::app_path(app), segment(email));
        let body = CollaboratorRole { role };
        self.http.send(self.request(reqwest::Method::PATCH, &path).json(&body), Limit::Request).await?;
        Ok(())
    }

    /// `PUT /mendix/channels` (otadeck extension): binds a deployment of an app pair to a host in
    /// front of a Mendix runtime.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn set_mendix_channel(&self, channel: &MendixChannel) -> ClientResult<MendixChannel> {
        let body = MendixChannelEnvelope { channel: channel.clone() };
        Ok(self.send_json::<MendixChannelEnvelope>(reqwest::Method::PUT, "/mendix/channels", &body).await?.channel)
    }

    /// `GET /mendix/channels` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn mendix_channels(&self) -> ClientResult<Vec<MendixChannel>> {
        Ok(self.get::<MendixChannelsEnvelope>("/mendix/channels").await?.channels)
    }

    /// `GET /mendix/channels/{host}/observations` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn mendix_observations(&self, host: &str) -> ClientResult<Vec<Observation>> {
        let path = format!("/mendix/channels/{}/observations", segment(host));
        Ok(self.get::<ObservationsEnvelope>(&path).await?.observations)
    }

    /// `GET /mendix/channels/{host}/checks` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn mendix_checks(&self, host: &str) -> ClientResult<Vec<CheckCount>> {
        let path = format!("/mendix/channels/{}/checks", segment(host));
        Ok(self.get::<CheckCountsEnvelope>(&path).await?.checks)
    }

    /// `POST /mendix/channels/{host}/import` (otadeck extension): stores the bundle the runtime
    /// serves now as a release of the platform's app.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn import_mendix_bundle(&self, host: &str, platform: &str) -> ClientResult<Package> {
        let path = format!("/mendix/channels/{}/import", segment(host));
        let body = ImportRequest { platform: Some(platform.to_owned()), native_binary_version: None };
        // The server downloads the whole bundle first: a transfer, not a quick call.
        let response = self.http.send(self.request(reqwest::Method::POST, &path).json(&body), Limit::Transfer).await?;
        let bytes = self.http.bytes(response, Limit::Transfer).await?;
        let answer: PackageEnvelope = serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(answer.package)
    }

    /// `GET /audit` (otadeck extension), newest first.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn audit(&self, query: &AuditQuery) -> ClientResult<Vec<AuditEntry>> {
        let request = self.request(reqwest::Method::GET, "/audit").query(query);
        Ok(self.http.json::<AuditEnvelope>(request).await?.entries)
    }

    /// `PATCH /apps/{app}/deployments/{deployment}` with `isProtected` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`] (428 when unprotecting a protected deployment without a reason).
    pub async fn set_deployment_protected(
        &self,
        app: &str,
        deployment: &str,
        is_protected: bool,
    ) -> ClientResult<Deployment> {
        let body = Rename { name: None, is_protected: Some(is_protected) };
        let path = Self::deployment_path(app, deployment);
        Ok(self.send_json::<DeploymentEnvelope>(reqwest::Method::PATCH, &path, &body).await?.deployment)
    }

    /// `DELETE /apps/{app}/collaborators/{email}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn remove_collaborator(&self, app: &str, email: &str) -> ClientResult<()> {
        let path = format!("{}/collaborators/{}", Self::app_path(app), segment(email));
        self.send_empty(reqwest::Method::DELETE, &path).await
    }

    /// `GET /apps/{app}/deployments`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn deployments(&self, app: &str) -> ClientResult<Vec<Deployment>> {
        Ok(self.get::<DeploymentsEnvelope>(&format!("{}/deployments", Self::app_path(app))).await?.deployments)
    }

    /// `POST /apps/{app}/deployments`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn create_deployment(&self, app: &str, name: &str, key: Option<&str>) -> ClientResult<Deployment> {
        let body = NewDeployment { name: Some(name.to_owned()), key: key.map(str::to_owned) };
        let path = format!("{}/deployments", Self::app_path(app));
        Ok(self.send_json::<DeploymentEnvelope>(reqwest::Method::POST, &path, &body).await?.deployment)
    }

    /// `GET /apps/{app}/deployments/{deployment}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn deployment(&self, app: &str, deployment: &str) -> ClientResult<Deployment> {
        Ok(self.get::<DeploymentEnvelope>(&Self::deployment_path(app, deployment)).await?.deployment)
    }

    /// `PATCH /apps/{app}/deployments/{deployment}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn rename_deployment(&self, app: &str, deployment: &str, new_name: &str) -> ClientResult<Deployment> {
        let body = Rename { name: Some(new_name.to_owned()), is_protected: None };
        let path = Self::deployment_path(app, deployment);
        Ok(self.send_json::<DeploymentEnvelope>(reqwest::Method::PATCH, &path, &body).await?.deployment)
    }

    /// `DELETE /apps/{app}/deployments/{deployment}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_deployment(&self, app: &str, deployment: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::DELETE, &Self::deployment_path(app, deployment)).await
    }

    /// `POST …/release`: uploads a package file (streamed from disk).
    ///
    /// # Errors
    /// [`ClientError`] (409 for rule conflicts, 413 too large).
    pub async fn release(&self, app: &str, deployment: &str, upload: &PackageUpload) -> ClientResult<Package> {
        self.release_with_progress(app, deployment, upload, |_, _| {}).await
    }

    /// Like [`ManagementClient::release`], calling `progress(sent, total)` as the file streams out.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn release_with_progress(
        &self,
        app: &str,
        deployment: &str,
        upload: &PackageUpload,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> ClientResult<Package> {
        use futures_util::StreamExt as _;
        let path = format!("{}/release", Self::deployment_path(app, deployment));
        let file_error = |source| ClientError::File { path: upload.file.clone(), source };
        let file = tokio::fs::File::open(&upload.file).await.map_err(file_error)?;
        let length = file.metadata().await.map_err(file_error)?.len();
        let mut sent = 0_u64;
        let counted = tokio_util::io::ReaderStream::new(file).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                sent += bytes.len() as u64;
                progress(sent, length);
            }
            chunk
        });
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(counted), length)
            .file_name(file_name(&upload.file));
        let info = serde_json::to_string(&upload.info).map_err(|e| ClientError::Decode(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new().part("package", part).text("packageInfo", info);
        if let Some(model) = &upload.mendix_model {
            form =
                form.text("mendixModel", serde_json::to_string(model).map_err(|e| ClientError::Decode(e.to_string()))?);
        }
        // No total timeout: a large upload on a slow link may take long; a stalled one hits the idle limit.
        let response =
            self.http.send(self.request(reqwest::Method::POST, &path).multipart(form), Limit::Transfer).await?;
        let bytes = self.http.bytes(response, Limit::Transfer).await?;
        let envelope: PackageEnvelope =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(envelope.package)
    }

    /// `PATCH …/release`; `None` when the server changed nothing (204).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn patch_release(&self, app: &str, deployment: &str, info: PackageInfo) -> ClientResult<Option<Package>> {
        let path = format!("{}/release", Self::deployment_path(app, deployment));
        let body = PackageInfoEnvelope { package_info: info };
        let response = self.http.send(self.request(reqwest::Method::PATCH, &path).json(&body), Limit::Request).await?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = self.http.bytes(response, Limit::Request).await?;
        let envelope: PackageEnvelope =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(Some(envelope.package))
    }

    /// `POST …/promote/{destination}`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn promote(
        &self,
        app: &str,
        source: &str,
        destination: &str,
        info: PackageInfo,
    ) -> ClientResult<Package> {
        let path = format!("{}/promote/{}", Self::deployment_path(app, source), segment(destination));
        let body = PackageInfoEnvelope { package_info: info };
        Ok(self.send_json::<PackageEnvelope>(reqwest::Method::POST, &path, &body).await?.package)
    }

    /// `POST …/rollback[/{label}]`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn rollback(&self, app: &str, deployment: &str, label: Option<&str>) -> ClientResult<Package> {
        let base = format!("{}/rollback", Self::deployment_path(app, deployment));
        let path = label.map_or(base.clone(), |l| format!("{base}/{}", segment(l)));
        Ok(self.http.json::<PackageEnvelope>(self.request(reqwest::Method::POST, &path)).await?.package)
    }

    /// `GET …/history` (oldest first).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn history(&self, app: &str, deployment: &str) -> ClientResult<Vec<Package>> {
        let path = format!("{}/history", Self::deployment_path(app, deployment));
        Ok(self.get::<HistoryEnvelope>(&path).await?.history)
    }

    /// `DELETE …/history`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn clear_history(&self, app: &str, deployment: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::DELETE, &format!("{}/history", Self::deployment_path(app, deployment))).await
    }

    /// `PUT …/policy` (otadeck extension): rollout schedule and health gate.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn set_policy(&self, app: &str, deployment: &str, policy: &RolloutPolicy) -> ClientResult<RolloutPolicy> {
        let path = format!("{}/policy", Self::deployment_path(app, deployment));
        let body = PolicyEnvelope { policy: policy.clone() };
        Ok(self.send_json::<PolicyEnvelope>(reqwest::Method::PUT, &path, &body).await?.policy)
    }

    /// `DELETE …/policy` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete_policy(&self, app: &str, deployment: &str) -> ClientResult<()> {
        self.send_empty(reqwest::Method::DELETE, &format!("{}/policy", Self::deployment_path(app, deployment))).await
    }

    /// `GET …/policy` (otadeck extension).
    ///
    /// # Errors
    /// [`ClientError`] (404 without a policy).
    pub async fn policy(&self, app: &str, deployment: &str) -> ClientResult<RolloutPolicy> {
        Ok(self.get::<PolicyEnvelope>(&format!("{}/policy", Self::deployment_path(app, deployment))).await?.policy)
    }

    /// `GET …/events` (otadeck extension): schedule, health-gate and manual actions.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn events(&self, app: &str, deployment: &str) -> ClientResult<Vec<ReleaseEvent>> {
        Ok(self.get::<EventsEnvelope>(&format!("{}/events", Self::deployment_path(app, deployment))).await?.events)
    }

    /// `GET …/metrics/{label}/series` (otadeck extension): a label's install events over time.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn metric_series(&self, app: &str, deployment: &str, label: &str) -> ClientResult<Vec<MetricSample>> {
        let path = format!("{}/metrics/{}/series", Self::deployment_path(app, deployment), segment(label));
        Ok(self.get::<SeriesEnvelope>(&path).await?.series)
    }

    /// `GET …/metrics`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn metrics(&self, app: &str, deployment: &str) -> ClientResult<Metrics> {
        let path = format!("{}/metrics", Self::deployment_path(app, deployment));
        Ok(self.get::<MetricsEnvelope>(&path).await?.metrics)
    }

    /// `GET …/mendix-model` (otadeck extension): the Mendix model of the deployment's current
    /// release; `None` when it has no release or the release has no model (404).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn current_release_model(&self, app: &str, deployment: &str) -> ClientResult<Option<ReleaseModel>> {
        let path = format!("{}/mendix-model", Self::deployment_path(app, deployment));
        match self.get::<ReleaseModel>(&path).await {
            Ok(model) => Ok(Some(model)),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| "package".to_owned(), |n| n.to_string_lossy().into_owned())
}
