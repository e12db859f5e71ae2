//! The router: device routes (unauthenticated), package downloads, management routes, and the
//! operations endpoints (`/health`, `/ready`, `/metrics`), wrapped in request ids, the access log and
//! request metrics.

mod access_keys;
mod acquisition;
mod apps;
mod audit;
mod binaries;
mod body;
mod deployments;
mod fast_path;
mod mendix;
mod releases;

pub(crate) use acquisition::blob_response;
pub(crate) use fast_path::FastPath;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use super::{ServerState, observability};
use crate::api::acquisition as paths;

/// Download URLs are `<public url>/blobs/<sha256>`.
pub const BLOB_PATH_PREFIX: &str = "/blobs/";

/// JSON request bodies above this size are refused (descriptions are at most 10 000 chars).
pub(crate) const JSON_BODY_LIMIT: usize = 256 * 1024;

/// Builds the full router, every route observed by `observe` (see [`FastPath`] for the requests
/// that do not need it).
pub fn router(state: ServerState, observe: observability::ObserveLayer) -> Router {
    let release_upload = post(releases::upload).patch(releases::patch).layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/", get(|| async { "Welcome to the otadeck CodePush-compatible release server!" }))
        .route("/health", get(observability::health))
        .route("/ready", get(observability::ready))
        .route("/metrics", get(observability::metrics))
        .route(paths::UPDATE_CHECK_PATH, get(acquisition::update_check))
        .route(paths::LEGACY_UPDATE_CHECK_PATH, get(acquisition::legacy_update_check))
        .route(paths::REPORT_DEPLOY_PATH, post(acquisition::report_deploy))
        .route(paths::LEGACY_REPORT_DEPLOY_PATH, post(acquisition::report_deploy))
        .route(paths::REPORT_DOWNLOAD_PATH, post(acquisition::report_download))
        .route(paths::LEGACY_REPORT_DOWNLOAD_PATH, post(acquisition::report_download))
        .route("/blobs/{sha256}", get(acquisition::download))
        .route("/authenticated", get(access_keys::authenticated))
        .route("/account", get(access_keys::account))
        .route("/accessKeys", get(access_keys::list).post(access_keys::create))
        .route("/accessKeys/{name}", get(access_keys::get).patch(access_keys::patch).delete(access_keys::delete))
        .route("/sessions/{created_by}", axum::routing::delete(access_keys::delete_sessions))
        .route("/apps", get(apps::list).post(apps::create))
        .route("/apps/{app}", get(apps::get).patch(apps::rename).delete(apps::delete))
        .route("/apps/{app}/transfer/{email}", post(apps::transfer))
        .route("/apps/{app}/binaries", get(binaries::list).post(binaries::register))
        .route("/apps/{app}/collaborators", get(apps::collaborators))
        .route(
            "/apps/{app}/collaborators/{email}",
            post(apps::add_collaborator).patch(apps::set_role).delete(apps::remove_collaborator),
        )
        .route("/audit", get(audit::list))
        .route("/mendix/channels", get(mendix::list).put(mendix::set))
        .route("/mendix/channels/{host}/observations", get(mendix::observations))
        .route("/mendix/channels/{host}/checks", get(mendix::checks))
        .route("/mendix/channels/{host}/import", post(mendix::import).layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)))
        .route("/apps/{app}/deployments", get(deployments::list).post(deployments::create))
        .route(
            "/apps/{app}/deployments/{deployment}",
            get(deployments::get).patch(deployments::rename).delete(deployments::delete),
        )
        .route("/apps/{app}/deployments/{deployment}/release", release_upload)
        .route("/apps/{app}/deployments/{deployment}/promote/{destination}", post(releases::promote))
        .route("/apps/{app}/deployments/{deployment}/rollback", post(releases::rollback_latest))
        .route("/apps/{app}/deployments/{deployment}/rollback/{label}", post(releases::rollback_to))
        .route(
            "/apps/{app}/deployments/{deployment}/history",
            get(deployments::history).delete(deployments::clear_history),
        )
        .route("/apps/{app}/deployments/{deployment}/metrics", get(deployments::metrics))
        .route("/apps/{app}/deployments/{deployment}/mendix-model", get(releases::current_model))
        .route(
            "/apps/{app}/deployments/{deployment}/policy",
            get(deployments::get_policy).put(deployments::set_policy).delete(deployments::delete_policy),
        )
        .route("/apps/{app}/deployments/{deployment}/events", get(deployments::events))
        .route("/apps/{app}/deployments/{deployment}/metrics/{label}/series", get(deployments::series))
        .fallback(|| async { super::ApiError::NotFound("No such route on this server.".into()) })
        // One `layer` call: each wraps every route once more, a boxed clone per request.
        .layer(tower::ServiceBuilder::new().layer(observe).layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)))
        .with_state(state)
}
