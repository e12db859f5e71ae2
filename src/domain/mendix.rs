//! Mendix runtime OTA rules (reference: `mendix-runtime-ota.md`): the deployment ID compiled into a
//! bundle, which release a device is told to run, and the compatibility verdicts of the
//! `get_ota_info` answer. No I/O.

use std::collections::BTreeMap;

use super::rollout;

/// The first bytes of a Hermes bytecode bundle.
pub const HERMES_MAGIC: [u8; 8] = [0xc6, 0x1f, 0xbc, 0x03, 0xc1, 0x03, 0x19, 0x1f];

/// The bundle file at the root of a runtime-OTA zip, per platform (hard-coded on the device).
#[must_use]
pub fn bundle_file(platform: &str) -> Option<&'static str> {
    match platform {
        "android" => Some("index.android.bundle"),
        "ios" => Some("index.ios.bundle"),
        _ => None,
    }
}

/// Why the compiled deployment ID of a bundle cannot be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleIdError {
    #[error(
        "the bundle is Hermes bytecode, whose deployment ID otadeck cannot read: give it as \"mendixDeploymentId\" in packageInfo (it is checked against the bundle's strings)"
    )]
    Hermes,
    #[error("the bundle contains no deploymentID:\"…\" (is it a Mendix native bundle built by MxBuild?)")]
    Missing,
    #[error("the bundle contains more than one deployment ID ({0})")]
    Ambiguous(String),
    #[error("the Hermes bundle does not contain the given deployment ID \"{0}\"")]
    NotInBundle(String),
    #[error("\"{0}\" is not a deployment ID: expected 1 to 40 digits, letters, '-' or '_'")]
    Invalid(String),
}

/// Whether `text` can be a deployment ID (it becomes a directory name on the device).
#[must_use]
pub fn is_valid_id(text: &str) -> bool {
    (1..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The deployment ID compiled into a bundle: the string in `deploymentID:"…"` of a JS bundle. A
/// Hermes bundle needs the ID given (`claimed`), which must appear among its strings.
///
/// # Errors
/// [`BundleIdError`] when the ID is missing, ambiguous, invalid, or (Hermes) not given or absent.
pub fn compiled_deployment_id(bundle: &[u8], claimed: Option<&str>) -> Result<String, BundleIdError> {
    if bundle.starts_with(&HERMES_MAGIC) {
        let claimed = claimed.ok_or(BundleIdError::Hermes)?;
        if !is_valid_id(claimed) {
            return Err(BundleIdError::Invalid(claimed.to_owned()));
        }
        let found = bundle.windows(claimed.len()).any(|w| w == claimed.as_bytes());
        return if found { Ok(claimed.to_owned()) } else { Err(BundleIdError::NotInBundle(claimed.to_owned())) };
    }
    let mut ids: Vec<String> = Vec::new();
    for key in [&b"deploymentID:\""[..], b"deploymentID: \"", b"\"deploymentID\":\""] {
        let mut rest = bundle;
        while let Some(at) = find(rest, key) {
            let value = &rest[at + key.len()..];
            let end = value.iter().position(|b| *b == b'"').unwrap_or(value.len());
            let id = String::from_utf8_lossy(&value[..end]).into_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
            rest = &value[end.min(value.len())..];
        }
    }
    match ids.as_slice() {
        [] => Err(BundleIdError::Missing),
        [id] if is_valid_id(id) => match claimed {
            Some(claimed) if claimed != id => {
                Err(BundleIdError::Ambiguous(format!("{id} in the bundle, {claimed} given")))
            }
            _ => Ok(id.clone()),
        },
        [id] => Err(BundleIdError::Invalid(id.clone())),
        many => Err(BundleIdError::Ambiguous(many.join(", "))),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What a release needs from the binary (recorded at upload; empty: nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeNeeds {
    /// The lowest `nativeBinaryVersion` the bundle runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_native_binary_version: Option<u32>,
    /// Native modules the bundle needs, with their exact versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub native_dependencies: BTreeMap<String, String>,
}

/// What a device reports in `get_ota_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceNative {
    pub native_binary_version: Option<u32>,
    pub native_dependencies: BTreeMap<String, String>,
}

impl NativeNeeds {
    /// The two verdicts of the answer: (dependencies satisfied, binary version satisfied).
    #[must_use]
    pub fn verdicts(&self, device: &DeviceNative) -> (bool, bool) {
        let dependencies = self
            .native_dependencies
            .iter()
            .all(|(name, version)| device.native_dependencies.get(name) == Some(version));
        let binary = match self.min_native_binary_version {
            None => true,
            Some(needed) => device.native_binary_version.is_some_and(|v| v >= needed),
        };
        (dependencies, binary)
    }
}

/// A release of a Mendix channel, as selection sees it (oldest first in a history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MendixRelease {
    pub label: String,
    /// `None`: 100 %.
    pub rollout: Option<u8>,
    pub is_disabled: bool,
    /// Halted: devices that run it keep it; no other device gets it.
    pub is_paused: bool,
    pub needs: NativeNeeds,
}

/// The device asking.
#[derive(Debug, Clone, Default)]
pub struct MendixDevice<'a> {
    /// The gateway's cookie, if the device sent it back (`None`: outside every partial rollout).
    pub cookie: Option<&'a str>,
    /// The label the gateway last told this device to run, if known.
    pub current_label: Option<&'a str>,
    pub native: DeviceNative,
}

/// Which release a device is told to run: the newest one that is enabled, not halted (unless the
/// device already runs it), includes the device in its rollout, and that the device's binary
/// satisfies. When none is compatible, the newest otherwise eligible one is returned with its
/// failing verdicts, so the device logs why it skips. `None`: no release to advertise.
#[must_use]
pub fn choose<'r>(history: &'r [MendixRelease], device: &MendixDevice<'_>) -> Option<&'r MendixRelease> {
    let eligible = |release: &&MendixRelease| {
        let runs_it = device.current_label == Some(release.label.as_str());
        if release.is_disabled || (release.is_paused && !runs_it) {
            return false;
        }
        match release.rollout.filter(|r| rollout::is_unfinished(Some(*r))) {
            None => true,
            Some(_) if runs_it => true,
            Some(percent) => device.cookie.is_some_and(|c| rollout::is_selected(Some(c), &release.label, percent)),
        }
    };
    let compatible = |release: &&MendixRelease| {
        let (dependencies, binary) = release.needs.verdicts(&device.native);
        dependencies && binary
    };
    history.iter().rev().filter(eligible).find(compatible).or_else(|| history.iter().rev().find(eligible))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(label: &str, rollout: Option<u8>) -> MendixRelease {
        MendixRelease {
            label: label.into(),
            rollout,
            is_disabled: false,
            is_paused: false,
            needs: NativeNeeds::default(),
        }
    }

    #[test]
    fn the_compiled_id_comes_from_the_app_config_literal() {
        let bundle =
            br#"var a=1;__d(function(){e.default={deploymentID:"638405879271646879",checkForOTAUpdates:!1}});"#;
        assert_eq!(compiled_deployment_id(bundle, None), Ok("638405879271646879".into()));
        assert_eq!(compiled_deployment_id(b"no id here", None), Err(BundleIdError::Missing));
        let two = br#"deploymentID:"1" deploymentID:"2""#;
        assert!(matches!(compiled_deployment_id(two, None), Err(BundleIdError::Ambiguous(_))));
        let claimed_other = compiled_deployment_id(bundle, Some("1"));
        assert!(matches!(claimed_other, Err(BundleIdError::Ambiguous(_))), "a given ID must match");
        assert!(matches!(compiled_deployment_id(br#"deploymentID:"../x""#, None), Err(BundleIdError::Invalid(_))));
    }

    #[test]
    fn hermes_bundles_need_the_id_given_and_contain_it() {
        let mut bundle = HERMES_MAGIC.to_vec();
        bundle.extend_from_slice(b"\0\0strings:638405879271646879\0");
        assert_eq!(compiled_deployment_id(&bundle, None), Err(BundleIdError::Hermes));
        assert_eq!(compiled_deployment_id(&bundle, Some("638405879271646879")), Ok("638405879271646879".into()));
        assert!(matches!(compiled_deployment_id(&bundle, Some("999")), Err(BundleIdError::NotInBundle(_))));
    }

    #[test]
    fn devices_without_the_cookie_stay_on_the_newest_complete_release() {
        let history = [release("v1", None), release("v2", Some(50))];
        let anonymous = MendixDevice::default();
        assert_eq!(choose(&history, &anonymous).map(|r| r.label.as_str()), Some("v1"));
        let inside = (0..100).map(|n| format!("device-{n}")).find(|c| rollout::is_selected(Some(c), "v2", 50));
        let inside = inside.expect("some device is inside 50 %");
        let device = MendixDevice { cookie: Some(&inside), ..MendixDevice::default() };
        assert_eq!(choose(&history, &device).map(|r| r.label.as_str()), Some("v2"));
    }

    #[test]
    fn a_halted_release_keeps_its_devices_and_gets_no_new_ones() {
        let mut history = [release("v1", None), release("v2", None)];
        history[1].is_paused = true;
        let on_v2 = MendixDevice { cookie: Some("a"), current_label: Some("v2"), ..MendixDevice::default() };
        let on_v1 = MendixDevice { cookie: Some("b"), current_label: Some("v1"), ..MendixDevice::default() };
        assert_eq!(choose(&history, &on_v2).map(|r| r.label.as_str()), Some("v2"));
        assert_eq!(choose(&history, &on_v1).map(|r| r.label.as_str()), Some("v1"));
    }

    #[test]
    fn an_old_binary_gets_the_newest_release_it_can_run() {
        let mut history = [release("v1", None), release("v2", None)];
        history[1].needs.min_native_binary_version = Some(40);
        let old = MendixDevice {
            native: DeviceNative { native_binary_version: Some(32), ..DeviceNative::default() },
            ..MendixDevice::default()
        };
        assert_eq!(choose(&history, &old).map(|r| r.label.as_str()), Some("v1"));
        let only_new = &history[1..];
        let chosen = choose(only_new, &old).expect("still answered");
        assert_eq!(chosen.needs.verdicts(&old.native), (true, false), "with the verdict that makes it skip");
    }
}
