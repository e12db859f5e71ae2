//! The command line, in Native Builder's words: `otadeck release push-update | list | patch-update |
//! rollback-update | promote`, `otadeck binary register | list`, and `otadeck serve`.
//!
//! Exit codes: 0 success, 1 other failures, 2 usage or configuration errors, 3 blocked by preflight,
//! 4 the server refused or could not be reached, 5 the build failed.

mod admin;
mod config;
mod mendix;
mod release;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use admin::{run_audit, run_collaborator, run_deployment};
pub use config::{CliConfig, Connection};
pub use mendix::run_mendix;
pub use release::{run as run_release, run_binary, run_demo, run_key, run_simulate};

use crate::bundle::Platform;

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
    /// Build, check and push updates; list, patch, roll back and promote releases.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Record store builds (binaries) and the native fingerprint they were built from.
    #[command(subcommand)]
    Binary(BinaryCommand),
    /// Run a fleet of virtual devices against a server: rollouts, failed installs, rollbacks.
    Simulate(SimulateArgs),
    /// Create and list access keys, optionally limited by scopes.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Load or remove the demo app (releases, a halted one, a simulated fleet) on a test server.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Show the audit trail: who changed what, when, from where and why.
    Audit(AuditArgs),
    /// Protect a deployment (changes need --reason) or lift the protection.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Add collaborators with a role that caps their keys on an app, or change the role.
    #[command(subcommand)]
    Collaborator(CollaboratorCommand),
    /// Mendix runtime OTA: channels of the gateway (`otadeck serve --gateway-listen`).
    #[command(subcommand)]
    Mendix(MendixCommand),
    /// Move an embedded server (data dir) onto PostgreSQL and a bucket, keeping all its history.
    Migrate(MigrateArgs),
}

/// `otadeck mendix …`.
#[derive(Debug, Subcommand)]
pub enum MendixCommand {
    /// Channels: which host the gateway answers for, in front of which runtime.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// What the runtime served to devices through an observing channel.
    Observations(ChannelHostArgs),
    /// OTA checks per platform and binary version, with and without the gateway's cookie.
    Checks(ChannelHostArgs),
    /// Store the bundle the runtime serves now as a release (a rollback target from day one).
    Import(ImportArgs),
    /// Read a project's .mpr: domain model, native profiles and their offline entities.
    Model(ModelArgs),
}

/// Arguments of `otadeck mendix model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The Mendix project folder (with the .mpr).
    pub project: PathBuf,
    /// Print one JSON document instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// A channel named by its host.
#[derive(Debug, Args)]
pub struct ChannelHostArgs {
    /// The channel's host name.
    #[arg(long)]
    pub host: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `otadeck mendix import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The channel's host name.
    #[arg(long)]
    pub host: String,
    /// android or ios.
    #[arg(long)]
    pub platform: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck mendix channel …`.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Bind a deployment of an app pair to a host name in front of a Mendix runtime.
    Set(ChannelSetArgs),
    /// List the channels.
    List(ChannelListArgs),
}

/// Arguments of `otadeck mendix channel set`.
#[derive(Debug, Args)]
pub struct ChannelSetArgs {
    /// The server app of the Android build, e.g. Shop-Android.
    #[arg(long)]
    pub android_app: String,
    /// The server app of the iOS build, e.g. Shop-iOS.
    #[arg(long)]
    pub ios_app: String,
    /// The deployment both apps release into, e.g. Production.
    #[arg(long)]
    pub deployment: String,
    /// The host name of the app's runtime URL, now pointing at the gateway.
    #[arg(long)]
    pub host: String,
    /// The real Mendix runtime, e.g. https://runtime.internal:8080/.
    #[arg(long)]
    pub upstream: String,
    /// serve: otadeck answers the OTA check; observe: the runtime does, otadeck only passes it on.
    #[arg(long, default_value = "serve")]
    pub mode: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `otadeck mendix channel list`.
#[derive(Debug, Args)]
pub struct ChannelListArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this app.
    #[arg(long)]
    pub app: Option<String>,
    /// Only this deployment (with --app).
    #[arg(long, requires = "app")]
    pub deployment: Option<String>,
    /// Only changes by this account (email).
    #[arg(long)]
    pub account: Option<String>,
    /// Only the last period: 30m, 12h, 7d.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many entries (newest first; at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck deployment …`.
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Changes to the deployment will need a reason (--reason, the app's Reason box).
    Protect(DeploymentArgs),
    /// Lift the protection (needs --reason itself).
    Unprotect(DeploymentArgs),
}

/// Arguments of `otadeck deployment protect|unprotect`.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// The server app.
    #[arg(long)]
    pub app: String,
    /// The deployment, e.g. Production.
    #[arg(long)]
    pub deployment: String,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck collaborator …`.
#[derive(Debug, Subcommand)]
pub enum CollaboratorCommand {
    /// Add a registered account to an app, optionally with a role.
    Add(CollaboratorArgs),
    /// Change a collaborator's role (no --role/--preset: no cap).
    Role(CollaboratorArgs),
}

/// Arguments of `otadeck collaborator add|role`.
#[derive(Debug, Args)]
pub struct CollaboratorArgs {
    /// The server app.
    #[arg(long)]
    pub app: String,
    /// The collaborator's account email.
    pub email: String,
    /// Scopes the collaborator's keys are capped to on this app (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// A ready-made role: ci, product-owner or support.
    #[arg(long, conflicts_with = "scopes")]
    pub preset: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an access key; prints its secret once.
    Create(KeyCreateArgs),
    /// List the account's access keys (secrets masked) with their scopes.
    List(KeyListArgs),
}

/// `otadeck key create`.
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// A name for the key, e.g. "GitHub Actions".
    pub name: String,
    /// read, release, release:<Deployment>, rollout, pause, rollback or admin (repeatable).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// A ready-made set: ci (read + release:Staging), product-owner (read + rollout),
    /// support (read + rollback + pause).
    #[arg(long, conflicts_with = "scopes")]
    pub preset: Option<String>,
    /// Days until the key expires (default 60).
    #[arg(long)]
    pub ttl_days: Option<u32>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck key list`.
#[derive(Debug, Args)]
pub struct KeyListArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `otadeck demo …`: sample data for trying otadeck. Never point it at a production server.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Create Demo-Android with three releases (one rolling out, one halted) and 600 simulated phones.
    Load(DemoArgs),
    /// Delete the demo app.
    Remove(DemoArgs),
}

/// Arguments of `otadeck demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Arguments of `otadeck simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Release server URL.
    #[arg(long, env = "OTADECK_SERVER")]
    pub server: String,
    /// PEM file of CA certificates to trust besides the system's (a private CA).
    #[arg(long, env = "OTADECK_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// The deployment key the devices use (CodePush fleets).
    #[arg(long, required_unless_present = "mendix")]
    pub deployment_key: Option<String>,
    /// Simulate Mendix runtime-OTA phones instead: --server is the app's runtime URL (the gateway).
    #[arg(long, requires = "embedded_deployment_id")]
    pub mendix: bool,
    /// Mendix: android or ios.
    #[arg(long, default_value = "android")]
    pub platform: String,
    /// Mendix: the binary's native binary version.
    #[arg(long, default_value_t = 40)]
    pub native_binary_version: u32,
    /// Mendix: the deployment ID of the bundle inside the binary.
    #[arg(long)]
    pub embedded_deployment_id: Option<String>,
    /// Number of devices.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Binary versions, comma-separated; assigned round-robin for a mixed fleet.
    #[arg(long, default_value = "1.0.0", value_delimiter = ',')]
    pub app_version: Vec<String>,
    /// Native build numbers, comma-separated, assigned round-robin.
    #[arg(long, value_delimiter = ',')]
    pub build_number: Vec<u64>,
    /// Crash probability on first run per label, e.g. v5=0.3,v6=0.1.
    #[arg(long, default_value = "")]
    pub fail: String,
    /// Probability that a user accepts an optional update.
    #[arg(long, default_value_t = 0.6)]
    pub accept_optional: f64,
    /// App launches per device.
    #[arg(long, default_value_t = 2)]
    pub restarts: usize,
    /// Devices talking to the server at the same time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Device ids are `<prefix>-<n>`: the same prefix means the same devices.
    #[arg(long, default_value = "sim")]
    pub id_prefix: String,
    /// Send an `X-Forwarded-For` per device (a distinct 10.x.y.0/24 each), for a server started with
    /// --trust-x-forwarded-for: the health gate then sees failures from many networks, as in a real fleet.
    #[arg(long)]
    pub spread_networks: bool,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `otadeck serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "OTADECK_LISTEN")]
    pub listen: SocketAddr,
    /// Also listen here as the Mendix runtime OTA gateway (the host your app's runtime URL names;
    /// channels: `otadeck mendix channel set`). Uses the same TLS certificate.
    #[arg(long, env = "OTADECK_GATEWAY_LISTEN")]
    pub gateway_listen: Option<SocketAddr>,
    /// Folder for the database and package files (default: the platform data dir).
    #[arg(long, env = "OTADECK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Public base URL used in download links, e.g. https://ota.example.com (default:
    /// http(s)://<listen>; required when listening on 0.0.0.0 or ::).
    #[arg(long, env = "OTADECK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest accepted package upload, in megabytes.
    #[arg(long, default_value_t = 200, env = "OTADECK_UPLOAD_LIMIT_MB")]
    pub upload_limit_mb: u64,
    /// Serve HTTPS with this PEM certificate chain (re-read on SIGHUP).
    #[arg(long, env = "OTADECK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "OTADECK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Status reports per second per client address (bursts of 10×); more get 429.
    #[arg(long, default_value_t = 1_000, env = "OTADECK_REPORT_RATE_LIMIT")]
    pub report_rate_limit: u32,
    /// Package downloads per second per client address (bursts of 10×); more get 429.
    #[arg(long, default_value_t = 200, env = "OTADECK_DOWNLOAD_RATE_LIMIT")]
    pub download_rate_limit: u32,
    /// Open connections per client address.
    #[arg(long, default_value_t = 256, env = "OTADECK_MAX_CONNECTIONS_PER_ADDRESS")]
    pub max_connections_per_address: usize,
    /// Take client addresses from the last X-Forwarded-For entry: only behind a proxy that sets it.
    #[arg(long, env = "OTADECK_TRUST_X_FORWARDED_FOR")]
    pub trust_x_forwarded_for: bool,
    /// Seconds requests in flight may run on after SIGTERM before they are cut off.
    #[arg(long, default_value_t = 30, env = "OTADECK_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: u64,
    /// The metadata database: the data dir's SQLite file (default), or PostgreSQL,
    /// postgres://user:password@host:port/database, shared by any number of replicas.
    #[arg(long, env = "OTADECK_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    #[command(flatten)]
    pub storage: BlobArgs,
    /// Download links point here instead of at this server, e.g. a CDN or the bucket's public URL in
    /// front of the package files (`<url>/ab/abcdef…`, the layout of the blob folder and bucket).
    #[arg(long, env = "OTADECK_BLOB_BASE_URL")]
    pub blob_base_url: Option<String>,
}

/// Where package files live, shared by `serve` and `migrate`.
#[derive(Debug, Clone, Args)]
pub struct BlobArgs {
    /// Where package files live: `folder` (the data dir's blobs/) or an S3-compatible bucket,
    /// s3://bucket/prefix.
    #[arg(long, default_value = "folder", env = "OTADECK_BLOBS")]
    pub blobs: String,
    /// The bucket's endpoint, for S3-compatible stores (MinIO, Ceph, …); path-style requests.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region (default us-east-1).
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// The bucket's access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// The bucket's secret access key (prefer the environment variable: arguments are visible to
    /// other local users).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
}

impl BlobArgs {
    /// The blob location these flags name.
    ///
    /// # Errors
    /// Why `--blobs` is not usable.
    pub fn location(&self) -> Result<crate::server::blobs::BlobLocation, String> {
        let non_empty = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        let bucket = crate::server::blobs::BucketConfig {
            endpoint: non_empty(&self.s3_endpoint),
            region: non_empty(&self.s3_region),
            access_key_id: non_empty(&self.s3_access_key_id),
            secret_access_key: non_empty(&self.s3_secret_access_key),
            ..crate::server::blobs::BucketConfig::default()
        };
        crate::server::blobs::BlobLocation::parse(&self.blobs, bucket)
    }
}

/// Arguments of `otadeck migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data dir of the embedded server to move (it must not be running).
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to move it into, postgres://user:password@host:port/database.
    #[arg(long, env = "OTADECK_DATABASE_URL", hide_env_values = true)]
    pub to: String,
    #[command(flatten)]
    pub storage: BlobArgs,
    /// Add what is missing to a database that already holds other data (ids may collide).
    #[arg(long)]
    pub allow_non_empty: bool,
}

/// Server, key and output options shared by the release and binary commands.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Release server URL (or OTADECK_SERVER, or `server` in the config file).
    #[arg(long, env = "OTADECK_SERVER", global = true)]
    pub server: Option<String>,
    /// Access key (or OTADECK_ACCESS_KEY, or `access_key` in the config file).
    #[arg(long, env = "OTADECK_ACCESS_KEY", hide_env_values = true, global = true)]
    pub access_key: Option<String>,
    /// PEM file of CA certificates to trust besides the system's (or OTADECK_CA_CERT, or `ca_cert`
    /// in the config file).
    #[arg(long, env = "OTADECK_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Why you make this change: recorded in the audit trail, required on protected deployments
    /// (or OTADECK_REASON).
    #[arg(long, env = "OTADECK_REASON", global = true)]
    pub reason: Option<String>,
}

/// Which apps a command acts on: a project folder, a project name, or one app.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Project folder, or a project name (apps `<name>-Android` and `<name>-iOS`).
    #[arg(long)]
    pub project: Option<String>,
    /// One server app (instead of the project's apps).
    #[arg(long, conflicts_with = "project")]
    pub app: Option<String>,
    /// Only this platform (default: both).
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Deployment (default: the project's, else Staging).
    #[arg(long)]
    pub deployment: Option<String>,
}

/// `otadeck release …`.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Build the project, package and check it, and push it as a new release.
    PushUpdate(PushUpdateArgs),
    /// List the releases of a deployment.
    List(ListArgs),
    /// Change a release: rollout, mandatory, disabled, description.
    PatchUpdate(PatchUpdateArgs),
    /// Roll a deployment back to an earlier release.
    RollbackUpdate(RollbackUpdateArgs),
    /// Copy a release from one deployment to another.
    Promote(PromoteArgs),
}

/// `release push-update`.
#[derive(Debug, Args)]
pub struct PushUpdateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Binary versions this update is for (node-semver range: 1.2.3, ^1.2.0, 1.0.0 - 1.2.x).
    #[arg(long)]
    pub target_version: String,
    /// Limit the update to native build numbers: 42 or 40-45.
    #[arg(long)]
    pub build_number: Option<String>,
    /// Percentage of devices that get the update.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub rollout_percentage: u8,
    /// Whether devices must install it (Native Builder's default: true).
    #[arg(long, num_args = 0..=1, default_value = "true", default_missing_value = "true", action = clap::ArgAction::Set)]
    pub mandatory: bool,
    /// Release notes shown to users.
    #[arg(long)]
    pub description: Option<String>,
    /// PEM RSA private key to sign the update (default: [signing] private_key in otadeck.toml).
    #[arg(long)]
    pub sign_key: Option<PathBuf>,
    /// Push even though preflight found native or Mendix model changes; the reason and the findings
    /// are stored in the release description.
    #[arg(long)]
    pub force_reason: Option<String>,
    /// Mendix: confirm the offline-first checklist was reviewed for this update. Needed only when no
    /// registered store build in reach and no current release has a model snapshot to compare with.
    #[arg(long)]
    pub confirm_offline_checklist: bool,
    /// Create the server apps (with Production and Staging) if they do not exist yet.
    #[arg(long)]
    pub create_apps: bool,
    /// Mendix channels: an already built `deployment/native/bundle` folder of MxBuild, packed in
    /// the runtime-OTA layout instead of running MxBuild.
    #[arg(long)]
    pub bundle_dir: Option<PathBuf>,
}

/// `release list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `release patch-update`.
#[derive(Debug, Args)]
pub struct PatchUpdateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The release to change (default: the latest).
    #[arg(long)]
    pub label: Option<String>,
    /// New rollout percentage (can only go up).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub rollout_percentage: Option<u8>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub mandatory: Option<bool>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub disabled: Option<bool>,
    /// Pause (halt) the release: no new device gets it, devices that have it keep it. `--paused false`
    /// resumes the rollout and its schedule.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub paused: Option<bool>,
    #[arg(long)]
    pub description: Option<String>,
}

/// `release rollback-update`.
#[derive(Debug, Args)]
pub struct RollbackUpdateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The release to go back to (default: the one before the latest).
    #[arg(long)]
    pub label: Option<String>,
}

/// `release promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Source deployment (default: Staging).
    #[arg(long, default_value = "Staging")]
    pub from: String,
    /// Destination deployment (default: Production).
    #[arg(long, default_value = "Production")]
    pub to: String,
    /// The source release (default: its latest).
    #[arg(long)]
    pub label: Option<String>,
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub rollout_percentage: Option<u8>,
}

/// `otadeck binary …`.
#[derive(Debug, Subcommand)]
pub enum BinaryCommand {
    /// Record the project's native fingerprint as the baseline of a store build.
    Register(RegisterBinaryArgs),
    /// List the registered store builds.
    List(ListArgs),
}

/// `binary register`.
#[derive(Debug, Args)]
pub struct RegisterBinaryArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The store build's version (versionName / CFBundleShortVersionString).
    #[arg(long)]
    pub app_version: String,
    /// The store build's build number (versionCode / CFBundleVersion).
    #[arg(long)]
    pub build_number: Option<u64>,
    /// The JS bundle and assets the store build ships: its `CodePush` folder or a zip of it. Its
    /// manifest is registered, so devices running the binary that name its hash get diff packages.
    #[arg(long, value_name = "FOLDER_OR_ZIP")]
    pub bundle: Option<PathBuf>,
}

/// The platform data dir for the server, e.g. `~/.local/share/otadeck/server` on Linux.
#[must_use]
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "otadeck", "otadeck").map(|dirs| dirs.data_dir().join("server"))
}

/// Why a command failed; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("preflight blocked the push:\n{0}")]
    Preflight(String),
    #[error("{0}")]
    Server(#[from] crate::client::ClientError),
    #[error("{0}")]
    Bundle(#[from] crate::bundle::BundleError),
}

impl CliError {
    /// The process exit code for this error.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => 2,
            Self::Preflight(_) => 3,
            Self::Server(_) => 4,
            Self::Bundle(crate::bundle::BundleError::Config { .. } | crate::bundle::BundleError::NotAProject(_)) => 2,
            Self::Bundle(_) => 5,
        }
    }
}
