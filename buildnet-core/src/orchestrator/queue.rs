//! The build queue: builds of one workspace run one at a time, in the order they were asked
//! for; each runs on its own thread, and a later one waits its turn as `queued`. Waiting for,
//! cancelling and settling a build happen here.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::logs::{prune_logs, KEEP_BUILD_LOGS};

/// How often a building process prunes stale rows and truncates the WAL.
const PRUNE_EVERY_MS: i64 = 3_600_000;
/// A daemon's row not heartbeaten for this long is of a daemon that died (they beat every 15 s).
pub const STALE_WORKER_MS: i64 = 5 * 60 * 1000;
use super::{ActiveBuild, BuildCtx, BuildOptions, Orchestrator, TargetGraph};
use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::lock;
use crate::state::{now_ms, random_token, BuildRecord, BuildStatus, TargetRun, TargetStatus};

/// A worker slot busy with a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotInfo {
    pub build_id: String,
    pub target: String,
    /// When it started (ms since the epoch).
    pub since_ms: i64,
}

/// The builds this orchestrator holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct QueueState {
    pub running: Vec<String>,
    pub queued: Vec<String>,
}

impl Orchestrator {
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

    /// Takes the workspace's build lock, waiting while another process builds the same
    /// workspace (said once as a warning). `false` if the build was cancelled meanwhile. A lock
    /// that cannot be taken at all (a read-only state folder) is warned about, not fatal.
    fn wait_workspace(
        &self,
        ctx: &BuildCtx<'_>,
        held: &mut Option<crate::state_dir::FileLock>,
    ) -> bool {
        let path = crate::state_dir::build_lock_path(&ctx.config.state_dir);
        // A build started by a command of the build holding the lock (a script calling
        // `buildnet build`) would wait for its own parent for ever: it runs beside it instead.
        let owner = std::env::var(super::run::BUILD_OWNER_VAR).ok();
        let holder = crate::state_dir::holder(&path).map(|p| p.to_string());
        if owner.is_some() && owner == holder && crate::state_dir::is_locked(&path) {
            tracing::info!("a build inside a build of this workspace does not wait for it");
            return true;
        }
        let got = crate::state_dir::FileLock::acquire(
            &path,
            || ctx.active.stop.load(Ordering::Relaxed),
            |pid| {
                let who = pid.map_or_else(String::new, |p| format!(" (pid {p})"));
                self.events.publish(Event::BuildWarning {
                    build_id: ctx.id.to_owned(),
                    message: format!(
                        "waiting for another process's build of this workspace{who} to finish"
                    ),
                });
            },
        );
        match got {
            Ok(Some(lock)) => {
                *held = Some(lock);
                true
            }
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(%err, "building without the workspace's build lock");
                true
            }
        }
    }

    /// Keeps the database from growing: builds beyond `retention.builds` after every build,
    /// and once an hour (in whichever process builds) the rows of dead daemons and deleted
    /// files, then a checkpoint that truncates the WAL.
    fn prune_history(&self, config: &Config) {
        let pruned = self
            .store
            .prune_builds_and_due(config.retention.builds, Some(("prune", PRUNE_EVERY_MS)))
            .and_then(|(_, due)| {
                if due {
                    let exists = |p: &str| {
                        let p = std::path::Path::new(p);
                        !p.is_absolute() || p.symlink_metadata().is_ok()
                    };
                    self.store.prune_stale(STALE_WORKER_MS, exists)?;
                    self.store.checkpoint()?;
                }
                Ok(())
            });
        if let Err(err) = pruned {
            tracing::warn!(%err, "old history was not pruned");
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
        options.validate()?;
        let graph = TargetGraph::resolve_with(&config, targets, options.edges())?;
        let vars = options.vars();
        // A bad `--cache` or remote-cache setting is refused before anything is recorded.
        let (modes, remote) = crate::remote_cache::resolve(
            &config,
            &vars,
            options.cache.as_deref(),
            &options.remote_cache,
        )?;
        let engine = self.remote_exec.engine(&config, options.local)?;
        let order = graph.order.clone();
        let id = format!("{:012x}-{}", now_ms(), &random_token()?[..8]);
        self.store.build_insert(&id, targets, &graph.order)?;
        let active = Arc::new(ActiveBuild::default());
        {
            let mut builds = lock(&self.active);
            if self.shutting_down.load(Ordering::SeqCst) {
                drop(builds);
                let _ = self.store.build_finish(&id, BuildStatus::Cancelled);
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
                let limit = config.cache.max_artifact_bytes;
                let secrets = super::secrets(
                    &config,
                    &vars,
                    remote.as_ref().and_then(|r| r.token.as_deref()),
                );
                let ctx = BuildCtx {
                    id: &build_id,
                    config: &config,
                    options: &options,
                    active: &active,
                    vars,
                    secrets,
                    modes,
                    remote: remote
                        .map(|s| crate::remote_cache::RemoteCache::new(s, &this.breaker, limit)),
                    engine,
                };
                this.run_build(&ctx, &graph)
            });
        if let Err(e) = spawned {
            lock(&self.active).remove(&id);
            self.leave_queue(&id);
            let _ = self.store.build_finish(&id, BuildStatus::Failed);
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
        self.flush_records();
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
        let mut workspace_lock = None;
        let scheduled = if self.wait_turn(ctx) && self.wait_workspace(ctx, &mut workspace_lock) {
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
                run.status = TargetStatus::Cancelled;
                self.record_run(ctx.id, &run);
            }
            Ok(Ok(BuildStatus::Cancelled))
        };
        let status = match scheduled {
            Ok(Ok(status)) => status,
            Ok(Err(err)) => {
                tracing::error!(build = ctx.id, %err, "build failed to run");
                BuildStatus::Failed
            }
            Err(_) => {
                tracing::error!(
                    build = ctx.id,
                    "build failed: internal error in the scheduler"
                );
                BuildStatus::Failed
            }
        };
        // Settled here. One rule: a cancel accepted before this point (it returned true) makes
        // the build `cancelled`, whatever its targets reached; one after it is told the build
        // had finished. Targets keep their own statuses (and finished outputs stay cached).
        let status = {
            let mut settled = lock(&ctx.active.settled);
            *settled = true;
            if ctx.active.cancelled.load(Ordering::SeqCst) {
                BuildStatus::Cancelled
            } else {
                status
            }
        };
        self.flush_records();
        if let Err(err) = self.cas.flush_touches() {
            tracing::warn!(%err, "the artifacts' last-access times were not saved");
        }
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
        self.prune_history(ctx.config);
        self.events.publish(Event::BuildFinished {
            build_id: ctx.id.to_owned(),
            status,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        // Gone from the active builds before anyone is woken: a waiter that returns never sees
        // the build still running.
        lock(&self.active).remove(ctx.id);
        self.leave_queue(ctx.id);
        *lock(&ctx.active.finished) = true;
        ctx.active.done.notify_all();
    }
}
