//! Package + hash of a 50 MB `CodePush/` folder with 2,000 assets: otadeck vs code-push-cli@2.1.9's
//! own packaging (hash-utils + yazl) vs the sequential floor (`sha256sum` of every file, then
//! `zip -r -q`), in one run, warm page cache, best of 3 each.
//!
//! Run: `cargo bench --bench package` (needs `zip`; code-push-cli from `.ci/run` for its row).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn make_folder(root: &Path) -> (usize, u64) {
    let folder = root.join("CodePush");
    std::fs::create_dir_all(folder.join("assets")).expect("mkdir");
    // A 10 MB JS bundle (compressible text) …
    let line = "__d(function(g,r,i,a,m,e,d){var x=require(12);module.exports=function(){return x.render('field service');};},42,[12]);\n";
    let bundle: String = line.repeat(10 * 1024 * 1024 / line.len());
    std::fs::write(folder.join("index.android.bundle"), &bundle).expect("bundle");
    let mut total = bundle.len() as u64;
    // … and 1,999 assets of about 20 KB, half image-like (incompressible), half text-like.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..1999_u32 {
        let size = 15_000 + (i as usize * 7919) % 10_000;
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect()
        } else {
            format!("{{\"id\":{i},\"label\":\"asset {i}\"}}\n").repeat(size / 30).into_bytes()
        };
        total += bytes.len() as u64;
        let sub = folder.join("assets").join(format!("group{}", i % 40));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let extension = if i % 2 == 0 { "png" } else { "json" };
        std::fs::write(sub.join(format!("asset{i}.{extension}")), bytes).expect("asset");
    }
    (2000, total)
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let dir = tempfile::Builder::new().prefix("otadeck-bench-").tempdir().expect("temp dir");
    let (files, bytes) = make_folder(dir.path());
    let folder = dir.path().join("CodePush");
    #[allow(clippy::cast_precision_loss)]
    let megabytes = bytes as f64 / 1_048_576.0;
    println!(
        "folder: {files} files, {megabytes:.1} MB, {} cores",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );

    let zip_path = dir.path().join("otadeck.zip");
    let mut hash = String::new();
    let ours = best_of(3, || {
        let started = Instant::now();
        let packaged = otadeck::bundle::package::package(&folder, &zip_path, None).expect("package");
        hash = packaged.package_hash;
        started.elapsed()
    });
    let our_size = std::fs::metadata(&zip_path).map(|m| m.len()).unwrap_or(0);

    let floor = best_of(3, || {
        let _ = std::fs::remove_file(dir.path().join("floor.zip"));
        let started = Instant::now();
        let status = Command::new("sh")
            .arg("-c")
            .arg("find CodePush -type f -print0 | xargs -0 sha256sum > /dev/null && zip -r -q floor.zip CodePush")
            .current_dir(dir.path())
            .status()
            .expect("sh");
        assert!(status.success(), "floor command failed (is zip installed?)");
        started.elapsed()
    });
    let floor_size = std::fs::metadata(dir.path().join("floor.zip")).map(|m| m.len()).unwrap_or(0);

    let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node-clients");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/node/code_push_cli_package.js");
    let cli = clients.join("cli2/node_modules/code-push-cli").exists().then(|| {
        let mut best: Option<(f64, f64, String)> = None;
        for _ in 0..3 {
            let output = Command::new("node")
                .arg(&script)
                .arg(&clients)
                .arg(&folder)
                .current_dir(dir.path())
                .output()
                .expect("node");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
            let (hash_ms, zip_ms) = (result["hashMs"].as_f64().unwrap_or(0.0), result["zipMs"].as_f64().unwrap_or(0.0));
            if best.as_ref().is_none_or(|b| hash_ms + zip_ms < b.0 + b.1) {
                best = Some((hash_ms, zip_ms, result["hash"].as_str().unwrap_or_default().to_owned()));
            }
        }
        best.unwrap_or_default()
    });

    println!("\n| packager | time | zip size |");
    println!("|---|---:|---:|");
    println!(
        "| otadeck (hash + deflate in one read, all cores) | {:.2} s | {:.1} MB |",
        ours.as_secs_f64(),
        our_size as f64 / 1_048_576.0
    );
    println!(
        "| floor: sha256sum all files, then zip -r -q | {:.2} s | {:.1} MB |",
        floor.as_secs_f64(),
        floor_size as f64 / 1_048_576.0
    );
    match &cli {
        Some((hash_ms, zip_ms, cli_hash)) => {
            println!(
                "| code-push-cli@2.1.9 (hash-utils + yazl) | {:.2} s (hash {:.2} s + zip {:.2} s) | |",
                (hash_ms + zip_ms) / 1000.0,
                hash_ms / 1000.0,
                zip_ms / 1000.0
            );
            println!("\nsame package hash as code-push-cli: {}", if *cli_hash == hash { "yes" } else { "NO" });
        }
        None => println!("| code-push-cli@2.1.9 | not installed (run .ci/run) | |"),
    }
    println!("otadeck / floor: {:.2}", ours.as_secs_f64() / floor.as_secs_f64());
}
