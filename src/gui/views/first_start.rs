//! What an empty server shows: two ways in, "Push your first update" and (on the embedded server)
//! "Explore with demo data".

use super::ViewContext;
use crate::gui::command::Command;
use crate::gui::theme;

/// Draws the first-start page in the centre.
pub fn first_start_ui(ctx: &ViewContext<'_>, ui: &mut egui::Ui) {
    ui.add_space(40.0);
    ui.vertical_centered(|ui| {
        ui.heading("Welcome to otadeck");
        ui.label(format!("{} has no apps yet.", ctx.state.connection.url));
        ui.add_space(theme::SECTION_GAP * 2.0);
        ui.group(|ui| {
            ui.set_max_width(460.0);
            ui.label(theme::section("Push your first update"));
            ui.label("Pick your React Native, Expo or Mendix project folder. otadeck builds it with its own bundler, checks it is safe to ship over the air, and creates the apps on this server.");
            if ui.button("Push your first update…").clicked() {
                ctx.send(Command::OpenPushDialog);
            }
        });
        if ctx.state.is_embedded() {
            ui.add_space(theme::SECTION_GAP);
            ui.group(|ui| {
                ui.set_max_width(460.0);
                ui.label(theme::section("Explore with demo data"));
                ui.label("Fills this local server with a sample app (Demo-Android): three releases, one rolling out and one halted by the health gate, and 600 simulated phones. Marked as demo data; remove it with one click.");
                let running = ctx.state.demo_running;
                if ui.add_enabled(!running, egui::Button::new("Load demo data")).clicked() {
                    ctx.send(Command::LoadDemoData);
                }
                if running {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Writing demo data…");
                    });
                }
            });
        }
    });
}
