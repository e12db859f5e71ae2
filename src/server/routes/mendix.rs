//! Mendix channel routes (otadeck extension): `GET`/`PUT /mendix/channels`, a channel's
//! observations, and importing the runtime's current bundle.

use axum::extract::{Path, State};
use axum::response::Response;

use super::body::{JsonBody, change, change_on_app, ok};
use crate::api::management::{PackageEnvelope, ReleaseMethod};
use crate::api::mendix::{
    CheckCountsEnvelope, ImportRequest, MendixChannel, MendixChannelEnvelope, MendixChannelsEnvelope,
    ObservationsEnvelope,
};
use crate::domain::mendix::NativeNeeds;
use crate::domain::scope::Permission;
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::StoreError;
use crate::server::store::audit::Change;
use crate::server::store::mendix;
use crate::server::store::releases::{self, NewRelease};
use crate::server::{gateway, upload};

/// `GET /mendix/channels`: the channels of apps the caller works on.
pub async fn list(State(state): State<ServerState>, Caller(caller): Caller) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let channels = state.store.run(move |c| mendix::channels_of(c, &caller)).await?;
    Ok(ok(&MendixChannelsEnvelope { channels }))
}

/// `PUT /mendix/channels` (Owner of both apps): creates or replaces the channel of a host.
pub async fn set(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    JsonBody(request): JsonBody<MendixChannelEnvelope>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Admin)?;
    let channel = change(&state, caller, move |c, caller| {
        let (before, after) = mendix::set_channel(c, caller, &request.channel)?;
        let json = |channel: &MendixChannel| serde_json::to_value(channel).ok();
        let entry = Change::new("mendix.channel.set", format!("Mendix channel {}", after.host))
            .fields(before.as_ref().and_then(json), json(&after));
        Ok((after, Some(entry)))
    })
    .await?;
    state.cache.invalidate();
    Ok(ok(&MendixChannelEnvelope { channel }))
}

/// `GET /mendix/channels/{host}/observations`: what the runtime answered to checks (observe mode).
pub async fn observations(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(host): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let observations = state.store.run(move |c| mendix::observations(c, &caller, &host)).await?;
    Ok(ok(&ObservationsEnvelope { observations }))
}

/// `GET /mendix/channels/{host}/checks`: OTA checks per platform, binary version and cookie.
pub async fn checks(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(host): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&Permission::Read)?;
    let checks = state.store.run(move |c| mendix::check_counts(c, &caller, &host)).await?;
    Ok(ok(&CheckCountsEnvelope { checks }))
}

/// `POST /mendix/channels/{host}/import`: downloads the bundle the runtime serves now (through the
/// channel's upstream) and stores it as a release of the platform's app, so there is a rollback
/// target from day one. Its compiled deployment ID must equal the one the runtime advertises.
pub async fn import(
    State(state): State<ServerState>,
    Caller(caller): Caller,
    Path(host): Path<String>,
    JsonBody(request): JsonBody<ImportRequest>,
) -> Result<Response, ApiError> {
    let platform = match request.platform.as_deref() {
        Some("android") => "android",
        Some("ios") => "ios",
        _ => return Err(ApiError::BadRequest("platform: android or ios".into())),
    };
    let lookup = (caller.clone(), host.to_ascii_lowercase());
    let channel = state
        .store
        .run(move |c| {
            let found = mendix::channels_of(c, &lookup.0)?.into_iter().find(|channel| channel.host == lookup.1);
            found.ok_or_else(|| StoreError::NotFound(format!("No Mendix channel for host \"{}\".", lookup.1)))
        })
        .await?;
    caller.require(&Permission::Release(Some(channel.deployment.clone())))?;
    let app = if platform == "android" { channel.android_app.clone() } else { channel.ios_app.clone() };
    let client = gateway::upstream_client().map_err(|e| ApiError::Internal(e.to_string()))?;
    let version = request.native_binary_version.unwrap_or(u32::MAX);
    let (advertised, download) = gateway::runtime_bundle(&client, &channel.upstream, platform, version).await?;
    let chunks = futures_util::TryStreamExt::map_err(download.bytes_stream(), |e| {
        ApiError::Unavailable(format!("The bundle download from the runtime broke off: {e}"))
    });
    let received = upload::write_package(&state, chunks).await?;
    let package_hash = upload::package_hash(&state, &received).await?;
    let bundle = upload::mendix_bundle(&received, platform, Some(advertised.clone()), NativeNeeds::default()).await?;
    upload::commit(&state, &received).await?;
    let new = NewRelease {
        app_version: "*".into(),
        build_number: None,
        description: format!("Imported from the Mendix runtime (deployment {advertised})"),
        is_mandatory: true,
        is_disabled: false,
        rollout: None,
        package_hash,
        blob_sha256: received.sha256.clone(),
        size: received.size,
        release_method: ReleaseMethod::Upload,
        original_label: None,
        original_deployment: None,
        released_by: caller.email.clone(),
        mendix: Some(bundle),
    };
    let deployment = channel.deployment.clone();
    let release = change_on_app(&state, caller, app, Some(deployment.clone()), move |c, _, access| {
        let (row, release) = releases::release_upload(c, access, &deployment, new)?;
        let after = serde_json::json!({ "deploymentID": advertised, "label": release.label() });
        let change =
            Change::in_app("mendix.import", access, Some(&row.name), Some(&release.label())).fields(None, Some(after));
        Ok((release, Some(change)))
    })
    .await?;
    let package = release.to_package(state.blob_url(&release.blob_sha256));
    Ok(super::body::created(&format!("/mendix/channels/{host}"), &PackageEnvelope { package }))
}
