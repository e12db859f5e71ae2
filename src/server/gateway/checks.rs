//! OTA check counts per deployment, binary version and cookie presence, gathered in memory and
//! written in one transaction every few seconds: a check that changes nothing else then costs no
//! disk write. A crash loses at most the last interval's counts (statistics, not state).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::server::store::{Store, mendix};

/// How often counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

type Key = (i64, String, bool);

/// Shared counters of the gateway.
#[derive(Clone, Default)]
pub struct CheckCounter(Arc<Mutex<HashMap<Key, i64>>>);

impl CheckCounter {
    /// Counts one check.
    pub fn count(&self, deployment_id: i64, native_binary_version: String, with_cookie: bool) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry((deployment_id, native_binary_version, with_cookie)).or_default() += 1;
        }
    }

    /// Writes and clears what was counted; on a failed write the counts are kept for next time.
    pub async fn flush(&self, store: &Store) {
        let taken: Vec<(Key, i64)> = match self.0.lock() {
            Ok(mut counts) => counts.drain().collect(),
            Err(_) => return,
        };
        if taken.is_empty() {
            return;
        }
        let written = taken.clone();
        if let Err(error) = store.run(move |c| mendix::add_check_counts(c, &written)).await {
            tracing::warn!(%error, "cannot write Mendix check counts; keeping them for the next try");
            if let Ok(mut counts) = self.0.lock() {
                for (key, count) in taken {
                    *counts.entry(key).or_default() += count;
                }
            }
        }
    }

    /// Flushes every [`FLUSH_INTERVAL`] until the task is dropped.
    pub async fn flush_periodically(self, store: Store) {
        let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
        loop {
            ticks.tick().await;
            self.flush(&store).await;
        }
    }
}
