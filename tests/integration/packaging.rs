//! The Debian package as shipped: built with cargo-deb (installed into `target/tools` on first use)
//! from the binary these tests run, unpacked into a temporary root with `dpkg-deb -x`, and checked:
//! the unit's `ExecStart` binary is where it points, the unit is hardened and verifies, the shipped
//! settings file starts a server, and the desktop entry and AppStream metadata validate.
//!
//! Without cargo-deb, dpkg-deb or the validators the checks skip loudly; under `CI=true` that fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CARGO_DEB_VERSION: &str = "3.8.0";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails under CI, skips loudly elsewhere.
fn missing(what: &str) {
    let _: Option<()> = crate::support::or_skip("PACKAGING CHECK", Err(what.to_owned()));
}

fn tool_exists(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// `target/tools/bin/cargo-deb`, installed once (under a file lock) with the cargo running the tests.
fn cargo_deb() -> Option<PathBuf> {
    let root = manifest_dir().join("target/tools");
    let binary = root.join("bin/cargo-deb");
    let installed = || {
        Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_DEB_VERSION))
    };
    if installed() {
        return Some(binary);
    }
    std::fs::create_dir_all(&root).expect("target/tools");
    let lock = std::fs::File::create(root.join(".install.lock")).expect("lock file");
    lock.lock().expect("lock target/tools");
    if !installed() {
        eprintln!("installing cargo-deb {CARGO_DEB_VERSION} into {} (once)", root.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["install", "cargo-deb", "--version", CARGO_DEB_VERSION, "--locked", "--root"])
            .arg(&root)
            .status();
        if !status.is_ok_and(|s| s.success()) || !installed() {
            missing("cargo install cargo-deb failed");
            return None;
        }
    }
    Some(binary)
}

/// Builds the package from the already built test binary (`--profile dev --no-build`).
fn build_deb(cargo_deb: &Path, out: &Path) -> PathBuf {
    let deb = out.join("otadeck.deb");
    let output = Command::new(cargo_deb)
        .args(["deb", "--profile", "dev", "--no-build", "--no-strip", "--fast", "--output"])
        .arg(&deb)
        .current_dir(manifest_dir())
        .output()
        .expect("run cargo-deb");
    assert!(
        output.status.success(),
        "cargo deb failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    deb
}

fn unit_value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('=')).map(str::trim)
}

/// The uncommented `KEY=value` lines of an environment file.
fn environment(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn inside(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

#[test]
fn the_debian_package_installs_a_hardened_service_that_runs_as_shipped() {
    if !tool_exists("dpkg-deb") {
        missing("dpkg-deb is not installed");
        return;
    }
    let Some(cargo_deb) = cargo_deb() else { return };
    let work = tempfile::tempdir().expect("work");
    let deb = build_deb(&cargo_deb, work.path());
    let root = work.path().join("root");
    let status = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root).status().expect("dpkg-deb -x");
    assert!(status.success());
    let control = Command::new("dpkg-deb").arg("-I").arg(&deb).output().expect("dpkg-deb -I");
    let control = String::from_utf8_lossy(&control.stdout).into_owned();
    assert!(control.contains("adduser"), "depends on adduser for its system user:\n{control}");
    let conffiles = Command::new("dpkg-deb").arg("-I").arg(&deb).arg("conffiles").output().expect("conffiles");
    assert!(String::from_utf8_lossy(&conffiles.stdout).contains("/etc/otadeck/otadeck.env"), "settings are a conffile");
    let postinst = Command::new("dpkg-deb").arg("-I").arg(&deb).arg("postinst").output().expect("postinst");
    assert!(String::from_utf8_lossy(&postinst.stdout).contains("adduser --system"), "postinst creates the user");

    // The unit: where its binary is, who it runs as, how it is confined.
    let unit_path = root.join("usr/lib/systemd/system/otadeck-server.service");
    let unit = std::fs::read_to_string(&unit_path).expect("unit in the package");
    let exec_start = unit_value(&unit, "ExecStart").expect("ExecStart");
    let binary = inside(&root, exec_start.split_whitespace().next().expect("program"));
    assert!(binary.is_file(), "ExecStart points at {}, which the package installs", binary.display());
    let version = Command::new(&binary).arg("--version").output().expect("run the packaged binary");
    assert!(version.status.success() && String::from_utf8_lossy(&version.stdout).contains("otadeck"));
    for (key, value) in [
        ("User", "otadeck"),
        ("StateDirectory", "otadeck"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ] {
        assert_eq!(unit_value(&unit, key), Some(value), "{key}= in the unit");
    }
    let files: u64 = unit_value(&unit, "LimitNOFILE").expect("LimitNOFILE").parse().expect("number");
    assert!(files >= 65_536, "room for many device connections");
    assert!(exec_start.contains("/var/lib/otadeck"), "data in the state directory");
    let env_file = unit_value(&unit, "EnvironmentFile").expect("EnvironmentFile");
    let settings = std::fs::read_to_string(inside(&root, env_file)).expect("the settings file is shipped");

    if tool_exists("systemd-analyze") {
        // The root holds only this package: commands of the base system the unit uses (`/bin/kill`
        // for ExecReload) are copied in from the host, as an installed system would have them.
        for key in ["ExecReload", "ExecStop"] {
            let Some(program) = unit_value(&unit, key).and_then(|v| v.split_whitespace().next()) else { continue };
            let target = inside(&root, program);
            if !target.exists() && Path::new(program).exists() {
                std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                std::fs::copy(program, &target).expect("copy base command");
            }
        }
        let verify = Command::new("systemd-analyze")
            .args(["verify", "--man=no", "--recursive-errors=no"])
            .arg(format!("--root={}", root.display()))
            .arg(&unit_path)
            .output()
            .expect("systemd-analyze");
        assert!(verify.status.success(), "systemd-analyze verify:\n{}", String::from_utf8_lossy(&verify.stderr));
    } else {
        missing("systemd-analyze is not installed (apt-get install systemd): unit not verified");
    }

    // The shipped settings start the packaged server (on a free port instead of 3000).
    let data = work.path().join("state");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut server = Command::new(&binary)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .env_clear()
        .envs(environment(&settings))
        .env("OTADECK_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the packaged server");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut healthy = false;
    while Instant::now() < deadline && !healthy {
        healthy = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
            use std::io::{Read as _, Write as _};
            let _ = stream.write_all(b"GET /ready HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer.starts_with("HTTP/1.1 200")
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(healthy, "the packaged server with the shipped settings is ready");

    // Desktop entry and AppStream metadata.
    let desktop = root.join("usr/share/applications/otadeck.desktop");
    let metainfo = root.join("usr/share/metainfo/dev.otadeck.otadeck.metainfo.xml");
    assert!(root.join("usr/share/icons/hicolor/256x256/apps/otadeck.png").is_file());
    if tool_exists("desktop-file-validate") {
        let check = Command::new("desktop-file-validate").arg(&desktop).output().expect("desktop-file-validate");
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    } else {
        missing("desktop-file-validate is not installed (apt-get install desktop-file-utils)");
    }
    if tool_exists("appstreamcli") {
        let check =
            Command::new("appstreamcli").args(["validate", "--no-net"]).arg(&metainfo).output().expect("appstreamcli");
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    } else {
        missing("appstreamcli is not installed (apt-get install appstream)");
    }
}
