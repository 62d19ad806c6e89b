//! The `Daemon` handle: the one facade every face (CLI, C ABI, Node, Python, Bun, Deno) uses.
//!
//! `Send + Sync` and cheap to clone (an `Arc` inside). Its methods are synchronous: state, lock
//! and hashing calls run on the caller's thread; `start`/`stop` drive the process's one runtime
//! (see [`crate::runtime`]). `start()` binds the HTTP server and `status()` reports the address it
//! bound, so port 0 works; `stop()` is graceful and idempotent.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cas::ArtifactStore;
use crate::config::Config;
use crate::daemon_file::DaemonFile;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{Event, EventBus, EventEnvelope, StateOp};
use crate::hash::{TreeHash, TreeHasher};
use crate::metrics::CacheStats;
use crate::orchestrator::{BuildOptions, DryRunEntry, Orchestrator, QueueState, TargetGraph};
use crate::state::{now_ms, BuildRecord, KvEntry, Lock, Store, StoreOptions, WorkerRecord};
use crate::{lock, runtime};

/// How often a serving daemon sweeps expired keys and refreshes its worker record.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(15);
/// How long `stop()` waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Handle to one BuildNet engine over one workspace.
#[derive(Clone)]
pub struct Daemon {
    inner: Arc<Inner>,
}

struct Inner {
    config: RwLock<Arc<Config>>,
    store: Arc<Store>,
    cas: Arc<ArtifactStore>,
    hasher: Arc<TreeHasher>,
    orchestrator: Arc<Orchestrator>,
    events: EventBus,
    worker_id: String,
    opened_at: Instant,
    /// [`runtime::fork_generation`] when opened: a call from a forked child is refused.
    fork_generation: u64,
    server: Mutex<Option<Running>>,
    watcher: Mutex<Option<crate::watch::Watcher>>,
    closed: AtomicBool,
    /// Tells every [`crate::event_stream::EventStream`] handed out that the daemon closed.
    closed_signal: tokio::sync::watch::Sender<bool>,
}

struct Running {
    address: SocketAddr,
    started_at: Instant,
    shutdown: oneshot::Sender<()>,
    stopping: tokio::sync::watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    maintenance: JoinHandle<()>,
}

impl Inner {
    fn forked(&self) -> bool {
        self.fork_generation != runtime::fork_generation()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.forked() {
            // In a forked child the watcher and server threads do not exist: joining or aborting
            // them could wait forever. Their memory is left to the process's exit.
            let watcher = self.watcher.get_mut().map(Option::take).ok().flatten();
            std::mem::forget(watcher);
            let server = self.server.get_mut().map(Option::take).ok().flatten();
            std::mem::forget(server);
        }
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Daemon>();
};

/// A snapshot of the daemon, as `GET /api/v1/status` returns it.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct WatchStatus {
    pub enabled: bool,
    pub mode: Option<crate::watch::WatchMode>,
    /// Input trees walked, and answered from what the watcher vouches for, since open.
    pub tree_walks: u64,
    pub tree_cache_hits: u64,
}

/// One worker slot, as `GET /api/v1/workers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    pub slot: usize,
    pub busy: bool,
    pub build_id: Option<String>,
    pub target: Option<String>,
    pub since_ms: Option<i64>,
}

/// A page of the artifact store, least recently used first.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactPage {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub artifacts: Vec<crate::state::ArtifactRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactTotals {
    pub count: u64,
    pub bytes: u64,
}

/// The version of this build of BuildNet.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Daemon {
    /// Opens the engine over `config`'s workspace: the state database and the artifact store.
    /// Nothing listens until [`Daemon::start`].
    pub fn open(config: Config) -> Result<Daemon> {
        let options = StoreOptions {
            durability: config.durability,
            ..StoreOptions::default()
        };
        let store = Arc::new(Store::open(&config.db_path, options)?);
        let interrupted = store.builds_mark_interrupted(crate::daemon_file::pid_alive)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "builds left running by a process that died were marked interrupted"
            );
        }
        let events = EventBus::new();
        let cas = Arc::new(
            ArtifactStore::open(
                &config.state_dir.join("cas"),
                Arc::clone(&store),
                events.clone(),
            )?
            .with_fsync(config.durability == crate::state::Durability::Full),
        );
        let hasher = Arc::new(TreeHasher::new());
        let orchestrator = Arc::new(Orchestrator::new(
            Arc::clone(&store),
            Arc::clone(&cas),
            Arc::clone(&hasher),
            events.clone(),
        ));
        Ok(Daemon {
            inner: Arc::new(Inner {
                config: RwLock::new(Arc::new(config)),
                store,
                cas,
                hasher,
                orchestrator,
                events,
                worker_id: crate::state::random_token()?,
                opened_at: Instant::now(),
                fork_generation: runtime::fork_generation(),
                server: Mutex::new(None),
                watcher: Mutex::new(None),
                closed: AtomicBool::new(false),
                closed_signal: tokio::sync::watch::channel(false).0,
            }),
        })
    }

    /// Loads the configuration (the file at `path`, or the one found from the current directory)
    /// and opens the engine over it.
    pub fn open_path(path: Option<&Path>) -> Result<Daemon> {
        Daemon::open(Config::load(path)?)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.inner.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Subscribes to the event bus.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<EventEnvelope>> {
        self.inner.events.subscribe()
    }

    /// A pull-based stream of every event from now on (see [`crate::event_stream`]).
    pub fn events(&self) -> Result<crate::event_stream::EventStream> {
        self.check_open()?;
        Ok(crate::event_stream::EventStream::new(
            self.inner.events.subscribe(),
            self.inner.closed_signal.subscribe(),
        ))
    }

    /// The artifact store.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.inner.cas
    }

    /// `InvalidState` once the daemon is closed, or in a child forked after it was opened.
    pub fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::invalid_state("this buildnet daemon has been closed"));
        }
        if self.inner.forked() {
            return Err(Error::invalid_state(
                "this buildnet daemon was opened before fork() and cannot be used in the child; \
                 open a new one in the child process",
            ));
        }
        Ok(())
    }

    /// Binds the HTTP server and starts background maintenance. Returns the bound address.
    /// Starting a running daemon returns its address again.
    pub fn start(&self) -> Result<SocketAddr> {
        self.check_open()?;
        let mut server = lock(&self.inner.server);
        if let Some(running) = server.as_ref() {
            return Ok(running.address);
        }
        let config = self.config();
        let host = config.server.host.as_str();
        let ip: std::net::IpAddr = match host {
            "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
            other => other.parse().map_err(|_| {
                Error::config(format!(
                    "server.host {other:?} is not an IP address (or localhost)"
                ))
            })?,
        };
        if !ip.is_loopback() && config.server.token.is_none() {
            return Err(Error::new(
                ErrorCode::Unauthorized,
                format!(
                    "refusing to listen on {ip}, off loopback, without a token: \
                     set BUILDNET_TOKEN or server.token"
                ),
            ));
        }
        let existing = DaemonFile::read_live(&config.state_dir);
        if let Some(other) = existing.filter(|d| d.worker_id != self.inner.worker_id) {
            return Err(Error::new(
                ErrorCode::Busy,
                format!(
                    "another buildnet daemon (pid {}, http://{}) already serves {}",
                    other.pid,
                    other.address,
                    config.root.display()
                ),
            ));
        }
        let listener = std::net::TcpListener::bind((ip, config.server.port))
            .map_err(|e| Error::io(format!("cannot listen on {ip}:{}", config.server.port), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("configuring the listener", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        let rt = runtime::get()?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::io("registering the listener", e))?
        };
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let app = crate::server::service(self.clone(), address, stopping_rx);
        let server_task = rt.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = shutdown_rx.await;
                })
                .await
        });
        let maintenance = rt.spawn(maintenance_loop(self.clone()));
        let now = now_ms();
        let registered = self
            .inner
            .store
            .worker_register(&WorkerRecord {
                id: self.inner.worker_id.clone(),
                pid: std::process::id(),
                host: address.ip().to_string(),
                port: address.port(),
                status: "serving".into(),
                started_at: now,
                last_heartbeat: now,
            })
            .and_then(|_| {
                DaemonFile {
                    pid: std::process::id(),
                    worker_id: self.inner.worker_id.clone(),
                    address: address.to_string(),
                    version: VERSION.to_string(),
                    started_at: now,
                }
                .write(&config.state_dir)
            });
        if let Err(err) = registered {
            server_task.abort();
            maintenance.abort();
            let _ = self.inner.store.worker_remove(&self.inner.worker_id);
            return Err(err);
        }
        *server = Some(Running {
            address,
            started_at: Instant::now(),
            shutdown,
            stopping,
            server: server_task,
            maintenance,
        });
        drop(server);
        if config.watch {
            if let Err(err) = self.start_watch() {
                let _ = self.stop();
                return Err(err);
            }
        }
        tracing::info!(%address, workspace = %config.root.display(), "buildnet daemon listening");
        self.inner.events.publish(Event::DaemonStarted {
            address: address.to_string(),
        });
        Ok(address)
    }

    /// Stops the HTTP server gracefully (open requests get [`SHUTDOWN_GRACE`] to finish).
    /// Stopping a stopped daemon does nothing.
    pub fn stop(&self) -> Result<()> {
        self.check_open()?;
        self.shut_down()
    }

    /// Stops the server and watcher, whether or not the daemon is closed.
    fn shut_down(&self) -> Result<()> {
        if self.inner.forked() {
            // The threads that serve and watch exist only in the parent: nothing to stop here,
            // and their locks may be held forever in this copy of memory.
            return Ok(());
        }
        self.stop_watch();
        let Some(running) = lock(&self.inner.server).take() else {
            return Ok(());
        };
        let _ = running.stopping.send(true);
        let _ = running.shutdown.send(());
        running.maintenance.abort();
        let server_abort = running.server.abort_handle();
        let maintenance = running.maintenance;
        let mut server = running.server;
        let finished = runtime::block_on(async {
            // Both tasks hold the daemon: once they are over, dropping the last handle closes
            // the database at once (an embedder may delete the workspace right after).
            let _ = maintenance.await;
            let finished = tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
                .await
                .is_ok();
            if !finished {
                server.abort();
                let _ = server.await;
            }
            finished
        });
        match finished {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("connections still open after the grace period were closed")
            }
            // Could not wait (called from inside the runtime): stop the server anyway.
            Err(_) => server_abort.abort(),
        }
        // The records go whatever happened above, so no later start finds a stale daemon.
        let config = self.config();
        DaemonFile::remove_if_ours(&config.state_dir, &self.inner.worker_id);
        self.inner.store.worker_remove(&self.inner.worker_id)?;
        finished?;
        tracing::info!("buildnet daemon stopped");
        self.inner.events.publish(Event::DaemonStopped);
        Ok(())
    }

    /// Cancels running builds (recorded as cancelled), stops the server (if running) and makes
    /// every later call fail with `InvalidState`.
    pub fn close(&self) -> Result<()> {
        self.mark_closed();
        if self.inner.forked() {
            return Ok(());
        }
        self.inner.orchestrator.cancel_all();
        self.shut_down()
    }

    /// The first, instant part of [`Daemon::close`]: every later call fails with
    /// `InvalidState` and every event stream handed out ends. Faces call it on their own thread
    /// before the rest of `close` (which may wait for builds to stop) runs elsewhere.
    pub fn mark_closed(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.closed_signal.send_replace(true);
    }

    /// Whether [`Daemon::close`] (or [`Daemon::mark_closed`]) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Waits until no build is queued or running in this process, then [`Daemon::close`]s: for
    /// a handle its owner dropped while a build it asked for may still be awaited elsewhere.
    /// Blocks; call it off any event loop.
    pub fn close_when_idle(&self) -> Result<()> {
        while !self.is_closed() {
            let queue = self.inner.orchestrator.queue_state();
            let Some(id) = queue.running.into_iter().chain(queue.queued).next() else {
                break;
            };
            // Returns when that build ends (an error only says it is already gone).
            let _ = self.inner.orchestrator.wait(&id, None);
        }
        self.close()
    }

    /// The bound address while running.
    pub fn address(&self) -> Option<SocketAddr> {
        lock(&self.inner.server).as_ref().map(|r| r.address)
    }

    /// A snapshot of the daemon's state.
    pub fn status(&self) -> Result<Status> {
        self.check_open()?;
        let config = self.config();
        let (address, uptime) = match lock(&self.inner.server).as_ref() {
            Some(r) => (Some(r.address.to_string()), r.started_at.elapsed()),
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
            cache: self.inner.events.metrics().cache(),
            slots: config.concurrency,
            watch: self.watch_status(),
        })
    }

    // ----- watch mode -----

    /// Starts the file watcher (see [`crate::watch`]); nothing if it runs already.
    pub fn start_watch(&self) -> Result<()> {
        self.check_open()?;
        let mut watcher = lock(&self.inner.watcher);
        if watcher.is_none() {
            let started = crate::watch::Watcher::start(self.clone())?;
            let syncer = started.syncer();
            let hasher = Arc::clone(&self.inner.hasher);
            // Each build syncs again when it takes its turn, and after commands ran: what earlier
            // builds and its own dependencies wrote is seen before its inputs are hashed.
            self.inner
                .orchestrator
                .set_sync_hook(Some(Arc::new(move || {
                    if syncer.sync().is_none() {
                        hasher.invalidate_all();
                    }
                })));
            *watcher = Some(started);
        }
        Ok(())
    }

    /// Stops the file watcher, if it runs.
    pub fn stop_watch(&self) {
        self.inner.orchestrator.set_sync_hook(None);
        let watcher = lock(&self.inner.watcher).take();
        drop(watcher);
    }

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

    pub(crate) fn hasher(&self) -> &TreeHasher {
        &self.inner.hasher
    }

    /// Makes sure the watcher (if any) has seen every change made before this call; if it
    /// cannot tell, the remembered trees are dropped, so nothing stale is served. Returns the
    /// syncer and the cookie that proved it, for [`crate::watch::Syncer::covered`].
    fn sync_watcher(&self) -> Option<(crate::watch::Syncer, u64)> {
        let syncer = lock(&self.inner.watcher).as_ref().map(|w| w.syncer())?;
        match syncer.sync() {
            Some(cookie) => Some((syncer, cookie)),
            None => {
                tracing::warn!("the file watcher did not confirm in time; rehashing inputs");
                self.inner.hasher.invalidate_all();
                None
            }
        }
    }

    /// Reads the configuration file again. The server keeps its address (a changed host or port
    /// needs a restart, which is logged); everything else takes effect at once.
    pub fn reload_config(&self) -> Result<()> {
        self.check_open()?;
        let current = self.config();
        let fresh = current.reload()?;
        if fresh.db_path != current.db_path || fresh.state_dir != current.state_dir {
            return Err(Error::config(
                "state_dir and BUILDNET_DB cannot change while the daemon runs; restart it",
            ));
        }
        if fresh.server.host != current.server.host || fresh.server.port != current.server.port {
            tracing::warn!("server.host/server.port changed: restart the daemon to apply");
        }
        let targets = fresh.targets.len();
        *self.inner.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        tracing::info!(targets, "configuration reloaded");
        self.inner.events.publish(Event::ConfigReloaded { targets });
        Ok(())
    }

    // ----- key-value state -----

    pub fn get_state(&self, key: &str) -> Result<Option<String>> {
        self.check_open()?;
        self.inner.store.kv_get(key)
    }

    pub fn set_state(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<()> {
        self.check_open()?;
        self.inner.store.kv_set(key, value, ttl_ms)?;
        self.inner.events.publish(Event::StateChanged {
            key: key.to_owned(),
            op: StateOp::Set,
        });
        Ok(())
    }

    /// Deletes `key`; returns whether it was there.
    pub fn delete_state(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        let existed = self.inner.store.kv_delete(key)?;
        if existed {
            self.inner.events.publish(Event::StateChanged {
                key: key.to_owned(),
                op: StateOp::Delete,
            });
        }
        Ok(existed)
    }

    pub fn list_state(&self, prefix: &str, limit: usize) -> Result<Vec<KvEntry>> {
        self.check_open()?;
        self.inner.store.kv_list(prefix, limit)
    }

    // ----- locks -----

    pub fn acquire_lock(&self, resource: &str, ttl_ms: u64) -> Result<Option<Lock>> {
        self.check_open()?;
        let lock = self.inner.store.acquire_lock(resource, ttl_ms)?;
        if let Some(l) = &lock {
            self.inner.events.publish(Event::LockAcquired {
                resource: l.resource.clone(),
                fence: l.fence,
            });
        }
        Ok(lock)
    }

    pub fn release_lock(&self, resource: &str, token: &str) -> Result<bool> {
        self.check_open()?;
        let released = self.inner.store.release_lock(resource, token)?;
        if released {
            self.inner.events.publish(Event::LockReleased {
                resource: resource.to_owned(),
            });
        }
        Ok(released)
    }

    pub fn extend_lock(&self, resource: &str, token: &str, ttl_ms: u64) -> Result<bool> {
        self.check_open()?;
        self.inner.store.extend_lock(resource, token, ttl_ms)
    }

    pub fn list_locks(&self) -> Result<Vec<Lock>> {
        self.check_open()?;
        self.inner.store.list_locks()
    }

    // ----- hashing -----

    /// Hashes the workspace files matching `globs` (all files when empty), honouring
    /// `.gitignore` and skipping the state directory, with the daemon's stat cache (loaded
    /// from and saved to the state database, as builds do).
    pub fn hash_workspace(&self, globs: &[String]) -> Result<TreeHash> {
        self.check_open()?;
        let config = self.config();
        self.inner.orchestrator.with_persisted_stats(|| {
            self.inner.hasher.hash_tree(
                &config.root,
                globs,
                std::slice::from_ref(&config.state_dir),
            )
        })
    }

    // ----- builds -----

    /// Starts a build of `targets` (every target when empty) and their dependencies; returns
    /// the build id at once. An unknown target or a cycle fails here, before anything runs.
    pub fn request_build(&self, targets: &[String], options: BuildOptions) -> Result<String> {
        self.check_open()?;
        // Synced first: a `buildnet.yaml` edited just before is reloaded by then.
        let synced = self.sync_watcher();
        let (id, order) = self
            .inner
            .orchestrator
            .request(self.config(), targets, options)?;
        // The build covers the changes the watcher saw before the sync; none after it.
        if let Some((syncer, cookie)) = synced {
            syncer.covered(order, cookie);
        }
        Ok(id)
    }

    /// A build the watcher asks for (it has seen its own changes: no sync).
    pub(crate) fn request_build_from_watch(
        &self,
        targets: &[String],
        options: BuildOptions,
        paths: Vec<String>,
    ) -> Result<String> {
        self.check_open()?;
        let (id, _) = self
            .inner
            .orchestrator
            .request(self.config(), targets, options)?;
        self.inner.events.publish(Event::WatchTriggered {
            build_id: id.clone(),
            targets: targets.to_vec(),
            paths,
        });
        Ok(id)
    }

    /// Whether build `id` is queued or running in this process.
    pub fn is_build_running(&self, id: &str) -> bool {
        self.inner.orchestrator.is_running(id)
    }

    /// The daemons registered in this workspace's state (normally this one).
    pub fn daemons(&self) -> Result<Vec<WorkerRecord>> {
        self.check_open()?;
        self.inner.store.workers()
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

    /// The stored log of `target` in build `build_id`: the file its command wrote, or for a
    /// cache hit the log kept with the cached outputs. `None` if it has none (yet).
    pub fn target_log(&self, build_id: &str, target: &str) -> Result<Option<Vec<u8>>> {
        self.target_log_in(&self.build(build_id)?, target)
    }

    /// [`Daemon::target_log`] for a build record already read.
    pub fn target_log_in(&self, record: &BuildRecord, target: &str) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        let build_id = record.id.as_str();
        let Some(run) = record.targets.iter().find(|t| t.target == target) else {
            return Err(Error::not_found(format!(
                "build {build_id} has no target {target:?}"
            )));
        };
        let path = crate::orchestrator::log_path(&self.config().state_dir, build_id, target);
        match std::fs::read(&path) {
            Ok(data) => return Ok(Some(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path.display(), e)),
        }
        if !run.cached {
            return Ok(None);
        }
        let Some(key) = &run.cache_key else {
            return Ok(None);
        };
        let Some(manifest) = self.inner.store.cache_entry(key)? else {
            return Ok(None);
        };
        let manifest: crate::orchestrator::Manifest = serde_json::from_str(&manifest)
            .map_err(|e| Error::internal(format!("cache entry {key} is unreadable: {e}")))?;
        match manifest.log {
            Some(hash) => self.inner.cas.get(&hash),
            None => Ok(None),
        }
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
        Ok(self.inner.events.metrics().render(&crate::metrics::Gauges {
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

    /// Counts one HTTP response (for `/metrics`).
    pub(crate) fn count_response(&self, status: u16) {
        self.inner.events.metrics().http_response(status);
    }

    /// Waits for build `id` to finish (at most `timeout`; `Timeout` error after it).
    pub fn wait_build(&self, id: &str, timeout: Option<Duration>) -> Result<BuildRecord> {
        self.check_open()?;
        self.inner.orchestrator.wait(id, timeout)
    }

    /// Cancels build `id`: running commands are stopped, nothing new starts. `false` if it
    /// had already finished.
    pub fn cancel_build(&self, id: &str) -> Result<bool> {
        self.check_open()?;
        self.inner.orchestrator.cancel(id)
    }

    /// The record of build `id`, finished or not.
    pub fn build(&self, id: &str) -> Result<BuildRecord> {
        self.check_open()?;
        self.inner.orchestrator.record(id)
    }

    /// The most recent builds, newest first (without their target runs).
    pub fn list_builds(&self, limit: usize) -> Result<Vec<BuildRecord>> {
        self.check_open()?;
        self.inner.store.builds_recent(limit)
    }

    /// For each target of the graph: would it be a cache hit, and if not, what changed.
    pub fn dry_run(&self, targets: &[String], options: &BuildOptions) -> Result<Vec<DryRunEntry>> {
        self.check_open()?;
        self.inner
            .orchestrator
            .dry_run(&self.config(), targets, options)
    }

    /// The resolved target graph of `targets` (every target when empty).
    pub fn graph(&self, targets: &[String]) -> Result<TargetGraph> {
        self.check_open()?;
        TargetGraph::resolve(&self.config(), targets)
    }

    /// `PRAGMA integrity_check` of the state database.
    pub fn integrity_check(&self) -> Result<String> {
        self.inner.store.integrity_check()
    }
}

async fn maintenance_loop(daemon: Daemon) {
    let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        tick.tick().await;
        let d = daemon.clone();
        let result = tokio::task::spawn_blocking(move || {
            d.inner.store.sweep_expired()?;
            d.inner.store.worker_heartbeat(&d.inner.worker_id)?;
            let max = d.config().cache.max_bytes;
            d.inner.cas.gc(max).map(|_| ())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "maintenance failed"),
            Err(err) => tracing::warn!(%err, "maintenance task failed"),
        }
    }
}
