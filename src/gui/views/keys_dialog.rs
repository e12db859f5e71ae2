//! The "Access keys" window: the account's keys with their scopes, and a form that creates a key
//! with a role (a preset for each of the people otadeck is built for, or scopes picked one by
//! one). The secret of a new key is shown once, with a copy button.

use super::{ViewContext, ViewInputs};
use crate::gui::command::Command;
use crate::gui::theme;

/// Which scopes a new key gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RolePick {
    /// A key for a CI pipeline: read, and release to one deployment.
    #[default]
    Ci,
    ProductOwner,
    Support,
    /// Everything, as CodePush keys have.
    FullAccess,
    Custom,
}

impl RolePick {
    const ALL: [Self; 5] = [Self::Ci, Self::ProductOwner, Self::Support, Self::FullAccess, Self::Custom];

    fn title(self) -> &'static str {
        match self {
            Self::Ci => "CI pipeline (read, release to one deployment)",
            Self::ProductOwner => "Product owner (read, rollout)",
            Self::Support => "Support (read, pause, roll back)",
            Self::FullAccess => "Full access",
            Self::Custom => "Custom scopes",
        }
    }
}

/// The new-key form.
#[derive(Debug, Clone)]
pub struct KeyForm {
    pub name: String,
    pub role: RolePick,
    /// The deployment a CI key (or a custom `release` scope) may release to; empty: any.
    pub deployment: String,
    pub read: bool,
    pub release: bool,
    pub rollout: bool,
    pub pause: bool,
    pub rollback: bool,
    pub admin: bool,
    pub ttl_days: u32,
}

impl Default for KeyForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            role: RolePick::default(),
            deployment: "Staging".into(),
            read: true,
            release: false,
            rollout: false,
            pause: false,
            rollback: false,
            admin: false,
            ttl_days: 60,
        }
    }
}

impl KeyForm {
    /// The scopes to ask for (`None`: full access), or why the form is not ready.
    ///
    /// # Errors
    /// A sentence for the user.
    pub fn scopes(&self) -> Result<Option<Vec<String>>, String> {
        let release = || {
            let deployment = self.deployment.trim();
            if deployment.is_empty() { "release".to_owned() } else { format!("release:{deployment}") }
        };
        let scopes = match self.role {
            RolePick::FullAccess => return Ok(None),
            RolePick::Ci => vec!["read".to_owned(), release()],
            RolePick::ProductOwner => vec!["read".into(), "rollout".into()],
            RolePick::Support => vec!["read".into(), "rollback".into(), "pause".into()],
            RolePick::Custom => {
                let picked = [
                    (self.read, "read".to_owned()),
                    (self.release, release()),
                    (self.rollout, "rollout".into()),
                    (self.pause, "pause".into()),
                    (self.rollback, "rollback".into()),
                    (self.admin, "admin".into()),
                ];
                picked.into_iter().filter(|(on, _)| *on).map(|(_, scope)| scope).collect()
            }
        };
        if scopes.is_empty() {
            return Err("Pick at least one scope.".into());
        }
        Ok(Some(scopes))
    }
}

/// Draws the window while it is open.
pub fn keys_dialog_ui(ctx: &ViewContext<'_>, inputs: &mut ViewInputs, egui_ctx: &egui::Context) {
    let Some(form) = &mut inputs.keys else { return };
    let mut open = true;
    egui::Window::new("Access keys").collapsible(false).open(&mut open).show(egui_ctx, |ui| {
        key_list(ctx, ui);
        ui.separator();
        if let Some(created) = &ctx.state.created_key {
            ui.colored_label(
                theme::good(ui),
                format!("Created \"{}\". Its secret is shown only now:", created.friendly_name),
            );
            ui.horizontal(|ui| {
                ui.monospace(&created.name);
                if ui.button("Copy secret").clicked() {
                    ctx.send(Command::CopyText { text: created.name.clone(), what: "the new access key".into() });
                }
            });
            ui.separator();
        }
        new_key_form(ctx, form, ui);
    });
    if !open {
        inputs.keys = None;
        ctx.send(Command::ForgetCreatedKey);
    }
}

fn key_list(ctx: &ViewContext<'_>, ui: &mut egui::Ui) {
    let keys = &ctx.state.access_keys;
    if keys.is_pending() && keys.value().is_none() {
        ui.spinner();
    }
    if let Some(error) = keys.error() {
        ui.colored_label(theme::error(ui), format!("Cannot list the keys: {error}"));
    }
    egui::Grid::new("access-keys").striped(true).show(ui, |ui| {
        for title in ["Name", "Scopes", "Expires"] {
            ui.strong(title);
        }
        ui.end_row();
        for key in keys.value().into_iter().flatten() {
            ui.label(&key.friendly_name);
            ui.label(key.scopes.as_ref().map_or_else(|| "full access".to_owned(), |s| s.join(" ")));
            ui.label(super::format::local_time(key.expires));
            ui.end_row();
        }
    });
}

fn new_key_form(ctx: &ViewContext<'_>, form: &mut KeyForm, ui: &mut egui::Ui) {
    ui.label(theme::section("New key"));
    ui.horizontal(|ui| {
        ui.label("Key name");
        let field = ui.add(egui::TextEdit::singleline(&mut form.name).hint_text("GitHub Actions").desired_width(220.0));
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Key name"));
    });
    for role in RolePick::ALL {
        ui.radio_value(&mut form.role, role, role.title());
    }
    if form.role == RolePick::Custom {
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(&mut form.read, "read");
            ui.checkbox(&mut form.release, "release");
            ui.checkbox(&mut form.rollout, "rollout");
            ui.checkbox(&mut form.pause, "pause");
            ui.checkbox(&mut form.rollback, "rollback");
            ui.checkbox(&mut form.admin, "admin");
        });
    }
    if form.role == RolePick::Ci || (form.role == RolePick::Custom && form.release) {
        ui.horizontal(|ui| {
            ui.label("Release to");
            let field = ui
                .add(egui::TextEdit::singleline(&mut form.deployment).hint_text("any deployment").desired_width(140.0));
            field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Release deployment"));
        });
    }
    ui.add(egui::Slider::new(&mut form.ttl_days, 1..=365).text("Days until it expires"));
    let scopes = form.scopes();
    match &scopes {
        Ok(Some(scopes)) => ui.label(format!("Scopes: {}", scopes.join(" "))),
        Ok(None) => ui.colored_label(theme::warn(ui), "Full access: it can do everything your key can."),
        Err(why) => ui.colored_label(theme::warn(ui), why),
    };
    let ready = !form.name.trim().is_empty() && scopes.is_ok();
    if ui.add_enabled(ready, egui::Button::new("Create key")).clicked()
        && let Ok(scopes) = scopes
    {
        ctx.send(Command::CreateKey { name: form.name.trim().to_owned(), scopes, ttl_days: form.ttl_days });
        form.name.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_asks_for_its_scopes() {
        let form = |role| KeyForm { role, ..KeyForm::default() };
        assert_eq!(form(RolePick::Ci).scopes(), Ok(Some(vec!["read".into(), "release:Staging".into()])));
        assert_eq!(form(RolePick::Support).scopes(), Ok(Some(vec!["read".into(), "rollback".into(), "pause".into()])));
        assert_eq!(form(RolePick::FullAccess).scopes(), Ok(None));
        let any_deployment = KeyForm { deployment: " ".into(), ..form(RolePick::Ci) };
        assert_eq!(any_deployment.scopes(), Ok(Some(vec!["read".into(), "release".into()])));
        let custom = KeyForm { read: false, rollout: true, admin: true, ..form(RolePick::Custom) };
        assert_eq!(custom.scopes(), Ok(Some(vec!["rollout".into(), "admin".into()])));
        assert!(KeyForm { read: false, ..form(RolePick::Custom) }.scopes().is_err(), "nothing picked");
    }
}
