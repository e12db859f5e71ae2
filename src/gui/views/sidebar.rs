//! Left panel: apps grouped by project (the `-Android`/`-iOS` pair together, demo data marked), the
//! selected app's deployments with their keys, and creating apps and deployments.

use std::collections::BTreeMap;

use super::{ViewContext, ViewInputs};
use crate::gui::command::Command;
use crate::gui::theme;

/// `Shop-Android` -> (`Shop`, `Android`); apps without a platform suffix stand alone.
fn split_platform(app: &str) -> (&str, &str) {
    for suffix in ["-Android", "-iOS", "-Ios", "-android", "-ios"] {
        if let Some(project) = app.strip_suffix(suffix) {
            return (project, &suffix[1..]);
        }
    }
    (app, "")
}

/// Draws the panel.
pub fn sidebar_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) {
    let state = ctx.state;
    egui::Panel::left("apps").resizable(true).default_size(theme::SIDEBAR_WIDTH).show(ui, |ui| {
        ui.heading("Apps");
        let names: Vec<&str> = state.apps.value().into_iter().flatten().map(|a| a.name.as_str()).collect();
        if names.is_empty() && !state.apps.is_pending() {
            ui.colored_label(theme::muted(ui), "No apps yet. Create one below, or push a project.");
        }
        let mut projects: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for name in &names {
            let (project, platform) = split_platform(name);
            projects.entry(project).or_default().push((name, platform));
        }
        egui::ScrollArea::vertical().id_salt("apps-scroll").max_height(ui.available_height() * 0.5).show(ui, |ui| {
            for (project, apps) in &projects {
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(*project).strong());
                    if apps.iter().any(|(name, _)| crate::sim::demo::is_demo_app(name)) {
                        ui.colored_label(theme::warn(ui), "demo data");
                    }
                });
                ui.horizontal_wrapped(|ui| {
                    for (name, platform) in apps {
                        let text = if platform.is_empty() { (*name).to_owned() } else { (*platform).to_owned() };
                        let selected = state.selected_app.as_deref() == Some(*name);
                        if ui.selectable_label(selected, text).on_hover_text(*name).clicked() {
                            ctx.send(Command::SelectApp((*name).to_owned()));
                        }
                    }
                });
            }
        });
        ui.horizontal(|ui| {
            let field = ui.add(
                egui::TextEdit::singleline(&mut inputs.new_app_name).hint_text("New app name").desired_width(140.0),
            );
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New app name"));
            if ui.add_enabled(!inputs.new_app_name.trim().is_empty(), egui::Button::new("Create app")).clicked() {
                let name = std::mem::take(&mut inputs.new_app_name).trim().to_owned();
                ctx.send(Command::CreateApp(name));
            }
        });
        ui.separator();
        deployments(ctx, inputs, ui);
    });
}

fn deployments(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) {
    let state = ctx.state;
    let Some(app_name) = state.selected_app.clone() else { return };
    ui.heading("Deployments");
    for deployment in state.deployments.value().into_iter().flatten() {
        ui.horizontal(|ui| {
            let selected = state.selected_deployment.as_deref() == Some(deployment.name.as_str());
            let latest = deployment.package.as_ref().map(|p| format!(" · {}", p.label)).unwrap_or_default();
            let lock = if deployment.is_protected { " (protected)" } else { "" };
            let entry = ui.selectable_label(selected, format!("{}{lock}{latest}", deployment.name));
            let entry =
                if deployment.is_protected { entry.on_hover_text("Protected: changes need a reason") } else { entry };
            if entry.clicked() {
                ctx.send(Command::SelectDeployment(deployment.name.clone()));
            }
            if ui
                .small_button("Copy key")
                .on_hover_text(format!("Copy the deployment key of {}", deployment.name))
                .clicked()
            {
                ctx.send(Command::CopyText {
                    text: deployment.key.clone(),
                    what: format!("the {} deployment key", deployment.name),
                });
            }
        });
    }
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut inputs.new_deployment_name)
                .hint_text("New deployment")
                .desired_width(140.0),
        );
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New deployment name"));
        if ui.add_enabled(!inputs.new_deployment_name.trim().is_empty(), egui::Button::new("Add deployment")).clicked()
        {
            let name = std::mem::take(&mut inputs.new_deployment_name).trim().to_owned();
            ctx.send(Command::CreateDeployment { app: app_name, name });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::split_platform;

    #[test]
    fn pairs_apps_by_project() {
        assert_eq!(split_platform("Shop-Android"), ("Shop", "Android"));
        assert_eq!(split_platform("Shop-iOS"), ("Shop", "iOS"));
        assert_eq!(split_platform("Tools"), ("Tools", ""));
    }
}
