//! otadeck: a release manager and CodePush-compatible release server for OTA updates of native
//! mobile apps (React Native, Mendix).
//!
//! Module map (dependencies point downward only):
//! - [`domain`]: pure rules (targeting, selection, rollout, package hash, validation).
//! - [`api`]: serde wire types shared by the server and the clients.
//! - [`server`]: the axum release server and its SQLite + blob storage.
//! - [`client`]: reqwest clients for the management API and the device protocol.
//! - [`cli`]: the command line.
//! - [`tls`]: the process's TLS crypto provider, shared by clients and server.

pub mod api;
pub mod bundle;
pub mod cli;
pub mod client;
pub mod domain;
#[cfg(feature = "gui")]
pub mod gui;
pub mod push;
pub mod server;
pub mod sim;
pub mod tls;
