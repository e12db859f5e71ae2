//! Preflight: is this release safe to ship over the air?
//!
//! The project's native fingerprint is compared with the baseline of every registered store build
//! the release would reach (same platform, version inside the target range, build number inside the
//! build constraint). Any native difference blocks the push unless it is forced with a written
//! reason. For Mendix projects the project's model is also compared, by id, with the model snapshot
//! of each of those store builds and of the deployment's current release
//! ([`crate::domain::model_diff`]): changes that would lose offline data block, other model changes
//! warn. Only when there is no snapshot to compare with does a Mendix push need an explicit
//! confirmation of the offline-first checklist.

use super::Platform;
use super::fingerprint::{NativeChange, NativeFingerprint, compare};
use crate::api::management::Binary;
use crate::domain::model_diff::{self, ModelFinding, ModelSnapshot};
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
    /// Mendix model differences; `None` when either side has no model.
    pub model: Option<Vec<ModelFinding>>,
}

impl BinaryComparison {
    fn name(&self, platform: Platform) -> String {
        let build = self.build_number.map(|b| format!(" (build {b})")).unwrap_or_default();
        format!("{platform} {}{build}", self.app_version)
    }
}

/// What a Mendix push brings to preflight.
#[derive(Debug, Clone, Copy, Default)]
pub struct MendixInputs<'a> {
    /// The project's model; `None` when it could not be read.
    pub model: Option<&'a ModelSnapshot>,
    /// Label and model of the target deployment's current release.
    pub current_release: Option<(&'a str, &'a ModelSnapshot)>,
    /// `--confirm-offline-checklist`.
    pub checklist_confirmed: bool,
}

/// The outcome of a preflight for one platform.
#[derive(Debug, Clone)]
pub struct PreflightReport {
    pub platform: Platform,
    pub comparisons: Vec<BinaryComparison>,
    /// Mendix: the current release's label and the model differences with it.
    pub release_model: Option<(String, Vec<ModelFinding>)>,
    /// Set when a Mendix push had no model snapshot to compare with and the offline-first
    /// checklist was not confirmed.
    pub offline_checklist_unconfirmed: bool,
}

impl PreflightReport {
    /// Whether the push must stop (unless forced).
    #[must_use]
    pub fn blocks(&self) -> bool {
        !self.findings().is_empty()
    }

    /// Model findings, each with the name of the baseline it was found against.
    fn model_lines(&self, blocking: bool) -> Vec<String> {
        let binaries =
            self.comparisons.iter().flat_map(|c| c.model.iter().flatten().map(move |f| (c.name(self.platform), f)));
        let release = self.release_model.iter().flat_map(|(label, findings)| {
            findings.iter().map(move |f| (format!("{} release {label}", self.platform), f))
        });
        binaries
            .chain(release)
            .filter(|(_, f)| f.blocking == blocking)
            .map(|(baseline, f)| format!("{baseline}: {}", f.message))
            .collect()
    }

    /// Model changes that do not block, one line each.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        self.model_lines(false)
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
            for change in &comparison.changes {
                lines.push(format!("{}: {change}", comparison.name(self.platform)));
            }
        }
        lines.extend(self.model_lines(true));
        if self.offline_checklist_unconfirmed {
            lines.push(format!(
                "{}: no Mendix model snapshot to compare with, and the offline-first checklist is not confirmed ({}); pass --confirm-offline-checklist once checked",
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
    mendix: Option<MendixInputs<'_>>,
) -> PreflightReport {
    let model = mendix.and_then(|m| m.model);
    let comparisons: Vec<BinaryComparison> = binaries
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
                model: match (&b.mendix_model, model) {
                    (Some(old), Some(new)) => Some(model_diff::compare(old, new)),
                    _ => None,
                },
            }
        })
        .collect();
    let release_model = mendix
        .and_then(|m| m.current_release.zip(m.model))
        .map(|((label, old), new)| (label.to_owned(), model_diff::compare(old, new)));
    let compared_a_model = release_model.is_some() || comparisons.iter().any(|c| c.model.is_some());
    let offline_checklist_unconfirmed = mendix.is_some_and(|m| !m.checklist_confirmed && !compared_a_model);
    PreflightReport { platform, comparisons, release_model, offline_checklist_unconfirmed }
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
            mendix_model: None,
            bundle_hash: None,
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
        let report = check(Platform::Android, &current, &target, None, &binaries, None);
        assert_eq!(report.comparisons.len(), 1);
        assert!(report.blocks());
        assert_eq!(report.findings(), ["android 1.0.0 (build 10): native module added: react-native-camera 4.2.1"]);

        let other_builds =
            check(Platform::Android, &current, &target, Some(BuildRange { min: 11, max: 12 }), &binaries, None);
        assert!(other_builds.compared_nothing() && !other_builds.blocks());
        let same = check(Platform::Android, &baseline, &target, None, &binaries, None);
        assert!(!same.blocks());
    }

    #[test]
    fn mendix_needs_the_offline_checklist() {
        let print = NativeFingerprint::default();
        let target = TargetRange::parse("*").expect("range");
        let unconfirmed = MendixInputs::default();
        let report = check(Platform::Ios, &print, &target, None, &[], Some(unconfirmed));
        assert!(report.blocks());
        assert!(report.findings()[0].contains("offline-first checklist"));
        let confirmed = MendixInputs { checklist_confirmed: true, ..unconfirmed };
        assert!(!check(Platform::Ios, &print, &target, None, &[], Some(confirmed)).blocks());
    }

    #[test]
    fn a_mendix_model_snapshot_replaces_the_checklist_and_its_findings_name_the_baseline() {
        use crate::domain::model_diff::{EntitySnapshot, OfflineConfig, ProfileSnapshot};
        let print = NativeFingerprint::default();
        let target = TargetRange::parse("*").expect("range");
        let mut old = ModelSnapshot { product_version: "10.24.0".into(), ..ModelSnapshot::default() };
        old.entities.insert("e1".into(), EntitySnapshot { name: "Shop.Order".into(), ..EntitySnapshot::default() });
        let mut profile = ProfileSnapshot { name: "NativePhone".into(), ..ProfileSnapshot::default() };
        profile
            .offline
            .insert("Shop.Order".into(), OfflineConfig { sync_mode: "All".into(), constraint: String::new() });
        old.profiles.insert("p1".into(), profile);
        let mut new = old.clone();
        new.entities.get_mut("e1").expect("e1").name = "Shop.Purchase".into();
        let offline = &mut new.profiles.get_mut("p1").expect("p1").offline;
        let config = offline.remove("Shop.Order").expect("config");
        offline.insert("Shop.Purchase".into(), config);
        new.product_version = "10.24.1".into();
        let mut store_build = binary("ios", "1.0.0", Some(3), &print);
        store_build.mendix_model = Some(old.clone());
        let inputs =
            MendixInputs { model: Some(&new), current_release: Some(("v7", &old)), checklist_confirmed: false };
        let report = check(Platform::Ios, &print, &target, None, &[store_build], Some(inputs));
        assert!(!report.offline_checklist_unconfirmed, "a snapshot was compared");
        assert_eq!(
            report.findings(),
            [
                "ios 1.0.0 (build 3): offline-synced entity Shop.Order renamed to Shop.Purchase",
                "ios release v7: offline-synced entity Shop.Order renamed to Shop.Purchase"
            ]
        );
        assert_eq!(report.warnings().len(), 2, "the Studio Pro version change, against each baseline");
        let same = MendixInputs { model: Some(&old), ..inputs };
        assert!(!check(Platform::Ios, &print, &target, None, &[], Some(same)).blocks());
    }
}
