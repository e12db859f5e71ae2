//! The app's data and how events change it.
//!
//! [`AppState::apply`] is pure: it takes an [`Envelope`] from a background task, updates the data
//! and returns the follow-up [`Command`]s (select the first app, reload after a change, …). It never
//! touches egui or the network, so unit tests drive it directly. Events from an older connection
//! generation (an answer from the previous server after a switch) are dropped.

use std::time::{Duration, Instant};

use super::command::Command;
use super::connection::Connection;
use super::tasks::{Change, Creation, Envelope, Event, Generation, HistoryData, PushFailure, UiError};
use crate::api::management::{AccessKey, App, Deployment, MetricSample, PackageInfo};
use crate::bundle::Platform;
use crate::bundle::build::BuildEvent;
use crate::bundle::project::Project;
use crate::push::PushEvent;

/// How often the selected deployment is refreshed while the window is open.
pub const AUTO_REFRESH: Duration = Duration::from_secs(5);

/// A value fetched from the server, with the last good value kept while reloading or failing.
#[derive(Debug, Default)]
pub enum Remote<T> {
    #[default]
    NotRequested,
    Pending {
        previous: Option<T>,
    },
    Ready {
        value: T,
        fetched: Instant,
    },
    Failed {
        error: UiError,
        previous: Option<T>,
    },
}

impl<T> Remote<T> {
    /// The newest value, if any (also while reloading or after a failure).
    #[must_use]
    pub fn value(&self) -> Option<&T> {
        match self {
            Self::Ready { value, .. } => Some(value),
            Self::Pending { previous } | Self::Failed { previous, .. } => previous.as_ref(),
            Self::NotRequested => None,
        }
    }

    #[must_use]
    pub fn is_pending(&self) -> bool {
        matches!(self, Self::Pending { .. })
    }

    #[must_use]
    pub fn error(&self) -> Option<&UiError> {
        match self {
            Self::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    fn take_value(&mut self) -> Option<T> {
        match std::mem::take(self) {
            Self::Ready { value, .. } => Some(value),
            Self::Pending { previous } | Self::Failed { previous, .. } => previous,
            Self::NotRequested => None,
        }
    }

    /// A request went out: keep showing the previous value.
    pub fn request(&mut self) {
        let previous = self.take_value();
        *self = Self::Pending { previous };
    }

    /// The answer came back.
    pub fn finish(&mut self, result: Result<T, UiError>) {
        let previous = self.take_value();
        *self = match result {
            Ok(value) => Self::Ready { value, fetched: Instant::now() },
            Err(error) => Self::Failed { error, previous },
        };
    }

    /// Data older than three refresh periods, or from before a failure.
    #[must_use]
    pub fn is_stale(&self) -> bool {
        match self {
            Self::Ready { fetched, .. } => fetched.elapsed() > AUTO_REFRESH * 3,
            _ => true,
        }
    }
}

/// A short message at the bottom of the window.
#[derive(Debug, Clone)]
pub struct Toast {
    pub text: String,
    pub is_error: bool,
    pub shown: Instant,
}

/// A change sent to the server and not answered yet; the UI shows it as pending.
#[derive(Debug, Clone)]
pub struct PendingChange {
    pub label: String,
    pub info: PackageInfo,
}

/// Where a push is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStage {
    Editing,
    Running,
    Blocked { findings: Vec<String> },
    Done { released: Vec<String> },
    Failed { message: String },
}

/// The push dialog's progress (its form is view state).
#[derive(Debug, Clone)]
pub struct PushProgress {
    pub stage: PushStage,
    pub log: Vec<String>,
    /// Preflight notes that do not block (e.g. Mendix model changes to online-only entities).
    pub warnings: Vec<String>,
    pub upload: Option<(Platform, u64, u64)>,
    /// The folder being detected, and the result for the last folder detected.
    pub detecting: Option<String>,
    pub project: Option<(String, Result<Project, String>)>,
}

impl PushProgress {
    #[must_use]
    pub fn new() -> Self {
        Self {
            stage: PushStage::Editing,
            log: Vec::new(),
            warnings: Vec::new(),
            upload: None,
            detecting: None,
            project: None,
        }
    }

    fn on_event(&mut self, event: PushEvent) {
        match event {
            PushEvent::Preflight { warnings, findings } => {
                self.log.extend(warnings.iter().map(|w| format!("warning: {w}")));
                self.warnings = warnings;
                self.log.extend(findings.into_iter().map(|f| format!("preflight: {f}")));
            }
            PushEvent::Build { platform, event } => match event {
                BuildEvent::Started { command } => self.log.push(format!("[{platform}] $ {command}")),
                BuildEvent::Output { line, .. } => self.log.push(format!("[{platform}] {line}")),
                BuildEvent::Finished { success } => {
                    self.log.push(format!("[{platform}] build {}", if success { "finished" } else { "failed" }));
                }
            },
            PushEvent::Packaged { platform, package_hash, files, signed, .. } => self.log.push(format!(
                "[{platform}] packaged {files} files, hash {}{}",
                package_hash.get(..12).unwrap_or_default(),
                if signed { ", signed" } else { "" }
            )),
            PushEvent::Uploading { platform, sent, total } => self.upload = Some((platform, sent, total)),
            PushEvent::Released { platform, app, package } => {
                self.upload = None;
                self.log.push(format!("[{platform}] released {} to {app}", package.label));
            }
        }
        if self.log.len() > 2000 {
            self.log.drain(..self.log.len() - 2000);
        }
    }
}

impl Default for PushProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the window shows that comes from the server or from background work.
pub struct AppState {
    pub connection: Connection,
    /// The connection the app started with (the embedded server, or `OTADECK_SERVER`).
    pub home: Connection,
    pub generation: Generation,
    pub apps: Remote<Vec<App>>,
    pub deployments: Remote<Vec<Deployment>>,
    pub history: Remote<HistoryData>,
    pub selected_app: Option<String>,
    pub selected_deployment: Option<String>,
    pub selected_label: Option<String>,
    /// A release to draw attention to (just pushed or rolled back to).
    pub highlight_label: Option<String>,
    pub pending: Vec<PendingChange>,
    pub toasts: Vec<Toast>,
    /// Install events over time of the selected release: (label, buckets).
    pub series: Option<(String, Vec<MetricSample>)>,
    pub series_requested: Option<String>,
    pub push: Option<PushProgress>,
    /// Demo data is being written to the embedded server.
    pub demo_running: bool,
    /// The account's access keys (the "Access keys" window).
    pub access_keys: Remote<Vec<AccessKey>>,
    /// The key just created, with its secret, until the window closes.
    pub created_key: Option<AccessKey>,
    pub last_refresh: Instant,
}

impl AppState {
    /// State for `connection`; nothing loaded yet.
    #[must_use]
    pub fn new(connection: Connection) -> Self {
        Self {
            home: connection.clone(),
            connection,
            generation: 0,
            apps: Remote::default(),
            deployments: Remote::default(),
            history: Remote::default(),
            selected_app: None,
            selected_deployment: None,
            selected_label: None,
            highlight_label: None,
            pending: Vec::new(),
            toasts: Vec::new(),
            series: None,
            series_requested: None,
            push: None,
            demo_running: false,
            access_keys: Remote::default(),
            created_key: None,
            last_refresh: Instant::now(),
        }
    }

    /// Whether the server could not be reached on the last load: data is shown read-only.
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.apps.error().is_some_and(UiError::is_unreachable)
            || self.history.error().is_some_and(UiError::is_unreachable)
    }

    /// Whether the app talks to the server it started itself (demo data and simulated devices are
    /// offered only there, never on a shared server).
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        self.connection.embedded
    }

    pub fn toast(&mut self, text: impl Into<String>, is_error: bool) {
        self.toasts.push(Toast { text: text.into(), is_error, shown: Instant::now() });
    }

    /// Switches to another server: a new generation, and nothing of the old server is kept.
    pub fn switch_to(&mut self, connection: Connection) {
        self.connection = connection;
        self.generation += 1;
        self.apps = Remote::default();
        self.deployments = Remote::default();
        self.history = Remote::default();
        self.access_keys = Remote::default();
        self.created_key = None;
        self.selected_app = None;
        self.selected_deployment = None;
        self.selected_label = None;
        self.highlight_label = None;
        self.pending.clear();
        self.series = None;
        self.series_requested = None;
    }

    /// Selects an app: its deployments and history are reloaded.
    pub fn select_app(&mut self, app: &str) {
        if self.selected_app.as_deref() != Some(app) {
            self.selected_app = Some(app.to_owned());
            self.selected_deployment = None;
            self.selected_label = None;
            self.deployments = Remote::default();
            self.history = Remote::default();
        }
    }

    /// Selects a deployment of the selected app.
    /// The Mendix channel host of the selected deployment, if its devices use runtime OTA.
    #[must_use]
    pub fn selected_mendix_host(&self) -> Option<&str> {
        let selected = self.selected_deployment.as_deref()?;
        let deployment = self.deployments.value().into_iter().flatten().find(|d| d.name == selected)?;
        deployment.mendix_host.as_deref()
    }

    /// Whether the selected deployment is protected (changes need a reason).
    #[must_use]
    pub fn selected_deployment_is_protected(&self) -> bool {
        let selected = self.selected_deployment.as_deref();
        self.deployments.value().into_iter().flatten().any(|d| Some(d.name.as_str()) == selected && d.is_protected)
    }

    pub fn select_deployment(&mut self, deployment: &str) {
        if self.selected_deployment.as_deref() != Some(deployment) {
            self.selected_deployment = Some(deployment.to_owned());
            self.selected_label = None;
            self.history = Remote::default();
        }
    }

    /// Applies an event from a background task; returns the commands it leads to.
    pub fn apply(&mut self, envelope: Envelope) -> Vec<Command> {
        if envelope.generation != self.generation {
            return Vec::new();
        }
        match envelope.event {
            Event::Apps(result) => {
                self.apps.finish(result);
                let names: Vec<&str> = self.apps.value().into_iter().flatten().map(|a| a.name.as_str()).collect();
                let known = self.selected_app.as_deref().is_some_and(|s| names.contains(&s));
                match (known, names.first()) {
                    (false, Some(first)) => vec![Command::SelectApp((*first).to_owned())],
                    _ => Vec::new(),
                }
            }
            Event::Deployments { app, result } => {
                if Some(&app) != self.selected_app.as_ref() {
                    return Vec::new();
                }
                self.deployments.finish(result);
                let names: Vec<String> =
                    self.deployments.value().into_iter().flatten().map(|d| d.name.clone()).collect();
                let current = self.selected_deployment.clone().filter(|d| names.contains(d));
                let chosen = current.or_else(|| names.iter().find(|n| *n == "Staging").or(names.first()).cloned());
                chosen.map(Command::SelectDeployment).into_iter().collect()
            }
            Event::History { app, deployment, result } => {
                if Some(&app) == self.selected_app.as_ref() && Some(&deployment) == self.selected_deployment.as_ref() {
                    self.history.finish(result);
                    if self.selected_label.is_none() {
                        self.selected_label =
                            self.history.value().and_then(|h| h.releases.last()).map(|p| p.label.clone());
                    }
                }
                Vec::new()
            }
            Event::Changed { change, result } => {
                self.pending.clear();
                let mut follow_up = vec![Command::Refresh];
                match result {
                    Ok(Some(package)) => {
                        self.toast(format!("{change}: done ({})", package.label), false);
                        if matches!(change, Change::Rollback { .. }) {
                            self.selected_label = Some(package.label.clone());
                            self.highlight_label = Some(package.label);
                        }
                    }
                    Ok(None) => self.toast(format!("{change}: nothing to change"), false),
                    Err(error) => {
                        self.toast(format!("{change} failed: {error}"), true);
                        follow_up.insert(0, Command::ResetReleaseInputs);
                    }
                }
                follow_up
            }
            Event::Created { what, result } => {
                if matches!(what, Creation::DemoData | Creation::DemoDataRemoved) {
                    self.demo_running = false;
                }
                match result {
                    Ok(()) => match what {
                        Creation::SimulatedFleet { .. } | Creation::DemoData => {
                            self.toast(format!("{what} finished"), false);
                        }
                        Creation::DemoDataRemoved => self.toast("Demo data removed", false),
                        Creation::App(_) | Creation::Deployment(_) => self.toast(format!("{what} created"), false),
                        Creation::MendixChannel(_) => self.toast(format!("{what} is saved"), false),
                    },
                    Err(error) => self.toast(format!("{what} failed: {error}"), true),
                }
                vec![Command::Refresh]
            }
            Event::Keys(result) => {
                self.access_keys.finish(result);
                Vec::new()
            }
            Event::KeyCreated(result) => {
                match result {
                    Ok(key) => {
                        self.toast(format!("Access key \"{}\" created", key.friendly_name), false);
                        self.created_key = Some(key);
                    }
                    Err(error) => self.toast(format!("Creating the access key failed: {error}"), true),
                }
                vec![Command::LoadKeys]
            }
            Event::Series { label, result } => {
                if let Ok(buckets) = result {
                    self.series = Some((label, buckets));
                }
                Vec::new()
            }
            Event::FolderPicked(folder) => {
                folder.map(|f| Command::SetPushFolder(f.display().to_string())).into_iter().collect()
            }
            Event::ProjectDetected { folder, result } => {
                if let Some(push) = &mut self.push
                    && push.detecting.as_deref() == Some(folder.as_str())
                {
                    push.detecting = None;
                    push.project = Some((folder, result));
                }
                Vec::new()
            }
            Event::Push(event) => {
                if let Some(push) = &mut self.push {
                    push.on_event(event);
                }
                Vec::new()
            }
            Event::PushFinished(result) => self.push_finished(result),
        }
    }

    fn push_finished(&mut self, result: Result<Vec<crate::push::PushedRelease>, PushFailure>) -> Vec<Command> {
        let Some(push) = &mut self.push else { return Vec::new() };
        match result {
            Ok(released) => {
                push.stage = PushStage::Done {
                    released: released.iter().map(|r| format!("{} {}", r.app, r.package.label)).collect(),
                };
                let Some(first) = released.first() else { return Vec::new() };
                let names: Vec<String> = released.iter().map(|r| format!("{} {}", r.app, r.package.label)).collect();
                self.toast(format!("Released {}", names.join(", ")), false);
                self.select_app(&first.app);
                self.selected_label = Some(first.package.label.clone());
                self.highlight_label = Some(first.package.label.clone());
                vec![Command::Refresh]
            }
            Err(PushFailure::Blocked(findings)) => {
                push.stage = PushStage::Blocked { findings };
                Vec::new()
            }
            Err(PushFailure::Failed(message)) => {
                push.log.push(format!("error: {message}"));
                push.stage = PushStage::Failed { message };
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AppState {
        let connection = Connection::new("Local", "http://127.0.0.1:1", "key").expect("connection");
        AppState::new(connection)
    }

    fn app(name: &str) -> App {
        App { name: name.to_owned(), collaborators: Default::default(), deployments: Vec::new() }
    }

    fn package(label: &str) -> crate::api::management::Package {
        crate::gui::test_support::package(label, "1.0.0")
    }

    fn now(state: &AppState, event: Event) -> Envelope {
        Envelope { generation: state.generation, event }
    }

    #[test]
    fn apps_select_the_first_app_and_then_reload_its_deployments() {
        let mut state = state();
        let follow = state.apply(now(&state, Event::Apps(Ok(vec![app("Shop-Android"), app("Shop-iOS")]))));
        assert!(matches!(follow.as_slice(), [Command::SelectApp(a)] if a == "Shop-Android"), "{follow:?}");
        state.select_app("Shop-iOS");
        let follow = state.apply(now(&state, Event::Apps(Ok(vec![app("Shop-Android"), app("Shop-iOS")]))));
        assert!(follow.is_empty(), "a known selection is kept: {follow:?}");
    }

    #[test]
    fn answers_from_the_previous_server_are_dropped_after_a_switch() {
        let mut state = state();
        let old = state.generation;
        let other = Connection::new("Other", "http://127.0.0.1:2", "key").expect("connection");
        state.switch_to(other);
        let follow = state.apply(Envelope { generation: old, event: Event::Apps(Ok(vec![app("Old-Android")])) });
        assert!(follow.is_empty());
        assert!(state.apps.value().is_none(), "the old server's apps never show");
        state.apply(now(&state, Event::Apps(Ok(vec![app("New-Android")]))));
        assert_eq!(state.apps.value().map(Vec::len), Some(1));
    }

    #[test]
    fn a_failed_load_keeps_the_previous_value_and_marks_the_app_offline() {
        let mut state = state();
        state.apply(now(&state, Event::Apps(Ok(vec![app("Shop-Android")]))));
        state.apps.request();
        assert!(state.apps.is_pending() && state.apps.value().is_some(), "reloading keeps the value");
        state.apply(now(&state, Event::Apps(Err(UiError::TimedOut("timed out after 30 s".into())))));
        assert!(state.is_offline());
        assert_eq!(state.apps.value().map(Vec::len), Some(1), "the last data stays visible");
        state.apply(now(&state, Event::Apps(Err(UiError::Refused { status: 500, message: "boom".into() }))));
        assert!(!state.is_offline(), "an error answer is not offline");
    }

    #[test]
    fn a_refused_change_reverts_inputs_and_reloads() {
        let mut state = state();
        state.pending.push(PendingChange { label: "v1".into(), info: PackageInfo::default() });
        let change = Change::Enabled { label: "v1".into(), on: false };
        let refused = Err(UiError::Refused { status: 409, message: "no".into() });
        let follow = state.apply(now(&state, Event::Changed { change, result: refused }));
        assert!(matches!(follow.as_slice(), [Command::ResetReleaseInputs, Command::Refresh]), "{follow:?}");
        assert!(state.pending.is_empty(), "the toggle snaps back to the server's value");
        assert!(state.toasts.last().is_some_and(|t| t.is_error && t.text.contains("409: no")));
    }

    #[test]
    fn a_rollback_selects_and_highlights_the_new_release() {
        let mut state = state();
        let change = Change::Rollback { target: "v1".into() };
        state.apply(now(&state, Event::Changed { change, result: Ok(Some(package("v4"))) }));
        assert_eq!(state.selected_label.as_deref(), Some("v4"));
        assert_eq!(state.highlight_label.as_deref(), Some("v4"));
    }

    #[test]
    fn history_of_another_deployment_is_ignored() {
        let mut state = state();
        state.select_app("Shop-Android");
        state.select_deployment("Staging");
        let data = HistoryData { releases: vec![package("v1")], ..HistoryData::default() };
        state.apply(now(
            &state,
            Event::History { app: "Shop-Android".into(), deployment: "Production".into(), result: Ok(data.clone()) },
        ));
        assert!(state.history.value().is_none());
        state.apply(now(
            &state,
            Event::History { app: "Shop-Android".into(), deployment: "Staging".into(), result: Ok(data) },
        ));
        assert_eq!(state.selected_label.as_deref(), Some("v1"), "the newest release is selected");
    }
}
