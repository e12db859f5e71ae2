//! Running a project's real build tool as a child process.
//!
//! The child gets its own process group, so cancelling or timing out kills everything it started
//! (npx, node, gradle …). Output is streamed line by line as [`BuildEvent`]s for the GUI and the CLI.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::project::{Project, ProjectKind};
use super::{BundleError, Platform};

/// Default build timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What a running build reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    Started { command: String },
    Output { stream: OutputStream, line: String },
    Finished { success: bool },
}

/// A fully resolved build: what to run, where, and where the `CodePush/` folder ends up.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub program: String,
    pub args: Vec<String>,
    pub working_dir: PathBuf,
    pub env: Vec<(String, String)>,
    /// The folder whose contents become the package (named `CodePush`).
    pub code_push_dir: PathBuf,
    /// For tools that write elsewhere (MxBuild): copy this folder into `code_push_dir` afterwards.
    pub collect_from: Option<PathBuf>,
    pub bundle_file_name: &'static str,
    pub timeout: Duration,
    /// How to fix a missing tool.
    pub hint: String,
}

impl BuildSpec {
    /// The build of `project` for `platform`, writing to `<output_dir>/CodePush`.
    ///
    /// # Errors
    /// [`BundleError::ToolMissing`] when a Mendix project has no MxBuild configured.
    pub fn for_project(project: &Project, platform: Platform, output_dir: &Path) -> Result<Self, BundleError> {
        let code_push_dir = output_dir.join("CodePush");
        let bundle_output = code_push_dir.join(platform.bundle_file_name());
        let entry = project.entry_file();
        let timeout = project.config.build.timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let mut env: Vec<(String, String)> = project.config.build.env.clone().into_iter().collect();
        env.extend([
            ("OTADECK_PLATFORM".to_owned(), platform.as_str().to_owned()),
            ("OTADECK_CODEPUSH_DIR".to_owned(), code_push_dir.to_string_lossy().into_owned()),
            ("OTADECK_BUNDLE_OUTPUT".to_owned(), bundle_output.to_string_lossy().into_owned()),
            ("OTADECK_ENTRY_FILE".to_owned(), entry.clone()),
        ]);
        let base = Self {
            program: String::new(),
            args: Vec::new(),
            working_dir: project.root.clone(),
            env,
            code_push_dir: code_push_dir.clone(),
            collect_from: None,
            bundle_file_name: platform.bundle_file_name(),
            timeout,
            hint: String::new(),
        };
        if let Some(command) = &project.config.build.command {
            return Ok(Self {
                program: "sh".into(),
                args: vec!["-c".into(), command.clone()],
                hint: "Check [build] command in otadeck.toml.".into(),
                ..base
            });
        }
        let bundler_args = |tool: &[&str]| -> Vec<String> {
            let mut args: Vec<String> = tool.iter().map(|s| (*s).to_owned()).collect();
            args.extend([
                "--platform".into(),
                platform.as_str().into(),
                "--dev".into(),
                "false".into(),
                "--entry-file".into(),
                entry.clone(),
                "--bundle-output".into(),
                bundle_output.to_string_lossy().into_owned(),
                "--assets-dest".into(),
                code_push_dir.to_string_lossy().into_owned(),
            ]);
            args
        };
        Ok(match project.kind {
            ProjectKind::ReactNative => Self {
                program: "npx".into(),
                args: bundler_args(&["--no", "react-native", "bundle"]),
                hint: "Install Node.js and run `npm install` in the project, or set [build] command in otadeck.toml."
                    .into(),
                ..base
            },
            ProjectKind::Expo => Self {
                program: "npx".into(),
                args: bundler_args(&["--no", "expo", "export:embed"]),
                hint: "Install Node.js and run `npm install` in the project, or set [build] command in otadeck.toml."
                    .into(),
                ..base
            },
            ProjectKind::Mendix => {
                let mxbuild = project.config.mendix.mxbuild.clone().ok_or_else(|| BundleError::ToolMissing {
                    tool: "MxBuild".into(),
                    detail: "no path configured".into(),
                    hint: "Set [mendix] mxbuild = \"/path/to/mxbuild\" (the one matching your Studio Pro version) in otadeck.toml.".into(),
                })?;
                let mut args = vec![
                    "--target=deploy".to_owned(),
                    "--native-packager".to_owned(),
                    "--loose-version-check".to_owned(),
                ];
                if let Some(java) = &project.config.mendix.java_home {
                    args.push(format!("--java-home={}", java.display()));
                }
                args.push(project.mpr.as_ref().map_or_else(String::new, |p| p.to_string_lossy().into_owned()));
                let native_bundle = project.root.join("deployment/native/bundle").join(platform.as_str());
                Self {
                    program: mxbuild.to_string_lossy().into_owned(),
                    args,
                    collect_from: Some(native_bundle),
                    hint: "Check [mendix] mxbuild in otadeck.toml.".into(),
                    ..base
                }
            }
            ProjectKind::Custom => {
                return Err(BundleError::Config {
                    path: project.root.join(super::project::CONFIG_FILE),
                    message: "a project without React Native, Expo or Mendix needs [build] command".into(),
                });
            }
        })
    }

    /// The command line as shown to the user.
    #[must_use]
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

/// Runs a build to completion, streaming its output to `events`.
///
/// # Errors
/// A missing tool, a non-zero exit, cancellation, the timeout, or no bundle in the output.
pub async fn run(
    spec: &BuildSpec,
    events: &mpsc::Sender<BuildEvent>,
    cancel: &CancellationToken,
) -> Result<PathBuf, BundleError> {
    if spec.code_push_dir.exists() {
        std::fs::remove_dir_all(&spec.code_push_dir).map_err(BundleError::io(&spec.code_push_dir))?;
    }
    std::fs::create_dir_all(&spec.code_push_dir).map_err(BundleError::io(&spec.code_push_dir))?;
    let _ = events.send(BuildEvent::Started { command: spec.display() }).await;

    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.working_dir)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn().map_err(|e| BundleError::ToolMissing {
        tool: spec.program.clone(),
        detail: e.to_string(),
        hint: spec.hint.clone(),
    })?;
    let pid = child.id();
    let readers = [
        child.stdout.take().map(|s| forward_lines(s, OutputStream::Stdout, events.clone())),
        child.stderr.take().map(|s| forward_lines(s, OutputStream::Stderr, events.clone())),
    ];

    let outcome = tokio::select! {
        status = child.wait() => status.map_err(BundleError::io(&spec.working_dir)),
        () = cancel.cancelled() => Err(BundleError::Cancelled),
        () = tokio::time::sleep(spec.timeout) => Err(BundleError::TimedOut(spec.timeout)),
    };
    if outcome.is_err() {
        kill_group(pid);
        let _ = child.wait().await;
    }
    for reader in readers.into_iter().flatten() {
        let _ = reader.await;
    }
    let status = outcome?;
    let _ = events.send(BuildEvent::Finished { success: status.success() }).await;
    if !status.success() {
        return Err(BundleError::BuildFailed { status: status.to_string() });
    }
    if let Some(source) = &spec.collect_from {
        copy_dir(source, &spec.code_push_dir)?;
    }
    let bundle = spec.code_push_dir.join(spec.bundle_file_name);
    if !bundle.is_file() {
        return Err(BundleError::NoOutput(bundle));
    }
    Ok(spec.code_push_dir.clone())
}

fn forward_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    which: OutputStream,
    events: mpsc::Sender<BuildEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if events.send(BuildEvent::Output { stream: which, line }).await.is_err() {
                break;
            }
        }
    })
}

/// Kills the build's whole process group.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

fn copy_dir(source: &Path, target: &Path) -> Result<(), BundleError> {
    if !source.is_dir() {
        return Err(BundleError::NoOutput(source.to_path_buf()));
    }
    for entry in std::fs::read_dir(source).map_err(BundleError::io(source))? {
        let path = entry.map_err(BundleError::io(source))?.path();
        let destination = target.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            std::fs::create_dir_all(&destination).map_err(BundleError::io(&destination))?;
            copy_dir(&path, &destination)?;
        } else {
            std::fs::copy(&path, &destination).map_err(BundleError::io(&destination))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::project::ProjectConfig;

    fn custom(command: &str, root: &Path) -> Project {
        let mut config = ProjectConfig::default();
        config.build.command = Some(command.to_owned());
        config.build.timeout_seconds = Some(5);
        Project { root: root.to_path_buf(), kind: ProjectKind::Custom, name: "t".into(), config, mpr: None }
    }

    async fn run_collecting(
        spec: &BuildSpec,
        cancel: &CancellationToken,
    ) -> (Result<PathBuf, BundleError>, Vec<BuildEvent>) {
        let (tx, mut rx) = mpsc::channel(64);
        let result = run(spec, &tx, cancel).await;
        drop(tx);
        let mut events = Vec::new();
        while let Some(event) = rx.recv().await {
            events.push(event);
        }
        (result, events)
    }

    #[tokio::test]
    async fn streams_lines_and_finds_the_bundle() {
        let dir = tempfile::tempdir().expect("dir");
        let project = custom("echo building; echo oops >&2; echo 'x' > \"$OTADECK_BUNDLE_OUTPUT\"", dir.path());
        let spec = BuildSpec::for_project(&project, Platform::Android, &dir.path().join("out")).expect("spec");
        let (result, events) = run_collecting(&spec, &CancellationToken::new()).await;
        let folder = result.expect("build succeeds");
        assert!(folder.join("index.android.bundle").is_file());
        assert!(events.contains(&BuildEvent::Output { stream: OutputStream::Stdout, line: "building".into() }));
        assert!(events.contains(&BuildEvent::Output { stream: OutputStream::Stderr, line: "oops".into() }));
        assert_eq!(events.last(), Some(&BuildEvent::Finished { success: true }));
    }

    #[tokio::test]
    async fn failures_and_missing_output_are_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let failing =
            BuildSpec::for_project(&custom("exit 3", dir.path()), Platform::Ios, &dir.path().join("a")).expect("spec");
        let (result, _) = run_collecting(&failing, &CancellationToken::new()).await;
        assert!(matches!(result, Err(BundleError::BuildFailed { .. })), "{result:?}");
        let silent =
            BuildSpec::for_project(&custom("true", dir.path()), Platform::Ios, &dir.path().join("b")).expect("spec");
        let (result, _) = run_collecting(&silent, &CancellationToken::new()).await;
        assert!(matches!(result, Err(BundleError::NoOutput(ref p)) if p.ends_with("main.jsbundle")), "{result:?}");
    }

    #[tokio::test]
    async fn cancellation_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("dir");
        let marker = dir.path().join("grandchild-survived");
        let command = format!("(sleep 2; touch '{}') & sleep 30", marker.display());
        let spec = BuildSpec::for_project(&custom(&command, dir.path()), Platform::Android, &dir.path().join("o"))
            .expect("spec");
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let (result, _) = run_collecting(&spec, &cancel).await;
        assert!(matches!(result, Err(BundleError::Cancelled)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "cancel is prompt");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "the background grandchild was killed with the group");
    }

    #[tokio::test]
    async fn timeout_stops_the_build() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spec =
            BuildSpec::for_project(&custom("sleep 30", dir.path()), Platform::Android, &dir.path().join("o"))
                .expect("spec");
        spec.timeout = Duration::from_millis(300);
        let (result, _) = run_collecting(&spec, &CancellationToken::new()).await;
        assert!(matches!(result, Err(BundleError::TimedOut(_))), "{result:?}");
    }

    #[test]
    fn react_native_and_expo_use_their_bundlers_with_codepush_outputs() {
        let dir = tempfile::tempdir().expect("dir");
        let project = |kind| Project {
            root: dir.path().to_path_buf(),
            kind,
            name: "app".into(),
            config: ProjectConfig::default(),
            mpr: None,
        };
        let out = dir.path().join("out");
        let rn = BuildSpec::for_project(&project(ProjectKind::ReactNative), Platform::Ios, &out).expect("rn");
        let code_push = out.join("CodePush");
        let expected_tail = format!(
            "--platform ios --dev false --entry-file index.js --bundle-output {} --assets-dest {}",
            code_push.join("main.jsbundle").display(),
            code_push.display()
        );
        assert_eq!(rn.display(), format!("npx --no react-native bundle {expected_tail}"));
        let expo = BuildSpec::for_project(&project(ProjectKind::Expo), Platform::Ios, &out).expect("expo");
        assert_eq!(expo.display(), format!("npx --no expo export:embed {expected_tail}"));
        assert_eq!(rn.code_push_dir, code_push);
    }

    #[tokio::test]
    async fn missing_tools_name_the_tool_and_the_fix() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spec = BuildSpec::for_project(&custom("true", dir.path()), Platform::Android, &dir.path().join("o"))
            .expect("spec");
        spec.program = "definitely-not-installed-bundler".into();
        spec.hint = "Install it.".into();
        let (result, _) = run_collecting(&spec, &CancellationToken::new()).await;
        let message = result.expect_err("missing").to_string();
        assert!(message.contains("definitely-not-installed-bundler") && message.contains("Install it."), "{message}");

        let mendix = Project {
            root: dir.path().to_path_buf(),
            kind: ProjectKind::Mendix,
            name: "m".into(),
            config: ProjectConfig::default(),
            mpr: Some(dir.path().join("m.mpr")),
        };
        let message =
            BuildSpec::for_project(&mendix, Platform::Android, dir.path()).expect_err("no mxbuild").to_string();
        assert!(message.contains("MxBuild") && message.contains("[mendix] mxbuild"), "{message}");
    }
}
