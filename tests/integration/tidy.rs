//! Architecture rules checked on the source tree: module docs and the direction of dependencies.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let relative = p.strip_prefix(root).expect("relative").to_string_lossy().replace('\\', "/");
            (relative, std::fs::read_to_string(&p).expect("read"))
        })
        .collect()
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    for (path, text) in sources() {
        assert!(text.trim_start().starts_with("//!"), "{path} has no //! module doc");
    }
}

/// Whether `text` mentions `needle` as a whole path (`crate::cli` does not match `crate::client`).
fn uses(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let next = text[at + needle.len()..].chars().next();
        let word_needle = needle.chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word_needle || !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn the_uses_check_respects_identifier_boundaries() {
    assert!(uses("use crate::cli::Foo;", "crate::cli"));
    assert!(!uses("use crate::client::Foo;", "crate::cli"));
    assert!(uses("x.await;", ".await"));
}

#[test]
fn dependencies_point_downward() {
    let forbidden: &[(&str, &[&str])] = &[
        (
            "src/domain/",
            &[
                "crate::api",
                "crate::server",
                "crate::client",
                "crate::cli",
                "tokio",
                "reqwest",
                "axum",
                "rusqlite",
                "std::fs",
                "std::net",
            ],
        ),
        ("src/api/", &["crate::server", "crate::client", "crate::cli"]),
        ("src/server/", &["crate::client", "crate::gui", "crate::bundle", "crate::cli"]),
        ("src/bundle/", &["crate::client", "crate::server", "crate::cli", "reqwest", "std::net"]),
        ("src/client/", &["crate::server", "crate::gui"]),
        ("src/gui/", &["crate::server", "block_on"]),
        // Views read a context and send commands: they never name the app, the runtime or the tasks.
        ("src/gui/views/", &["OtadeckApp", "tokio", "Tasks", "spawn", ".await", "std::fs", "rfd::"]),
        // The state is pure: no egui, no runtime, no network.
        ("src/gui/state.rs", &["egui::", "tokio", "Tasks", ".await", "reqwest"]),
        ("src/push.rs", &["crate::server", "crate::gui", "crate::cli"]),
    ];
    for (path, text) in sources() {
        for (prefix, banned) in forbidden {
            if path.starts_with(prefix) {
                for needle in *banned {
                    assert!(!uses(&text, needle), "{path} must not use {needle}");
                }
            }
        }
    }
}

#[test]
fn egui_is_only_imported_by_the_gui_module() {
    for (path, text) in sources() {
        if !path.starts_with("src/gui/") {
            assert!(!text.contains("egui::") && !text.contains("eframe::"), "{path} imports egui/eframe");
        }
    }
}

#[test]
fn only_command_handling_starts_background_work_in_the_gui() {
    for (path, text) in sources() {
        if path.starts_with("src/gui/") && path != "src/gui/command_handling.rs" && path != "src/gui/tasks.rs" {
            assert!(!text.contains("tasks.spawn") && !text.contains("tokio::spawn"), "{path} starts background work");
        }
    }
}
