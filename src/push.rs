//! The push flow shared by the CLI and the desktop app: preflight every platform, then for each one
//! build with the project's real tool, package (and sign), and upload. Progress is reported as
//! [`PushEvent`]s; the caller decides how to show them.

use std::path::PathBuf;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::management::{Package, PackageInfo};
use crate::bundle::build::{BuildEvent, BuildSpec};
use crate::bundle::project::{Project, ProjectKind};
use crate::bundle::sign::ReleaseSigner;
use crate::bundle::{BundleError, Platform, fingerprint, mendix_model, package, preflight};
use crate::client::{ClientError, ManagementClient, PackageUpload};
use crate::domain::{BuildRange, TargetRange};

/// What to push and how.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The apps to push to, one per platform.
    pub targets: Vec<(Platform, String)>,
    pub deployment: String,
    pub target_version: String,
    pub build_number: Option<String>,
    pub rollout: u8,
    pub mandatory: bool,
    pub description: String,
    pub sign_key: Option<PathBuf>,
    /// Push despite preflight findings; stored with the release.
    pub force_reason: Option<String>,
    pub confirm_offline_checklist: bool,
    /// Create the apps (with `Production` and `Staging`) if the server does not have them yet.
    pub create_missing_apps: bool,
    /// Mendix channels: MxBuild's already built `deployment/native/bundle` folder, used instead of
    /// running MxBuild.
    pub bundle_dir: Option<PathBuf>,
}

/// The platform's folder in MxBuild's `deployment/native/bundle` (`android`, `iOS`).
fn mendix_bundle_folder(bundle_dir: &std::path::Path, platform: Platform) -> Result<PathBuf, BundleError> {
    let names: &[&str] = match platform {
        Platform::Android => &["android"],
        Platform::Ios => &["iOS", "ios"],
    };
    names
        .iter()
        .map(|name| bundle_dir.join(name))
        .find(|dir| dir.is_dir())
        .ok_or_else(|| BundleError::NoOutput(bundle_dir.join(names[0])))
}

/// Progress of a push.
#[derive(Debug, Clone)]
pub enum PushEvent {
    /// Preflight finished: warnings never block; findings block unless forced.
    Preflight {
        warnings: Vec<String>,
        findings: Vec<String>,
    },
    Build {
        platform: Platform,
        event: BuildEvent,
    },
    Packaged {
        platform: Platform,
        package_hash: String,
        files: usize,
        bytes: u64,
        signed: bool,
    },
    Uploading {
        platform: Platform,
        sent: u64,
        total: u64,
    },
    Released {
        platform: Platform,
        app: String,
        package: Box<Package>,
    },
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Invalid(String),
    #[error("preflight found changes that are not safe over the air:\n{}", .0.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Blocked(Vec<String>),
    #[error(transparent)]
    Server(#[from] ClientError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// One release the push created.
#[derive(Debug, Clone)]
pub struct PushedRelease {
    pub platform: Platform,
    pub app: String,
    pub package: Package,
    pub signed: bool,
}

impl PushedRelease {
    /// The JSON the CLI prints for it.
    #[must_use]
    pub fn to_json(&self, deployment: &str) -> serde_json::Value {
        json!({
            "platform": self.platform,
            "app": self.app,
            "deployment": deployment,
            "label": self.package.label,
            "packageHash": self.package.package_hash,
            "size": self.package.size,
            "signed": self.signed,
        })
    }
}

/// Runs the whole push. Events go to `events` (dropped if nobody listens).
///
/// # Errors
/// [`PushError`]: invalid input, a preflight block, a server refusal, or a build/package failure.
pub async fn push(
    client: &ManagementClient,
    project: &Project,
    request: &PushRequest,
    events: &mpsc::Sender<PushEvent>,
    cancel: &CancellationToken,
) -> Result<Vec<PushedRelease>, PushError> {
    let target = TargetRange::parse(&request.target_version).map_err(|e| PushError::Invalid(e.to_string()))?;
    let build = request
        .build_number
        .as_deref()
        .filter(|b| !b.trim().is_empty())
        .map(str::parse::<BuildRange>)
        .transpose()
        .map_err(|e| PushError::Invalid(e.to_string()))?;
    let sign_key = request.sign_key.clone().or_else(|| project.signing_key());
    let signer = sign_key.as_deref().map(ReleaseSigner::from_pem_file).transpose()?;

    // Apps whose deployment is a Mendix channel get runtime-OTA zips instead of CodePush packages.
    let channels = if project.kind == ProjectKind::Mendix || request.bundle_dir.is_some() {
        client.mendix_channels().await?
    } else {
        Vec::new()
    };
    let on_channel = |app: &str| {
        channels.iter().any(|c| (c.android_app == app || c.ios_app == app) && c.deployment == request.deployment)
    };
    if request.bundle_dir.is_some()
        && let Some((_, app)) = request.targets.iter().find(|(_, app)| !on_channel(app))
    {
        return Err(PushError::Invalid(format!(
            "--bundle-dir is for Mendix channels, and {app}/{} is not on one (otadeck mendix channel set)",
            request.deployment
        )));
    }
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let model = match tokio::task::block_in_place(|| mendix_model::snapshot_of(project)) {
        Ok(model) => model,
        Err(error) => {
            warnings.push(format!("the Mendix model could not be read ({error}), so it was not compared"));
            None
        }
    };
    for (platform, app) in &request.targets {
        match client.app(app).await {
            Err(error) if error.status() == Some(404) && request.create_missing_apps => {
                client.create_app(app).await?;
            }
            other => {
                other?;
            }
        }
        let print = fingerprint::fingerprint(project, *platform)?;
        let binaries = client.binaries(app).await?;
        let release_model = match model {
            Some(_) => client.current_release_model(app, &request.deployment).await?,
            None => None,
        };
        let mendix = (project.kind == ProjectKind::Mendix).then(|| preflight::MendixInputs {
            model: model.as_ref(),
            current_release: release_model.as_ref().map(|r| (r.label.as_str(), &r.mendix_model)),
            checklist_confirmed: request.confirm_offline_checklist,
        });
        let report = preflight::check(*platform, &print, &target, build, &binaries, mendix);
        warnings.extend(report.warnings());
        if report.compared_nothing() {
            warnings.push(format!(
                "{app}: no store build registered for {}; run `otadeck binary register` after each store release so preflight can compare",
                target.as_str()
            ));
        }
        findings.extend(report.findings());
    }
    let _ = events.send(PushEvent::Preflight { warnings, findings: findings.clone() }).await;
    let forced = request.force_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if !findings.is_empty() && forced.is_none() {
        return Err(PushError::Blocked(findings));
    }
    let mut description = request.description.clone();
    if let (Some(reason), false) = (forced, findings.is_empty()) {
        let note = format!("[otadeck preflight overridden: {reason}; findings: {}]", findings.join("; "));
        description = if description.is_empty() { note } else { format!("{description}\n\n{note}") };
    }

    let work = tempfile::tempdir().map_err(BundleError::io(std::env::temp_dir()))?;
    let mut released = Vec::new();
    for (platform, app) in &request.targets {
        let platform = *platform;
        let built = match &request.bundle_dir {
            Some(bundle_dir) => mendix_bundle_folder(bundle_dir, platform)?,
            None => build_platform(project, platform, work.path(), events, cancel).await?,
        };
        let zip_path = work.path().join(format!("{}.zip", platform.as_str()));
        let signer_ref = signer.as_ref();
        let packaged = if on_channel(app) {
            tokio::task::block_in_place(|| package::package_mendix_ota(&built, platform, &zip_path))?
        } else {
            tokio::task::block_in_place(|| package::package(&built, &zip_path, signer_ref))?
        };
        let _ = events
            .send(PushEvent::Packaged {
                platform,
                package_hash: packaged.package_hash.clone(),
                files: packaged.file_count,
                bytes: packaged.content_bytes,
                signed: packaged.signed,
            })
            .await;
        let info = PackageInfo {
            app_version: Some(target.as_str().to_owned()),
            description: Some(description.clone()),
            is_mandatory: Some(request.mandatory),
            rollout: Some(json!(request.rollout)),
            build_number: request.build_number.clone().filter(|b| !b.trim().is_empty()),
            ..PackageInfo::default()
        };
        let progress_events = events.clone();
        let package = client
            .release_with_progress(
                app,
                &request.deployment,
                &PackageUpload { file: zip_path, info, mendix_model: model.clone() },
                move |sent, total| {
                    let _ = progress_events.try_send(PushEvent::Uploading { platform, sent, total });
                },
            )
            .await?;
        let _ =
            events.send(PushEvent::Released { platform, app: app.clone(), package: Box::new(package.clone()) }).await;
        released.push(PushedRelease { platform, app: app.clone(), package, signed: packaged.signed });
    }
    Ok(released)
}

/// Builds one platform with the project's real tool, forwarding its output as events; returns the
/// folder to package.
async fn build_platform(
    project: &Project,
    platform: Platform,
    work: &std::path::Path,
    events: &mpsc::Sender<PushEvent>,
    cancel: &CancellationToken,
) -> Result<PathBuf, BundleError> {
    let spec = BuildSpec::for_project(project, platform, &work.join(platform.as_str()))?;
    let (build_tx, mut build_rx) = mpsc::channel(256);
    let forward_events = events.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(event) = build_rx.recv().await {
            let _ = forward_events.send(PushEvent::Build { platform, event }).await;
        }
    });
    let built = crate::bundle::build::run(&spec, &build_tx, cancel).await;
    drop(build_tx);
    let _ = forwarder.await;
    built
}
