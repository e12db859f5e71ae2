//! Rollout policies, the health gate and the schedule (rules in [`crate::domain::policy`]), plus the
//! audit log of what they did.

use super::db::{Db, params};

use super::{StoreError, StoreResult};
use crate::api::management::ReleaseEvent;
use crate::domain::policy::RolloutPolicy;
use crate::domain::validate;

/// The policy of a deployment, if it has one.
///
/// # Errors
/// SQLite errors.
pub fn get(connection: &Db, deployment_id: i64) -> StoreResult<Option<RolloutPolicy>> {
    let text: Option<String> = connection.query_opt(
        "SELECT policy FROM rollout_policies WHERE deployment_id = ?1",
        params![deployment_id],
        |row| row.get(0),
    )?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Sets (or replaces) a deployment's policy.
///
/// # Errors
/// [`StoreError::Invalid`] for a policy that breaks its rules.
pub fn set(connection: &Db, deployment_id: i64, policy: &RolloutPolicy) -> StoreResult<()> {
    policy.validate().map_err(StoreError::Invalid)?;
    let text = serde_json::to_string(policy).map_err(|e| StoreError::Invalid(e.to_string()))?;
    connection.execute(
        "INSERT INTO rollout_policies (deployment_id, policy) VALUES (?1, ?2)
         ON CONFLICT (deployment_id) DO UPDATE SET policy = excluded.policy",
        params![deployment_id, text],
    )?;
    Ok(())
}

/// Removes a deployment's policy.
///
/// # Errors
/// SQLite errors.
pub fn delete(connection: &Db, deployment_id: i64) -> StoreResult<()> {
    connection.execute("DELETE FROM rollout_policies WHERE deployment_id = ?1", params![deployment_id])?;
    Ok(())
}

/// Appends an audit event.
///
/// # Errors
/// SQLite errors.
pub fn record_event(
    connection: &Db,
    deployment_id: i64,
    label_number: u64,
    actor: &str,
    kind: &str,
    detail: &str,
    time: i64,
) -> StoreResult<()> {
    connection.execute(
        "INSERT INTO release_events (deployment_id, label_number, time, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![deployment_id, label_number, time, actor, kind, detail],
    )?;
    Ok(())
}

/// A deployment's audit events, oldest first.
///
/// # Errors
/// SQLite errors.
pub fn events(connection: &Db, deployment_id: i64) -> StoreResult<Vec<ReleaseEvent>> {
    let rows = connection.query_map(
        "SELECT label_number, time, actor, kind, detail FROM release_events WHERE deployment_id = ?1 ORDER BY id",
        params![deployment_id],
        |row| {
            Ok(ReleaseEvent {
                label: validate::label_for(row.get::<u64>(0)?),
                time: row.get(1)?,
                actor: row.get(2)?,
                kind: row.get(3)?,
                detail: row.get(4)?,
            })
        },
    )?;
    Ok(rows)
}

/// After a status report for `label`: halts (pauses) the release if the deployment's health gate
/// trips, so no new device gets it and devices that have it are not moved. Returns whether it halted
/// the release.
///
/// # Errors
/// SQLite errors.
pub fn check_health(connection: &Db, deployment_id: i64, label: &str, now: i64) -> StoreResult<bool> {
    let Ok(label_number) = validate::label(label) else { return Ok(false) };
    let Some(policy) = get(connection, deployment_id)? else { return Ok(false) };
    let counts: Option<(i64, i64)> = connection.query_opt(
        "SELECT installed, failed FROM metrics WHERE deployment_id = ?1 AND subject = ?2",
        params![deployment_id, label],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let Some((installed, failed)) = counts else { return Ok(false) };
    let prefixes: i64 = connection.query_one(
        "SELECT COUNT(*) FROM failure_prefixes WHERE deployment_id = ?1 AND label_number = ?2",
        params![deployment_id, label_number],
        |row| row.get(0),
    )?;
    let Some(reason) = policy.health_violation(installed, failed, prefixes) else { return Ok(false) };
    halt_by_gate(connection, deployment_id, label_number, &format!("halted: {reason}"), now)
}

/// Pauses a release on the health gate's behalf and records why, unless it is already paused or
/// disabled. Returns whether it halted it.
///
/// # Errors
/// SQLite errors.
pub fn halt_by_gate(
    connection: &Db,
    deployment_id: i64,
    label_number: u64,
    detail: &str,
    now: i64,
) -> StoreResult<bool> {
    let halted = connection.execute(
        "UPDATE releases SET is_paused = 1 WHERE deployment_id = ?1 AND label_number = ?2 AND is_paused = 0 AND is_disabled = 0",
        params![deployment_id, label_number],
    )?;
    if halted == 0 {
        return Ok(false);
    }
    record_event(connection, deployment_id, label_number, "health gate", "halted", detail, now)?;
    Ok(true)
}

/// Moves every partial, enabled latest release whose next step is due at `now` (ms). Returns how
/// many releases moved. Exact for any clock: tests pass a simulated `now`.
///
/// # Errors
/// SQLite errors.
pub fn advance_schedules(connection: &Db, now: i64) -> StoreResult<usize> {
    connection.transaction(|tx| {
    let candidates: Vec<(i64, u64, u8, i64, String)> = tx.query_map("SELECT r.deployment_id, r.label_number, r.rollout, COALESCE(r.rollout_changed_time, r.upload_time), p.policy
             FROM releases r JOIN rollout_policies p ON p.deployment_id = r.deployment_id
             WHERE r.rollout IS NOT NULL AND r.rollout < 100 AND r.is_disabled = 0 AND r.is_paused = 0
               AND r.label_number = (SELECT MAX(label_number) FROM releases WHERE deployment_id = r.deployment_id)", params![], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))?;
    let mut moved = 0;
    for (deployment_id, label_number, rollout, changed, policy_text) in candidates {
        let Ok(policy) = serde_json::from_str::<RolloutPolicy>(&policy_text) else { continue };
        let Some(step) = policy.due_step(rollout, changed, now) else { continue };
        tx.execute(
            "UPDATE releases SET rollout = ?1, rollout_changed_time = ?2 WHERE deployment_id = ?3 AND label_number = ?4",
            params![(step < 100).then_some(step), now, deployment_id, label_number],
        )?;
        record_event(
            tx,
            deployment_id,
            label_number,
            "schedule",
            "advanced",
            &format!("rollout {rollout}% -> {step}%"),
            now,
        )?;
        moved += 1;
    }
    Ok(moved)
    })
}
