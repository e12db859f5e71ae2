//! Pass-through to the upstream Mendix runtime: method, path, query, headers (without hop-by-hop
//! ones), cookies and status codes unchanged, bodies streamed both ways, and `X-Forwarded-For`,
//! `-Proto` and `-Host` added.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{Gateway, is_https, text};
use crate::server::store::mendix::ChannelRow;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus `Host`, which
/// the upstream URL decides.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Copies end-to-end headers: drops hop-by-hop ones and those the `Connection` header names.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut copied = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.as_str();
        if !HOP_BY_HOP.contains(&lower) && !named.iter().any(|n| n == lower) {
            copied.append(name.clone(), value.clone());
        }
    }
    copied
}

/// Forwards `request` to the channel's runtime and streams the answer back. An unreachable runtime
/// is a 502 naming it.
pub async fn forward(gateway: &Gateway, channel: &ChannelRow, peer: SocketAddr, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{}", channel.upstream, path_and_query.trim_start_matches('/'));
    let mut headers = end_to_end(&parts.headers);
    let forwarded_for = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(chain) => format!("{chain}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let proto = if is_https(gateway, &parts.headers) { "https" } else { "http" };
    let host = parts.headers.get(header::HOST).cloned();
    for (name, value) in [
        ("x-forwarded-for", HeaderValue::from_str(&forwarded_for).ok()),
        ("x-forwarded-proto", Some(HeaderValue::from_static(proto))),
        ("x-forwarded-host", host),
    ] {
        if let Some(value) = value {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let upstream = gateway
        .upstream
        .request(parts.method, &url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    let upstream = match upstream {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, upstream = %channel.upstream, "the Mendix runtime cannot be reached");
            return text(
                StatusCode::BAD_GATEWAY,
                format!("The Mendix runtime behind this gateway ({}) cannot be reached.", channel.upstream),
            );
        }
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = upstream.status();
    *response.headers_mut() = end_to_end(upstream.headers());
    *response.body_mut() = Body::from_stream(upstream.bytes_stream());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_stay_behind() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::COOKIE, HeaderValue::from_static("session=abc"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        let copied = end_to_end(&headers);
        assert_eq!(copied.get(header::COOKIE).map(HeaderValue::as_bytes), Some(&b"session=abc"[..]));
        assert_eq!(copied.get_all(header::SET_COOKIE).iter().count(), 2, "repeated headers stay repeated");
        for gone in ["connection", "x-private", "transfer-encoding"] {
            assert!(!copied.contains_key(gone), "{gone}");
        }
    }
}
