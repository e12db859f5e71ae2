//! Right panel: the selected release. Rollout slider (never below the current value) with a confirmed
//! Apply, Mandatory/Enabled toggles that save at once (pending until the server answers, reverting
//! with its message if refused), description, roll back and promote with confirmation, and metrics.

use serde_json::json;

use super::app::OtadeckApp;
use crate::api::management::{Package, PackageInfo};

/// A change waiting for the user's confirmation.
#[derive(Debug, Clone)]
pub enum Confirm {
    Rollout { label: String, from: u8, to: u8, affected: i64 },
    Rollback { target: Box<Package>, from: String, active: i64 },
    Promote { label: String, destination: String, rollout: u8, mandatory: bool },
}

/// Inputs of the panel that are not yet sent.
#[derive(Debug, Clone, Default)]
pub struct DetailState {
    /// (label, percentage) being edited on the slider.
    pub rollout_input: Option<(String, u8)>,
    /// (label, text) being edited.
    pub description_input: Option<(String, String)>,
    pub rollback_target: Option<String>,
    pub promote_to: Option<String>,
    pub promote_rollout: Option<u8>,
    pub promote_mandatory: bool,
    pub confirm: Option<Confirm>,
}

impl DetailState {
    /// Drops unsent edits so the panel shows the server's values again.
    pub fn reset_inputs(&mut self) {
        self.rollout_input = None;
        self.description_input = None;
    }
}

fn active_devices(app: &OtadeckApp) -> i64 {
    app.history.value.as_ref().map_or(0, |h| h.metrics.values().map(|m| m.active.max(0)).sum())
}

/// Draws the panel.
pub fn show(app: &mut OtadeckApp, ui: &mut egui::Ui) {
    let Some(history) = app.history.value.as_ref() else { return };
    let Some(label) = app.selected_label.clone() else { return };
    let Some(package) = history.releases.iter().find(|p| p.label == label).cloned() else { return };
    let latest = history.releases.last().map(|p| p.label.clone());
    let others: Vec<String> =
        history.releases.iter().rev().filter(|p| p.label != label).map(|p| p.label.clone()).collect();
    let metrics = history.metrics.get(&label).cloned().unwrap_or_default();
    let activity: Vec<crate::api::management::ReleaseEvent> =
        history.events.iter().filter(|e| e.label == label).cloned().collect();
    let halted = package.is_paused.then(|| activity.iter().rev().find(|e| e.kind == "halted").cloned()).flatten();
    let next_step = history.policy.as_ref().and_then(|p| {
        let current = package.rollout.filter(|&r| r < 100 && !package.is_disabled && !package.is_paused)?;
        let changed = package.rollout_changed_time.unwrap_or(package.upload_time);
        let step = p.due_step(current, changed, i64::MAX)?;
        Some(format!(
            "Next step: {step}% at {} (UTC)",
            crate::domain::time::format_utc_minutes(changed.saturating_add(p.interval_ms))
        ))
    });
    let schedule = history.policy.as_ref().map(|p| {
        let steps: Vec<String> = p.steps.iter().map(|s| format!("{s}%")).collect();
        format!(
            "Schedule {} every {} min; halts above {:.0}% failures after {} installs",
            steps.join(" > "),
            p.interval_ms / 60_000,
            p.max_failure_ratio * 100.0,
            p.min_reports
        )
    });
    let deployments: Vec<String> = app
        .deployments
        .value
        .iter()
        .flatten()
        .map(|d| d.name.clone())
        .filter(|d| Some(d) != app.selected_deployment.as_ref())
        .collect();
    let series = app.series.as_ref().filter(|(l, _)| *l == label).map(|(_, buckets)| buckets.clone());
    let offline = app.is_offline();
    let pending = app.pending.iter().rev().find(|p| p.label == label).map(|p| p.info.clone());
    let active = active_devices(app);

    egui::Panel::right("release").resizable(true).default_size(330.0).show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("detail-scroll").show(ui, |ui| {
            ui.heading(format!("Release {label}"));
            ui.label(format!(
                "Target {}{}",
                package.app_version,
                package.build_number.as_ref().map(|b| format!(" · builds {b}")).unwrap_or_default()
            ));
            ui.label(format!(
                "Released by {} · {}",
                package.released_by,
                crate::domain::time::format_utc_minutes(package.upload_time)
            ));
            ui.label(format!("Package hash {}", package.package_hash.get(..16).unwrap_or(&package.package_hash)))
                .on_hover_text(&package.package_hash);
            if offline {
                ui.colored_label(ui.visuals().warn_fg_color, "Read-only: the server cannot be reached.");
            }
            if let Some(event) = &halted {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!(
                        "Halted by the {} at {}: {}",
                        event.actor,
                        crate::domain::time::format_utc_minutes(event.time),
                        event.detail
                    ),
                );
                ui.label("No new device receives it; devices that have it keep it. Resume it, or roll back.");
            }
            if let Some(schedule) = &schedule {
                ui.label(schedule);
            }
            if let Some(next_step) = &next_step {
                ui.label(next_step);
            }
            ui.separator();
            ui.add_enabled_ui(!offline, |ui| {
                rollout_section(app, ui, &package, active);
                ui.separator();
                toggles(app, ui, &package, pending.as_ref());
                ui.separator();
                description_section(app, ui, &package);
                ui.separator();
                rollback_section(app, ui, &package, latest.as_deref(), &others, active);
                ui.separator();
                promote_section(app, ui, &package, &deployments);
            });
            if !activity.is_empty() {
                ui.separator();
                ui.strong("Activity");
                for event in activity.iter().rev().take(8) {
                    ui.label(format!(
                        "{} · {} · {}",
                        crate::domain::time::format_utc_minutes(event.time),
                        event.actor,
                        event.detail
                    ));
                }
            }
            ui.separator();
            ui.strong("Metrics");
            let installed = metrics.installed.unwrap_or(0);
            let failed = metrics.failed.unwrap_or(0);
            ui.label(format!(
                "Active {} · Installed {installed} · Downloaded {} · Failed {failed}",
                metrics.active,
                metrics.downloaded.unwrap_or(0)
            ));
            if installed + failed > 0 {
                #[allow(clippy::cast_precision_loss)]
                let rate = failed as f64 * 100.0 / (installed + failed) as f64;
                ui.label(format!("Failure rate {rate:.1}%"));
            }
            if let Some(buckets) = series.filter(|b| !b.is_empty()) {
                installs_chart(ui, &buckets);
            }
        });
    });
}

fn rollout_section(app: &mut OtadeckApp, ui: &mut egui::Ui, package: &Package, active: i64) {
    let current = package.rollout.unwrap_or(100);
    if current >= 100 {
        ui.label("Rollout: 100% (complete)");
        return;
    }
    ui.label(format!("Rollout: {current}% of devices"));
    let mut value = match &app.detail.rollout_input {
        Some((label, value)) if *label == package.label => *value,
        _ => current,
    };
    let slider = ui.add(egui::Slider::new(&mut value, current..=100).text("Rollout percentage").suffix("%"));
    if slider.changed() {
        app.detail.rollout_input = Some((package.label.clone(), value));
    }
    let affected = active * i64::from(value.saturating_sub(current)) / 100;
    ui.label(format!("About {affected} more active devices would get {}", package.label));
    if ui.add_enabled(value > current, egui::Button::new("Apply rollout…")).clicked() {
        app.detail.confirm =
            Some(Confirm::Rollout { label: package.label.clone(), from: current, to: value, affected });
    }
}

fn toggles(app: &mut OtadeckApp, ui: &mut egui::Ui, package: &Package, pending: Option<&PackageInfo>) {
    let mut mandatory = pending.and_then(|p| p.is_mandatory).unwrap_or(package.is_mandatory);
    let mut enabled = !pending.and_then(|p| p.is_disabled).unwrap_or(package.is_disabled);
    ui.horizontal(|ui| {
        if ui.checkbox(&mut mandatory, "Mandatory").changed() {
            let info = PackageInfo { is_mandatory: Some(mandatory), ..PackageInfo::default() };
            let what = format!("{} {}", if mandatory { "Make mandatory" } else { "Make optional" }, package.label);
            app.patch_release(&package.label, info, what);
        }
        if ui.checkbox(&mut enabled, "Enabled").changed() {
            let info = PackageInfo { is_disabled: Some(!enabled), ..PackageInfo::default() };
            let what = format!("{} {}", if enabled { "Enable" } else { "Disable" }, package.label);
            app.patch_release(&package.label, info, what);
        }
        if pending.is_some() {
            ui.spinner();
            ui.label("saving…");
        }
    });
}

fn description_section(app: &mut OtadeckApp, ui: &mut egui::Ui, package: &Package) {
    let mut text = match &app.detail.description_input {
        Some((label, text)) if *label == package.label => text.clone(),
        _ => package.description.clone(),
    };
    ui.label("Description");
    let edit = ui.add(egui::TextEdit::multiline(&mut text).desired_rows(2).desired_width(f32::INFINITY));
    edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Release description"));
    if edit.changed() {
        app.detail.description_input = Some((package.label.clone(), text.clone()));
    }
    let changed = text != package.description && !text.trim().is_empty();
    if ui.add_enabled(changed, egui::Button::new("Save description")).clicked() {
        let info = PackageInfo { description: Some(text), ..PackageInfo::default() };
        app.patch_release(&package.label, info, format!("Describe {}", package.label));
        app.detail.description_input = None;
    }
}

fn rollback_section(
    app: &mut OtadeckApp,
    ui: &mut egui::Ui,
    package: &Package,
    latest: Option<&str>,
    others: &[String],
    active: i64,
) {
    ui.strong("Roll back");
    if latest != Some(package.label.as_str()) {
        ui.label("Rolling back always starts from the latest release; select it or pick a target below.");
    }
    let default_target = others.first().cloned();
    let mut target = app.detail.rollback_target.clone().filter(|t| others.contains(t)).or(default_target);
    egui::ComboBox::from_label("Roll back to").selected_text(target.clone().unwrap_or_else(|| "-".into())).show_ui(
        ui,
        |ui| {
            for label in others {
                ui.selectable_value(&mut target, Some(label.clone()), label);
            }
        },
    );
    app.detail.rollback_target.clone_from(&target);
    let target_package =
        target.as_ref().and_then(|t| app.history.value.as_ref()?.releases.iter().find(|p| &p.label == t).cloned());
    if ui.add_enabled(target_package.is_some(), egui::Button::new("Roll back…")).clicked()
        && let Some(target) = target_package
    {
        app.detail.confirm =
            Some(Confirm::Rollback { target: Box::new(target), from: latest.unwrap_or_default().to_owned(), active });
    }
}

fn promote_section(app: &mut OtadeckApp, ui: &mut egui::Ui, package: &Package, deployments: &[String]) {
    ui.strong("Promote");
    if deployments.is_empty() {
        ui.label("No other deployment to promote to.");
        return;
    }
    let mut destination =
        app.detail.promote_to.clone().filter(|d| deployments.contains(d)).or_else(|| deployments.first().cloned());
    egui::ComboBox::from_label("Promote to").selected_text(destination.clone().unwrap_or_default()).show_ui(ui, |ui| {
        for name in deployments {
            ui.selectable_value(&mut destination, Some(name.clone()), name);
        }
    });
    app.detail.promote_to.clone_from(&destination);
    let mut rollout = app.detail.promote_rollout.unwrap_or(100);
    if ui.add(egui::Slider::new(&mut rollout, 1..=100).text("Promote rollout").suffix("%")).changed() {
        app.detail.promote_rollout = Some(rollout);
    }
    ui.checkbox(&mut app.detail.promote_mandatory, "Promote as mandatory");
    if ui.button("Promote…").clicked()
        && let Some(destination) = destination
    {
        app.detail.confirm = Some(Confirm::Promote {
            label: package.label.clone(),
            destination,
            rollout,
            mandatory: app.detail.promote_mandatory,
        });
    }
}

/// The confirmation dialog of a pending change, if any.
pub fn confirmations(app: &mut OtadeckApp, ctx: &egui::Context) {
    let Some(confirm) = app.detail.confirm.clone() else { return };
    let deployment = app.selected_deployment.clone().unwrap_or_default();
    let mut decision = None;
    let kind = match &confirm {
        Confirm::Rollout { .. } => "rollout",
        Confirm::Rollback { .. } => "rollback",
        Confirm::Promote { .. } => "promote",
    };
    egui::Modal::new(egui::Id::unique(("confirm-change", kind))).show(ctx, |ui| {
        let (title, lines, button): (String, Vec<String>, &str) = match &confirm {
            Confirm::Rollout { label, from, to, affected } => (
                format!("Raise the rollout of {label}?"),
                vec![
                    format!("From {from}% to {to}% of devices on {deployment}."),
                    format!("About {affected} more active devices will get {label}."),
                    "A rollout cannot be lowered again.".into(),
                ],
                "Confirm rollout",
            ),
            Confirm::Rollback { target, from, active } => (
                format!("Roll {deployment} back to {}?", target.label),
                vec![
                    format!(
                        "Devices will receive {} (target {}, package {}) as a new release replacing {from}.",
                        target.label,
                        target.app_version,
                        target.package_hash.get(..12).unwrap_or_default()
                    ),
                    format!("{active} devices are active on {deployment}."),
                ],
                "Confirm rollback",
            ),
            Confirm::Promote { label, destination, rollout, mandatory } => (
                format!("Promote {label} to {destination}?"),
                vec![format!(
                    "It becomes the newest release of {destination} at {rollout}%{}.",
                    if *mandatory { ", mandatory" } else { "" }
                )],
                "Confirm promote",
            ),
        };
        ui.heading(title);
        for line in lines {
            ui.label(line);
        }
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
            app.detail.confirm = None;
            match confirm {
                Confirm::Rollout { label, to, .. } => {
                    let info = PackageInfo { rollout: Some(json!(to)), ..PackageInfo::default() };
                    app.patch_release(&label, info, format!("Rollout of {label} to {to}%"));
                    app.detail.rollout_input = None;
                }
                Confirm::Rollback { target, .. } => app.rollback(&target.label),
                Confirm::Promote { label, destination, rollout, mandatory } => {
                    app.promote(&label, &destination, rollout, mandatory)
                }
            }
        }
        Some(false) => app.detail.confirm = None,
        None => {}
    }
}

/// Cumulative installs and failures of a release over time (x: hours since its first report).
fn installs_chart(ui: &mut egui::Ui, buckets: &[crate::api::management::MetricSample]) {
    ui.label("Installs over time");
    let start = buckets.first().map_or(0, |b| b.time);
    let (mut installed, mut failed) = (0_i64, 0_i64);
    let mut installs = Vec::with_capacity(buckets.len() + 1);
    let mut failures = Vec::with_capacity(buckets.len() + 1);
    installs.push([0.0, 0.0]);
    failures.push([0.0, 0.0]);
    for bucket in buckets {
        installed += bucket.installed;
        failed += bucket.failed;
        #[allow(clippy::cast_precision_loss)]
        let hours = (bucket.time + bucket.bucket_ms - start) as f64 / 3_600_000.0;
        #[allow(clippy::cast_precision_loss)]
        {
            installs.push([hours, installed as f64]);
            failures.push([hours, failed as f64]);
        }
    }
    let failure_color = ui.visuals().error_fg_color;
    let install_color = ui.visuals().selection.bg_fill;
    egui_plot::Plot::new("installs-over-time")
        .height(140.0)
        .legend(egui_plot::Legend::default())
        .x_axis_label("hours since first report")
        .show(ui, |plot| {
            plot.line(egui_plot::Line::new("Installed", egui_plot::PlotPoints::from(installs)).color(install_color));
            plot.line(egui_plot::Line::new("Failed", egui_plot::PlotPoints::from(failures)).color(failure_color));
        });
}
