//! Frame time of the desktop app's main window with 20 apps × 250 releases (headless egui_kittest
//! harness, so layout and tessellation only, no GPU), and start-up to first frame with the
//! embedded server.
//!
//! Run: `cargo bench --bench gui_frame`.

use std::io::Write as _;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use otadeck::api::management::PackageInfo;
use otadeck::client::{ManagementClient, PackageUpload};
use otadeck::gui::{Connection, OtadeckApp};

const APPS: usize = 20;
const RELEASES: usize = 250;

fn zip_bytes(marker: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer.start_file("CodePush/index.android.bundle", zip::write::SimpleFileOptions::default()).expect("start");
    writer.write_all(marker.as_bytes()).expect("write");
    writer.finish().expect("finish").into_inner()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");

    // Start-up: embedded server + app + first frame, in this process.
    let started = Instant::now();
    let embedded =
        runtime.block_on(otadeck::server::start_embedded(dir.path().join("data"), 0)).expect("embedded server");
    let connection = Connection::new("bench", &embedded.url, &embedded.admin_key).expect("connection");
    let handle = runtime.handle().clone();
    let mut first = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection));
    first.step();
    let startup = started.elapsed();
    drop(first);

    let client = ManagementClient::new(&embedded.url, &embedded.admin_key).expect("client");
    let seeding = Instant::now();
    runtime.block_on(async {
        for a in 0..APPS {
            let app = format!("App{a:02}-Android");
            client.create_app(&app).await.expect("app");
            for r in 0..RELEASES {
                let file = dir.path().join("r.zip");
                std::fs::write(&file, zip_bytes(&format!("{app} {r}"))).expect("zip");
                let info = PackageInfo {
                    app_version: Some(format!("1.{}.0", r / 50)),
                    build_number: (r % 3 == 0).then(|| format!("{}", 100 + r / 50)),
                    description: Some(format!("release {r} of {app}")),
                    ..PackageInfo::default()
                };
                client
                    .release(&app, "Staging", &PackageUpload { file, info, mendix_model: None })
                    .await
                    .expect("release");
            }
        }
    });
    let seeded_in = seeding.elapsed();

    let connection = Connection::new("bench", &embedded.url, &embedded.admin_key).expect("connection");
    let handle = runtime.handle().clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .build_eframe(move |cc| OtadeckApp::new(cc, handle, connection));
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness.query_all_by_label(&format!("v{RELEASES}")).next().is_none() {
        assert!(Instant::now() < deadline, "releases did not load");
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut frames = Vec::new();
    for _ in 0..400 {
        let frame = Instant::now();
        harness.step();
        frames.push(frame.elapsed());
    }
    frames.sort();
    println!("seeded {APPS} apps x {RELEASES} releases in {:.1} s", seeded_in.as_secs_f64());
    println!("| measurement | value |");
    println!("|---|---:|");
    println!(
        "| frame time, median (400 frames, 250 releases shown) | {:.2} ms |",
        percentile(&frames, 0.5).as_secs_f64() * 1000.0
    );
    println!("| frame time, p99 | {:.2} ms |", percentile(&frames, 0.99).as_secs_f64() * 1000.0);
    println!(
        "| start-up to first frame (embedded server + app, headless) | {:.0} ms |",
        startup.as_secs_f64() * 1000.0
    );
}
