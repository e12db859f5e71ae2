//! Mendix channel routes (otadeck extension): `GET /mendix/channels`, `PUT /mendix/channels`.

use axum::extract::State;
use axum::response::Response;

use super::body::{JsonBody, change, ok};
use crate::api::mendix::{MendixChannel, MendixChannelEnvelope, MendixChannelsEnvelope};
use crate::domain::scope::Permission;
use crate::server::ServerState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::store::audit::Change;
use crate::server::store::mendix;

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
