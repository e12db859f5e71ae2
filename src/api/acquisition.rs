//! Device protocol types: update check query and response, status reports.
//!
//! Every request type accepts both spellings of each field (`deployment_key` and `deploymentKey`).
//! The response is [`UpdateInfo`]; the server renders it snake_case on the current paths and with
//! the legacy camelCase keys on `/updateCheck`.

use serde::{Deserialize, Serialize};

/// Current update-check path.
pub const UPDATE_CHECK_PATH: &str = "/v0.1/public/codepush/update_check";
/// Legacy (SDK 2.x) update-check path.
pub const LEGACY_UPDATE_CHECK_PATH: &str = "/updateCheck";
/// Current deploy-report path.
pub const REPORT_DEPLOY_PATH: &str = "/v0.1/public/codepush/report_status/deploy";
/// Current download-report path.
pub const REPORT_DOWNLOAD_PATH: &str = "/v0.1/public/codepush/report_status/download";
/// Legacy deploy-report path.
pub const LEGACY_REPORT_DEPLOY_PATH: &str = "/reportStatus/deploy";
/// Legacy download-report path.
pub const LEGACY_REPORT_DOWNLOAD_PATH: &str = "/reportStatus/download";

/// Query of an update check (either spelling of each parameter).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateCheckQuery {
    #[serde(alias = "deploymentKey")]
    pub deployment_key: Option<String>,
    #[serde(alias = "appVersion")]
    pub app_version: Option<String>,
    #[serde(alias = "packageHash", skip_serializing_if = "Option::is_none")]
    pub package_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(alias = "clientUniqueId", skip_serializing_if = "Option::is_none")]
    pub client_unique_id: Option<String>,
    #[serde(alias = "isCompanion", skip_serializing_if = "Option::is_none")]
    pub is_companion: Option<String>,
    /// otadeck extension: the native build number of the binary.
    #[serde(alias = "buildNumber", skip_serializing_if = "Option::is_none")]
    pub build_number: Option<String>,
}

/// The update-check answer; every key is always present on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateInfo {
    #[serde(alias = "downloadURL")]
    pub download_url: String,
    pub description: String,
    #[serde(alias = "isAvailable")]
    pub is_available: bool,
    #[serde(alias = "isMandatory")]
    pub is_mandatory: bool,
    #[serde(alias = "appVersion")]
    pub app_version: String,
    #[serde(alias = "packageHash")]
    pub package_hash: String,
    pub label: String,
    #[serde(alias = "packageSize")]
    pub package_size: u64,
    #[serde(alias = "updateAppVersion")]
    pub update_app_version: bool,
    #[serde(alias = "shouldRunBinaryVersion")]
    pub should_run_binary_version: bool,
    pub target_binary_range: String,
}

/// `{"update_info": …}` on the current path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateCheckResponse {
    #[serde(alias = "updateInfo")]
    pub update_info: UpdateInfo,
}

/// `{"updateInfo": …}` with camelCase keys, for SDK 2.x devices on `/updateCheck`.
#[derive(Debug, Serialize)]
pub struct LegacyUpdateCheckResponse<'a> {
    #[serde(rename = "updateInfo")]
    pub update_info: LegacyUpdateInfo<'a>,
}

/// The camelCase rendering of [`UpdateInfo`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyUpdateInfo<'a> {
    #[serde(rename = "downloadURL")]
    pub download_url: &'a str,
    pub description: &'a str,
    pub is_available: bool,
    pub is_mandatory: bool,
    pub app_version: &'a str,
    pub package_hash: &'a str,
    pub label: &'a str,
    pub package_size: u64,
    pub update_app_version: bool,
    pub should_run_binary_version: bool,
    #[serde(rename = "target_binary_range")]
    pub target_binary_range: &'a str,
}

impl<'a> From<&'a UpdateInfo> for LegacyUpdateInfo<'a> {
    fn from(info: &'a UpdateInfo) -> Self {
        Self {
            download_url: &info.download_url,
            description: &info.description,
            is_available: info.is_available,
            is_mandatory: info.is_mandatory,
            app_version: &info.app_version,
            package_hash: &info.package_hash,
            label: &info.label,
            package_size: info.package_size,
            update_app_version: info.update_app_version,
            should_run_binary_version: info.should_run_binary_version,
            target_binary_range: &info.target_binary_range,
        }
    }
}

/// Status values of a deploy report.
pub mod status {
    pub const DEPLOYMENT_SUCCEEDED: &str = "DeploymentSucceeded";
    pub const DEPLOYMENT_FAILED: &str = "DeploymentFailed";
    pub const DOWNLOADED: &str = "Downloaded";
}

/// Body of a deploy report (either spelling of each field).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeployReport {
    #[serde(alias = "deploymentKey")]
    pub deployment_key: Option<String>,
    #[serde(alias = "appVersion")]
    pub app_version: Option<String>,
    #[serde(alias = "clientUniqueId", skip_serializing_if = "Option::is_none")]
    pub client_unique_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(alias = "previousLabelOrAppVersion", skip_serializing_if = "Option::is_none")]
    pub previous_label_or_app_version: Option<String>,
    #[serde(alias = "previousDeploymentKey", skip_serializing_if = "Option::is_none")]
    pub previous_deployment_key: Option<String>,
}

/// Body of a download report (either spelling of each field).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DownloadReport {
    #[serde(alias = "deploymentKey")]
    pub deployment_key: Option<String>,
    pub label: Option<String>,
    #[serde(alias = "clientUniqueId", skip_serializing_if = "Option::is_none")]
    pub client_unique_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rendering_uses_camel_case_but_snake_target_range() {
        let info =
            UpdateInfo { download_url: "u".into(), target_binary_range: "1.0.0".into(), ..UpdateInfo::default() };
        let json = serde_json::to_value(LegacyUpdateCheckResponse { update_info: (&info).into() }).expect("json");
        let keys: Vec<&String> = json["updateInfo"].as_object().expect("object").keys().collect();
        for key in ["downloadURL", "isAvailable", "shouldRunBinaryVersion", "target_binary_range", "packageSize"] {
            assert!(keys.iter().any(|k| *k == key), "{key} missing from {keys:?}");
        }
        let current = serde_json::to_value(UpdateCheckResponse { update_info: info }).expect("json");
        assert_eq!(current["update_info"].as_object().expect("object").len(), 11);
        assert_eq!(current["update_info"]["download_url"], "u");
    }

    #[test]
    fn reports_accept_both_spellings() {
        let camel: DeployReport = serde_json::from_str(r#"{"deploymentKey":"k","appVersion":"1.0"}"#).expect("camel");
        let snake: DeployReport = serde_json::from_str(r#"{"deployment_key":"k","app_version":"1.0"}"#).expect("snake");
        assert_eq!(camel.deployment_key, snake.deployment_key);
        assert_eq!(camel.app_version.as_deref(), Some("1.0"));
    }
}
