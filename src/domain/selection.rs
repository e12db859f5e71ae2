//! Release selection for an update check (protocol notes §3.5–§3.7).
//!
//! Given a deployment's history (oldest first) and what a device runs, [`plan_update`] decides the
//! answer independent of the device's id, so it can be cached; [`UpdatePlan::for_client`] then applies
//! rollout bucketing per request. Devices outside a partial rollout get the answer computed as if the
//! unfinished-rollout release did not exist, i.e. the previous applicable release. A paused release
//! is skipped for every device except those that already run it: they keep it (no update), where a
//! disabled release moves them back to the previous one.

use nodejs_semver::Version;

use super::build_number::BuildRange;
use super::rollout;
use super::version::{DeviceVersion, TargetRange};

/// The facts of one release that selection needs.
#[derive(Debug, Clone)]
pub struct ReleaseRules {
    pub label: String,
    pub package_hash: String,
    pub target: TargetRange,
    pub build: Option<BuildRange>,
    pub is_mandatory: bool,
    pub is_disabled: bool,
    /// Halted: served to no new device, kept by devices that run it.
    pub is_paused: bool,
    pub rollout: Option<u8>,
}

impl ReleaseRules {
    fn applies_to(&self, version: &Version, build: Option<u64>, is_companion: bool) -> bool {
        (is_companion || self.target.is_satisfied_by(version)) && BuildRange::admits(self.build, build)
    }
}

/// What a device told us in its update check.
#[derive(Debug, Clone)]
pub struct UpdateQuery {
    pub app_version: DeviceVersion,
    pub label: Option<String>,
    pub package_hash: Option<String>,
    pub is_companion: bool,
    pub build_number: Option<u64>,
}

/// The answer to one update check before it is rendered to the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateDecision {
    /// Offer the release at this index of the history.
    Available { release: usize, is_mandatory: bool },
    /// No update. `target_range` is the range the reference echoes (`""` when `None`).
    NoUpdate { should_run_binary_version: bool, update_app_version: bool, target_range: Option<String> },
}

/// The device-id independent answer, ready to be cached: the normal answer and, if that answer is a
/// partial rollout, the answer for devices outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    pub decision: UpdateDecision,
    pub outside_rollout: Option<(u8, UpdateDecision)>,
}

impl UpdatePlan {
    /// The decision for one device, after rollout bucketing.
    #[must_use]
    pub fn for_client(&self, history: &[ReleaseRules], client_unique_id: Option<&str>) -> &UpdateDecision {
        self.decision(self.branch_for(history, client_unique_id))
    }

    /// Which of the two answers a device gets: inside the rollout (or no rollout), or outside it.
    #[must_use]
    pub fn branch_for(&self, history: &[ReleaseRules], client_unique_id: Option<&str>) -> Branch {
        match (&self.decision, &self.outside_rollout) {
            (UpdateDecision::Available { release, .. }, Some((percent, _))) => {
                let label = history.get(*release).map_or("", |r| r.label.as_str());
                if rollout::is_selected(client_unique_id, label, *percent) {
                    Branch::Main
                } else {
                    Branch::OutsideRollout
                }
            }
            _ => Branch::Main,
        }
    }

    /// The decision of a branch.
    #[must_use]
    pub fn decision(&self, branch: Branch) -> &UpdateDecision {
        match (&self.outside_rollout, branch) {
            (Some((_, outside)), Branch::OutsideRollout) => outside,
            _ => &self.decision,
        }
    }
}

/// The two answers a plan can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branch {
    /// The normal answer (the device is inside the rollout, or there is no partial rollout).
    Main,
    /// The answer for devices outside a partial rollout.
    OutsideRollout,
}

/// Plans the answer to an update check against `history` (oldest first).
#[must_use]
pub fn plan_update(history: &[ReleaseRules], query: &UpdateQuery) -> UpdatePlan {
    let decision = decide(history, query, false);
    let outside_rollout = match decision {
        UpdateDecision::Available { release, .. } => history
            .get(release)
            .and_then(|r| r.rollout)
            .filter(|&percent| rollout::is_unfinished(Some(percent)))
            .map(|percent| (percent, decide(history, query, true))),
        UpdateDecision::NoUpdate { .. } => None,
    };
    UpdatePlan { decision, outside_rollout }
}

fn decide(history: &[ReleaseRules], query: &UpdateQuery, skip_unfinished_rollouts: bool) -> UpdateDecision {
    let version = query.app_version.version();
    let mut found_current = false;
    let mut latest_enabled: Option<usize> = None;
    let mut latest_applicable: Option<usize> = None;
    let mut make_mandatory = false;
    let runs_it_already = |release: &ReleaseRules| match (&query.package_hash, &query.label) {
        (Some(hash), _) => *hash == release.package_hash,
        (None, Some(label)) => *label == release.label,
        (None, None) => false,
    };

    for (index, release) in history.iter().enumerate().rev() {
        // Only a label identifies what the device runs (the reference's "undefined" quirk means a
        // binary device never "finds" its package, so every applicable mandatory release counts).
        found_current |= query.label.as_deref() == Some(release.label.as_str());
        if release.is_paused && !release.is_disabled {
            // Nothing newer applies and the device runs the paused release: it keeps it.
            if latest_applicable.is_none()
                && runs_it_already(release)
                && release.applies_to(version, query.build_number, query.is_companion)
            {
                return UpdateDecision::NoUpdate {
                    should_run_binary_version: false,
                    update_app_version: false,
                    target_range: None,
                };
            }
            continue;
        }
        if release.is_disabled || (skip_unfinished_rollouts && rollout::is_unfinished(release.rollout)) {
            continue;
        }
        latest_enabled.get_or_insert(index);
        if !release.applies_to(version, query.build_number, query.is_companion) {
            continue;
        }
        latest_applicable.get_or_insert(index);
        if found_current {
            break;
        }
        if release.is_mandatory {
            make_mandatory = true;
            break;
        }
    }

    let no_update = |target_range: Option<String>, update_app_version: bool| UpdateDecision::NoUpdate {
        should_run_binary_version: latest_applicable.is_none(),
        update_app_version,
        target_range,
    };
    let Some(enabled) = latest_enabled.and_then(|i| history.get(i)) else {
        return no_update(None, false);
    };
    match latest_applicable.and_then(|i| history.get(i).map(|r| (i, r))) {
        Some((index, release)) if !runs_it_already(release) => {
            UpdateDecision::Available { release: index, is_mandatory: make_mandatory || release.is_mandatory }
        }
        _ if enabled.target.is_below(version) => no_update(Some(enabled.target.as_str().to_owned()), false),
        _ if !enabled.target.is_satisfied_by(version) => no_update(Some(enabled.target.as_str().to_owned()), true),
        _ => no_update(None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(label: &str, range: &str) -> ReleaseRules {
        ReleaseRules {
            label: label.to_owned(),
            package_hash: format!("hash-{label}"),
            target: TargetRange::parse(range).expect("valid range"),
            build: None,
            is_mandatory: false,
            is_disabled: false,
            is_paused: false,
            rollout: None,
        }
    }

    fn query(version: &str) -> UpdateQuery {
        UpdateQuery {
            app_version: DeviceVersion::parse(version).expect("valid version"),
            label: None,
            package_hash: None,
            is_companion: false,
            build_number: None,
        }
    }

    fn on(version: &str, label: &str) -> UpdateQuery {
        UpdateQuery { label: Some(label.to_owned()), package_hash: Some(format!("hash-{label}")), ..query(version) }
    }

    /// Resolves the decision for one client and names the offered label.
    fn answer(history: &[ReleaseRules], q: &UpdateQuery, client: Option<&str>) -> Answer {
        match plan_update(history, q).for_client(history, client).clone() {
            UpdateDecision::Available { release, is_mandatory } => {
                Answer::Update(history[release].label.clone(), is_mandatory)
            }
            UpdateDecision::NoUpdate { should_run_binary_version, update_app_version, target_range } => Answer::None {
                run_binary: should_run_binary_version,
                store_update: update_app_version,
                range: target_range,
            },
        }
    }

    #[derive(Debug, PartialEq)]
    enum Answer {
        Update(String, bool),
        None { run_binary: bool, store_update: bool, range: Option<String> },
    }

    fn update(label: &str, mandatory: bool) -> Answer {
        Answer::Update(label.to_owned(), mandatory)
    }

    /// The observed deployment of §3.5: v1 `^1.0.0`, v2 `1.0.0 - 1.2.x` mandatory at 50 %.
    fn observed_deployment() -> Vec<ReleaseRules> {
        let v1 = release("v1", "^1.0.0");
        let mut v2 = release("v2", "1.0.0 - 1.2.x");
        v2.is_mandatory = true;
        v2.rollout = Some(50);
        vec![v1, v2]
    }

    #[test]
    fn empty_history_means_run_the_binary() {
        let none = Answer::None { run_binary: true, store_update: false, range: None };
        assert_eq!(answer(&[], &query("1.0.0"), Some("aaa")), none);
    }

    #[test]
    fn device_inside_rollout_gets_the_partial_release() {
        assert_eq!(answer(&observed_deployment(), &query("1.0.0"), Some("aaa")), update("v2", true));
    }

    #[test]
    fn device_outside_rollout_gets_the_previous_release() {
        assert_eq!(answer(&observed_deployment(), &query("1.0.0"), Some("bbb")), update("v1", false));
    }

    #[test]
    fn device_outside_rollout_with_nothing_before_gets_no_update() {
        let mut only = release("v1", "^1.0.0");
        only.rollout = Some(1);
        let got = answer(&[only], &query("1.0.0"), Some("bbb"));
        assert_eq!(got, Answer::None { run_binary: true, store_update: false, range: None });
    }

    #[test]
    fn version_outside_newer_range_gets_older_release() {
        assert_eq!(answer(&observed_deployment(), &query("1.3.0"), Some("aaa")), update("v1", false));
    }

    #[test]
    fn binary_newer_than_every_release_runs_the_binary() {
        let mut history = observed_deployment();
        history[1].rollout = None;
        let got = answer(&history, &query("2.0.0"), Some("aaa"));
        let range = Some("1.0.0 - 1.2.x".to_owned());
        assert_eq!(got, Answer::None { run_binary: true, store_update: false, range });
    }

    #[test]
    fn binary_older_than_every_release_needs_a_store_update() {
        let mut history = observed_deployment();
        history[1].rollout = None;
        let got = answer(&history, &query("0.9.0"), Some("aaa"));
        let range = Some("1.0.0 - 1.2.x".to_owned());
        assert_eq!(got, Answer::None { run_binary: true, store_update: true, range });
    }

    #[test]
    fn short_versions_match_like_full_ones() {
        let mut history = observed_deployment();
        history[1].rollout = None;
        assert_eq!(answer(&history, &query("1.0"), Some("x")), update("v2", true));
        assert_eq!(answer(&history, &query("1"), Some("x")), update("v2", true));
    }

    #[test]
    fn mandatory_in_between_propagates_to_the_newest_release() {
        let mut history = observed_deployment();
        history[1].rollout = None;
        history.push(release("v3", "1.0.0 - 1.2.x"));
        assert_eq!(answer(&history, &on("1.0.0", "v1"), Some("x")), update("v3", true));
        assert_eq!(answer(&history, &on("1.0.0", "v2"), Some("x")), update("v3", false));
    }

    #[test]
    fn device_on_the_latest_release_gets_nothing_and_an_empty_range() {
        let mut history = observed_deployment();
        history[1].rollout = None;
        history.push(release("v3", "1.0.0 - 1.2.x"));
        let got = answer(&history, &on("1.0.0", "v3"), Some("x"));
        assert_eq!(got, Answer::None { run_binary: false, store_update: false, range: None });
    }

    #[test]
    fn exact_version_release() {
        let history = vec![release("v1", "1.2.3")];
        let newer = answer(&history, &query("1.2.4"), None);
        assert_eq!(newer, Answer::None { run_binary: true, store_update: false, range: Some("1.2.3".into()) });
        let older = answer(&history, &query("1.2.2"), None);
        assert_eq!(older, Answer::None { run_binary: true, store_update: true, range: Some("1.2.3".into()) });
        let companion = UpdateQuery { is_companion: true, ..query("1.2.4") };
        assert_eq!(answer(&history, &companion, None), update("v1", false));
    }

    #[test]
    fn disabled_latest_release_serves_the_previous_one() {
        let mut history = vec![release("v1", "*"), release("v2", "*")];
        history[1].is_disabled = true;
        assert_eq!(answer(&history, &query("1.0.0"), None), update("v1", false));
    }

    #[test]
    fn mandatory_propagation_skips_disabled_releases() {
        // §3.6: v1, v2 mandatory, v3 disabled, v4 optional, all 1.2.3.
        let mut history =
            vec![release("v1", "1.2.3"), release("v2", "1.2.3"), release("v3", "1.2.3"), release("v4", "1.2.3")];
        history[1].is_mandatory = true;
        history[2].is_disabled = true;
        assert_eq!(answer(&history, &query("1.2.3"), None), update("v4", true));
        assert_eq!(answer(&history, &on("1.2.3", "v2"), None), update("v4", false));
    }

    #[test]
    fn mandatory_release_for_another_binary_does_not_propagate() {
        let mut history = vec![release("v1", "1.0.0"), release("v2", "2.0.0"), release("v3", "1.0.0")];
        history[1].is_mandatory = true;
        assert_eq!(answer(&history, &on("1.0.0", "v1"), None), update("v3", false));
    }

    #[test]
    fn ios_binary_hash_does_not_count_as_running_a_release() {
        let history = vec![release("v1", "*")];
        let q = UpdateQuery { package_hash: Some("binary-hash".into()), ..query("1.0.0") };
        assert_eq!(answer(&history, &q, None), update("v1", false));
    }

    #[test]
    fn build_number_constraint_targets_only_matching_devices() {
        let mut history = vec![release("v1", "1.0.0"), release("v2", "1.0.0")];
        history[1].build = Some(BuildRange { min: 40, max: 45 });
        let with_build = |b| UpdateQuery { build_number: b, ..query("1.0.0") };
        assert_eq!(answer(&history, &with_build(Some(42)), None), update("v2", false));
        assert_eq!(answer(&history, &with_build(Some(46)), None), update("v1", false));
        assert_eq!(answer(&history, &with_build(None), None), update("v1", false));
    }

    #[test]
    fn rollout_uses_the_partial_releases_label_for_the_bucket() {
        let history = observed_deployment();
        let plan = plan_update(&history, &query("1.0.0"));
        assert_eq!(plan.outside_rollout.as_ref().map(|(p, _)| *p), Some(50));
        // "undefined-v2" is bucket 25: id-less devices are inside a 50 % rollout.
        assert_eq!(answer(&history, &query("1.0.0"), None), update("v2", true));
    }

    #[test]
    fn completed_rollout_has_no_outside_answer() {
        let mut history = observed_deployment();
        history[1].rollout = Some(100);
        assert!(plan_update(&history, &query("1.0.0")).outside_rollout.is_none());
        assert_eq!(answer(&history, &query("1.0.0"), Some("bbb")), update("v2", true));
    }

    #[test]
    fn a_paused_release_is_kept_by_devices_that_run_it_and_offered_to_no_one_else() {
        let up_to_date = Answer::None { run_binary: false, store_update: false, range: None };
        let mut history = vec![release("v1", "1.0.0"), release("v2", "1.0.0")];
        history[1].is_paused = true;
        assert_eq!(answer(&history, &on("1.0.0", "v2"), Some("d")), up_to_date, "its devices keep it");
        assert_eq!(answer(&history, &on("1.0.0", "v1"), Some("d")), up_to_date, "nobody moves onto it");
        assert_eq!(answer(&history, &query("1.0.0"), Some("d")), update("v1", false), "new devices get v1");
        history[1].is_paused = false;
        history[1].is_disabled = true;
        assert_eq!(answer(&history, &on("1.0.0", "v2"), Some("d")), update("v1", false), "disabling moves them back");
        history[1].is_disabled = false;
        history[1].is_paused = true;
        history.push(release("v3", "1.0.0"));
        assert_eq!(answer(&history, &on("1.0.0", "v2"), Some("d")), update("v3", false), "a fix reaches them");
    }
}
