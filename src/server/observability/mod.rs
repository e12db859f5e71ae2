//! What an operator sees of a running server: a request id on every request and answer
//! (`x-request-id`), an access log line per request (target `otadeck::access`, never with the query
//! string or any header, so no key reaches the log), Prometheus metrics at `/metrics`, and the
//! `/health` (liveness) and `/ready` (database and blob store reachable) probes. The first three
//! come from one layer, [`ObserveLayer`].

mod request_layer;

pub use request_layer::{Observe, ObserveLayer, Observed, SequentialRequestIds, X_REQUEST_ID};

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::ServerState;

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

impl RouteLabels {
    fn with_status(&self, status: u16) -> RequestLabels {
        RequestLabels { method: self.method, route: self.route.clone(), status }
    }
}

/// A route's latency series and its `200` counter, resolved once: see
/// [`ObserveLayer::observe_known`].
pub struct KnownRoute {
    labels: RouteLabels,
    latency: Histogram,
    ok: Counter,
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

    /// The series of `method` on `route`, resolved now so that counting a request in them later
    /// needs no label lookup (the handles share the registered series).
    fn known_route(&self, method: &Method, route: &'static str) -> KnownRoute {
        let labels = RouteLabels { method: method_label(method), route: route.to_owned() };
        let latency = self.latency.get_or_create(&labels).clone();
        let ok = self.requests.get_or_create(&labels.with_status(200)).clone();
        KnownRoute { labels, latency, ok }
    }

    fn record_known(&self, known: &KnownRoute, status: u16, elapsed: Duration) {
        known.latency.observe(elapsed.as_secs_f64());
        if status == 200 {
            known.ok.inc();
        } else {
            self.requests.get_or_create(&known.labels.with_status(status)).inc();
        }
    }

    fn record(&self, method: &Method, route: String, status: u16, elapsed: Duration) {
        // The route is the one allocation on the request path: the latency labels move into the
        // counter's.
        let labels = RouteLabels { method: method_label(method), route };
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method: labels.method, route: labels.route, status }).inc();
    }
}

/// A method as a metrics label; methods the routes do not name count as `OTHER` (one series, not
/// one per made-up method).
fn method_label(method: &Method) -> &'static str {
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS]
        .iter()
        .zip(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .find_map(|(known, label)| (known == method).then_some(label))
        .unwrap_or("OTHER")
}

/// The access-log span of a request: id, method and path (no query string: it carries device keys).
fn access_span<B>(request: &axum::http::Request<B>, id: &HeaderValue) -> tracing::Span {
    let id = id.to_str().unwrap_or("-");
    let path = loggable_path(request.uri().path());
    tracing::info_span!(target: "otadeck::access", "request", id = %id, method = %request.method(), path = %path)
}

/// The path as the access log shows it: an access key named in the path may be its secret (the
/// routes accept either), so it is never written out.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/accessKeys/") { "/accessKeys/(name hidden)" } else { path }
}

/// The access-log line written when a response head is ready (inside the request's span).
fn access_line(status: StatusCode, latency: Duration) {
    tracing::info!(target: "otadeck::access", status = status.as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "served");
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
    use super::{Method, loggable_path, method_label};

    #[test]
    fn methods_become_a_bounded_set_of_labels() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let made_up = Method::from_bytes(b"BREW").expect("extension method");
        assert_eq!(method_label(&made_up), "OTHER");
    }

    #[test]
    fn access_key_names_in_paths_stay_out_of_the_access_log() {
        assert_eq!(loggable_path("/accessKeys/9f86d081884c7d659a2feaa0c55ad015"), "/accessKeys/(name hidden)");
        assert_eq!(loggable_path("/accessKeys"), "/accessKeys");
        assert_eq!(loggable_path("/apps/Shop/deployments"), "/apps/Shop/deployments");
    }
}
