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
pub mod outputs;
mod run;
pub mod target;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cas::ArtifactStore;
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Event, EventBus};
use crate::hash::TreeHasher;
use crate::lock;
use crate::state::{now_ms, random_token, BuildRecord, Store, TargetRun};

pub use cache_key::KeyComponents;
pub use dry_run::DryRunEntry;
pub use graph::TargetGraph;
pub use outputs::Manifest;
pub use target::ResolvedTarget;

/// How to run a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BuildOptions {
    /// Ignore cache hits and run every command.
    #[serde(default)]
    pub force: bool,
    /// Targets at once (default: the configuration's `concurrency`).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Stop everything at the first failure.
    #[serde(default)]
    pub fail_fast: bool,
    /// Publish a cached run's stored log as `target_log` events, as if it ran (default true).
    #[serde(default = "yes")]
    pub replay_logs: bool,
}

fn yes() -> bool {
    true
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            force: false,
            concurrency: None,
            fail_fast: false,
            replay_logs: true,
        }
    }
}

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
    /// file watcher's sync, while one runs (see [`crate::watch`]).
    sync_hook: Mutex<Option<SyncHook>>,
    /// Bumped each time a command finished (it may have written files).
    ran_epoch: AtomicU64,
    /// The `ran_epoch` the last finished sync started from; held while a sync runs, so one
    /// that is still waiting for its cookie is never taken for done.
    synced_epoch: Mutex<u64>,
}

type SyncHook = Arc<dyn Fn() + Send + Sync>;

/// A worker slot busy with a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotInfo {
    pub build_id: String,
    pub target: String,
    /// When it started (ms since the epoch).
    pub since_ms: i64,
}

/// The builds this orchestrator holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueState {
    pub running: Vec<String>,
    pub queued: Vec<String>,
}

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

    /// The builds running and waiting, in order.
    pub fn queue_state(&self) -> QueueState {
        let queue = lock(&self.queue);
        let active = lock(&self.active);
        let mut state = QueueState::default();
        for (i, id) in queue.iter().enumerate() {
            // The head runs once its thread took its turn; a cancelled head may be leaving.
            if i == 0 && active.contains_key(id) {
                state.running.push(id.clone());
            } else {
                state.queued.push(id.clone());
            }
        }
        state
    }

    /// What each of the last build's worker slots runs now (`None`: idle).
    pub fn slots(&self) -> Vec<Option<SlotInfo>> {
        lock(&self.slots).clone()
    }

    /// Waits until build `ctx.id` is first in the queue. `false` if it was cancelled meanwhile.
    fn wait_turn(&self, ctx: &BuildCtx<'_>) -> bool {
        let mut queue = lock(&self.queue);
        loop {
            if ctx.active.cancelled.load(Ordering::SeqCst) {
                return false;
            }
            if queue.front().map(String::as_str) == Some(ctx.id) {
                return true;
            }
            queue = self
                .turn
                .wait_timeout(queue, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn leave_queue(&self, id: &str) {
        lock(&self.queue).retain(|q| q != id);
        self.turn.notify_all();
    }

    /// Resolves the graph and starts the build; returns its id and the targets of its graph, in
    /// dependency order. Nothing starts if the graph is invalid (unknown target, cycle).
    pub fn request(
        self: &Arc<Self>,
        config: Arc<Config>,
        targets: &[String],
        options: BuildOptions,
    ) -> Result<(String, Vec<String>)> {
        let graph = TargetGraph::resolve(&config, targets)?;
        let order = graph.order.clone();
        let id = format!("{:012x}-{}", now_ms(), &random_token()?[..8]);
        self.store.build_insert(&id, targets, &graph.order)?;
        let active = Arc::new(ActiveBuild::default());
        {
            let mut builds = lock(&self.active);
            if self.shutting_down.load(Ordering::SeqCst) {
                drop(builds);
                let _ = self.store.build_finish(&id, "cancelled");
                return Err(Error::invalid_state(
                    "the daemon is shutting down; no new builds",
                ));
            }
            builds.insert(id.clone(), Arc::clone(&active));
            lock(&self.queue).push_back(id.clone());
        }
        self.events.publish(Event::BuildQueued {
            build_id: id.clone(),
            targets: graph.order.clone(),
        });
        let this = Arc::clone(self);
        let build_id = id.clone();
        let spawned = std::thread::Builder::new()
            .name("buildnet-build".into())
            .spawn(move || {
                let ctx = BuildCtx {
                    id: &build_id,
                    config: &config,
                    options: &options,
                    active: &active,
                };
                this.run_build(&ctx, &graph)
            });
        if let Err(e) = spawned {
            lock(&self.active).remove(&id);
            self.leave_queue(&id);
            let _ = self.store.build_finish(&id, "failed");
            return Err(Error::io("starting a build thread", e));
        }
        Ok((id, order))
    }

    /// Waits until build `id` finished (at most `timeout`) and returns its record.
    pub fn wait(&self, id: &str, timeout: Option<Duration>) -> Result<BuildRecord> {
        let active = lock(&self.active).get(id).cloned();
        if let Some(active) = active {
            // A timeout too far to represent is no timeout.
            let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            let mut finished = lock(&active.finished);
            while !*finished {
                match deadline {
                    None => {
                        finished = active
                            .done
                            .wait(finished)
                            .unwrap_or_else(|p| p.into_inner())
                    }
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(Error::new(
                                ErrorCode::Timeout,
                                format!(
                                    "build {id} still running after {:?}",
                                    timeout.unwrap_or_default()
                                ),
                            ));
                        }
                        finished = active
                            .done
                            .wait_timeout(finished, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
            }
        }
        self.record(id)
    }

    /// The record of build `id`.
    pub fn record(&self, id: &str) -> Result<BuildRecord> {
        self.store
            .build_get(id)?
            .ok_or_else(|| Error::not_found(format!("no build {id:?}")))
    }

    /// Cancels build `id`; `false` if it had already finished.
    pub fn cancel(&self, id: &str) -> Result<bool> {
        let active = lock(&self.active).get(id).cloned();
        if let Some(active) = active {
            let settled = lock(&active.settled);
            if *settled {
                return Ok(false);
            }
            active.cancelled.store(true, Ordering::SeqCst);
            active.stop.store(true, Ordering::SeqCst);
            drop(settled);
            self.turn.notify_all();
            return Ok(true);
        }
        self.record(id).map(|_| false)
    }

    /// Cancels every running build and waits for them to finish.
    pub fn cancel_all(&self) {
        let running: Vec<(String, Arc<ActiveBuild>)> = {
            let builds = lock(&self.active);
            self.shutting_down.store(true, Ordering::SeqCst);
            builds
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect()
        };
        for (_, active) in &running {
            active.cancelled.store(true, Ordering::SeqCst);
            active.stop.store(true, Ordering::SeqCst);
        }
        self.turn.notify_all();
        for (id, _) in running {
            let _ = self.wait(&id, None);
        }
    }

    /// Whether build `id` is still running in this process.
    pub fn is_running(&self, id: &str) -> bool {
        lock(&self.active).contains_key(id)
    }

    fn run_build(&self, ctx: &BuildCtx<'_>, graph: &TargetGraph) {
        let mut started = Instant::now();
        let scheduled = if self.wait_turn(ctx) {
            started = Instant::now();
            self.sync_inputs(false);
            if let Err(err) = self.store.build_started(ctx.id) {
                tracing::warn!(build = ctx.id, %err, "could not record the start of a build");
            }
            self.events.publish(Event::BuildStarted {
                build_id: ctx.id.to_owned(),
                targets: graph.order.clone(),
            });
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.schedule(ctx, graph)))
        } else {
            // Cancelled while it waited: nothing ran.
            for name in &graph.order {
                let mut run = TargetRun::pending(name);
                run.status = "cancelled".into();
                self.record_run(ctx.id, &run);
            }
            Ok(Ok("cancelled"))
        };
        let status = match scheduled {
            Ok(Ok(status)) => status,
            Ok(Err(err)) => {
                tracing::error!(build = ctx.id, %err, "build failed to run");
                "failed"
            }
            Err(_) => {
                tracing::error!(
                    build = ctx.id,
                    "build failed: internal error in the scheduler"
                );
                "failed"
            }
        };
        // Settled here. One rule: a cancel accepted before this point (it returned true) makes
        // the build `cancelled`, whatever its targets reached; one after it is told the build
        // had finished. Targets keep their own statuses (and finished outputs stay cached).
        let status = {
            let mut settled = lock(&ctx.active.settled);
            *settled = true;
            if ctx.active.cancelled.load(Ordering::SeqCst) {
                "cancelled"
            } else {
                status
            }
        };
        self.save_stats();
        prune_logs(&ctx.config.state_dir.join("logs"), KEEP_BUILD_LOGS);
        let mut recorded = self.store.build_finish(ctx.id, status);
        for _ in 0..5 {
            match &recorded {
                Err(err) if err.code() == ErrorCode::Busy => {
                    recorded = self.store.build_finish(ctx.id, status);
                }
                _ => break,
            }
        }
        if let Err(err) = recorded {
            tracing::error!(build = ctx.id, %err, "could not record the end of a build");
        }
        self.events.publish(Event::BuildFinished {
            build_id: ctx.id.to_owned(),
            status: status.to_owned(),
            duration_ms: started.elapsed().as_millis() as u64,
        });
        // Gone from the active builds before anyone is woken: a waiter that returns never sees
        // the build still running.
        lock(&self.active).remove(ctx.id);
        self.leave_queue(ctx.id);
        *lock(&ctx.active.finished) = true;
        ctx.active.done.notify_all();
    }

    /// Runs the graph; returns the build's final status.
    fn schedule(&self, ctx: &BuildCtx<'_>, graph: &TargetGraph) -> Result<&'static str> {
        #[derive(Clone, PartialEq)]
        enum State {
            Pending,
            Running,
            Succeeded(String),
            Failed,
        }
        self.load_stats();
        let slots = ctx
            .options
            .concurrency
            .unwrap_or(ctx.config.concurrency)
            .max(1);
        // Targets by their place in the graph's order (dependencies first).
        let order = &graph.order;
        let index: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let deps: Vec<Vec<usize>> = order
            .iter()
            .map(|name| graph.deps[name].iter().map(|d| index[d.as_str()]).collect())
            .collect();
        let mut resolved: Vec<Option<ResolvedTarget>> =
            ResolvedTarget::resolve_all(ctx.config, order)
                .into_iter()
                .map(Some)
                .collect();
        let mut states = vec![State::Pending; order.len()];
        // Ready targets found not to be cache hits: they wait for a slot, not for another look.
        // Hits are looked for on this thread only when the watcher's tree cache makes the look
        // a lookup; otherwise the workers walk the input trees in parallel, as for a miss.
        let mut miss = vec![!self.hasher.tree_cache_enabled(); order.len()];
        let mut any_failed = false;
        // `slots` workers run targets; one more stores finished runs' outputs, so a slot is free
        // again as soon as its command ended.
        let (tx, rx) = mpsc::channel::<(usize, TargetOutcome)>();
        let (work_tx, work_rx) =
            mpsc::channel::<(usize, ResolvedTarget, BTreeMap<String, String>)>();
        let (store_tx, store_rx) = mpsc::channel::<(ResolvedTarget, RunResult)>();
        let work_rx = Mutex::new(work_rx);
        *lock(&self.slots) = vec![None; slots];
        let cancelled = std::thread::scope(|scope| -> Result<bool> {
            for slot in 0..slots.min(order.len()) {
                let (tx, store_tx, work_rx) = (tx.clone(), store_tx.clone(), &work_rx);
                scope.spawn(move || loop {
                    let job = lock(work_rx).recv();
                    let Ok((at, target, dep_keys)) = job else {
                        return;
                    };
                    self.set_slot(
                        slot,
                        Some(SlotInfo {
                            build_id: ctx.id.to_owned(),
                            target: target.name.clone(),
                            since_ms: now_ms(),
                        }),
                    );
                    self.run_worker_job(ctx, at, target, dep_keys, &tx, &store_tx);
                    self.set_slot(slot, None);
                });
            }
            // Only workers send outcomes: if they are all gone, `recv` fails instead of hanging.
            drop(tx);
            drop(store_tx);
            scope.spawn(move || {
                for (target, result) in store_rx {
                    if let Err(err) = self.store_result(&target, result) {
                        tracing::warn!(target = %target.name, %err, "outputs were not cached");
                    }
                }
            });
            let mut running = 0usize;
            let settle = |at: usize, outcome: TargetOutcome, states: &mut Vec<State>| {
                if outcome.run.status == "succeeded" {
                    states[at] = State::Succeeded(outcome.key.unwrap_or_default());
                    false
                } else {
                    if ctx.options.fail_fast {
                        ctx.active.stop.store(true, Ordering::SeqCst);
                    }
                    states[at] = State::Failed;
                    true
                }
            };
            loop {
                // Targets whose dependencies failed can never run.
                let mut changed = true;
                while changed {
                    changed = false;
                    for at in 0..order.len() {
                        if states[at] != State::Pending {
                            continue;
                        }
                        if let Some(&dep) = deps[at].iter().find(|&&d| states[d] == State::Failed) {
                            let mut run = TargetRun::pending(&order[at]);
                            run.status = "skipped".into();
                            run.error = Some(format!("dependency {} did not succeed", order[dep]));
                            self.record_run(ctx.id, &run);
                            self.publish_finished(ctx.id, &run);
                            states[at] = State::Failed;
                            changed = true;
                        }
                    }
                }
                // Ready targets: a cache hit is finished right here (no slot, no hand-off);
                // the others go to a worker as slots allow.
                let mut settled_here = false;
                for at in 0..order.len() {
                    if ctx.active.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if states[at] != State::Pending || (miss[at] && running >= slots) {
                        continue;
                    }
                    let mut dep_keys = BTreeMap::new();
                    for &dep in &deps[at] {
                        match &states[dep] {
                            State::Succeeded(key) => {
                                dep_keys.insert(order[dep].clone(), key.clone());
                            }
                            _ => break,
                        }
                    }
                    if dep_keys.len() != deps[at].len() {
                        continue;
                    }
                    let target = resolved[at].take().expect("resolved once per target");
                    if !miss[at] {
                        let hit = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.try_hit(ctx, &target, &dep_keys)
                        }));
                        if let Ok(Some(outcome)) = hit {
                            any_failed |= settle(at, outcome, &mut states);
                            settled_here = true;
                            continue;
                        }
                        miss[at] = true;
                    }
                    if running >= slots {
                        resolved[at] = Some(target);
                        continue;
                    }
                    states[at] = State::Running;
                    running += 1;
                    work_tx
                        .send((at, target, dep_keys))
                        .map_err(|_| Error::internal("the target workers are gone"))?;
                }
                if settled_here {
                    // Dependents of what was settled may be ready (or must be skipped) now.
                    continue;
                }
                if running == 0 {
                    break;
                }
                let (at, outcome) = rx
                    .recv()
                    .map_err(|_| Error::internal("a target worker vanished"))?;
                running -= 1;
                any_failed |= settle(at, outcome, &mut states);
            }
            drop(work_tx);
            // Whether a cancel stopped targets from starting (they are recorded `cancelled`
            // rather than `skipped` below).
            Ok(ctx.active.cancelled.load(Ordering::SeqCst))
        })?;
        // Whatever never started was stopped by a cancellation or fail-fast.
        for (name, state) in order.iter().zip(&states) {
            if *state == State::Pending {
                let mut run = TargetRun::pending(name);
                run.status = if cancelled { "cancelled" } else { "skipped" }.into();
                self.record_run(ctx.id, &run);
            }
        }
        Ok(if cancelled {
            "cancelled"
        } else if any_failed {
            "failed"
        } else {
            "succeeded"
        })
    }

    /// One worker job: run the target, report it, hand what is left to store to the storer. A
    /// panic (a bug, not the command) fails the target and the build goes on.
    fn run_worker_job(
        &self,
        ctx: &BuildCtx<'_>,
        at: usize,
        target: ResolvedTarget,
        dep_keys: BTreeMap<String, String>,
        done: &mpsc::Sender<(usize, TargetOutcome)>,
        to_store: &mpsc::Sender<(ResolvedTarget, RunResult)>,
    ) {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_target(ctx, &target, dep_keys)
        }));
        let (outcome, result) = ran.unwrap_or_else(|_| {
            let mut run = TargetRun::pending(&target.name);
            run.status = "failed".into();
            run.error = Some("internal error while running this target".into());
            self.record_run(ctx.id, &run);
            self.publish_finished(ctx.id, &run);
            (TargetOutcome { run, key: None }, None)
        });
        let _ = done.send((at, outcome));
        if let Some(result) = result {
            let _ = to_store.send((target, result));
        }
    }

    fn set_slot(&self, slot: usize, info: Option<SlotInfo>) {
        if let Some(s) = lock(&self.slots).get_mut(slot) {
            *s = info;
        }
    }

    /// Records a target run; a failure to record is logged, never stops the build.
    fn record_run(&self, build_id: &str, run: &TargetRun) {
        if let Err(err) = self.store.target_run_update(build_id, run) {
            tracing::error!(build = build_id, target = %run.target, %err, "could not record a target run");
        }
    }

    /// Loads the stat cache persisted by earlier processes, once per process.
    fn load_stats(&self) {
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
    fn save_stats(&self) {
        if let Err(err) = self.store.file_stats_save(self.hasher.take_changes()) {
            tracing::warn!(%err, "the stat cache could not be saved");
        }
    }

    fn publish_finished(&self, build_id: &str, run: &TargetRun) {
        self.events.publish(Event::TargetFinished {
            build_id: build_id.to_owned(),
            target: run.target.clone(),
            status: run.status.clone(),
            cached: run.cached,
            duration_ms: run.duration_ms.unwrap_or(0) as u64,
            exit_code: run.exit_code,
            error: run.error.clone(),
        });
    }
}

/// Logs of this many most recent builds are kept on disk.
const KEEP_BUILD_LOGS: usize = 100;

/// Removes the log folders of all but the `keep` newest builds (build ids sort by start time).
fn prune_logs(logs: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(logs) else {
        return;
    };
    let mut builds: Vec<std::path::PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    if builds.len() <= keep {
        return;
    }
    builds.sort();
    for old in &builds[..builds.len() - keep] {
        if let Err(err) = std::fs::remove_dir_all(old) {
            tracing::warn!(path = %old.display(), %err, "could not remove an old build log");
        }
    }
}

/// Where the log of `target` in build `build_id` is kept: `state_dir/logs/BUILD/TARGET.log`,
/// where a name with characters other than letters, digits and `._-` has them replaced by `_`
/// and a hash of the original name appended.
pub fn log_path(state_dir: &Path, build_id: &str, target: &str) -> std::path::PathBuf {
    let name: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Names that had to change get a hash of the original, so `a:b` and `a_b` never share a file.
    let file = if name == target {
        format!("{name}.log")
    } else {
        format!(
            "{name}-{:08x}.log",
            crate::hash::xxh3_64(target.as_bytes()) as u32
        )
    };
    state_dir.join("logs").join(build_id).join(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_of_different_targets_never_collide() {
        let dir = Path::new("/s");
        let a = log_path(dir, "b", "pkg:build");
        let b = log_path(dir, "b", "pkg_build");
        assert_ne!(a, b);
        assert_eq!(b, Path::new("/s/logs/b/pkg_build.log"));
        assert!(a.to_string_lossy().starts_with("/s/logs/b/pkg_build-"));
    }

    #[test]
    fn only_the_newest_build_logs_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        for i in 0..12u64 {
            let build = logs.join(format!("{:012x}-abcdef01", 1_000 + i));
            std::fs::create_dir_all(&build).unwrap();
            std::fs::write(build.join("t.log"), "x").unwrap();
        }
        prune_logs(&logs, 10);
        let mut left: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 10);
        assert_eq!(left[0], format!("{:012x}-abcdef01", 1_002));
        prune_logs(&dir.path().join("missing"), 10);
    }
}
