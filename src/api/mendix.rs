//! Mendix runtime OTA on the wire: the `get_ota_info` exchange the Mendix client speaks (reference
//! §1.3–1.4; field names and types are the client's, do not change them) and otadeck's management
//! extension for Mendix channels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `action` of the OTA check.
pub const GET_OTA_INFO: &str = "get_ota_info";

/// Body of `POST <runtime>/xas/` (only the fields otadeck reads; other actions pass through).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct XasRequest {
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub params: Option<OtaInfoParams>,
}

/// `params` of `get_ota_info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtaInfoParams {
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub native_dependencies: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub native_binary_version: Option<serde_json::Value>,
}

/// The answer to `get_ota_info`. `deployment_id` is a string (a number never equals the
/// client's string); `bundle_path` is relative to the runtime URL, without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtaInfoResponse {
    pub ota_enabled: bool,
    #[serde(rename = "deploymentID", default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_path: Option<String>,
    #[serde(default)]
    pub satisfies_native_dependencies: bool,
    #[serde(default)]
    pub satisfies_native_binary_version: bool,
}

/// How the gateway treats a channel's OTA checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelMode {
    /// otadeck answers the check from its releases.
    #[default]
    Serve,
    /// The check goes to the runtime; otadeck records what it serves.
    Observe,
}

/// A Mendix channel: one deployment name of an app pair behind one host name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MendixChannel {
    pub host: String,
    /// The real Mendix runtime, e.g. `https://runtime.internal:8080/`.
    pub upstream: String,
    pub android_app: String,
    pub ios_app: String,
    pub deployment: String,
    #[serde(default)]
    pub mode: ChannelMode,
}

/// What the runtime answered to OTA checks through a channel in observe mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub platform: String,
    pub native_binary_version: String,
    #[serde(rename = "deploymentID")]
    pub deployment_id: String,
    pub bundle_path: String,
    pub count: i64,
    pub last_seen: i64,
}

/// `{"observations": […]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservationsEnvelope {
    pub observations: Vec<Observation>,
}

/// Body of `POST /mendix/channels/{host}/import`: which platform's bundle to import from the
/// runtime, and the binary to ask as (the runtime's verdicts depend on it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_binary_version: Option<u32>,
}

/// OTA checks of one platform and binary version, with or without the gateway's cookie (devices
/// whose checks keep arriving without it do not keep cookies: they stay outside partial
/// rollouts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckCount {
    pub platform: String,
    pub native_binary_version: String,
    pub with_cookie: bool,
    pub count: i64,
}

/// `{"checks": […]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckCountsEnvelope {
    pub checks: Vec<CheckCount>,
}

/// `{"channel": …}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MendixChannelEnvelope {
    pub channel: MendixChannel,
}

/// `{"channels": […]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MendixChannelsEnvelope {
    pub channels: Vec<MendixChannel>,
}
