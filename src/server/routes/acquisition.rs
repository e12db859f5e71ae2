//! Device routes: update check (current and legacy spelling), status reports, package downloads.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::acquisition::{
    DeployReport, DownloadReport, LegacyUpdateCheckResponse, UpdateCheckResponse, UpdateInfo, status,
};
use crate::domain::selection::{UpdateDecision, UpdateQuery, plan_update};
use crate::domain::{DeviceVersion, validate};
use crate::server::ServerState;
use crate::server::byte_range::{self, RangeRequest};
use crate::server::cache::{DeploymentSnapshot, OfferedRelease, ResponseFormat};
use crate::server::error::ApiError;
use crate::server::observability::KindLabels;
use crate::server::store::metrics::{self, DeployEvent, ReportOutcome};
use crate::server::store::releases;

fn non_empty<T: AsRef<str>>(value: Option<T>) -> Option<T> {
    value.filter(|v| !matches!(v.as_ref(), "" | "undefined" | "null"))
}

fn deployment_key(raw: Option<&str>) -> Result<&str, ApiError> {
    let key = raw.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(ApiError::BadRequest("A deployment key must be specified (deployment_key).".into()));
    }
    validate::key("deployment_key", key).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(key)
}

async fn snapshot(state: &ServerState, key: &str) -> Result<Arc<DeploymentSnapshot>, ApiError> {
    if let Some(found) = state.cache.get(key) {
        return Ok(found);
    }
    let generation = state.cache.generation();
    let lookup_key = key.to_owned();
    let loaded = state
        .store
        .run(move |c| {
            let Some(id) = releases::deployment_id_by_key(c, &lookup_key)? else {
                return Ok(None);
            };
            let history = releases::history(c, id)?;
            let diffs = crate::server::store::diffs::of_deployment(c, id)?;
            Ok(Some((releases::rules_of(&history)?, history, diffs)))
        })
        .await?;
    let (rules, history, mut diffs) =
        loaded.ok_or_else(|| ApiError::NotFound(format!("Deployment key \"{key}\" was not found.")))?;
    let offers = history
        .iter()
        .map(|r| OfferedRelease {
            download_url: state.blob_url(&r.blob_sha256),
            description: r.description.clone(),
            size: r.size,
            diffs: diffs
                .remove(&r.label_number)
                .unwrap_or_default()
                .into_iter()
                .map(|d| (d.from_package_hash, (state.blob_url(&d.blob_sha256), d.size)))
                .collect(),
        })
        .collect();
    let snapshot = Arc::new(DeploymentSnapshot::new(rules, offers));
    state.cache.insert(key.to_owned(), generation, Arc::clone(&snapshot));
    Ok(snapshot)
}

/// The parameters of an update check, borrowed from the query string where no decoding is needed.
#[derive(Debug, Default, PartialEq)]
struct DeviceQuery<'a> {
    deployment_key: Option<Cow<'a, str>>,
    app_version: Option<Cow<'a, str>>,
    package_hash: Option<Cow<'a, str>>,
    label: Option<Cow<'a, str>>,
    client_unique_id: Option<Cow<'a, str>>,
    is_companion: Option<Cow<'a, str>>,
    build_number: Option<Cow<'a, str>>,
}

impl<'a> DeviceQuery<'a> {
    fn set(&mut self, key: &str, value: Cow<'a, str>) {
        let slot = match key {
            "deployment_key" | "deploymentKey" => &mut self.deployment_key,
            "app_version" | "appVersion" => &mut self.app_version,
            "package_hash" | "packageHash" => &mut self.package_hash,
            "label" => &mut self.label,
            "client_unique_id" | "clientUniqueId" => &mut self.client_unique_id,
            "is_companion" | "isCompanion" => &mut self.is_companion,
            "build_number" | "buildNumber" => &mut self.build_number,
            _ => return,
        };
        *slot = Some(value);
    }
}

/// Reads an update-check query string, accepting either spelling of each parameter; the last
/// occurrence of a key wins. Done by hand (not serde) because this is the hottest path of the
/// server: a pair without `%` or `+` is used as it stands, any other is decoded as a form would be.
fn parse_update_query(raw: Option<&str>) -> DeviceQuery<'_> {
    let mut query = DeviceQuery::default();
    for pair in raw.unwrap_or_default().split('&') {
        if pair.contains(['%', '+']) {
            for (key, value) in form_urlencoded::parse(pair.as_bytes()) {
                query.set(&key, value);
            }
        } else if !pair.is_empty() {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            query.set(key, Cow::Borrowed(value));
        }
    }
    query
}

/// Answers an update check with the JSON body in `format`.
async fn check(state: &ServerState, raw_query: Option<&str>, format: ResponseFormat) -> Result<Bytes, ApiError> {
    let query = parse_update_query(raw_query);
    let key = deployment_key(query.deployment_key.as_deref())?;
    let raw_version = non_empty(query.app_version)
        .ok_or_else(|| ApiError::BadRequest("An app version must be specified (app_version).".into()))?;
    let build_number = match non_empty(query.build_number) {
        Some(text) => Some(
            text.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("build_number \"{text}\" must be a whole number")))?,
        ),
        None => None,
    };
    let snapshot = snapshot(state, key).await?;
    let is_companion = query.is_companion.as_deref() == Some("true");
    let plan_key = (
        raw_version.trim().to_owned(),
        non_empty(query.label).map(Cow::into_owned),
        non_empty(query.package_hash).map(Cow::into_owned),
        is_companion,
        build_number,
    );
    // A cached plan means this exact request was validated and answered before.
    let cached = match snapshot.cached_plan(&plan_key) {
        Some(cached) => cached,
        None => {
            let app_version = DeviceVersion::parse(&plan_key.0).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let update_query = UpdateQuery {
                app_version,
                label: plan_key.1.clone(),
                package_hash: plan_key.2.clone(),
                is_companion,
                build_number,
            };
            snapshot.store_plan(plan_key.clone(), |rules| plan_update(rules, &update_query))
        }
    };
    let client = query.client_unique_id.as_deref().filter(|c| !c.is_empty());
    let branch = cached.plan.branch_for(&snapshot.rules, client);
    Ok(cached.body(branch, format, || {
        let info = render(&snapshot, cached.plan.decision(branch), &plan_key.0, plan_key.2.as_deref());
        let json = match format {
            ResponseFormat::Current => serde_json::to_vec(&UpdateCheckResponse { update_info: info }),
            ResponseFormat::Legacy => serde_json::to_vec(&LegacyUpdateCheckResponse { update_info: (&info).into() }),
        };
        Bytes::from(json.unwrap_or_default())
    }))
}

/// The answer to a device running `device_version` and, if any, the package `running_hash`: the
/// diff from that package when the offered release has one (the `package_hash` stays the full
/// package's, which the device checks its folder against after applying the diff).
fn render(
    snapshot: &DeploymentSnapshot,
    decision: &UpdateDecision,
    device_version: &str,
    running_hash: Option<&str>,
) -> UpdateInfo {
    match decision {
        UpdateDecision::Available { release, is_mandatory } => {
            let (Some(rules), Some(offer)) = (snapshot.rules.get(*release), snapshot.offers.get(*release)) else {
                return UpdateInfo::default();
            };
            let (download_url, package_size) = offer.download_for(running_hash);
            UpdateInfo {
                download_url: download_url.to_owned(),
                description: offer.description.clone(),
                is_available: true,
                is_mandatory: *is_mandatory,
                app_version: device_version.to_owned(),
                package_hash: rules.package_hash.clone(),
                label: rules.label.clone(),
                package_size,
                update_app_version: false,
                should_run_binary_version: false,
                target_binary_range: device_version.to_owned(),
            }
        }
        UpdateDecision::NoUpdate { should_run_binary_version, update_app_version, target_range } => {
            let range = target_range.clone().unwrap_or_default();
            UpdateInfo {
                update_app_version: *update_app_version,
                should_run_binary_version: *should_run_binary_version,
                app_version: range.clone(),
                target_binary_range: range,
                ..UpdateInfo::default()
            }
        }
    }
}

fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The answer to an update check with the query string `raw_query`, in `format`; also what
/// [`super::fast_path`] answers with, so a check is answered the same whichever way it came.
pub(super) async fn update_check_answer(
    state: &ServerState,
    raw_query: Option<&str>,
    format: ResponseFormat,
) -> Response {
    state.metrics.update_checks.inc();
    match check(state, raw_query, format).await {
        Ok(body) => json_response(body),
        Err(error) => error.into_response(),
    }
}

/// `GET /v0.1/public/codepush/update_check` → `{"update_info": …}`.
pub async fn update_check(State(state): State<ServerState>, RawQuery(query): RawQuery) -> Response {
    update_check_answer(&state, query.as_deref(), ResponseFormat::Current).await
}

/// `GET /updateCheck` → `{"updateInfo": …}` with camelCase keys.
pub async fn legacy_update_check(State(state): State<ServerState>, RawQuery(query): RawQuery) -> Response {
    update_check_answer(&state, query.as_deref(), ResponseFormat::Legacy).await
}

/// The address a report counts against (see [`ServerState::client_address`]), then the report
/// itself once that address is within its rate: read from the request without copying its headers.
async fn admitted_report<T: serde::de::DeserializeOwned>(
    state: &ServerState,
    peer: SocketAddr,
    request: Request,
) -> Result<(std::net::IpAddr, T), ApiError> {
    let address = state.client_address(peer, request.headers());
    throttle(&state.report_limiter, address)?;
    let body = super::body::read_json_body(request).await?;
    let report = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("The status report is not valid JSON: {e}")))?;
    Ok((address, report))
}

fn counted(state: &ServerState, outcome: ReportOutcome, key: &str, label: Option<&str>) -> Result<Response, ApiError> {
    match outcome {
        ReportOutcome::CountedAndHalted => {
            state.cache.invalidate();
            tracing::warn!(deployment_key = %key, "health gate halted a release");
            Ok((StatusCode::OK, "OK").into_response())
        }
        // Unverified reports are accepted too: a device must not retry them for ever.
        ReportOutcome::Counted | ReportOutcome::AlreadyCounted | ReportOutcome::Unverified => {
            Ok((StatusCode::OK, "OK").into_response())
        }
        ReportOutcome::UnknownDeployment => Err(ApiError::NotFound(format!("Deployment key \"{key}\" was not found."))),
        ReportOutcome::UnknownLabel => Err(ApiError::NotFound(format!(
            "Label \"{}\" was not found in this deployment.",
            label.unwrap_or_default()
        ))),
    }
}

/// 429 with `Retry-After` when `address` has spent its burst.
fn throttle(limiter: &crate::server::limits::RateLimiter, address: std::net::IpAddr) -> Result<(), ApiError> {
    limiter.check(address).map_err(|wait| ApiError::TooManyRequests(wait.as_secs().max(1)))
}

/// A device-sent string, empty and placeholder values dropped, length checked.
fn device_field(name: &'static str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let value = non_empty(value);
    if let Some(text) = &value {
        validate::device_field(name, text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    Ok(value)
}

/// `POST …/report_status/deploy`. Never requires the SDK-version header.
pub async fn report_deploy(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    state.metrics.status_reports.get_or_create(&KindLabels { kind: "deploy" }).inc();
    let (address, report): (_, DeployReport) = admitted_report(&state, peer, request).await?;
    let key = deployment_key(report.deployment_key.as_deref())?.to_owned();
    let app_version = device_field("app_version", report.app_version)?
        .ok_or_else(|| ApiError::BadRequest("An app version must be specified (app_version).".into()))?;
    let label = device_field("label", report.label)?;
    let status = device_field("status", report.status)?;
    if label.is_some() && status.is_none() {
        return Err(ApiError::BadRequest("A status must be specified when a label is reported.".into()));
    }
    if let Some(status) = &status
        && ![status::DEPLOYMENT_SUCCEEDED, status::DEPLOYMENT_FAILED, status::DOWNLOADED].contains(&status.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "Invalid status \"{status}\": expected DeploymentSucceeded, DeploymentFailed or Downloaded."
        )));
    }
    let client = device_field("client_unique_id", report.client_unique_id)?;
    let previous = device_field("previous_label_or_app_version", report.previous_label_or_app_version)?;
    let previous_key = device_field("previous_deployment_key", report.previous_deployment_key)?;
    let prefix = crate::domain::network::prefix(address);
    if let (Some(label), Some(status::DOWNLOADED)) = (&label, status.as_deref()) {
        let (key2, label2) = (key.clone(), label.clone());
        let outcome = state
            .store
            .run_batched(move |c| metrics::record_download(c, &key2, &label2, client.as_deref(), &prefix))
            .await?;
        return counted(&state, outcome, &key, Some(label));
    }
    let failed = status.as_deref() == Some(status::DEPLOYMENT_FAILED) && label.is_some();
    let (key2, label2) = (key.clone(), label.clone());
    let outcome = state
        .store
        .run_batched(move |c| {
            let event = DeployEvent {
                deployment_key: &key2,
                client_unique_id: client.as_deref(),
                subject: label2.as_deref().unwrap_or(&app_version),
                is_label: label2.is_some(),
                failed,
                previous: previous.as_deref(),
                previous_deployment_key: previous_key.as_deref(),
                prefix: &prefix,
            };
            metrics::record_deploy(c, &event)
        })
        .await?;
    counted(&state, outcome, &key, label.as_deref())
}

/// `POST …/report_status/download`.
pub async fn report_download(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    state.metrics.status_reports.get_or_create(&KindLabels { kind: "download" }).inc();
    let (address, report): (_, DownloadReport) = admitted_report(&state, peer, request).await?;
    let key = deployment_key(report.deployment_key.as_deref())?.to_owned();
    let label = device_field("label", report.label)?
        .ok_or_else(|| ApiError::BadRequest("A label must be specified in a download report.".into()))?;
    let client = device_field("client_unique_id", report.client_unique_id)?;
    let prefix = crate::domain::network::prefix(address);
    let (key2, label2) = (key.clone(), label.clone());
    let outcome = state
        .store
        .run_batched(move |c| metrics::record_download(c, &key2, &label2, client.as_deref(), &prefix))
        .await?;
    counted(&state, outcome, &key, Some(&label))
}

/// `GET /blobs/{sha256}`: the package bytes, un-chunked with an exact `Content-Length`, no auth;
/// `Range` resumes an interrupted download, `If-None-Match` with the ETag (the content hash) answers
/// 304.
pub async fn download(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    throttle(&state.download_limiter, state.client_address(peer, &headers))?;
    blob_response(&state, &sha256, &headers).await
}

/// A stored package file as a streamed, immutable download: whole (200), one byte range (206, or
/// 416 outside the file), or not modified (304) when the client already has this content.
///
/// # Errors
/// 404 for an unknown blob; 503 when the file or bucket cannot be read now.
pub(crate) async fn blob_response(
    state: &ServerState,
    sha256: &str,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("No package with that hash.".into());
    let etag = format!("\"{sha256}\"");
    let header_text = |name| request.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let cached = header_text(header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.split(',').map(|tag| tag.trim().trim_start_matches("W/")).any(|tag| tag == etag || tag == "*")
    });
    // A range applies only if the client's copy is this content (`If-Range` names the ETag).
    let range_header =
        header_text(header::RANGE).filter(|_| header_text(header::IF_RANGE).is_none_or(|tag| tag.trim() == etag));
    // The part asked for, with the blob's size; `None` for the whole blob.
    let part = if cached || range_header.is_some() {
        let size = state.blobs.size_of(sha256).await?.ok_or_else(not_found)?;
        if cached {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            immutable_headers(response.headers_mut(), &etag);
            return Ok(response);
        }
        match byte_range::parse(range_header, size) {
            RangeRequest::Whole => None,
            RangeRequest::Part(range) => Some((range, size)),
            RangeRequest::Unsatisfiable => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                let unsatisfied =
                    HeaderValue::from_str(&format!("bytes */{size}")).map_err(|e| ApiError::Internal(e.to_string()))?;
                response.headers_mut().insert(header::CONTENT_RANGE, unsatisfied);
                return Ok(response);
            }
        }
    } else {
        None
    };
    let blob =
        state.blobs.open_blob(sha256, part.as_ref().map(|(range, _)| range.clone())).await?.ok_or_else(not_found)?;
    let status = if part.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut response = (status, Body::from_stream(blob.stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.length));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Some((range, size)) = part {
        let content_range = format!("bytes {}-{}/{size}", range.start(), range.end());
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&content_range).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
    }
    immutable_headers(headers, &etag);
    Ok(response)
}

/// What every answer for a blob says: its ETag, that ranges work, and that it never changes.
fn immutable_headers(headers: &mut HeaderMap, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
}

#[cfg(test)]
mod tests {
    use super::{DeviceQuery, parse_update_query};

    /// What a form decoder makes of `raw`, in the fields the update check reads.
    fn decoded_as_a_form(raw: &str) -> DeviceQuery<'static> {
        let mut query = DeviceQuery::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            query.set(&key, value.into_owned().into());
        }
        query
    }

    #[test]
    fn the_query_reads_as_a_form_decoder_reads_it() {
        let queries = [
            "deployment_key=abc&app_version=1.0.0&client_unique_id=client-7",
            "deploymentKey=abc&appVersion=1.0.0&clientUniqueId=c&packageHash=ff&label=v3&isCompanion=true",
            "deployment_key=first&deployment_key=last",
            "app_version=1.0.0+beta&label=v%331&client_unique_id=%E2%9C%93",
            "&&deployment_key=&app_version&=orphan&build_number=42&",
            "deployment%5Fkey=encoded-name&app_version=%zz",
            "",
        ];
        for raw in queries {
            assert_eq!(parse_update_query(Some(raw)), decoded_as_a_form(raw), "{raw}");
        }
        assert_eq!(parse_update_query(None), DeviceQuery::default());
    }

    #[test]
    fn plain_values_are_borrowed_and_encoded_ones_decoded() {
        let query = parse_update_query(Some("deployment_key=abc&label=v%331&app_version=1+2"));
        assert!(matches!(query.deployment_key, Some(std::borrow::Cow::Borrowed("abc"))));
        assert_eq!(query.label.as_deref(), Some("v31"));
        assert_eq!(query.app_version.as_deref(), Some("1 2"));
    }
}
