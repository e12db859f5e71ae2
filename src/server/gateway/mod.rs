//! The Mendix runtime OTA gateway (`--gateway-listen`): it stands at the app's runtime URL, in
//! front of the real Mendix runtime. Requests are routed by `Host` to a Mendix channel. otadeck
//! answers the OTA check (`POST /xas/` with `"action":"get_ota_info"`) and serves its bundle zips
//! under `/otadeck/b/`; everything else streams through to the runtime unchanged (`proxy`).

pub mod checks;
mod ota;
mod proxy;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures_util::StreamExt as _;

use super::ServerState;
use super::store::mendix::{self, ChannelRow};
use crate::api::mendix::{ChannelMode, GET_OTA_INFO, XasRequest};

/// `POST /xas/` bodies up to this size are read to look for the OTA check; larger ones (for
/// example `synchronize_objects`) stream through untouched.
pub const INSPECT_LIMIT: usize = 64 * 1024;

/// The path prefix of otadeck's bundle downloads on the gateway.
pub const BUNDLE_PREFIX: &str = "/otadeck/b/";

/// The gateway's state: the server's, and one HTTP client for the upstream runtimes.
#[derive(Clone)]
pub struct Gateway {
    server: ServerState,
    upstream: reqwest::Client,
    checks: checks::CheckCounter,
}

/// Builds the gateway router.
///
/// # Errors
/// When the upstream HTTP client cannot be set up (TLS).
pub fn router(server: ServerState, checks: checks::CheckCounter) -> Result<Router, reqwest::Error> {
    let upstream = upstream_client()?;
    Ok(Router::new().fallback(handle).with_state(Gateway { server, upstream, checks }))
}

/// The HTTP client for upstream runtimes: no redirects followed (the runtime's answer goes back
/// as it is), no proxy from the environment, long reads for slow synchronisations.
///
/// # Errors
/// When TLS cannot be set up.
pub fn upstream_client() -> Result<reqwest::Client, reqwest::Error> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(300))
        .build()
}

/// Asks a runtime which bundle it serves to `platform` (as a binary of `native_binary_version`)
/// and starts downloading it: returns the advertised deployment ID and the download's answer.
///
/// # Errors
/// 502 when the runtime cannot be reached or answers badly; 409 when it serves no bundle.
pub async fn runtime_bundle(
    client: &reqwest::Client,
    upstream: &str,
    platform: &str,
    native_binary_version: u32,
) -> Result<(String, reqwest::Response), super::error::ApiError> {
    use super::error::ApiError;
    let unreachable =
        |e: reqwest::Error| ApiError::Unavailable(format!("The Mendix runtime at {upstream} cannot be reached: {e}"));
    let check = serde_json::json!({"action": GET_OTA_INFO,
        "params": {"platform": platform, "nativeDependencies": {}, "nativeBinaryVersion": native_binary_version}});
    let answer = client.post(format!("{upstream}xas/")).json(&check).send().await.map_err(unreachable)?;
    if answer.status() != StatusCode::OK {
        return Err(ApiError::Unavailable(format!("The runtime answered get_ota_info with {}.", answer.status())));
    }
    let answer: crate::api::mendix::OtaInfoResponse = answer
        .json()
        .await
        .map_err(|e| ApiError::Unavailable(format!("The runtime's answer to get_ota_info is not valid: {e}")))?;
    let (true, Some(id), Some(path)) = (answer.ota_enabled, answer.deployment_id, answer.bundle_path) else {
        return Err(ApiError::Conflict(format!(
            "The runtime serves no OTA bundle to {platform} devices (otaEnabled is off)."
        )));
    };
    let download =
        client.get(format!("{upstream}{}", path.trim_start_matches('/'))).send().await.map_err(unreachable)?;
    if !download.status().is_success() {
        return Err(ApiError::Unavailable(format!(
            "The runtime answered the bundle download with {}.",
            download.status()
        )));
    }
    Ok((id, download))
}

/// The `Host` a request was sent to, lower case, without port.
fn host_of(request: &Request) -> Option<String> {
    let raw = request.headers().get(header::HOST).and_then(|v| v.to_str().ok()).or_else(|| request.uri().host())?;
    let authority = raw.parse::<axum::http::uri::Authority>().ok()?;
    Some(authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase())
}

fn text(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
}

async fn handle(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let Some(host) = host_of(&request) else {
        return text(StatusCode::BAD_REQUEST, "The request names no host.".into());
    };
    let lookup = host.clone();
    let channel = match gateway.server.store.run(move |c| mendix::channel_for_host(c, &lookup)).await {
        Ok(Some(channel)) => channel,
        Ok(None) => return text(StatusCode::NOT_FOUND, format!("No Mendix channel answers for host \"{host}\".")),
        Err(error) => {
            return text(StatusCode::SERVICE_UNAVAILABLE, format!("The gateway cannot read its channels: {error}"));
        }
    };
    let path = request.uri().path();
    if request.method() == Method::GET && path.starts_with(BUNDLE_PREFIX) {
        let address = gateway.server.client_address(peer, request.headers());
        // Bundle downloads share the API's per-address download budget.
        if let Err(wait) = gateway.server.download_limiter.check(address) {
            return super::error::ApiError::TooManyRequests(wait.as_secs().max(1)).into_response();
        }
        return ota::bundle(&gateway, &channel, path, crate::domain::network::prefix(address)).await;
    }
    if request.method() == Method::POST && (path == "/xas/" || path == "/xas") {
        return inspect_xas(&gateway, &channel, peer, request).await;
    }
    proxy::forward(&gateway, &channel, peer, request).await
}

/// Reads a small `/xas/` body to find the OTA check; anything else, or anything large, goes to the
/// runtime with its body intact.
async fn inspect_xas(gateway: &Gateway, channel: &ChannelRow, peer: SocketAddr, request: Request) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > INSPECT_LIMIT) {
        return proxy::forward(gateway, channel, peer, request).await;
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut buffered = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return text(StatusCode::BAD_REQUEST, "The request body could not be read.".into());
        };
        buffered.extend_from_slice(&chunk);
        if buffered.len() > INSPECT_LIMIT {
            // Too large to be the check: send what was read, then the rest as it arrives.
            let prefix = futures_util::stream::once(std::future::ready(Ok::<_, axum::Error>(buffered.freeze())));
            let body = Body::from_stream(prefix.chain(stream));
            return proxy::forward(gateway, channel, peer, Request::from_parts(parts, body)).await;
        }
    }
    let bytes = buffered.freeze();
    let check = serde_json::from_slice::<XasRequest>(&bytes)
        .ok()
        .filter(|xas| xas.action.as_deref() == Some(GET_OTA_INFO))
        .and_then(|xas| xas.params);
    match check {
        Some(params) if channel.mode == ChannelMode::Serve => {
            ota::answer(gateway, channel, &parts.headers, params).await
        }
        Some(params) => {
            let answer = proxy::forward(gateway, channel, peer, Request::from_parts(parts, Body::from(bytes))).await;
            ota::observe(gateway, channel, &params, answer).await
        }
        None => proxy::forward(gateway, channel, peer, Request::from_parts(parts, Body::from(bytes))).await,
    }
}

/// Whether the client reached the gateway over HTTPS (directly, or per a trusted proxy).
fn is_https(gateway: &Gateway, headers: &HeaderMap) -> bool {
    gateway.server.listening.tls.is_some()
        || (gateway.server.trust_forwarded_for
            && headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https"))
}
