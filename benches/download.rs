//! Package-download throughput over HTTP on loopback, measured with `wrk`, next to nginx serving the
//! same blob files from disk (`sendfile on`) in the same run, for an 11 KB and a 5 MB package.
//!
//! Run: `cargo bench --bench download` (needs `wrk` and `nginx` from apt). Prints a table for
//! BENCHMARKS.md. The servers and wrk share the machine's cores.

#[path = "common/server.rs"]
mod server;
#[path = "common/wrk.rs"]
mod wrk;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otadeck::api::management::PackageInfo;
use otadeck::client::{ManagementClient, PackageUpload};

const ADMIN_KEY: &str = "bench-admin-key-0123456789";

struct WrkResult {
    requests_per_second: f64,
    transfer: String,
    p99: String,
    non_2xx: u64,
}

fn run_wrk(url: &str) -> WrkResult {
    let report = wrk::run(&["-t2", "-c32", "-d", "10s", "--latency", url]);
    let field = |prefix: &str| report.field(prefix);
    WrkResult {
        requests_per_second: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        transfer: field("Transfer/sec:"),
        p99: field("99%"),
        non_2xx: field("Non-2xx or 3xx responses:").parse().unwrap_or(0),
    }
}

/// Incompressible bytes (a zip of assets mostly is).
fn noise(len: usize, seed: u32) -> Vec<u8> {
    (0..len).map(|n| ((n as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

/// nginx serving `root` on a free port; returns the child and the base URL.
fn start_nginx(dir: &Path, root: &Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let config = dir.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "user root;\nworker_processes auto;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
             client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};\n\
             server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n",
            dir = dir.display(),
            root = root.display()
        ),
    )
    .expect("nginx config");
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (apt-get install nginx-light)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start: see {}/error.log", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

fn main() {
    for (tool, package) in [("wrk", "wrk"), ("nginx", "nginx-light")] {
        if Command::new(tool).arg("-v").output().is_err() {
            eprintln!("{tool} is not installed: apt-get install {package}");
            std::process::exit(2);
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (otadeck_url, blobs) = runtime.block_on(async {
        let url = server::start(data.clone(), ADMIN_KEY).await;
        let admin = ManagementClient::new(&url, ADMIN_KEY).expect("client");
        admin.create_app("Bench").await.expect("app");
        let mut blobs = Vec::new();
        for (name, size) in [("11 KB", 11 * 1024), ("5 MB", 5 * 1024 * 1024)] {
            let file = dir.path().join(format!("{}.bundle", size));
            std::fs::write(&file, noise(size, size as u32)).expect("package");
            let info = PackageInfo { app_version: Some("^1.0.0".into()), ..PackageInfo::default() };
            let package = admin
                .release("Bench", "Staging", &PackageUpload { file, info, mendix_model: None })
                .await
                .expect("release");
            let sha = package.blob_url.rsplit('/').next().expect("sha").to_owned();
            blobs.push((name, sha));
        }
        (url, blobs)
    });
    let (mut nginx, nginx_url) = start_nginx(dir.path(), &data.join("blobs"));

    println!("| package | server | requests/s | transfer/s | p99 | non-2xx |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (name, sha) in &blobs {
        let theirs = run_wrk(&format!("{nginx_url}/{}/{sha}", &sha[..2]));
        let ours = run_wrk(&format!("{otadeck_url}/blobs/{sha}"));
        for (server, result) in [("nginx (sendfile)", &theirs), ("otadeck", &ours)] {
            println!(
                "| {name} | {server} | {:.0} | {} | {} | {} |",
                result.requests_per_second, result.transfer, result.p99, result.non_2xx
            );
        }
        ratios.push((name, ours.requests_per_second / theirs.requests_per_second));
    }
    for (name, ratio) in ratios {
        println!("\nratio otadeck / nginx, {name}: {ratio:.2}");
    }
    let _ = nginx.kill();
    let _ = nginx.wait();
}
