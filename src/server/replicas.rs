//! Several `otadeck serve` replicas on one PostgreSQL database: each learns of the others' changes,
//! and exactly one of them runs the housekeeping (rollout schedules, series compaction, blob
//! collection).
//!
//! Each replica keeps one extra connection, on a thread of its own:
//! - it `LISTEN`s on `otadeck_changes`, which triggers in the schema notify in the transaction of
//!   every change to releases, deployments, apps and Mendix channels; a notification drops the
//!   update-check cache at once;
//! - every second it also reads the `otadeck_changes` generation, so a notification missed while
//!   the connection was down (or a change nobody announced) drops the cache within a second too;
//! - it tries the session-level advisory lock [`LEADER_LOCK`]; the replica that holds it is the
//!   leader. A leader that dies loses its connection and with it the lock, and another replica takes
//!   it on its next try (within a second).
//!
//! With SQLite there is one server per data dir (the data-dir lock), which is always the leader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator as _;

use super::cache::UpdateCache;
use super::store::db::LEADER_LOCK;

/// How often a replica checks the generation and tries to become the leader.
const POLL: Duration = Duration::from_secs(1);

/// This replica's view of the others.
#[derive(Debug)]
pub struct Replicas {
    leader: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Replicas {
    /// A lone server (SQLite): always the leader, nothing to listen to.
    #[must_use]
    pub fn alone() -> Self {
        Self { leader: Arc::new(AtomicBool::new(true)), stop: Arc::new(AtomicBool::new(false)) }
    }

    /// Joins the replicas on the PostgreSQL database at `url`: starts the watcher thread, which
    /// drops `cache` on every change and runs until this value is dropped.
    #[must_use]
    pub fn join(url: &str, cache: &Arc<UpdateCache>) -> Self {
        let joined = Self { leader: Arc::new(AtomicBool::new(false)), stop: Arc::new(AtomicBool::new(false)) };
        let watcher = Watcher {
            url: url.to_owned(),
            cache: Arc::downgrade(cache),
            leader: Arc::clone(&joined.leader),
            stop: Arc::clone(&joined.stop),
        };
        if let Err(error) = std::thread::Builder::new().name("otadeck-replicas".into()).spawn(move || watcher.run()) {
            tracing::error!(%error, "cannot start the replica watcher: this replica never leads");
        }
        joined
    }

    /// Whether this replica runs the housekeeping now.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

struct Watcher {
    url: String,
    cache: Weak<UpdateCache>,
    leader: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire) || self.cache.strong_count() == 0
    }

    fn invalidate(&self) {
        if let Some(cache) = self.cache.upgrade() {
            cache.invalidate();
        }
    }

    fn run(self) {
        let mut announced_failure = false;
        while !self.stopped() {
            match super::store::connect_postgres(&self.url) {
                Ok(client) => {
                    announced_failure = false;
                    if let Err(error) = self.watch(client) {
                        tracing::warn!(error = %super::store::db::postgres_message(&error), "replica watcher lost the database; reconnecting");
                    }
                }
                Err(error) if !announced_failure => {
                    announced_failure = true;
                    tracing::warn!(%error, "replica watcher cannot reach the database; retrying every second");
                }
                Err(_) => {}
            }
            if self.leader.swap(false, Ordering::AcqRel) {
                tracing::warn!("this replica is no longer the leader");
            }
            // The cache stays: while the database is away, update checks are answered from it
            // (stale but consistent); `watch` drops it once the connection is back.
            std::thread::sleep(POLL);
        }
        self.leader.store(false, Ordering::Release);
    }

    /// Listens and polls on one connection until it fails or the server stops.
    fn watch(&self, mut client: postgres::Client) -> Result<(), postgres::Error> {
        client.batch_execute("LISTEN otadeck_changes")?;
        // Changes between the last look and the LISTEN are covered by starting afresh.
        self.invalidate();
        let mut generation: i64 = client.query_one("SELECT generation FROM otadeck_changes", &[])?.get(0);
        while !self.stopped() {
            let mut notified = false;
            {
                let mut notifications = client.notifications();
                if notifications.timeout_iter(POLL).next()?.is_some() {
                    notified = true;
                }
                // Take whatever else arrived, without waiting.
                let mut pending = notifications.iter();
                while pending.next()?.is_some() {}
            }
            let now: i64 = client.query_one("SELECT generation FROM otadeck_changes", &[])?.get(0);
            if notified || now != generation {
                generation = now;
                self.invalidate();
            }
            if !self.leader.load(Ordering::Acquire) {
                let won: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])?.get(0);
                if won {
                    tracing::info!("this replica is now the leader (rollout schedules, compaction, blob collection)");
                    self.leader.store(true, Ordering::Release);
                }
            }
        }
        Ok(())
    }
}
