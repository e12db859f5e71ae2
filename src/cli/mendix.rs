//! `otadeck mendix channel set | list`: the Mendix channels of the OTA gateway.

use super::{ChannelCommand, CliError, Connection, MendixCommand};
use crate::api::mendix::{ChannelMode, MendixChannel};

fn mode(text: &str) -> Result<ChannelMode, CliError> {
    match text {
        "serve" => Ok(ChannelMode::Serve),
        "observe" => Ok(ChannelMode::Observe),
        other => Err(CliError::Usage(format!("--mode {other}: expected serve or observe"))),
    }
}

fn line(channel: &MendixChannel) -> String {
    let mode = match channel.mode {
        ChannelMode::Serve => "serve",
        ChannelMode::Observe => "observe",
    };
    format!(
        "{} -> {} ({mode}): {} + {} / {}",
        channel.host, channel.upstream, channel.android_app, channel.ios_app, channel.deployment
    )
}

/// Runs `otadeck mendix …`.
///
/// # Errors
/// [`CliError`].
pub async fn run_mendix(command: MendixCommand) -> Result<(), CliError> {
    let command = match command {
        MendixCommand::Channel(command) => command,
        MendixCommand::Observations(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let observations = connection.client.mendix_observations(&args.host).await?;
            if args.connection.json {
                println!("{}", serde_json::json!({ "observations": observations }));
            }
            for seen in observations.iter().filter(|_| !args.connection.json) {
                println!(
                    "{:<8} binary {:<8} deploymentID {} at {} ({} checks)",
                    seen.platform, seen.native_binary_version, seen.deployment_id, seen.bundle_path, seen.count
                );
            }
            return Ok(());
        }
        MendixCommand::Checks(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let checks = connection.client.mendix_checks(&args.host).await?;
            if args.connection.json {
                println!("{}", serde_json::json!({ "checks": checks }));
            }
            for check in checks.iter().filter(|_| !args.connection.json) {
                let cookie = if check.with_cookie { "with cookie" } else { "without cookie" };
                println!(
                    "{:<8} binary {:<8} {cookie:<15} {:>9}",
                    check.platform, check.native_binary_version, check.count
                );
            }
            return Ok(());
        }
        MendixCommand::Model(args) => {
            let model = crate::bundle::mendix_model::read(&args.project).map_err(|e| CliError::Usage(e.to_string()))?;
            if args.json {
                println!("{}", serde_json::to_string(&model).unwrap_or_default());
                return Ok(());
            }
            let entities: usize = model.modules.values().map(|m| m.entities.len()).sum();
            println!(
                "Studio Pro {}, .mpr format {}: {} modules, {entities} entities, {} unit files missing",
                model.product_version,
                model.format,
                model.modules.len(),
                model.missing_units
            );
            for profile in &model.native_profiles {
                let ota = if profile.ota_enabled { "OTA on" } else { "OTA off" };
                println!("native profile {} ({ota}), {} offline entities:", profile.name, profile.offline.len());
                for (entity, mode) in &profile.offline {
                    println!("  {entity:<50} {mode}");
                }
            }
            return Ok(());
        }
        MendixCommand::Import(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let package = connection.client.import_mendix_bundle(&args.host, &args.platform).await?;
            if args.connection.json {
                println!("{}", serde_json::json!({ "imported": package }));
            } else {
                println!(
                    "Imported the runtime's {} bundle as {} ({}).",
                    args.platform, package.label, package.description
                );
            }
            return Ok(());
        }
    };
    match command {
        ChannelCommand::Set(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let channel = MendixChannel {
                host: args.host,
                upstream: args.upstream,
                android_app: args.android_app,
                ios_app: args.ios_app,
                deployment: args.deployment,
                mode: mode(&args.mode)?,
            };
            let stored = connection.client.set_mendix_channel(&channel).await?;
            if args.connection.json {
                println!("{}", serde_json::json!({ "channel": stored }));
            } else {
                println!("{}", line(&stored));
            }
        }
        ChannelCommand::List(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let channels = connection.client.mendix_channels().await?;
            if args.connection.json {
                println!("{}", serde_json::json!({ "channels": channels }));
            } else if channels.is_empty() {
                println!("No Mendix channels yet: otadeck mendix channel set --help");
            } else {
                for channel in &channels {
                    println!("{}", line(channel));
                }
            }
        }
    }
    Ok(())
}
