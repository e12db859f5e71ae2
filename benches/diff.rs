//! Diff packages (issue 12): a 50 MB / 2,000-file release where the 5 MB JS bundle and 3 assets
//! changed. Measures the diff's size against those four files compressed (as they are in the full
//! package), how long the server takes to build the diff after the upload, and what devices
//! download with and without a diff. Then a real 10,000-device fleet on a smaller release of the same
//! shape (2 MB, 200 files) updates from a release it runs (diffs) and from its binary (full
//! packages), with the bytes each fleet downloaded.
//!
//! Run: `cargo bench --bench diff`.

#[path = "common/server.rs"]
mod server;

use std::path::Path;
use std::time::{Duration, Instant};

use otadeck::api::acquisition::UpdateCheckQuery;
use otadeck::api::management::{Package, PackageInfo};
use otadeck::client::{Behavior, DeviceClient, ManagementClient, PackageUpload};
use otadeck::sim::{FleetConfig, devices, run};

const ADMIN_KEY: &str = "diff-bench-admin-key-01";

/// xorshift bytes: incompressible, like images.
fn noise(state: &mut u64, length: usize) -> Vec<u8> {
    (0..length)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}

/// Minified-JS-like text of about `length` bytes: compresses, but not to nothing.
fn javascript(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut text = String::with_capacity(length + 200);
    let mut module = 0_u64;
    while text.len() < length {
        let word = noise(&mut state, 6).iter().map(|b| char::from(b'a' + b % 26)).collect::<String>();
        text.push_str(&format!(
            "__d(function(g,r,i,a,m,e,d){{var {word}=r(d[{}]);m.exports=function(p){{return {word}.render(p,'{word}{module}');}};}},{module},[{}]);\n",
            module % 97,
            module / 3
        ));
        module += 1;
    }
    text.into_bytes()
}

/// Writes a `CodePush/` folder: a `bundle_bytes` bundle and `assets` assets of `asset_bytes`, half
/// image-like, half JSON. `version` changes the bundle and assets 0, 1 and 2 (the "3 assets").
fn write_release(
    root: &Path,
    version: u64,
    bundle_bytes: usize,
    assets: usize,
    asset_bytes: usize,
) -> std::path::PathBuf {
    let folder = root.join(format!("v{version}")).join("CodePush");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("index.android.bundle"), javascript(version, bundle_bytes)).expect("bundle");
    for i in 0..assets {
        let changed = i < 3;
        let mut state = (i as u64 + 1) * 0x9e37_79b9 + if changed { version * 7919 } else { 0 };
        let sub = folder.join("assets").join(format!("group{}", i % 40));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let (name, bytes) = if i % 2 == 0 {
            (format!("asset{i}.png"), noise(&mut state, asset_bytes))
        } else {
            let text = format!("{{\"id\":{i},\"label\":\"asset {i} {state}\"}}\n").repeat(asset_bytes / 40);
            (format!("asset{i}.json"), text.into_bytes())
        };
        std::fs::write(sub.join(name), bytes).expect("asset");
    }
    folder
}

fn package(folder: &Path, zip: &Path) -> PackageUpload {
    otadeck::bundle::package::package(folder, zip, None).expect("package");
    let info = PackageInfo { app_version: Some("^1.0.0".into()), ..PackageInfo::default() };
    PackageUpload { file: zip.to_path_buf(), info, mendix_model: None }
}

/// The compressed size of `names` in a zip, entry data plus local headers (what a zip holding only
/// them would need at least).
fn compressed_size(zip: &Path, names: &[String]) -> u64 {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).expect("zip")).expect("read zip");
    names
        .iter()
        .map(|name| {
            let entry = archive.by_name(name).expect("entry");
            entry.compressed_size() + 30 + entry.name_raw().len() as u64
        })
        .sum()
}

fn query(key: &str, running_hash: &str) -> UpdateCheckQuery {
    UpdateCheckQuery {
        deployment_key: Some(key.to_owned()),
        app_version: Some("1.0.0".into()),
        label: Some("v1".into()),
        package_hash: Some(running_hash.to_owned()),
        client_unique_id: Some("bench".into()),
        ..UpdateCheckQuery::default()
    }
}

/// Waits until the update check of a device on `running_hash` links a diff; returns the time waited
/// and the linked size.
async fn diff_ready(device: &DeviceClient, key: &str, running_hash: &str, full: &Package) -> (Duration, u64) {
    let started = Instant::now();
    loop {
        let answer = device.check_for_update(&query(key, running_hash)).await.expect("check");
        if answer.download_url != full.blob_url {
            return (started.elapsed(), answer.package_size);
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no diff after 5 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn key_of(admin: &ManagementClient, app: &str, runtime: &tokio::runtime::Runtime) -> String {
    runtime.block_on(async {
        let deployments = admin.deployments(app).await.expect("deployments");
        deployments.into_iter().find(|d| d.name == "Staging").expect("staging").key
    })
}

fn megabytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / 1_000_000.0;
    format!("{value:.2} MB")
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = runtime.block_on(server::start(dir.path().join("data"), ADMIN_KEY));
    let admin = ManagementClient::new(&url, ADMIN_KEY).expect("client");
    let device = DeviceClient::new(&url).expect("device client");

    // 1. The 50 MB release: 5 MB bundle + 1,999 assets of 22.5 KB.
    let old = write_release(dir.path(), 1, 5_000_000, 1_999, 22_500);
    let new = write_release(dir.path(), 2, 5_000_000, 1_999, 22_500);
    let (old_zip, new_zip) = (dir.path().join("big-v1.zip"), dir.path().join("big-v2.zip"));
    let (old_upload, new_upload) = (package(&old, &old_zip), package(&new, &new_zip));
    runtime.block_on(admin.create_app("Big")).expect("app");
    let key = key_of(&admin, "Big", &runtime);
    let v1 = runtime.block_on(admin.release("Big", "Staging", &old_upload)).expect("v1");
    let v2 = runtime.block_on(admin.release("Big", "Staging", &new_upload)).expect("v2");
    let (build_time, diff_size) = runtime.block_on(diff_ready(&device, &key, &v1.package_hash, &v2));
    let changed: Vec<String> =
        ["index.android.bundle", "assets/group0/asset0.png", "assets/group1/asset1.json", "assets/group2/asset2.png"]
            .iter()
            .map(|name| format!("CodePush/{name}"))
            .collect();
    let floor = compressed_size(&new_zip, &changed);
    let content: u64 = walk_size(&new);
    println!("| 50 MB release | value |");
    println!("|---|---:|");
    println!("| files / bytes before compression | 2000 / {} |", megabytes(content));
    println!("| full package (zip) | {} |", megabytes(v2.size));
    println!("| the 4 changed files compressed, with their zip headers | {} |", megabytes(floor));
    println!("| diff package | {} |", megabytes(diff_size));
    #[allow(clippy::cast_precision_loss)]
    let over = (diff_size as f64 / floor as f64 - 1.0) * 100.0;
    println!("| diff over the changed files compressed | {over:+.3} % |");
    println!("| diff ready after the upload answered | {:.2} s |", build_time.as_secs_f64());
    println!("| 10,000 devices, without diffs (10,000 x full package) | {} |", megabytes(v2.size * 10_000));
    println!("| 10,000 devices, with diffs (10,000 x diff) | {} |", megabytes(diff_size * 10_000));

    // 2. A real 10,000-device fleet on a 2 MB release of the same shape.
    let small_old = write_release(&dir.path().join("small"), 1, 500_000, 199, 7_500);
    let small_new = write_release(&dir.path().join("small"), 2, 500_000, 199, 7_500);
    let (small_old_zip, small_new_zip) = (dir.path().join("small-v1.zip"), dir.path().join("small-v2.zip"));
    runtime.block_on(admin.create_app("Fleet")).expect("app");
    let fleet_key = key_of(&admin, "Fleet", &runtime);
    let s1 = runtime.block_on(admin.release("Fleet", "Staging", &package(&small_old, &small_old_zip))).expect("v1");
    let config = |prefix: &str| FleetConfig {
        server: url.clone(),
        deployment_key: fleet_key.clone(),
        devices: 10_000,
        app_versions: vec!["1.0.0".into()],
        build_numbers: Vec::new(),
        behavior: Behavior { accept_optional: 1.0, ..Behavior::default() },
        restarts: 2,
        concurrency: 64,
        id_prefix: prefix.to_owned(),
        public_key_pem: None,
        transport: otadeck::client::Transport::default(),
        spread_networks: false,
    };
    // The fleet that will get diffs first installs v1 (two launches: download, install).
    let on_v1 = config("on-v1");
    let (_, fleet) = runtime.block_on(run(&on_v1, devices(&on_v1), |_, _| {})).expect("fleet to v1");
    let s2 = runtime.block_on(admin.release("Fleet", "Staging", &package(&small_new, &small_new_zip))).expect("v2");
    runtime.block_on(diff_ready(&device, &fleet_key, &s1.package_hash, &s2));
    let started = Instant::now();
    let (with_diffs, _) = runtime.block_on(run(&on_v1, fleet, |_, _| {})).expect("fleet v1 -> v2");
    let with_time = started.elapsed();
    let on_binary = config("on-binary");
    let started = Instant::now();
    let (without, _) = runtime.block_on(run(&on_binary, devices(&on_binary), |_, _| {})).expect("fleet binary -> v2");
    let without_time = started.elapsed();
    println!("\n| 10,000 devices, 2 MB / 200-file release | devices on v2 | diffs applied | bytes downloaded | time |");
    println!("|---|---:|---:|---:|---:|");
    for (name, summary, time) in
        [("from v1 (diffs)", &with_diffs, with_time), ("from the binary (full packages)", &without, without_time)]
    {
        println!(
            "| {name} | {} | {} | {} | {:.1} s |",
            summary.labels.get("v2").map_or(0, |l| l.active),
            summary.diffs_applied,
            megabytes(summary.downloaded_bytes),
            time.as_secs_f64()
        );
    }
    println!("(full package {}, diff {})", megabytes(s2.size), megabytes(with_diffs.downloaded_bytes / 10_000));
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let path = entry.expect("entry").path();
            if path.is_dir() { walk_size(&path) } else { std::fs::metadata(&path).map_or(0, |m| m.len()) }
        })
        .sum()
}
