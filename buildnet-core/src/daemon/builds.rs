//! Builds through the facade: asking for one (synced with the watcher first), waiting,
//! cancelling, records, logs, the graph and dry runs, and hashing the workspace.

use std::time::Duration;

use super::Daemon;
use crate::config::Config;
use crate::error::Result;
use crate::hash::TreeHash;
use crate::orchestrator::{BuildOptions, DryRunEntry, TargetGraph};
use crate::state::BuildRecord;

impl Daemon {
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

    /// Whether build `id` is queued or running in this process.
    pub fn is_build_running(&self, id: &str) -> bool {
        self.inner.orchestrator.is_running(id)
    }

    /// The stored log of `target` in build `build_id`: the file its command wrote, or for a
    /// cache hit the log kept with the cached outputs. `None` if it has none (yet).
    pub fn target_log(&self, build_id: &str, target: &str) -> Result<Option<Vec<u8>>> {
        self.target_log_in(&self.build(build_id)?, target)
    }

    /// [`Daemon::target_log`] for a build record already read.
    pub fn target_log_in(&self, record: &BuildRecord, target: &str) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        self.inner
            .orchestrator
            .target_log(&self.config().state_dir, record, target)
    }

    /// The log stored with the cache entry `key` (a cache hit's log, as its run left it).
    pub fn cached_log(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        self.inner.orchestrator.cached_log(key)
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
        self.inner.orchestrator.flush_records();
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

    /// The graph of `targets` with only the edges a build with `options` keeps.
    pub fn graph_for(&self, targets: &[String], options: &BuildOptions) -> Result<TargetGraph> {
        self.check_open()?;
        TargetGraph::resolve_with(&self.config(), targets, options.edges())
    }
}

/// The targets `turbo run <tasks>` asks for in a Turborepo workspace, run from `cwd`:
/// `filters` in turbo's `--filter` grammar (`affected` adds `...[base...head]`, the refs from
/// `TURBO_SCM_BASE`/`TURBO_SCM_HEAD`, else `GITHUB_BASE_REF`, else `main`...`HEAD`); with
/// neither, from inside a package, that package alone. Outside a Turborepo workspace the
/// names are targets and come back as given.
pub fn select_tasks(
    config: &Config,
    tasks: &[String],
    filters: &[String],
    affected: bool,
    cwd: &std::path::Path,
) -> Result<Vec<String>> {
    let Some(repo) = &config.repo else {
        if !filters.is_empty() || affected {
            return Err(crate::error::Error::invalid_argument(
                "--filter and --affected need a package-manager workspace with a turbo.json",
            ));
        }
        return Ok(tasks.to_vec());
    };
    let mut filters = filters.to_vec();
    if affected {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let base = var("TURBO_SCM_BASE")
            .or_else(|| var("GITHUB_BASE_REF").map(|b| format!("origin/{b}")))
            .unwrap_or_else(|| "main".into());
        let head = var("TURBO_SCM_HEAD").unwrap_or_else(|| "HEAD".into());
        filters.push(format!("...[{base}...{head}]"));
    }
    let packages = if filters.is_empty() {
        match repo.package_at(cwd) {
            Some(p) if p.name != crate::workspace::ROOT_PACKAGE => {
                std::collections::BTreeSet::from([p.name.clone()])
            }
            // A folder that is no package: the packages below it (all, at the root).
            _ => {
                let rel = cwd
                    .strip_prefix(&repo.root)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                let below: std::collections::BTreeSet<String> = repo
                    .packages
                    .by_name
                    .values()
                    .filter(|p| !rel.is_empty() && p.dir.starts_with(&format!("{rel}/")))
                    .map(|p| p.name.clone())
                    .collect();
                if below.is_empty() {
                    repo.packages.by_name.keys().cloned().collect()
                } else {
                    below
                }
            }
        }
    } else {
        let root = repo.root.clone();
        let mut changed =
            |from: &str, to: Option<&str>| crate::process::git::changed_files(&root, from, to);
        repo.select_packages(&filters, cwd, &mut changed)?
    };
    repo.entry_points(tasks, &packages)
}
