//! Access-key scopes (an otadeck extension) and what each management action needs.
//!
//! A key without scopes has full access, as in CodePush. A scoped key may do only what its scopes
//! allow:
//! - `read`: every GET;
//! - `release` (any deployment) or `release:<Deployment>`: upload, promote into that deployment,
//!   register store builds;
//! - `rollout`: patch a release (rollout, mandatory, enabled, description, pause and resume) and
//!   set rollout policies;
//! - `pause`: pause and resume only (support staff);
//! - `rollback`: roll back;
//! - `admin`: apps, deployments, collaborators and access keys.
//!
//! A key can never create a key with more than its own scopes.

use std::fmt;

/// One scope of an access key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    /// `None`: every deployment.
    Release(Option<String>),
    Rollout,
    Pause,
    Rollback,
    Admin,
}

impl Scope {
    /// Parses `read`, `release`, `release:Staging`, `rollout`, `pause`, `rollback`, `admin`.
    ///
    /// # Errors
    /// A message naming the unknown scope.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "read" => Ok(Self::Read),
            "release" => Ok(Self::Release(None)),
            "rollout" => Ok(Self::Rollout),
            "pause" => Ok(Self::Pause),
            "rollback" => Ok(Self::Rollback),
            "admin" => Ok(Self::Admin),
            other => match other.strip_prefix("release:") {
                Some(deployment) if !deployment.trim().is_empty() => {
                    Ok(Self::Release(Some(deployment.trim().to_owned())))
                }
                _ => Err(format!(
                    "unknown scope \"{other}\": expected read, release, release:<Deployment>, rollout, pause, rollback or admin"
                )),
            },
        }
    }

    /// Whether holding this scope includes everything `other` grants (and so allows the action
    /// `other` names): the unbound `release` covers every deployment, `rollout` covers `pause`.
    #[must_use]
    pub fn allows(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Release(None), Self::Release(_)) | (Self::Rollout, Self::Pause) => true,
            _ => self == other,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read => f.write_str("read"),
            Self::Release(None) => f.write_str("release"),
            Self::Release(Some(deployment)) => write!(f, "release:{deployment}"),
            Self::Rollout => f.write_str("rollout"),
            Self::Pause => f.write_str("pause"),
            Self::Rollback => f.write_str("rollback"),
            Self::Admin => f.write_str("admin"),
        }
    }
}

/// What a management action needs, in the terms of the scope that grants it.
/// `Release(None)` here is a release action not tied to a deployment (registering a store build),
/// which only the unbound `release` scope allows.
pub type Permission = Scope;

/// Whether a key with `scopes` (`None`: full access) may do `need`.
#[must_use]
pub fn allows(scopes: Option<&[Scope]>, need: &Permission) -> bool {
    scopes.is_none_or(|scopes| scopes.iter().any(|s| s.allows(need)))
}

/// Whether a key with `granter` scopes may create a key with `requested` scopes (`None`: full).
#[must_use]
pub fn may_grant(granter: Option<&[Scope]>, requested: Option<&[Scope]>) -> bool {
    match (granter, requested) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(mine), Some(wanted)) => wanted.iter().all(|w| mine.iter().any(|m| m.allows(w))),
    }
}

/// The defaults for the three people otadeck is built for.
#[must_use]
pub fn preset(name: &str) -> Option<Vec<Scope>> {
    Some(match name {
        // A developer's CI pipeline: push to Staging, nothing else.
        "ci" => vec![Scope::Read, Scope::Release(Some("Staging".into()))],
        // A product owner moves rollouts.
        "product-owner" => vec![Scope::Read, Scope::Rollout],
        // Support staff stop and roll back bad releases.
        "support" => vec![Scope::Read, Scope::Rollback, Scope::Pause],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(texts: &[&str]) -> Vec<Scope> {
        texts.iter().map(|t| Scope::parse(t).expect("scope")).collect()
    }

    #[test]
    fn scopes_parse_and_print_back() {
        for text in ["read", "release", "release:Staging", "rollout", "pause", "rollback", "admin"] {
            assert_eq!(Scope::parse(text).expect("valid").to_string(), text);
        }
        assert!(Scope::parse("write").is_err());
        assert!(Scope::parse("release:").is_err());
    }

    #[test]
    fn a_deployment_bound_release_scope_only_reaches_that_deployment() {
        let ci = scopes(&["read", "release:Staging"]);
        assert!(allows(Some(&ci), &Permission::Release(Some("Staging".into()))));
        assert!(!allows(Some(&ci), &Permission::Release(Some("Production".into()))));
        assert!(!allows(Some(&ci), &Permission::Release(None)), "not tied to a deployment: needs release");
        assert!(!allows(Some(&ci), &Permission::Rollout));
        assert!(allows(None, &Permission::Admin), "unscoped keys keep full access");
    }

    #[test]
    fn rollout_includes_pause_but_pause_is_only_pause() {
        let owner = scopes(&["read", "rollout"]);
        let support = scopes(&["read", "rollback", "pause"]);
        assert!(allows(Some(&owner), &Permission::Pause));
        assert!(allows(Some(&support), &Permission::Pause));
        assert!(!allows(Some(&support), &Permission::Rollout));
    }

    #[test]
    fn no_key_creates_a_key_with_more_than_its_own_scopes() {
        let owner = scopes(&["read", "rollout"]);
        assert!(may_grant(Some(&owner), Some(&scopes(&["read", "pause"]))));
        assert!(!may_grant(Some(&owner), Some(&scopes(&["admin"]))));
        assert!(!may_grant(Some(&owner), None), "a scoped key cannot create a full key");
        assert!(may_grant(Some(&scopes(&["release"])), Some(&scopes(&["release:Staging"]))));
        assert!(!may_grant(Some(&scopes(&["release:Staging"])), Some(&scopes(&["release"]))));
        assert!(may_grant(None, None));
        assert_eq!(preset("support"), Some(scopes(&["read", "rollback", "pause"])));
    }
}
