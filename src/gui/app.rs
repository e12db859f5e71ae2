//! `OtadeckApp`: the window's state, how events from tasks update it, and the frame layout.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::api::management::{App, Deployment, PackageInfo};
use crate::client::{ManagementClient, Transport};

use super::push_dialog::PushDialog;
use super::settings::Settings;
use super::tasks::{Event, HistoryData, Tasks};

/// How often the selected deployment is refreshed while the window is open.
const AUTO_REFRESH: Duration = Duration::from_secs(5);

/// The server the window talks to.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    pub url: String,
    pub client: ManagementClient,
    /// TLS trust and timeouts, shared with the simulated devices the app starts.
    pub transport: Transport,
}

impl Connection {
    /// A connection to `url` with `access_key` (extra CA from `OTADECK_CA_CERT`, if set).
    ///
    /// # Errors
    /// When the key cannot be used as a header.
    pub fn new(name: &str, url: &str, access_key: &str) -> Result<Self, crate::client::ClientError> {
        Self::with_ca(name, url, access_key, None)
    }

    /// A connection that also trusts the CA certificates in `ca_cert` (a profile's private CA).
    ///
    /// # Errors
    /// When the key cannot be used as a header or the CA file cannot be used.
    pub fn with_ca(
        name: &str,
        url: &str,
        access_key: &str,
        ca_cert: Option<&std::path::Path>,
    ) -> Result<Self, crate::client::ClientError> {
        let transport = Transport::from_env().with_extra_ca(ca_cert.map(std::path::Path::to_path_buf));
        Self::with_transport(name, url, access_key, transport)
    }

    /// A connection over an explicit transport (TLS trust and timeouts).
    ///
    /// # Errors
    /// When the key cannot be used as a header or the CA file cannot be used.
    pub fn with_transport(
        name: &str,
        url: &str,
        access_key: &str,
        transport: Transport,
    ) -> Result<Self, crate::client::ClientError> {
        let client = ManagementClient::with_transport(url, access_key, &transport)?;
        Ok(Self { name: name.to_owned(), url: url.to_owned(), client, transport })
    }

    fn for_profile(profile: &super::settings::Profile, access_key: &str) -> Result<Self, crate::client::ClientError> {
        Self::with_ca(&profile.name, &profile.url, access_key, profile.ca_cert.as_deref())
    }
}

/// A value fetched from the server: the last good value stays visible while reloading or failing.
#[derive(Debug)]
pub struct Remote<T> {
    pub value: Option<T>,
    pub loading: bool,
    pub error: Option<String>,
    pub fetched: Option<Instant>,
}

impl<T> Default for Remote<T> {
    fn default() -> Self {
        Self { value: None, loading: false, error: None, fetched: None }
    }
}

impl<T> Remote<T> {
    fn start(&mut self) {
        self.loading = true;
    }

    fn finish(&mut self, result: Result<T, String>) {
        self.loading = false;
        match result {
            Ok(value) => {
                self.value = Some(value);
                self.error = None;
                self.fetched = Some(Instant::now());
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// Data older than two refresh periods (or from before a failure) is marked stale.
    pub fn is_stale(&self) -> bool {
        self.error.is_some() || self.fetched.is_none_or(|t| t.elapsed() > AUTO_REFRESH * 3)
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

/// The release manager window.
pub struct OtadeckApp {
    pub(super) settings: Settings,
    pub(super) connection: Connection,
    /// The connection the app started with (the embedded server, or `OTADECK_SERVER`).
    home: Connection,
    keys: super::settings::KeyStore,
    pub(super) new_profile: Option<super::settings::Profile>,
    new_profile_key: String,
    new_profile_ca: String,
    pub(super) tasks: Tasks,
    events: mpsc::Receiver<Event>,
    pub(super) apps: Remote<Vec<App>>,
    pub(super) deployments: Remote<Vec<Deployment>>,
    pub(super) history: Remote<HistoryData>,
    pub(super) selected_app: Option<String>,
    pub(super) selected_deployment: Option<String>,
    pub(super) selected_label: Option<String>,
    pub(super) highlight_label: Option<String>,
    pub(super) filter: String,
    /// Sort inside each version/build group: (column title, descending). `None`: newest first.
    pub(super) sort: Option<(&'static str, bool)>,
    pub(super) pending: Vec<PendingChange>,
    pub(super) toasts: Vec<Toast>,
    pub(super) detail: super::detail::DetailState,
    pub(super) push: Option<PushDialog>,
    pub(super) new_app_name: String,
    /// Install events over time of the selected release: (label, buckets).
    pub(super) series: Option<(String, Vec<crate::api::management::MetricSample>)>,
    series_requested: Option<String>,
    last_refresh: Instant,
}

impl OtadeckApp {
    /// Creates the app, restoring settings from eframe's storage, and starts loading.
    pub fn new(cc: &eframe::CreationContext<'_>, runtime: tokio::runtime::Handle, connection: Connection) -> Self {
        let settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, Settings::KEY)).unwrap_or_default();
        let (tasks, events) = Tasks::new(runtime, cc.egui_ctx.clone());
        let mut app = Self {
            home: connection.clone(),
            keys: super::settings::KeyStore::in_config_dir(),
            new_profile: None,
            new_profile_key: String::new(),
            new_profile_ca: String::new(),
            selected_app: settings.last_app.clone(),
            selected_deployment: settings.last_deployment.clone(),
            settings,
            connection,
            tasks,
            events,
            apps: Remote::default(),
            deployments: Remote::default(),
            history: Remote::default(),
            selected_label: None,
            highlight_label: None,
            filter: String::new(),
            sort: None,
            pending: Vec::new(),
            toasts: Vec::new(),
            detail: super::detail::DetailState::default(),
            push: None,
            new_app_name: String::new(),
            series: None,
            series_requested: None,
            last_refresh: Instant::now(),
        };
        app.reconnect_saved_profile();
        app.refresh();
        app
    }

    /// Uses another key file (tests keep it in a temp dir).
    #[must_use]
    pub fn with_key_store(mut self, keys: super::settings::KeyStore) -> Self {
        self.keys = keys;
        self
    }

    /// Connects to the profile that was active when the app was closed, if its key is stored.
    fn reconnect_saved_profile(&mut self) {
        let Some(name) = self.settings.active_profile.clone() else { return };
        let profile = self.settings.profiles.iter().find(|p| p.name == name).cloned();
        match profile.and_then(|p| Some((p.clone(), self.keys.get(&p.name)?))) {
            Some((profile, key)) => match Connection::for_profile(&profile, &key) {
                Ok(connection) => self.connection = connection,
                Err(error) => self.toast(format!("Cannot use the saved server {name}: {error}"), true),
            },
            None => self.settings.active_profile = None,
        }
    }

    /// Switches to another server: everything is reloaded from it.
    pub(super) fn switch_to(&mut self, connection: Connection, ctx: &egui::Context) {
        self.settings.active_profile = (connection.name != self.home.name).then(|| connection.name.clone());
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!("{} — {}", super::APP_NAME, connection.url)));
        self.connection = connection;
        self.apps = Remote::default();
        self.deployments = Remote::default();
        self.history = Remote::default();
        self.selected_app = None;
        self.selected_deployment = None;
        self.selected_label = None;
        self.pending.clear();
        self.refresh();
    }

    fn server_menu(&mut self, ui: &mut egui::Ui) {
        let mut choice: Option<Option<super::settings::Profile>> = None;
        egui::ComboBox::from_label("Server")
            .selected_text(format!("{} ({})", self.connection.name, self.connection.url))
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(
                        self.connection.name == self.home.name,
                        format!("{} ({})", self.home.name, self.home.url),
                    )
                    .clicked()
                {
                    choice = Some(None);
                }
                for profile in &self.settings.profiles {
                    if ui
                        .selectable_label(
                            self.connection.name == profile.name,
                            format!("{} ({})", profile.name, profile.url),
                        )
                        .clicked()
                    {
                        choice = Some(Some(profile.clone()));
                    }
                }
                if ui.selectable_label(false, "Add server…").clicked() {
                    self.new_profile = Some(super::settings::Profile::blank());
                    self.new_profile_ca.clear();
                }
            });
        let ctx = ui.ctx().clone();
        match choice {
            Some(None) => self.switch_to(self.home.clone(), &ctx),
            Some(Some(profile)) => {
                match self.keys.get(&profile.name).map(|key| Connection::for_profile(&profile, &key)) {
                    Some(Ok(connection)) => self.switch_to(connection, &ctx),
                    Some(Err(error)) => self.toast(format!("Cannot use the key of {}: {error}", profile.name), true),
                    None => {
                        self.toast(format!("No access key stored for {}; add the server again", profile.name), true)
                    }
                }
            }
            None => {}
        }
    }

    fn add_server_window(&mut self, ctx: &egui::Context) {
        let Some(mut profile) = self.new_profile.take() else { return };
        let mut open = true;
        let mut save = false;
        egui::Window::new("Add server").collapsible(false).open(&mut open).show(ctx, |ui| {
            for (label, value) in [
                ("Server name", &mut profile.name),
                ("Server URL", &mut profile.url),
                ("Access key", &mut self.new_profile_key),
                ("CA certificate file (optional)", &mut self.new_profile_ca),
            ] {
                ui.horizontal(|ui| {
                    ui.label(label);
                    let field =
                        ui.add(egui::TextEdit::singleline(value).password(label == "Access key").desired_width(260.0));
                    field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, label));
                });
            }
            ui.label("The key is stored in keys.toml (mode 0600) in the config folder, not in the settings.");
            ui.label(
                "A CA certificate file (PEM) is only needed for a server whose certificate comes from a private CA.",
            );
            let ready = !profile.name.trim().is_empty()
                && profile.url.starts_with("http")
                && !self.new_profile_key.trim().is_empty();
            save = ui.add_enabled(ready, egui::Button::new("Save and connect")).clicked();
        });
        if save {
            let key = std::mem::take(&mut self.new_profile_key);
            let ca = std::mem::take(&mut self.new_profile_ca);
            let saved = super::settings::Profile {
                name: profile.name.trim().to_owned(),
                url: profile.url.trim().to_owned(),
                ca_cert: Some(ca.trim()).filter(|c| !c.is_empty()).map(std::path::PathBuf::from),
            };
            // The CA file is checked before anything is stored, so a typo loses nothing.
            match Connection::for_profile(&saved, key.trim()).map_err(|e| e.to_string()).and_then(|connection| {
                self.keys.set(&saved.name, key.trim()).map(|()| connection).map_err(|e| e.to_string())
            }) {
                Ok(connection) => {
                    self.settings.profiles.retain(|p| p.name != saved.name);
                    self.settings.profiles.push(saved);
                    self.switch_to(connection, ctx);
                }
                Err(error) => {
                    self.new_profile_key = key;
                    self.new_profile_ca = ca;
                    self.new_profile = Some(profile);
                    self.toast(format!("Cannot save the server: {error}"), true);
                }
            }
        } else if open {
            self.new_profile = Some(profile);
        }
    }

    /// Whether the server could not be reached on the last load: data is shown read-only.
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.apps.error.is_some() || self.history.error.as_deref().is_some_and(is_unreachable)
    }

    pub(super) fn toast(&mut self, text: impl Into<String>, is_error: bool) {
        self.toasts.push(Toast { text: text.into(), is_error, shown: Instant::now() });
    }

    /// Reloads apps and the selected deployment (F5).
    pub(super) fn refresh(&mut self) {
        self.last_refresh = Instant::now();
        self.series_requested = None;
        self.load_apps();
        if let Some(app) = self.selected_app.clone() {
            self.load_deployments(&app);
            if let Some(deployment) = self.selected_deployment.clone() {
                self.load_history(&app, &deployment);
            }
        }
    }

    fn load_apps(&mut self) {
        self.apps.start();
        let client = self.connection.client.clone();
        self.tasks.spawn(async move { Event::Apps(client.apps().await.map_err(|e| e.to_string())) });
    }

    pub(super) fn load_deployments(&mut self, app: &str) {
        self.deployments.start();
        let (client, app) = (self.connection.client.clone(), app.to_owned());
        self.tasks.spawn(async move {
            let result = client.deployments(&app).await.map_err(|e| e.to_string());
            Event::Deployments { app, result }
        });
    }

    /// Loads the time series of the selected release (again after each refresh).
    fn load_series(&mut self) {
        let (Some(app), Some(deployment), Some(label)) =
            (self.selected_app.clone(), self.selected_deployment.clone(), self.selected_label.clone())
        else {
            return;
        };
        self.series_requested = Some(label.clone());
        let client = self.connection.client.clone();
        self.tasks.spawn(async move {
            let result = client.metric_series(&app, &deployment, &label).await.map_err(|e| e.to_string());
            Event::Series { label, result }
        });
    }

    pub(super) fn load_history(&mut self, app: &str, deployment: &str) {
        self.history.start();
        let (client, app, deployment) = (self.connection.client.clone(), app.to_owned(), deployment.to_owned());
        self.tasks.spawn(async move {
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
                Ok::<_, crate::client::ClientError>(HistoryData { releases, metrics, binaries, events, policy })
            }
            .await
            .map_err(|e| e.to_string());
            Event::History { app, deployment, result }
        });
    }

    /// Selects an app and its first (or remembered) deployment.
    pub(super) fn select_app(&mut self, app: &str) {
        if self.selected_app.as_deref() != Some(app) {
            self.selected_app = Some(app.to_owned());
            self.selected_deployment = None;
            self.selected_label = None;
            self.history = Remote::default();
            self.settings.last_app = Some(app.to_owned());
        }
        self.load_deployments(app);
    }

    pub(super) fn select_deployment(&mut self, deployment: &str) {
        self.selected_deployment = Some(deployment.to_owned());
        self.selected_label = None;
        self.settings.last_deployment = Some(deployment.to_owned());
        if let Some(app) = self.selected_app.clone() {
            self.load_history(&app, deployment);
        }
    }

    /// Sends a release change (patch) to the server; the UI shows it pending until the answer.
    pub(super) fn patch_release(&mut self, label: &str, info: PackageInfo, what: String) {
        let (Some(app), Some(deployment)) = (self.selected_app.clone(), self.selected_deployment.clone()) else {
            return;
        };
        let info = PackageInfo { label: Some(label.to_owned()), ..info };
        self.pending.push(PendingChange { label: label.to_owned(), info: info.clone() });
        let client = self.connection.client.clone();
        self.tasks.spawn(async move {
            let result = client.patch_release(&app, &deployment, info).await.map_err(|e| e.to_string());
            Event::Changed { what, result }
        });
    }

    pub(super) fn rollback(&mut self, target: &str) {
        let (Some(app), Some(deployment)) = (self.selected_app.clone(), self.selected_deployment.clone()) else {
            return;
        };
        let (client, target) = (self.connection.client.clone(), target.to_owned());
        let what = format!("Roll back {deployment} to {target}");
        self.tasks.spawn(async move {
            let result = client.rollback(&app, &deployment, Some(&target)).await.map(Some).map_err(|e| e.to_string());
            Event::Changed { what, result }
        });
    }

    pub(super) fn promote(&mut self, label: &str, destination: &str, rollout: u8, mandatory: bool) {
        let (Some(app), Some(source)) = (self.selected_app.clone(), self.selected_deployment.clone()) else { return };
        let info = PackageInfo {
            label: Some(label.to_owned()),
            rollout: Some(serde_json::json!(rollout)),
            is_mandatory: Some(mandatory),
            ..PackageInfo::default()
        };
        let (client, destination) = (self.connection.client.clone(), destination.to_owned());
        let what = format!("Promote {label} to {destination}");
        self.tasks.spawn(async move {
            let result = client.promote(&app, &source, &destination, info).await.map(Some).map_err(|e| e.to_string());
            Event::Changed { what, result }
        });
    }

    pub(super) fn create_app(&mut self, name: String) {
        let client = self.connection.client.clone();
        self.tasks.spawn(async move {
            let result = client.create_app(&name).await.map(|_| ()).map_err(|e| e.to_string());
            Event::Created { what: format!("App {name}"), result }
        });
    }

    /// Runs 500 virtual devices (two launches each) against the selected deployment, so adoption,
    /// install and failure numbers move, then reloads.
    pub(super) fn simulate_devices(&mut self) {
        let Some(deployment) = self.selected_deployment.clone() else { return };
        let Some(key) = self.deployments.value.iter().flatten().find(|d| d.name == deployment).map(|d| d.key.clone())
        else {
            return;
        };
        let config = crate::sim::FleetConfig {
            server: self.connection.url.clone(),
            deployment_key: key,
            devices: 500,
            app_versions: self
                .history
                .value
                .as_ref()
                .and_then(|h| h.releases.last())
                .map(|p| demo_version(&p.app_version))
                .into_iter()
                .collect(),
            build_numbers: Vec::new(),
            behavior: crate::client::Behavior { accept_optional: 0.7, ..crate::client::Behavior::default() },
            restarts: 2,
            concurrency: 32,
            id_prefix: format!("demo-{deployment}"),
            public_key_pem: None,
            transport: self.connection.transport.clone(),
        };
        self.toast(format!("Simulating 500 devices on {deployment}…"), false);
        self.tasks.spawn(async move {
            let fleet = crate::sim::devices(&config);
            let result = crate::sim::run(&config, fleet, |_, _| {}).await.map(|_| ()).map_err(|e| e.to_string());
            Event::Created { what: "A simulated fleet of 500 devices".into(), result }
        });
    }

    pub(super) fn create_deployment(&mut self, app: String, deployment: String) {
        let client = self.connection.client.clone();
        self.tasks.spawn(async move {
            let result = client.create_deployment(&app, &deployment, None).await.map(|_| ()).map_err(|e| e.to_string());
            Event::Created { what: format!("Deployment {deployment}"), result }
        });
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Apps(result) => {
                self.apps.finish(result);
                let first = self.apps.value.as_ref().and_then(|apps| apps.first()).map(|a| a.name.clone());
                let known = self
                    .apps
                    .value
                    .as_ref()
                    .is_some_and(|apps| apps.iter().any(|a| Some(&a.name) == self.selected_app.as_ref()));
                if !known && let Some(first) = first {
                    self.select_app(&first);
                }
            }
            Event::Deployments { app, result } => {
                if Some(&app) != self.selected_app.as_ref() {
                    return;
                }
                self.deployments.finish(result);
                let names: Vec<String> = self.deployments.value.iter().flatten().map(|d| d.name.clone()).collect();
                let current = self.selected_deployment.clone().filter(|d| names.contains(d));
                let chosen = current.or_else(|| names.iter().find(|n| *n == "Staging").or(names.first()).cloned());
                if let Some(deployment) = chosen
                    && (self.selected_deployment.as_ref() != Some(&deployment) || self.history.value.is_none())
                {
                    self.select_deployment(&deployment);
                }
            }
            Event::History { app, deployment, result } => {
                if Some(&app) == self.selected_app.as_ref() && Some(&deployment) == self.selected_deployment.as_ref() {
                    self.history.finish(result);
                    if self.selected_label.is_none() {
                        self.selected_label =
                            self.history.value.as_ref().and_then(|h| h.releases.last()).map(|p| p.label.clone());
                    }
                }
            }
            Event::Changed { what, result } => {
                self.pending.clear();
                match result {
                    Ok(Some(package)) => {
                        self.toast(format!("{what}: done ({})", package.label), false);
                        if what.starts_with("Roll back") {
                            self.selected_label = Some(package.label.clone());
                            self.highlight_label = Some(package.label);
                        }
                    }
                    Ok(None) => self.toast(format!("{what}: nothing to change"), false),
                    Err(error) => {
                        self.detail.reset_inputs();
                        self.toast(format!("{what} failed: {error}"), true);
                    }
                }
                self.refresh();
            }
            Event::Created { what, result } => {
                match result {
                    Ok(()) if what.starts_with("A simulated fleet") => self.toast(format!("{what} finished"), false),
                    Ok(()) => self.toast(format!("{what} created"), false),
                    Err(error) => self.toast(format!("{what} could not be created: {error}"), true),
                }
                self.refresh();
            }
            Event::Series { label, result } => {
                if let Ok(buckets) = result {
                    self.series = Some((label, buckets));
                }
            }
            Event::Push(event) => {
                if let Some(dialog) = &mut self.push {
                    dialog.on_event(event);
                }
            }
            Event::PushFinished(result) => {
                let released = self.push.as_mut().map(|d| d.on_finished(result)).unwrap_or_default();
                if let Some((app, label)) = released.first() {
                    self.select_app(app);
                    self.selected_label = Some(label.clone());
                    self.highlight_label = Some(label.clone());
                    let names: Vec<String> = released.iter().map(|(a, l)| format!("{a} {l}")).collect();
                    self.toast(format!("Released {}", names.join(", ")), false);
                    self.refresh();
                }
            }
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let (refresh, push, escape, up, down) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::F5),
                i.modifiers.command && i.key_pressed(egui::Key::P),
                i.key_pressed(egui::Key::Escape),
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::ArrowDown),
            )
        });
        if refresh {
            self.refresh();
        }
        if push && self.push.is_none() {
            self.open_push_dialog();
        }
        if escape {
            if self.push.as_ref().is_some_and(PushDialog::can_close) {
                self.push = None;
            }
            self.detail.confirm = None;
        }
        if (up || down) && !ctx.egui_wants_keyboard_input() {
            self.move_selection(if up { -1 } else { 1 });
        }
    }

    /// Moves the release selection up or down the table (newest first).
    fn move_selection(&mut self, step: isize) {
        let labels: Vec<String> = super::releases::visible_labels(self);
        let current = self.selected_label.as_ref().and_then(|l| labels.iter().position(|x| x == l));
        let next = match current {
            Some(index) => index.saturating_add_signed(step).min(labels.len().saturating_sub(1)),
            None => 0,
        };
        if let Some(label) = labels.get(next) {
            self.selected_label = Some(label.clone());
        }
    }

    pub(super) fn open_push_dialog(&mut self) {
        self.push = Some(PushDialog::new(&self.settings, self.selected_deployment.clone()));
    }

    fn banner(&mut self, ui: &mut egui::Ui) {
        let error = self.apps.error.clone().or_else(|| self.history.error.clone());
        let Some(error) = error else { return };
        egui::Panel::top("banner").show(ui, |ui| {
            ui.horizontal(|ui| {
                let message = if is_unreachable(&error) {
                    let reason = error.trim_start_matches("cannot reach the server: ");
                    format!("Cannot reach {}: {reason}. Showing the last data, read-only.", self.connection.url)
                } else {
                    format!("The server answered with an error: {error}")
                };
                ui.colored_label(ui.visuals().error_fg_color, message).on_hover_text(&error);
                if ui.button("Retry").clicked() {
                    self.refresh();
                }
            });
        });
    }

    fn toasts_ui(&mut self, ui: &mut egui::Ui) {
        self.toasts.retain(|t| t.shown.elapsed() < Duration::from_secs(10));
        if self.toasts.is_empty() {
            return;
        }
        egui::Panel::bottom("toasts").show(ui, |ui| {
            for toast in self.toasts.iter().rev().take(3) {
                let color = if toast.is_error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
                ui.colored_label(color, &toast.text);
            }
        });
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("toolbar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("otadeck");
                ui.separator();
                self.server_menu(ui);
                ui.separator();
                if ui.button("Push update…").on_hover_text("Build and push an update (Ctrl+P)").clicked() {
                    self.open_push_dialog();
                }
                if ui.button("Refresh").on_hover_text("Reload everything (F5)").clicked() {
                    self.refresh();
                }
                if ui
                    .add_enabled(self.selected_deployment.is_some(), egui::Button::new("Simulate devices"))
                    .on_hover_text("Run 500 virtual phones against this deployment to see adoption move")
                    .clicked()
                {
                    self.simulate_devices();
                }
                if self.apps.loading || self.history.loading {
                    ui.spinner();
                }
            });
        });
    }
}

/// A binary version inside a target range, for the demo fleet (`~1.4.0` -> `1.4.0`, `*` -> `1.0.0`).
fn demo_version(range: &str) -> String {
    let digits: String =
        range.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    if crate::domain::DeviceVersion::parse(&digits).is_ok() { digits } else { "1.0.0".into() }
}

/// Whether an error means the server could not be reached at all.
fn is_unreachable(error: &str) -> bool {
    error.starts_with("cannot reach the server")
}

impl eframe::App for OtadeckApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Ok(event) = self.events.try_recv() {
            self.handle(event);
        }
        if self.last_refresh.elapsed() > AUTO_REFRESH && !self.apps.loading && !self.history.loading {
            self.refresh();
        }
        if self.selected_label.is_some() && self.series_requested != self.selected_label {
            self.load_series();
        }
        self.shortcuts(ctx);
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.toolbar(ui);
        self.banner(ui);
        self.toasts_ui(ui);
        super::sidebar::show(self, ui);
        super::detail::show(self, ui);
        super::releases::show(self, ui);
        let ctx = ui.ctx().clone();
        super::detail::confirmations(self, &ctx);
        self.add_server_window(&ctx);
        if let Some(mut dialog) = self.push.take() {
            let keep = dialog.show(self, &ctx);
            if keep && self.push.is_none() {
                self.push = Some(dialog);
            }
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, Settings::KEY, &self.settings);
    }
}
