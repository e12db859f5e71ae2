//! What an operator sees of a running server: a request id on every request and answer
//! (`x-request-id`), an access log line per request (target `otadeck::access`, never with the query
//! string or any header, so no key reaches the log), Prometheus metrics at `/metrics`, and the
//! `/health` (liveness) and `/ready` (database and blob store reachable) probes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tower_http::request_id::{MakeRequestId, RequestId};

use super::ServerState;

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// Labels naming a kind (report kind, upload outcome).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

/// The server's Prometheus metrics.
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    /// Update checks answered (both path families).
    pub update_checks: Counter,
    /// Status reports received, by kind (`deploy`, `download`).
    pub status_reports: Family<KindLabels, Counter>,
    /// Release uploads, by outcome (`stored`, `refused`).
    pub uploads: Family<KindLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
}

impl ServerMetrics {
    /// Registers every metric; `database_seconds` is the store's histogram of query time.
    #[must_use]
    pub fn new(database_seconds: Histogram) -> Self {
        let mut registry = Registry::with_prefix("otadeck");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by method and route",
            latency.clone(),
        );
        let update_checks = Counter::default();
        registry.register("update_checks", "Update checks answered", update_checks.clone());
        let status_reports = Family::<KindLabels, Counter>::default();
        registry.register("status_reports", "Device status reports received", status_reports.clone());
        let uploads = Family::<KindLabels, Counter>::default();
        registry.register("uploads", "Release uploads by outcome", uploads.clone());
        registry.register("database_seconds", "Time spent in database work", database_seconds);
        Self { registry, requests, latency, update_checks, status_reports, uploads }
    }

    /// The metrics in the Prometheus/OpenMetrics text format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }

    fn record(&self, method: &str, route: String, status: u16, elapsed: Duration) {
        // One allocation per label on the request path: the latency labels move into the counter's.
        let labels = RouteLabels { method: method.to_owned(), route };
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method: labels.method, route: labels.route, status }).inc();
    }
}

/// Middleware: counts each request and its latency under its route template (never the raw path,
/// which would make one series per app name or blob).
pub async fn track(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let response = next.run(request).await;
    state.metrics.record(method.as_str(), route, response.status().as_u16(), started.elapsed());
    response
}

/// Request ids `<process prefix>-<sequence>`: unique per process run, cheap, and sortable.
#[derive(Clone)]
pub struct SequentialRequestIds {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl Default for SequentialRequestIds {
    fn default() -> Self {
        Self { prefix: rand::random(), next: Arc::new(AtomicU64::new(1)) }
    }
}

impl MakeRequestId for SequentialRequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{sequence}", self.prefix)).ok().map(RequestId::new)
    }
}

/// The access-log span of a request: id, method and path (no query string: it carries device keys).
pub fn access_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    let path = loggable_path(request.uri().path());
    tracing::info_span!(target: "otadeck::access", "request", id = %id, method = %request.method(), path = %path)
}

/// The path as the access log shows it: an access key named in the path may be its secret (the
/// routes accept either), so it is never written out.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/accessKeys/") { "/accessKeys/(name hidden)" } else { path }
}

/// The access-log line written when a response head is sent.
pub fn access_line(response: &axum::http::Response<axum::body::Body>, latency: Duration, _span: &tracing::Span) {
    tracing::info!(target: "otadeck::access", status = response.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "served");
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<ServerState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
        .into_response()
}

/// `GET /health`: the process answers.
pub async fn health() -> &'static str {
    "Healthy"
}

/// `GET /ready`: the database answers a query and the blob store accepts a file; 503 naming what is
/// not ready otherwise.
pub async fn ready(State(state): State<ServerState>) -> Response {
    let database =
        state.store.run(|db| db.query_one("SELECT 1", crate::server::store::params![], |row| row.get::<i64>(0))).await;
    let blobs = state.blobs.check_writable().await;
    let mut problems = Vec::new();
    if let Err(error) = database {
        problems.push(format!("database: {error}"));
    }
    if let Err(error) = blobs {
        problems.push(format!("blob store: {error}"));
    }
    if problems.is_empty() {
        (StatusCode::OK, "Ready").into_response()
    } else {
        tracing::warn!(problems = %problems.join("; "), "not ready");
        (StatusCode::SERVICE_UNAVAILABLE, format!("Not ready: {}", problems.join("; "))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn access_key_names_in_paths_stay_out_of_the_access_log() {
        assert_eq!(loggable_path("/accessKeys/9f86d081884c7d659a2feaa0c55ad015"), "/accessKeys/(name hidden)");
        assert_eq!(loggable_path("/accessKeys"), "/accessKeys");
        assert_eq!(loggable_path("/apps/Shop/deployments"), "/apps/Shop/deployments");
    }
}
