//! What the daemon reports about itself: `status()`, its slots, artifact pages and metrics.

use serde::Serialize;

use super::{Daemon, VERSION};
use crate::error::Result;
use crate::lock;
use crate::metrics::{CacheStats, Gauges};
use crate::orchestrator::QueueState;
use crate::state::{ArtifactRecord, WorkerRecord};
use crate::watch::WatchMode;

/// A snapshot of the daemon, as `GET /api/v1/status` returns it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Status {
    pub version: &'static str,
    pub pid: u32,
    pub running: bool,
    /// The address the HTTP server is bound to, while running.
    pub address: Option<String>,
    /// Milliseconds since `start()` (or since `open()` when not running).
    pub uptime_ms: u64,
    pub workspace: String,
    pub config_file: Option<String>,
    pub state_dir: String,
    pub db_path: String,
    pub kv_keys: u64,
    pub locks_held: usize,
    pub artifacts: ArtifactTotals,
    pub read_cache: bool,
    pub workers: Vec<WorkerRecord>,
    pub builds: QueueState,
    pub cache: CacheStats,
    /// Targets that may run at once.
    pub slots: usize,
    pub watch: WatchStatus,
}

/// Whether the file watcher runs, and how.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WatchStatus {
    pub enabled: bool,
    pub mode: Option<WatchMode>,
    /// Input trees walked, and answered from what the watcher vouches for, since open.
    pub tree_walks: u64,
    pub tree_cache_hits: u64,
}

/// One worker slot, as `GET /api/v1/workers` shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SlotView {
    pub slot: usize,
    pub busy: bool,
    pub build_id: Option<String>,
    pub target: Option<String>,
    pub since_ms: Option<i64>,
}

/// A page of the artifact store, least recently used first.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArtifactPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub artifacts: Vec<ArtifactRecord>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArtifactTotals {
    pub count: u64,
    pub bytes: u64,
}

impl Daemon {
    /// A snapshot of the daemon's state.
    pub fn status(&self) -> Result<Status> {
        self.check_open()?;
        let config = self.config();
        let (address, uptime) = match lock(&self.inner.server).as_ref() {
            Some(r) => (Some(r.serving.address.to_string()), r.started_at.elapsed()),
            None => (None, self.inner.opened_at.elapsed()),
        };
        let (count, bytes) = self.inner.cas.totals()?;
        Ok(Status {
            version: VERSION,
            pid: std::process::id(),
            running: address.is_some(),
            address,
            uptime_ms: uptime.as_millis() as u64,
            workspace: config.root.display().to_string(),
            config_file: config.file.as_ref().map(|f| f.display().to_string()),
            state_dir: config.state_dir.display().to_string(),
            db_path: config.db_path.display().to_string(),
            kv_keys: self.inner.store.kv_count()?,
            locks_held: self.inner.store.list_locks()?.len(),
            artifacts: ArtifactTotals { count, bytes },
            read_cache: self.inner.store.has_read_cache(),
            workers: self.inner.store.workers()?,
            builds: self.inner.orchestrator.queue_state(),
            cache: self.inner.metrics.cache(),
            slots: config.concurrency,
            watch: self.watch_status(),
        })
    }

    /// Whether the file watcher runs, and how hashing used its tree cache.
    pub fn watch_status(&self) -> WatchStatus {
        let (tree_walks, tree_cache_hits) = self.inner.hasher.walk_counts();
        let mode = lock(&self.inner.watcher).as_ref().map(|w| w.mode());
        WatchStatus {
            enabled: mode.is_some(),
            mode,
            tree_walks,
            tree_cache_hits,
        }
    }

    /// The daemons registered in this workspace's state (normally this one).
    /// The daemons serving this state: a row not heartbeaten for five minutes is of a daemon
    /// that died without removing it, and is left out (and pruned within the hour).
    pub fn daemons(&self) -> Result<Vec<WorkerRecord>> {
        self.check_open()?;
        let cutoff = crate::state::now_ms() - crate::orchestrator::STALE_WORKER_MS;
        let mut workers = self.inner.store.workers()?;
        workers.retain(|w| w.last_heartbeat >= cutoff);
        Ok(workers)
    }

    /// Each worker slot and what it runs.
    pub fn slots(&self) -> Result<Vec<SlotView>> {
        self.check_open()?;
        let busy = self.inner.orchestrator.slots();
        let count = busy.len().max(self.config().concurrency);
        Ok((0..count)
            .map(|slot| {
                let info = busy.get(slot).cloned().flatten();
                SlotView {
                    slot,
                    busy: info.is_some(),
                    since_ms: info.as_ref().map(|i| i.since_ms),
                    build_id: info.as_ref().map(|i| i.build_id.clone()),
                    target: info.map(|i| i.target),
                }
            })
            .collect())
    }

    /// A page of the artifact store, least recently used first.
    pub fn list_artifacts(&self, offset: u64, limit: u64) -> Result<ArtifactPage> {
        self.check_open()?;
        let (total, _) = self.inner.cas.totals()?;
        Ok(ArtifactPage {
            total,
            offset,
            limit,
            artifacts: self.inner.store.artifacts_by_last_access(offset, limit)?,
        })
    }

    /// The Prometheus exposition of this daemon's counters.
    pub fn metrics_text(&self) -> Result<String> {
        self.check_open()?;
        let uptime = match lock(&self.inner.server).as_ref() {
            Some(r) => r.started_at.elapsed(),
            None => self.inner.opened_at.elapsed(),
        };
        let queue = self.inner.orchestrator.queue_state();
        let slots = self.slots()?;
        let (artifacts, artifact_bytes) = self.inner.cas.totals()?;
        Ok(self.inner.metrics.render(&Gauges {
            uptime_seconds: uptime.as_secs_f64(),
            builds_running: queue.running.len(),
            builds_queued: queue.queued.len(),
            slots: slots.len(),
            slots_busy: slots.iter().filter(|s| s.busy).count(),
            artifacts,
            artifact_bytes,
            kv_keys: self.inner.store.kv_count()?,
        }))
    }
}
