//! Background work for the UI and what comes back from it.
//!
//! [`Tasks`] runs futures on the tokio runtime injected by `main`. Each task sends one [`Event`]
//! (push tasks also stream progress), tagged with the connection [`Generation`] it was started
//! under, then asks egui to repaint. Errors arrive typed ([`UiError`]), so no code reads message text.

use std::future::Future;
use std::path::PathBuf;
use std::sync::mpsc;

use crate::api::management::{
    AccessKey, App, AuditEntry, Binary, Deployment, MetricSample, Metrics, Package, ReleaseEvent, RolloutPolicy,
};
use crate::bundle::project::Project;
use crate::client::{ClientError, NetworkError};
use crate::push::{PushEvent, PushedRelease};

/// Which connection a request belongs to; bumped on every server switch so that late answers from
/// the previous server are dropped.
pub type Generation = u64;

/// Why a request failed, as the UI needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiError {
    /// No answer at all: connection refused, TLS refused, DNS.
    Unreachable(String),
    /// No answer in time.
    TimedOut(String),
    /// The server answered with an error status.
    Refused { status: u16, message: String },
    /// Anything else (bad answer, local file).
    Other(String),
}

impl UiError {
    /// Whether the server could not be reached (the app goes read-only and keeps retrying).
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::TimedOut(_))
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) | Self::TimedOut(reason) | Self::Other(reason) => f.write_str(reason),
            Self::Refused { status, message } => write!(f, "the server answered {status}: {message}"),
        }
    }
}

impl From<ClientError> for UiError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Network(network @ NetworkError::TimedOut { .. }) => Self::TimedOut(network.to_string()),
            ClientError::Network(network) => Self::Unreachable(network.to_string()),
            ClientError::Api { status, message } => Self::Refused { status, message },
            other => Self::Other(other.to_string()),
        }
    }
}

/// The releases, metrics and store builds of one deployment.
#[derive(Debug, Clone, Default)]
pub struct HistoryData {
    pub releases: Vec<Package>,
    pub metrics: Metrics,
    pub binaries: Vec<Binary>,
    /// What the schedule, the health gate and people did (otadeck extension).
    pub events: Vec<ReleaseEvent>,
    pub policy: Option<RolloutPolicy>,
    /// The deployment's audit trail, newest first (otadeck extension; empty on servers without it).
    pub audit: Vec<AuditEntry>,
}

/// A change to a release, named for the answer the user gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Rollout { label: String, to: u8 },
    Mandatory { label: String, on: bool },
    Enabled { label: String, on: bool },
    Pause { label: String },
    Resume { label: String },
    Describe { label: String },
    Rollback { target: String },
    Promote { label: String, destination: String },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rollout { label, to } => write!(f, "Rollout of {label} to {to}%"),
            Self::Mandatory { label, on: true } => write!(f, "Make mandatory {label}"),
            Self::Mandatory { label, on: false } => write!(f, "Make optional {label}"),
            Self::Enabled { label, on: true } => write!(f, "Enable {label}"),
            Self::Enabled { label, on: false } => write!(f, "Disable {label}"),
            Self::Pause { label } => write!(f, "Pause {label}"),
            Self::Resume { label } => write!(f, "Resume {label}"),
            Self::Describe { label } => write!(f, "Describe {label}"),
            Self::Rollback { target } => write!(f, "Roll back to {target}"),
            Self::Promote { label, destination } => write!(f, "Promote {label} to {destination}"),
        }
    }
}

/// Something created on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    App(String),
    Deployment(String),
    SimulatedFleet { devices: usize },
    MendixChannel(String),
    DemoData,
    DemoDataRemoved,
}

impl std::fmt::Display for Creation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::App(name) => write!(f, "App {name}"),
            Self::Deployment(name) => write!(f, "Deployment {name}"),
            Self::SimulatedFleet { devices } => write!(f, "A simulated fleet of {devices} devices"),
            Self::MendixChannel(host) => write!(f, "The Mendix channel {host}"),
            Self::DemoData => f.write_str("Demo data"),
            Self::DemoDataRemoved => f.write_str("Removing the demo data"),
        }
    }
}

/// Why a push from the GUI stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFailure {
    /// Preflight findings that need a written reason.
    Blocked(Vec<String>),
    Failed(String),
}

/// Results coming back from background tasks.
#[derive(Debug)]
pub enum Event {
    Apps(Result<Vec<App>, UiError>),
    Deployments {
        app: String,
        result: Result<Vec<Deployment>, UiError>,
    },
    History {
        app: String,
        deployment: String,
        result: Result<HistoryData, UiError>,
    },
    /// A change to a release finished.
    Changed {
        change: Change,
        result: Result<Option<Package>, UiError>,
    },
    Created {
        what: Creation,
        result: Result<(), UiError>,
    },
    /// Install events over time of one release.
    Series {
        label: String,
        result: Result<Vec<MetricSample>, UiError>,
    },
    /// The folder dialog closed (`None`: cancelled).
    FolderPicked(Option<PathBuf>),
    /// Project detection of a folder finished.
    ProjectDetected {
        folder: String,
        result: Result<Project, String>,
    },
    Push(PushEvent),
    /// The account's access keys.
    Keys(Result<Vec<AccessKey>, UiError>),
    /// A key was created (its `name` is the secret).
    KeyCreated(Result<AccessKey, UiError>),
    PushFinished(Result<Vec<PushedRelease>, PushFailure>),
}

/// An event and the connection generation it belongs to.
#[derive(Debug)]
pub struct Envelope {
    pub generation: Generation,
    pub event: Event,
}

/// Spawns tasks and carries their events back to the UI.
#[derive(Clone)]
pub struct Tasks {
    runtime: tokio::runtime::Handle,
    events: mpsc::Sender<Envelope>,
    ctx: egui::Context,
}

impl Tasks {
    /// Tasks on `runtime` reporting to a new channel; returns the receiving end too.
    #[must_use]
    pub fn new(runtime: tokio::runtime::Handle, ctx: egui::Context) -> (Self, mpsc::Receiver<Envelope>) {
        let (events, receiver) = mpsc::channel();
        (Self { runtime, events, ctx }, receiver)
    }

    /// Runs `work` in the background and delivers its event under `generation`.
    pub fn spawn(&self, generation: Generation, work: impl Future<Output = Event> + Send + 'static) {
        let sender = self.clone();
        self.runtime.spawn(async move {
            let event = work.await;
            sender.send(generation, event);
        });
    }

    /// Runs `work`, which sends its own events (streaming progress) through the given sender.
    pub fn spawn_streaming<F>(&self, generation: Generation, work: impl FnOnce(StreamSender) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let future = work(StreamSender { tasks: self.clone(), generation });
        self.runtime.spawn(future);
    }

    /// Delivers an event now, then wakes the UI.
    fn send(&self, generation: Generation, event: Event) {
        // The receiver only goes away when the window closes; nothing is left to show then.
        if self.events.send(Envelope { generation, event }).is_ok() {
            self.ctx.request_repaint();
        }
    }
}

/// Sends several events from one task.
#[derive(Clone)]
pub struct StreamSender {
    tasks: Tasks,
    generation: Generation,
}

impl StreamSender {
    /// Delivers one event.
    pub fn send(&self, event: Event) {
        self.tasks.send(self.generation, event);
    }
}
