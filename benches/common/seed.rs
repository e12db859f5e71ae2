//! The benchmarks' release history: an app with 50 small releases on Staging, the last one at a
//! 50 % rollout, shared by the HTTP benchmarks so their numbers compare.

use std::io::Write as _;
use std::path::Path;

use otadeck::api::management::PackageInfo;
use otadeck::client::{ManagementClient, PackageUpload};

pub const ADMIN_KEY: &str = "bench-admin-key-0123456789";

/// A one-file CodePush zip whose bundle says `marker`.
pub fn zip_bytes(marker: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer.start_file("CodePush/index.android.bundle", zip::write::SimpleFileOptions::default()).expect("start");
    writer.write_all(format!("console.log({marker});").as_bytes()).expect("write");
    writer.finish().expect("finish").into_inner()
}

/// Releases the 50 packages to `Bench`/Staging on the server at `url`; returns Staging's key.
pub async fn seed(url: &str, dir: &Path) -> String {
    let admin = ManagementClient::new(url, ADMIN_KEY).expect("client");
    admin.create_app("Bench").await.expect("app");
    for i in 0..50 {
        let file = dir.join(format!("r{i}.zip"));
        std::fs::write(&file, zip_bytes(i)).expect("zip");
        let info = PackageInfo {
            app_version: Some(if i % 5 == 0 { "^1.0.0".into() } else { "1.0.0 - 1.9.x".into() }),
            is_mandatory: Some(i % 7 == 0),
            rollout: (i == 49).then(|| serde_json::json!(50)),
            ..PackageInfo::default()
        };
        admin.release("Bench", "Staging", &PackageUpload { file, info, mendix_model: None }).await.expect("release");
    }
    let deployments = admin.deployments("Bench").await.expect("deployments");
    deployments.into_iter().find(|d| d.name == "Staging").expect("staging").key
}
