//! Background work for the UI: every task runs on the tokio runtime, sends exactly one [`Event`]
//! (push tasks also stream progress), then asks egui to repaint. The UI drains events each frame.

use std::future::Future;
use std::sync::mpsc;

use crate::api::management::{App, Binary, Deployment, MetricSample, Metrics, Package, ReleaseEvent, RolloutPolicy};
use crate::push::{PushEvent, PushedRelease};

/// The releases, metrics and store builds of one deployment.
#[derive(Debug, Clone, Default)]
pub struct HistoryData {
    pub releases: Vec<Package>,
    pub metrics: Metrics,
    pub binaries: Vec<Binary>,
    /// What the schedule, the health gate and people did (otadeck extension).
    pub events: Vec<ReleaseEvent>,
    pub policy: Option<RolloutPolicy>,
}

/// Results coming back from background tasks.
#[derive(Debug)]
pub enum Event {
    Apps(Result<Vec<App>, String>),
    Deployments {
        app: String,
        result: Result<Vec<Deployment>, String>,
    },
    History {
        app: String,
        deployment: String,
        result: Result<HistoryData, String>,
    },
    /// A change to a release (patch, rollback, promote) finished; `what` describes it for the user.
    Changed {
        what: String,
        result: Result<Option<Package>, String>,
    },
    /// An app or deployment was created.
    Created {
        what: String,
        result: Result<(), String>,
    },
    /// Install events over time of one release.
    Series {
        label: String,
        result: Result<Vec<MetricSample>, String>,
    },
    Push(PushEvent),
    PushFinished(Result<Vec<PushedRelease>, PushFailure>),
}

/// Why a push from the GUI stopped.
#[derive(Debug, Clone)]
pub enum PushFailure {
    /// Preflight findings that need a written reason.
    Blocked(Vec<String>),
    Failed(String),
}

/// Spawns tasks and carries their events back to the UI.
#[derive(Clone)]
pub struct Tasks {
    runtime: tokio::runtime::Handle,
    events: mpsc::Sender<Event>,
    ctx: egui::Context,
}

impl Tasks {
    /// Tasks on `runtime` reporting to a new channel; returns the receiving end too.
    #[must_use]
    pub fn new(runtime: tokio::runtime::Handle, ctx: egui::Context) -> (Self, mpsc::Receiver<Event>) {
        let (events, receiver) = mpsc::channel();
        (Self { runtime, events, ctx }, receiver)
    }

    /// Runs `work` in the background and delivers its event.
    pub fn spawn(&self, work: impl Future<Output = Event> + Send + 'static) {
        let sender = self.clone();
        self.runtime.spawn(async move {
            let event = work.await;
            sender.send(event);
        });
    }

    /// Delivers an event now (from inside a task), then wakes the UI.
    pub fn send(&self, event: Event) {
        // The receiver only goes away when the window closes; nothing is left to show then.
        if self.events.send(event).is_ok() {
            self.ctx.request_repaint();
        }
    }

    /// The runtime, for tasks that stream several events.
    #[must_use]
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }
}
