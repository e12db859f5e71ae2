//! Update checks skip the router. Every device sends one at each start and resume, so it is the
//! request a server answers most; the router's matching, extensions, extractors and per-route
//! boxing were about a quarter of its CPU time (BENCHMARKS.md). A `GET` on either update-check
//! path goes straight to the same answer function the routed handlers use, under the same
//! request id, access log line and metrics; anything else, including those paths with a trailing
//! slash or another method, goes through the router unchanged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Method, Request, Response};
use futures_util::future::Either;
use tower::Service;

use super::acquisition::update_check_answer;
use crate::api::acquisition as paths;
use crate::server::ServerState;
use crate::server::cache::ResponseFormat;
use crate::server::observability::{KnownRoute, ObserveLayer, Observed};

/// An update check's answer in progress.
type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

/// Answers update checks itself and hands every other request to `routed`.
#[derive(Clone)]
pub struct FastPath<R> {
    routed: R,
    state: ServerState,
    observe: ObserveLayer,
    current: Arc<KnownRoute>,
    legacy: Arc<KnownRoute>,
}

impl<R> FastPath<R> {
    /// Update checks answered from `state`, observed by `observe` (the router's own layer, so ids
    /// and series are shared), everything else by `routed`.
    pub fn new(routed: R, state: ServerState, observe: ObserveLayer) -> Self {
        let current = observe.known_route(&Method::GET, paths::UPDATE_CHECK_PATH);
        let legacy = observe.known_route(&Method::GET, paths::LEGACY_UPDATE_CHECK_PATH);
        Self { routed, state, observe, current, legacy }
    }

    /// The format and series of a request this path answers, `None` for one the router gets.
    fn update_check<B>(&self, request: &Request<B>) -> Option<(ResponseFormat, &Arc<KnownRoute>)> {
        if request.method() != Method::GET {
            return None;
        }
        match request.uri().path() {
            paths::UPDATE_CHECK_PATH => Some((ResponseFormat::Current, &self.current)),
            paths::LEGACY_UPDATE_CHECK_PATH => Some((ResponseFormat::Legacy, &self.legacy)),
            _ => None,
        }
    }
}

impl<R, B> Service<Request<B>> for FastPath<R>
where
    R: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<Observed<Answer>, R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.routed.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some((format, series)) = self.update_check(&request) else {
            return Either::Right(self.routed.call(request));
        };
        let state = self.state.clone();
        Either::Left(self.observe.observe_known(request, series, move |request| -> Answer {
            let uri = request.into_parts().0.uri;
            Box::pin(async move { Ok(update_check_answer(&state, uri.query(), format).await) })
        }))
    }
}
