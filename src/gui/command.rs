//! What views ask for. Views never change the app or start work themselves: they send a
//! [`Command`] through the [`CommandSender`] in their context, and the app handles all commands of a
//! frame at its end (`command_handling`), the only place that starts background work.

use std::sync::mpsc;

use super::settings::Profile;
use crate::api::management::PackageInfo;
use crate::bundle::project::Project;
use crate::push::PushRequest;

use super::tasks::Change;

/// One thing the user asked for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Reload apps and the selected deployment (F5, auto-refresh, after a change).
    Refresh,
    LoadDeployments(String),
    /// Load the install series of the selected release.
    LoadSeries,
    SelectApp(String),
    SelectDeployment(String),
    SelectLabel(String),
    /// Move the release selection up or down the table.
    MoveSelection(isize),
    /// Change a release (rollout, toggles, pause, description); shown pending until answered.
    PatchRelease {
        change: Change,
        info: PackageInfo,
    },
    Rollback {
        target: String,
    },
    Promote {
        label: String,
        destination: String,
        rollout: u8,
        mandatory: bool,
    },
    /// Drop unsent edits of the release panel (after the server refused a change).
    ResetReleaseInputs,
    CreateApp(String),
    CreateDeployment {
        app: String,
        name: String,
    },
    /// Run virtual devices against the selected deployment (embedded server only).
    SimulateDevices,
    /// Fill the embedded server with a sample app, releases and a simulated fleet.
    LoadDemoData,
    RemoveDemoData,
    SwitchToHome,
    SwitchToProfile(Profile),
    /// Save a new server profile (the key goes to the key store) and switch to it.
    AddProfile {
        profile: Profile,
        access_key: String,
    },
    CopyText {
        text: String,
        what: String,
    },
    OpenPushDialog,
    ClosePushDialog,
    /// Open the native folder dialog (off the frame).
    PickFolder,
    SetPushFolder(String),
    DetectProject(String),
    StartPush {
        project: Box<Project>,
        request: Box<PushRequest>,
    },
    CancelPush,
    /// Load the account's access keys (the "Access keys" window).
    LoadKeys,
    /// Create an access key with these scopes (`None`: full access).
    CreateKey {
        name: String,
        scopes: Option<Vec<String>>,
        ttl_days: u32,
    },
    /// Drop the secret of the key just created (the window closed).
    ForgetCreatedKey,
    /// Create or replace a Mendix channel of the gateway.
    SetMendixChannel(Box<crate::api::mendix::MendixChannel>),
    /// Back from a blocked or failed push to the form.
    EditPush,
}

/// Where views send commands.
#[derive(Clone)]
pub struct CommandSender(mpsc::Sender<Command>);

impl CommandSender {
    /// A sender and the app's receiving end.
    #[must_use]
    pub fn channel() -> (Self, mpsc::Receiver<Command>) {
        let (sender, receiver) = mpsc::channel();
        (Self(sender), receiver)
    }

    /// Queues a command for the end of this frame.
    pub fn send(&self, command: Command) {
        // The receiver lives as long as the app; a send can only fail while the window closes.
        let _ = self.0.send(command);
    }
}
