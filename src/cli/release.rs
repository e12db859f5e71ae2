//! The `release` and `binary` commands. Each resolves which apps it acts on, talks to the server
//! through [`crate::client::ManagementClient`], and prints text (stdout), progress (stderr) or one
//! JSON document (`--json`).

use std::io::IsTerminal as _;
use std::path::Path;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{BinaryCommand, CliError, Connection, ConnectionArgs, ReleaseCommand, TargetArgs};
use crate::api::management::{NewBinary, Package, PackageInfo};
use crate::bundle::build::BuildEvent;
use crate::bundle::project::Project;
use crate::bundle::{Platform, fingerprint};
use crate::push::{PushError, PushEvent, PushRequest};

/// Which apps a command acts on.
struct Targets {
    project: Option<Project>,
    apps: Vec<(Option<Platform>, String)>,
    deployment: String,
}

fn resolve_targets(target: &TargetArgs) -> Result<Targets, CliError> {
    let platforms: Vec<Platform> = target.platform.map_or_else(|| Platform::ALL.to_vec(), |p| vec![p]);
    if let Some(app) = &target.app {
        return Ok(Targets {
            project: None,
            apps: vec![(target.platform, app.clone())],
            deployment: target.deployment.clone().unwrap_or_else(|| "Staging".into()),
        });
    }
    let location = target.project.clone().unwrap_or_else(|| ".".into());
    if Path::new(&location).is_dir() {
        let project = Project::detect(Path::new(&location))?;
        let apps = platforms.iter().map(|p| (Some(*p), project.app_name(*p))).collect();
        let deployment = target.deployment.clone().unwrap_or_else(|| project.default_deployment());
        return Ok(Targets { project: Some(project), apps, deployment });
    }
    let suffix = |p: Platform| match p {
        Platform::Android => "Android",
        Platform::Ios => "iOS",
    };
    Ok(Targets {
        project: None,
        apps: platforms.iter().map(|p| (Some(*p), format!("{location}-{}", suffix(*p)))).collect(),
        deployment: target.deployment.clone().unwrap_or_else(|| "Staging".into()),
    })
}

/// What every release/binary command starts with: the server connection, the apps it acts on, and
/// where it prints.
fn start(target: &TargetArgs, connection: &ConnectionArgs) -> Result<(Connection, Targets, Output), CliError> {
    Ok((Connection::resolve(connection)?, resolve_targets(target)?, Output::new(connection)))
}

/// Prints text unless `--json`; JSON goes out once at the end.
struct Output {
    json: bool,
}

impl Output {
    fn new(connection: &ConnectionArgs) -> Self {
        Self { json: connection.json }
    }

    fn line(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    fn finish(&self, document: &serde_json::Value) {
        if self.json {
            println!("{document}");
        }
    }
}

/// Runs a `release` subcommand.
///
/// # Errors
/// [`CliError`] with the kind that decides the exit code.
pub async fn run(command: ReleaseCommand) -> Result<(), CliError> {
    match command {
        ReleaseCommand::PushUpdate(args) => push_update(args).await,
        ReleaseCommand::List(args) => list(&args.target, &args.connection).await,
        ReleaseCommand::PatchUpdate(args) => {
            let (connection, targets, output) = start(&args.target, &args.connection)?;
            let info = PackageInfo {
                label: args.label.clone(),
                rollout: args.rollout_percentage.map(|p| json!(p)),
                is_mandatory: args.mandatory,
                is_disabled: args.disabled,
                is_paused: args.paused,
                description: args.description.clone(),
                ..PackageInfo::default()
            };
            let mut results = Vec::new();
            for (_, app) in &targets.apps {
                let patched = connection.client.patch_release(app, &targets.deployment, info.clone()).await?;
                match &patched {
                    Some(package) => output.line(&format!(
                        "{app}/{}: {} is now {}",
                        targets.deployment,
                        package.label,
                        describe(package)
                    )),
                    None => output.line(&format!("{app}/{}: nothing changed", targets.deployment)),
                }
                results.push(json!({ "app": app, "deployment": targets.deployment, "release": patched }));
            }
            output.finish(&json!({ "patched": results }));
            Ok(())
        }
        ReleaseCommand::RollbackUpdate(args) => {
            let (connection, targets, output) = start(&args.target, &args.connection)?;
            let mut results = Vec::new();
            for (_, app) in &targets.apps {
                let package = connection.client.rollback(app, &targets.deployment, args.label.as_deref()).await?;
                output.line(&format!(
                    "{app}/{}: rolled back to {} (new release {})",
                    targets.deployment,
                    package.original_label.as_deref().unwrap_or("?"),
                    package.label
                ));
                results.push(json!({ "app": app, "deployment": targets.deployment, "release": package }));
            }
            output.finish(&json!({ "rolledBack": results }));
            Ok(())
        }
        ReleaseCommand::Promote(args) => {
            let (connection, targets, output) = start(&args.target, &args.connection)?;
            let info = PackageInfo {
                label: args.label.clone(),
                rollout: args.rollout_percentage.map(|p| json!(p)),
                ..PackageInfo::default()
            };
            let mut results = Vec::new();
            for (_, app) in &targets.apps {
                let package = connection.client.promote(app, &args.from, &args.to, info.clone()).await?;
                output.line(&format!(
                    "{app}: promoted {} -> {} as {} ({})",
                    args.from,
                    args.to,
                    package.label,
                    describe(&package)
                ));
                results.push(json!({ "app": app, "from": args.from, "to": args.to, "release": package }));
            }
            output.finish(&json!({ "promoted": results }));
            Ok(())
        }
    }
}

/// Runs a `binary` subcommand.
///
/// # Errors
/// [`CliError`].
pub async fn run_binary(command: BinaryCommand) -> Result<(), CliError> {
    match command {
        BinaryCommand::Register(args) => {
            let (connection, targets, output) = start(&args.target, &args.connection)?;
            let project = targets
                .project
                .as_ref()
                .ok_or_else(|| CliError::Usage("binary register needs --project <folder>".into()))?;
            let model =
                crate::bundle::mendix_model::snapshot_of(project).map_err(|e| CliError::Usage(e.to_string()))?;
            let bundle_manifest = args.bundle.as_deref().map(crate::bundle::package::manifest_lines).transpose()?;
            let mut results = Vec::new();
            for (platform, app) in &targets.apps {
                let platform = platform.unwrap_or(Platform::Android);
                let print = fingerprint::fingerprint(project, platform)?;
                let new = NewBinary {
                    platform: Some(platform.as_str().into()),
                    app_version: Some(args.app_version.clone()),
                    build_number: args.build_number,
                    fingerprint: Some(serde_json::to_value(&print).unwrap_or_default()),
                    mendix_model: model.clone(),
                    bundle_manifest: bundle_manifest.clone(),
                };
                let binary = connection.client.register_binary(app, &new).await?;
                let model_note = model.as_ref().map_or_else(String::new, |m| {
                    format!(
                        ", Mendix model with {} entities, {} synchronised offline",
                        m.entities.len(),
                        m.offline_entities().len()
                    )
                });
                let bundle_note = binary.bundle_hash.as_ref().map_or_else(String::new, |hash| {
                    let files = bundle_manifest.as_ref().map_or(0, Vec::len);
                    let noun = if files == 1 { "file" } else { "files" };
                    format!(", bundle of {files} {noun} with package hash {hash}")
                });
                output.line(&format!(
                    "{app}: registered {platform} {}{} as a store build ({} native modules, {} icons/splash screens{model_note}{bundle_note})",
                    binary.app_version,
                    binary.build_number.map(|b| format!(" (build {b})")).unwrap_or_default(),
                    print.native_modules.len(),
                    print.images.len()
                ));
                results.push(json!({ "app": app, "binary": binary }));
            }
            output.finish(&json!({ "registered": results }));
            Ok(())
        }
        BinaryCommand::List(args) => {
            let (connection, targets, output) = start(&args.target, &args.connection)?;
            let mut results = Vec::new();
            for (_, app) in &targets.apps {
                let binaries = connection.client.binaries(app).await?;
                output.line(&format!("{app}: {} store builds", binaries.len()));
                for binary in &binaries {
                    let build = binary.build_number.map(|b| format!(" build {b}")).unwrap_or_default();
                    output.line(&format!(
                        "  {} {}{build}  registered by {}",
                        binary.platform, binary.app_version, binary.registered_by
                    ));
                }
                results.push(json!({ "app": app, "binaries": binaries }));
            }
            output.finish(&json!({ "apps": results }));
            Ok(())
        }
    }
}

/// Runs `otadeck simulate`.
///
/// # Errors
/// [`CliError::Usage`] for bad arguments; [`CliError::Server`] if the server is unreachable.
pub async fn run_simulate(args: super::SimulateArgs) -> Result<(), CliError> {
    if args.mendix {
        return simulate_mendix(&args).await;
    }
    let deployment_key =
        args.deployment_key.clone().ok_or_else(|| CliError::Usage("--deployment-key is required".into()))?;
    let crash_probability = crate::sim::parse_failures(&args.fail).map_err(CliError::Usage)?;
    if !(0.0..=1.0).contains(&args.accept_optional) {
        return Err(CliError::Usage("--accept-optional must be between 0 and 1".into()));
    }
    let config = crate::sim::FleetConfig {
        server: args.server.clone(),
        deployment_key,
        devices: args.devices,
        app_versions: args.app_version.clone(),
        build_numbers: args.build_number.clone(),
        behavior: crate::client::Behavior { crash_probability, accept_optional: args.accept_optional },
        restarts: args.restarts,
        concurrency: args.concurrency,
        id_prefix: args.id_prefix.clone(),
        public_key_pem: None,
        transport: crate::client::Transport::from_env().with_extra_ca(args.ca_cert.clone()),
        spread_networks: args.spread_networks,
    };
    let bar = (std::io::stderr().is_terminal() && !args.json).then(|| {
        let bar = indicatif::ProgressBar::new((args.devices * args.restarts) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("  launches {bar:40} {pos}/{len} {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let progress_bar = bar.clone();
    let fleet = crate::sim::devices(&config);
    let (summary, _) = crate::sim::run(&config, fleet, move |done, _| {
        if let Some(bar) = &progress_bar {
            bar.set_position(done as u64);
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if summary.errors == summary.launches && summary.launches > 0 {
        let why = summary.first_error.as_deref().unwrap_or("unknown error");
        return Err(CliError::Usage(format!("no launch reached {}: {why}", config.server)));
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        return Ok(());
    }
    println!("{} devices, {} launches, {} errors", summary.devices, summary.launches, summary.errors);
    #[allow(clippy::cast_precision_loss)]
    let megabytes = summary.downloaded_bytes as f64 / 1_000_000.0;
    println!(
        "downloaded {megabytes:.2} MB; {} diff packages applied, {} fell back to the full package",
        summary.diffs_applied, summary.diff_fallbacks
    );
    println!(
        "{:<8} {:>8} {:>10} {:>9} {:>11} {:>7}",
        "label", "offered", "downloaded", "installed", "rolled back", "active"
    );
    for (label, counts) in &summary.labels {
        println!(
            "{label:<8} {:>8} {:>10} {:>9} {:>11} {:>7}",
            counts.offered, counts.downloaded, counts.installed, counts.rolled_back, counts.active
        );
    }
    println!("{:<8} {:>57}", "binary", summary.on_binary);
    Ok(())
}

/// `otadeck simulate --mendix`: virtual Mendix phones against a runtime URL.
async fn simulate_mendix(args: &super::SimulateArgs) -> Result<(), CliError> {
    if !matches!(args.platform.as_str(), "android" | "ios") {
        return Err(CliError::Usage(format!("--platform {}: android or ios", args.platform)));
    }
    let config = crate::sim::mendix::MendixFleetConfig {
        runtime_url: args.server.clone(),
        platform: args.platform.clone(),
        devices: args.devices,
        native_binary_version: args.native_binary_version,
        embedded_deployment_id: args.embedded_deployment_id.clone().unwrap_or_default(),
        app_version: args.app_version.first().cloned().unwrap_or_else(|| "1.0.0".into()),
        restarts: args.restarts,
        concurrency: args.concurrency,
    };
    let summary = crate::sim::mendix::run(&config).await.map_err(CliError::Usage)?;
    if summary.failed == summary.starts && summary.starts > 0 {
        let why = summary.first_error.as_deref().unwrap_or("unknown error");
        return Err(CliError::Usage(format!("no start reached {}: {why}", config.runtime_url)));
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        return Ok(());
    }
    println!(
        "{} devices, {} starts: {} updated, {} up to date, {} skipped, {} failed",
        summary.devices, summary.starts, summary.updated, summary.up_to_date, summary.skipped, summary.failed
    );
    for (id, devices) in &summary.running {
        println!("  running {id:<24} {devices:>7}");
    }
    Ok(())
}

/// `otadeck key create|list`.
///
/// # Errors
/// [`CliError`] for bad scopes and server errors.
pub async fn run_key(command: super::KeyCommand) -> Result<(), CliError> {
    match command {
        super::KeyCommand::Create(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let scopes: Vec<String> = match &args.preset {
                Some(name) => crate::domain::scope::preset(name)
                    .ok_or_else(|| CliError::Usage(format!("unknown preset \"{name}\": ci, product-owner or support")))?
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                None => args.scopes.clone(),
            };
            for scope in &scopes {
                crate::domain::scope::Scope::parse(scope).map_err(CliError::Usage)?;
            }
            let ttl = args.ttl_days.map(|days| f64::from(days) * 86_400_000.0);
            let key = if scopes.is_empty() {
                connection.client.create_access_key(&args.name, ttl).await?
            } else {
                connection.client.create_scoped_access_key(&args.name, ttl, scopes).await?
            };
            if args.connection.json {
                println!("{}", serde_json::to_string(&key).unwrap_or_default());
            } else {
                let scopes = key.scopes.as_ref().map_or_else(|| "full access".to_owned(), |s| s.join(" "));
                println!(
                    "Created access key \"{}\" ({scopes}). Its secret, shown once:\n\n    {}\n",
                    key.friendly_name, key.name
                );
            }
        }
        super::KeyCommand::List(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let keys = connection.client.access_keys().await?;
            if args.connection.json {
                println!("{}", serde_json::to_string(&keys).unwrap_or_default());
            } else {
                for key in keys {
                    let scopes = key.scopes.as_ref().map_or_else(|| "full access".to_owned(), |s| s.join(" "));
                    println!("{:<30} {scopes}", key.friendly_name);
                }
            }
        }
    }
    Ok(())
}

/// `otadeck demo load|remove`.
///
/// # Errors
/// [`CliError`] for configuration and server errors.
pub async fn run_demo(command: super::DemoCommand) -> Result<(), CliError> {
    match command {
        super::DemoCommand::Load(args) => {
            let connection = Connection::resolve(&args.connection)?;
            let transport = crate::client::Transport::from_env().with_extra_ca(args.connection.ca_cert.clone());
            crate::sim::demo::seed(&connection.client, &connection.server, &transport).await.map_err(|e| match e {
                crate::sim::demo::DemoError::Client(client) => CliError::Server(client),
                other => CliError::Usage(other.to_string()),
            })?;
            println!("Loaded {} on {}", crate::sim::demo::DEMO_APP, connection.server);
        }
        super::DemoCommand::Remove(args) => {
            let connection = Connection::resolve(&args.connection)?;
            crate::sim::demo::remove(&connection.client).await?;
            println!("Removed the demo data from {}", connection.server);
        }
    }
    Ok(())
}

fn describe(package: &Package) -> String {
    let mut parts = vec![format!("target {}", package.app_version)];
    if package.is_mandatory {
        parts.push("mandatory".into());
    }
    if package.is_disabled {
        parts.push("disabled".into());
    }
    if package.is_paused {
        parts.push("paused".into());
    }
    parts.push(format!("rollout {}%", package.rollout.unwrap_or(100)));
    if let Some(build) = &package.build_number {
        parts.push(format!("builds {build}"));
    }
    parts.join(", ")
}

async fn list(target: &TargetArgs, connection_args: &ConnectionArgs) -> Result<(), CliError> {
    let (connection, targets, output) = start(target, connection_args)?;
    let mut results = Vec::new();
    for (_, app) in &targets.apps {
        let history = connection.client.history(app, &targets.deployment).await?;
        let metrics = connection.client.metrics(app, &targets.deployment).await?;
        output.line(&format!("{app} / {} ({} releases)", targets.deployment, history.len()));
        for package in history.iter().rev() {
            let counts = metrics.get(&package.label);
            let installs = counts.map_or_else(String::new, |m| {
                format!(
                    "  active {} · installed {} · failed {}",
                    m.active,
                    m.installed.unwrap_or(0),
                    m.failed.unwrap_or(0)
                )
            });
            output.line(&format!(
                "  {:<5} {}  {}{}{}",
                package.label,
                crate::domain::time::format_utc_minutes(package.upload_time),
                describe(package),
                if package.description.is_empty() {
                    String::new()
                } else {
                    format!("  \"{}\"", package.description.lines().next().unwrap_or(""))
                },
                installs
            ));
        }
        results.push(json!({ "app": app, "deployment": targets.deployment, "history": history, "metrics": metrics }));
    }
    output.finish(&json!({ "apps": results }));
    Ok(())
}

async fn push_update(args: super::PushUpdateArgs) -> Result<(), CliError> {
    let (connection, targets, output) = start(&args.target, &args.connection)?;
    let project =
        targets.project.as_ref().ok_or_else(|| CliError::Usage("push-update needs --project <folder>".into()))?;
    let request = PushRequest {
        targets: targets.apps.iter().map(|(p, app)| (p.unwrap_or(Platform::Android), app.clone())).collect(),
        deployment: targets.deployment.clone(),
        target_version: args.target_version.clone(),
        build_number: args.build_number.clone(),
        rollout: args.rollout_percentage,
        mandatory: args.mandatory,
        description: args.description.clone().unwrap_or_default(),
        sign_key: args.sign_key.clone(),
        force_reason: args.force_reason.clone(),
        confirm_offline_checklist: args.confirm_offline_checklist,
        create_missing_apps: args.create_apps,
        bundle_dir: args.bundle_dir.clone(),
    };
    let (tx, rx) = mpsc::channel::<PushEvent>(256);
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let printer = tokio::spawn(print_push_events(rx, output.json));
    let result = crate::push::push(&connection.client, project, &request, &tx, &cancel).await;
    drop(tx);
    let findings = printer.await.unwrap_or_default();
    watcher.abort();
    let released = result.map_err(|error| match error {
        PushError::Invalid(message) => CliError::Usage(message),
        PushError::Blocked(findings) => CliError::Preflight(format!(
            "{}\nThese changes are not safe over the air: ship them in a store release, or change the project so that devices keep their data. To push anyway, pass --force-reason \"why this is safe\".",
            findings.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n")
        )),
        PushError::Server(e) => CliError::Server(e),
        PushError::Bundle(e) => CliError::Bundle(e),
    })?;
    for release in &released {
        output.line(&format!(
            "{}/{}: released {} ({})",
            release.app,
            targets.deployment,
            release.package.label,
            describe(&release.package)
        ));
    }
    let releases: Vec<serde_json::Value> = released.iter().map(|r| r.to_json(&targets.deployment)).collect();
    output.finish(&json!({ "releases": releases, "preflight": findings.1, "warnings": findings.0 }));
    Ok(())
}

/// Shows push progress on stderr: a live line and an upload bar on a terminal, plain lines otherwise.
/// Returns the preflight warnings and findings for the JSON report.
async fn print_push_events(mut events: mpsc::Receiver<PushEvent>, quiet: bool) -> (Vec<String>, Vec<String>) {
    let terminal = std::io::stderr().is_terminal();
    let mut report = (Vec::new(), Vec::new());
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut tail: Vec<String> = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            PushEvent::Preflight { warnings, findings } => {
                for warning in &warnings {
                    eprintln!("warning: {warning}");
                }
                report = (warnings, findings);
            }
            PushEvent::Build { platform, event } => match event {
                BuildEvent::Started { command } => {
                    eprintln!("[{platform}] building: {command}");
                    if terminal {
                        let spinner = indicatif::ProgressBar::new_spinner();
                        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
                        bar = Some(spinner);
                    }
                }
                BuildEvent::Output { line, .. } => {
                    match &bar {
                        Some(spinner) => spinner.set_message(format!("[{platform}] {line}")),
                        None if !quiet => eprintln!("[{platform}] {line}"),
                        None => {}
                    }
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
                BuildEvent::Finished { success } => {
                    if let Some(spinner) = bar.take() {
                        spinner.finish_and_clear();
                    }
                    if !success && (terminal || quiet) {
                        tail.iter().for_each(|line| eprintln!("[{platform}] {line}"));
                    }
                    tail.clear();
                }
            },
            PushEvent::Packaged { platform, package_hash, files, bytes, signed } => {
                eprintln!(
                    "[{platform}] packaged {files} files ({} KB) · package hash {}{}",
                    bytes / 1024,
                    package_hash.get(..12).unwrap_or(&package_hash),
                    if signed { " · signed" } else { "" }
                );
                if terminal {
                    let upload = indicatif::ProgressBar::new(0);
                    upload.set_style(
                        indicatif::ProgressStyle::with_template("  uploading {bar:40} {bytes}/{total_bytes}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar = Some(upload);
                }
            }
            PushEvent::Uploading { sent, total, .. } => {
                if let Some(upload) = &bar {
                    upload.set_length(total);
                    upload.set_position(sent);
                }
            }
            PushEvent::Released { platform, .. } => {
                if let Some(upload) = bar.take() {
                    upload.finish_and_clear();
                }
                eprintln!("[{platform}] uploaded");
            }
        }
    }
    report
}
