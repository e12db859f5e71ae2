//! The "Push update" dialog: pick a project (native folder dialog and detection run off the frame),
//! set the options (validated as you type), then watch the build log live, cancel it, answer
//! preflight findings with a written reason, and see the upload.

use std::path::PathBuf;

use super::ViewContext;
use crate::bundle::Platform;
use crate::bundle::project::{Project, ProjectKind};
use crate::domain::{BuildRange, TargetRange};
use crate::gui::command::Command;
use crate::gui::state::{PushProgress, PushStage};
use crate::gui::theme;
use crate::push::PushRequest;

/// The dialog's form.
#[derive(Debug, Clone)]
pub struct PushForm {
    pub folder: String,
    pub android: bool,
    pub ios: bool,
    pub deployment: String,
    pub target_version: String,
    pub build_number: String,
    pub rollout: u8,
    pub mandatory: bool,
    pub description: String,
    pub sign_key: String,
    pub force_reason: String,
    pub confirm_offline: bool,
    pub create_apps: bool,
    pub recent: Vec<PathBuf>,
    /// The deployment was set from the detected project already.
    deployment_from_project: Option<String>,
}

impl PushForm {
    /// A fresh form; mandatory is on by default, as in Native Builder.
    #[must_use]
    pub fn new(recent: &[PathBuf], deployment: Option<String>) -> Self {
        Self {
            folder: recent.first().map(|p| p.display().to_string()).unwrap_or_default(),
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
            recent: recent.to_vec(),
            deployment_from_project: None,
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
            bundle_dir: None,
        }
    }
}

/// The detected project of the form's folder, if detection finished for that folder.
fn detected<'a>(form: &PushForm, progress: &'a PushProgress) -> Option<&'a Result<Project, String>> {
    progress.project.as_ref().filter(|(folder, _)| *folder == form.folder.trim()).map(|(_, result)| result)
}

/// Draws the dialog.
pub fn push_dialog_ui(ctx: &ViewContext<'_>, form: &mut PushForm, egui_ctx: &egui::Context) {
    let Some(progress) = ctx.state.push.as_ref() else { return };
    let mut open = true;
    egui::Window::new("Push update").collapsible(false).resizable(true).default_width(560.0).open(&mut open).show(
        egui_ctx,
        |ui| match &progress.stage {
            PushStage::Editing => form_ui(ctx, form, progress, ui),
            PushStage::Running => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Building and pushing…");
                    if ui.button("Cancel build").clicked() {
                        ctx.send(Command::CancelPush);
                    }
                });
                progress_ui(progress, ui);
            }
            PushStage::Blocked { findings } => {
                ui.colored_label(theme::error(ui), "Preflight found changes that are not safe over the air:");
                egui::ScrollArea::vertical().id_salt("preflight-findings").max_height(220.0).show(ui, |ui| {
                    for finding in findings {
                        ui.label(format!("- {finding}"));
                    }
                    if !progress.warnings.is_empty() {
                        ui.colored_label(theme::warn(ui), "Also noted (not blocking):");
                        for warning in &progress.warnings {
                            ui.label(format!("- {warning}"));
                        }
                    }
                });
                ui.label("To push anyway, write why it is safe (stored with the release):");
                let reason = ui.add(egui::TextEdit::singleline(&mut form.force_reason).desired_width(f32::INFINITY));
                reason.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Reason to override preflight")
                });
                ui.horizontal(|ui| {
                    let project = detected(form, progress).and_then(|r| r.as_ref().ok());
                    let ready = !form.force_reason.trim().is_empty() && project.is_some();
                    if ui.add_enabled(ready, egui::Button::new("Push anyway")).clicked()
                        && let Some(project) = project
                    {
                        let request = Box::new(form.request(project));
                        ctx.send(Command::StartPush { project: Box::new(project.clone()), request });
                    }
                    if ui.button("Back").clicked() {
                        ctx.send(Command::EditPush);
                    }
                });
            }
            PushStage::Done { released } => {
                ui.label(format!("Released {}.", released.join(", ")));
                progress_ui(progress, ui);
                if ui.button("Close").clicked() {
                    ctx.send(Command::ClosePushDialog);
                }
            }
            PushStage::Failed { message } => {
                ui.colored_label(theme::error(ui), format!("The push stopped: {message}"));
                progress_ui(progress, ui);
                if ui.button("Back").clicked() {
                    ctx.send(Command::EditPush);
                }
            }
        },
    );
    if !open && progress.stage != PushStage::Running {
        ctx.send(Command::ClosePushDialog);
    }
}

fn progress_ui(progress: &PushProgress, ui: &mut egui::Ui) {
    if let Some((platform, sent, total)) = progress.upload {
        #[allow(clippy::cast_precision_loss)]
        let fraction = if total > 0 { sent as f32 / total as f32 } else { 0.0 };
        ui.add(egui::ProgressBar::new(fraction).text(format!(
            "Uploading {platform}: {} of {} KB",
            sent / 1024,
            total / 1024
        )));
    }
    egui::ScrollArea::vertical().id_salt("push-log").max_height(260.0).stick_to_bottom(true).show(ui, |ui| {
        for line in &progress.log {
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

fn form_ui(ctx: &ViewContext<'_>, form: &mut PushForm, progress: &PushProgress, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        if labelled_field(ui, "Project folder", &mut form.folder).changed() {
            ctx.send(Command::DetectProject(form.folder.trim().to_owned()));
        }
        if ui.button("Browse…").clicked() {
            ctx.send(Command::PickFolder);
        }
    });
    if !form.recent.is_empty() {
        let mut picked = None;
        egui::ComboBox::from_label("Recent projects").selected_text("choose…").show_ui(ui, |ui| {
            for folder in &form.recent {
                if ui.selectable_label(false, folder.display().to_string()).clicked() {
                    picked = Some(folder.display().to_string());
                }
            }
        });
        if let Some(folder) = picked {
            form.folder.clone_from(&folder);
            ctx.send(Command::DetectProject(folder));
        }
    }
    let project = match detected(form, progress) {
        Some(Ok(project)) => {
            ui.label(format!(
                "{} project \"{}\" -> apps {} / {}",
                project.kind,
                project.name,
                project.app_name(Platform::Android),
                project.app_name(Platform::Ios)
            ));
            if form.deployment_from_project.as_deref() != Some(form.folder.trim()) {
                form.deployment = project.default_deployment();
                form.deployment_from_project = Some(form.folder.trim().to_owned());
            }
            Some(project)
        }
        Some(Err(error)) => {
            ui.colored_label(theme::error(ui), error);
            None
        }
        None if progress.detecting.is_some() => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking at the folder…");
            });
            None
        }
        None => {
            ui.label("Choose a project folder.");
            None
        }
    };
    ui.horizontal(|ui| {
        ui.checkbox(&mut form.android, "Android");
        ui.checkbox(&mut form.ios, "iOS");
    });
    labelled_field(ui, "Deployment", &mut form.deployment);
    labelled_field(ui, "Target version", &mut form.target_version);
    let range_error = match TargetRange::parse(&form.target_version) {
        Ok(_) => None,
        Err(_) if form.target_version.trim().is_empty() => {
            Some("Enter the binary versions this update is for, e.g. ^1.4.0".to_owned())
        }
        Err(error) => Some(error.to_string()),
    };
    if let Some(error) = &range_error {
        ui.colored_label(theme::warn(ui), error);
    }
    labelled_field(ui, "Build number", &mut form.build_number);
    let build_error =
        (!form.build_number.trim().is_empty()).then(|| form.build_number.trim().parse::<BuildRange>().err()).flatten();
    if let Some(error) = &build_error {
        ui.colored_label(theme::warn(ui), error.to_string());
    }
    ui.add(egui::Slider::new(&mut form.rollout, 1..=100).text("Push rollout").suffix("%"));
    ui.checkbox(&mut form.mandatory, "Mandatory update");
    ui.checkbox(&mut form.create_apps, "Create the apps if the server does not have them");
    labelled_field(ui, "Description", &mut form.description);
    labelled_field(ui, "Signing key (PEM)", &mut form.sign_key);
    if project.is_some_and(|p| p.kind == ProjectKind::Mendix) {
        ui.checkbox(&mut form.confirm_offline, "I reviewed the Mendix offline-first checklist")
            .on_hover_text("Needed only when no registered store build and no current release has a model snapshot to compare the project's model with.");
    }
    let ready = project.is_some()
        && range_error.is_none()
        && build_error.is_none()
        && (form.android || form.ios)
        && !form.deployment.trim().is_empty();
    if ui.add_enabled(ready, egui::Button::new("Build and push")).clicked()
        && let Some(project) = project
    {
        let request = Box::new(form.request(project));
        ctx.send(Command::StartPush { project: Box::new(project.clone()), request });
    }
}
