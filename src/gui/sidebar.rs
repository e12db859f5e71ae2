//! Left panel: apps grouped by project (the `-Android`/`-iOS` pair together), the selected app's
//! deployments with their keys, and creating apps and deployments.

use std::collections::BTreeMap;

use super::app::OtadeckApp;

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
pub fn show(app: &mut OtadeckApp, ui: &mut egui::Ui) {
    egui::Panel::left("apps").resizable(true).default_size(250.0).show(ui, |ui| {
        ui.heading("Apps");
        let names: Vec<String> = app.apps.value.iter().flatten().map(|a| a.name.clone()).collect();
        if names.is_empty() && !app.apps.loading {
            ui.label("No apps yet. Create one below, or push a project.");
        }
        let mut projects: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for name in &names {
            let (project, platform) = split_platform(name);
            projects.entry(project).or_default().push((name.as_str(), platform));
        }
        let mut clicked = None;
        egui::ScrollArea::vertical().id_salt("apps-scroll").max_height(ui.available_height() * 0.5).show(ui, |ui| {
            for (project, apps) in &projects {
                ui.label(egui::RichText::new(*project).strong());
                ui.horizontal_wrapped(|ui| {
                    for (name, platform) in apps {
                        let text = if platform.is_empty() { (*name).to_owned() } else { (*platform).to_owned() };
                        let selected = app.selected_app.as_deref() == Some(*name);
                        if ui.selectable_label(selected, text).on_hover_text(*name).clicked() {
                            clicked = Some((*name).to_owned());
                        }
                    }
                });
            }
        });
        if let Some(name) = clicked {
            app.select_app(&name);
        }
        ui.horizontal(|ui| {
            let field = ui
                .add(egui::TextEdit::singleline(&mut app.new_app_name).hint_text("New app name").desired_width(140.0));
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New app name"));
            if ui.add_enabled(!app.new_app_name.trim().is_empty(), egui::Button::new("Create app")).clicked() {
                let name = std::mem::take(&mut app.new_app_name).trim().to_owned();
                app.create_app(name);
            }
        });
        ui.separator();
        deployments(app, ui);
    });
}

fn deployments(app: &mut OtadeckApp, ui: &mut egui::Ui) {
    let Some(app_name) = app.selected_app.clone() else { return };
    ui.heading("Deployments");
    let rows: Vec<(String, String, Option<String>)> = app
        .deployments
        .value
        .iter()
        .flatten()
        .map(|d| (d.name.clone(), d.key.clone(), d.package.as_ref().map(|p| p.label.clone())))
        .collect();
    let mut clicked = None;
    for (name, key, latest) in &rows {
        ui.horizontal(|ui| {
            let selected = app.selected_deployment.as_deref() == Some(name.as_str());
            let text = format!("{name}{}", latest.as_ref().map(|l| format!(" · {l}")).unwrap_or_default());
            if ui.selectable_label(selected, text).clicked() {
                clicked = Some(name.clone());
            }
            if ui.small_button("Copy key").on_hover_text(format!("Copy the deployment key of {name}")).clicked() {
                ui.ctx().copy_text(key.clone());
                app.toast(format!("Copied the {name} deployment key"), false);
            }
        });
    }
    if let Some(name) = clicked {
        app.select_deployment(&name);
    }
    ui.horizontal(|ui| {
        let id = ui.scope_id().with("new-deployment");
        let mut name: String = ui.data_mut(|d| d.get_temp(id).unwrap_or_default());
        let field = ui.add(egui::TextEdit::singleline(&mut name).hint_text("New deployment").desired_width(140.0));
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "New deployment name"));
        if ui.add_enabled(!name.trim().is_empty(), egui::Button::new("Add deployment")).clicked() {
            app.create_deployment(app_name.clone(), name.trim().to_owned());
            name.clear();
        }
        ui.data_mut(|d| d.insert_temp(id, name));
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
