//! Install metrics from device status reports, per label and per binary version.
//!
//! Counting follows the reference: a failed labelled deploy counts `failed` only; any other deploy
//! report counts `active` and `installed` for what the device runs now and takes one `active` from
//! what it ran before (in the previous deployment); a download report counts `downloaded`.
//! Unlike the reference, a device's retried identical report is counted once, and counters never go
//! below zero (a device that never reported running the binary cannot make its count negative).

use super::db::{Db, params};

use super::StoreResult;
use super::releases::deployment_id_by_key;
use crate::api::management::{MetricCounts, Metrics};

/// What happened to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    Counted,
    /// Counted, and the deployment's health gate halted the release.
    CountedAndHalted,
    AlreadyCounted,
    /// Accepted but not plausible (no download receipt, a capped subject): counted apart as
    /// unverified, never fed to the health gate.
    Unverified,
    UnknownDeployment,
    /// The label does not exist in the deployment.
    UnknownLabel,
}

/// Most distinct binary versions counted per deployment; reports for more are counted apart.
pub const MAX_VERSION_SUBJECTS: i64 = 1000;
/// Download receipts are kept for this many newest labels of a deployment.
const RECEIPT_LABELS_KEPT: i64 = 20;

/// A validated deploy report.
#[derive(Debug, Clone)]
pub struct DeployEvent<'a> {
    pub deployment_key: &'a str,
    pub client_unique_id: Option<&'a str>,
    /// The label, or the binary app version when the device runs the binary.
    pub subject: &'a str,
    /// Whether `subject` is a label (else a binary version).
    pub is_label: bool,
    pub failed: bool,
    pub previous: Option<&'a str>,
    pub previous_deployment_key: Option<&'a str>,
    /// The network prefix of the client's address.
    pub prefix: &'a str,
}

/// The deployment a report names and, when it names a label, that label's number if the release
/// exists (`Some(None)` when it does not): one query for both, since every report runs it.
fn report_target(
    connection: &Db,
    deployment_key: &str,
    label: Option<&str>,
) -> StoreResult<Option<(i64, Option<u64>)>> {
    let number = label.and_then(|label| crate::domain::validate::label(label).ok());
    connection.query_opt(
        "SELECT d.id, r.label_number FROM deployments d
         LEFT JOIN releases r ON r.deployment_id = d.id AND r.label_number = ?2
         WHERE d.key = ?1",
        params![deployment_key, number],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
}

/// Records the receipt of a report; false if this device already sent the same one.
fn first_receipt(connection: &Db, deployment_id: i64, client: Option<&str>, fingerprint: &str) -> StoreResult<bool> {
    let Some(client) = client else {
        return Ok(true);
    };
    let inserted = connection.execute(
        "INSERT INTO report_receipts (deployment_id, client_unique_id, fingerprint) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![deployment_id, client, fingerprint],
    )?;
    Ok(inserted == 1)
}

/// Minute buckets; compacted into hour buckets once older than a day.
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Adds one event to the time series of a label (installed, downloaded or failed).
fn sample(connection: &Db, deployment_id: i64, subject: &str, column: &str, now: i64) -> StoreResult<()> {
    if !matches!(column, "downloaded" | "installed" | "failed") || crate::domain::validate::label(subject).is_err() {
        return Ok(());
    }
    connection.execute(
        &format!(
            "INSERT INTO metric_samples (deployment_id, subject, bucket_start, bucket_ms, {column}) VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT (deployment_id, subject, bucket_start, bucket_ms) DO UPDATE SET {column} = metric_samples.{column} + 1"
        ),
        params![deployment_id, subject, now - now.rem_euclid(MINUTE_MS), MINUTE_MS],
    )?;
    Ok(())
}

/// Merges minute buckets older than a day into hour buckets. Returns how many minute rows went.
///
/// # Errors
/// SQLite errors.
pub fn compact_samples(connection: &Db, now: i64) -> StoreResult<usize> {
    connection.transaction(|tx| {
    let cutoff = now - DAY_MS;
    tx.execute(
        "INSERT INTO metric_samples (deployment_id, subject, bucket_start, bucket_ms, downloaded, installed, failed)
         SELECT deployment_id, subject, bucket_start - (bucket_start % ?1), ?1, SUM(downloaded), SUM(installed), SUM(failed)
         FROM metric_samples WHERE bucket_ms = ?2 AND bucket_start < ?3
         GROUP BY deployment_id, subject, bucket_start - (bucket_start % ?1)
         ON CONFLICT (deployment_id, subject, bucket_start, bucket_ms) DO UPDATE SET
             downloaded = metric_samples.downloaded + excluded.downloaded,
             installed = metric_samples.installed + excluded.installed,
             failed = metric_samples.failed + excluded.failed",
        params![HOUR_MS, MINUTE_MS, cutoff],
    )?;
    let removed = tx
        .execute("DELETE FROM metric_samples WHERE bucket_ms = ?1 AND bucket_start < ?2", params![MINUTE_MS, cutoff])?;
    Ok(removed)
    })
}

/// The time series of one label, oldest bucket first.
///
/// # Errors
/// SQLite errors.
pub fn samples(
    connection: &Db,
    deployment_id: i64,
    label: &str,
) -> StoreResult<Vec<crate::api::management::MetricSample>> {
    let rows = connection.query_map(
        "SELECT bucket_start, bucket_ms, downloaded, installed, failed FROM metric_samples
         WHERE deployment_id = ?1 AND subject = ?2 ORDER BY bucket_start, bucket_ms",
        params![deployment_id, label],
        |row| {
            Ok(crate::api::management::MetricSample {
                time: row.get(0)?,
                bucket_ms: row.get(1)?,
                downloaded: row.get(2)?,
                installed: row.get(3)?,
                failed: row.get(4)?,
            })
        },
    )?;
    Ok(rows)
}

fn bump(connection: &Db, deployment_id: i64, subject: &str, column: &str, delta: i64) -> StoreResult<()> {
    if delta > 0 {
        sample(connection, deployment_id, subject, column, super::now_ms())?;
    }
    connection.execute(
        &format!(
            "INSERT INTO metrics (deployment_id, subject, {column}) VALUES (?1, ?2, CASE WHEN ?3 > 0 THEN ?3 ELSE 0 END)
             ON CONFLICT (deployment_id, subject) DO UPDATE
             SET {column} = CASE WHEN metrics.{column} + ?3 > 0 THEN metrics.{column} + ?3 ELSE 0 END"
        ),
        params![deployment_id, subject, delta],
    )?;
    Ok(())
}

/// Counts a deploy report if it is plausible (not atomic by itself: run it in a transaction or
/// savepoint, as [`super::Store::run_batched`] does for each unit):
/// - a success or failure for a label counts only if this client downloaded that label (a download
///   receipt); otherwise it is counted apart as unverified;
/// - a verified failure records its network prefix, and the health gate needs failures from several;
/// - the previous label or version loses one active device only if this client was counted there.
///
/// # Errors
/// SQLite errors.
pub fn record_deploy(connection: &Db, event: &DeployEvent<'_>) -> StoreResult<ReportOutcome> {
    let label = event.is_label.then_some(event.subject);
    let Some((deployment_id, label_number)) = report_target(connection, event.deployment_key, label)? else {
        return Ok(ReportOutcome::UnknownDeployment);
    };
    if event.is_label && label_number.is_none() {
        return Ok(ReportOutcome::UnknownLabel);
    }
    connection.one_at_a_time(super::db::Exclusive::Reports(deployment_id))?;
    let fingerprint = format!(
        "deploy\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        event.subject,
        event.failed,
        event.previous.unwrap_or(""),
        event.previous_deployment_key.unwrap_or("")
    );
    if !first_receipt(connection, deployment_id, event.client_unique_id, &fingerprint)? {
        return Ok(ReportOutcome::AlreadyCounted);
    }
    let verified = match (label_number, event.client_unique_id) {
        (Some(number), Some(client)) => has_download_receipt(connection, deployment_id, client, number)?,
        (Some(_), None) => false,
        // A device on its binary needs no download; its version is capped instead.
        (None, _) => subject_has_room(connection, deployment_id, event.subject)?,
    };
    if !verified {
        bump_unverified(connection, deployment_id, event.subject, label_number.is_some())?;
        return Ok(ReportOutcome::Unverified);
    }
    let mut halted = false;
    if let (true, Some(number)) = (event.failed, label_number) {
        bump(connection, deployment_id, event.subject, "failed", 1)?;
        connection.execute(
            "INSERT INTO failure_prefixes (deployment_id, label_number, prefix) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            params![deployment_id, number, event.prefix],
        )?;
        halted = super::policy::check_health(connection, deployment_id, event.subject, super::now_ms())?;
    } else {
        count_active(connection, deployment_id, event)?;
    }
    Ok(if halted { ReportOutcome::CountedAndHalted } else { ReportOutcome::Counted })
}

fn has_download_receipt(connection: &Db, deployment_id: i64, client: &str, label_number: u64) -> StoreResult<bool> {
    let found: Option<i64> = connection.query_opt(
        "SELECT 1 FROM download_receipts WHERE deployment_id = ?1 AND client_unique_id = ?2 AND label_number = ?3",
        params![deployment_id, client, label_number],
        |row| row.get(0),
    )?;
    Ok(found.is_some())
}

/// Whether a binary version may be counted: it is counted already, or the deployment has fewer than
/// [`MAX_VERSION_SUBJECTS`] subjects.
fn subject_has_room(connection: &Db, deployment_id: i64, subject: &str) -> StoreResult<bool> {
    // A known subject is a primary-key lookup; only a new one needs the deployment's count.
    let known = connection.query_opt(
        "SELECT 1 FROM metrics WHERE deployment_id = ?1 AND subject = ?2",
        params![deployment_id, subject],
        |_| Ok(()),
    )?;
    if known.is_some() {
        return Ok(true);
    }
    let total: i64 = connection.query_one(
        "SELECT COUNT(*) FROM metrics WHERE deployment_id = ?1",
        params![deployment_id],
        |row| row.get(0),
    )?;
    Ok(total < MAX_VERSION_SUBJECTS)
}

/// Counts an unverified report: on its label (which exists), or nowhere for an uncounted version.
fn bump_unverified(connection: &Db, deployment_id: i64, subject: &str, is_label: bool) -> StoreResult<()> {
    if is_label {
        connection.execute(
            "INSERT INTO metrics (deployment_id, subject, unverified) VALUES (?1, ?2, 1)
             ON CONFLICT (deployment_id, subject) DO UPDATE SET unverified = metrics.unverified + 1",
            params![deployment_id, subject],
        )?;
    }
    Ok(())
}

/// A verified success: the device is active on its subject now, and leaves where it was counted.
fn count_active(connection: &Db, deployment_id: i64, event: &DeployEvent<'_>) -> StoreResult<()> {
    bump(connection, deployment_id, event.subject, "active", 1)?;
    bump(connection, deployment_id, event.subject, "installed", 1)?;
    let Some(client) = event.client_unique_id else { return Ok(()) };
    if let Some(previous) = event.previous.filter(|p| !p.is_empty()) {
        let previous_key = event.previous_deployment_key.unwrap_or(event.deployment_key);
        if let Some(previous_id) = deployment_id_by_key(connection, previous_key)? {
            let counted_there: Option<String> = connection.query_opt(
                "SELECT subject FROM device_positions WHERE deployment_id = ?1 AND client_unique_id = ?2",
                params![previous_id, client],
                |row| row.get(0),
            )?;
            if counted_there.as_deref() == Some(previous) {
                bump(connection, previous_id, previous, "active", -1)?;
                connection.execute(
                    "DELETE FROM device_positions WHERE deployment_id = ?1 AND client_unique_id = ?2",
                    params![previous_id, client],
                )?;
            }
        }
    }
    connection.execute(
        "INSERT INTO device_positions (deployment_id, client_unique_id, subject) VALUES (?1, ?2, ?3)
         ON CONFLICT (deployment_id, client_unique_id) DO UPDATE SET subject = excluded.subject",
        params![deployment_id, client, event.subject],
    )?;
    Ok(())
}

/// Counts a download report and records the client's download receipt for the label (not atomic
/// by itself: run it as [`record_deploy`]).
///
/// # Errors
/// SQLite errors.
pub fn record_download(
    connection: &Db,
    deployment_key: &str,
    label: &str,
    client_unique_id: Option<&str>,
    prefix: &str,
) -> StoreResult<ReportOutcome> {
    let Some((deployment_id, label_number)) = report_target(connection, deployment_key, Some(label))? else {
        return Ok(ReportOutcome::UnknownDeployment);
    };
    let Some(label_number) = label_number else {
        return Ok(ReportOutcome::UnknownLabel);
    };
    connection.one_at_a_time(super::db::Exclusive::Reports(deployment_id))?;
    let Some(client) = client_unique_id else {
        bump_unverified(connection, deployment_id, label, true)?;
        return Ok(ReportOutcome::Unverified);
    };
    if !first_receipt(connection, deployment_id, Some(client), &format!("download\u{1f}{label}"))? {
        return Ok(ReportOutcome::AlreadyCounted);
    }
    connection.execute(
        "INSERT INTO download_receipts (deployment_id, client_unique_id, label_number, prefix)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        params![deployment_id, client, label_number, prefix],
    )?;
    bump(connection, deployment_id, label, "downloaded", 1)?;
    Ok(ReportOutcome::Counted)
}

/// Drops download receipts of labels older than the newest few of each deployment (devices report
/// an install soon after its download).
///
/// # Errors
/// SQLite errors.
pub fn compact_receipts(connection: &Db) -> StoreResult<usize> {
    connection.execute(
        "DELETE FROM download_receipts WHERE label_number <
             (SELECT MAX(r.label_number) FROM releases r WHERE r.deployment_id = download_receipts.deployment_id) - ?1",
        params![RECEIPT_LABELS_KEPT],
    )
}

/// Metrics of a deployment in the wire shape: labels get all four counters, versions `active`.
///
/// # Errors
/// SQLite errors.
pub fn metrics(connection: &Db, deployment_id: i64) -> StoreResult<Metrics> {
    let rows = connection.query_map(
        "SELECT subject, active, downloaded, installed, failed, unverified FROM metrics WHERE deployment_id = ?1",
        params![deployment_id],
        |row| {
            let subject: String = row.get(0)?;
            let counts = (row.get::<i64>(1)?, row.get::<i64>(2)?, row.get::<i64>(3)?, row.get::<i64>(4)?);
            Ok((subject, counts, row.get::<i64>(5)?))
        },
    )?;
    let mut metrics = Metrics::new();
    for row in rows {
        let (subject, (active, downloaded, installed, failed), unverified) = row;
        let counts = if crate::domain::validate::label(&subject).is_ok() {
            MetricCounts {
                active,
                downloaded: Some(downloaded),
                failed: Some(failed),
                installed: Some(installed),
                unverified: (unverified > 0).then_some(unverified),
                unconfirmed: None,
            }
        } else {
            MetricCounts { active, ..MetricCounts::default() }
        };
        metrics.insert(subject, counts);
    }
    Ok(metrics)
}
