//! Centre: the selected deployment's releases, newest first, grouped by target version and build
//! number, with rollout, flags, origin, metrics and a text filter (click a row to select it), and
//! what each registered store build gets. An empty server shows the first-start page instead.

use egui_extras::{Column, TableBuilder};

use super::format::size_text;
use super::{ViewContext, ViewInputs};
use crate::api::management::{MetricCounts, Package, ReleaseMethod};
use crate::gui::command::Command;
use crate::gui::state::AppState;
use crate::gui::tasks::HistoryData;
use crate::gui::theme;

/// Releases sharing a target version and build-number constraint, newest first.
type Group<'a> = ((String, Option<String>), Vec<&'a Package>);

/// Columns whose header sorts the releases inside each group.
const SORTABLE: [&str; 8] = ["Label", "Rollout", "Active", "Installed", "Downloaded", "Failed", "Time", "Size"];

/// The numeric sort key of a release for a sortable column (`None` for columns that do not sort).
fn sort_key(column: &str, package: &Package, counts: &MetricCounts) -> Option<i64> {
    Some(match column {
        "Label" => crate::domain::validate::label(&package.label).map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        "Rollout" => i64::from(package.rollout.unwrap_or(100)),
        "Active" => counts.active,
        "Installed" => counts.installed.unwrap_or(0),
        "Downloaded" => counts.downloaded.unwrap_or(0),
        "Failed" => counts.failed.unwrap_or(0),
        "Time" => package.upload_time,
        "Size" => i64::try_from(package.size).unwrap_or(i64::MAX),
        _ => return None,
    })
}

/// One table row: a group header or a release.
#[derive(Clone, Copy)]
enum Row<'a> {
    Group(&'a str, Option<&'a str>),
    Release(&'a Package),
}

/// Releases that pass the filter, newest first, grouped as shown.
fn grouped<'a>(releases: &'a [Package], filter: &str) -> Vec<Group<'a>> {
    let needle = filter.trim().to_lowercase();
    let mut groups: Vec<Group<'a>> = Vec::new();
    for package in releases.iter().rev() {
        if !needle.is_empty() {
            let haystack =
                format!("{} {} {} {}", package.label, package.app_version, package.description, package.released_by)
                    .to_lowercase();
            if !haystack.contains(&needle) {
                continue;
            }
        }
        let key = (package.app_version.clone(), package.build_number.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(package),
            None => groups.push((key, vec![package])),
        }
    }
    groups
}

/// Labels in display order (for keyboard navigation).
#[must_use]
pub fn visible_labels(state: &AppState, filter: &str) -> Vec<String> {
    let releases = state.history.value().map(|h| h.releases.as_slice()).unwrap_or_default();
    grouped(releases, filter)
        .into_iter()
        .flat_map(|(_, members)| members.into_iter().map(|p| p.label.clone()))
        .collect()
}

fn method_text(package: &Package) -> String {
    match package.release_method {
        ReleaseMethod::Upload => "upload".to_owned(),
        ReleaseMethod::Promote => format!(
            "promote from {} {}",
            package.original_deployment.as_deref().unwrap_or("?"),
            package.original_label.as_deref().unwrap_or("")
        ),
        ReleaseMethod::Rollback => format!("rollback to {}", package.original_label.as_deref().unwrap_or("?")),
    }
}

/// Draws the centre panel: the first-start page on an empty server, else the release table.
pub fn releases_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) {
    let state = ctx.state;
    egui::CentralPanel::default().show(ui, |ui| {
        let no_apps = state.apps.value().is_some_and(Vec::is_empty);
        if no_apps {
            super::first_start_ui(ctx, ui);
            return;
        }
        let (Some(app_name), Some(deployment)) = (state.selected_app.as_ref(), state.selected_deployment.as_ref())
        else {
            ui.spinner();
            return;
        };
        ui.horizontal(|ui| {
            ui.heading(format!("{app_name} / {deployment}"));
            if state.history.is_stale() && state.history.value().is_some() {
                ui.colored_label(theme::warn(ui), "stale").on_hover_text("Not refreshed recently; press F5");
            }
        });
        ui.horizontal(|ui| {
            ui.label("Filter");
            let field = ui.add(egui::TextEdit::singleline(&mut inputs.filter).hint_text("label, version, text…"));
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Filter releases"));
        });
        let Some(history) = state.history.value() else {
            ui.spinner();
            return;
        };
        if history.releases.is_empty() {
            ui.label("No releases yet. Use \"Push update…\" to publish one.");
            return;
        }
        table(ctx, inputs, ui, history);
        binaries_matrix(ui, history);
    });
}

fn table(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui, history: &HistoryData) {
    let metrics = &history.metrics;
    let mut groups = grouped(&history.releases, &inputs.filter);
    let sort = inputs.sort;
    if let Some((column, descending)) = sort {
        for (_, members) in &mut groups {
            let no_metrics = MetricCounts::default();
            let key =
                |p: &&Package| sort_key(column, p, metrics.get(&p.label).unwrap_or(&no_metrics)).unwrap_or_default();
            if descending {
                members.sort_by_key(|p| std::cmp::Reverse(key(p)));
            } else {
                members.sort_by_key(key);
            }
        }
    }
    let mut sort_clicked: Option<&'static str> = None;
    let selected = ctx.state.selected_label.as_deref();
    let highlight = ctx.state.highlight_label.as_deref();
    let table_height = (ui.available_height() * 0.7).max(160.0);
    egui::ScrollArea::horizontal()
        .id_salt("releases-h")
        .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible)
        .show(ui, |ui| {
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            TableBuilder::new(ui)
                .max_scroll_height(table_height)
                .striped(true)
                .sense(egui::Sense::click())
                .column(Column::auto().at_least(48.0))
                .columns(Column::auto().at_least(40.0), HEADERS.len() - 1)
                .header(theme::ROW_HEIGHT, |mut header| {
                    for title in HEADERS {
                        header.col(|ui| {
                            if SORTABLE.contains(&title) {
                                let marker = match sort {
                                    Some((column, true)) if column == title => " v",
                                    Some((column, false)) if column == title => " ^",
                                    _ => "",
                                };
                                let button = ui.selectable_label(!marker.is_empty(), format!("{title}{marker}"));
                                if button.on_hover_text(format!("Sort by {title}")).clicked() {
                                    sort_clicked = Some(title);
                                }
                            } else {
                                ui.strong(title);
                            }
                        });
                    }
                })
                .body(|body| {
                    // Only the rows in view are laid out: one flat list of group headers and releases.
                    let entries: Vec<Row<'_>> = groups
                        .iter()
                        .flat_map(|((version, build), members)| {
                            std::iter::once(Row::Group(version, build.as_deref()))
                                .chain(members.iter().map(|p| Row::Release(p)))
                        })
                        .collect();
                    body.rows(theme::ROW_HEIGHT, entries.len(), |mut row| match entries[row.index()] {
                        Row::Group(version, build) => {
                            row.col(|ui| {
                                let build_text = build.map(|b| format!(" · builds {b}")).unwrap_or_default();
                                ui.label(
                                    egui::RichText::new(format!("Target {version}{build_text}")).strong().italics(),
                                );
                            });
                            for _ in 1..HEADERS.len() {
                                row.col(|_| {});
                            }
                        }
                        Row::Release(package) => {
                            row.set_selected(selected == Some(package.label.as_str()));
                            let counts = metrics.get(&package.label).cloned().unwrap_or_default();
                            cells(&mut row, package, &counts, highlight == Some(package.label.as_str()));
                            if row.response().clicked() {
                                ctx.send(Command::SelectLabel(package.label.clone()));
                            }
                        }
                    });
                });
        });
    if let Some(column) = sort_clicked {
        // Click once: descending; again: ascending; a third time: back to newest first.
        inputs.sort = match inputs.sort {
            Some((current, true)) if current == column => Some((column, false)),
            Some((current, false)) if current == column => None,
            _ => Some((column, true)),
        };
    }
}

/// Column titles of the release table.
const HEADERS: [&str; 14] = [
    "Label",
    "Target",
    "Build",
    "Rollout",
    "Active",
    "Installed",
    "Downloaded",
    "Failed",
    "Mandatory",
    "State",
    "Method",
    "Released by",
    "Time",
    "Size",
];

/// What one registered store build gets right now, with the server's own selection rules.
pub(super) fn answer_for(binary: &crate::api::management::Binary, releases: &[Package]) -> String {
    use crate::domain::selection::{UpdateDecision, UpdateQuery, plan_update};
    let rules: Vec<crate::domain::ReleaseRules> = releases
        .iter()
        .filter_map(|p| {
            Some(crate::domain::ReleaseRules {
                label: p.label.clone(),
                package_hash: p.package_hash.clone(),
                target: crate::domain::TargetRange::parse(&p.app_version).ok()?,
                build: p.build_number.as_deref().and_then(|b| b.parse().ok()),
                is_mandatory: p.is_mandatory,
                is_disabled: p.is_disabled,
                is_paused: p.is_paused,
                rollout: p.rollout,
            })
        })
        .collect();
    let Ok(app_version) = crate::domain::DeviceVersion::parse(&binary.app_version) else {
        return "invalid version".into();
    };
    let query = UpdateQuery {
        app_version,
        label: None,
        package_hash: None,
        is_companion: false,
        build_number: binary.build_number,
    };
    let plan = plan_update(&rules, &query);
    let version = query.app_version.version();
    let describe = |decision: &UpdateDecision| match decision {
        UpdateDecision::Available { release, is_mandatory } => {
            let offered = &rules[*release];
            let why = if !*is_mandatory {
                String::new()
            } else if offered.is_mandatory {
                " (mandatory)".to_owned()
            } else {
                // The flag is carried from a mandatory release the device skips on the way.
                rules[..*release]
                    .iter()
                    .rev()
                    .find(|r| r.is_mandatory && !r.is_disabled && r.target.is_satisfied_by(version))
                    .map_or_else(
                        || " (mandatory)".to_owned(),
                        |r| format!(" (mandatory: {}, which it skips, is mandatory)", r.label),
                    )
            };
            format!("{}{why}", offered.label)
        }
        UpdateDecision::NoUpdate { .. } => "the store binary (no update)".into(),
    };
    match &plan.outside_rollout {
        Some((percent, outside)) => {
            format!("{} for {percent}% of devices, else {}", describe(&plan.decision), describe(outside))
        }
        None => describe(&plan.decision),
    }
}

/// The version × build matrix of registered store builds and the release each would get now.
fn binaries_matrix(ui: &mut egui::Ui, history: &HistoryData) {
    if history.binaries.is_empty() {
        return;
    }
    ui.separator();
    ui.strong("Store builds (registered with `otadeck binary register`)");
    egui::Grid::new("binaries").striped(true).show(ui, |ui| {
        for title in ["Platform", "Version", "Build", "Gets now"] {
            ui.strong(title);
        }
        ui.end_row();
        for binary in &history.binaries {
            ui.label(&binary.platform);
            ui.label(&binary.app_version);
            ui.label(binary.build_number.map_or_else(|| "any".to_owned(), |b| b.to_string()));
            ui.label(answer_for(binary, &history.releases));
            ui.end_row();
        }
    });
}

fn cells(row: &mut egui_extras::TableRow<'_, '_>, package: &Package, counts: &MetricCounts, highlighted: bool) {
    let rollout = package.rollout.unwrap_or(100);
    row.col(|ui| {
        let text = egui::RichText::new(&package.label).strong();
        ui.label(if highlighted { text.color(theme::accent(ui)) } else { text });
    });
    row.col(|ui| {
        ui.label(&package.app_version);
    });
    row.col(|ui| {
        ui.label(package.build_number.as_deref().unwrap_or("any"));
    });
    row.col(|ui| {
        ui.add(egui::ProgressBar::new(f32::from(rollout) / 100.0).desired_width(60.0).text(format!("{rollout}%")));
    });
    row.col(|ui| {
        ui.label(counts.active.to_string());
    });
    row.col(|ui| {
        ui.label(counts.installed.unwrap_or(0).to_string());
    });
    row.col(|ui| {
        ui.label(counts.downloaded.unwrap_or(0).to_string());
    });
    row.col(|ui| {
        let (failed, installed) = (counts.failed.unwrap_or(0), counts.installed.unwrap_or(0));
        let attempts = failed + installed;
        #[allow(clippy::cast_precision_loss)]
        let rate = if attempts > 0 { failed as f64 * 100.0 / attempts as f64 } else { 0.0 };
        let text = if failed > 0 { format!("{failed} ({rate:.0}%)") } else { "0".to_owned() };
        if rate >= 5.0 {
            ui.colored_label(theme::error(ui), text);
        } else {
            ui.label(text);
        }
    });
    row.col(|ui| {
        ui.label(if package.is_mandatory { "mandatory" } else { "optional" });
    });
    row.col(|ui| {
        ui.label(if package.is_disabled {
            "disabled"
        } else if package.is_paused {
            "paused"
        } else {
            "enabled"
        });
    });
    row.col(|ui| {
        ui.label(method_text(package));
    });
    row.col(|ui| {
        ui.label(&package.released_by);
    });
    row.col(|ui| {
        ui.label(super::format::local_time(package.upload_time))
            .on_hover_text(crate::domain::time::format_utc_minutes(package.upload_time) + " UTC");
    });
    row.col(|ui| {
        ui.label(size_text(package.size));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(label: &str, version: &str, build: Option<&str>) -> Package {
        Package {
            package_hash: String::new(),
            build_number: build.map(Into::into),
            ..crate::gui::test_support::package(label, version)
        }
    }

    #[test]
    fn store_builds_get_what_the_server_would_serve() {
        let mut partial = package("v3", "1.0.0", None);
        partial.rollout = Some(20);
        let releases = vec![package("v1", "1.0.0", None), package("v2", "1.0.0", Some("40-45")), partial];
        let binary = |version: &str, build: Option<u64>| crate::api::management::Binary {
            platform: "android".into(),
            app_version: version.into(),
            build_number: build,
            fingerprint: serde_json::json!({}),
            mendix_model: None,
            bundle_hash: None,
            registered_by: "a@b".into(),
            created_time: 0,
        };
        assert_eq!(answer_for(&binary("1.0.0", Some(42)), &releases), "v3 for 20% of devices, else v2");
        assert_eq!(answer_for(&binary("1.0.0", Some(7)), &releases), "v3 for 20% of devices, else v1");
        assert_eq!(answer_for(&binary("2.0.0", None), &releases), "the store binary (no update)");

        // A mandatory release that the binary skips makes the newest one mandatory, and says why.
        let mut must = package("v2", "1.0.0", None);
        must.is_mandatory = true;
        let carried = vec![package("v1", "1.0.0", None), must, package("v3", "1.0.0", None)];
        assert_eq!(answer_for(&binary("1.0.0", None), &carried), "v3 (mandatory: v2, which it skips, is mandatory)");
    }

    #[test]
    fn groups_by_version_and_build_newest_first() {
        let releases =
            vec![package("v1", "1.0.0", None), package("v2", "1.0.0", Some("42")), package("v3", "1.0.0", None)];
        let groups = grouped(&releases, "");
        let shape: Vec<(String, Option<String>, Vec<&str>)> = groups
            .iter()
            .map(|((v, b), m)| (v.clone(), b.clone(), m.iter().map(|p| p.label.as_str()).collect()))
            .collect();
        assert_eq!(shape, [("1.0.0".into(), None, vec!["v3", "v1"]), ("1.0.0".into(), Some("42".into()), vec!["v2"])]);
        assert_eq!(grouped(&releases, "v2").len(), 1);
        assert_eq!(size_text(2048), "2 KB");
    }
}
