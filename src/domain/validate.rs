//! Field rules of the management API (protocol notes §4.5): names, keys, labels, rollout, text.

/// A field value that breaks a rule; the message is shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn fail(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { field, message: message.into() }
}

/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// App and deployment names: 1–1000 chars, no `\ / ? :` and no control characters.
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn name(field: &'static str, value: &str) -> Result<(), FieldError> {
    let length = value.chars().count();
    if length == 0 || length > 1000 {
        return Err(fail(field, "must be 1 to 1000 characters"));
    }
    let forbidden = |c: char| matches!(c, '\\' | '/' | '?' | ':') || c.is_control();
    if value.chars().any(forbidden) {
        return Err(fail(field, "must not contain \\ / ? : or control characters"));
    }
    Ok(())
}

/// Access keys and deployment keys: 10–100 chars of `[A-Za-z0-9_-]`.
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn key(field: &'static str, value: &str) -> Result<(), FieldError> {
    let ok_chars = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !(10..=100).contains(&value.len()) || !ok_chars {
        return Err(fail(field, "must be 10 to 100 characters of A-Z, a-z, 0-9, _ and -"));
    }
    Ok(())
}

/// Labels are `v<N>` with N ≥ 1 and no leading zero; returns N.
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn label(value: &str) -> Result<u64, FieldError> {
    let error = || fail("label", format!("\"{value}\" is not a release label like v1, v2, …"));
    let digits = value.strip_prefix('v').ok_or_else(error)?;
    if digits.starts_with('0') || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error());
    }
    digits.parse().map_err(|_| error())
}

/// Formats label number N as `vN`.
#[must_use]
pub fn label_for(number: u64) -> String {
    format!("v{number}")
}

/// Rollout: an integer 1–100 (JSON numbers like `50.0` are accepted, `50.5`, `0` and `101` are not).
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn rollout(value: &serde_json::Value) -> Result<u8, FieldError> {
    let error = || fail("rollout", format!("{value} must be an integer from 1 to 100"));
    let number = value.as_f64().ok_or_else(error)?;
    if number.fract() != 0.0 || !(1.0..=100.0).contains(&number) {
        return Err(error());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(number as u8)
}

/// Descriptions: at most 10 000 characters.
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn description(value: &str) -> Result<(), FieldError> {
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(fail("description", "must be at most 10000 characters"));
    }
    Ok(())
}

/// Friendly names of access keys: 1–10 000 characters after trimming.
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn friendly_name(value: &str) -> Result<(), FieldError> {
    let length = value.trim().chars().count();
    if length == 0 || length > 10_000 {
        return Err(fail("friendlyName", "must be 1 to 10000 characters"));
    }
    Ok(())
}

/// Email path parameters: non-empty, no prototype-pollution names, no path characters.
///
/// # Errors
/// A [`FieldError`] explaining the rule.
pub fn email(value: &str) -> Result<(), FieldError> {
    let reserved = matches!(value, "__proto__" | "constructor" | "prototype");
    let bad_char = |c: char| matches!(c, '\\' | '/' | '?' | '#' | '*' | ':' | ' ') || c.is_control();
    if value.is_empty() || value.len() > 255 || reserved || value.chars().any(bad_char) {
        return Err(fail("email", format!("\"{value}\" is not a valid email")));
    }
    Ok(())
}

/// Longest accepted device-sent strings: an app version, a label, a client id, a deployment key.
pub const MAX_DEVICE_FIELD_CHARS: usize = 128;

/// A string a device sends (versions, labels, ids): at most [`MAX_DEVICE_FIELD_CHARS`] characters,
/// so reports cannot grow the database without bound.
///
/// # Errors
/// [`FieldError`] naming the field.
pub fn device_field(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.chars().count() > MAX_DEVICE_FIELD_CHARS {
        return Err(FieldError { field, message: format!("is longer than {MAX_DEVICE_FIELD_CHARS} characters") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names() {
        assert!(name("name", "MyApp-Android").is_ok());
        for bad in ["", "a/b", "a\\b", "a?b", "owner:app", "tab\there"] {
            assert!(name("name", bad).is_err(), "{bad:?}");
        }
        assert!(name("name", &"x".repeat(1001)).is_err());
    }

    #[test]
    fn keys() {
        assert!(key("key", "abcDEF_123-xyz").is_ok());
        for bad in ["short", "has space in it", "dollar$signs!!", &"k".repeat(101)] {
            assert!(key("key", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(label("v1"), Ok(1));
        assert_eq!(label("v120"), Ok(120));
        for bad in ["v0", "v01", "1", "v", "vx", "V1", "v1.0"] {
            assert!(label(bad).is_err(), "{bad:?}");
        }
        assert_eq!(label_for(7), "v7");
    }

    #[test]
    fn rollouts() {
        assert_eq!(rollout(&json!(50)), Ok(50));
        assert_eq!(rollout(&json!(100)), Ok(100));
        assert_eq!(rollout(&json!(1)), Ok(1));
        for bad in [json!(0), json!(101), json!(50.5), json!("50"), json!(-1), json!(null)] {
            assert!(rollout(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_and_friendly_names_and_emails() {
        assert!(description(&"d".repeat(10_000)).is_ok());
        assert!(description(&"d".repeat(10_001)).is_err());
        assert!(friendly_name("CI key").is_ok());
        assert!(friendly_name("   ").is_err());
        assert!(email("dev@example.com").is_ok());
        for bad in ["__proto__", "a b@c", "", "x/y@z"] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }
}
