//! Idle, slow and greedy clients cannot starve others: connection caps per address, header and idle
//! timeouts, and per-address rate limits (429 with `Retry-After`) on status reports.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use otadeck::api::acquisition::{DeployReport, UpdateCheckQuery};
use otadeck::server::limits::Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{TestServer, app_with_keys, info, package, upload};

/// A connection to `server` from the loopback address `source`.
async fn connect_from(source: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().map_err(std::io::Error::other)?)?;
    socket.connect(server).await
}

fn address_of(server: &TestServer) -> SocketAddr {
    server.url.trim_start_matches("http://").parse().expect("loopback address")
}

/// Whether the server closed the connection within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0_u8; 512];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_slow_clients_cannot_starve_update_checks_or_uploads() {
    let server = TestServer::start_with(|config| {
        config.limits = Limits { header_read_timeout: Duration::from_secs(2), ..Limits::default() };
    })
    .await;
    let address = address_of(&server);
    let admin = server.admin();
    let (key, _) = app_with_keys(&admin, "Busy").await;
    let dir = tempfile::tempdir().expect("dir");
    admin.release("Busy", "Staging", &upload(package(dir.path(), "one"), info("1.0.0"))).await.expect("v1");

    // 2,000 idle connections from 8 addresses and 500 that send half a request head and stall.
    let mut held = Vec::new();
    for n in 0..2_000 {
        held.push(connect_from(&format!("127.0.1.{}", 1 + n / 250), address).await.expect("idle connection"));
    }
    for n in 0..500 {
        let mut slow = connect_from(&format!("127.0.2.{}", 1 + n / 250), address).await.expect("slow connection");
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: otadeck\r\nX-Slow: ").await.expect("half a head");
        held.push(slow);
    }

    // A fresh device is served promptly all the same.
    let device = server.device();
    let query = UpdateCheckQuery {
        deployment_key: Some(key),
        app_version: Some("1.0.0".into()),
        client_unique_id: Some("fresh".into()),
        ..UpdateCheckQuery::default()
    };
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        assert!(device.check_for_update(&query).await.expect("update check").is_available);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    eprintln!("hygiene: update-check p99 {p99:?} with 2,000 idle and 500 slow-header connections open");
    assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
    admin
        .release("Busy", "Staging", &upload(package(dir.path(), "two"), info("1.0.0")))
        .await
        .expect("upload succeeds");

    // The stalled and idle connections are closed by the header timeout (2 s here).
    let slow = held.last_mut().expect("a slow connection");
    assert!(closed_within(slow, Duration::from_secs(5)).await, "a stalled request head is cut off");
    let idle = held.first_mut().expect("an idle connection");
    assert!(closed_within(idle, Duration::from_secs(5)).await, "an idle connection is closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_gets_at_most_its_share_of_connections() {
    let server = TestServer::start_with(|config| {
        config.limits = Limits { per_address_connections: 20, ..Limits::default() };
    })
    .await;
    let address = address_of(&server);
    let mut streams = Vec::new();
    for _ in 0..30 {
        streams.push(connect_from("127.0.3.1", address).await.expect("connect"));
    }
    let mut refused = 0;
    for stream in &mut streams {
        if closed_within(stream, Duration::from_millis(300)).await {
            refused += 1;
        }
    }
    assert_eq!(refused, 10, "connections past 20 from one address are closed at once");
    let mut other = connect_from("127.0.3.2", address).await.expect("connect");
    other.write_all(b"GET /health HTTP/1.1\r\nHost: otadeck\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut answer = String::new();
    other.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "another address is served: {answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_past_the_rate_limit_get_429_with_retry_after() {
    let server = TestServer::start_with(|config| {
        config.limits = Limits { reports_per_second: 1, report_burst: 5, ..Limits::default() };
    })
    .await;
    let (key, _) = app_with_keys(&server.admin(), "Limited").await;
    let http = server.http();
    let report = DeployReport {
        deployment_key: Some(key.clone()),
        app_version: Some("1.0.0".into()),
        ..DeployReport::default()
    };
    let url = format!("{}/v0.1/public/codepush/report_status/deploy", server.url);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..7 {
        let response =
            http.post(&url).header("X-Forwarded-For", "198.51.100.7").json(&report).send().await.expect("send");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert_eq!(retry_after.as_deref(), Some("1"));
    let other = http.post(&url).header("X-Forwarded-For", "198.51.100.8").json(&report).send().await.expect("send");
    assert_eq!(other.status(), 200, "another address has its own bucket");
    // Update checks are never throttled (carrier NAT puts many phones behind one address).
    let check = format!("{}/v0.1/public/codepush/update_check?deployment_key={key}&app_version=1.0.0", server.url);
    for _ in 0..20 {
        let response = http.get(&check).header("X-Forwarded-For", "198.51.100.7").send().await.expect("check");
        assert_eq!(response.status(), 200);
    }
}
