//! How every otadeck HTTP client connects, and what a failed connection is called.
//!
//! One [`Transport`] builds the `reqwest` client of the management client, the device client, the
//! virtual devices, the CLI, `simulate` and the desktop app:
//! - TLS is rustls with the operating system's trust store (rustls-platform-verifier, which honours
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR` on Linux), plus an optional extra CA for private PKI
//!   (`--ca-cert`, `OTADECK_CA_CERT`, a desktop profile's CA file);
//! - proxies come from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`;
//! - API calls have a connect and a total timeout; uploads and downloads have an idle-read timeout
//!   instead of a total one, so a slow but moving transfer is never cut off.
//!
//! [`NetworkError`] names why a request failed (untrusted certificate and for which host, host name
//! mismatch, timeout after N s, refused, proxy) so the CLI and the app can say it plainly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::{ClientError, ClientResult};

/// `OTADECK_CA_CERT`: a PEM file with extra CA certificates every client trusts.
pub const CA_CERT_ENV: &str = "OTADECK_CA_CERT";

/// Connection settings shared by all clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// PEM file of CA certificates trusted in addition to the system's.
    pub extra_ca: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Total time of one API call (request and answer).
    pub request_timeout: Duration,
    /// Longest pause between two reads of an upload's or a download's answer.
    pub idle_timeout: Duration,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            extra_ca: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Which time limit a request runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// An API call: the whole exchange within `request_timeout`.
    Request,
    /// An upload or download: only `idle_timeout` between reads.
    Transfer,
}

impl Transport {
    /// Defaults, with the extra CA from `OTADECK_CA_CERT` when it is set.
    #[must_use]
    pub fn from_env() -> Self {
        let extra_ca = std::env::var_os(CA_CERT_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self { extra_ca, ..Self::default() }
    }

    /// Uses `ca` as the extra CA when it is given (a flag overrides the environment).
    #[must_use]
    pub fn with_extra_ca(mut self, ca: Option<PathBuf>) -> Self {
        if ca.is_some() {
            self.extra_ca = ca;
        }
        self
    }

    /// Builds a client with these settings and `headers` on every request.
    ///
    /// # Errors
    /// [`ClientError::CaCert`] for an unreadable or invalid CA file; [`ClientError::Setup`] if the
    /// TLS stack cannot be set up.
    pub(crate) fn build(&self, headers: HeaderMap) -> ClientResult<reqwest::Client> {
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.idle_timeout)
            .tls_backend_rustls();
        if let Some(path) = &self.extra_ca {
            builder = builder.tls_certs_merge(read_ca_file(path)?);
        }
        builder.build().map_err(|e| ClientError::Setup(e.to_string()))
    }

    /// Applies the time limit of `limit` to a request.
    pub(crate) fn limit(&self, request: reqwest::RequestBuilder, limit: Limit) -> reqwest::RequestBuilder {
        match limit {
            Limit::Request => request.timeout(self.request_timeout),
            Limit::Transfer => request,
        }
    }

    /// Names why `error` happened, with the limit that was in force.
    #[must_use]
    pub(crate) fn classify(&self, error: &reqwest::Error, limit: Limit) -> NetworkError {
        let host = error
            .url()
            .map(|url| match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_owned(),
                _ => url.to_string(),
            })
            .unwrap_or_else(|| "the server".to_owned());
        if let Some(tls) = find_rustls_error(error) {
            return tls_failure(host, tls);
        }
        if error.is_timeout() {
            let after = if error.is_connect() {
                self.connect_timeout
            } else {
                match limit {
                    Limit::Request => self.request_timeout,
                    Limit::Transfer => self.idle_timeout,
                }
            };
            return NetworkError::TimedOut { host, seconds: after.as_secs_f64() };
        }
        let detail = chain_text(error);
        if let Some(proxy) = error.url().and_then(env_proxy_for).filter(|_| error.is_connect()) {
            return NetworkError::Proxy { proxy, detail };
        }
        if detail.contains("proxy") || detail.contains("tunnel") {
            return NetworkError::Proxy { proxy: "the proxy".into(), detail };
        }
        if find_io_kind(error) == Some(std::io::ErrorKind::ConnectionRefused) {
            return NetworkError::Refused { host };
        }
        NetworkError::Other { host, detail }
    }
}

/// Why a request did not get an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetworkError {
    #[error("the certificate of {host} is not trusted (for a private CA pass --ca-cert FILE or set OTADECK_CA_CERT)")]
    CertificateNotTrusted { host: String },
    #[error("the certificate of {host} is not valid for that host name")]
    HostNameMismatch { host: String },
    #[error("the certificate of {host} has expired or is not yet valid")]
    CertificateExpired { host: String },
    #[error("TLS with {host} failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("{host} did not answer: timed out after {seconds} s")]
    TimedOut { host: String, seconds: f64 },
    #[error("{host} refused the connection")]
    Refused { host: String },
    #[error("proxy error: {proxy} failed: {detail}")]
    Proxy { proxy: String, detail: String },
    #[error("{host}: {detail}")]
    Other { host: String, detail: String },
}

/// The proxy the environment sets for `url` (`HTTPS_PROXY` / `HTTP_PROXY`, then `ALL_PROXY`, any
/// case), unless `NO_PROXY` lists its host (exactly, as a domain suffix, or `*`), as reqwest applies it.
fn env_proxy_for(url: &reqwest::Url) -> Option<String> {
    let var = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
    let scheme_proxy = match url.scheme() {
        "https" => var(&["HTTPS_PROXY", "https_proxy"]),
        _ => var(&["HTTP_PROXY", "http_proxy"]),
    };
    let proxy = scheme_proxy.or_else(|| var(&["ALL_PROXY", "all_proxy"]))?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']');
    let no_proxy = var(&["NO_PROXY", "no_proxy"]).unwrap_or_default();
    let bypassed = no_proxy
        .split(',')
        .map(|entry| entry.trim().trim_start_matches('.'))
        .any(|entry| entry == "*" || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}")))));
    (!bypassed).then_some(proxy)
}

fn read_ca_file(path: &Path) -> ClientResult<Vec<reqwest::Certificate>> {
    let invalid = |reason: String| ClientError::CaCert { path: path.to_path_buf(), reason };
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

fn tls_failure(host: String, error: &rustls::Error) -> NetworkError {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            NetworkError::CertificateNotTrusted { host }
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            NetworkError::HostNameMismatch { host }
        }
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => NetworkError::CertificateExpired { host },
        rustls::Error::InvalidCertificate(C::Other(other)) if other.to_string().contains("UnknownIssuer") => {
            NetworkError::CertificateNotTrusted { host }
        }
        other => NetworkError::Tls { host, detail: other.to_string() },
    }
}

/// Every error in the chain. `std::io::Error::source()` skips the error it wraps (and TLS errors come
/// wrapped twice), so wrapped errors are descended into explicitly.
fn chain<'a>(error: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        out.push(current);
        next = match current.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    out
}

fn find_rustls_error(error: &reqwest::Error) -> Option<&rustls::Error> {
    chain(error).into_iter().find_map(|e| e.downcast_ref::<rustls::Error>())
}

fn find_io_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    chain(error).into_iter().find_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
}

fn chain_text(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain(error) {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_overrides_the_environment_and_absence_keeps_it() {
        let base = Transport { extra_ca: Some(PathBuf::from("/env/ca.pem")), ..Transport::default() };
        assert_eq!(base.clone().with_extra_ca(None).extra_ca, Some(PathBuf::from("/env/ca.pem")));
        assert_eq!(base.with_extra_ca(Some(PathBuf::from("/flag.pem"))).extra_ca, Some(PathBuf::from("/flag.pem")));
    }

    #[test]
    fn certificate_errors_get_their_own_names() {
        let host = || "ota.example.com".to_owned();
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(matches!(tls_failure(host(), &unknown), NetworkError::CertificateNotTrusted { .. }));
        let name = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert!(matches!(tls_failure(host(), &name), NetworkError::HostNameMismatch { .. }));
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(matches!(tls_failure(host(), &expired), NetworkError::CertificateExpired { .. }));
        let text = NetworkError::CertificateNotTrusted { host: host() }.to_string();
        assert!(text.contains("ota.example.com") && text.contains("not trusted"), "{text}");
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = Transport { extra_ca: Some(dir.path().join("nope.pem")), ..Transport::default() };
        let error = missing.build(HeaderMap::new()).expect_err("missing file");
        assert!(error.to_string().contains("nope.pem"), "{error}");
        std::fs::write(dir.path().join("empty.pem"), "not a certificate").expect("write");
        let empty = Transport { extra_ca: Some(dir.path().join("empty.pem")), ..Transport::default() };
        let error = empty.build(HeaderMap::new()).expect_err("no certificate");
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
    }
}
