//! Diff packages (CodePush protocol §3.8): what a device running one package needs to download to
//! end up with another.
//!
//! A diff is a zip with `hotcodepush.json` at its root (`{"deletedFiles": [...]}`) and only the new
//! or changed files at their full paths. The device copies the package it runs, deletes
//! `deletedFiles`, overlays the zip and verifies the folder against the release's package hash.
//! The rules here decide which earlier releases get a diff and what goes into it; building the zip
//! is the server's, applying it the device's.

use std::collections::{BTreeMap, HashSet};

use super::package::ManifestEntry;
use super::selection::ReleaseRules;

/// The file at the root of a diff zip that marks it as a diff and lists deleted files.
pub const DIFF_MANIFEST_NAME: &str = "hotcodepush.json";

/// How many earlier packages of a deployment a new release gets diffs from.
pub const DIFF_BASES: usize = 5;

/// What a diff from one package to another holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiffPlan {
    /// Paths of the old package that the new one does not have.
    pub deleted: Vec<String>,
    /// Paths of the new package that are new or whose contents changed, in the new package's order.
    pub changed: Vec<String>,
}

impl DiffPlan {
    /// The diff's `hotcodepush.json`.
    #[must_use]
    pub fn manifest_json(&self) -> String {
        serde_json::json!({ "deletedFiles": self.deleted }).to_string()
    }
}

/// Whether a package has `hotcodepush.json` at its root, which makes devices take it for a diff:
/// an upload like that is refused.
#[must_use]
pub fn looks_like_a_diff(entries: &[ManifestEntry]) -> bool {
    entries.iter().any(|e| e.path.trim_start_matches("./") == DIFF_MANIFEST_NAME)
}

/// Compares two package manifests (every file, signature files included: a signed release's
/// signature changes with its contents and must reach the device).
#[must_use]
pub fn plan(old: &[ManifestEntry], new: &[ManifestEntry]) -> DiffPlan {
    let old_files: BTreeMap<&str, &str> = old.iter().map(|e| (e.path.as_str(), e.sha256.as_str())).collect();
    let new_paths: HashSet<&str> = new.iter().map(|e| e.path.as_str()).collect();
    DiffPlan {
        deleted: old_files.keys().filter(|path| !new_paths.contains(**path)).map(|path| (*path).to_owned()).collect(),
        changed: new
            .iter()
            .filter(|e| old_files.get(e.path.as_str()) != Some(&e.sha256.as_str()))
            .map(|e| e.path.clone())
            .collect(),
    }
}

/// The package hashes a device may run when release `index` of `history` (oldest first) is
/// offered: the newest [`DIFF_BASES`] distinct earlier packages whose target range overlaps the new
/// release's, disabled ones included (devices keep what they installed). Newest first.
#[must_use]
pub fn bases(history: &[ReleaseRules], index: usize) -> Vec<String> {
    let Some(new) = history.get(index) else { return Vec::new() };
    let mut seen = HashSet::from([new.package_hash.as_str()]);
    history[..index]
        .iter()
        .rev()
        .filter(|old| old.target.overlaps(&new.target))
        .filter(|old| seen.insert(old.package_hash.as_str()))
        .take(DIFF_BASES)
        .map(|old| old.package_hash.clone())
        .collect()
}

/// Why a diff cannot be applied to a package folder.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("hotcodepush.json is not a JSON object with a deletedFiles list: {0}")]
    BadManifest(String),
}

/// The `deletedFiles` of a diff's `hotcodepush.json`.
///
/// # Errors
/// [`ApplyError::BadManifest`] when the text is not `{"deletedFiles": [strings]}`.
pub fn deleted_files(manifest: &[u8]) -> Result<Vec<String>, ApplyError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct HotCodePush {
        deleted_files: Vec<String>,
    }
    serde_json::from_slice::<HotCodePush>(manifest)
        .map(|m| m.deleted_files)
        .map_err(|e| ApplyError::BadManifest(e.to_string()))
}

/// Applies a diff to a copy of a package folder as react-native-code-push does: delete
/// `deletedFiles`, then overlay the diff's files (everything but `hotcodepush.json`).
///
/// # Errors
/// See [`deleted_files`].
pub fn apply<V: Clone>(
    running: &BTreeMap<String, V>,
    diff_files: BTreeMap<String, V>,
    manifest: &[u8],
) -> Result<BTreeMap<String, V>, ApplyError> {
    let mut folder = running.clone();
    for path in deleted_files(manifest)? {
        folder.remove(&path);
    }
    folder.extend(diff_files.into_iter().filter(|(path, _)| path != DIFF_MANIFEST_NAME));
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TargetRange;

    fn entry(path: &str, sha256: &str) -> ManifestEntry {
        ManifestEntry { path: path.into(), sha256: sha256.into() }
    }

    fn release(label: &str, hash: &str, range: &str) -> ReleaseRules {
        ReleaseRules {
            label: label.into(),
            package_hash: hash.into(),
            target: TargetRange::parse(range).unwrap_or_else(|e| panic!("{e}")),
            build: None,
            is_mandatory: false,
            is_disabled: false,
            is_paused: false,
            rollout: None,
        }
    }

    #[test]
    fn a_plan_lists_changed_added_and_deleted_files_and_nothing_unchanged() {
        let old = [entry("CodePush/a.js", "1"), entry("CodePush/img.png", "2"), entry("CodePush/old.png", "3")];
        let new = [entry("CodePush/a.js", "9"), entry("CodePush/img.png", "2"), entry("CodePush/new.png", "4")];
        let plan = plan(&old, &new);
        assert_eq!(plan.changed, ["CodePush/a.js", "CodePush/new.png"]);
        assert_eq!(plan.deleted, ["CodePush/old.png"]);
        assert_eq!(plan.manifest_json(), r#"{"deletedFiles":["CodePush/old.png"]}"#);
        assert!(!looks_like_a_diff(&old));
        assert!(looks_like_a_diff(&[entry("hotcodepush.json", "0")]));
        assert!(!looks_like_a_diff(&[entry("CodePush/hotcodepush.json", "0")]), "only at the root");
        let moved = super::plan(&[entry("CodePush/x/a.png", "1")], &[entry("CodePush/y/a.png", "1")]);
        assert_eq!((moved.deleted, moved.changed), (vec!["CodePush/x/a.png".into()], vec!["CodePush/y/a.png".into()]));
    }

    #[test]
    fn bases_are_the_newest_distinct_overlapping_packages() {
        let mut history: Vec<ReleaseRules> =
            (1..=8).map(|n| release(&format!("v{n}"), &format!("h{n}"), "^1.0.0")).collect();
        history.push(release("v9", "h8", "^1.0.0"));
        history.push(release("v10", "h2", "2.0.0"));
        history.push(release("v11", "h11", "1.2.x"));
        assert_eq!(bases(&history, 10), ["h8", "h7", "h6", "h5", "h4"], "a rollback copy counts once; 2.0.0 is out");
        assert_eq!(bases(&history, 9), Vec::<String>::new(), "nothing else targets 2.0.0");
        assert_eq!(bases(&history, 8), ["h7", "h6", "h5", "h4", "h3"], "its own hash is no base");
        assert!(bases(&history, 0).is_empty());
        assert!(bases(&history, 99).is_empty());
    }

    #[test]
    fn applying_deletes_then_overlays_and_drops_the_marker() {
        let running = BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2), ("c".to_owned(), 3)]);
        let diff = BTreeMap::from([("b".to_owned(), 20), ("d".to_owned(), 4), (DIFF_MANIFEST_NAME.to_owned(), 0)]);
        let applied = apply(&running, diff, br#"{"deletedFiles":["c","not-there"]}"#);
        assert_eq!(applied, Ok(BTreeMap::from([("a".into(), 1), ("b".into(), 20), ("d".into(), 4)])));
        assert!(matches!(apply(&running, BTreeMap::new(), b"[]"), Err(ApplyError::BadManifest(_))));
    }
}
