//! The "Push update" dialog: pick a project, set the options (validated as you type), then watch the
//! build log live, cancel it, answer preflight findings with a written reason, and see the upload.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::app::OtadeckApp;
use super::settings::Settings;
use super::tasks::{Event, PushFailure};
use crate::bundle::Platform;
use crate::bundle::build::BuildEvent;
use crate::bundle::project::Project;
use crate::domain::{BuildRange, TargetRange};
use crate::push::{PushEvent, PushRequest, PushedRelease};

/// Where the dialog is.
#[derive(Debug, Clone)]
enum Stage {
    Editing,
    Running { cancel: CancellationToken },
    Blocked { findings: Vec<String> },
    Done { released: Vec<String> },
    Failed { message: String },
}

/// State of the dialog.
#[derive(Debug, Clone)]
pub struct PushDialog {
    folder: String,
    project: Option<Result<Project, String>>,
    android: bool,
    ios: bool,
    deployment: String,
    target_version: String,
    build_number: String,
    rollout: u8,
    mandatory: bool,
    description: String,
    sign_key: String,
    force_reason: String,
    confirm_offline: bool,
    create_apps: bool,
    recent: Vec<PathBuf>,
    stage: Stage,
    log: Vec<String>,
    upload: Option<(Platform, u64, u64)>,
}

impl PushDialog {
    /// A fresh dialog; mandatory is on by default, as in Native Builder.
    #[must_use]
    pub fn new(settings: &Settings, deployment: Option<String>) -> Self {
        let mut dialog = Self {
            folder: settings.recent_projects.first().map(|p| p.display().to_string()).unwrap_or_default(),
            project: None,
            android: true,
            ios: true,
            deployment: deployment.unwrap_or_else(|| "Staging".into()),
            target_version: String::new(),
            build_number: String::new(),
            rollout: 100,
            mandatory: true,
            description: String::new(),
            sign_key: String::new(),
            force_reason: String::new(),
            confirm_offline: false,
            create_apps: true,
            recent: settings.recent_projects.clone(),
            stage: Stage::Editing,
            log: Vec::new(),
            upload: None,
        };
        dialog.detect();
        dialog
    }

    /// Whether Esc may close it (not while a build runs).
    #[must_use]
    pub fn can_close(&self) -> bool {
        !matches!(self.stage, Stage::Running { .. })
    }

    fn detect(&mut self) {
        let folder = self.folder.trim();
        self.project =
            (!folder.is_empty()).then(|| Project::detect(std::path::Path::new(folder)).map_err(|e| e.to_string()));
        if let Some(Ok(project)) = &self.project {
            self.deployment = project.default_deployment();
        }
    }

    /// Applies a progress event.
    pub fn on_event(&mut self, event: PushEvent) {
        match event {
            PushEvent::Preflight { warnings, findings } => {
                self.log.extend(warnings.into_iter().map(|w| format!("warning: {w}")));
                self.log.extend(findings.into_iter().map(|f| format!("preflight: {f}")));
            }
            PushEvent::Build { platform, event } => match event {
                BuildEvent::Started { command } => self.log.push(format!("[{platform}] $ {command}")),
                BuildEvent::Output { line, .. } => self.log.push(format!("[{platform}] {line}")),
                BuildEvent::Finished { success } => {
                    self.log.push(format!("[{platform}] build {}", if success { "finished" } else { "failed" }))
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

    /// Applies the end of a push; returns (app, label) of each new release.
    pub fn on_finished(&mut self, result: Result<Vec<PushedRelease>, PushFailure>) -> Vec<(String, String)> {
        match result {
            Ok(released) => {
                let names = released.iter().map(|r| (r.app.clone(), r.package.label.clone())).collect();
                self.stage = Stage::Done {
                    released: released.iter().map(|r| format!("{} {}", r.app, r.package.label)).collect(),
                };
                names
            }
            Err(PushFailure::Blocked(findings)) => {
                self.stage = Stage::Blocked { findings };
                Vec::new()
            }
            Err(PushFailure::Failed(message)) => {
                self.log.push(format!("error: {message}"));
                self.stage = Stage::Failed { message };
                Vec::new()
            }
        }
    }

    fn request(&self, project: &Project) -> PushRequest {
        let mut targets = Vec::new();
        if self.android {
            targets.push((Platform::Android, project.app_name(Platform::Android)));
        }
        if self.ios {
            targets.push((Platform::Ios, project.app_name(Platform::Ios)));
        }
        PushRequest {
            targets,
            deployment: self.deployment.trim().to_owned(),
            target_version: self.target_version.trim().to_owned(),
            build_number: Some(self.build_number.trim().to_owned()).filter(|b| !b.is_empty()),
            rollout: self.rollout,
            mandatory: self.mandatory,
            description: self.description.clone(),
            sign_key: Some(PathBuf::from(self.sign_key.trim())).filter(|p| !p.as_os_str().is_empty()),
            force_reason: Some(self.force_reason.trim().to_owned()).filter(|r| !r.is_empty()),
            confirm_offline_checklist: self.confirm_offline,
            create_missing_apps: self.create_apps,
        }
    }

    fn start(&mut self, app: &mut OtadeckApp, project: Project) {
        app.settings.remember_project(project.root.clone());
        let request = self.request(&project);
        let cancel = CancellationToken::new();
        self.stage = Stage::Running { cancel: cancel.clone() };
        self.log.clear();
        let (client, tasks) = (app.connection.client.clone(), app.tasks.clone());
        app.tasks.runtime().spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel(256);
            let forward_tasks = tasks.clone();
            let forwarder = tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    forward_tasks.send(Event::Push(event));
                }
            });
            let result = crate::push::push(&client, &project, &request, &tx, &cancel).await;
            drop(tx);
            let _ = forwarder.await;
            let result = result.map_err(|error| match error {
                crate::push::PushError::Blocked(findings) => PushFailure::Blocked(findings),
                other => PushFailure::Failed(other.to_string()),
            });
            tasks.send(Event::PushFinished(result));
        });
    }

    /// Draws the dialog; returns false once it should close.
    pub fn show(&mut self, app: &mut OtadeckApp, ctx: &egui::Context) -> bool {
        let mut open = true;
        let mut close = false;
        egui::Window::new("Push update").collapsible(false).resizable(true).default_width(560.0).open(&mut open).show(
            ctx,
            |ui| match self.stage.clone() {
                Stage::Editing => self.form(app, ui),
                Stage::Running { cancel } => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Building and pushing…");
                        if ui.button("Cancel build").clicked() {
                            cancel.cancel();
                        }
                    });
                    self.progress(ui);
                }
                Stage::Blocked { findings } => {
                    ui.colored_label(ui.visuals().error_fg_color, "Preflight found changes that need a store release:");
                    for finding in &findings {
                        ui.label(format!("- {finding}"));
                    }
                    ui.label("To push anyway, write why it is safe (stored with the release):");
                    let reason =
                        ui.add(egui::TextEdit::singleline(&mut self.force_reason).desired_width(f32::INFINITY));
                    reason.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Reason to override preflight")
                    });
                    ui.horizontal(|ui| {
                        let project = self.project.clone().and_then(Result::ok);
                        if ui
                            .add_enabled(
                                !self.force_reason.trim().is_empty() && project.is_some(),
                                egui::Button::new("Push anyway"),
                            )
                            .clicked()
                            && let Some(project) = project
                        {
                            self.start(app, project);
                        }
                        if ui.button("Back").clicked() {
                            self.stage = Stage::Editing;
                        }
                    });
                }
                Stage::Done { released } => {
                    ui.label(format!("Released {}.", released.join(", ")));
                    self.progress(ui);
                    if ui.button("Close").clicked() {
                        close = true;
                    }
                }
                Stage::Failed { message } => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("The push stopped: {message}"));
                    self.progress(ui);
                    if ui.button("Back").clicked() {
                        self.stage = Stage::Editing;
                    }
                }
            },
        );
        if !open && !self.can_close() {
            return true;
        }
        open && !close
    }

    fn progress(&self, ui: &mut egui::Ui) {
        if let Some((platform, sent, total)) = self.upload {
            #[allow(clippy::cast_precision_loss)]
            let fraction = if total > 0 { sent as f32 / total as f32 } else { 0.0 };
            ui.add(egui::ProgressBar::new(fraction).text(format!(
                "Uploading {platform}: {} of {} KB",
                sent / 1024,
                total / 1024
            )));
        }
        egui::ScrollArea::vertical().id_salt("push-log").max_height(260.0).stick_to_bottom(true).show(ui, |ui| {
            for line in &self.log {
                ui.monospace(line);
            }
        });
    }

    fn labelled_field(ui: &mut egui::Ui, label: &str, value: &mut String) -> egui::Response {
        ui.horizontal(|ui| {
            ui.label(label);
            let response = ui.add(egui::TextEdit::singleline(value).desired_width(300.0));
            response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, label));
            response
        })
        .inner
    }

    fn form(&mut self, app: &mut OtadeckApp, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if Self::labelled_field(ui, "Project folder", &mut self.folder).changed() {
                self.detect();
            }
            if ui.button("Browse…").clicked()
                && let Some(folder) = rfd::FileDialog::new().pick_folder()
            {
                self.folder = folder.display().to_string();
                self.detect();
            }
        });
        if !self.recent.is_empty() {
            let mut picked = None;
            egui::ComboBox::from_label("Recent projects").selected_text("choose…").show_ui(ui, |ui| {
                for folder in &self.recent {
                    if ui.selectable_label(false, folder.display().to_string()).clicked() {
                        picked = Some(folder.display().to_string());
                    }
                }
            });
            if let Some(folder) = picked {
                self.folder = folder;
                self.detect();
            }
        }
        let project = match &self.project {
            Some(Ok(project)) => {
                ui.label(format!(
                    "{} project \"{}\" -> apps {} / {}",
                    project.kind,
                    project.name,
                    project.app_name(Platform::Android),
                    project.app_name(Platform::Ios)
                ));
                Some(project.clone())
            }
            Some(Err(error)) => {
                ui.colored_label(ui.visuals().error_fg_color, error);
                None
            }
            None => {
                ui.label("Choose a project folder.");
                None
            }
        };
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.android, "Android");
            ui.checkbox(&mut self.ios, "iOS");
        });
        Self::labelled_field(ui, "Deployment", &mut self.deployment);
        Self::labelled_field(ui, "Target version", &mut self.target_version);
        let range_error = match TargetRange::parse(&self.target_version) {
            Ok(_) => None,
            Err(_) if self.target_version.trim().is_empty() => {
                Some("Enter the binary versions this update is for, e.g. ^1.4.0".to_owned())
            }
            Err(error) => Some(error.to_string()),
        };
        if let Some(error) = &range_error {
            ui.colored_label(ui.visuals().warn_fg_color, error);
        }
        Self::labelled_field(ui, "Build number", &mut self.build_number);
        let build_error = (!self.build_number.trim().is_empty())
            .then(|| self.build_number.trim().parse::<BuildRange>().err())
            .flatten();
        if let Some(error) = &build_error {
            ui.colored_label(ui.visuals().warn_fg_color, error.to_string());
        }
        ui.add(egui::Slider::new(&mut self.rollout, 1..=100).text("Push rollout").suffix("%"));
        ui.checkbox(&mut self.mandatory, "Mandatory update");
        ui.checkbox(&mut self.create_apps, "Create the apps if the server does not have them");
        Self::labelled_field(ui, "Description", &mut self.description);
        Self::labelled_field(ui, "Signing key (PEM)", &mut self.sign_key);
        if project.as_ref().is_some_and(|p| p.kind == crate::bundle::project::ProjectKind::Mendix) {
            ui.checkbox(&mut self.confirm_offline, "I reviewed the Mendix offline-first checklist");
        }
        let ready = project.is_some()
            && range_error.is_none()
            && build_error.is_none()
            && (self.android || self.ios)
            && !self.deployment.trim().is_empty();
        if ui.add_enabled(ready, egui::Button::new("Build and push")).clicked()
            && let Some(project) = project
        {
            self.start(app, project);
        }
    }
}
