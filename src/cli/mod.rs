//! The command line: `otadeck serve` today; release commands arrive with the bundle pipeline.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// otadeck: OTA release manager and CodePush-compatible release server.
#[derive(Debug, Parser)]
#[command(name = "otadeck", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the release server (device protocol + CodePush v2 management API).
    Serve(ServeArgs),
}

/// Arguments of `otadeck serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "OTADECK_LISTEN")]
    pub listen: SocketAddr,
    /// Folder for the database and package files (default: the platform data dir).
    #[arg(long, env = "OTADECK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Public base URL used in download links, e.g. https://ota.example.com (default: http://<listen>).
    #[arg(long, env = "OTADECK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest accepted package upload, in megabytes.
    #[arg(long, default_value_t = 200)]
    pub upload_limit_mb: u64,
}

/// The platform data dir for the server, e.g. `~/.local/share/otadeck` on Linux.
#[must_use]
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "otadeck", "otadeck").map(|dirs| dirs.data_dir().join("server"))
}
