//! The top bar: which server, push, refresh, and (on the embedded server only) simulated devices.

use super::{Confirm, ServerForm, ViewContext, ViewInputs};
use crate::gui::command::Command;

/// Draws the toolbar.
pub fn toolbar_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) {
    egui::Panel::top("toolbar").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.strong("otadeck");
            ui.separator();
            server_menu(ctx, inputs, ui);
            ui.separator();
            if ui.button("Push update…").on_hover_text("Build and push an update (Ctrl+P)").clicked() {
                ctx.send(Command::OpenPushDialog);
            }
            if ui.button("Refresh").on_hover_text("Reload everything (F5)").clicked() {
                ctx.send(Command::Refresh);
            }
            // Always drawn (disabled until a deployment is selected), so the toolbar never shifts
            // under the pointer while the selection loads.
            let selection = ctx.state.selected_app.as_ref().zip(ctx.state.selected_deployment.as_ref());
            if ui
                .add_enabled(selection.is_some(), egui::Button::new("Mendix channel…"))
                .on_hover_text("Put this deployment behind the Mendix OTA gateway (runtime OTA apps)")
                .clicked()
                && let Some((app, deployment)) = selection
            {
                let host = ctx.state.selected_mendix_host();
                inputs.channel_form = Some(super::ChannelForm::for_deployment(app, deployment, host));
            }
            if ui.button("Access keys…").on_hover_text("Keys for CI, product owners and support staff").clicked() {
                inputs.keys = Some(super::KeyForm::default());
                ctx.send(Command::LoadKeys);
            }
            let state = ctx.state;
            // Fake devices and demo data never go to a shared server: only to the one this app started.
            if state.is_embedded() {
                if ui
                    .add_enabled(state.selected_deployment.is_some(), egui::Button::new("Simulate devices"))
                    .on_hover_text("Run 500 virtual phones against this deployment (embedded server only)")
                    .clicked()
                {
                    ctx.send(Command::SimulateDevices);
                }
                let has_demo = state.apps.value().into_iter().flatten().any(|a| crate::sim::demo::is_demo_app(&a.name));
                if has_demo && ui.add_enabled(!state.demo_running, egui::Button::new("Remove demo data…")).clicked() {
                    inputs.confirm = Some(Confirm::RemoveDemoData);
                }
            }
            if state.apps.is_pending() || state.history.is_pending() || state.demo_running {
                ui.spinner();
            }
        });
    });
}

fn server_menu(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, ui: &mut egui::Ui) {
    let (current, home) = (&ctx.state.connection, &ctx.state.home);
    egui::ComboBox::from_label("Server").selected_text(format!("{} ({})", current.name, current.url)).show_ui(
        ui,
        |ui| {
            if ui.selectable_label(current.name == home.name, format!("{} ({})", home.name, home.url)).clicked() {
                ctx.send(Command::SwitchToHome);
            }
            for profile in &ctx.settings.profiles {
                let text = format!("{} ({})", profile.name, profile.url);
                if ui.selectable_label(current.name == profile.name, text).clicked() {
                    ctx.send(Command::SwitchToProfile(profile.clone()));
                }
            }
            if ui.selectable_label(false, "Add server…").clicked() {
                inputs.server_form = Some(ServerForm::default());
            }
        },
    );
}
