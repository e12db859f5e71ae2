//! Modal confirmations (rollout with its blast radius, rollback with what each store build gets
//! before and after, promote, removing demo data) and the "Add server" form.

use super::{Confirm, ServerForm, ViewContext, ViewInputs};
use crate::api::management::{Package, PackageInfo, ReleaseMethod};
use crate::gui::command::Command;
use crate::gui::tasks::Change;
use crate::gui::theme;

/// Draws the pending confirmation, if any.
pub fn confirm_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, egui_ctx: &egui::Context) {
    let Some(confirm) = inputs.confirm.clone() else { return };
    let deployment = ctx.state.selected_deployment.clone().unwrap_or_default();
    let kind = match &confirm {
        Confirm::Rollout { .. } => "rollout",
        Confirm::Rollback { .. } => "rollback",
        Confirm::Promote { .. } => "promote",
        Confirm::RemoveDemoData => "demo",
    };
    let mut decision = None;
    egui::Modal::new(egui::Id::unique(("confirm-change", kind))).show(egui_ctx, |ui| {
        let button = match &confirm {
            Confirm::Rollout { label, from, to, blast_radius } => {
                ui.heading(format!("Raise the rollout of {label}?"));
                ui.label(format!("From {from}% to {to}% of devices on {deployment}."));
                ui.label(blast_radius);
                ui.label("A rollout cannot be lowered again.");
                "Confirm rollout"
            }
            Confirm::Rollback { target, from } => {
                ui.heading(format!("Roll {deployment} back to {}?", target.label));
                ui.label(format!(
                    "Devices will receive {} (target {}, package {}) as a new release replacing {from}.",
                    target.label,
                    target.app_version,
                    target.package_hash.get(..12).unwrap_or_default()
                ));
                rollback_effects(ctx, ui, target);
                "Confirm rollback"
            }
            Confirm::Promote { label, destination, rollout, mandatory } => {
                ui.heading(format!("Promote {label} to {destination}?"));
                ui.label(format!(
                    "It becomes the newest release of {destination} at {rollout}%{}.",
                    if *mandatory { ", mandatory" } else { "" }
                ));
                "Confirm promote"
            }
            Confirm::RemoveDemoData => {
                ui.heading("Remove the demo data?");
                ui.label("Deletes the demo app, its releases and metrics from this local server.");
                "Remove demo data"
            }
        };
        ui.horizontal(|ui| {
            if ui.button(button).clicked() {
                decision = Some(true);
            }
            if ui.button("Cancel").clicked() {
                decision = Some(false);
            }
        });
    });
    match decision {
        Some(true) => {
            inputs.confirm = None;
            match confirm {
                Confirm::Rollout { label, to, .. } => {
                    let info = PackageInfo { rollout: Some(serde_json::json!(to)), ..PackageInfo::default() };
                    ctx.send(Command::PatchRelease { change: Change::Rollout { label, to }, info });
                    inputs.release.rollout = None;
                }
                Confirm::Rollback { target, .. } => ctx.send(Command::Rollback { target: target.label }),
                Confirm::Promote { label, destination, rollout, mandatory } => {
                    ctx.send(Command::Promote { label, destination, rollout, mandatory });
                }
                Confirm::RemoveDemoData => ctx.send(Command::RemoveDemoData),
            }
        }
        Some(false) => inputs.confirm = None,
        None => {}
    }
}

/// Per registered store build: what its devices get now, after the rollback, and how many are active.
fn rollback_effects(ctx: &ViewContext<'_>, ui: &mut egui::Ui, target: &Package) {
    let Some(history) = ctx.state.history.value() else { return };
    let active: i64 = history.metrics.values().map(|m| m.active.max(0)).sum();
    ui.label(format!("{} devices are active on this deployment.", super::format::count(active)));
    if history.binaries.is_empty() {
        ui.colored_label(theme::muted(ui), "No store build is registered, so per-build effects are not known.");
        return;
    }
    let mut after = history.releases.clone();
    after.push(Package {
        label: "the rollback".into(),
        release_method: ReleaseMethod::Rollback,
        is_disabled: false,
        is_paused: false,
        rollout: None,
        ..target.clone()
    });
    egui::Grid::new("rollback-effects").striped(true).show(ui, |ui| {
        for title in ["Store build", "Gets now", "After the rollback", "Active on the binary"] {
            ui.strong(title);
        }
        ui.end_row();
        for binary in &history.binaries {
            let build = binary.build_number.map_or_else(|| "any build".to_owned(), |b| format!("build {b}"));
            ui.label(format!("{} {} ({build})", binary.platform, binary.app_version));
            ui.label(super::releases::answer_for(binary, &history.releases));
            ui.label(
                super::releases::answer_for(binary, &after)
                    .replace("the rollback", &format!("{} (as the rollback)", target.label)),
            );
            ui.label(history.metrics.get(&binary.app_version).map_or_else(|| "0".to_owned(), |m| m.active.to_string()));
            ui.end_row();
        }
    });
}

/// The "Add server" window.
pub fn server_form_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, egui_ctx: &egui::Context) {
    let Some(form) = &mut inputs.server_form else { return };
    let mut open = true;
    let mut save = false;
    egui::Window::new("Add server").collapsible(false).open(&mut open).show(egui_ctx, |ui| {
        let ServerForm { profile, access_key, ca_cert } = form;
        for (label, value) in [
            ("Server name", &mut profile.name),
            ("Server URL", &mut profile.url),
            ("Access key", access_key),
            ("CA certificate file (optional)", ca_cert),
        ] {
            ui.horizontal(|ui| {
                ui.label(label);
                let field =
                    ui.add(egui::TextEdit::singleline(value).password(label == "Access key").desired_width(260.0));
                field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, label));
            });
        }
        ui.label("The key is stored in keys.toml (mode 0600) in the config folder, not in the settings.");
        ui.label("A CA certificate file (PEM) is only needed for a server whose certificate comes from a private CA.");
        let ready = !profile.name.trim().is_empty() && profile.url.starts_with("http") && !access_key.trim().is_empty();
        save = ui.add_enabled(ready, egui::Button::new("Save and connect")).clicked();
    });
    if save {
        let ca = form.ca_cert.trim();
        let profile = crate::gui::settings::Profile {
            name: form.profile.name.trim().to_owned(),
            url: form.profile.url.trim().to_owned(),
            ca_cert: (!ca.is_empty()).then(|| std::path::PathBuf::from(ca)),
        };
        ctx.send(Command::AddProfile { profile, access_key: form.access_key.trim().to_owned() });
    } else if !open {
        inputs.server_form = None;
    }
}
