//! Serving and stopping: the records of a serving daemon (its worker row and daemon file),
//! background maintenance, the file watcher and configuration reloads. Binding and serving HTTP
//! are the server's (its `start`); it hands the running server to
//! [`Daemon::serve_with`], which owns it from then on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Daemon, VERSION};
use crate::config::Config;
use crate::daemon_file::DaemonFile;
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::orchestrator::BuildOptions;
use crate::state::{now_ms, WorkerRecord};
use crate::watch::{Syncer, WatchHost, Watcher};
use crate::{lock, runtime};

/// How often a serving daemon sweeps expired keys and refreshes its worker record.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(15);
/// A WAL larger than this is checkpointed and truncated by the maintenance loop.
const WAL_TRUNCATE_BYTES: u64 = 16 * 1024 * 1024;
/// How long `stop()` waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// An HTTP server that is listening, as the server hands it over.
pub(crate) struct Serving {
    pub address: SocketAddr,
    /// Sent to start the graceful shutdown.
    pub shutdown: oneshot::Sender<()>,
    /// Turned `true` first, so long streams (WebSocket, SSE) end and do not hold the shutdown.
    pub stopping: tokio::sync::watch::Sender<bool>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// A serving daemon: its server and its maintenance task.
pub(super) struct Running {
    pub(super) serving: Serving,
    pub(super) started_at: Instant,
    maintenance: JoinHandle<()>,
    /// Held for as long as this daemon serves ([`crate::state_dir`]).
    _serve_lock: crate::state_dir::FileLock,
}

impl Daemon {
    /// Starts serving with the server `listen` makes for the configuration in force, unless
    /// this daemon serves already (its address is returned again). Refused while another live
    /// daemon serves the same state. Then records this daemon (worker row, daemon file), starts
    /// maintenance and, when configured, the watcher.
    pub(crate) fn serve_with(
        &self,
        listen: impl FnOnce(&Config) -> Result<Serving>,
    ) -> Result<SocketAddr> {
        self.check_open()?;
        let mut server = lock(&self.inner.server);
        if let Some(running) = server.as_ref() {
            return Ok(running.serving.address);
        }
        let config = self.config();
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
        // The kernel's word, not the file's: of two daemons starting at once, one gets it.
        let serve_lock = crate::state_dir::lock_for_serving(&config.state_dir, &config.root)?;
        let serving = listen(&config)?;
        let address = serving.address;
        let maintenance = runtime::get()?.spawn(maintenance_loop(self.clone()));
        let now = now_ms();
        let registered = self.register_worker(address, now).and_then(|_| {
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
            serving.task.abort();
            maintenance.abort();
            let _ = self.inner.store.worker_remove(&self.inner.worker_id);
            return Err(err);
        }
        *server = Some(Running {
            serving,
            started_at: Instant::now(),
            maintenance,
            _serve_lock: serve_lock,
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

    /// This daemon's row among the daemons serving the state.
    fn register_worker(&self, address: SocketAddr, started_at: i64) -> Result<()> {
        self.inner.store.worker_register(&WorkerRecord {
            id: self.inner.worker_id.clone(),
            pid: std::process::id(),
            host: address.ip().to_string(),
            port: address.port(),
            status: "serving".into(),
            started_at,
            last_heartbeat: now_ms(),
        })
    }

    /// Stops the HTTP server gracefully (open requests get [`SHUTDOWN_GRACE`] to finish).
    /// Stopping a stopped daemon does nothing.
    pub fn stop(&self) -> Result<()> {
        self.check_open()?;
        self.shut_down()
    }

    /// Stops the server and watcher, whether or not the daemon is closed.
    pub(super) fn shut_down(&self) -> Result<()> {
        if self.inner.forked() {
            // The threads that serve and watch exist only in the parent: nothing to stop here,
            // and their locks may be held forever in this copy of memory.
            return Ok(());
        }
        self.stop_watch();
        let Some(running) = lock(&self.inner.server).take() else {
            return Ok(());
        };
        let _ = running.serving.stopping.send(true);
        let _ = running.serving.shutdown.send(());
        running.maintenance.abort();
        let server_abort = running.serving.task.abort_handle();
        let maintenance = running.maintenance;
        let mut server = running.serving.task;
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

    /// The bound address while running.
    pub fn address(&self) -> Option<SocketAddr> {
        lock(&self.inner.server).as_ref().map(|r| r.serving.address)
    }

    /// Starts the file watcher (see [`crate::watch`]); nothing if it runs already.
    pub fn start_watch(&self) -> Result<()> {
        self.check_open()?;
        let mut watcher = lock(&self.inner.watcher);
        if watcher.is_none() {
            let host: Arc<dyn WatchHost> = Arc::new(self.clone());
            let started = Watcher::start(host, Arc::clone(&self.inner.hasher))?;
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

    /// Makes sure the watcher (if any) has seen every change made before this call; if it
    /// cannot tell, the remembered trees are dropped, so nothing stale is served. Returns the
    /// syncer and the cookie that proved it, for [`Syncer::covered`].
    pub(super) fn sync_watcher(&self) -> Option<(Syncer, u64)> {
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
}

/// What the file watcher asks of the engine.
impl WatchHost for Daemon {
    fn config(&self) -> Arc<Config> {
        Daemon::config(self)
    }

    fn reload_config(&self) -> Result<()> {
        Daemon::reload_config(self)
    }

    fn is_build_running(&self, id: &str) -> bool {
        Daemon::is_build_running(self, id)
    }

    /// A build the watcher asks for (it has seen its own changes: no sync).
    fn request_build(&self, targets: &[String], paths: Vec<String>) -> Result<String> {
        self.check_open()?;
        let (id, _) =
            self.inner
                .orchestrator
                .request(self.config(), targets, BuildOptions::default())?;
        self.inner.events.publish(Event::WatchTriggered {
            build_id: id.clone(),
            targets: targets.to_vec(),
            paths,
        });
        Ok(id)
    }
}

async fn maintenance_loop(daemon: Daemon) {
    let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        tick.tick().await;
        let d = daemon.clone();
        let result = tokio::task::spawn_blocking(move || {
            d.inner.store.sweep_expired()?;
            if !d.inner.store.worker_heartbeat(&d.inner.worker_id)? {
                // Pruned while this daemon slept (a suspend longer than the stale limit).
                let serving = lock(&d.inner.server).as_ref().map(|r| r.serving.address);
                if let Some(address) = serving {
                    d.register_worker(address, now_ms())?;
                }
            }
            // A spike of writes (a long reader kept checkpoints from resetting the WAL) is
            // folded back and the file truncated.
            let wal = format!("{}-wal", d.config().db_path.display());
            if std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES) {
                d.inner.store.checkpoint()?;
            }
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
