//! Device requests skip the router. Every device sends an update check at each start and resume,
//! and status reports after each update, so these are what a server answers most; the router's
//! matching, extensions, extractors and per-route boxing were about a quarter of a check's CPU
//! time (BENCHMARKS.md). A `GET` on either update-check path and a `POST` on any of the four
//! report paths go straight to the handlers the router uses, under the same request id, access
//! log line and metrics; anything else, including those paths with a trailing slash or another
//! method, goes through the router unchanged.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, Request, Response};
use axum::response::IntoResponse as _;
use futures_util::future::Either;
use tower::Service;

use super::acquisition::{report_deploy, report_download, update_check_answer};
use crate::api::acquisition as paths;
use crate::server::ServerState;
use crate::server::cache::ResponseFormat;
use crate::server::error::ApiError;
use crate::server::observability::{KnownRoute, ObserveLayer, Observed};

/// A device request's answer in progress.
type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// A request this path answers itself.
#[derive(Clone, Copy)]
enum Device {
    Check(ResponseFormat),
    Report(Report),
}

/// The two kinds of status report.
#[derive(Clone, Copy)]
enum Report {
    Deploy,
    Download,
}

/// A path answered here, with its method, kind and metric series.
struct KnownPath {
    method: Method,
    path: &'static str,
    device: Device,
    series: Arc<KnownRoute>,
}

/// Answers device requests itself and hands every other request to `routed`.
#[derive(Clone)]
pub struct FastPath<R> {
    routed: R,
    state: ServerState,
    observe: ObserveLayer,
    known: Arc<[KnownPath]>,
}

impl<R> FastPath<R> {
    /// Device requests answered from `state`, observed by `observe` (the router's own layer, so
    /// ids and series are shared), everything else by `routed`.
    pub fn new(routed: R, state: ServerState, observe: ObserveLayer) -> Self {
        let known = [
            (Method::GET, paths::UPDATE_CHECK_PATH, Device::Check(ResponseFormat::Current)),
            (Method::GET, paths::LEGACY_UPDATE_CHECK_PATH, Device::Check(ResponseFormat::Legacy)),
            (Method::POST, paths::REPORT_DEPLOY_PATH, Device::Report(Report::Deploy)),
            (Method::POST, paths::LEGACY_REPORT_DEPLOY_PATH, Device::Report(Report::Deploy)),
            (Method::POST, paths::REPORT_DOWNLOAD_PATH, Device::Report(Report::Download)),
            (Method::POST, paths::LEGACY_REPORT_DOWNLOAD_PATH, Device::Report(Report::Download)),
        ]
        .into_iter()
        .map(|(method, path, device)| {
            let series = observe.known_route(&method, path);
            KnownPath { method, path, device, series }
        })
        .collect();
        Self { routed, state, observe, known }
    }

    /// The kind and series of a request this path answers, `None` for one the router gets.
    fn device_request<B>(&self, request: &Request<B>) -> Option<(Device, Arc<KnownRoute>)> {
        let path = request.uri().path();
        self.known
            .iter()
            .find(|known| known.path == path && known.method == request.method())
            .map(|known| (known.device, Arc::clone(&known.series)))
    }
}

impl<R, B> Service<Request<B>> for FastPath<R>
where
    R: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    B: HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<Observed<Answer>, R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.routed.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some((device, series)) = self.device_request(&request) else {
            return Either::Right(self.routed.call(request));
        };
        let state = self.state.clone();
        Either::Left(self.observe.observe_known(request, &series, move |request| -> Answer {
            match device {
                Device::Check(format) => {
                    let uri = request.into_parts().0.uri;
                    Box::pin(async move { Ok(update_check_answer(&state, uri.query(), format).await) })
                }
                Device::Report(report) => {
                    let request = request.map(Body::new);
                    Box::pin(async move { Ok(report_answer(state, request, report).await) })
                }
            }
        }))
    }
}

/// A status report, answered by the routed handler of its kind. The server always adds the peer's
/// address; a request without one is refused as the router's `ConnectInfo` extractor would.
async fn report_answer(state: ServerState, request: Request<Body>, report: Report) -> Response<Body> {
    let Some(&ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return ApiError::Internal("no peer address".into()).into_response();
    };
    let answer = match report {
        Report::Deploy => report_deploy(State(state), ConnectInfo(peer), request).await,
        Report::Download => report_download(State(state), ConnectInfo(peer), request).await,
    };
    answer.into_response()
}
