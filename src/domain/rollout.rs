//! Rollout bucketing: which devices are inside a partial rollout.
//!
//! The identifier is `clientUniqueId + "-" + label` (the package hash when a release has no label).
//! Its hash is a Java-`hashCode`-like fold evaluated with JavaScript number semantics: the shift wraps
//! to 32 bits, the subtraction and addition do not, so the value can leave the `i32` range. A device is
//! inside the rollout when `|hash| mod 100 < rollout`. Devices without an id use the literal
//! `"undefined"`, as the reference server does.

/// The id used for devices that send no `client_unique_id`.
pub const MISSING_CLIENT_ID: &str = "undefined";

/// The JS-semantics string hash of the reference rollout selector.
#[must_use]
pub fn js_string_hash(text: &str) -> i64 {
    js_hash_of_units(text.encode_utf16())
}

/// [`js_string_hash`] of a string given as its UTF-16 code units.
fn js_hash_of_units(units: impl Iterator<Item = u16>) -> i64 {
    units.fold(0_i64, |hash, unit| {
        // `hash << 5` in JS: ToInt32(hash), shift, result wrapped to int32.
        #[allow(clippy::cast_possible_truncation)]
        let shifted = i64::from((hash as i32).wrapping_shl(5));
        shifted - hash + i64::from(unit)
    })
}

/// The 0..100 bucket of a device for a release.
#[must_use]
pub fn bucket(client_unique_id: Option<&str>, release_label: &str) -> u8 {
    let client = client_unique_id.unwrap_or(MISSING_CLIENT_ID);
    // The hash of `{client}-{release_label}`, without building that string.
    let hash = js_hash_of_units(client.encode_utf16().chain("-".encode_utf16()).chain(release_label.encode_utf16()));
    u8::try_from(hash.unsigned_abs() % 100).unwrap_or(0)
}

/// Whether the device is inside a rollout of `percent` (1..=100) for this release.
#[must_use]
pub fn is_selected(client_unique_id: Option<&str>, release_label: &str, percent: u8) -> bool {
    bucket(client_unique_id, release_label) < percent
}

/// Whether a stored rollout value means "still partial" (set, non-zero and not 100).
#[must_use]
pub fn is_unfinished(rollout: Option<u8>) -> bool {
    matches!(rollout, Some(percent) if percent != 0 && percent != 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_test_vectors() {
        let long = format!("{}-v1", "x".repeat(200));
        let vectors: [(&str, i64, u8); 6] = [
            ("aaa-v2", -1_425_421_432, 32),
            ("bbb-v2", -1_395_838_969, 69),
            ("undefined-v2", 1_102_976_025, 25),
            ("00000000-0000-0000-0000-000000000000-v1", -9_935_290_584, 84),
            ("E621E1F8-C36C-495A-93FC-0C247A3E6E5F-v12", -1_933_591_802, 2),
            (&long, -6_030_894_232, 32),
        ];
        for (identifier, raw, expected_bucket) in vectors {
            assert_eq!(js_string_hash(identifier), raw, "hash of {identifier}");
            let (client, label) = identifier.rsplit_once('-').expect("has a dash");
            assert_eq!(bucket(Some(client), label), expected_bucket, "bucket of {identifier}");
        }
    }

    #[test]
    fn missing_client_id_is_the_string_undefined() {
        assert_eq!(bucket(None, "v2"), 25);
    }

    #[test]
    fn selection_is_bucket_below_rollout() {
        assert!(is_selected(Some("aaa"), "v2", 50)); // bucket 32
        assert!(!is_selected(Some("bbb"), "v2", 50)); // bucket 69
        assert!(is_selected(Some("bbb"), "v2", 70));
        assert!(!is_selected(Some("aaa"), "v2", 32));
        assert!(is_selected(Some("aaa"), "v2", 33));
    }

    #[test]
    fn unfinished_rollouts() {
        assert!(is_unfinished(Some(50)));
        assert!(!is_unfinished(Some(100)));
        assert!(!is_unfinished(Some(0)));
        assert!(!is_unfinished(None));
    }
}
