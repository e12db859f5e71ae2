//! The `otadeck` binary: parses the command line and runs the chosen command.

use anyhow::Context as _;
use clap::Parser as _;
use otadeck::cli::{Cli, Command, ServeArgs, default_data_dir};
use otadeck::server::{self, ServerConfig, ServerState};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: the journal and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(args)) => {
            let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(serve(args))
        }
        Some(Command::Release(command)) => exit_on_error(run_async(otadeck::cli::run_release(command))?),
        Some(Command::Binary(command)) => exit_on_error(run_async(otadeck::cli::run_binary(command))?),
        Some(Command::Simulate(args)) => exit_on_error(run_async(otadeck::cli::run_simulate(args))?),
        Some(Command::Demo(command)) => exit_on_error(run_async(otadeck::cli::run_demo(command))?),
        Some(Command::Key(command)) => exit_on_error(run_async(otadeck::cli::run_key(command))?),
        Some(Command::Audit(args)) => exit_on_error(run_async(otadeck::cli::run_audit(args))?),
        Some(Command::Deployment(command)) => exit_on_error(run_async(otadeck::cli::run_deployment(command))?),
        Some(Command::Collaborator(command)) => exit_on_error(run_async(otadeck::cli::run_collaborator(command))?),
        Some(Command::Mendix(command)) => exit_on_error(run_async(otadeck::cli::run_mendix(command))?),
        Some(Command::Migrate(args)) => run_async(migrate(args))?,
        None => open_window(),
    }
}

/// With no subcommand: the desktop app, connected to `OTADECK_SERVER` (with `OTADECK_ACCESS_KEY`) or
/// to an embedded local server with data in the platform data dir.
#[cfg(feature = "gui")]
fn open_window() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let connection = match (std::env::var("OTADECK_SERVER"), std::env::var("OTADECK_ACCESS_KEY")) {
        (Ok(url), Ok(key)) => otadeck::gui::Connection::new("OTADECK_SERVER", &url, &key)?,
        _ => {
            let data_dir =
                default_data_dir().context("no platform data dir: set OTADECK_SERVER and OTADECK_ACCESS_KEY")?;
            let embedded = runtime
                .block_on(otadeck::server::start_embedded(data_dir, 3000))
                .context("cannot start the embedded local server")?;
            match embedded.owner_pid {
                None => {
                    otadeck::gui::Connection::new("Local (embedded)", &embedded.url, &embedded.admin_key)?.embedded()
                }
                Some(pid) => {
                    tracing::info!(url = %embedded.url, pid, "the local data dir belongs to a running server; connecting to it");
                    let name = format!("Local (otadeck serve, pid {pid})");
                    otadeck::gui::Connection::new(&name, &embedded.url, &embedded.admin_key)?
                }
            }
        }
    };
    otadeck::gui::run(runtime.handle().clone(), connection).map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

/// Built without the `gui` feature: print help instead.
#[cfg(not(feature = "gui"))]
fn open_window() -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    Cli::command().print_help()?;
    println!();
    Ok(())
}

fn run_async<T>(future: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Prints a command error and exits with its code (preflight blocks, server errors, … differ).
fn exit_on_error(result: Result<(), otadeck::cli::CliError>) -> anyhow::Result<()> {
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = args
        .data_dir
        .or_else(default_data_dir)
        .context("no data dir given and no platform data dir found: pass --data-dir")?;
    let mut config = ServerConfig::new(data_dir.clone());
    config.public_url = args.public_url;
    config.admin_key = std::env::var("OTADECK_ADMIN_KEY").ok().filter(|k| !k.is_empty());
    config.upload_limit_bytes = args.upload_limit_mb.saturating_mul(1024 * 1024);
    config.shutdown_grace = std::time::Duration::from_secs(args.shutdown_grace_seconds);
    config.trust_forwarded_for = args.trust_x_forwarded_for;
    config.limits.reports_per_second = args.report_rate_limit;
    config.limits.report_burst = args.report_rate_limit.saturating_mul(10);
    config.limits.downloads_per_second = args.download_rate_limit;
    config.limits.download_burst = args.download_rate_limit.saturating_mul(10);
    config.limits.per_address_connections = args.max_connections_per_address;
    config.blobs = match args.storage.location() {
        Ok(location) => location,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    config.blob_base_url = args.blob_base_url.filter(|u| !u.is_empty());
    config.database = args.database.filter(|u| !u.is_empty());
    config.tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(server::TlsFiles { cert, key }),
        _ => None,
    };
    if let Err(error) = config.check_listen(args.listen) {
        exit_on_start_error(&error);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let opened = match ServerState::open(&config, bound).await {
        Ok(opened) => opened,
        Err(error) => exit_on_start_error(&error),
    };
    if opened.generated_admin_key.is_some() {
        announce_admin_key(&data_dir, opened.generated_admin_key.as_deref());
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let gateway = match args.gateway_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for the Mendix gateway"))?;
            tracing::info!(listen = %listener.local_addr()?, "Mendix OTA gateway ready");
            let (state, stopped) = (opened.state.clone(), stop.clone().cancelled_owned());
            Some(tokio::spawn(server::serve_gateway(listener, state, stopped)))
        }
        None => None,
    };
    tracing::info!(listen = %bound, data_dir = %data_dir.display(), public_url = %opened.state.public_url, tls = config.tls.is_some(), database = %opened.state.store.describe(), blobs = %opened.state.blobs.describe(), "otadeck server ready");
    let signalled = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signalled.cancel();
    });
    server::serve(listener, opened.state, stop.cancelled_owned()).await?;
    if let Some(gateway) = gateway {
        gateway.await.context("the Mendix gateway stopped unexpectedly")??;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(args: otadeck::cli::MigrateArgs) -> anyhow::Result<()> {
    let blobs = match args.storage.location() {
        Ok(location) => location,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    if matches!(blobs, server::blobs::BlobLocation::Folder) {
        eprintln!("error: --blobs must name the bucket the replicas share (s3://bucket/prefix)");
        std::process::exit(2);
    }
    let target = match server::store::describe_postgres(&args.to) {
        Ok(target) => target,
        Err(reason) => {
            eprintln!("error: --to is not usable: {reason}");
            std::process::exit(2);
        }
    };
    match server::migrate::migrate(&args.from, &args.to, &blobs, args.allow_non_empty).await {
        Ok(report) => {
            println!("{report}");
            println!("Moved {} to {target} and {}.", args.from.display(), blobs.describe());
            Ok(())
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}

/// Prints a start-up error as one sentence and exits: 2 for configuration, 1 otherwise.
fn exit_on_start_error(error: &server::StartError) -> ! {
    eprintln!("error: {error}");
    std::process::exit(if error.is_configuration() { 2 } else { 1 });
}

/// Tells the operator where the generated admin key is. The key itself is printed only to a
/// terminal: under systemd, stderr is the journal, and a key must never land in a log.
fn announce_admin_key(data_dir: &std::path::Path, key: Option<&str>) {
    use std::io::IsTerminal as _;
    let path = data_dir.join("admin-access-key");
    match key {
        Some(key) if std::io::stderr().is_terminal() => eprintln!(
            "Created account admin@localhost. Its access key (shown once, also saved to {}):\n\n    {key}\n",
            path.display()
        ),
        _ => eprintln!("Created account admin@localhost. Its access key is in {} (mode 0600).", path.display()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
