//! Right panel: the selected release as a status page. A header says where it stands (rolling out
//! 25 % · complete · halted by the health gate · paused · disabled, and the schedule's next step), an
//! adoption funnel shows how far it got, then come the controls (rollout with presets and its blast
//! radius, toggles, pause/resume, description, roll back, promote) and a timeline of what happened
//! to it, in local time.

use super::audit_text;
use super::format::{count, local_time, now_ms, percent, relative, size_text};
use super::{Confirm, ViewContext, ViewInputs};
use crate::api::management::{AuditEntry, MetricCounts, Package, PackageInfo, ReleaseEvent, RolloutPolicy};
use crate::gui::command::Command;
use crate::gui::tasks::{Change, HistoryData};
use crate::gui::theme;

/// Rollout presets under the slider.
const PRESETS: [u8; 6] = [1, 5, 10, 25, 50, 100];

/// Where a release stands, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStatus {
    Disabled,
    /// Paused; `by_gate` when the health gate halted it.
    Halted {
        by_gate: bool,
        event: Option<ReleaseEvent>,
    },
    RollingOut {
        percent: u8,
        next_step: Option<(u8, i64)>,
    },
    Complete,
}

impl ReleaseStatus {
    /// The status of `package` in its deployment.
    #[must_use]
    pub fn of(package: &Package, events: &[ReleaseEvent], policy: Option<&RolloutPolicy>) -> Self {
        if package.is_disabled {
            return Self::Disabled;
        }
        if package.is_paused {
            let event = events
                .iter()
                .rev()
                .find(|e| e.label == package.label && matches!(e.kind.as_str(), "halted" | "paused"));
            return Self::Halted { by_gate: event.is_some_and(|e| e.kind == "halted"), event: event.cloned() };
        }
        match package.rollout.filter(|&r| r < 100) {
            Some(percent) => {
                let next_step = policy.and_then(|p| {
                    let changed = package.rollout_changed_time.unwrap_or(package.upload_time);
                    let due = changed.saturating_add(p.interval_ms);
                    p.due_step(percent, changed, i64::MAX).map(|step| (step, due))
                });
                Self::RollingOut { percent, next_step }
            }
            None => Self::Complete,
        }
    }

    /// The header line.
    #[must_use]
    pub fn headline(&self, now: i64) -> String {
        match self {
            Self::Disabled => "Disabled: devices are moved back to the previous release".into(),
            Self::Halted { by_gate: true, .. } => "Halted by the health gate".into(),
            Self::Halted { .. } => "Paused".into(),
            Self::RollingOut { percent, next_step: Some((step, due)) } => {
                format!("Rolling out {percent}% · next step {step}% at {} ({})", local_time(*due), relative(*due, now))
            }
            Self::RollingOut { percent, next_step: None } => format!("Rolling out {percent}%"),
            Self::Complete => "Complete: every eligible device gets it".into(),
        }
    }
}

/// Active devices that a release's rollout can reach: devices on releases of the same target and
/// build group, and devices on a store binary inside its target range.
#[must_use]
pub fn eligible_devices(history: &HistoryData, package: &Package) -> i64 {
    let target = crate::domain::TargetRange::parse(&package.app_version).ok();
    history
        .metrics
        .iter()
        .map(|(subject, counts)| {
            let on_group = history.releases.iter().any(|r| {
                r.label == *subject && r.app_version == package.app_version && r.build_number == package.build_number
            });
            let on_binary = crate::domain::DeviceVersion::parse(subject)
                .ok()
                .zip(target.as_ref())
                .is_some_and(|(version, range)| range.is_satisfied_by(version.version()));
            if on_group || on_binary { counts.active.max(0) } else { 0 }
        })
        .sum()
}

/// "about 1,240 more of the 4,960 active devices on 1.4.0 get v4 at their next start".
#[must_use]
pub fn blast_radius(history: &HistoryData, package: &Package, from: u8, to: u8) -> String {
    let eligible = eligible_devices(history, package);
    let more = eligible * i64::from(to.saturating_sub(from)) / 100;
    format!(
        "About {} more of the {} active devices on {} get {} at their next start.",
        count(more),
        count(eligible),
        package.app_version,
        package.label
    )
}

/// Draws the panel.
pub fn release_panel_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) {
    let state = ctx.state;
    let Some(history) = state.history.value() else { return };
    let Some(label) = state.selected_label.as_deref() else { return };
    let Some(package) = history.releases.iter().find(|p| p.label == label) else { return };
    let offline = state.is_offline();
    egui::Panel::right("release").resizable(true).default_size(theme::RELEASE_PANEL_WIDTH).show(ui, |ui| {
        egui::ScrollArea::vertical().id_salt("detail-scroll").show(ui, |ui| {
            let now = now_ms();
            let status = ReleaseStatus::of(package, &history.events, history.policy.as_ref());
            header(ui, package, &status, now);
            if offline {
                ui.colored_label(theme::warn(ui), "Read-only: the server cannot be reached.");
            }
            if let Some(policy) = &history.policy {
                let steps: Vec<String> = policy.steps.iter().map(|s| format!("{s}%")).collect();
                ui.label(format!(
                    "Schedule {} every {} min; halts above {:.0}% failures after {} installs",
                    steps.join(" > "),
                    policy.interval_ms / 60_000,
                    policy.max_failure_ratio * 100.0,
                    policy.min_reports
                ));
            }
            let reason_missing = reason_section(ctx, inputs, ui);
            let read_only = offline || reason_missing;
            if let ReleaseStatus::Halted { .. } = &status {
                halted_banner(ctx, inputs, ui, package, &status, history, read_only, now);
            }
            let mendix = state.selected_mendix_host();
            if let Some(host) = mendix {
                ui.label(format!(
                    "Mendix runtime OTA via {host}: every update is applied at the next start of the app; there are no optional updates."
                ));
            }
            ui.add_space(theme::SECTION_GAP);
            funnel(ui, history, package, mendix.is_some());
            ui.separator();
            ui.add_enabled_ui(!read_only, |ui| {
                rollout_section(ctx, inputs, ui, history, package, &status);
                ui.separator();
                toggles(ctx, ui, package, mendix.is_none());
                ui.separator();
                description_section(ctx, inputs, ui, package);
                ui.separator();
                rollback_section(inputs, ui, history, package);
                ui.separator();
                promote_section(ctx, inputs, ui, package);
            });
            ui.separator();
            timeline(ui, history, package, now);
            if let Some((_, buckets)) = state.series.as_ref().filter(|(l, _)| l == label)
                && !buckets.is_empty()
            {
                ui.separator();
                super::chart::installs_chart(ui, buckets, history.policy.as_ref());
            }
        });
    });
}

/// The reason sent with the next changes. Returns whether changes must wait for one (the
/// deployment is protected and the box is empty).
fn reason_section(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) -> bool {
    let protected = ctx.state.selected_deployment_is_protected();
    ui.horizontal(|ui| {
        ui.label(if protected { "Reason (required)" } else { "Reason" });
        let edit = ui.add(
            egui::TextEdit::singleline(&mut inputs.release.reason)
                .hint_text("Why? Recorded in the audit trail")
                .desired_width(f32::INFINITY),
        );
        edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Reason for changes"));
    });
    let missing = protected && inputs.release.reason.trim().is_empty();
    if missing {
        let deployment = ctx.state.selected_deployment.as_deref().unwrap_or_default();
        ui.colored_label(theme::warn(ui), format!("{deployment} is protected: give a reason to make changes."));
    }
    missing
}

fn header(ui: &mut egui::Ui, package: &Package, status: &ReleaseStatus, now: i64) {
    ui.heading(format!("Release {}", package.label));
    let color = match status {
        ReleaseStatus::Disabled => theme::muted(ui),
        ReleaseStatus::Halted { .. } => theme::error(ui),
        ReleaseStatus::RollingOut { .. } => theme::warn(ui),
        ReleaseStatus::Complete => theme::good(ui),
    };
    ui.label(theme::status(&status.headline(now), color));
    ui.label(format!(
        "Target {}{}{}",
        package.app_version,
        package.build_number.as_ref().map(|b| format!(" · builds {b}")).unwrap_or_default(),
        if package.is_mandatory { " · mandatory" } else { "" }
    ));
    ui.label(format!(
        "Pushed by {} · {} ({})",
        package.released_by,
        local_time(package.upload_time),
        relative(package.upload_time, now)
    ));
    ui.label(format!("Package hash {}", package.package_hash.get(..16).unwrap_or(&package.package_hash)))
        .on_hover_text(&package.package_hash);
    ui.label(download_line(package))
        .on_hover_text("Devices running one of these packages download only what changed; the others download it all.");
}

/// What devices download for a release: the whole package, and the diff packages it has.
fn download_line(package: &Package) -> String {
    const SHOWN: usize = 3;
    let whole = format!("Download {}", size_text(package.size));
    if package.diff_packages.is_empty() {
        return format!("{whole} · no diff packages");
    }
    let diffs: Vec<String> = package
        .diff_packages
        .iter()
        .take(SHOWN)
        .map(|d| {
            let from = if d.from.is_empty() { "an earlier package" } else { d.from.as_str() };
            format!("{from} {}", size_text(d.size))
        })
        .collect();
    let more = package.diff_packages.len().saturating_sub(SHOWN);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{whole} · diffs from {}{more}", diffs.join(", "))
}

#[allow(clippy::too_many_arguments)]
fn halted_banner(
    ctx: &ViewContext<'_>,
    inputs: &mut ViewInputs,
    ui: &mut egui::Ui,
    package: &Package,
    status: &ReleaseStatus,
    history: &HistoryData,
    offline: bool,
    now: i64,
) {
    let ReleaseStatus::Halted { event, .. } = status else { return };
    ui.group(|ui| {
        if let Some(event) = event {
            ui.colored_label(
                theme::error(ui),
                format!(
                    "{} by the {} {} ({}): {}",
                    if event.kind == "halted" { "Halted" } else { "Paused" },
                    event.actor,
                    relative(event.time, now),
                    local_time(event.time),
                    event.detail.trim_start_matches("halted: ").trim_start_matches("paused: ")
                ),
            );
        }
        ui.label("No new device receives it; devices that have it keep it.");
        ui.add_enabled_ui(!offline, |ui| {
            ui.horizontal(|ui| {
                if ui.button("Resume").on_hover_text("Continue the rollout and its schedule").clicked() {
                    let info = PackageInfo { is_paused: Some(false), ..PackageInfo::default() };
                    ctx.send(Command::PatchRelease { change: Change::Resume { label: package.label.clone() }, info });
                }
                // The newest usable release before this one.
                let position = history.releases.iter().position(|p| p.label == package.label).unwrap_or(0);
                let previous = history.releases[..position].iter().rev().find(|p| !p.is_disabled && !p.is_paused);
                if let Some(previous) = previous
                    && ui.button(format!("Roll back to {}…", previous.label)).clicked()
                {
                    inputs.confirm = Some(Confirm::Rollback {
                        target: Box::new(previous.clone()),
                        from: history.releases.last().map(|p| p.label.clone()).unwrap_or_default(),
                    });
                }
            });
        });
    });
}

/// `inferred`: the counts come from checks and downloads through the Mendix gateway, not from
/// device reports.
fn funnel(ui: &mut egui::Ui, history: &HistoryData, package: &Package, inferred: bool) {
    let counts = history.metrics.get(&package.label).cloned().unwrap_or_else(MetricCounts::default);
    let eligible = eligible_devices(history, package);
    let offered = eligible * i64::from(package.rollout.unwrap_or(100)) / 100;
    let (downloaded, installed, failed) =
        (counts.downloaded.unwrap_or(0), counts.installed.unwrap_or(0), counts.failed.unwrap_or(0));
    if inferred {
        ui.label(theme::section("Adoption (inferred)")).on_hover_text(
            "Mendix devices send no reports: installs and failures are inferred from checks and downloads",
        );
    } else {
        ui.label(theme::section("Adoption"));
    }
    egui::Grid::new("funnel").num_columns(3).show(ui, |ui| {
        for (stage, value, of) in [
            ("Offered (about)", offered, eligible),
            ("Downloaded", downloaded, offered),
            ("Installed", installed, downloaded),
            ("Active now", counts.active, installed),
        ] {
            ui.label(stage);
            ui.label(count(value));
            #[allow(clippy::cast_precision_loss)]
            let fraction = if of > 0 { (value as f32 / of as f32).clamp(0.0, 1.0) } else { 0.0 };
            ui.add(egui::ProgressBar::new(fraction).desired_width(120.0));
            ui.end_row();
        }
    });
    if let Some(unconfirmed) = counts.unconfirmed.filter(|n| *n > 0) {
        ui.colored_label(
            theme::warn(ui),
            format!(
                "{} downloaded it over 10 min ago and have not started since (possible crashes)",
                count(unconfirmed)
            ),
        );
    }
    let attempts = installed + failed;
    let text = format!("Failed {} · failure rate {}", count(failed), percent(failed, attempts));
    let threshold = history.policy.as_ref().map(|p| p.max_failure_ratio);
    #[allow(clippy::cast_precision_loss)]
    let over = attempts > 0 && threshold.is_some_and(|t| failed as f64 / attempts as f64 > t);
    let line = match threshold {
        Some(t) => format!("{text} (health gate at {:.0}%)", t * 100.0),
        None => text,
    };
    if over || failed > 0 && attempts > 0 && failed * 20 >= attempts {
        ui.colored_label(theme::error(ui), line);
    } else {
        ui.label(line);
    }
}

fn rollout_section(
    ctx: &ViewContext<'_>,
    inputs: &mut ViewInputs,
    ui: &mut egui::Ui,
    history: &HistoryData,
    package: &Package,
    status: &ReleaseStatus,
) {
    let current = package.rollout.unwrap_or(100);
    ui.label(theme::section("Rollout"));
    if current >= 100 {
        ui.label("100% (complete)");
        return;
    }
    if matches!(status, ReleaseStatus::Halted { .. }) {
        ui.label(format!("{current}% (paused; resume to continue)"));
    }
    let mut value = match &inputs.release.rollout {
        Some((label, value)) if *label == package.label => *value,
        _ => current,
    };
    let before = value;
    ui.add(egui::Slider::new(&mut value, current..=100).text("Rollout percentage").suffix("%"));
    ui.horizontal(|ui| {
        for preset in PRESETS.into_iter().filter(|&p| p > current) {
            if ui.selectable_label(value == preset, format!("{preset}%")).clicked() {
                value = preset;
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("Exact");
        let entry = ui.add(egui::DragValue::new(&mut value).range(current..=100).suffix("%"));
        entry.widget_info(|| egui::WidgetInfo::labeled(egui::Role::SpinButton, true, "Rollout percentage entry"));
    });
    if value != before {
        inputs.release.rollout = Some((package.label.clone(), value));
    }
    let radius = blast_radius(history, package, current, value);
    if value > current {
        ui.label(&radius);
    } else {
        ui.colored_label(theme::muted(ui), "A rollout can only go up.");
    }
    if ui.add_enabled(value > current, egui::Button::new("Apply rollout…")).clicked() {
        inputs.confirm =
            Some(Confirm::Rollout { label: package.label.clone(), from: current, to: value, blast_radius: radius });
    }
    let _ = ctx;
}

/// `optional_updates`: whether the protocol knows optional updates (CodePush does, Mendix runtime
/// OTA does not, so the Mandatory toggle is left out there).
fn toggles(ctx: &ViewContext<'_>, ui: &mut egui::Ui, package: &Package, optional_updates: bool) {
    let pending = ctx.state.pending.iter().rev().find(|p| p.label == package.label).map(|p| &p.info);
    let mut mandatory = pending.and_then(|p| p.is_mandatory).unwrap_or(package.is_mandatory);
    let mut enabled = !pending.and_then(|p| p.is_disabled).unwrap_or(package.is_disabled);
    let paused = pending.and_then(|p| p.is_paused).unwrap_or(package.is_paused);
    let label = package.label.clone();
    ui.horizontal(|ui| {
        if optional_updates && ui.checkbox(&mut mandatory, "Mandatory").changed() {
            let info = PackageInfo { is_mandatory: Some(mandatory), ..PackageInfo::default() };
            ctx.send(Command::PatchRelease { change: Change::Mandatory { label: label.clone(), on: mandatory }, info });
        }
        if ui
            .checkbox(&mut enabled, "Enabled")
            .on_hover_text("Disabling moves devices back to the previous release; pausing keeps them where they are")
            .changed()
        {
            let info = PackageInfo { is_disabled: Some(!enabled), ..PackageInfo::default() };
            ctx.send(Command::PatchRelease { change: Change::Enabled { label: label.clone(), on: enabled }, info });
        }
        if !paused
            && !package.is_disabled
            && ui.button("Pause").on_hover_text("Stop giving it to new devices; devices that have it keep it").clicked()
        {
            let info = PackageInfo { is_paused: Some(true), ..PackageInfo::default() };
            ctx.send(Command::PatchRelease { change: Change::Pause { label: label.clone() }, info });
        }
        if pending.is_some() {
            ui.spinner();
            ui.label("saving…");
        }
    });
}

fn description_section(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui, package: &Package) {
    let mut text = match &inputs.release.description {
        Some((label, text)) if *label == package.label => text.clone(),
        _ => package.description.clone(),
    };
    ui.label(theme::section("Description"));
    let edit = ui.add(egui::TextEdit::multiline(&mut text).desired_rows(2).desired_width(f32::INFINITY));
    edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Release description"));
    if edit.changed() {
        inputs.release.description = Some((package.label.clone(), text.clone()));
    }
    let changed = text != package.description && !text.trim().is_empty();
    if ui.add_enabled(changed, egui::Button::new("Save description")).clicked() {
        let info = PackageInfo { description: Some(text), ..PackageInfo::default() };
        ctx.send(Command::PatchRelease { change: Change::Describe { label: package.label.clone() }, info });
        inputs.release.description = None;
    }
}

fn rollback_section(inputs: &mut ViewInputs, ui: &mut egui::Ui, history: &HistoryData, package: &Package) {
    ui.label(theme::section("Roll back"));
    let latest = history.releases.last().map(|p| p.label.clone());
    if latest.as_deref() != Some(package.label.as_str()) {
        ui.label("Rolling back always starts from the latest release; pick the target below.");
    }
    let others: Vec<&Package> = history.releases.iter().rev().filter(|p| Some(&p.label) != latest.as_ref()).collect();
    let mut target =
        inputs.release.rollback_target.clone().filter(|t| others.iter().any(|p| p.label == *t)).or_else(|| {
            others.iter().find(|p| !p.is_disabled && !p.is_paused).or(others.first()).map(|p| p.label.clone())
        });
    egui::ComboBox::from_label("Roll back to").selected_text(target.clone().unwrap_or_else(|| "-".into())).show_ui(
        ui,
        |ui| {
            for other in &others {
                ui.selectable_value(&mut target, Some(other.label.clone()), &other.label);
            }
        },
    );
    inputs.release.rollback_target.clone_from(&target);
    let target_package = target.as_ref().and_then(|t| others.iter().find(|p| p.label == *t));
    if ui.add_enabled(target_package.is_some(), egui::Button::new("Roll back…")).clicked()
        && let Some(target) = target_package
    {
        inputs.confirm =
            Some(Confirm::Rollback { target: Box::new((*target).clone()), from: latest.unwrap_or_default() });
    }
}

fn promote_section(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui, package: &Package) {
    ui.label(theme::section("Promote"));
    let deployments: Vec<String> = ctx
        .state
        .deployments
        .value()
        .into_iter()
        .flatten()
        .map(|d| d.name.clone())
        .filter(|d| Some(d) != ctx.state.selected_deployment.as_ref())
        .collect();
    if deployments.is_empty() {
        ui.label("No other deployment to promote to.");
        return;
    }
    let mut destination =
        inputs.release.promote_to.clone().filter(|d| deployments.contains(d)).or_else(|| deployments.first().cloned());
    egui::ComboBox::from_label("Promote to").selected_text(destination.clone().unwrap_or_default()).show_ui(ui, |ui| {
        for name in &deployments {
            ui.selectable_value(&mut destination, Some(name.clone()), name);
        }
    });
    inputs.release.promote_to.clone_from(&destination);
    let mut rollout = inputs.release.promote_rollout.unwrap_or(100);
    if ui.add(egui::Slider::new(&mut rollout, 1..=100).text("Promote rollout").suffix("%")).changed() {
        inputs.release.promote_rollout = Some(rollout);
    }
    ui.checkbox(&mut inputs.release.promote_mandatory, "Promote as mandatory");
    if ui.button("Promote…").clicked()
        && let Some(destination) = destination
    {
        inputs.confirm = Some(Confirm::Promote {
            label: package.label.clone(),
            destination,
            rollout,
            mandatory: inputs.release.promote_mandatory,
        });
    }
}

/// What happened to the release, newest first: who pushed it, changed it, paused or rolled it
/// back (the audit trail, with reasons), and what the schedule and the health gate did.
fn timeline(ui: &mut egui::Ui, history: &HistoryData, package: &Package, now: i64) {
    ui.label(theme::section("Timeline"));
    let audited: Vec<&AuditEntry> =
        history.audit.iter().filter(|e| e.label.as_deref() == Some(package.label.as_str())).collect();
    // (time, who · what, reason)
    let mut entries: Vec<(i64, String, Option<String>)> = audited
        .iter()
        .map(|e| (e.time, format!("{} · {}", audit_text::who(e), audit_text::describe(e)), e.reason.clone()))
        .collect();
    // The schedule and the health gate, and people's pauses from before the server kept an
    // audit trail (those the trail has are not shown twice).
    let is_machine = |actor: &str| actor == "schedule" || actor == "health gate";
    entries.extend(
        history
            .events
            .iter()
            .filter(|e| e.label == package.label)
            .filter(|e| is_machine(&e.actor) || !audited.iter().any(|a| (a.time - e.time).abs() < 5_000))
            .map(|e| (e.time, format!("{} · {}", e.actor, e.detail), None)),
    );
    if !audited.iter().any(|e| e.action.starts_with("release.") && e.before.is_none()) {
        let pushed = format!("{} · pushed ({:?})", package.released_by, package.release_method);
        entries.push((package.upload_time, pushed, None));
    }
    entries.sort_by_key(|(time, _, _)| std::cmp::Reverse(*time));
    for (time, text, reason) in entries.iter().take(12) {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(theme::muted(ui), format!("{} · {}", local_time(*time), relative(*time, now)));
            ui.label(text);
        });
        if let Some(reason) = reason {
            ui.label(egui::RichText::new(format!("“{reason}”")).italics());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(label: &str, target: &str, rollout: Option<u8>) -> Package {
        Package { rollout, ..crate::gui::test_support::package(label, target) }
    }

    fn active(n: i64) -> MetricCounts {
        MetricCounts { active: n, ..MetricCounts::default() }
    }

    #[test]
    fn the_download_line_names_the_diffs_and_their_sizes() {
        let mut release = package("v5", "1.0.0", None);
        release.size = 24 * 1024 * 1024;
        assert_eq!(download_line(&release), "Download 24.0 MB · no diff packages");
        let diff = |from: &str, kb: u64| crate::api::management::DiffPackage {
            from_package_hash: String::new(),
            from: from.into(),
            size: kb * 1024,
        };
        release.diff_packages = vec![diff("v4", 900), diff("v3", 1200), diff("binary 1.0.0", 2048), diff("", 10)];
        assert_eq!(
            download_line(&release),
            "Download 24.0 MB · diffs from v4 900 KB, v3 1.2 MB, binary 1.0.0 2.0 MB and 1 more"
        );
    }

    #[test]
    fn the_blast_radius_counts_devices_on_the_same_target_and_on_matching_binaries() {
        let history = HistoryData {
            releases: vec![
                package("v1", "1.4.0", None),
                package("v2", "2.0.0", None),
                package("v3", "1.4.0", Some(25)),
            ],
            metrics: [("v1".into(), active(4000)), ("v2".into(), active(999)), ("1.4.0".into(), active(960))].into(),
            ..HistoryData::default()
        };
        let v3 = &history.releases[2];
        assert_eq!(eligible_devices(&history, v3), 4960, "v1 and the 1.4.0 binary, not v2 (2.0.0)");
        assert_eq!(
            blast_radius(&history, v3, 25, 50),
            "About 1,240 more of the 4,960 active devices on 1.4.0 get v3 at their next start."
        );
    }

    #[test]
    fn the_status_names_halts_schedules_and_completion() {
        let mut halted = package("v2", "1.0.0", Some(10));
        halted.is_paused = true;
        let gate = ReleaseEvent {
            label: "v2".into(),
            kind: "halted".into(),
            actor: "health gate".into(),
            detail: "halted: failure ratio 40%".into(),
            time: 5,
        };
        assert!(matches!(ReleaseStatus::of(&halted, &[gate], None), ReleaseStatus::Halted { by_gate: true, .. }));
        let policy = RolloutPolicy {
            steps: vec![10, 50, 100],
            interval_ms: 3_600_000,
            max_failure_ratio: 0.2,
            min_reports: 5,
            min_failure_prefixes: 1,
        };
        let partial = package("v3", "1.0.0", Some(10));
        assert_eq!(
            ReleaseStatus::of(&partial, &[], Some(&policy)),
            ReleaseStatus::RollingOut { percent: 10, next_step: Some((50, 3_600_000)) }
        );
        assert_eq!(ReleaseStatus::of(&package("v1", "1.0.0", None), &[], None), ReleaseStatus::Complete);
    }
}
