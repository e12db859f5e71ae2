//! The look of the app in one place: spacing, sizes, semantic colours and text styles. The app
//! follows the system's light or dark setting; colours are taken from the active visuals so both
//! themes stay readable.

use egui::{Color32, RichText, Ui};

/// Width of the apps panel.
pub const SIDEBAR_WIDTH: f32 = 250.0;
/// Width of the release panel.
pub const RELEASE_PANEL_WIDTH: f32 = 380.0;
/// Height of a release-table row.
pub const ROW_HEIGHT: f32 = 22.0;
/// Space between sections of a panel.
pub const SECTION_GAP: f32 = 10.0;

/// Installs the theme: system light/dark, roomier spacing.
pub fn install(ctx: &egui::Context) {
    ctx.options_mut(|options| options.theme_preference = egui::ThemePreference::System);
    ctx.all_styles_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(8.0, 3.0);
        style.spacing.scroll = egui::style::ScrollStyle::solid();
    });
}

/// Something that worked or is healthy.
#[must_use]
pub fn good(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode { Color32::from_rgb(110, 200, 120) } else { Color32::from_rgb(30, 130, 50) }
}

/// Needs attention.
#[must_use]
pub fn warn(ui: &Ui) -> Color32 {
    ui.visuals().warn_fg_color
}

/// Failed or halted.
#[must_use]
pub fn error(ui: &Ui) -> Color32 {
    ui.visuals().error_fg_color
}

/// Secondary text.
#[must_use]
pub fn muted(ui: &Ui) -> Color32 {
    ui.visuals().weak_text_color()
}

/// The accent of selected and highlighted things.
#[must_use]
pub fn accent(ui: &Ui) -> Color32 {
    ui.visuals().selection.stroke.color
}

/// A section title inside a panel.
#[must_use]
pub fn section(text: &str) -> RichText {
    RichText::new(text).strong().size(14.0)
}

/// The big status line at the top of the release panel.
#[must_use]
pub fn status(text: &str, color: Color32) -> RichText {
    RichText::new(text).strong().size(16.0).color(color)
}
