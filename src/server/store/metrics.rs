//! Install metrics from device status reports, per label and per binary version.
//!
//! Counting follows the reference: a failed labelled deploy counts `failed` only; any other deploy
//! report counts `active` and `installed` for what the device runs now and takes one `active` from
//! what it ran before (in the previous deployment); a download report counts `downloaded`.
//! Unlike the reference, a device's retried identical report is counted once, and counters never go
//! below zero (a device that never reported running the binary cannot make its count negative).

use rusqlite::{Connection, params};

use super::StoreResult;
use super::releases::deployment_id_by_key;
use crate::api::management::{MetricCounts, Metrics};

/// Whether a report was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    Counted,
    /// Counted, and the deployment's health gate halted the release.
    CountedAndHalted,
    AlreadyCounted,
    UnknownDeployment,
}

/// A validated deploy report.
#[derive(Debug, Clone)]
pub struct DeployEvent<'a> {
    pub deployment_key: &'a str,
    pub client_unique_id: Option<&'a str>,
    /// The label, or the binary app version when the device runs the binary.
    pub subject: &'a str,
    pub failed: bool,
    pub previous: Option<&'a str>,
    pub previous_deployment_key: Option<&'a str>,
}

/// Records the receipt of a report; false if this device already sent the same one.
fn first_receipt(
    connection: &Connection,
    deployment_id: i64,
    client: Option<&str>,
    fingerprint: &str,
) -> StoreResult<bool> {
    let Some(client) = client else {
        return Ok(true);
    };
    let inserted = connection.execute(
        "INSERT OR IGNORE INTO report_receipts (deployment_id, client_unique_id, fingerprint) VALUES (?1, ?2, ?3)",
        params![deployment_id, client, fingerprint],
    )?;
    Ok(inserted == 1)
}

/// Minute buckets; compacted into hour buckets once older than a day.
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Adds one event to the time series of a label (installed, downloaded or failed).
fn sample(connection: &Connection, deployment_id: i64, subject: &str, column: &str, now: i64) -> StoreResult<()> {
    if !matches!(column, "downloaded" | "installed" | "failed") || crate::domain::validate::label(subject).is_err() {
        return Ok(());
    }
    connection.execute(
        &format!(
            "INSERT INTO metric_samples (deployment_id, subject, bucket_start, bucket_ms, {column}) VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT (deployment_id, subject, bucket_start, bucket_ms) DO UPDATE SET {column} = {column} + 1"
        ),
        params![deployment_id, subject, now - now.rem_euclid(MINUTE_MS), MINUTE_MS],
    )?;
    Ok(())
}

/// Merges minute buckets older than a day into hour buckets. Returns how many minute rows went.
///
/// # Errors
/// SQLite errors.
pub fn compact_samples(connection: &mut Connection, now: i64) -> StoreResult<usize> {
    let tx = connection.transaction()?;
    let cutoff = now - DAY_MS;
    tx.execute(
        "INSERT INTO metric_samples (deployment_id, subject, bucket_start, bucket_ms, downloaded, installed, failed)
         SELECT deployment_id, subject, bucket_start - (bucket_start % ?1), ?1, SUM(downloaded), SUM(installed), SUM(failed)
         FROM metric_samples WHERE bucket_ms = ?2 AND bucket_start < ?3
         GROUP BY deployment_id, subject, bucket_start - (bucket_start % ?1)
         ON CONFLICT (deployment_id, subject, bucket_start, bucket_ms) DO UPDATE SET
             downloaded = downloaded + excluded.downloaded,
             installed = installed + excluded.installed,
             failed = failed + excluded.failed",
        params![HOUR_MS, MINUTE_MS, cutoff],
    )?;
    let removed = tx
        .execute("DELETE FROM metric_samples WHERE bucket_ms = ?1 AND bucket_start < ?2", params![MINUTE_MS, cutoff])?;
    tx.commit()?;
    Ok(removed)
}

/// The time series of one label, oldest bucket first.
///
/// # Errors
/// SQLite errors.
pub fn samples(
    connection: &Connection,
    deployment_id: i64,
    label: &str,
) -> StoreResult<Vec<crate::api::management::MetricSample>> {
    let mut statement = connection.prepare_cached(
        "SELECT bucket_start, bucket_ms, downloaded, installed, failed FROM metric_samples
         WHERE deployment_id = ?1 AND subject = ?2 ORDER BY bucket_start, bucket_ms",
    )?;
    let rows = statement.query_map(params![deployment_id, label], |row| {
        Ok(crate::api::management::MetricSample {
            time: row.get(0)?,
            bucket_ms: row.get(1)?,
            downloaded: row.get(2)?,
            installed: row.get(3)?,
            failed: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn bump(connection: &Connection, deployment_id: i64, subject: &str, column: &str, delta: i64) -> StoreResult<()> {
    if delta > 0 {
        sample(connection, deployment_id, subject, column, super::now_ms())?;
    }
    connection.execute(
        &format!(
            "INSERT INTO metrics (deployment_id, subject, {column}) VALUES (?1, ?2, MAX(?3, 0))
             ON CONFLICT (deployment_id, subject) DO UPDATE SET {column} = MAX({column} + ?3, 0)"
        ),
        params![deployment_id, subject, delta],
    )?;
    Ok(())
}

/// Counts a deploy report.
///
/// # Errors
/// SQLite errors.
pub fn record_deploy(connection: &mut Connection, event: &DeployEvent<'_>) -> StoreResult<ReportOutcome> {
    let tx = connection.transaction()?;
    let Some(deployment_id) = deployment_id_by_key(&tx, event.deployment_key)? else {
        return Ok(ReportOutcome::UnknownDeployment);
    };
    let fingerprint = format!(
        "deploy\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        event.subject,
        event.failed,
        event.previous.unwrap_or(""),
        event.previous_deployment_key.unwrap_or("")
    );
    if !first_receipt(&tx, deployment_id, event.client_unique_id, &fingerprint)? {
        return Ok(ReportOutcome::AlreadyCounted);
    }
    if event.failed {
        bump(&tx, deployment_id, event.subject, "failed", 1)?;
    } else {
        bump(&tx, deployment_id, event.subject, "active", 1)?;
        bump(&tx, deployment_id, event.subject, "installed", 1)?;
        if let Some(previous) = event.previous.filter(|p| !p.is_empty()) {
            let previous_key = event.previous_deployment_key.unwrap_or(event.deployment_key);
            if let Some(previous_id) = deployment_id_by_key(&tx, previous_key)? {
                bump(&tx, previous_id, previous, "active", -1)?;
            }
        }
    }
    let halted = super::policy::check_health(&tx, deployment_id, event.subject, super::now_ms())?;
    tx.commit()?;
    Ok(if halted { ReportOutcome::CountedAndHalted } else { ReportOutcome::Counted })
}

/// Counts a download report.
///
/// # Errors
/// SQLite errors.
pub fn record_download(
    connection: &mut Connection,
    deployment_key: &str,
    label: &str,
    client_unique_id: Option<&str>,
) -> StoreResult<ReportOutcome> {
    let tx = connection.transaction()?;
    let Some(deployment_id) = deployment_id_by_key(&tx, deployment_key)? else {
        return Ok(ReportOutcome::UnknownDeployment);
    };
    if !first_receipt(&tx, deployment_id, client_unique_id, &format!("download\u{1f}{label}"))? {
        return Ok(ReportOutcome::AlreadyCounted);
    }
    bump(&tx, deployment_id, label, "downloaded", 1)?;
    tx.commit()?;
    Ok(ReportOutcome::Counted)
}

/// Metrics of a deployment in the wire shape: labels get all four counters, versions `active`.
///
/// # Errors
/// SQLite errors.
pub fn metrics(connection: &Connection, deployment_id: i64) -> StoreResult<Metrics> {
    let mut statement = connection.prepare_cached(
        "SELECT subject, active, downloaded, installed, failed FROM metrics WHERE deployment_id = ?1",
    )?;
    let rows = statement.query_map([deployment_id], |row| {
        let subject: String = row.get(0)?;
        let counts = (row.get::<_, i64>(1)?, row.get::<_, i64>(2)?, row.get::<_, i64>(3)?, row.get::<_, i64>(4)?);
        Ok((subject, counts))
    })?;
    let mut metrics = Metrics::new();
    for row in rows {
        let (subject, (active, downloaded, installed, failed)) = row?;
        let counts = if crate::domain::validate::label(&subject).is_ok() {
            MetricCounts { active, downloaded: Some(downloaded), failed: Some(failed), installed: Some(installed) }
        } else {
            MetricCounts { active, ..MetricCounts::default() }
        };
        metrics.insert(subject, counts);
    }
    Ok(metrics)
}
