//! Rollout policies (an otadeck extension): a schedule of rollout steps that the server advances by
//! itself, and a health gate that halts a release whose failure ratio is too high.
//!
//! Rules:
//! - Steps are strictly increasing percentages ending at 100 (default 1, 2, 5, 10, 20, 50, 100).
//! - A partial, enabled latest release moves to the next step above its current rollout once
//!   `interval` has passed since its rollout last changed.
//! - The gate trips when at least `min_reports` installs were reported (installed + failed),
//!   failed / (installed + failed) is above `max_failure_ratio`, and the failures came from at least
//!   `min_failure_prefixes` distinct network prefixes (so one host cannot trip it). Only verified
//!   reports count (the server checks them). A tripped release is halted: paused, so no new device
//!   receives it and devices that have it keep it. A person resumes it or rolls it back.

use serde::{Deserialize, Serialize};

/// A deployment's rollout policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPolicy {
    pub steps: Vec<u8>,
    /// Time between steps, in milliseconds.
    pub interval_ms: i64,
    pub max_failure_ratio: f64,
    pub min_reports: i64,
    /// Distinct network prefixes (IPv4 /24, IPv6 /48) the failures must come from (default 3).
    #[serde(default = "default_failure_prefixes")]
    pub min_failure_prefixes: i64,
}

fn default_failure_prefixes() -> i64 {
    3
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        Self {
            steps: vec![1, 2, 5, 10, 20, 50, 100],
            interval_ms: 24 * 60 * 60 * 1000,
            max_failure_ratio: 0.1,
            min_reports: 20,
            min_failure_prefixes: default_failure_prefixes(),
        }
    }
}

impl RolloutPolicy {
    /// Checks the policy's own rules.
    ///
    /// # Errors
    /// A message naming the broken rule.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps.is_empty() || self.steps.last() != Some(&100) {
            return Err("steps must end at 100".into());
        }
        if self.steps.windows(2).any(|w| w[0] >= w[1]) || self.steps[0] == 0 {
            return Err("steps must be strictly increasing percentages from 1 to 100".into());
        }
        if self.interval_ms <= 0 {
            return Err("intervalMs must be positive".into());
        }
        if !(self.max_failure_ratio > 0.0 && self.max_failure_ratio <= 1.0) {
            return Err("maxFailureRatio must be in (0, 1]".into());
        }
        if self.min_reports < 1 {
            return Err("minReports must be at least 1".into());
        }
        if self.min_failure_prefixes < 1 {
            return Err("minFailurePrefixes must be at least 1".into());
        }
        Ok(())
    }

    /// Why the gate trips for these counts, if it does; `prefixes` is how many distinct networks the
    /// failures came from.
    #[must_use]
    pub fn health_violation(&self, installed: i64, failed: i64, prefixes: i64) -> Option<String> {
        let reports = installed.max(0) + failed.max(0);
        if reports < self.min_reports || reports == 0 || prefixes < self.min_failure_prefixes {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let ratio = failed.max(0) as f64 / reports as f64;
        (ratio > self.max_failure_ratio).then(|| {
            format!(
                "failure ratio {:.1}% ({failed} failed of {reports} installs) is above {:.1}%",
                ratio * 100.0,
                self.max_failure_ratio * 100.0
            )
        })
    }

    /// The rollout to move to at `now_ms`, if a step is due.
    #[must_use]
    pub fn due_step(&self, current: u8, changed_ms: i64, now_ms: i64) -> Option<u8> {
        if now_ms.saturating_sub(changed_ms) < self.interval_ms {
            return None;
        }
        self.steps.iter().copied().find(|&step| step > current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(RolloutPolicy::default().validate().is_ok());
        for steps in [vec![], vec![10, 50], vec![10, 5, 100], vec![0, 100], vec![50, 50, 100]] {
            let policy = RolloutPolicy { steps: steps.clone(), ..RolloutPolicy::default() };
            assert!(policy.validate().is_err(), "{steps:?}");
        }
        assert!(RolloutPolicy { max_failure_ratio: 0.0, ..RolloutPolicy::default() }.validate().is_err());
        assert!(RolloutPolicy { interval_ms: 0, ..RolloutPolicy::default() }.validate().is_err());
    }

    #[test]
    fn health_gate_needs_enough_reports_and_a_high_ratio() {
        let policy = RolloutPolicy { max_failure_ratio: 0.2, min_reports: 50, ..RolloutPolicy::default() };
        assert_eq!(policy.health_violation(30, 19, 5), None, "49 reports are not enough");
        assert!(policy.health_violation(35, 15, 5).is_some_and(|r| r.contains("30.0%")));
        assert_eq!(policy.health_violation(35, 15, 2), None, "failures from two networks are not enough");
        assert_eq!(policy.health_violation(80, 20, 5), None, "exactly 20% is allowed");
    }

    #[test]
    fn schedule_moves_one_step_after_each_interval() {
        let policy = RolloutPolicy { steps: vec![10, 50, 100], interval_ms: 1000, ..RolloutPolicy::default() };
        assert_eq!(policy.due_step(10, 0, 999), None);
        assert_eq!(policy.due_step(10, 0, 1000), Some(50));
        assert_eq!(policy.due_step(50, 1000, 2000), Some(100));
        assert_eq!(policy.due_step(30, 0, 5000), Some(50), "a manual rollout between steps moves to the next");
        assert_eq!(policy.due_step(100, 0, 5000), None);
    }
}
