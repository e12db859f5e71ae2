//! The in-memory update-check cache: per deployment key, a snapshot of its history with parsed
//! ranges, plus the device-id independent answers already computed for it. Every mutation
//! invalidates everything; rollout bucketing happens after the cache, per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use axum::body::Bytes;

use crate::domain::ReleaseRules;
use crate::domain::selection::{Branch, UpdatePlan};

/// What an update check needs to render a release it offers.
#[derive(Debug, Clone)]
pub struct OfferedRelease {
    pub download_url: String,
    pub description: String,
    pub size: u64,
    /// Diff packages by the package hash a device must run: (download URL, size).
    pub diffs: HashMap<String, (String, u64)>,
}

impl OfferedRelease {
    /// The download URL and size for a device running `package_hash`: the diff from it when there
    /// is one, else the full package.
    #[must_use]
    pub fn download_for(&self, package_hash: Option<&str>) -> (&str, u64) {
        match package_hash.and_then(|hash| self.diffs.get(hash)) {
            Some((url, size)) => (url, *size),
            None => (&self.download_url, self.size),
        }
    }
}

/// One deployment's history as the update check sees it.
#[derive(Debug)]
pub struct DeploymentSnapshot {
    pub rules: Vec<ReleaseRules>,
    pub offers: Vec<OfferedRelease>,
    plans: RwLock<HashMap<PlanKey, Arc<CachedPlan>>>,
}

/// A plan plus its answers rendered to JSON, filled on first use: `[branch][format]`.
#[derive(Debug)]
pub struct CachedPlan {
    pub plan: UpdatePlan,
    bodies: [[OnceLock<Bytes>; 2]; 2],
}

/// The two wire spellings of an update-check answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// `{"update_info": …}` snake_case (current SDKs).
    Current,
    /// `{"updateInfo": …}` camelCase (SDK 2.x on `/updateCheck`).
    Legacy,
}

impl CachedPlan {
    /// The rendered body of one branch in one format, rendering it on first use.
    pub fn body(&self, branch: Branch, format: ResponseFormat, render: impl FnOnce() -> Bytes) -> Bytes {
        let row = usize::from(branch == Branch::OutsideRollout);
        let column = usize::from(format == ResponseFormat::Legacy);
        self.bodies[row][column].get_or_init(render).clone()
    }
}

/// The request fields a plan depends on (everything but the client id).
pub type PlanKey = (String, Option<String>, Option<String>, bool, Option<u64>);

const MAX_PLANS_PER_DEPLOYMENT: usize = 10_000;

impl DeploymentSnapshot {
    /// A snapshot of `rules` with their offers (same order, oldest first).
    #[must_use]
    pub fn new(rules: Vec<ReleaseRules>, offers: Vec<OfferedRelease>) -> Self {
        Self { rules, offers, plans: RwLock::new(HashMap::new()) }
    }

    /// The cached plan for `key`, if an identical request was answered before.
    #[must_use]
    pub fn cached_plan(&self, key: &PlanKey) -> Option<Arc<CachedPlan>> {
        self.plans.read().ok()?.get(key).cloned()
    }

    /// Computes the plan for `key` with `plan` and caches it.
    pub fn store_plan(&self, key: PlanKey, plan: impl FnOnce(&[ReleaseRules]) -> UpdatePlan) -> Arc<CachedPlan> {
        let computed = Arc::new(CachedPlan { plan: plan(&self.rules), bodies: Default::default() });
        if let Ok(mut plans) = self.plans.write() {
            if plans.len() >= MAX_PLANS_PER_DEPLOYMENT {
                plans.clear();
            }
            plans.insert(key, Arc::clone(&computed));
        }
        computed
    }
}

/// Snapshots by deployment key.
#[derive(Debug, Default)]
pub struct UpdateCache {
    generation: AtomicU64,
    snapshots: RwLock<HashMap<String, Arc<DeploymentSnapshot>>>,
}

impl UpdateCache {
    /// The cached snapshot of a deployment key.
    #[must_use]
    pub fn get(&self, deployment_key: &str) -> Option<Arc<DeploymentSnapshot>> {
        self.snapshots.read().ok()?.get(deployment_key).cloned()
    }

    /// The generation to pass to [`UpdateCache::insert`] for a snapshot loaded after this call.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores a snapshot unless a mutation happened since `generation` was read.
    pub fn insert(&self, deployment_key: String, generation: u64, snapshot: Arc<DeploymentSnapshot>) {
        if let Ok(mut snapshots) = self.snapshots.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            snapshots.insert(deployment_key, snapshot);
        }
    }

    /// Drops every snapshot; called after every change to releases or deployments.
    pub fn invalidate(&self) {
        if let Ok(mut snapshots) = self.snapshots.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            snapshots.clear();
        }
    }
}
