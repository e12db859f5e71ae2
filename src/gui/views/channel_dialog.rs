//! The "Mendix channel" window: puts the selected deployment of an app pair behind a host name of
//! the Mendix OTA gateway, in front of the app's real runtime.

use super::{ViewContext, ViewInputs};
use crate::api::mendix::{ChannelMode, MendixChannel};
use crate::gui::command::Command;

/// The form's fields.
#[derive(Debug, Clone, Default)]
pub struct ChannelForm {
    pub host: String,
    pub upstream: String,
    pub android_app: String,
    pub ios_app: String,
    pub deployment: String,
    pub observe: bool,
}

impl ChannelForm {
    /// A form for `app`'s `deployment`: the other app of the pair is guessed from the
    /// `-Android`/`-iOS` naming, and a channel the deployment already has fills the host.
    #[must_use]
    pub fn for_deployment(app: &str, deployment: &str, host: Option<&str>) -> Self {
        let base = app.strip_suffix("-Android").or_else(|| app.strip_suffix("-iOS")).unwrap_or(app);
        Self {
            host: host.unwrap_or_default().to_owned(),
            android_app: format!("{base}-Android"),
            ios_app: format!("{base}-iOS"),
            deployment: deployment.to_owned(),
            ..Self::default()
        }
    }

    fn channel(&self) -> Option<MendixChannel> {
        let fields = [&self.host, &self.upstream, &self.android_app, &self.ios_app, &self.deployment];
        if fields.iter().any(|f| f.trim().is_empty()) || !self.upstream.trim().starts_with("http") {
            return None;
        }
        Some(MendixChannel {
            host: self.host.trim().to_owned(),
            upstream: self.upstream.trim().to_owned(),
            android_app: self.android_app.trim().to_owned(),
            ios_app: self.ios_app.trim().to_owned(),
            deployment: self.deployment.trim().to_owned(),
            mode: if self.observe { ChannelMode::Observe } else { ChannelMode::Serve },
        })
    }
}

/// Draws the window while it is open.
pub fn channel_dialog_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, egui_ctx: &egui::Context) {
    let Some(form) = &mut inputs.channel_form else { return };
    let mut open = true;
    let mut save = None;
    egui::Window::new("Mendix channel").collapsible(false).open(&mut open).show(egui_ctx, |ui| {
        ui.label("The host name of the app's runtime URL points at otadeck's gateway; the gateway passes");
        ui.label("everything but the OTA check on to the real runtime.");
        for (label, value, hint) in [
            ("Runtime host", &mut form.host, "app.example.com"),
            ("Upstream runtime URL", &mut form.upstream, "https://runtime.internal:8080/"),
            ("Android app", &mut form.android_app, ""),
            ("iOS app", &mut form.ios_app, ""),
            ("Deployment", &mut form.deployment, ""),
        ] {
            ui.horizontal(|ui| {
                ui.label(label);
                let field = ui.add(egui::TextEdit::singleline(value).hint_text(hint).desired_width(260.0));
                field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, label));
            });
        }
        ui.checkbox(&mut form.observe, "Observe only (the runtime still answers the OTA check)");
        let channel = form.channel();
        if ui.add_enabled(channel.is_some(), egui::Button::new("Save channel")).clicked() {
            save = channel;
        }
    });
    if let Some(channel) = save {
        ctx.send(Command::SetMendixChannel(Box::new(channel)));
        inputs.channel_form = None;
    } else if !open {
        inputs.channel_form = None;
    }
}

#[cfg(test)]
mod tests {
    use super::ChannelForm;

    #[test]
    fn the_pair_is_guessed_from_either_app() {
        for app in ["Shop-Android", "Shop-iOS"] {
            let form = ChannelForm::for_deployment(app, "Production", None);
            assert_eq!((form.android_app.as_str(), form.ios_app.as_str()), ("Shop-Android", "Shop-iOS"));
        }
        assert!(ChannelForm::for_deployment("Shop-Android", "Production", None).channel().is_none(), "host missing");
    }
}
