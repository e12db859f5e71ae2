//! The offline banner (the last data stays visible, read-only, while the app keeps retrying) and
//! the toasts at the bottom of the window.

use std::time::Duration;

use super::ViewContext;
use crate::gui::command::Command;
use crate::gui::tasks::UiError;
use crate::gui::theme;

/// How long a toast stays.
pub const TOAST_SECONDS: u64 = 10;

/// Draws the banner when the last load failed.
pub fn banner_ui(ctx: &ViewContext<'_>, ui: &mut egui::Ui) {
    let state = ctx.state;
    let Some(error) = state.apps.error().or_else(|| state.history.error()) else { return };
    egui::Panel::top("banner").show(ui, |ui| {
        ui.horizontal(|ui| {
            let message = match error {
                UiError::Unreachable(reason) | UiError::TimedOut(reason) => format!(
                    "Cannot reach {}: {reason}. Showing the last data, read-only; retrying every few seconds.",
                    state.connection.url
                ),
                other => format!("The server answered with an error: {other}"),
            };
            ui.colored_label(theme::error(ui), message);
            if ui.button("Retry").clicked() {
                ctx.send(Command::Refresh);
            }
        });
    });
}

/// Draws the newest toasts.
pub fn toasts_ui(ctx: &ViewContext<'_>, ui: &mut egui::Ui) {
    let fresh: Vec<_> = ctx
        .state
        .toasts
        .iter()
        .filter(|t| t.shown.elapsed() < Duration::from_secs(TOAST_SECONDS))
        .rev()
        .take(3)
        .collect();
    if fresh.is_empty() {
        return;
    }
    egui::Panel::bottom("toasts").show(ui, |ui| {
        for toast in fresh {
            let color = if toast.is_error { theme::error(ui) } else { ui.visuals().text_color() };
            ui.colored_label(color, &toast.text);
        }
    });
}
