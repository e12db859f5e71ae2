//! The one tower layer every route runs under: it gives the request its id (or keeps a proxy's),
//! opens the access-log span, writes the access line when the response head is ready, puts the id
//! on the response and counts the request in the metrics — in one pass, with one future and no
//! boxing, since it runs on every update check. (Three separate layers, tower-http's request-id and
//! trace layers and an axum `from_fn` middleware, cost 10 µs of server CPU a request; this one
//! costs 4 µs: BENCHMARKS.md.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response};
use tower::{Layer, Service};

use super::{KnownRoute, ServerMetrics};

/// The header that carries a request's id, in and out.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids `<process prefix>-<sequence>`: unique per process run, cheap, and sortable.
#[derive(Clone)]
pub struct SequentialRequestIds {
    /// Eight hex digits and the dash.
    prefix: [u8; 9],
    next: Arc<AtomicU64>,
}

impl Default for SequentialRequestIds {
    fn default() -> Self {
        let mut prefix = [b'-'; 9];
        let hex = format!("{:08x}", rand::random::<u32>());
        prefix[..8].copy_from_slice(hex.as_bytes());
        Self { prefix, next: Arc::new(AtomicU64::new(1)) }
    }
}

impl SequentialRequestIds {
    /// The next id, written without `format!`: this runs on every request.
    #[must_use]
    pub fn next_id(&self) -> HeaderValue {
        let sequence = self.next.fetch_add(1, Ordering::Relaxed);
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(sequence).as_bytes();
        let mut text = [0_u8; 9 + 20];
        let end = 9 + digits.len();
        text[..9].copy_from_slice(&self.prefix);
        text[9..end].copy_from_slice(digits);
        HeaderValue::from_bytes(&text[..end]).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// Adds [`Observe`] around a service.
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<ServerMetrics>,
    ids: SequentialRequestIds,
}

impl ObserveLayer {
    /// Counts into `metrics`; ids start at 1 under a random prefix.
    #[must_use]
    pub fn new(metrics: Arc<ServerMetrics>) -> Self {
        Self { metrics, ids: SequentialRequestIds::default() }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: Arc::clone(&self.metrics), ids: self.ids.clone() }
    }
}

/// Request id, access log and request metrics around `S`.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<ServerMetrics>,
    ids: SequentialRequestIds,
}

impl<S, B, R> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Routes are counted by template, never by raw path (one series per app or blob otherwise).
        let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
        let series = Series::Template { method: request.method().clone(), route };
        start(request, &self.ids, &self.metrics, series, |request| self.inner.call(request))
    }
}

impl ObserveLayer {
    /// Observes a request on `route` that is answered without the router (see
    /// [`crate::server::routes`]): the same id, log line and metrics as a routed request, counted
    /// in series resolved once.
    pub fn observe_known<B, F>(
        &self,
        request: Request<B>,
        route: &Arc<KnownRoute>,
        answer: impl FnOnce(Request<B>) -> F,
    ) -> Observed<F> {
        start(request, &self.ids, &self.metrics, Series::Known(Arc::clone(route)), answer)
    }

    /// The pre-resolved series of `method` on `route`, for [`Self::observe_known`].
    #[must_use]
    pub fn known_route(&self, method: &Method, route: &'static str) -> Arc<KnownRoute> {
        Arc::new(self.metrics.known_route(method, route))
    }
}

/// The series a request is counted in.
enum Series {
    /// Found by the router's route template, looked up when the answer is ready.
    Template { method: Method, route: String },
    /// Resolved once, for routes answered without the router.
    Known(Arc<KnownRoute>),
}

/// Gives `request` its id and span, then calls `answer` inside the span. A new id goes onto the
/// request too when the router's handlers get it; a known route's answer does not read it.
fn start<B, F>(
    mut request: Request<B>,
    ids: &SequentialRequestIds,
    metrics: &Arc<ServerMetrics>,
    series: Series,
    answer: impl FnOnce(Request<B>) -> F,
) -> Observed<F> {
    let started = Instant::now();
    let id = match request.headers().get(&X_REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = ids.next_id();
            if matches!(series, Series::Template { .. }) {
                request.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
            }
            id
        }
    };
    let span = super::access_span(&request, &id);
    let inner = {
        let _entered = span.enter();
        answer(request)
    };
    Observed { inner, span, started, id, series: Some(series), metrics: Arc::clone(metrics) }
}

pin_project_lite::pin_project! {
    /// The response future of [`Observe`].
    pub struct Observed<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        started: Instant,
        id: HeaderValue,
        series: Option<Series>,
        metrics: Arc<ServerMetrics>,
    }
}

impl<F, R, E> Future for Observed<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut response = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Ready(Ok(response)) => response,
        };
        let elapsed = this.started.elapsed();
        let status = response.status();
        if !response.headers().contains_key(&X_REQUEST_ID) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), this.id.clone());
        }
        match this.series.take() {
            Some(Series::Template { method, route }) => this.metrics.record(&method, route, status.as_u16(), elapsed),
            Some(Series::Known(known)) => this.metrics.record_known(&known, status.as_u16(), elapsed),
            None => {}
        }
        super::access_line(status, elapsed);
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::SequentialRequestIds;

    #[test]
    fn ids_are_the_process_prefix_and_a_rising_sequence() {
        let ids = SequentialRequestIds::default();
        let texts: Vec<String> = (0..12).map(|_| ids.next_id().to_str().expect("ascii").to_owned()).collect();
        let prefix = &texts[0][..9];
        assert!(prefix[..8].bytes().all(|b| b.is_ascii_hexdigit()) && prefix.ends_with('-'), "{prefix}");
        for (n, text) in texts.iter().enumerate() {
            assert_eq!(text, &format!("{prefix}{}", n + 1));
        }
        ids.next.store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(ids.next_id().to_str().expect("ascii"), format!("{prefix}{}", u64::MAX));
        assert_ne!(SequentialRequestIds::default().next_id(), texts[0].as_str(), "another process, another prefix");
    }
}
