//! The pinned npm tools the conformance and bundler tests run (`code-push-cli@2.1.9`,
//! `code-push@4.2.3`, metro), installed by the tests themselves into `target/node-clients` (or
//! `$OTADECK_NODE_CLIENTS`) on first use: once, under a file lock, and reused by later runs. So the
//! README's one test command needs nothing set up first but node and npm.
//!
//! Without node or npm, or when the registry cannot be reached, the tests that need a tool skip loudly;
//! under `CI=true` that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One tool: its folder under the root, what `npm install` takes, and the file that proves it is there.
struct Tool {
    folder: &'static str,
    packages: &'static [&'static str],
    marker: &'static str,
}

const TOOLS: &[Tool] = &[
    Tool { folder: "cli2", packages: &["code-push-cli@2.1.9"], marker: "node_modules/code-push-cli/script/cli.js" },
    Tool { folder: "cp", packages: &["code-push@4.2.3"], marker: "node_modules/code-push/script/acquisition-sdk.js" },
    // A real JS bundler for the end-to-end push test (metro runs without react-native).
    Tool {
        folder: "metro",
        packages: &["metro@0.83", "@react-native/babel-preset@0.81"],
        marker: "node_modules/metro/package.json",
    },
];

/// Serialises installs inside this test process (the file lock covers other processes).
static INSTALLING: Mutex<()> = Mutex::new(());

/// Where the tools live.
pub fn root() -> PathBuf {
    std::env::var_os("OTADECK_NODE_CLIENTS")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node-clients"), PathBuf::from)
}

/// The tools' root with every tool installed, or `None` (after a loud message) when they cannot be
/// had; under `CI=true` that panics instead.
pub fn installed(what: &str) -> Option<PathBuf> {
    crate::support::or_skip(what, install_all())
}

fn install_all() -> Result<PathBuf, String> {
    let root = root();
    if TOOLS.iter().all(|tool| root.join(tool.folder).join(tool.marker).exists()) && node_works() {
        return Ok(root);
    }
    if !node_works() {
        return Err("node is not installed (apt-get install nodejs npm)".into());
    }
    let _in_process = INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let lock = std::fs::File::create(root.join(".install.lock")).map_err(|e| format!("cannot create the lock: {e}"))?;
    lock.lock().map_err(|e| format!("cannot lock {}: {e}", root.display()))?;
    for tool in TOOLS {
        let folder = root.join(tool.folder);
        if folder.join(tool.marker).exists() {
            continue;
        }
        std::fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        eprintln!("installing {} into {} (once)", tool.packages.join(" "), folder.display());
        let output = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .args(tool.packages)
            .current_dir(&folder)
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !output.status.success() || !folder.join(tool.marker).exists() {
            return Err(format!(
                "npm install {} failed: {}",
                tool.packages.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(root)
}

fn node_works() -> bool {
    let works = |program: &str| Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success());
    works("node") && works("npm")
}
