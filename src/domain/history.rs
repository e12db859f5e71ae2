//! Rules for changing a deployment's history (protocol notes §4.5): when a new release, a promote,
//! a rollout change or a rollback is allowed. Pure checks over the current history (oldest first).

use super::rollout;
use super::selection::ReleaseRules;
use super::version::TargetRange;

/// A rule that forbids the change; maps to HTTP 404 or 409 with the message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("Please update the previous release to 100% rollout before releasing a new package.")]
    UnfinishedRollout,
    #[error("Cannot promote to an unfinished rollout release unless it is already disabled.")]
    PromoteOverUnfinishedRollout,
    #[error(
        "The uploaded package was not released because it is identical to the contents of the specified deployment's current release."
    )]
    DuplicateContent,
    #[error("Deployment has no releases.")]
    NoReleases,
    #[error("Release not found for given label.")]
    LabelNotFound,
    #[error("Cannot update rollout value for a completed rollout release.")]
    RolloutComplete,
    #[error("Rollout value must be greater than \"{0}\", the existing value.")]
    RolloutNotIncreasing(u8),
    #[error("Cannot perform rollback because there is no release before the current one.")]
    NothingToRollBackTo,
    #[error("Cannot perform rollback because the target release is already the latest release.")]
    AlreadyLatest,
    #[error(
        "Cannot perform rollback to a different app version. Please perform a new release with the desired replacement package."
    )]
    DifferentAppVersion,
    #[error(
        "Cannot roll back to {0} because it is disabled: devices would keep the current release. Enable {0} first, or pick another release."
    )]
    TargetDisabled(String),
}

/// Which kind of change adds the new release (the conflict message differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewReleaseKind {
    Upload,
    Promote,
}

/// Checks that a release with `package_hash` for `target` may be added on top of `history`.
///
/// # Errors
/// [`HistoryError::UnfinishedRollout`] / [`HistoryError::PromoteOverUnfinishedRollout`] while the
/// latest enabled release is partial; [`HistoryError::DuplicateContent`] for the same content
/// released again for the same binaries.
pub fn check_new_release(
    history: &[ReleaseRules],
    kind: NewReleaseKind,
    target: &TargetRange,
    build: Option<super::BuildRange>,
    package_hash: &str,
) -> Result<(), HistoryError> {
    if let Some(latest) = history.last()
        && rollout::is_unfinished(latest.rollout)
        && !latest.is_disabled
        && !latest.is_paused
    {
        return Err(match kind {
            NewReleaseKind::Upload => HistoryError::UnfinishedRollout,
            NewReleaseKind::Promote => HistoryError::PromoteOverUnfinishedRollout,
        });
    }
    let comparable = match target.plain_version() {
        Some(version) => history.iter().rev().find(|r| r.target.is_satisfied_by(&version)),
        None => history.last().filter(|r| r.target.is_equivalent(target)),
    };
    if comparable.is_some_and(|r| r.package_hash == package_hash && r.build == build) {
        return Err(HistoryError::DuplicateContent);
    }
    Ok(())
}

/// Finds the release a patch or promote refers to: `label`, or the latest.
///
/// # Errors
/// [`HistoryError::NoReleases`] or [`HistoryError::LabelNotFound`].
pub fn find_release<'h>(
    history: &'h [ReleaseRules],
    label: Option<&str>,
) -> Result<(usize, &'h ReleaseRules), HistoryError> {
    if history.is_empty() {
        return Err(HistoryError::NoReleases);
    }
    match label {
        None => history.iter().enumerate().next_back().ok_or(HistoryError::NoReleases),
        Some(label) => history.iter().enumerate().find(|(_, r)| r.label == label).ok_or(HistoryError::LabelNotFound),
    }
}

/// The stored rollout after a patch to `requested` percent (`None` = complete).
///
/// # Errors
/// [`HistoryError::RolloutComplete`] if the release is not partial;
/// [`HistoryError::RolloutNotIncreasing`] unless the value goes up.
pub fn patch_rollout(current: Option<u8>, requested: u8) -> Result<Option<u8>, HistoryError> {
    let Some(old) = current.filter(|&p| rollout::is_unfinished(Some(p))) else {
        return Err(HistoryError::RolloutComplete);
    };
    if requested <= old {
        return Err(HistoryError::RolloutNotIncreasing(old));
    }
    Ok((requested != 100).then_some(requested))
}

/// The index of the release a rollback restores: `label`, or the one before the latest.
///
/// # Errors
/// Not found, already latest, different app version, or (unlike the reference) a disabled target.
pub fn rollback_target(history: &[ReleaseRules], label: Option<&str>) -> Result<usize, HistoryError> {
    let latest_index = history.len().checked_sub(1).ok_or(HistoryError::NoReleases)?;
    let target_index = match label {
        None => latest_index.checked_sub(1).ok_or(HistoryError::NothingToRollBackTo)?,
        Some(label) => history.iter().position(|r| r.label == label).ok_or(HistoryError::LabelNotFound)?,
    };
    let (latest, target) = (&history[latest_index], &history[target_index]);
    if target_index == latest_index {
        return Err(HistoryError::AlreadyLatest);
    }
    if target.target.as_str() != latest.target.as_str() {
        return Err(HistoryError::DifferentAppVersion);
    }
    if target.is_disabled {
        return Err(HistoryError::TargetDisabled(target.label.clone()));
    }
    Ok(target_index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BuildRange;

    fn release(label: &str, range: &str, hash: &str) -> ReleaseRules {
        ReleaseRules {
            label: label.into(),
            package_hash: hash.into(),
            target: TargetRange::parse(range).expect("valid"),
            build: None,
            is_mandatory: false,
            is_disabled: false,
            is_paused: false,
            rollout: None,
        }
    }

    fn range(text: &str) -> TargetRange {
        TargetRange::parse(text).expect("valid")
    }

    #[test]
    fn partial_rollout_blocks_new_releases_until_disabled() {
        let mut history = vec![release("v1", "^1.0.0", "a")];
        history[0].rollout = Some(50);
        let upload = check_new_release(&history, NewReleaseKind::Upload, &range("^1.0.0"), None, "b");
        assert_eq!(upload, Err(HistoryError::UnfinishedRollout));
        let promote = check_new_release(&history, NewReleaseKind::Promote, &range("^1.0.0"), None, "b");
        assert_eq!(promote, Err(HistoryError::PromoteOverUnfinishedRollout));
        history[0].is_disabled = true;
        assert_eq!(check_new_release(&history, NewReleaseKind::Upload, &range("^1.0.0"), None, "b"), Ok(()));
    }

    #[test]
    fn duplicate_content_for_equivalent_range() {
        let history = vec![release("v1", "^1.0.0", "a")];
        let same = check_new_release(&history, NewReleaseKind::Upload, &range(">=1.0.0 <2.0.0-0"), None, "a");
        assert_eq!(same, Err(HistoryError::DuplicateContent));
        let other_range = check_new_release(&history, NewReleaseKind::Upload, &range("^2.0.0"), None, "a");
        assert_eq!(other_range, Ok(()));
        let other_build = check_new_release(
            &history,
            NewReleaseKind::Upload,
            &range("^1.0.0"),
            Some(BuildRange { min: 1, max: 1 }),
            "a",
        );
        assert_eq!(other_build, Ok(()));
    }

    #[test]
    fn duplicate_content_for_plain_version_compares_newest_release_containing_it() {
        let history = vec![release("v1", "1.2.3", "a"), release("v2", "^2.0.0", "b")];
        assert_eq!(
            check_new_release(&history, NewReleaseKind::Upload, &range("1.2.3"), None, "a"),
            Err(HistoryError::DuplicateContent)
        );
        assert_eq!(check_new_release(&history, NewReleaseKind::Upload, &range("1.2.3"), None, "b"), Ok(()));
    }

    #[test]
    fn rollout_patches_only_increase() {
        assert_eq!(patch_rollout(Some(50), 60), Ok(Some(60)));
        assert_eq!(patch_rollout(Some(50), 100), Ok(None));
        assert_eq!(patch_rollout(Some(50), 50), Err(HistoryError::RolloutNotIncreasing(50)));
        assert_eq!(patch_rollout(Some(50), 20), Err(HistoryError::RolloutNotIncreasing(50)));
        assert_eq!(patch_rollout(None, 60), Err(HistoryError::RolloutComplete));
        assert_eq!(patch_rollout(Some(100), 60), Err(HistoryError::RolloutComplete));
    }

    #[test]
    fn find_release_by_label_or_latest() {
        let history = vec![release("v1", "*", "a"), release("v2", "*", "b")];
        assert_eq!(find_release(&history, None).map(|(i, _)| i), Ok(1));
        assert_eq!(find_release(&history, Some("v1")).map(|(i, _)| i), Ok(0));
        assert_eq!(find_release(&history, Some("v9")).map(|(i, _)| i), Err(HistoryError::LabelNotFound));
        assert_eq!(find_release(&[], None).map(|(i, _)| i), Err(HistoryError::NoReleases));
    }

    #[test]
    fn rollback_rules() {
        let mut history = vec![release("v1", "*", "a"), release("v2", "*", "b"), release("v3", "*", "c")];
        assert_eq!(rollback_target(&history, None), Ok(1));
        assert_eq!(rollback_target(&history, Some("v1")), Ok(0));
        assert_eq!(rollback_target(&history, Some("v3")), Err(HistoryError::AlreadyLatest));
        assert_eq!(rollback_target(&history, Some("v7")), Err(HistoryError::LabelNotFound));
        assert_eq!(rollback_target(&history[..1], None), Err(HistoryError::NothingToRollBackTo));
        assert_eq!(rollback_target(&[], None), Err(HistoryError::NoReleases));
        history[1].is_disabled = true;
        assert_eq!(rollback_target(&history, None), Err(HistoryError::TargetDisabled("v2".into())));
        history[0].target = range("^1.0.0");
        assert_eq!(rollback_target(&history, Some("v1")), Err(HistoryError::DifferentAppVersion));
    }
}
