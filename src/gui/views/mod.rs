//! The views: functions `*_ui(ctx, …, ui)` that draw one part of the window from a read-only
//! [`ViewContext`] (state, settings, command sender) and the [`ViewInputs`] that live only in the UI
//! until they are sent. A view never names the app type, the async runtime or the task runner: whatever
//! it wants done, it sends as a [`Command`].

mod audit_text;
mod banner;
mod channel_dialog;
mod chart;
mod dialogs;
mod first_start;
pub mod format;
mod keys_dialog;
mod push_dialog;
mod release_panel;
mod releases;
mod sidebar;
mod toolbar;

pub use banner::{TOAST_SECONDS, banner_ui, toasts_ui};
pub use channel_dialog::{ChannelForm, channel_dialog_ui};
pub use dialogs::{confirm_ui, server_form_ui};
pub use first_start::first_start_ui;
pub use keys_dialog::{KeyForm, RolePick, keys_dialog_ui};
pub use push_dialog::{PushForm, push_dialog_ui};
pub use release_panel::release_panel_ui;
pub use releases::{releases_ui, visible_labels};
pub use sidebar::sidebar_ui;
pub use toolbar::toolbar_ui;

use super::command::{Command, CommandSender};
use super::settings::{Profile, Settings};
use super::state::AppState;
use crate::api::management::Package;

/// What a view may read, and where it sends commands.
pub struct ViewContext<'a> {
    pub state: &'a AppState,
    pub settings: &'a Settings,
    pub commands: &'a CommandSender,
}

impl ViewContext<'_> {
    /// Queues a command for the end of the frame.
    pub fn send(&self, command: Command) {
        self.commands.send(command);
    }
}

/// A change waiting for the user's confirmation.
#[derive(Debug, Clone)]
pub enum Confirm {
    Rollout { label: String, from: u8, to: u8, blast_radius: String },
    Rollback { target: Box<Package>, from: String },
    Promote { label: String, destination: String, rollout: u8, mandatory: bool },
    RemoveDemoData,
}

/// Unsent edits of the release panel.
#[derive(Debug, Clone, Default)]
pub struct ReleaseInputs {
    /// (label, percentage) being edited.
    pub rollout: Option<(String, u8)>,
    /// (label, text) being edited.
    pub description: Option<(String, String)>,
    pub rollback_target: Option<String>,
    pub promote_to: Option<String>,
    pub promote_rollout: Option<u8>,
    pub promote_mandatory: bool,
    /// Why the user makes the next changes: sent with each, recorded in the audit trail, required
    /// on protected deployments. Kept until the user clears it.
    pub reason: String,
}

/// The "Add server" form.
#[derive(Debug, Clone, Default)]
pub struct ServerForm {
    pub profile: Profile,
    pub access_key: String,
    pub ca_cert: String,
}

/// Everything the user is editing that is not sent yet.
#[derive(Debug, Default)]
pub struct ViewInputs {
    pub filter: String,
    /// Sort inside each version/build group: (column title, descending). `None`: newest first.
    pub sort: Option<(&'static str, bool)>,
    pub new_app_name: String,
    pub new_deployment_name: String,
    pub release: ReleaseInputs,
    pub confirm: Option<Confirm>,
    pub push: Option<PushForm>,
    pub server_form: Option<ServerForm>,
    /// The "Access keys" window's new-key form, while the window is open.
    pub keys: Option<KeyForm>,
    /// The "Mendix channel" window's form, while it is open.
    pub channel_form: Option<ChannelForm>,
}
