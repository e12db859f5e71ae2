//! Binary versions and target ranges with node-semver semantics.
//!
//! A release targets a node-semver *range* (`1.2.3` means exactly 1.2.3, `^1.0.0`, `1.0.0 - 1.2.x`,
//! `>=1 <2`, `1.0.0 || 2.0.0`, `*`). Devices report their binary version, which is normalised the way
//! the CodePush reference server does (`2` -> `2.0.0`, `1.0` -> `1.0.0`, `2.0-beta` -> `2.0.0-beta`).

use std::fmt;

use nodejs_semver::{OutsideDirection, Range, Version};

/// Why a version or range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("app version \"{0}\" is not a valid semver version")]
    InvalidVersion(String),
    #[error("target binary version \"{0}\" is not a valid semver range")]
    InvalidRange(String),
}

/// A device's binary version after normalisation, plus the spelling the device sent.
#[derive(Debug, Clone)]
pub struct DeviceVersion {
    original: String,
    version: Version,
}

impl DeviceVersion {
    /// Normalises and parses a device's app version.
    ///
    /// # Errors
    /// [`VersionError::InvalidVersion`] if the value is not semver even after normalisation.
    pub fn parse(raw: &str) -> Result<Self, VersionError> {
        let original = raw.trim();
        let normalised = normalise_app_version(original);
        let invalid = || VersionError::InvalidVersion(raw.to_owned());
        if !is_strict_semver(normalised.trim_start_matches(['v', '='])) {
            return Err(invalid());
        }
        let version = Version::parse(&normalised).map_err(|_| invalid())?;
        Ok(Self { original: original.to_owned(), version })
    }

    /// The spelling the device sent (echoed back in update-check responses).
    #[must_use]
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The normalised semver version.
    #[must_use]
    pub fn version(&self) -> &Version {
        &self.version
    }
}

/// Inserts the missing minor/patch parts of a short version: `2` -> `2.0.0`, `2.0-beta` -> `2.0.0-beta`.
#[must_use]
pub fn normalise_app_version(raw: &str) -> String {
    let tag_start = raw.find(['-', '+']).unwrap_or(raw.len());
    let (core, tag) = raw.split_at(tag_start);
    let is_number = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = core.split('.').collect();
    match parts.as_slice() {
        [major] if is_number(major) && tag.is_empty() => format!("{major}.0.0"),
        [major, minor] if is_number(major) && is_number(minor) => format!("{major}.{minor}.0{tag}"),
        _ => raw.to_owned(),
    }
}

/// Whether `text` follows the SemVer 2.0 grammar exactly (`node-semver`'s `valid`, which the
/// `nodejs-semver` parser is looser than: it accepts `1.2.3.4`).
fn is_strict_semver(text: &str) -> bool {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && (part == "0" || !part.starts_with('0'))
    };
    let identifier = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let core_ok = core.split('.').count() == 3 && core.split('.').all(numeric);
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.').all(|id| identifier(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric(id)))
    });
    let build_ok = build.is_none_or(|build| build.split('.').all(identifier));
    core_ok && pre_ok && build_ok
}

/// A release's target binary version: a node-semver range and the text it was written as.
#[derive(Debug, Clone)]
pub struct TargetRange {
    text: String,
    range: Range,
}

impl TargetRange {
    /// Parses a node-semver range. Empty text is refused (the reference CLI always sends one).
    ///
    /// # Errors
    /// [`VersionError::InvalidRange`] for empty or unparsable ranges.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(VersionError::InvalidRange(text.to_owned()));
        }
        let range = Range::parse(trimmed).map_err(|_| VersionError::InvalidRange(text.to_owned()))?;
        Ok(Self { text: text.to_owned(), range })
    }

    /// The range as written by the releaser.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// node-semver `satisfies` (prereleases only match comparators on the same `major.minor.patch`).
    #[must_use]
    pub fn is_satisfied_by(&self, version: &Version) -> bool {
        self.range.satisfies(version)
    }

    /// node-semver `gtr`: the version is greater than every version the range allows.
    #[must_use]
    pub fn is_below(&self, version: &Version) -> bool {
        self.range.outside(version, OutsideDirection::Higher, false).unwrap_or(false)
    }

    /// Whether this range is a single plain version (`1.2.3`) rather than a real range.
    #[must_use]
    pub fn plain_version(&self) -> Option<Version> {
        Version::parse(self.text.trim()).ok()
    }

    /// Whether some version satisfies both ranges.
    #[must_use]
    pub fn overlaps(&self, other: &TargetRange) -> bool {
        self.range.allows_any(&other.range)
    }

    /// Whether two ranges allow exactly the same versions.
    #[must_use]
    pub fn is_equivalent(&self, other: &TargetRange) -> bool {
        self.range.allows_all(&other.range) && other.range.allows_all(&self.range)
    }
}

impl fmt::Display for TargetRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn satisfies(range: &str, version: &str) -> bool {
        let range = TargetRange::parse(range).expect("range parses");
        let version = DeviceVersion::parse(version).expect("version parses");
        range.is_satisfied_by(version.version())
    }

    #[test]
    fn short_versions_are_normalised_like_the_reference() {
        assert_eq!(normalise_app_version("2"), "2.0.0");
        assert_eq!(normalise_app_version("1.0"), "1.0.0");
        assert_eq!(normalise_app_version("2.0-beta"), "2.0.0-beta");
        assert_eq!(normalise_app_version("2.0+42"), "2.0.0+42");
        assert_eq!(normalise_app_version("1.2.3"), "1.2.3");
        assert_eq!(normalise_app_version("abc"), "abc");
        assert_eq!(DeviceVersion::parse("1.0").expect("valid").original(), "1.0");
        for good in ["1.2.3-beta.1", "1.2.3+build.7", "v1.2.3", "10.20.30-rc.1+exp.sha.5114f85"] {
            assert!(DeviceVersion::parse(good).is_ok(), "{good:?} should parse");
        }
    }

    #[test]
    fn invalid_device_versions_are_refused() {
        for bad in ["abc", "", "1.x", "1.2.3.4", "^1.0.0", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+"] {
            assert!(DeviceVersion::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn node_range_semantics_not_cargo_semantics() {
        // A bare version is exact in node (Cargo would read it as ^1.2.3).
        assert!(satisfies("1.2.3", "1.2.3"));
        assert!(!satisfies("1.2.3", "1.2.4"));
        assert!(!satisfies("1.2.3", "1.3.0"));
        assert!(satisfies("^1.0.0", "1.9.9"));
        assert!(!satisfies("^1.0.0", "2.0.0"));
        assert!(satisfies("~1.2", "1.2.9"));
        assert!(!satisfies("~1.2", "1.3.0"));
        assert!(satisfies("1.2.x", "1.2.7"));
        assert!(!satisfies("1.2.x", "1.3.0"));
        assert!(satisfies("1.0.0 - 1.2.x", "1.2.9"));
        assert!(!satisfies("1.0.0 - 1.2.x", "1.3.0"));
        assert!(satisfies(">=1.0.0 <2.0.0", "1.5.0"));
        assert!(!satisfies(">=1.0.0 <2.0.0", "2.0.0"));
        assert!(satisfies("1.0.0 || 2.0.0", "2.0.0"));
        assert!(!satisfies("1.0.0 || 2.0.0", "1.5.0"));
        assert!(satisfies("*", "7.1.2"));
        assert!(satisfies("^1.0.0", "1"));
    }

    #[test]
    fn prerelease_binaries_only_match_ranges_that_name_their_tuple() {
        assert!(!satisfies("1.2.3", "1.2.3-beta.1"));
        assert!(!satisfies("^1.2.3", "1.2.3-beta.1"));
        assert!(!satisfies("*", "1.2.3-beta.1"));
        assert!(satisfies(">=1.2.3-beta.0", "1.2.3-beta.1"));
        assert!(!satisfies(">=1.2.3-beta.0", "1.2.4-beta.1"));
    }

    #[test]
    fn gtr_detects_binaries_newer_than_the_whole_range() {
        let range = TargetRange::parse("1.0.0 - 1.2.x").expect("valid");
        let above = DeviceVersion::parse("2.0.0").expect("valid");
        let below = DeviceVersion::parse("0.9.0").expect("valid");
        let inside = DeviceVersion::parse("1.1.0").expect("valid");
        assert!(range.is_below(above.version()));
        assert!(!range.is_below(below.version()));
        assert!(!range.is_below(inside.version()));
    }

    #[test]
    fn invalid_ranges_are_refused() {
        for bad in ["", "  ", "abc", "1.2.3.4", ">>1"] {
            assert!(TargetRange::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn equivalent_ranges() {
        let a = TargetRange::parse("^1.0.0").expect("valid");
        let b = TargetRange::parse(">=1.0.0 <2.0.0-0").expect("valid");
        let c = TargetRange::parse("~1.0.0").expect("valid");
        assert!(a.is_equivalent(&b));
        assert!(!a.is_equivalent(&c));
    }

    #[test]
    fn overlapping_ranges() {
        let range = |text: &str| TargetRange::parse(text).expect("valid");
        assert!(range("^1.0.0").overlaps(&range("1.2.x")));
        assert!(range("1.0.0 - 1.9.x").overlaps(&range("~1.9.3")));
        assert!(range("*").overlaps(&range("3.1.4")));
        assert!(!range("^1.0.0").overlaps(&range("2.0.0")));
        assert!(!range("<1.2.0").overlaps(&range(">=1.2.0")));
    }
}
