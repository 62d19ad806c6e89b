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
//! [`Watcher::sync`] makes sure every change made before it was called has been seen, as
//! Turborepo's daemon does: it writes a cookie file into a watched folder and waits until the
//! watcher reports it. Events of one watcher arrive in order, so by then every earlier change has
//! gone through step 1. When the OS refuses more watches (Linux's `fs.inotify.max_user_watches`),
//! or `BUILDNET_WATCH=poll` asks for it, the watcher says so and polls the tree's stats instead;
//! `sync` then runs a scan at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ignore::gitignore::Gitignore;
use notify::Watcher as _;
use serde::Serialize;

use crate::api::Daemon;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::lock;
use crate::orchestrator::{BuildOptions, ResolvedTarget, TargetGraph};

/// A build starts once no change came for this long...
pub const QUIET: Duration = Duration::from_millis(100);
/// ...or this long after the first change of a burst, whichever is first.
pub const MAX_DELAY: Duration = Duration::from_millis(1000);
/// How often the polling fallback scans the tree.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long [`Watcher::sync`] waits for its cookie.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Changed paths named in a `watch_triggered` event.
const PATHS_REPORTED: usize = 20;

/// How the watcher learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// The OS's file notifications.
    Native,
    /// Stat scans every [`POLL_INTERVAL`].
    Poll,
}

/// What the watch thread is told.
enum Msg {
    /// These paths changed.
    Paths(Vec<PathBuf>),
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

struct Shared {
    tx: mpsc::Sender<Msg>,
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

struct Poller {
    wake: mpsc::Sender<Option<u64>>,
    thread: JoinHandle<()>,
}

impl Watcher {
    /// Starts watching `daemon`'s workspace. The hasher's tree cache is on while it runs.
    pub fn start(daemon: Daemon) -> Result<Watcher> {
        let config = daemon.config();
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
        daemon.hasher().enable_tree_cache();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("buildnet-watch".into())
            .spawn(move || WatchLoop::new(daemon, thread_shared).run(rx))
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

/// See [`Syncer::sync`].
#[derive(Clone)]
pub struct Syncer(Arc<Shared>);

impl Syncer {
    /// Returns once every change made before this call has been seen (invalidated in the tree
    /// cache), with the number of the cookie that proved it; `None` after [`SYNC_TIMEOUT`] or
    /// once the watcher stopped.
    pub fn sync(&self) -> Option<u64> {
        let shared = &self.0;
        if shared.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let n = shared.next_cookie.fetch_add(1, Ordering::SeqCst) + 1;
        let mode = *lock(&shared.mode);
        let asked = match mode {
            WatchMode::Native => {
                let cookie = shared.cookie_dir.join(format!("{n}.cookie"));
                std::fs::write(&cookie, b"").is_ok()
            }
            WatchMode::Poll => lock(&shared.poller)
                .as_ref()
                .is_some_and(|p| p.wake.send(Some(n)).is_ok()),
        };
        if !asked {
            return None;
        }
        let deadline = Instant::now() + SYNC_TIMEOUT;
        let mut seen = lock(&shared.seen_cookie);
        while *seen < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            seen = shared
                .cookie_seen
                .wait_timeout(seen, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(n)
    }
}

impl Syncer {
    /// Tells the watcher that a build of `targets` started after the [`Syncer::sync`] that
    /// returned `cookie`: the changes to them it saw before that cookie are covered by it.
    pub fn covered(&self, targets: Vec<String>, cookie: u64) {
        let _ = self.0.tx.send(Msg::Covered(targets, cookie));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    /// Watches every folder of the workspace natively. Fails when the OS refuses a watch.
    fn start_native(self: &Arc<Self>) -> Result<()> {
        let tx = self.tx.clone();
        let cookie_dir = self.cookie_dir.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let event = match res {
                Ok(event) => event,
                Err(err) => {
                    tracing::warn!(%err, "file watcher error; rescanning");
                    let _ = tx.send(Msg::Rescan);
                    return;
                }
            };
            if event.need_rescan() {
                let _ = tx.send(Msg::Rescan);
                return;
            }
            if event.kind.is_access() {
                return;
            }
            let mut paths = Vec::with_capacity(event.paths.len());
            for path in event.paths {
                if path.parent() == Some(cookie_dir.as_path()) {
                    let n = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.parse::<u64>().ok());
                    if let (Some(n), true) = (n, event.kind.is_create()) {
                        let _ = tx.send(Msg::Cookie(n));
                        let _ = std::fs::remove_file(&path);
                    }
                } else {
                    paths.push(path);
                }
            }
            if !paths.is_empty() {
                let _ = tx.send(Msg::Paths(paths));
            }
        };
        let mut watcher = notify::recommended_watcher(handler)
            .map_err(|e| Error::internal(format!("cannot start the file watcher: {e}")))?;
        watcher
            .watch(&self.cookie_dir, notify::RecursiveMode::NonRecursive)
            .map_err(watch_error)?;
        for dir in watched_dirs(&self.root, &self.state_dir) {
            watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
                .map_err(watch_error)?;
        }
        *lock(&self.native) = Some(watcher);
        *lock(&self.mode) = WatchMode::Native;
        Ok(())
    }

    /// Watches new folders too (files made in them before the watch was added count as
    /// changed). Falls back to polling when the OS refuses.
    fn watch_new_dir(self: &Arc<Self>, dir: &Path) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        let dirs = watched_dirs(dir, &self.state_dir);
        let mut native = lock(&self.native);
        let Some(watcher) = native.as_mut() else {
            return changed;
        };
        for d in dirs {
            if let Err(err) = watcher.watch(&d, notify::RecursiveMode::NonRecursive) {
                let err = watch_error(err);
                drop(native);
                tracing::warn!("{err}; watching by polling every {POLL_INTERVAL:?} instead");
                lock(&self.native).take();
                self.start_polling();
                let _ = self.tx.send(Msg::Rescan);
                return changed;
            }
            if let Ok(entries) = std::fs::read_dir(&d) {
                changed.extend(entries.flatten().map(|e| e.path()));
            }
        }
        changed
    }

    fn start_polling(self: &Arc<Self>) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let (wake, wake_rx) = mpsc::channel::<Option<u64>>();
        let shared = Arc::clone(self);
        // The baseline is taken before this returns: a change made after the caller goes on
        // is always seen by the first scan.
        let mut snapshot = scan(&self.root, &self.state_dir);
        let thread = std::thread::Builder::new()
            .name("buildnet-poll".into())
            .spawn(move || loop {
                let cookie = match wake_rx.recv_timeout(POLL_INTERVAL) {
                    Ok(cookie) => cookie,
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let fresh = scan(&shared.root, &shared.state_dir);
                let changed = diff(&snapshot, &fresh);
                snapshot = fresh;
                if !changed.is_empty() {
                    let _ = shared.tx.send(Msg::Paths(changed));
                }
                if let Some(n) = cookie {
                    let _ = shared.tx.send(Msg::Cookie(n));
                }
            });
        match thread {
            Ok(thread) => {
                *lock(&self.poller) = Some(Poller { wake, thread });
                *lock(&self.mode) = WatchMode::Poll;
            }
            Err(err) => tracing::error!(%err, "could not start the polling watcher"),
        }
    }
}

fn watch_error(err: notify::Error) -> Error {
    match err.kind {
        notify::ErrorKind::MaxFilesWatch => Error::internal(
            "the OS limit on file watches was reached (on Linux raise it with \
             `sysctl fs.inotify.max_user_watches=524288`)",
        ),
        _ => Error::internal(format!("cannot watch the workspace: {err}")),
    }
}

/// Whether the walk of the workspace skips `path` (a folder).
fn skipped_dir(path: &Path, state_dir: &Path) -> bool {
    path.starts_with(state_dir)
        || path
            .file_name()
            .is_some_and(|n| n == "node_modules" || n == ".git")
}

fn walker(root: &Path, state_dir: &Path) -> ignore::Walk {
    let state_dir = state_dir.to_path_buf();
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .filter_entry(move |e| {
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && skipped_dir(e.path(), &state_dir))
        })
        .build()
}

/// The folders under `root` to watch.
fn watched_dirs(root: &Path, state_dir: &Path) -> Vec<PathBuf> {
    walker(root, state_dir)
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
        .map(|e| e.into_path())
        .collect()
}

type Snapshot = HashMap<PathBuf, (SystemTime, u64, u64)>;

/// Every file's modification time, size and inode.
fn scan(root: &Path, state_dir: &Path) -> Snapshot {
    use std::os::unix::fs::MetadataExt;
    walker(root, state_dir)
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let mtime = meta.modified().ok()?;
            Some((e.into_path(), (mtime, meta.len(), meta.ino())))
        })
        .collect()
}

fn diff(old: &Snapshot, new: &Snapshot) -> Vec<PathBuf> {
    let mut changed: Vec<PathBuf> = new
        .iter()
        .filter(|(p, s)| old.get(*p) != Some(s))
        .map(|(p, _)| p.clone())
        .collect();
    changed.extend(old.keys().filter(|p| !new.contains_key(*p)).cloned());
    changed
}

/// A target's inputs, compiled for matching changed paths.
struct Matcher {
    name: String,
    cwd: PathBuf,
    include: Option<globset::GlobSet>,
    exclude: globset::GlobSet,
}

/// The watch thread's state.
struct WatchLoop {
    daemon: Daemon,
    shared: Arc<Shared>,
    config: Arc<Config>,
    matchers: Vec<Matcher>,
    /// Each target's direct dependents.
    dependents: HashMap<String, Vec<String>>,
    /// Targets waiting for a build, each with the newest cookie seen when a change was added.
    pending: BTreeMap<String, u64>,
    cookies_seen: u64,
    paths: Vec<String>,
    first_change: Option<Instant>,
    last_change: Instant,
    /// The build the watcher started last, while it runs.
    running: Option<String>,
    /// Each folder's `.gitignore`/`.ignore` rules, read when first needed.
    ignores: HashMap<PathBuf, Option<Gitignore>>,
}

impl WatchLoop {
    fn new(daemon: Daemon, shared: Arc<Shared>) -> WatchLoop {
        let config = daemon.config();
        let mut this = WatchLoop {
            daemon,
            shared,
            config: Arc::clone(&config),
            matchers: Vec::new(),
            dependents: HashMap::new(),
            pending: BTreeMap::new(),
            cookies_seen: 0,
            paths: Vec::new(),
            first_change: None,
            last_change: Instant::now(),
            running: None,
            ignores: HashMap::new(),
        };
        this.compile(config);
        this
    }

    /// Prepares matching for `config`'s targets.
    fn compile(&mut self, config: Arc<Config>) {
        let names: Vec<String> = config.targets.keys().cloned().collect();
        self.matchers = ResolvedTarget::resolve_all(&config, &names)
            .into_iter()
            .filter_map(|t| {
                let (include, exclude) = crate::hash::compile_globs(&t.input_globs()).ok()?;
                Some(Matcher {
                    name: t.name,
                    cwd: t.cwd,
                    include,
                    exclude,
                })
            })
            .collect();
        self.dependents.clear();
        if let Ok(graph) = TargetGraph::resolve(&config, &[]) {
            for (target, deps) in &graph.deps {
                for dep in deps {
                    self.dependents
                        .entry(dep.clone())
                        .or_default()
                        .push(target.clone());
                }
            }
        }
        self.config = config;
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let timeout = match (self.first_change, &self.running) {
                // A build of the watcher's is running: the pending changes wait for its end.
                (_, Some(_)) => Duration::from_millis(50),
                (Some(first), None) => (self.last_change + QUIET)
                    .min(first + MAX_DELAY)
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(5)),
                (None, None) => Duration::from_secs(3600),
            };
            match rx.recv_timeout(timeout) {
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Msg::Paths(paths)) => self.changed(paths, false),
                Ok(Msg::Rescan) => {
                    self.daemon.hasher().invalidate_all();
                    let all: Vec<String> = self.config.targets.keys().cloned().collect();
                    self.add_pending(all, "(rescan)".into());
                }
                Ok(Msg::Covered(targets, n)) => {
                    self.pending
                        .retain(|t, seen| !(targets.contains(t) && *seen < n));
                    if self.pending.is_empty() {
                        self.first_change = None;
                        self.paths.clear();
                    }
                }
                Ok(Msg::Cookie(n)) => {
                    self.cookies_seen = self.cookies_seen.max(n);
                    let mut seen = lock(&self.shared.seen_cookie);
                    *seen = (*seen).max(n);
                    self.shared.cookie_seen.notify_all();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            self.maybe_build();
        }
        self.daemon.hasher().disable_tree_cache();
    }

    /// Handles changed `paths`. `listed`: they come from listing folders just watched, which
    /// are not to be listed again (their subfolders were watched with them).
    fn changed(&mut self, paths: Vec<PathBuf>, listed: bool) {
        let config_file = self.config.file.clone();
        let mut new_dirs = Vec::new();
        for path in paths {
            if path.starts_with(&self.shared.state_dir)
                || path
                    .strip_prefix(&self.shared.root)
                    .map(|rel| {
                        rel.components()
                            .any(|c| c.as_os_str() == "node_modules" || c.as_os_str() == ".git")
                    })
                    .unwrap_or(true)
            {
                continue;
            }
            self.daemon.hasher().invalidate(&path);
            if config_file.as_deref() == Some(path.as_path()) {
                if !listed {
                    self.config_changed();
                }
                continue;
            }
            if !listed && path.is_dir() && !skipped_dir(&path, &self.shared.state_dir) {
                new_dirs.push(path.clone());
            }
            let rel = path
                .strip_prefix(&self.shared.root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let is_ignore_file = path
                .file_name()
                .is_some_and(|n| n == ".gitignore" || n == ".ignore");
            if is_ignore_file {
                if let Some(parent) = path.parent() {
                    self.ignores.remove(parent);
                    // Folders it stopped ignoring need watches now.
                    if !listed {
                        new_dirs.push(parent.to_path_buf());
                    }
                }
            } else if self.ignored(&path, path.is_dir()) {
                continue;
            }
            let hit: Vec<String> = self
                .matchers
                .iter()
                .filter(|m| {
                    if is_ignore_file {
                        return path.parent().is_some_and(|p| m.cwd.starts_with(p))
                            || path.starts_with(&m.cwd);
                    }
                    let Ok(rel) = path.strip_prefix(&m.cwd) else {
                        return false;
                    };
                    m.include.as_ref().is_none_or(|g| g.is_match(rel)) && !m.exclude.is_match(rel)
                })
                .map(|m| m.name.clone())
                .collect();
            if !hit.is_empty() {
                self.add_pending(hit, rel);
            }
        }
        for dir in new_dirs {
            let inside = self.shared.watch_new_dir(&dir);
            if !inside.is_empty() {
                self.changed(inside, true);
            }
        }
    }

    fn config_changed(&mut self) {
        match self.daemon.reload_config() {
            Ok(()) => {
                self.daemon.hasher().invalidate_all();
                self.compile(self.daemon.config());
                let all: Vec<String> = self.config.targets.keys().cloned().collect();
                self.add_pending(all, "buildnet.yaml".into());
            }
            Err(err) => {
                tracing::warn!(%err, "buildnet.yaml changed but does not load; kept the old one")
            }
        }
    }

    /// Whether the ignore files from the workspace down to `path`'s folder ignore it (the
    /// deepest that says anything decides, as in git).
    fn ignored(&mut self, path: &Path, is_dir: bool) -> bool {
        let root = self.shared.root.clone();
        let mut dir = path.parent();
        while let Some(d) = dir {
            if !d.starts_with(&root) {
                break;
            }
            let rules = self
                .ignores
                .entry(d.to_path_buf())
                .or_insert_with(|| crate::hash::tree::read_ignores(d));
            if let Some(rules) = rules {
                let m = rules.matched_path_or_any_parents(path, is_dir);
                if !m.is_none() {
                    return m.is_ignore();
                }
            }
            if d == root {
                break;
            }
            dir = d.parent();
        }
        false
    }

    /// Adds `targets` and everything depending on them.
    fn add_pending(&mut self, targets: Vec<String>, path: String) {
        let mut stack = targets;
        let mut added = BTreeSet::new();
        while let Some(t) = stack.pop() {
            if added.insert(t.clone()) {
                self.pending.insert(t.clone(), self.cookies_seen);
                if let Some(ds) = self.dependents.get(&t) {
                    stack.extend(ds.iter().cloned());
                }
            }
        }
        if self.paths.len() < PATHS_REPORTED && !self.paths.contains(&path) {
            self.paths.push(path);
        }
        let now = Instant::now();
        self.first_change.get_or_insert(now);
        self.last_change = now;
    }

    /// Starts the pending build once the burst is over and the previous watch build ended.
    fn maybe_build(&mut self) {
        if let Some(id) = &self.running {
            if self.daemon.is_build_running(id) {
                return;
            }
            self.running = None;
        }
        let Some(first) = self.first_change else {
            return;
        };
        let now = Instant::now();
        if now < self.last_change + QUIET && now < first + MAX_DELAY {
            return;
        }
        let targets: Vec<String> = std::mem::take(&mut self.pending).into_keys().collect();
        let paths = std::mem::take(&mut self.paths);
        self.first_change = None;
        // Only targets the configuration still has.
        let targets: Vec<String> = targets
            .into_iter()
            .filter(|t| self.config.targets.contains_key(t))
            .collect();
        if targets.is_empty() {
            return;
        }
        tracing::info!(?targets, ?paths, "changes trigger a build");
        match self
            .daemon
            .request_build_from_watch(&targets, BuildOptions::default(), paths)
        {
            Ok(id) => self.running = Some(id),
            Err(err) => tracing::warn!(%err, "the watcher could not start a build"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_skips_state_dir_node_modules_git_and_ignored_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "src/a",
            "node_modules/x",
            ".git/objects",
            ".buildnet/cas",
            "dist",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "dist/\n").unwrap();
        std::fs::write(root.join("src/a/f.ts"), "x").unwrap();
        let mut dirs: Vec<String> = watched_dirs(root, &root.join(".buildnet"))
            .iter()
            .map(|d| d.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        assert_eq!(dirs, ["", "src", "src/a"]);
    }

    #[test]
    fn scan_diff_finds_added_changed_and_removed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let state = root.join(".buildnet");
        std::fs::write(root.join("a"), "1").unwrap();
        std::fs::write(root.join("b"), "1").unwrap();
        let before = scan(root, &state);
        std::fs::write(root.join("a"), "22").unwrap();
        std::fs::remove_file(root.join("b")).unwrap();
        std::fs::write(root.join("c"), "1").unwrap();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("ignored"), "1").unwrap();
        let mut changed = diff(&before, &scan(root, &state));
        changed.sort();
        assert_eq!(changed, [root.join("a"), root.join("b"), root.join("c")]);
    }
}
