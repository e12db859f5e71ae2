//! otadeck's side of Mendix runtime OTA: the answer to `get_ota_info` (which release this device
//! runs, by the rules in [`crate::domain::mendix`]), the device cookie that makes rollouts sticky,
//! and the bundle downloads.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

use super::{BUNDLE_PREFIX, Gateway, is_https, text};
use crate::api::mendix::{OtaInfoParams, OtaInfoResponse};
use crate::domain::mendix::{DeviceNative, MendixDevice, MendixRelease, choose};
use crate::server::store::mendix::{self, ChannelRow};
use crate::server::store::releases;

/// The gateway's device cookie.
pub const DEVICE_COOKIE: &str = "otadeck_device";
/// Ten years: the cookie outlives any store release cycle.
const COOKIE_MAX_AGE_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;
/// The path segment standing for "no device cookie" in bundle paths.
const ANONYMOUS: &str = mendix::ANONYMOUS_DEVICE;

/// The device cookie's value, if the request carries a well-formed one.
fn device_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == DEVICE_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// How a device is stored and named in bundle paths: a hash of its cookie (the cookie itself
/// never appears in a URL or a log).
fn device_key(cookie: &str) -> String {
    crate::domain::package::sha256_hex(cookie.as_bytes())[..24].to_owned()
}

fn new_cookie() -> String {
    let mut bytes = [0_u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn native_of(params: &OtaInfoParams) -> DeviceNative {
    let native_binary_version = params.native_binary_version.as_ref().and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    DeviceNative { native_binary_version, native_dependencies: params.native_dependencies.clone().unwrap_or_default() }
}

/// How a binary version is counted and recorded (`unknown` when the device sent none).
fn version_label(native: &DeviceNative) -> String {
    native.native_binary_version.map_or_else(|| "unknown".to_owned(), |v| v.to_string())
}

/// Answers `get_ota_info` for one device.
pub async fn answer(gateway: &Gateway, channel: &ChannelRow, headers: &HeaderMap, params: OtaInfoParams) -> Response {
    let platform = params.platform.clone().unwrap_or_default();
    let Some(deployment_id) = channel.deployment_for(&platform) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("get_ota_info: unknown platform \"{platform}\" (android or ios)"),
        );
    };
    let cookie = device_cookie(headers);
    let cookie_sent = cookie.is_some();
    let device = cookie.as_deref().map(device_key);
    let native = native_of(&params);
    let binary_version = version_label(&native);
    let chosen = gateway
        .server
        .store
        .run(move |c| {
            let history = releases::history(c, deployment_id)?;
            let current = match &device {
                Some(device) => mendix::current_label(c, deployment_id, device)?,
                None => None,
            };
            let current = current.map(crate::domain::validate::label_for);
            let candidates: Vec<MendixRelease> = history
                .iter()
                .filter(|r| r.mendix.is_some())
                .map(|r| MendixRelease {
                    label: r.label(),
                    rollout: r.rollout,
                    is_disabled: r.is_disabled,
                    is_paused: r.is_paused,
                    needs: r.mendix.as_ref().map(|m| m.needs.clone()).unwrap_or_default(),
                })
                .collect();
            let asking = MendixDevice { cookie: cookie.as_deref(), current_label: current.as_deref(), native };
            let chosen = choose(&candidates, &asking);
            let stored = chosen.and_then(|m| history.iter().find(|r| r.label() == m.label));
            let label_number = stored.map(|r| r.label_number);
            let picked = chosen.zip(stored.and_then(|r| r.mendix.clone())).map(|(m, bundle)| {
                let verdicts = m.needs.verdicts(&asking.native);
                (bundle, verdicts)
            });
            if let Some(device) = &device {
                mendix::record_device(c, deployment_id, device, label_number)?;
            }
            Ok((picked, device))
        })
        .await;
    gateway.checks.count(deployment_id, binary_version, cookie_sent);
    let (picked, device) = match chosen {
        Ok(chosen) => chosen,
        Err(error) => {
            return text(StatusCode::SERVICE_UNAVAILABLE, format!("The gateway cannot read its releases: {error}"));
        }
    };
    let body = match picked {
        Some((bundle, (dependencies, binary))) => {
            let device = device.as_deref().unwrap_or(ANONYMOUS);
            OtaInfoResponse {
                ota_enabled: true,
                bundle_path: Some(format!(
                    "{}{}/{device}/{}.zip",
                    BUNDLE_PREFIX.trim_start_matches('/'),
                    bundle.token,
                    bundle.deployment_id
                )),
                deployment_id: Some(bundle.deployment_id),
                satisfies_native_dependencies: dependencies,
                satisfies_native_binary_version: binary,
            }
        }
        None => OtaInfoResponse {
            ota_enabled: false,
            deployment_id: None,
            bundle_path: None,
            satisfies_native_dependencies: false,
            satisfies_native_binary_version: false,
        },
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json).into_response();
    if !cookie_sent {
        let secure = if is_https(gateway, headers) { "; Secure" } else { "" };
        let cookie = format!(
            "{DEVICE_COOKIE}={}; Max-Age={COOKIE_MAX_AGE_SECONDS}; Path=/; HttpOnly; SameSite=Lax{secure}",
            new_cookie()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Observe mode: records what the runtime answered to a check and hands the answer on unchanged.
pub async fn observe(gateway: &Gateway, channel: &ChannelRow, params: &OtaInfoParams, answer: Response) -> Response {
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::INSPECT_LIMIT).await else {
        return text(StatusCode::BAD_GATEWAY, "The runtime's answer to get_ota_info could not be read.".into());
    };
    if parts.status == StatusCode::OK
        && let Ok(seen) = serde_json::from_slice::<OtaInfoResponse>(&bytes)
    {
        let platform = params.platform.clone().unwrap_or_default();
        let version = version_label(&native_of(params));
        let channel_id = channel.id;
        let recorded = gateway
            .server
            .store
            .run(move |c| mendix::record_observation(c, channel_id, &platform, &version, &seen))
            .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, "cannot record an observed OTA answer");
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// `GET /otadeck/b/<token>/<device>/<deploymentID>.zip`: the release's zip; counts the download.
pub async fn bundle(gateway: &Gateway, channel: &ChannelRow, path: &str, network: String) -> Response {
    let not_found = || text(StatusCode::NOT_FOUND, "No such bundle.".into());
    let mut segments = path.trim_start_matches(BUNDLE_PREFIX).split('/');
    let (Some(token), Some(device), Some(_file), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return not_found();
    };
    let (token, device) = (token.to_owned(), device.to_owned());
    let lookup = channel.clone();
    let found = gateway
        .server
        .store
        .run(move |c| {
            let Some((deployment_id, label_number, blob)) = mendix::release_by_token(c, &lookup, &token)? else {
                return Ok(None);
            };
            let well_formed =
                device == ANONYMOUS || (device.len() == 24 && device.bytes().all(|b| b.is_ascii_hexdigit()));
            let halted = well_formed && mendix::record_download(c, deployment_id, &device, label_number, &network)?;
            if halted {
                tracing::warn!(label_number, "the health gate halted a Mendix release (inferred failures)");
            }
            Ok(Some(blob))
        })
        .await;
    match found {
        Ok(Some(blob)) => crate::server::routes::blob_response(&gateway.server, &blob, &axum::http::HeaderMap::new())
            .await
            .unwrap_or_else(axum::response::IntoResponse::into_response),
        Ok(None) => not_found(),
        Err(error) => text(StatusCode::SERVICE_UNAVAILABLE, format!("The gateway cannot read its releases: {error}")),
    }
}
