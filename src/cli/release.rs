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
use crate::bundle::build::{BuildEvent, BuildSpec};
use crate::bundle::project::{Project, ProjectKind};
use crate::bundle::sign::ReleaseSigner;
use crate::bundle::{Platform, fingerprint, package, preflight};
use crate::client::PackageUpload;
use crate::domain::{BuildRange, TargetRange};

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
            let connection = Connection::resolve(&args.connection)?;
            let targets = resolve_targets(&args.target)?;
            let output = Output::new(&args.connection);
            let info = PackageInfo {
                label: args.label.clone(),
                rollout: args.rollout_percentage.map(|p| json!(p)),
                is_mandatory: args.mandatory,
                is_disabled: args.disabled,
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
            let connection = Connection::resolve(&args.connection)?;
            let targets = resolve_targets(&args.target)?;
            let output = Output::new(&args.connection);
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
            let connection = Connection::resolve(&args.connection)?;
            let targets = resolve_targets(&args.target)?;
            let output = Output::new(&args.connection);
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
            let connection = Connection::resolve(&args.connection)?;
            let targets = resolve_targets(&args.target)?;
            let project = targets
                .project
                .as_ref()
                .ok_or_else(|| CliError::Usage("binary register needs --project <folder>".into()))?;
            let output = Output::new(&args.connection);
            let mut results = Vec::new();
            for (platform, app) in &targets.apps {
                let platform = platform.unwrap_or(Platform::Android);
                let print = fingerprint::fingerprint(project, platform)?;
                let new = NewBinary {
                    platform: Some(platform.as_str().into()),
                    app_version: Some(args.app_version.clone()),
                    build_number: args.build_number,
                    fingerprint: Some(serde_json::to_value(&print).unwrap_or_default()),
                };
                let binary = connection.client.register_binary(app, &new).await?;
                output.line(&format!(
                    "{app}: registered {platform} {}{} as a store build ({} native modules, {} icons/splash screens)",
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
            let connection = Connection::resolve(&args.connection)?;
            let targets = resolve_targets(&args.target)?;
            let output = Output::new(&args.connection);
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

fn describe(package: &Package) -> String {
    let mut parts = vec![format!("target {}", package.app_version)];
    if package.is_mandatory {
        parts.push("mandatory".into());
    }
    if package.is_disabled {
        parts.push("disabled".into());
    }
    parts.push(format!("rollout {}%", package.rollout.unwrap_or(100)));
    if let Some(build) = &package.build_number {
        parts.push(format!("builds {build}"));
    }
    parts.join(", ")
}

async fn list(target: &TargetArgs, connection_args: &ConnectionArgs) -> Result<(), CliError> {
    let connection = Connection::resolve(connection_args)?;
    let targets = resolve_targets(target)?;
    let output = Output::new(connection_args);
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
                format_time(package.upload_time),
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

/// `YYYY-MM-DD HH:MM` UTC from milliseconds since the epoch.
fn format_time(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rest / 3600, rest % 3600 / 60)
}

async fn push_update(args: super::PushUpdateArgs) -> Result<(), CliError> {
    let connection = Connection::resolve(&args.connection)?;
    let targets = resolve_targets(&args.target)?;
    let project =
        targets.project.as_ref().ok_or_else(|| CliError::Usage("push-update needs --project <folder>".into()))?;
    let output = Output::new(&args.connection);
    let target = TargetRange::parse(&args.target_version).map_err(|e| CliError::Usage(e.to_string()))?;
    let build = args
        .build_number
        .as_deref()
        .map(str::parse::<BuildRange>)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let sign_key = args.sign_key.clone().or_else(|| project.signing_key());
    let signer = sign_key.as_deref().map(ReleaseSigner::from_pem_file).transpose()?;

    // Preflight every platform before building anything.
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    for (platform, app) in &targets.apps {
        let platform = platform.unwrap_or(Platform::Android);
        connection.client.app(app).await?;
        let print = fingerprint::fingerprint(project, platform)?;
        let binaries = connection.client.binaries(app).await?;
        let needs_checklist = project.kind == ProjectKind::Mendix && !args.confirm_offline_checklist;
        let report = preflight::check(platform, &print, &target, build, &binaries, needs_checklist);
        if report.compared_nothing() {
            warnings.push(format!(
                "{app}: no store build registered for {}; run `otadeck binary register` after each store release so preflight can compare",
                target.as_str()
            ));
        }
        findings.extend(report.findings());
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if !findings.is_empty() && args.force_reason.is_none() {
        return Err(CliError::Preflight(format!(
            "{}\nThese changes need a store release. To push anyway, pass --force-reason \"why this is safe\".",
            findings.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n")
        )));
    }
    let mut description = args.description.clone().unwrap_or_default();
    if let (Some(reason), false) = (&args.force_reason, findings.is_empty()) {
        let note = format!("[otadeck preflight overridden: {reason}; findings: {}]", findings.join("; "));
        description = if description.is_empty() { note } else { format!("{description}\n\n{note}") };
    }

    let work = tempfile::tempdir().map_err(|e| CliError::Usage(format!("cannot create a temp folder: {e}")))?;
    let mut released = Vec::new();
    for (platform, app) in &targets.apps {
        let platform = platform.unwrap_or(Platform::Android);
        let out_dir = work.path().join(platform.as_str());
        let spec = BuildSpec::for_project(project, platform, &out_dir)?;
        let code_push_dir = run_build(&spec, platform, output.json).await?;
        let zip_path = work.path().join(format!("{}.zip", platform.as_str()));
        let packaged = tokio::task::block_in_place(|| package::package(&code_push_dir, &zip_path, signer.as_ref()))?;
        eprintln!(
            "[{platform}] packaged {} files ({} KB) · package hash {}{}",
            packaged.file_count,
            packaged.content_bytes / 1024,
            &packaged.package_hash[..12],
            if packaged.signed { " · signed" } else { "" }
        );
        let info = PackageInfo {
            app_version: Some(target.as_str().to_owned()),
            description: Some(description.clone()),
            is_mandatory: Some(args.mandatory),
            rollout: Some(json!(args.rollout_percentage)),
            build_number: args.build_number.clone(),
            ..PackageInfo::default()
        };
        eprintln!("[{platform}] uploading to {app}/{} …", targets.deployment);
        let package =
            connection.client.release(app, &targets.deployment, &PackageUpload { file: zip_path, info }).await?;
        output.line(&format!("{app}/{}: released {} ({})", targets.deployment, package.label, describe(&package)));
        released.push(json!({
            "platform": platform,
            "app": app,
            "deployment": targets.deployment,
            "label": package.label,
            "packageHash": package.package_hash,
            "size": package.size,
            "signed": packaged.signed,
        }));
    }
    output.finish(&json!({ "releases": released, "preflight": findings, "warnings": warnings }));
    Ok(())
}

/// Runs one build, showing its output: a live last line on a terminal, every line otherwise.
async fn run_build(spec: &BuildSpec, platform: Platform, quiet: bool) -> Result<std::path::PathBuf, CliError> {
    let (tx, mut rx) = mpsc::channel::<BuildEvent>(256);
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let terminal = std::io::stderr().is_terminal();
    let spinner = terminal.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let printer = tokio::spawn(async move {
        let mut tail: Vec<String> = Vec::new();
        while let Some(event) = rx.recv().await {
            match event {
                BuildEvent::Started { command } => eprintln!("[{platform}] building: {command}"),
                BuildEvent::Output { line, .. } => {
                    if let Some(bar) = &spinner {
                        bar.set_message(format!("[{platform}] {line}"));
                    } else if !quiet {
                        eprintln!("[{platform}] {line}");
                    }
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
                BuildEvent::Finished { success } => {
                    if let Some(bar) = &spinner {
                        bar.finish_and_clear();
                    }
                    if !success && (terminal || quiet) {
                        for line in &tail {
                            eprintln!("[{platform}] {line}");
                        }
                    }
                }
            }
        }
    });
    let result = crate::bundle::build::run(spec, &tx, &cancel).await;
    drop(tx);
    let _ = printer.await;
    watcher.abort();
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_795_335_096_219), "2026-11-22 08:11");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00");
    }
}
