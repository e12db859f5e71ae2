//! Build-number targeting: an otadeck extension that binds a release to native build numbers.
//!
//! Mendix Native Builder ties an update to a binary's version *and* build number. A release may carry
//! one number (`42`) or an inclusive range (`40-45`). A device that does not report a build number, or
//! reports one outside the range, is not offered such a release. Releases without a constraint behave
//! exactly as in CodePush.

use std::fmt;
use std::str::FromStr;

/// An inclusive range of native build numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildRange {
    pub min: u64,
    pub max: u64,
}

/// Why a build-number constraint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("build number \"{0}\" must be a number (42) or an inclusive range (40-45)")]
pub struct BuildRangeError(pub String);

impl BuildRange {
    /// Whether the device's build number falls in the range.
    #[must_use]
    pub fn contains(self, build: u64) -> bool {
        (self.min..=self.max).contains(&build)
    }

    /// Whether a device reporting `build` (or nothing) may receive a release with this constraint.
    #[must_use]
    pub fn admits(constraint: Option<Self>, build: Option<u64>) -> bool {
        match (constraint, build) {
            (None, _) => true,
            (Some(range), Some(build)) => range.contains(build),
            (Some(_), None) => false,
        }
    }
}

impl FromStr for BuildRange {
    type Err = BuildRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || BuildRangeError(text.to_owned());
        let number = |part: &str| part.trim().parse::<u64>().map_err(|_| error());
        let (min, max) = match text.split_once('-') {
            Some((low, high)) => (number(low)?, number(high)?),
            None => {
                let single = number(text)?;
                (single, single)
            }
        };
        if min > max {
            return Err(error());
        }
        Ok(Self { min, max })
    }
}

impl fmt::Display for BuildRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max { write!(f, "{}", self.min) } else { write!(f, "{}-{}", self.min, self.max) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_numbers_and_ranges() {
        assert_eq!("42".parse(), Ok(BuildRange { min: 42, max: 42 }));
        assert_eq!("40-45".parse(), Ok(BuildRange { min: 40, max: 45 }));
        assert_eq!(" 40 - 45 ".parse(), Ok(BuildRange { min: 40, max: 45 }));
        for bad in ["", "x", "45-40", "-1", "1-", "1.5"] {
            assert!(bad.parse::<BuildRange>().is_err(), "{bad:?} should be refused");
        }
        assert_eq!(BuildRange { min: 3, max: 3 }.to_string(), "3");
        assert_eq!(BuildRange { min: 3, max: 9 }.to_string(), "3-9");
    }

    #[test]
    fn constraint_admits_only_matching_devices() {
        let range = Some(BuildRange { min: 40, max: 45 });
        assert!(BuildRange::admits(range, Some(40)));
        assert!(BuildRange::admits(range, Some(45)));
        assert!(!BuildRange::admits(range, Some(46)));
        assert!(!BuildRange::admits(range, None));
        assert!(BuildRange::admits(None, None));
        assert!(BuildRange::admits(None, Some(1)));
    }
}
