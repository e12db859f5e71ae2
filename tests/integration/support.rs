//! Test harness: a real server on loopback, clients for it, and package fixtures.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use otadeck::api::management::PackageInfo;
use otadeck::client::{DeviceClient, ManagementClient, PackageUpload};
use otadeck::server::{ServerConfig, ServerState, serve};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";

/// A running server; shut down on drop.
pub struct TestServer {
    pub url: String,
    pub data_dir: TempDir,
    /// The server's state, for driving its scheduler with a simulated clock.
    pub state: ServerState,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(data_dir.path().to_path_buf());
        config.admin_key = Some(ADMIN_KEY.to_owned());
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let address = listener.local_addr().expect("local addr");
        let opened = ServerState::open(&config, address).await.expect("open server state");
        let (tx, rx) = oneshot::channel::<()>();
        let state = opened.state.clone();
        tokio::spawn(async move {
            serve(listener, opened.state, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self { url: format!("http://{address}"), data_dir, state, shutdown: Some(tx) }
    }

    pub fn admin(&self) -> ManagementClient {
        ManagementClient::new(&self.url, ADMIN_KEY).expect("client")
    }

    pub fn device(&self) -> DeviceClient {
        DeviceClient::new(&self.url).expect("device client")
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Writes `files` under `root/CodePush/` and returns the `CodePush` folder.
pub fn code_push_folder(root: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    let folder = root.join("CodePush");
    for (name, contents) in files {
        let path = folder.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write fixture");
    }
    folder
}

/// Zips a `CodePush` folder like the CLI: files only, paths relative to its parent.
pub fn zip_folder(folder: &Path, zip_path: &Path) {
    let parent = folder.parent().expect("parent");
    let mut files = Vec::new();
    collect_files(folder, &mut files);
    files.sort();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(zip_path).expect("create zip"));
    for file in files {
        let name = file.strip_prefix(parent).expect("relative").to_string_lossy().replace('\\', "/");
        writer.start_file(name, zip::write::SimpleFileOptions::default()).expect("start");
        writer.write_all(&std::fs::read(&file).expect("read")).expect("write");
    }
    writer.finish().expect("finish zip");
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A zipped package whose bundle says `marker`; returns the zip path (kept in `dir`).
pub fn package(dir: &Path, marker: &str) -> PathBuf {
    let root = dir.join(format!("src-{marker}"));
    let bundle = format!("console.log({marker:?});\n");
    let folder =
        code_push_folder(&root, &[("index.android.bundle", bundle.as_bytes()), ("assets/img.png", b"PNGDATA")]);
    let zip_path = dir.join(format!("{marker}.zip"));
    zip_folder(&folder, &zip_path);
    zip_path
}

/// `packageInfo` with a target range.
pub fn info(app_version: &str) -> PackageInfo {
    PackageInfo { app_version: Some(app_version.to_owned()), ..PackageInfo::default() }
}

pub fn upload(file: PathBuf, info: PackageInfo) -> PackageUpload {
    PackageUpload { file, info }
}

/// Creates an app and returns its Staging and Production keys.
pub async fn app_with_keys(client: &ManagementClient, name: &str) -> (String, String) {
    client.create_app(name).await.expect("create app");
    let deployments = client.deployments(name).await.expect("deployments");
    let key = |wanted: &str| deployments.iter().find(|d| d.name == wanted).expect("deployment").key.clone();
    (key("Staging"), key("Production"))
}
