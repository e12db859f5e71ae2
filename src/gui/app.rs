//! `OtadeckApp`: the eframe glue. Each frame it applies the events of finished background tasks to
//! the state, queues the automatic refresh and keyboard shortcuts as commands, lets the views draw
//! (they only read the state and send commands), and handles the frame's commands at its end.

use std::sync::mpsc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::command::{Command, CommandSender};
use super::connection::Connection;
use super::settings::{KeyStore, Settings};
use super::state::{AUTO_REFRESH, AppState};
use super::tasks::{Envelope, Tasks};
use super::views::{self, ViewContext, ViewInputs};

/// The release manager window.
pub struct OtadeckApp {
    pub(super) state: AppState,
    pub(super) inputs: ViewInputs,
    pub(super) settings: Settings,
    pub(super) keys: KeyStore,
    pub(super) tasks: Tasks,
    pub(super) egui_ctx: egui::Context,
    /// Cancels the running push, if any.
    pub(super) push_cancel: Option<CancellationToken>,
    events: mpsc::Receiver<Envelope>,
    pub(super) commands: CommandSender,
    command_queue: mpsc::Receiver<Command>,
}

impl OtadeckApp {
    /// Creates the app, restoring settings from eframe's storage, and starts loading.
    pub fn new(cc: &eframe::CreationContext<'_>, runtime: tokio::runtime::Handle, connection: Connection) -> Self {
        super::theme::install(&cc.egui_ctx);
        let settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, Settings::KEY)).unwrap_or_default();
        let (tasks, events) = Tasks::new(runtime, cc.egui_ctx.clone());
        let (commands, command_queue) = CommandSender::channel();
        let mut state = AppState::new(connection);
        state.selected_app.clone_from(&settings.last_app);
        state.selected_deployment.clone_from(&settings.last_deployment);
        let mut app = Self {
            state,
            inputs: ViewInputs::default(),
            settings,
            keys: KeyStore::in_config_dir(),
            tasks,
            egui_ctx: cc.egui_ctx.clone(),
            push_cancel: None,
            events,
            commands,
            command_queue,
        };
        app.reconnect_saved_profile();
        app.handle(Command::Refresh);
        app
    }

    /// Uses another key file (tests keep it in a temp dir).
    #[must_use]
    pub fn with_key_store(mut self, keys: KeyStore) -> Self {
        self.keys = keys;
        self
    }

    /// Whether the server could not be reached on the last load: data is shown read-only.
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.state.is_offline()
    }

    /// Connects to the profile that was active when the app was closed, if its key is stored.
    fn reconnect_saved_profile(&mut self) {
        let Some(name) = self.settings.active_profile.clone() else { return };
        let Some(profile) = self.settings.profiles.iter().find(|p| p.name == name).cloned() else {
            self.settings.active_profile = None;
            return;
        };
        match self.keys.get(&profile.name) {
            Ok(Some(key)) => match Connection::for_profile(&profile, &key) {
                Ok(connection) => self.state.connection = connection,
                Err(error) => self.state.toast(format!("Cannot use the saved server {name}: {error}"), true),
            },
            Ok(None) => self.settings.active_profile = None,
            Err(error) => self.state.toast(format!("Cannot read the saved access keys: {error}"), true),
        }
    }

    /// Handles every command queued this frame (by views, events and shortcuts).
    fn handle_queued_commands(&mut self) {
        while let Ok(command) = self.command_queue.try_recv() {
            self.handle(command);
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
            self.commands.send(Command::Refresh);
        }
        if push {
            self.commands.send(Command::OpenPushDialog);
        }
        if escape {
            self.commands.send(Command::ClosePushDialog);
            self.inputs.confirm = None;
        }
        if (up || down) && !ctx.egui_wants_keyboard_input() {
            self.commands.send(Command::MoveSelection(if up { -1 } else { 1 }));
        }
    }
}

impl eframe::App for OtadeckApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Ok(envelope) = self.events.try_recv() {
            for command in self.state.apply(envelope) {
                self.commands.send(command);
            }
        }
        let toast_age = Duration::from_secs(views::TOAST_SECONDS);
        self.state.toasts.retain(|t| t.shown.elapsed() < toast_age);
        let idle = !self.state.apps.is_pending() && !self.state.history.is_pending();
        if self.state.last_refresh.elapsed() > AUTO_REFRESH && idle {
            self.commands.send(Command::Refresh);
        }
        if self.state.selected_label.is_some() && self.state.series_requested != self.state.selected_label {
            self.commands.send(Command::LoadSeries);
        }
        self.shortcuts(ctx);
        ctx.request_repaint_after(Duration::from_secs(1));
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        {
            let view = ViewContext { state: &self.state, settings: &self.settings, commands: &self.commands };
            let inputs = &mut self.inputs;
            views::toolbar_ui(&view, inputs, ui);
            views::banner_ui(&view, ui);
            views::toasts_ui(&view, ui);
            views::sidebar_ui(&view, inputs, ui);
            views::release_panel_ui(&view, inputs, ui);
            views::releases_ui(&view, inputs, ui);
            views::confirm_ui(&view, inputs, &ctx);
            views::server_form_ui(&view, inputs, &ctx);
            views::keys_dialog_ui(&view, inputs, &ctx);
            views::channel_dialog_ui(&view, inputs, &ctx);
            if let Some(form) = &mut inputs.push {
                views::push_dialog_ui(&view, form, &ctx);
            }
        }
        // Commands are handled at the end of the frame, so nothing waits for another repaint.
        self.handle_queued_commands();
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.last_app.clone_from(&self.state.selected_app);
        self.settings.last_deployment.clone_from(&self.state.selected_deployment);
        eframe::set_value(storage, Settings::KEY, &self.settings);
    }
}
