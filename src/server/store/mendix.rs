//! Mendix channels (host → app pair deployment → upstream runtime) and what the gateway learns
//! from devices: which release each device (the gateway's cookie, hashed) was told to run, its
//! downloads, and check counts per binary version.

use super::db::{Db, params};

use super::apps::{find_deployment, resolve_app};
use super::{AuthenticatedCaller, StoreError, StoreResult, now_ms};
use crate::api::mendix::{ChannelMode, CheckCount, MendixChannel, Observation, OtaInfoResponse};

/// How downloads by devices without the gateway's cookie are recorded (counted, never attributed).
pub const ANONYMOUS_DEVICE: &str = "-";

/// A channel as the gateway uses it.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub id: i64,
    pub host: String,
    pub upstream: String,
    pub mode: ChannelMode,
    pub android_deployment_id: i64,
    pub ios_deployment_id: i64,
}

impl ChannelRow {
    /// The deployment that answers devices of `platform`.
    #[must_use]
    pub fn deployment_for(&self, platform: &str) -> Option<i64> {
        match platform {
            "android" => Some(self.android_deployment_id),
            "ios" => Some(self.ios_deployment_id),
            _ => None,
        }
    }
}

fn mode_text(mode: ChannelMode) -> &'static str {
    match mode {
        ChannelMode::Serve => "serve",
        ChannelMode::Observe => "observe",
    }
}

fn mode_from(text: &str) -> ChannelMode {
    if text == "observe" { ChannelMode::Observe } else { ChannelMode::Serve }
}

/// Validates a host name as the gateway compares it (`Host` without port, lower case).
fn normalised_host(host: &str) -> StoreResult<String> {
    let host = host.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.');
    if valid { Ok(host) } else { Err(StoreError::Invalid(format!("host: \"{host}\" is not a host name"))) }
}

/// Validates the upstream runtime URL: http(s) with a host; kept with a trailing `/`.
fn normalised_upstream(upstream: &str) -> StoreResult<String> {
    let invalid = |why: &str| StoreError::Invalid(format!("upstream: {why}"));
    let url = url::Url::parse(upstream.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("an http or https URL of the Mendix runtime is required"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("no query or fragment"));
    }
    let text = url.to_string();
    Ok(if text.ends_with('/') { text } else { format!("{text}/") })
}

/// Creates or replaces the channel of `channel.host` (Owner of both apps). Returns the channel
/// before (if the host was bound) and after.
///
/// # Errors
/// Not found, permission, validation.
pub fn set_channel(
    connection: &Db,
    caller: &AuthenticatedCaller,
    channel: &MendixChannel,
) -> StoreResult<(Option<MendixChannel>, MendixChannel)> {
    let host = normalised_host(&channel.host)?;
    let upstream = normalised_upstream(&channel.upstream)?;
    let android = resolve_app(connection, caller, &channel.android_app)?;
    let ios = resolve_app(connection, caller, &channel.ios_app)?;
    android.require_owner()?;
    ios.require_owner()?;
    let android_deployment = find_deployment(connection, &android, &channel.deployment)?;
    let ios_deployment = find_deployment(connection, &ios, &channel.deployment)?;
    let before = list(connection, Some(&host))?.into_iter().next();
    connection.execute(
        "INSERT INTO mendix_channels (host, upstream, mode, android_deployment_id, ios_deployment_id)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (host) DO UPDATE SET upstream = excluded.upstream, mode = excluded.mode,
             android_deployment_id = excluded.android_deployment_id, ios_deployment_id = excluded.ios_deployment_id",
        params![host, upstream, mode_text(channel.mode), android_deployment.id, ios_deployment.id],
    )?;
    let after = MendixChannel {
        host,
        upstream,
        android_app: android.name,
        ios_app: ios.name,
        deployment: channel.deployment.clone(),
        mode: channel.mode,
    };
    Ok((before, after))
}

/// Channels whose apps the caller collaborates on.
///
/// # Errors
/// SQLite errors.
pub fn channels_of(connection: &Db, caller: &AuthenticatedCaller) -> StoreResult<Vec<MendixChannel>> {
    let visible: Vec<MendixChannel> = list(connection, None)?;
    Ok(visible.into_iter().filter(|c| resolve_app(connection, caller, &c.android_app).is_ok()).collect())
}

fn list(connection: &Db, host: Option<&str>) -> StoreResult<Vec<MendixChannel>> {
    let rows = connection.query_map(
        "SELECT c.host, c.upstream, c.mode, aa.name, ia.name, ad.name FROM mendix_channels c
         JOIN deployments ad ON ad.id = c.android_deployment_id JOIN apps aa ON aa.id = ad.app_id
         JOIN deployments id ON id.id = c.ios_deployment_id JOIN apps ia ON ia.id = id.app_id
         WHERE CAST(?1 AS TEXT) IS NULL OR c.host = ?1 ORDER BY c.host",
        params![host],
        |row| {
            Ok(MendixChannel {
                host: row.get(0)?,
                upstream: row.get(1)?,
                mode: mode_from(&row.get::<String>(2)?),
                android_app: row.get(3)?,
                ios_app: row.get(4)?,
                deployment: row.get(5)?,
            })
        },
    )?;
    Ok(rows)
}

/// The channel answering for `host` (compared without port, case-insensitively).
///
/// # Errors
/// SQLite errors.
pub fn channel_for_host(connection: &Db, host: &str) -> StoreResult<Option<ChannelRow>> {
    connection
        .query_opt(
            "SELECT id, host, upstream, mode, android_deployment_id, ios_deployment_id FROM mendix_channels WHERE host = ?1",
            params![host],
            |row| {
                Ok(ChannelRow {
                    id: row.get(0)?,
                    host: row.get(1)?,
                    upstream: row.get(2)?,
                    mode: mode_from(&row.get::<String>(3)?),
                    android_deployment_id: row.get(4)?,
                    ios_deployment_id: row.get(5)?,
                })
            },
        )
}

/// The host of the Mendix channel a deployment serves, if any.
///
/// # Errors
/// SQLite errors.
pub fn host_of_deployment(connection: &Db, deployment_id: i64) -> StoreResult<Option<String>> {
    connection.query_opt(
        "SELECT host FROM mendix_channels WHERE android_deployment_id = ?1 OR ios_deployment_id = ?1 LIMIT 1",
        params![deployment_id],
        |row| row.get(0),
    )
}

/// The platform a deployment serves on a Mendix channel, if it is bound to one.
///
/// # Errors
/// SQLite errors.
pub fn platform_of_deployment(connection: &Db, deployment_id: i64) -> StoreResult<Option<&'static str>> {
    let bound: Option<(bool, bool)> = connection
        .query_opt(
            "SELECT MAX(CASE WHEN android_deployment_id = ?1 THEN 1 ELSE 0 END), MAX(CASE WHEN ios_deployment_id = ?1 THEN 1 ELSE 0 END) FROM mendix_channels
             WHERE android_deployment_id = ?1 OR ios_deployment_id = ?1",
            params![deployment_id],
            |row| {
                Ok((row.get::<Option<bool>>(0)?.unwrap_or(false), row.get::<Option<bool>>(1)?.unwrap_or(false)))
            },
        )?;
    Ok(match bound {
        Some((true, _)) => Some("android"),
        Some((_, true)) => Some("ios"),
        _ => None,
    })
}

/// The release a bundle token names on one of the channel's deployments: (deployment id, label
/// number, blob).
///
/// # Errors
/// SQLite errors.
pub fn release_by_token(connection: &Db, channel: &ChannelRow, token: &str) -> StoreResult<Option<(i64, u64, String)>> {
    connection.query_opt(
        "SELECT deployment_id, label_number, blob_sha256 FROM releases
             WHERE bundle_token = ?1 AND deployment_id IN (?2, ?3) ORDER BY label_number DESC LIMIT 1",
        params![token, channel.android_deployment_id, channel.ios_deployment_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
}

/// The label number a device runs, as far as the gateway can tell: the one it was last told to run,
/// unless it downloaded that one more than once (it keeps failing to apply it).
///
/// # Errors
/// SQLite errors.
pub fn current_label(connection: &Db, deployment_id: i64, device: &str) -> StoreResult<Option<u64>> {
    Ok(connection
        .query_opt(
            "SELECT v.current_label FROM mendix_devices v
             LEFT JOIN mendix_downloads d
                 ON d.deployment_id = v.deployment_id AND d.device = v.device AND d.label_number = v.current_label
             WHERE v.deployment_id = ?1 AND v.device = ?2 AND COALESCE(d.count, 0) <= 1",
            params![deployment_id, device],
            |row| row.get(0),
        )?
        .flatten())
}

/// Remembers what a device (with the cookie) was told to run. Writes only when that changed, or
/// when the device downloaded something since its last check (the check then confirms an
/// install): a fleet that is up to date costs reads only.
///
/// # Errors
/// SQLite errors.
pub fn record_device(connection: &Db, deployment_id: i64, device: &str, label_number: Option<u64>) -> StoreResult<()> {
    let known: Option<(Option<u64>, i64, Option<i64>)> = connection
        .query_opt(
            "SELECT v.current_label, v.last_check,
                    (SELECT MAX(last_download) FROM mendix_downloads d WHERE d.deployment_id = v.deployment_id AND d.device = v.device)
             FROM mendix_devices v WHERE v.deployment_id = ?1 AND v.device = ?2",
            params![deployment_id, device],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
    if let Some((current, last_check, last_download)) = known
        && current == label_number
        && last_download.is_none_or(|download| download < last_check)
    {
        return Ok(());
    }
    connection.execute(
        "INSERT INTO mendix_devices (deployment_id, device, current_label, last_check) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (deployment_id, device) DO UPDATE SET current_label = excluded.current_label, last_check = excluded.last_check",
        params![deployment_id, device, label_number, now_ms()],
    )?;
    Ok(())
}

/// Adds check counts gathered in memory: ((deployment, binary version, with cookie), count).
///
/// # Errors
/// SQLite errors.
pub fn add_check_counts(connection: &Db, counts: &[((i64, String, bool), i64)]) -> StoreResult<()> {
    connection.transaction(|tx| {
    for ((deployment_id, version, with_cookie), count) in counts {
        tx.execute(
            "INSERT INTO mendix_checks (deployment_id, native_binary_version, with_cookie, count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (deployment_id, native_binary_version, with_cookie) DO UPDATE SET count = mendix_checks.count + excluded.count",
            params![deployment_id, version, with_cookie, count],
        )?;
    }
    Ok(())
    })
}

/// Counts one bundle download by a device from network `prefix`, if the gateway told that device
/// to run this release (a made-up device tag in the path counts for nothing). A second download of
/// the same release by the same device is an inferred apply failure: the deployment's health gate
/// then looks at the release. Returns whether the gate halted it.
///
/// # Errors
/// SQLite errors.
pub fn record_download(
    connection: &Db,
    deployment_id: i64,
    device: &str,
    label_number: u64,
    prefix: &str,
) -> StoreResult<bool> {
    let anonymous = device == ANONYMOUS_DEVICE;
    let told: bool = anonymous
        || connection.query_one(
            "SELECT EXISTS (SELECT 1 FROM mendix_devices WHERE deployment_id = ?1 AND device = ?2 AND current_label = ?3)",
            params![deployment_id, device, label_number],
            |row| row.get(0),
        )?;
    if !told {
        return Ok(false);
    }
    let count: i64 = connection.query_one(
        "INSERT INTO mendix_downloads (deployment_id, device, label_number, count, last_download, prefix)
         VALUES (?1, ?2, ?3, 1, ?4, ?5)
         ON CONFLICT (deployment_id, device, label_number) DO UPDATE SET count = mendix_downloads.count + 1, last_download = excluded.last_download, prefix = excluded.prefix
         RETURNING count",
        params![deployment_id, device, label_number, now_ms(), prefix],
        |row| row.get(0),
    )?;
    if count < 2 || anonymous {
        return Ok(false);
    }
    check_gate(connection, deployment_id, label_number)
}

/// The health gate on inferred counts: halts the release when its policy's failure ratio is
/// exceeded by failures from enough networks.
fn check_gate(connection: &Db, deployment_id: i64, label_number: u64) -> StoreResult<bool> {
    let Some(policy) = super::policy::get(connection, deployment_id)? else { return Ok(false) };
    let [_, installed, failed, _, _] = inferred_counts(connection, deployment_id, label_number)?;
    let prefixes: i64 = connection.query_one(
        "SELECT COUNT(DISTINCT prefix) FROM mendix_downloads
         WHERE deployment_id = ?1 AND label_number = ?2 AND count > 1 AND device != '-'",
        params![deployment_id, label_number],
        |row| row.get(0),
    )?;
    let Some(reason) = policy.health_violation(installed, failed, prefixes) else { return Ok(false) };
    let detail = format!("halted: {reason} (inferred from re-downloads)");
    super::policy::halt_by_gate(connection, deployment_id, label_number, &detail, now_ms())
}

/// The inferred counters of every Mendix release of a deployment, keyed by label.
///
/// # Errors
/// SQLite errors.
pub fn inferred_metrics(connection: &Db, deployment_id: i64) -> StoreResult<crate::api::management::Metrics> {
    let mut metrics = crate::api::management::Metrics::new();
    for release in super::releases::history(connection, deployment_id)? {
        let [downloaded, installed, failed, active, unconfirmed] =
            inferred_counts(connection, deployment_id, release.label_number)?;
        let counts = crate::api::management::MetricCounts {
            active,
            downloaded: Some(downloaded),
            installed: Some(installed),
            failed: Some(failed),
            unverified: None,
            unconfirmed: Some(unconfirmed),
        };
        metrics.insert(release.label(), counts);
    }
    Ok(metrics)
}

/// How long after a download a device without a new check counts as a possible crash.
pub const UNCONFIRMED_AFTER_MS: i64 = 10 * 60 * 1000;

/// Inferred counters of one release: (downloaded, installed, failed, active, unconfirmed).
/// - downloaded: all downloads, including those of devices without the cookie yet;
/// - installed: a device downloaded it once and checked again afterwards, told to keep it;
/// - failed: a device downloaded it more than once (the device's re-download loop);
/// - active: devices last told to run it;
/// - unconfirmed: devices that downloaded it over [`UNCONFIRMED_AFTER_MS`] ago and have not checked
///   since (a possible crash before the check).
///
/// # Errors
/// SQLite errors.
pub fn inferred_counts(connection: &Db, deployment_id: i64, label_number: u64) -> StoreResult<[i64; 5]> {
    connection.query_one(
        "SELECT
            (SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM mendix_downloads WHERE deployment_id = ?1 AND label_number = ?2),
            (SELECT COUNT(*) FROM mendix_downloads d JOIN mendix_devices v
                ON v.deployment_id = d.deployment_id AND v.device = d.device
             WHERE d.deployment_id = ?1 AND d.label_number = ?2 AND d.count = 1
               AND v.current_label = ?2 AND v.last_check > d.last_download),
            (SELECT COUNT(*) FROM mendix_downloads WHERE deployment_id = ?1 AND label_number = ?2 AND count > 1
                AND device != '-'),
            (SELECT COUNT(*) FROM mendix_devices WHERE deployment_id = ?1 AND current_label = ?2),
            (SELECT COUNT(*) FROM mendix_downloads d JOIN mendix_devices v
                ON v.deployment_id = d.deployment_id AND v.device = d.device
             WHERE d.deployment_id = ?1 AND d.label_number = ?2 AND v.last_check <= d.last_download
               AND d.last_download < ?3)",
        params![deployment_id, label_number, now_ms() - UNCONFIRMED_AFTER_MS],
        |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?]),
    )
}

/// Records what the runtime answered to one OTA check (observe mode).
///
/// # Errors
/// SQLite errors.
pub fn record_observation(
    connection: &Db,
    channel_id: i64,
    platform: &str,
    native_binary_version: &str,
    answer: &OtaInfoResponse,
) -> StoreResult<()> {
    let (Some(id), Some(path)) = (&answer.deployment_id, &answer.bundle_path) else { return Ok(()) };
    connection.execute(
        "INSERT INTO mendix_observations (channel_id, platform, native_binary_version, deployment_id, bundle_path, count, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)
         ON CONFLICT (channel_id, platform, native_binary_version, deployment_id, bundle_path) DO UPDATE SET count = mendix_observations.count + 1, last_seen = excluded.last_seen",
        params![channel_id, platform, native_binary_version, id, path, now_ms()],
    )?;
    Ok(())
}

/// What a channel's runtime was seen serving, most recent first.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown host or one the caller cannot see.
pub fn observations(connection: &Db, caller: &AuthenticatedCaller, host: &str) -> StoreResult<Vec<Observation>> {
    let channel = visible_channel(connection, caller, host)?;
    let rows = connection.query_map(
        "SELECT platform, native_binary_version, deployment_id, bundle_path, count, last_seen FROM mendix_observations
         WHERE channel_id = ?1 ORDER BY last_seen DESC",
        params![channel.id],
        |row| {
            Ok(Observation {
                platform: row.get(0)?,
                native_binary_version: row.get(1)?,
                deployment_id: row.get(2)?,
                bundle_path: row.get(3)?,
                count: row.get(4)?,
                last_seen: row.get(5)?,
            })
        },
    )?;
    Ok(rows)
}

/// The check counts of a channel's deployments.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown host or one the caller cannot see.
pub fn check_counts(connection: &Db, caller: &AuthenticatedCaller, host: &str) -> StoreResult<Vec<CheckCount>> {
    let channel = visible_channel(connection, caller, host)?;
    let rows = connection.query_map(
        "SELECT CASE deployment_id WHEN ?1 THEN 'android' ELSE 'ios' END, native_binary_version, with_cookie, count
         FROM mendix_checks WHERE deployment_id IN (?1, ?2) ORDER BY 1, 2, 3",
        params![channel.android_deployment_id, channel.ios_deployment_id],
        |row| {
            Ok(CheckCount {
                platform: row.get(0)?,
                native_binary_version: row.get(1)?,
                with_cookie: row.get(2)?,
                count: row.get(3)?,
            })
        },
    )?;
    Ok(rows)
}

fn visible_channel(connection: &Db, caller: &AuthenticatedCaller, host: &str) -> StoreResult<ChannelRow> {
    let host = host.to_ascii_lowercase();
    let visible = channels_of(connection, caller)?.into_iter().any(|c| c.host == host);
    let channel = channel_for_host(connection, &host)?.filter(|_| visible);
    channel.ok_or_else(|| StoreError::NotFound(format!("No Mendix channel for host \"{host}\".")))
}
