//! From changes to builds: each changed path forgets its trees in the hasher, is matched to
//! the targets whose inputs it is, and those targets and their dependents wait; once changes
//! stop for [`QUIET`] (or [`MAX_DELAY`] after the first), one build of them starts, and a change
//! during it gives exactly one follow-up build.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ignore::gitignore::Gitignore;

use super::{Msg, Shared, WatchHost, MAX_DELAY, QUIET};
use crate::config::Config;
use crate::hash::TreeHasher;
use crate::lock;
use crate::orchestrator::{ResolvedTarget, TargetGraph};
use crate::workspace;

/// Changed paths named in a `watch_triggered` event.
const PATHS_REPORTED: usize = 20;

/// A target's inputs, compiled for matching changed paths.
struct Matcher {
    name: String,
    cwd: PathBuf,
    include: Option<globset::GlobSet>,
    exclude: globset::GlobSet,
}

/// The watch thread's state.
pub(super) struct WatchLoop {
    host: Arc<dyn WatchHost>,
    hasher: Arc<TreeHasher>,
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
    pub(super) fn new(
        host: Arc<dyn WatchHost>,
        hasher: Arc<TreeHasher>,
        shared: Arc<Shared>,
    ) -> WatchLoop {
        let config = host.config();
        let mut this = WatchLoop {
            host,
            hasher,
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
        let root = config.root.clone();
        self.matchers = ResolvedTarget::resolve_all(&config, &names, Default::default())
            .into_iter()
            .flat_map(|t| {
                let matcher = |globs: Vec<String>, cwd: &PathBuf| {
                    crate::hash::compile_globs(&globs)
                        .ok()
                        .map(|(include, exclude)| Matcher {
                            name: t.name.clone(),
                            cwd: cwd.clone(),
                            include,
                            exclude,
                        })
                };
                let own = t
                    .default_walk
                    .then(|| matcher(t.input_globs(), &t.cwd))
                    .flatten();
                // Explicit Turborepo inputs (only those in folders the watcher sees count).
                let unignored = (!t.unignored_inputs.is_empty())
                    .then(|| matcher(t.unignored_globs(), &t.cwd))
                    .flatten();
                // Files named from the workspace root (a Turborepo task's global inputs).
                let from_root = (!t.root_inputs.is_empty())
                    .then(|| matcher(t.root_inputs.clone(), &root))
                    .flatten();
                own.into_iter().chain(unignored).chain(from_root)
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

    pub(super) fn run(mut self, rx: mpsc::Receiver<Msg>) {
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
            let msg = rx.recv_timeout(timeout);
            // Paths queued before this message was sent are handled before it (a cookie means
            // every earlier change was seen).
            if !matches!(msg, Ok(Msg::Stop)) {
                match self.shared.take_changes() {
                    Some(paths) if paths.is_empty() => {}
                    Some(paths) => self.changed(paths, false),
                    None => self.rescan(),
                }
            }
            match msg {
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Msg::Changed) => {}
                Ok(Msg::Rescan) => self.rescan(),
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
        self.hasher.disable_tree_cache();
    }

    /// Events were lost: every tree may have changed, and every target is pending.
    fn rescan(&mut self) {
        self.hasher.invalidate_all();
        let all: Vec<String> = self.config.targets.keys().cloned().collect();
        self.add_pending(all, "(rescan)".into());
    }

    /// Handles changed `paths`. `listed`: they come from listing folders just watched, which
    /// are not to be listed again (their subfolders were watched with them).
    fn changed(&mut self, paths: Vec<PathBuf>, listed: bool) {
        let config_files = self.config.sources();
        let mut new_dirs = Vec::new();
        for path in paths {
            if path.starts_with(&self.shared.state_dir)
                || path
                    .strip_prefix(&self.shared.root)
                    .map(workspace::in_skipped_dir)
                    .unwrap_or(true)
            {
                continue;
            }
            self.hasher.invalidate(&path);
            if config_files.contains(&path) {
                if !listed {
                    self.config_changed();
                }
                continue;
            }
            if !listed && path.is_dir() && !workspace::skipped_dir(&path, &self.shared.state_dir) {
                new_dirs.push(path.clone());
            }
            let rel = path
                .strip_prefix(&self.shared.root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let is_ignore_file = workspace::is_ignore_file(&path);
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
        match self.host.reload_config() {
            Ok(()) => {
                self.hasher.invalidate_all();
                self.compile(self.host.config());
                let all: Vec<String> = self.config.targets.keys().cloned().collect();
                self.add_pending(all, "buildnet.yaml".into());
            }
            Err(err) => {
                tracing::warn!(%err, "the configuration changed but does not load; kept the old one")
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
                .or_insert_with(|| workspace::read_ignores(d));
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
            if self.host.is_build_running(id) {
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
        match self.host.request_build(&targets, paths) {
            Ok(id) => self.running = Some(id),
            Err(err) => tracing::warn!(%err, "the watcher could not start a build"),
        }
    }
}
