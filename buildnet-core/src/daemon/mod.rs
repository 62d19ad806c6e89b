//! The `Daemon` handle: the one facade every face (CLI, C ABI, Node, Python, Bun, Deno) uses.
//!
//! `Send + Sync` and cheap to clone (an `Arc` inside). Its methods are synchronous: state, lock
//! and hashing calls run on the caller's thread; `start`/`stop` drive the process's one runtime
//! (see [`crate::runtime`]). `start()` (written in the server module, which owns listening)
//! binds the HTTP server and `status()` reports the address it bound, so port 0 works; `stop()`
//! is graceful and idempotent.
//!
//! The facade owns every resource of one engine: the state database, the artifact store, the
//! hasher, the orchestrator, the event bus and the metrics that observe it, the serving records
//! and the watcher. Its methods are grouped by area: [`lifecycle`] (serving, stopping, watching,
//! reloading), [`builds`], [`state`] (keys and locks), [`served`] (the remote caches served) and
//! [`status`].

mod builds;
mod lifecycle;
pub(crate) mod served;
mod state;
mod status;

pub use builds::select_tasks;
pub(crate) use lifecycle::Serving;
pub use status::{ArtifactPage, ArtifactTotals, SlotView, Status, WatchStatus};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::cas::ArtifactStore;
use crate::config::{Config, Durability};
use crate::error::{Error, Result};
use crate::event_stream::EventStream;
use crate::events::{EventBus, EventEnvelope};
use crate::hash::TreeHasher;
use crate::metrics::Metrics;
use crate::orchestrator::Orchestrator;
use crate::runtime;
use crate::state::{Store, StoreOptions};

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
    /// Counters derived from every event published (the bus's observer) and HTTP answers.
    metrics: Arc<Metrics>,
    worker_id: String,
    opened_at: Instant,
    /// [`runtime::fork_generation`] when opened: a call from a forked child is refused.
    fork_generation: u64,
    server: Mutex<Option<lifecycle::Running>>,
    /// Small served blobs kept in memory (see [`served`]).
    hot: Mutex<served::HotBlobs>,
    watcher: Mutex<Option<crate::watch::Watcher>>,
    closed: AtomicBool,
    /// Tells every [`crate::event_stream::EventStream`] handed out that the daemon closed.
    closed_signal: tokio::sync::watch::Sender<bool>,
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

/// The version of this build of BuildNet.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Daemon {
    /// Opens the engine over `config`'s workspace: the state database and the artifact store.
    /// Nothing listens until [`Daemon::start`].
    pub fn open(config: Config) -> Result<Daemon> {
        crate::state_dir::prepare(&config.state_dir)?;
        let options = StoreOptions {
            durability: config.durability,
            ..StoreOptions::default()
        };
        let store = Arc::new(Store::open(&config.db_path, options)?);
        for orphan in crate::process::orphans::reap(&config.state_dir.join("running")) {
            tracing::warn!(
                pgid = orphan.pgid,
                owner = orphan.owner,
                killed = orphan.killed,
                command = orphan.command,
                "killed a command left running by a BuildNet process that died"
            );
        }
        let interrupted = store.builds_mark_interrupted(crate::daemon_file::pid_alive)?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "builds left running by a process that died were marked interrupted"
            );
        }
        let metrics = Arc::new(Metrics::default());
        let events =
            EventBus::observed_by(Arc::clone(&metrics) as Arc<dyn crate::events::Observer>);
        let cas = Arc::new(
            ArtifactStore::open(
                &config.state_dir.join("cas"),
                Arc::clone(&store),
                events.clone(),
            )?
            .with_fsync(config.durability == Durability::Full),
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
                metrics,
                worker_id: crate::state::random_token()?,
                opened_at: Instant::now(),
                fork_generation: runtime::fork_generation(),
                server: Mutex::new(None),
                hot: Mutex::new(served::HotBlobs::default()),
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
    pub fn events(&self) -> Result<EventStream> {
        self.check_open()?;
        Ok(EventStream::new(
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

    /// Counts one HTTP response (for `/metrics`).
    pub(crate) fn count_response(&self, status: u16) {
        self.inner.metrics.http_response(status);
    }

    /// `PRAGMA integrity_check` of the state database.
    pub fn integrity_check(&self) -> Result<String> {
        self.inner.store.integrity_check()
    }
}
