//! Build orchestration: resolve the target graph, run targets in dependency order on a pool of
//! `concurrency` slots, restore what the cache already holds, record everything.
//!
//! A build runs on its own thread; `request` returns its id at once. Builds of one workspace run
//! one at a time, in the order they were asked for (two builds writing the same outputs at once
//! could corrupt each other and the cache): a later one is `queued` until the earlier ones end.
//! A target starts when all of its dependencies succeeded. When one fails, its dependents are skipped and independent
//! targets finish (with `fail_fast`, everything running is stopped and nothing new starts).
//! Failed or cancelled runs are never cached.

pub mod cache_key;
mod dry_run;
pub mod graph;
mod logs;
mod options;
pub mod outputs;
mod queue;
mod remote;
mod remote_exec;
mod remote_parts;
mod run;
mod schedule;
pub mod target;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::cas::ArtifactStore;
use crate::config::Config;
use crate::events::{Event, EventBus};
use crate::hash::TreeHasher;
use crate::lock;
use crate::state::{Store, TargetRun};

pub use cache_key::KeyComponents;
pub use dry_run::DryRunEntry;
pub use graph::{Edges, TargetGraph};
pub use logs::log_path;
pub use options::{BuildOptions, MAX_CONCURRENCY};
pub use outputs::Manifest;
pub use queue::{QueueState, SlotInfo, STALE_WORKER_MS};
pub use target::ResolvedTarget;

/// Runs builds. Shared by the daemon behind an `Arc`.
pub struct Orchestrator {
    store: Arc<Store>,
    cas: Arc<ArtifactStore>,
    hasher: Arc<TreeHasher>,
    events: EventBus,
    active: Mutex<HashMap<String, Arc<ActiveBuild>>>,
    /// Whether the persisted stat cache has been loaded into the hasher.
    stats_loaded: std::sync::Once,
    /// Set by `cancel_all`: no new build starts.
    shutting_down: AtomicBool,
    /// Builds waiting or running, in the order they were asked for; the first one runs.
    queue: Mutex<VecDeque<String>>,
    turn: Condvar,
    /// What each worker slot runs now.
    slots: Mutex<Vec<Option<SlotInfo>>>,
    /// Called when a build takes its turn and before hashing a target after commands ran: the
    /// file watcher's sync, while one runs (set by the facade).
    sync_hook: Mutex<Option<SyncHook>>,
    /// Bumped each time a command finished (it may have written files).
    ran_epoch: AtomicU64,
    /// The `ran_epoch` the last finished sync started from; held while a sync runs, so one
    /// that is still waiting for its cookie is never taken for done.
    synced_epoch: Mutex<u64>,
    /// Finished target runs not yet written, and when the oldest was added: written together
    /// (one transaction) at the end of the build, or once the oldest is [`RECORD_DELAY`] old.
    records: Mutex<HeldRecords>,
    /// The remote cache's outage breaker, kept from build to build.
    breaker: crate::remote_cache::Breaker,
    /// The remote execution engine's client and what it has learnt.
    remote_exec: remote_exec::RemoteExec,
}

/// Finished runs not yet written (build id, run), and when the oldest was held.
type HeldRecords = (Vec<(String, TargetRun)>, Option<std::time::Instant>);

/// How long a finished target's record may wait to be written with others.
const RECORD_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

type SyncHook = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct ActiveBuild {
    /// Asked to cancel by the user.
    cancelled: AtomicBool,
    /// Running commands must stop (cancellation or fail-fast).
    stop: AtomicBool,
    /// The final status is decided: a cancel from now on is too late (and says so).
    settled: Mutex<bool>,
    finished: Mutex<bool>,
    done: Condvar,
}

/// What a successful, cacheable run leaves to be stored.
struct RunResult {
    key: String,
    components: KeyComponents,
    /// The outputs and the log, snapshotted into the artifact store's temporary folder before
    /// the target was reported done (so a dependent changing them cannot taint the entry).
    outputs: Vec<(String, crate::cas::Staged, bool)>,
    log: crate::cas::Staged,
    duration_ms: u64,
}

/// What every step of one build needs.
pub(super) struct BuildCtx<'a> {
    id: &'a str,
    config: &'a Config,
    options: &'a BuildOptions,
    active: &'a ActiveBuild,
    /// The environment the build's keys and commands see ([`BuildOptions::vars`]).
    vars: std::collections::BTreeMap<String, String>,
    /// The values replaced by `***` in the commands' output ([`secrets`]).
    secrets: Vec<String>,
    /// Which caches the build reads and writes.
    modes: crate::remote_cache::CacheModes,
    /// The remote cache, when the build uses one.
    remote: Option<crate::remote_cache::RemoteCache<'a>>,
    /// The remote execution engine, when commands run there.
    engine: Option<crate::reapi::client::Engine>,
}

/// The values redacted from a build's command output: those of the build's environment
/// variables named by `redact_env`, and BuildNet's own tokens and keys.
fn secrets(
    config: &Config,
    vars: &std::collections::BTreeMap<String, String>,
    remote_token: Option<&str>,
) -> Vec<String> {
    let server = &config.server;
    let own = server
        .token
        .iter()
        .chain(&server.cache_signature_key)
        .chain(server.cache_tokens.iter().map(|t| &t.token))
        .chain(config.remote_cache.iter().filter_map(|r| r.token.as_ref()))
        .map(String::as_str)
        .chain(remote_token);
    crate::process::redact::secret_values(&config.redact_env, vars, own)
}

/// How one target ended.
struct TargetOutcome {
    run: TargetRun,
    key: Option<String>,
}

impl Orchestrator {
    pub fn new(
        store: Arc<Store>,
        cas: Arc<ArtifactStore>,
        hasher: Arc<TreeHasher>,
        events: EventBus,
    ) -> Orchestrator {
        Orchestrator {
            store,
            cas,
            hasher,
            events,
            active: Mutex::new(HashMap::new()),
            stats_loaded: std::sync::Once::new(),
            shutting_down: AtomicBool::new(false),
            queue: Mutex::new(VecDeque::new()),
            turn: Condvar::new(),
            slots: Mutex::new(Vec::new()),
            sync_hook: Mutex::new(None),
            ran_epoch: AtomicU64::new(0),
            synced_epoch: Mutex::new(0),
            records: Mutex::new((Vec::new(), None)),
            breaker: crate::remote_cache::Breaker::default(),
            remote_exec: remote_exec::RemoteExec::default(),
        }
    }

    pub fn set_sync_hook(&self, hook: Option<SyncHook>) {
        *lock(&self.sync_hook) = hook;
    }

    /// Runs the sync hook (if any); with `only_after_commands`, only if a command finished
    /// since the last sync began.
    pub(crate) fn sync_inputs(&self, only_after_commands: bool) {
        let Some(hook) = lock(&self.sync_hook).clone() else {
            return;
        };
        let mut synced = lock(&self.synced_epoch);
        let epoch = self.ran_epoch.load(Ordering::SeqCst);
        if only_after_commands && *synced >= epoch {
            return;
        }
        hook();
        *synced = epoch;
    }

    /// A command finished: files it wrote must be seen before the next inputs are hashed.
    pub(crate) fn note_command_ran(&self) {
        self.ran_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a target run; a failure to record is logged, never stops the build.
    /// Records how a target run ended. Records of one build are written together: a hundred
    /// cache hits cost one transaction, not a hundred; none waits longer than [`RECORD_DELAY`],
    /// and the build's end writes what is left before the build is recorded as finished.
    pub(super) fn record_run(&self, build_id: &str, run: &TargetRun) {
        let due = {
            let mut records = lock(&self.records);
            records.0.push((build_id.to_owned(), run.clone()));
            let oldest = *records.1.get_or_insert_with(std::time::Instant::now);
            oldest.elapsed() >= RECORD_DELAY
        };
        if due {
            self.flush_records();
        }
    }

    /// Writes the records [`Self::record_run`] holds.
    pub fn flush_records(&self) {
        let runs = {
            let mut records = lock(&self.records);
            records.1 = None;
            std::mem::take(&mut records.0)
        };
        if let Err(err) = self.store.target_runs_update(runs) {
            tracing::error!(%err, "could not record target runs");
        }
    }

    /// Loads the stat cache persisted by earlier processes, once per process.
    pub(super) fn load_stats(&self) {
        self.stats_loaded
            .call_once(|| match self.store.file_stats_load() {
                Ok(stats) => self.hasher.import(stats),
                Err(err) => tracing::warn!(%err, "the persisted stat cache could not be read"),
            });
    }

    /// Runs `hash` with the persisted stat cache loaded, and saves what it learned.
    pub(crate) fn with_persisted_stats<T>(&self, hash: impl FnOnce() -> T) -> T {
        self.load_stats();
        let result = hash();
        self.save_stats();
        result
    }

    /// Persists what the hasher learned, so the next process need not read those files.
    pub(super) fn save_stats(&self) {
        if let Err(err) = self.store.file_stats_save(self.hasher.take_changes()) {
            tracing::warn!(%err, "the stat cache could not be saved");
        }
    }

    pub(super) fn publish_finished(&self, build_id: &str, run: &TargetRun) {
        self.events.publish(Event::TargetFinished {
            build_id: build_id.to_owned(),
            target: run.target.clone(),
            status: run.status,
            cached: run.cached,
            duration_ms: run.duration_ms.unwrap_or(0) as u64,
            exit_code: run.exit_code,
            error: run.error.clone(),
            cache_key: run.cache_key.clone(),
            warnings: run.warnings.clone(),
            remote_bytes: run.remote_bytes,
            remote_execution: run.remote_execution.clone().map(Box::new),
        });
    }
}
