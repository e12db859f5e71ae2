//! Release routes: upload, patch, promote, rollback. Each mutation invalidates the update cache.

use crate::domain::scope::Permission;
use axum::extract::{Multipart, Path, State};
use axum::response::Response;

use super::body::{JsonBody, change_on_app, created, no_content, ok, on_app, segment};
use crate::api::management::{Package, PackageEnvelope, PackageInfo, PackageInfoEnvelope, ReleaseMethod, ReleaseModel};
use crate::domain::model_diff::ModelSnapshot;
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::apps::AppAccess;
use crate::server::store::apps::find_deployment;
use crate::server::store::audit::{self, Change};
use crate::server::store::models;
use crate::server::store::releases::{self, NewRelease, ReleaseFields, StoredRelease};
use crate::server::upload;

/// Release, patch and promote answers show a complete rollout as 100 (history shows `null`).
fn answer_package(state: &ServerState, release: &StoredRelease) -> Package {
    let mut package = release.to_package(state.blob_url(&release.blob_sha256));
    package.rollout = Some(package.rollout.unwrap_or(100));
    package
}

/// The audit entry of a new release (upload, promote, rollback).
fn new_release(action: &'static str, access: &AppAccess, deployment: &str, release: &StoredRelease) -> Change {
    let mut after = release.audit_fields();
    if let Some(object) = after.as_object_mut() {
        object.insert("releaseMethod".into(), serde_json::json!(release.release_method));
        if let Some(origin) = &release.original_label {
            object.insert("originalLabel".into(), origin.clone().into());
        }
        if let Some(origin) = &release.original_deployment {
            object.insert("originalDeployment".into(), origin.clone().into());
        }
    }
    Change::in_app(action, access, Some(deployment), Some(&release.label())).fields(None, Some(after))
}

/// After a new release (upload, promote, rollback): invalidate the update cache, wake the diff
/// builder, answer 201.
fn release_added(state: &ServerState, (app, deployment, release): (String, String, StoredRelease)) -> Response {
    state.cache.invalidate();
    state.diff_wake.notify_one();
    tracing::info!(%app, %deployment, label = %release.label(), method = ?release.release_method, "new release");
    let location = format!("/apps/{}/deployments/{}", segment(&app), segment(&deployment));
    created(&location, &PackageEnvelope { package: answer_package(state, &release) })
}

/// `POST …/release`: multipart `package` + `packageInfo`. The release row is written only after
/// the blob is durable on disk.
pub async fn upload(
    State(state): State<ServerState>,
    caller: Caller,
    path: Path<(String, String)>,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let result = match caller.0.require(&Permission::Release(Some(path.0.1.clone()))) {
        Ok(()) => store_upload(&state, caller, path, multipart).await,
        Err(refused) => Err(refused.into()),
    };
    let kind = if result.is_ok() { "stored" } else { "refused" };
    state.metrics.uploads.get_or_create(&crate::server::observability::KindLabels { kind }).inc();
    result
}

async fn store_upload(
    state: &ServerState,
    Caller(caller): Caller,
    Path((app, deployment)): Path<(String, String)>,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let state = state.clone();
    // Fail fast on unknown apps/deployments, and on a protected one without a reason, before
    // reading the upload.
    let lookup = deployment.clone();
    let mendix_platform = on_app(&state, caller.clone(), app.clone(), move |c, caller, access| {
        let row = find_deployment(c, access, &lookup)?;
        audit::require_reason(c, caller, access, &lookup)?;
        crate::server::store::mendix::platform_of_deployment(c, row.id)
    })
    .await?;

    let received = upload::receive(&state, multipart).await?;
    let info: PackageInfo = serde_json::from_str(&received.package_info)
        .map_err(|e| ApiError::BadRequest(format!("packageInfo is not valid: {e}")))?;
    let fields = ReleaseFields::parse(&info)?;
    let model: Option<ModelSnapshot> = received
        .mendix_model
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("mendixModel is not a Mendix model snapshot: {e}")))?;
    let target = fields
        .app_version
        .ok_or_else(|| ApiError::BadRequest(r#"[{"field":"appVersion","message":"Field is required"}]"#.into()))?;
    let package_hash = upload::package_hash(&state, &received.package).await?;
    let mendix = match mendix_platform {
        Some(platform) => {
            let needs = info.mendix_native_needs.clone().unwrap_or_default();
            Some(upload::mendix_bundle(&received.package, platform, info.mendix_deployment_id.clone(), needs).await?)
        }
        None => None,
    };

    upload::commit(&state, &received.package).await?;

    let new = NewRelease {
        app_version: target.as_str().to_owned(),
        build_number: fields.build.flatten().map(|b| b.to_string()),
        description: fields.description.unwrap_or_default(),
        is_mandatory: fields.is_mandatory.unwrap_or(false),
        is_disabled: fields.is_disabled.unwrap_or(false),
        rollout: fields.rollout,
        package_hash,
        blob_sha256: received.package.sha256.clone(),
        size: received.package.size,
        release_method: ReleaseMethod::Upload,
        original_label: None,
        original_deployment: None,
        released_by: caller.email.clone(),
        mendix,
    };
    let added = change_on_app(&state, caller, app, Some(deployment.clone()), move |c, _, access| {
        let (row, release) = releases::release_upload(c, access, &deployment, new)?;
        if let Some(model) = &model {
            models::save(c, access, &release.package_hash, model)?;
        }
        let change = new_release("release.upload", access, &row.name, &release);
        Ok(((access.name.clone(), row.name, release), Some(change)))
    })
    .await?;
    Ok(release_added(&state, added))
}

/// `GET …/deployments/{d}/mendix-model` (otadeck extension): the Mendix model the current release
/// was built from, for the preflight of the next push. 404 when there is none.
pub async fn current_model(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, deployment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let (label, mendix_model) =
        on_app(&state, caller, app, move |c, _, access| models::of_current_release(c, access, &deployment)).await?;
    Ok(ok(&ReleaseModel { label, mendix_model }))
}

/// `PATCH …/release`: change the latest (or `label`) release; 204 when nothing changed.
pub async fn patch(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, deployment)): Path<(String, String)>,
    JsonBody(request): JsonBody<PackageInfoEnvelope>,
) -> Result<Response, ApiError> {
    let info = &request.package_info;
    // Pausing and resuming alone is the support staff's `pause`; anything else needs `rollout`.
    let only_pause = info.is_paused.is_some()
        && info.app_version.is_none()
        && info.description.is_none()
        && info.is_mandatory.is_none()
        && info.is_disabled.is_none()
        && info.rollout.is_none()
        && info.build_number.is_none();
    caller.require(if only_pause { &Permission::Pause } else { &Permission::Rollout })?;
    let fields = ReleaseFields::parse(&request.package_info)?;
    let changed = change_on_app(&state, caller, app, Some(deployment.clone()), move |c, caller, access| {
        let (row, before, after) = releases::patch_release(c, access, &deployment, &fields, &caller.email)?;
        let change = after.as_ref().map(|after| {
            Change::in_app("release.patch", access, Some(&row.name), Some(&after.label()))
                .fields(Some(before.audit_fields()), Some(after.audit_fields()))
        });
        Ok((after, change))
    })
    .await?;
    let Some(release) = changed else {
        return Ok(no_content());
    };
    state.cache.invalidate();
    Ok(ok(&PackageEnvelope { package: answer_package(&state, &release) }))
}

/// `POST …/promote/{destination}`.
pub async fn promote(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path((app, source, destination)): Path<(String, String, String)>,
    JsonBody(request): JsonBody<PackageInfoEnvelope>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Release(Some(destination.clone())))?;
    let fields = ReleaseFields::parse(&request.package_info)?;
    let added = change_on_app(&state, caller, app, Some(destination.clone()), move |c, caller, access| {
        let (row, release) = releases::promote(c, access, &source, &destination, &fields, &caller.email)?;
        let change = new_release("release.promote", access, &row.name, &release);
        Ok(((access.name.clone(), row.name, release), Some(change)))
    })
    .await?;
    Ok(release_added(&state, added))
}

async fn rollback(
    state: ServerState,
    Caller(caller): Caller,
    app: String,
    deployment: String,
    label: Option<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Rollback)?;
    if let Some(label) = &label {
        crate::domain::validate::label(label).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let added = change_on_app(&state, caller, app, Some(deployment.clone()), move |c, caller, access| {
        let (row, release) = releases::rollback(c, access, &deployment, label.as_deref(), &caller.email)?;
        let change = new_release("release.rollback", access, &row.name, &release);
        Ok(((access.name.clone(), row.name, release), Some(change)))
    })
    .await?;
    Ok(release_added(&state, added))
}

/// `POST …/rollback` (and `…/rollback/`, after slash trimming): back to the release before the latest.
pub async fn rollback_latest(
    State(state): State<ServerState>,
    caller: Caller,
    Path((app, deployment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    rollback(state, caller, app, deployment, None).await
}

/// `POST …/rollback/{label}`.
pub async fn rollback_to(
    State(state): State<ServerState>,
    caller: Caller,
    Path((app, deployment, label)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    rollback(state, caller, app, deployment, Some(label)).await
}
