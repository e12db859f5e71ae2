//! The desktop release manager (eframe/egui), the only module that imports egui.
//!
//! Shape (after rerun): [`state`] holds the data and a pure `apply(Event)`; [`views`] draw from a
//! read-only context and send [`command::Command`]s; `command_handling` carries them out at the end of
//! the frame and is the only place that starts background work ([`tasks`]), whose events come back
//! over a channel tagged with the connection generation. `app` is the eframe glue. Only
//! [`settings`] is persisted; live data is always fetched again.

mod app;
pub mod command;
mod command_handling;
mod connection;
pub mod settings;
pub mod state;
pub mod tasks;
#[cfg(test)]
mod test_support;
mod theme;
pub mod views;

pub use app::OtadeckApp;
pub use connection::Connection;
pub use settings::{KeyStore, Settings};

/// Window title prefix.
pub const APP_NAME: &str = "otadeck";

/// Opens the window and runs until it is closed.
///
/// # Errors
/// eframe's error if no window can be created (for example without a display).
pub fn run(runtime: tokio::runtime::Handle, connection: Connection) -> eframe::Result {
    let icon = egui::IconData { rgba: include_bytes!("../../assets/icon-64.rgba").to_vec(), width: 64, height: 64 };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(format!("{APP_NAME} — {}", connection.url))
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 560.0])
            .with_icon(std::sync::Arc::new(icon)),
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(APP_NAME, options, Box::new(move |cc| Ok(Box::new(OtadeckApp::new(cc, runtime, connection)))))
}
