//! What each [`Command`] does: the only place in the app that starts background work (server
//! calls, the push, simulated devices, demo data, the folder dialog, project detection). Every task
//! is tagged with the current connection generation, so answers from a previous server are dropped.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::app::OtadeckApp;
use super::command::Command;
use super::connection::Connection;
use super::state::{PushProgress, PushStage};
use super::tasks::{Change, Creation, Event, HistoryData, PushFailure, UiError};
use super::views::{self, PushForm};
use crate::api::management::{AuditQuery, PackageInfo};

/// How many audit entries of a deployment the release panel's timeline loads.
const AUDIT_ENTRIES: u32 = 300;

impl OtadeckApp {
    /// Carries out one command.
    pub(super) fn handle(&mut self, command: Command) {
        match command {
            Command::Refresh => self.refresh(),
            Command::LoadDeployments(app) => self.load_deployments(app),
            Command::LoadSeries => self.load_series(),
            Command::SelectApp(app) => {
                self.state.select_app(&app);
                self.load_deployments(app);
            }
            Command::SelectDeployment(deployment) => {
                let changed = self.state.selected_deployment.as_deref() != Some(deployment.as_str());
                if changed || (self.state.history.value().is_none() && !self.state.history.is_pending()) {
                    self.state.select_deployment(&deployment);
                    self.load_history();
                }
            }
            Command::SelectLabel(label) => {
                self.state.selected_label = Some(label);
                self.state.highlight_label = None;
            }
            Command::MoveSelection(step) => self.move_selection(step),
            Command::PatchRelease { change, info } => self.patch_release(change, info),
            Command::Rollback { target } => self.rollback(target),
            Command::Promote { label, destination, rollout, mandatory } => {
                self.promote(label, destination, rollout, mandatory);
            }
            Command::ResetReleaseInputs => {
                self.inputs.release.rollout = None;
                self.inputs.release.description = None;
            }
            Command::CreateApp(name) => self.create_app(name),
            Command::CreateDeployment { app, name } => self.create_deployment(app, name),
            Command::SimulateDevices => self.simulate_devices(),
            Command::LoadDemoData => self.load_demo_data(),
            Command::RemoveDemoData => self.remove_demo_data(),
            Command::SwitchToHome => self.switch_to(self.state.home.clone()),
            Command::SwitchToProfile(profile) => match self.keys.get(&profile.name) {
                Ok(Some(key)) => match Connection::for_profile(&profile, &key) {
                    Ok(connection) => self.switch_to(connection),
                    Err(error) => self.state.toast(format!("Cannot use the key of {}: {error}", profile.name), true),
                },
                Ok(None) => {
                    self.state.toast(format!("No access key stored for {}; add the server again", profile.name), true);
                }
                Err(error) => self.state.toast(format!("Cannot read the access keys: {error}"), true),
            },
            Command::AddProfile { profile, access_key } => self.add_profile(profile, &access_key),
            Command::CopyText { text, what } => {
                self.egui_ctx.copy_text(text);
                self.state.toast(format!("Copied {what}"), false);
            }
            Command::OpenPushDialog => self.open_push_dialog(),
            Command::ClosePushDialog => {
                if self.state.push.as_ref().is_some_and(|p| p.stage != PushStage::Running) {
                    self.state.push = None;
                    self.inputs.push = None;
                }
            }
            Command::PickFolder => self.pick_folder(),
            Command::LoadKeys => self.load_keys(),
            Command::CreateKey { name, scopes, ttl_days } => self.create_key(name, scopes, ttl_days),
            Command::ForgetCreatedKey => self.state.created_key = None,
            Command::SetMendixChannel(channel) => self.set_mendix_channel(*channel),
            Command::SetPushFolder(folder) => {
                if let Some(form) = &mut self.inputs.push {
                    form.folder.clone_from(&folder);
                }
                self.detect_project(folder);
            }
            Command::DetectProject(folder) => self.detect_project(folder),
            Command::StartPush { project, request } => self.start_push(*project, *request),
            Command::CancelPush => {
                if let Some(cancel) = &self.push_cancel {
                    cancel.cancel();
                }
            }
            Command::EditPush => {
                if let Some(push) = &mut self.state.push {
                    push.stage = PushStage::Editing;
                }
            }
        }
    }

    fn refresh(&mut self) {
        self.state.last_refresh = Instant::now();
        self.state.series_requested = None;
        self.state.apps.request();
        let (client, generation) = (self.state.connection.client.clone(), self.state.generation);
        self.tasks.spawn(generation, async move { Event::Apps(client.apps().await.map_err(UiError::from)) });
        if let Some(app) = self.state.selected_app.clone() {
            self.load_deployments(app);
            if self.state.selected_deployment.is_some() {
                self.load_history();
            }
        }
    }

    fn load_deployments(&mut self, app: String) {
        self.state.deployments.request();
        let (client, generation) = (self.state.connection.client.clone(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.deployments(&app).await.map_err(UiError::from);
            Event::Deployments { app, result }
        });
    }

    fn load_history(&mut self) {
        let (Some(app), Some(deployment)) = (self.state.selected_app.clone(), self.state.selected_deployment.clone())
        else {
            return;
        };
        self.state.history.request();
        let (client, generation) = (self.state.connection.client.clone(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = async {
                let releases = client.history(&app, &deployment).await?;
                let metrics = client.metrics(&app, &deployment).await?;
                let binaries = client.binaries(&app).await?;
                let events = client.events(&app, &deployment).await?;
                let policy = match client.policy(&app, &deployment).await {
                    Ok(policy) => Some(policy),
                    Err(error) if error.status() == Some(404) => None,
                    Err(error) => return Err(error),
                };
                let query = AuditQuery {
                    app: Some(app.clone()),
                    deployment: Some(deployment.clone()),
                    limit: Some(AUDIT_ENTRIES),
                    ..AuditQuery::default()
                };
                // A CodePush server without the audit extension answers 404: no trail to show.
                let audit = match client.audit(&query).await {
                    Ok(entries) => entries,
                    Err(error) if error.status() == Some(404) => Vec::new(),
                    Err(error) => return Err(error),
                };
                Ok::<_, crate::client::ClientError>(HistoryData { releases, metrics, binaries, events, policy, audit })
            }
            .await
            .map_err(UiError::from);
            Event::History { app, deployment, result }
        });
    }

    /// Loads the time series of the selected release (again after each refresh).
    fn load_series(&mut self) {
        let state = &mut self.state;
        let (Some(app), Some(deployment), Some(label)) =
            (state.selected_app.clone(), state.selected_deployment.clone(), state.selected_label.clone())
        else {
            return;
        };
        state.series_requested = Some(label.clone());
        let (client, generation) = (state.connection.client.clone(), state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.metric_series(&app, &deployment, &label).await.map_err(UiError::from);
            Event::Series { label, result }
        });
    }

    fn move_selection(&mut self, step: isize) {
        let labels = views::visible_labels(&self.state, &self.inputs.filter);
        let current = self.state.selected_label.as_ref().and_then(|l| labels.iter().position(|x| x == l));
        let next = match current {
            Some(index) => index.saturating_add_signed(step).min(labels.len().saturating_sub(1)),
            None => 0,
        };
        if let Some(label) = labels.get(next) {
            self.state.selected_label = Some(label.clone());
        }
    }

    fn patch_release(&mut self, change: Change, info: PackageInfo) {
        let label = match &change {
            Change::Rollout { label, .. }
            | Change::Mandatory { label, .. }
            | Change::Enabled { label, .. }
            | Change::Pause { label }
            | Change::Resume { label }
            | Change::Describe { label } => label.clone(),
            Change::Rollback { .. } | Change::Promote { .. } => return,
        };
        let (Some(app), Some(deployment)) = (self.state.selected_app.clone(), self.state.selected_deployment.clone())
        else {
            return;
        };
        let info = PackageInfo { label: Some(label.clone()), ..info };
        self.state.pending.push(super::state::PendingChange { label, info: info.clone() });
        let (client, generation) = (self.change_client(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.patch_release(&app, &deployment, info).await.map_err(UiError::from);
            Event::Changed { change, result }
        });
    }

    /// The client for a change: it carries the reason typed in the release panel, for the audit
    /// trail (and protected deployments, which require one).
    fn change_client(&self) -> crate::client::ManagementClient {
        self.state.connection.client.clone().with_reason(Some(&self.inputs.release.reason))
    }

    fn rollback(&mut self, target: String) {
        let (Some(app), Some(deployment)) = (self.state.selected_app.clone(), self.state.selected_deployment.clone())
        else {
            return;
        };
        let (client, generation) = (self.change_client(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.rollback(&app, &deployment, Some(&target)).await.map(Some).map_err(UiError::from);
            Event::Changed { change: Change::Rollback { target }, result }
        });
    }

    fn promote(&mut self, label: String, destination: String, rollout: u8, mandatory: bool) {
        let (Some(app), Some(source)) = (self.state.selected_app.clone(), self.state.selected_deployment.clone())
        else {
            return;
        };
        let info = PackageInfo {
            label: Some(label.clone()),
            rollout: Some(serde_json::json!(rollout)),
            is_mandatory: Some(mandatory),
            ..PackageInfo::default()
        };
        let (client, generation) = (self.change_client(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.promote(&app, &source, &destination, info).await.map(Some).map_err(UiError::from);
            Event::Changed { change: Change::Promote { label, destination }, result }
        });
    }

    fn set_mendix_channel(&mut self, channel: crate::api::mendix::MendixChannel) {
        let (client, generation) = (self.change_client(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.set_mendix_channel(&channel).await.map(|_| ()).map_err(UiError::from);
            Event::Created { what: Creation::MendixChannel(channel.host), result }
        });
    }

    fn load_keys(&mut self) {
        self.state.access_keys.request();
        let (client, generation) = (self.state.connection.client.clone(), self.state.generation);
        self.tasks.spawn(generation, async move { Event::Keys(client.access_keys().await.map_err(UiError::from)) });
    }

    fn create_key(&mut self, name: String, scopes: Option<Vec<String>>, ttl_days: u32) {
        let (client, generation) = (self.change_client(), self.state.generation);
        let ttl = Some(f64::from(ttl_days) * 86_400_000.0);
        self.tasks.spawn(generation, async move {
            let result = match scopes {
                Some(scopes) => client.create_scoped_access_key(&name, ttl, scopes).await,
                None => client.create_access_key(&name, ttl).await,
            };
            Event::KeyCreated(result.map_err(UiError::from))
        });
    }

    fn create_app(&mut self, name: String) {
        let (client, generation) = (self.state.connection.client.clone(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.create_app(&name).await.map(|_| ()).map_err(UiError::from);
            Event::Created { what: Creation::App(name), result }
        });
    }

    fn create_deployment(&mut self, app: String, name: String) {
        let (client, generation) = (self.state.connection.client.clone(), self.state.generation);
        self.tasks.spawn(generation, async move {
            let result = client.create_deployment(&app, &name, None).await.map(|_| ()).map_err(UiError::from);
            Event::Created { what: Creation::Deployment(name), result }
        });
    }

    /// Runs 500 virtual devices (two launches each) against the selected deployment of the embedded
    /// server, so adoption, install and failure numbers move, then reloads.
    fn simulate_devices(&mut self) {
        const DEVICES: usize = 500;
        if !self.state.is_embedded() {
            self.state.toast("Simulated devices run only against the app's own local server", true);
            return;
        }
        let Some(deployment) = self.state.selected_deployment.clone() else { return };
        let Some(key) =
            self.state.deployments.value().into_iter().flatten().find(|d| d.name == deployment).map(|d| d.key.clone())
        else {
            return;
        };
        let version = self.state.history.value().and_then(|h| h.releases.last()).map(|p| demo_version(&p.app_version));
        let config = crate::sim::FleetConfig {
            server: self.state.connection.url.clone(),
            deployment_key: key,
            devices: DEVICES,
            app_versions: version.into_iter().collect(),
            build_numbers: Vec::new(),
            behavior: crate::client::Behavior { accept_optional: 0.7, ..crate::client::Behavior::default() },
            restarts: 2,
            concurrency: 32,
            id_prefix: format!("demo-{deployment}"),
            public_key_pem: None,
            transport: self.state.connection.transport.clone(),
            spread_networks: false,
        };
        self.state.toast(format!("Simulating {DEVICES} devices on {deployment}…"), false);
        self.tasks.spawn(self.state.generation, async move {
            let fleet = crate::sim::devices(&config);
            let result = crate::sim::run(&config, fleet, |_, _| {}).await.map(|_| ()).map_err(UiError::from);
            Event::Created { what: Creation::SimulatedFleet { devices: DEVICES }, result }
        });
    }

    fn load_demo_data(&mut self) {
        if !self.state.is_embedded() || self.state.demo_running {
            return;
        }
        self.state.demo_running = true;
        let connection = self.state.connection.clone();
        self.tasks.spawn(self.state.generation, async move {
            let result = crate::sim::demo::seed(&connection.client, &connection.url, &connection.transport)
                .await
                .map_err(|e| match e {
                    crate::sim::demo::DemoError::Client(client) => UiError::from(client),
                    other => UiError::Other(other.to_string()),
                });
            Event::Created { what: Creation::DemoData, result }
        });
    }

    fn remove_demo_data(&mut self) {
        self.state.demo_running = true;
        let client = self.state.connection.client.clone();
        self.tasks.spawn(self.state.generation, async move {
            let result = crate::sim::demo::remove(&client).await.map_err(UiError::from);
            Event::Created { what: Creation::DemoDataRemoved, result }
        });
    }

    /// Switches to another server: a new generation, everything reloaded from it.
    fn switch_to(&mut self, connection: Connection) {
        self.settings.active_profile = (connection.name != self.state.home.name).then(|| connection.name.clone());
        let title = format!("{} — {}", super::APP_NAME, connection.url);
        self.egui_ctx.send_viewport_cmd(egui::ViewportCommand::Title(title));
        self.state.switch_to(connection);
        self.inputs.release = views::ReleaseInputs::default();
        self.inputs.confirm = None;
        self.refresh();
    }

    /// Checks the profile (its CA file, its key) before anything is stored, so a typo loses nothing.
    fn add_profile(&mut self, profile: crate::gui::settings::Profile, access_key: &str) {
        let saved = Connection::for_profile(&profile, access_key).map_err(|e| e.to_string()).and_then(|connection| {
            self.keys.set(&profile.name, access_key).map(|()| connection).map_err(|e| e.to_string())
        });
        match saved {
            Ok(connection) => {
                self.settings.profiles.retain(|p| p.name != profile.name);
                self.settings.profiles.push(profile);
                self.inputs.server_form = None;
                self.switch_to(connection);
            }
            Err(error) => self.state.toast(format!("Cannot save the server: {error}"), true),
        }
    }

    fn open_push_dialog(&mut self) {
        if self.state.push.is_some() {
            return;
        }
        self.state.push = Some(PushProgress::new());
        let form = PushForm::new(&self.settings.recent_projects, self.state.selected_deployment.clone());
        let folder = form.folder.clone();
        self.inputs.push = Some(form);
        if !folder.is_empty() {
            self.detect_project(folder);
        }
    }

    /// The native folder dialog, off the frame (it may take minutes; the window keeps drawing).
    fn pick_folder(&mut self) {
        self.tasks.spawn(self.state.generation, async move {
            let folder = rfd::AsyncFileDialog::new().pick_folder().await.map(|handle| handle.path().to_path_buf());
            Event::FolderPicked(folder)
        });
    }

    /// Project detection reads files: it runs on the blocking pool, never on the frame.
    fn detect_project(&mut self, folder: String) {
        let Some(push) = &mut self.state.push else { return };
        if folder.trim().is_empty() {
            push.detecting = None;
            return;
        }
        push.detecting = Some(folder.clone());
        self.tasks.spawn(self.state.generation, async move {
            let path = std::path::PathBuf::from(&folder);
            let result = tokio::task::spawn_blocking(move || {
                crate::bundle::project::Project::detect(&path).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            Event::ProjectDetected { folder, result }
        });
    }

    fn start_push(&mut self, project: crate::bundle::project::Project, request: crate::push::PushRequest) {
        let Some(push) = &mut self.state.push else { return };
        self.settings.remember_project(project.root.clone());
        push.stage = PushStage::Running;
        push.log.clear();
        let cancel = CancellationToken::new();
        self.push_cancel = Some(cancel.clone());
        let client = self.state.connection.client.clone();
        self.tasks.spawn_streaming(self.state.generation, move |events| async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel(256);
            let forward = events.clone();
            let forwarder = tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    forward.send(Event::Push(event));
                }
            });
            let result = crate::push::push(&client, &project, &request, &tx, &cancel).await;
            drop(tx);
            let _ = forwarder.await;
            let result = result.map_err(|error| match error {
                crate::push::PushError::Blocked(findings) => PushFailure::Blocked(findings),
                other => PushFailure::Failed(other.to_string()),
            });
            events.send(Event::PushFinished(result));
        });
    }
}

/// A binary version inside a target range, for the simulated fleet (`~1.4.0` -> `1.4.0`, `*` -> `1.0.0`).
fn demo_version(range: &str) -> String {
    let digits: String =
        range.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    if crate::domain::DeviceVersion::parse(&digits).is_ok() { digits } else { "1.0.0".into() }
}
