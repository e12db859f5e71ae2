//! Preflight: is this release safe to ship over the air?
//!
//! The project's native fingerprint is compared with the baseline of every registered store build
//! the release would reach (same platform, version inside the target range, build number inside the
//! build constraint). Any native difference blocks the push unless it is forced with a written
//! reason. Mendix projects also need an explicit confirmation of the offline-first checklist, because
//! the build output read here does not carry the offline domain model.

use super::Platform;
use super::fingerprint::{NativeChange, NativeFingerprint, compare};
use crate::api::management::Binary;
use crate::domain::{BuildRange, DeviceVersion, TargetRange};

/// The Mendix offline-first checklist shown when confirmation is required.
pub const MENDIX_OFFLINE_CHECKLIST: &[&str] = &[
    "no offline-synced entity or attribute was renamed or removed",
    "no new association between offline-synced entities",
    "no attribute type of an offline-synced entity changed",
    "devices may hold unsynced data from the previous release: it must still sync",
];

/// Differences found against one store build.
#[derive(Debug, Clone)]
pub struct BinaryComparison {
    pub app_version: String,
    pub build_number: Option<u64>,
    pub changes: Vec<NativeChange>,
}

/// The outcome of a preflight for one platform.
#[derive(Debug, Clone)]
pub struct PreflightReport {
    pub platform: Platform,
    pub comparisons: Vec<BinaryComparison>,
    /// Set when a Mendix project has not confirmed the offline-first checklist.
    pub offline_checklist_unconfirmed: bool,
}

impl PreflightReport {
    /// Whether the push must stop (unless forced).
    #[must_use]
    pub fn blocks(&self) -> bool {
        self.offline_checklist_unconfirmed || self.comparisons.iter().any(|c| !c.changes.is_empty())
    }

    /// Whether no registered store build was in reach, so nothing could be compared.
    #[must_use]
    pub fn compared_nothing(&self) -> bool {
        self.comparisons.is_empty()
    }

    /// One line per finding, e.g. `android 1.4.0 (build 42): native module added: x 1.0`.
    #[must_use]
    pub fn findings(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for comparison in &self.comparisons {
            let build = comparison.build_number.map(|b| format!(" (build {b})")).unwrap_or_default();
            for change in &comparison.changes {
                lines.push(format!("{} {}{build}: {change}", self.platform, comparison.app_version));
            }
        }
        if self.offline_checklist_unconfirmed {
            lines.push(format!(
                "{}: Mendix offline-first checklist not confirmed ({}); pass --confirm-offline-checklist once checked",
                self.platform,
                MENDIX_OFFLINE_CHECKLIST.join("; ")
            ));
        }
        lines
    }
}

/// Compares `current` with every registered binary of `platform` that the release would reach.
#[must_use]
pub fn check(
    platform: Platform,
    current: &NativeFingerprint,
    target: &TargetRange,
    build: Option<BuildRange>,
    binaries: &[Binary],
    needs_offline_confirmation: bool,
) -> PreflightReport {
    let comparisons = binaries
        .iter()
        .filter(|b| b.platform == platform.as_str())
        .filter(|b| DeviceVersion::parse(&b.app_version).is_ok_and(|v| target.is_satisfied_by(v.version())))
        .filter(|b| build.is_none_or(|range| b.build_number.is_some_and(|n| range.contains(n))))
        .map(|b| {
            let baseline: NativeFingerprint = serde_json::from_value(b.fingerprint.clone()).unwrap_or_default();
            BinaryComparison {
                app_version: b.app_version.clone(),
                build_number: b.build_number,
                changes: compare(&baseline, current),
            }
        })
        .collect();
    PreflightReport { platform, comparisons, offline_checklist_unconfirmed: needs_offline_confirmation }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(platform: &str, version: &str, build: Option<u64>, print: &NativeFingerprint) -> Binary {
        Binary {
            platform: platform.into(),
            app_version: version.into(),
            build_number: build,
            fingerprint: serde_json::to_value(print).expect("json"),
            registered_by: "dev@example.com".into(),
            created_time: 0,
        }
    }

    #[test]
    fn only_binaries_in_reach_are_compared() {
        let baseline = NativeFingerprint::default();
        let mut current = NativeFingerprint::default();
        current.native_modules.insert("react-native-camera".into(), "4.2.1".into());
        let binaries = vec![
            binary("android", "1.0.0", Some(10), &baseline),
            binary("android", "2.0.0", Some(20), &baseline),
            binary("ios", "1.0.0", Some(10), &baseline),
        ];
        let target = TargetRange::parse("^1.0.0").expect("range");
        let report = check(Platform::Android, &current, &target, None, &binaries, false);
        assert_eq!(report.comparisons.len(), 1);
        assert!(report.blocks());
        assert_eq!(report.findings(), ["android 1.0.0 (build 10): native module added: react-native-camera 4.2.1"]);

        let other_builds =
            check(Platform::Android, &current, &target, Some(BuildRange { min: 11, max: 12 }), &binaries, false);
        assert!(other_builds.compared_nothing() && !other_builds.blocks());
        let same = check(Platform::Android, &baseline, &target, None, &binaries, false);
        assert!(!same.blocks());
    }

    #[test]
    fn mendix_needs_the_offline_checklist() {
        let print = NativeFingerprint::default();
        let target = TargetRange::parse("*").expect("range");
        let report = check(Platform::Ios, &print, &target, None, &[], true);
        assert!(report.blocks());
        assert!(report.findings()[0].contains("offline-first checklist"));
    }
}
