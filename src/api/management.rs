//! CodePush v2 management API types (protocol notes §4.2–4.3), camelCase on the wire.
//!
//! Responses wrap objects in a singular or plural key (`{"app": …}`, `{"apps": […]}`); the
//! `*Envelope` types below are those wrappers. Error bodies are plain text, not JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::model_diff::ModelSnapshot;

/// `Accept` header value sent by v2 clients.
pub const ACCEPT_V2: &str = "application/vnd.code-push.v2+json";

/// Shown instead of an access key's secret in listings.
pub const HIDDEN_KEY: &str = "(hidden)";

/// The signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub linked_providers: Vec<String>,
}

/// An access key. `name` is the secret right after creation and [`HIDDEN_KEY`] afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub name: String,
    pub friendly_name: String,
    #[serde(default)]
    pub description: String,
    pub created_by: String,
    pub created_time: i64,
    pub expires: i64,
    #[serde(default)]
    pub is_session: bool,
    /// otadeck extension: the key's scopes (`None`: full access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Body of `POST /accessKeys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccessKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// Legacy spelling of `friendlyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Lifetime in milliseconds (default 60 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_session: Option<bool>,
    /// otadeck extension: scopes of the new key (`read`, `release`, `release:<Deployment>`,
    /// `rollout`, `pause`, `rollback`, `admin`); absent: the creating key's own access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Body of `PATCH /accessKeys/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<f64>,
}

/// A collaborator's permission on an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    Owner,
    Collaborator,
}

/// One collaborator entry of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollaboratorProperties {
    pub is_current_account: bool,
    pub permission: Permission,
    /// otadeck extension: the scopes a collaborator's keys are capped to on this app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Vec<String>>,
}

/// An app and who may work on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub name: String,
    pub collaborators: BTreeMap<String, CollaboratorProperties>,
    #[serde(default)]
    pub deployments: Vec<String>,
}

/// Body of `POST /apps` (legacy clients also send `os`/`platform`, which are ignored).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApp {
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manually_provision_deployments: Option<bool>,
}

/// Body of `PATCH /apps/{app}` and `PATCH …/deployments/{dep}`: a rename, and (deployments only,
/// otadeck extension) protection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rename {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_protected: Option<bool>,
}

/// Body of `POST`/`PATCH /apps/{app}/collaborators/{email}` (otadeck extension): the role that
/// caps the collaborator's keys on this app, as scopes or a preset name (`ci`, `product-owner`,
/// `support`). No role: no cap.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollaboratorRole {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Vec<String>>,
}

/// A deployment: its device key and latest release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub name: String,
    pub key: String,
    pub package: Option<Package>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    /// otadeck extension: changes to a protected deployment need a reason.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_protected: bool,
    /// otadeck extension: the host of the Mendix channel this deployment serves, if any (its
    /// devices update through Mendix runtime OTA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_host: Option<String>,
}

/// Body of `POST …/deployments`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewDeployment {
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// How a release came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReleaseMethod {
    Upload,
    Promote,
    Rollback,
}

/// A release ("package" on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub label: String,
    pub app_version: String,
    pub description: String,
    pub is_mandatory: bool,
    pub is_disabled: bool,
    /// otadeck extension: halted (by a person or the health gate): no new device gets it, devices
    /// that have it keep it. Resuming continues the rollout and its schedule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_paused: bool,
    /// 1–99 while partial; `null` in history once complete (100 in release/patch/promote answers).
    pub rollout: Option<u8>,
    pub package_hash: String,
    pub blob_url: String,
    pub size: u64,
    pub release_method: ReleaseMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_deployment: Option<String>,
    pub released_by: String,
    pub upload_time: i64,
    /// otadeck extension: native build numbers this release is limited to (`42` or `40-45`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<String>,
    /// otadeck extension: when the rollout last changed (ms), for the rollout schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_changed_time: Option<i64>,
    /// otadeck extension, in deployment history: the diff packages devices on earlier packages
    /// download instead of the whole package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff_packages: Vec<DiffPackage>,
}

/// One diff package of a release (otadeck extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffPackage {
    /// The package a device must run for this diff to apply.
    pub from_package_hash: String,
    /// What that package is: a label of the deployment (`v3`), a store build (`binary 1.4.0`), or
    /// empty when no longer known.
    pub from: String,
    pub size: u64,
}

/// `packageInfo` of a release upload, patch or promote. `null` means "not provided".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mandatory: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_disabled: Option<bool>,
    /// otadeck extension: pause (`true`) or resume (`false`) a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_paused: Option<bool>,
    /// Kept as raw JSON so that `50.5` or `"50"` get a precise message instead of a parse error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<String>,
    /// otadeck extension, Mendix channels: the deployment ID compiled into a Hermes bundle (read
    /// from the bundle itself for JS bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_deployment_id: Option<String>,
    /// otadeck extension, Mendix channels: what the bundle needs from the binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_native_needs: Option<crate::domain::mendix::NativeNeeds>,
}

/// Body of `PATCH …/release` and `POST …/promote/{dst}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageInfoEnvelope {
    #[serde(default)]
    pub package_info: PackageInfo,
}

/// Install counters of one label (all four) or one binary version (`active` only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricCounts {
    pub active: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<i64>,
    /// otadeck extension: reports that failed the server's plausibility checks (no download receipt),
    /// counted apart and never fed to the health gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unverified: Option<i64>,
    /// otadeck extension, Mendix channels: devices that downloaded the release more than ten
    /// minutes ago and have not checked since (a possible crash at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfirmed: Option<i64>,
}

/// Metrics of a deployment keyed by label (`v3`) or binary version (`1.0.0`).
pub type Metrics = BTreeMap<String, MetricCounts>;

macro_rules! envelope {
    ($name:ident, $field:ident, $ty:ty) => {
        #[doc = concat!("`{\"", stringify!($field), "\": …}`")]
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            pub $field: $ty,
        }
    };
}

envelope!(AccountEnvelope, account, Account);
envelope!(AccessKeyEnvelope, access_key, AccessKey);
envelope!(AccessKeysEnvelope, access_keys, Vec<AccessKey>);
envelope!(AppEnvelope, app, App);
envelope!(AppsEnvelope, apps, Vec<App>);
envelope!(DeploymentEnvelope, deployment, Deployment);
envelope!(DeploymentsEnvelope, deployments, Vec<Deployment>);
envelope!(PackageEnvelope, package, Package);
envelope!(HistoryEnvelope, history, Vec<Package>);
envelope!(MetricsEnvelope, metrics, Metrics);
envelope!(CollaboratorsEnvelope, collaborators, BTreeMap<String, CollaboratorProperties>);
envelope!(AuthenticatedEnvelope, authenticated, bool);

/// A registered store build and the native fingerprint it was built from (otadeck extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binary {
    /// `android` or `ios`.
    pub platform: String,
    /// The binary's version (`1.4.0`).
    pub app_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
    /// The native fingerprint, as computed by `otadeck binary register`.
    pub fingerprint: serde_json::Value,
    /// otadeck extension, Mendix projects: the model snapshot the build was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_model: Option<ModelSnapshot>,
    /// otadeck extension: the package hash of the JS bundle and assets shipped in the binary, when
    /// its manifest was registered (devices that name it get diff packages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_hash: Option<String>,
    pub registered_by: String,
    pub created_time: i64,
}

/// Body of `POST /apps/{app}/binaries`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBinary {
    pub platform: Option<String>,
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
    pub fingerprint: Option<serde_json::Value>,
    /// otadeck extension, Mendix projects: the model snapshot the build was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mendix_model: Option<ModelSnapshot>,
    /// otadeck extension: the manifest of the bundle shipped in the binary, as `path:sha256` lines
    /// (what its package hash is computed from), so releases get diff packages from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_manifest: Option<Vec<String>>,
}

/// Answer of `GET …/deployments/{d}/mendix-model` (otadeck extension): the model the current
/// release was built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseModel {
    pub label: String,
    pub mendix_model: ModelSnapshot,
}

envelope!(BinaryEnvelope, binary, Binary);
envelope!(BinariesEnvelope, binaries, Vec<Binary>);

/// A deployment's rollout policy (otadeck extension): schedule steps and health gate.
pub use crate::domain::policy::RolloutPolicy;

/// An automatic or manual rollout action, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseEvent {
    pub label: String,
    pub time: i64,
    /// Who or what did it: an account email, `schedule` or `health gate`.
    pub actor: String,
    /// `advanced`, `halted`.
    pub kind: String,
    pub detail: String,
}

/// One management mutation in the audit trail (otadeck extension, `GET /audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub time: i64,
    /// The account's email.
    pub account: String,
    /// The friendly name of the access key used (never the secret).
    pub key_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// What was done, e.g. `release.patch`, `deployment.delete`, `accessKey.create`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What was changed, in words: `MyApp/Production v3`.
    pub target: String,
    /// The changed fields before (`null` for a creation).
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    /// The changed fields after (`null` for a deletion).
    #[serde(default)]
    pub after: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Query of `GET /audit`: every field narrows the answer; newest entries first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// An account's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Entries at or after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Entries before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// At most this many entries (default and maximum 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The header that carries the reason for a management change (percent-encoded UTF-8).
pub const REASON_HEADER: &str = "x-otadeck-reason";

envelope!(AuditEnvelope, entries, Vec<AuditEntry>);
envelope!(PolicyEnvelope, policy, RolloutPolicy);
envelope!(EventsEnvelope, events, Vec<ReleaseEvent>);

/// Install events of one label in one time bucket (otadeck extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSample {
    /// Start of the bucket, ms since the epoch.
    pub time: i64,
    /// Bucket length: 60000 (a minute) or 3600000 (an hour, for data older than a day).
    pub bucket_ms: i64,
    pub downloaded: i64,
    pub installed: i64,
    pub failed: i64,
}

envelope!(SeriesEnvelope, series, Vec<MetricSample>);
