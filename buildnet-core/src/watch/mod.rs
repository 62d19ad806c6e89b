//! Watch mode: the file watcher that rebuilds what changed and keeps the tree cache honest.
//!
//! One native watch (inotify, FSEvents, ...) per folder of the workspace, skipping
//! `node_modules`, `.git`, the state directory and ignored folders, so a big `node_modules` does
//! not eat the OS's watch budget. Every change is handled in order on one thread:
//!
//! 1. it invalidates the trees the hasher remembers for that path, at once;
//! 2. it is mapped to the targets whose inputs match it (outputs never match: they are
//!    excluded from inputs), and those targets plus their dependents wait in `pending`;
//! 3. once no change came for [`QUIET`] (or [`MAX_DELAY`] after the first one), one build of
//!    everything pending starts. A change during that build waits in `pending` and gives exactly
//!    one follow-up build when it ends.
//!
//! [`Syncer::sync`] makes sure every change made before it was called has been seen, as
//! Turborepo's daemon does: it writes a cookie file into a watched folder and waits until the
//! watcher reports it. Events of one watcher arrive in order, so by then every earlier change has
//! gone through step 1. When the OS refuses more watches (Linux's `fs.inotify.max_user_watches`),
//! or `BUILDNET_WATCH=poll` asks for it, the watcher says so and polls the tree's stats instead;
//! `sync` then runs a scan at once.
//!
//! The watcher knows no daemon: it asks the engine for what it needs through [`WatchHost`],
//! which the facade implements, and forgets changed trees in the [`TreeHasher`] it is given.
//! Files: [`native`] (OS watches), [`poll`] (the fallback), [`cookies`] (sync), [`trigger`]
//! (changes to builds).

mod cookies;
mod native;
mod poll;
mod trigger;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

pub use cookies::Syncer;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::hash::TreeHasher;
use crate::lock;

/// What the watcher needs of the engine (the facade implements it).
pub trait WatchHost: Send + Sync {
    /// The configuration in force.
    fn config(&self) -> Arc<Config>;
    /// Reads the configuration file again (it changed).
    fn reload_config(&self) -> Result<()>;
    /// Whether build `id` is queued or running.
    fn is_build_running(&self, id: &str) -> bool;
    /// Starts a build of `targets` because `paths` (some of them) changed; returns its id.
    fn request_build(&self, targets: &[String], paths: Vec<String>) -> Result<String>;
}

/// A build starts once no change came for this long...
pub const QUIET: Duration = Duration::from_millis(100);
/// ...or this long after the first change of a burst, whichever is first.
pub const MAX_DELAY: Duration = Duration::from_millis(1000);
/// How often the polling fallback scans the tree.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How the watcher learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// The OS's file notifications.
    Native,
    /// Stat scans every [`POLL_INTERVAL`].
    Poll,
}

/// What the watch thread is told.
enum Msg {
    /// Changed paths wait in [`Shared::changes`] (sent when it stops being empty).
    Changed,
    /// Events were lost (the OS queue overflowed): assume everything changed.
    Rescan,
    /// Cookie `n` was seen: every change before it has been delivered.
    Cookie(u64),
    /// A build of these targets was asked for after the sync that saw cookie `n`: changes to
    /// them seen before that cookie need no build of the watcher's own (later ones still do).
    Covered(Vec<String>, u64),
    Stop,
}

/// A running watcher. Stopped (and its threads joined) by [`Watcher::stop`] or on drop.
pub struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Changed paths not yet handled: bounded, so a storm of events (a `git checkout` of a large
/// tree) costs bounded memory. Past [`MAX_QUEUED_PATHS`] they are dropped and the watch loop
/// rescans instead, as it does when the OS's own queue overflows: nothing is missed.
#[derive(Default)]
pub(crate) struct Changes {
    paths: Vec<PathBuf>,
    overflowed: bool,
}

/// Changed paths held before the watcher gives up on them and rescans.
pub const MAX_QUEUED_PATHS: usize = 65_536;

pub(crate) struct Shared {
    tx: mpsc::Sender<Msg>,
    changes: Mutex<Changes>,
    mode: Mutex<WatchMode>,
    native: Mutex<Option<notify::RecommendedWatcher>>,
    poller: Mutex<Option<Poller>>,
    cookie_dir: PathBuf,
    next_cookie: AtomicU64,
    seen_cookie: Mutex<u64>,
    cookie_seen: Condvar,
    stopping: AtomicBool,
    root: PathBuf,
    state_dir: PathBuf,
}

pub(crate) struct Poller {
    wake: mpsc::Sender<Option<u64>>,
    thread: JoinHandle<()>,
}
impl Watcher {
    /// Starts watching `host`'s workspace. `hasher`'s tree cache is on while it runs.
    pub fn start(host: Arc<dyn WatchHost>, hasher: Arc<TreeHasher>) -> Result<Watcher> {
        let config = host.config();
        let root = config.root.clone();
        let state_dir = config.state_dir.clone();
        let cookie_dir = state_dir.join("cookies");
        std::fs::create_dir_all(&cookie_dir)
            .map_err(|e| Error::io(format!("creating {}", cookie_dir.display()), e))?;
        // Cookies left by an earlier process mean nothing now.
        if let Ok(entries) = std::fs::read_dir(&cookie_dir) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            tx,
            changes: Mutex::new(Changes::default()),
            mode: Mutex::new(WatchMode::Native),
            native: Mutex::new(None),
            poller: Mutex::new(None),
            cookie_dir,
            next_cookie: AtomicU64::new(0),
            seen_cookie: Mutex::new(0),
            cookie_seen: Condvar::new(),
            stopping: AtomicBool::new(false),
            root,
            state_dir,
        });
        let forced_poll = std::env::var("BUILDNET_WATCH").is_ok_and(|v| v == "poll");
        if forced_poll {
            tracing::info!("BUILDNET_WATCH=poll: watching by polling");
            shared.start_polling();
        } else if let Err(err) = shared.start_native() {
            tracing::warn!("{err}; watching by polling every {POLL_INTERVAL:?} instead");
            shared.start_polling();
        }
        // Only now: a change before the watches existed would never have been reported.
        hasher.enable_tree_cache();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("buildnet-watch".into())
            .spawn(move || trigger::WatchLoop::new(host, hasher, thread_shared).run(rx))
            .map_err(|e| Error::io("starting the watch thread", e))?;
        Ok(Watcher {
            shared,
            thread: Some(thread),
        })
    }

    pub fn mode(&self) -> WatchMode {
        *lock(&self.shared.mode)
    }

    /// A handle that syncs with this watcher (usable without holding the watcher).
    pub fn syncer(&self) -> Syncer {
        Syncer(Arc::clone(&self.shared))
    }

    /// Stops watching and joins the threads.
    pub fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        lock(&self.shared.native).take();
        if let Some(poller) = lock(&self.shared.poller).take() {
            drop(poller.wake);
            let _ = poller.thread.join();
        }
        let _ = self.shared.tx.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
impl Shared {
    /// Queues changed paths for the watch loop (in order with the messages sent after it).
    fn queue_paths(&self, paths: Vec<PathBuf>) {
        let mut changes = lock(&self.changes);
        let was_empty = changes.paths.is_empty() && !changes.overflowed;
        if changes.overflowed {
            return;
        }
        if changes.paths.len() + paths.len() > MAX_QUEUED_PATHS {
            changes.paths = Vec::new();
            changes.overflowed = true;
        } else {
            changes.paths.extend(paths);
        }
        drop(changes);
        if was_empty {
            let _ = self.tx.send(Msg::Changed);
        }
    }

    /// Takes what is queued: the paths, or `None` when there were too many (rescan).
    fn take_changes(&self) -> Option<Vec<PathBuf>> {
        let mut changes = lock(&self.changes);
        let taken = std::mem::take(&mut *changes);
        (!taken.overflowed).then_some(taken.paths)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}
