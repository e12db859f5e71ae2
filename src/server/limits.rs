//! Keeping slow, idle or greedy clients from starving everyone else:
//! - connection caps per client address and in total, the total kept below the process's open-file
//!   limit (raised at start-up where allowed), so a new device always gets a socket and an upload
//!   always gets a temp file;
//! - a header-read timeout that also closes idle keep-alive connections, and a first-request
//!   timeout for connections that never send one;
//! - per-address token buckets on status reports and package downloads (429 with `Retry-After`).
//!   Update checks are never throttled: carrier NAT puts many phones behind one address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Connection and rate limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections from one address.
    pub per_address_connections: usize,
    /// Open connections in total (further capped below the open-file limit).
    pub total_connections: usize,
    /// Time to send a request head, and the most a keep-alive connection may sit idle.
    pub header_read_timeout: Duration,
    /// Status reports per second per address, and the burst allowed.
    pub reports_per_second: u32,
    pub report_burst: u32,
    /// Package downloads per second per address, and the burst allowed.
    pub downloads_per_second: u32,
    pub download_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_address_connections: 256,
            total_connections: 16_384,
            header_read_timeout: Duration::from_secs(15),
            reports_per_second: 1_000,
            report_burst: 10_000,
            downloads_per_second: 200,
            download_burst: 2_000,
        }
    }
}

/// File descriptors kept free for the database, blobs, temp files and logs.
const RESERVED_FILES: u64 = 128;

/// Raises the soft open-file limit to the hard limit where allowed; returns the soft limit now.
#[must_use]
pub fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 1024 };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// The connection cap that leaves room below the open-file limit.
#[must_use]
pub fn total_connection_cap(limits: &Limits, open_files: u64) -> usize {
    let room = usize::try_from(open_files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    limits.total_connections.min(room.max(1))
}

/// Counts open connections per address and in total.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    per_address: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
    max_per_address: usize,
    max_total: usize,
}

impl ConnectionGate {
    #[must_use]
    pub fn new(max_per_address: usize, max_total: usize) -> Self {
        Self {
            inner: Arc::new(GateInner {
                per_address: Mutex::new(HashMap::new()),
                total: AtomicUsize::new(0),
                max_per_address,
                max_total,
            }),
        }
    }

    /// A ticket for one more connection from `address`, or `None` when a cap is reached.
    #[must_use]
    pub fn enter(&self, address: IpAddr) -> Option<ConnectionTicket> {
        let mut per_address = self.inner.per_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = per_address.entry(address).or_insert(0);
        if *open >= self.inner.max_per_address || self.inner.total.load(Ordering::Relaxed) >= self.inner.max_total {
            return None;
        }
        *open += 1;
        self.inner.total.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionTicket { gate: self.clone(), address })
    }
}

/// Held for as long as a connection is open.
#[derive(Debug)]
pub struct ConnectionTicket {
    gate: ConnectionGate,
    address: IpAddr,
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        let mut per_address = self.gate.inner.per_address.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = per_address.get_mut(&self.address) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                per_address.remove(&self.address);
            }
        }
        self.gate.inner.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The acceptor that applies the gate (and `TCP_NODELAY`) to every accepted connection; a refused
/// connection is closed at once, before any TLS or HTTP work.
#[derive(Debug, Clone)]
pub struct GatedAcceptor {
    gate: ConnectionGate,
}

impl GatedAcceptor {
    #[must_use]
    pub fn new(gate: ConnectionGate) -> Self {
        Self { gate }
    }
}

impl<S> axum_server::accept::Accept<TcpStream, S> for GatedAcceptor {
    type Stream = GatedStream;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(GatedStream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ticket = stream.peer_addr().ok().and_then(|peer| self.gate.enter(peer.ip()));
        std::future::ready(match ticket {
            Some(ticket) => {
                let _ = stream.set_nodelay(true);
                Ok((GatedStream { inner: stream, _ticket: ticket }, service))
            }
            None => Err(std::io::Error::other("connection limit reached")),
        })
    }
}

/// A connection that holds its ticket until it closes.
#[derive(Debug)]
pub struct GatedStream {
    inner: TcpStream,
    _ticket: ConnectionTicket,
}

impl AsyncRead for GatedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Per-address token buckets.
pub struct RateLimiter {
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimiter {
    /// `per_second` requests per address, with bursts up to `burst`.
    #[must_use]
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self { limiter: governor::RateLimiter::keyed(governor::Quota::per_second(rate).allow_burst(burst)) }
    }

    /// `Ok` when `address` may go ahead; else how long until it may.
    ///
    /// # Errors
    /// The wait until the next request is allowed.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        use governor::clock::Clock as _;
        self.limiter
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }

    /// Forgets addresses whose buckets are full again (called by the ticker).
    pub fn shrink(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_caps_each_address_and_the_total_and_frees_on_close() {
        let gate = ConnectionGate::new(2, 3);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = gate.enter(a).expect("1st from a");
        let _second = gate.enter(a).expect("2nd from a");
        assert!(gate.enter(a).is_none(), "a third from one address is refused");
        let _third = gate.enter(b).expect("1st from b");
        assert!(gate.enter(b).is_none(), "the total cap holds");
        drop(first);
        assert!(gate.enter(b).is_some(), "a closed connection frees its place");
    }

    #[test]
    fn the_total_stays_below_the_open_file_limit() {
        assert_eq!(total_connection_cap(&Limits::default(), 1024), 1024 - 128);
        assert_eq!(total_connection_cap(&Limits::default(), 1_000_000), 16_384);
    }

    #[test]
    fn a_burst_then_a_wait() {
        let limiter = RateLimiter::new(1, 3);
        let address: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.check(address).is_ok());
        }
        let wait = limiter.check(address).expect_err("the burst is spent");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check("192.0.2.2".parse().expect("ip")).is_ok(), "another address has its own bucket");
    }
}
