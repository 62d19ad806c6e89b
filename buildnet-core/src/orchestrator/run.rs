//! Running one target: its cache key, a hit restored, or its command run and its outputs kept.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{
    log_path, outputs, BuildCtx, KeyComponents, Manifest, Orchestrator, ResolvedTarget, RunResult,
    TargetOutcome,
};
use crate::config::{Config, EnvMode};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::process::{self, Outcome, RunSpec};
use crate::state::{now_ms, TargetRun, TargetStatus};

impl Orchestrator {
    /// Runs one target; returns how it ended and, for a successful cacheable run, what is left
    /// to store (snapshotted already, so dependents may start before it is stored).
    pub(super) fn run_target(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        dep_keys: BTreeMap<String, String>,
    ) -> (TargetOutcome, Option<RunResult>) {
        let started = Instant::now();
        let mut run = TargetRun::pending(&target.name);
        run.status = TargetStatus::Running;
        run.started_at = Some(now_ms());
        self.events.publish(Event::TargetStarted {
            build_id: ctx.id.to_owned(),
            target: target.name.clone(),
        });
        let to_store = match self.execute(ctx, target, dep_keys, &mut run) {
            Ok(to_store) => to_store,
            Err(err) => {
                run.status = TargetStatus::Failed;
                run.error = Some(err.message().to_owned());
                None
            }
        };
        run.finished_at = Some(now_ms());
        run.duration_ms = Some(started.elapsed().as_millis() as i64);
        self.record_run(ctx.id, &run);
        self.publish_finished(ctx.id, &run);
        let outcome = TargetOutcome {
            key: run.cache_key.clone(),
            run,
        };
        (outcome, to_store)
    }

    /// A cache hit finished on the calling thread (the scheduler's): no worker hand-off for a
    /// target that runs nothing. `None` when the target must run a command (a miss, an uncached
    /// target, `--force`, or anything unexpected: the worker then does it all again and reports
    /// errors as usual). A hit's events and record are the same as through [`Self::run_target`].
    pub(super) fn try_hit(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        dep_keys: &BTreeMap<String, String>,
    ) -> Option<TargetOutcome> {
        if !target.cache || ctx.options.force || !ctx.modes.local_read {
            return None;
        }
        let started = Instant::now();
        self.sync_inputs(true);
        let (_, key) = self
            .cache_key(ctx.config, target, dep_keys.clone(), &ctx.vars)
            .ok()?;
        let manifest = self.store.cache_entry(&key).ok()??;
        let manifest: Manifest = serde_json::from_str(&manifest).ok()?;
        let mut run = TargetRun::pending(&target.name);
        run.started_at = Some(now_ms());
        match self.finish_hit(ctx, target, &key, &manifest, &mut run, true) {
            // The entry's blobs were gone: the worker runs the command (nothing was announced).
            Ok(()) if !run.cached => return None,
            Ok(()) => {}
            // A refused restore fails the target, as in `execute` (the entry is dropped).
            Err(err) => {
                self.events.publish(Event::TargetStarted {
                    build_id: ctx.id.to_owned(),
                    target: target.name.clone(),
                });
                run.status = TargetStatus::Failed;
                run.error = Some(err.message().to_owned());
            }
        }
        run.cache_key = Some(key.clone());
        run.finished_at = Some(now_ms());
        run.duration_ms = Some(started.elapsed().as_millis() as i64);
        self.record_run(ctx.id, &run);
        self.publish_finished(ctx.id, &run);
        Some(TargetOutcome {
            key: Some(key),
            run,
        })
    }

    /// Restores a cache entry's outputs; on success marks `run` as a cached success and
    /// publishes the hit (announcing the target's start first if `announce`). Leaves `run`
    /// untouched when the entry's blobs are gone (the entry is removed).
    pub(super) fn finish_hit(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        key: &str,
        manifest: &Manifest,
        run: &mut TargetRun,
        announce: bool,
    ) -> Result<()> {
        let restored = outputs::restore(&ctx.config.root, manifest, &self.cas, &self.hasher);
        if restored.is_err() {
            // Refused (a path leaving the workspace): this entry goes, the target fails now,
            // and the next build runs the command.
            self.store.cache_remove(key)?;
        }
        if !restored? {
            self.store.cache_remove(key)?;
            return Ok(());
        }
        if announce {
            self.events.publish(Event::TargetStarted {
                build_id: ctx.id.to_owned(),
                target: target.name.clone(),
            });
        }
        if ctx.options.replay_logs {
            self.replay_log(ctx.id, target, manifest.log.as_deref())?;
        }
        self.events.publish(Event::CacheHit {
            build_id: ctx.id.to_owned(),
            target: target.name.clone(),
            saved_ms: manifest.duration_ms,
        });
        run.status = TargetStatus::Succeeded;
        run.cached = true;
        Ok(())
    }

    /// Computes the key, restores a hit or runs the command; fills in `run`.
    fn execute(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        dep_keys: BTreeMap<String, String>,
        run: &mut TargetRun,
    ) -> Result<Option<RunResult>> {
        // Files a dependency's command wrote must be seen before this target's inputs are hashed.
        self.sync_inputs(true);
        let (components, key) = self.cache_key(ctx.config, target, dep_keys, &ctx.vars)?;
        run.cache_key = Some(key.clone());
        let log_path = log_path(&ctx.config.state_dir, ctx.id, &target.name);
        if target.cache && !ctx.options.force {
            if ctx.modes.local_read {
                if let Some(manifest) = self.store.cache_entry(&key)? {
                    let manifest: Manifest = serde_json::from_str(&manifest).map_err(|e| {
                        Error::internal(format!("cache entry {key} is unreadable: {e}"))
                    })?;
                    self.finish_hit(ctx, target, &key, &manifest, run, false)?;
                }
            }
            if !run.cached {
                self.remote_hit(ctx, target, &key, &components, run)?;
            }
            if run.cached {
                return Ok(None);
            }
        }
        run.warnings = target.input_warnings(components.files.keys());
        if target.is_noop() {
            // A Turborepo task whose package lacks the script: it orders and keys, runs nothing.
            run.status = TargetStatus::Succeeded;
            return Ok(None);
        }
        if let Some(engine) = &ctx.engine {
            match self.run_remotely(ctx, engine, target, &key, &components, run) {
                Ok(true) => return Ok(None),
                Ok(false) => {}
                Err(err)
                    if super::remote_exec::unreachable(&err)
                        && ctx
                            .config
                            .remote_execution
                            .as_ref()
                            .is_some_and(|r| r.fallback_local) =>
                {
                    self.events.publish(Event::BuildWarning {
                        build_id: ctx.id.to_owned(),
                        message: format!("{}: running locally: {err}", target.name),
                    });
                    run.remote_execution = None;
                }
                Err(err) => return Err(err),
            }
        }
        // Recorded as running only when a command really runs; a hit goes straight to its end.
        let _ = self.store.target_run_update(ctx.id, run);
        let spec = RunSpec {
            command: &target.command,
            cwd: &target.cwd,
            env: command_env(ctx.config, target, &key, &ctx.vars),
            // Every variable is set from the build's environment (the daemon's, or the one a
            // client sent), filtered in strict mode.
            clear_env: true,
            timeout: target.timeout,
            log_path: &log_path,
            redact: &ctx.secrets,
            running_dir: Some(&ctx.config.state_dir.join("running")),
        };
        let ran = Instant::now();
        let mut line_no = 0;
        let outcome = process::run(&spec, &ctx.active.stop, |stream, line| {
            line_no += 1;
            self.events.publish(Event::TargetLog {
                build_id: ctx.id.to_owned(),
                target: target.name.clone(),
                stream,
                line: line.to_owned(),
                line_no,
            })
        });
        self.note_command_ran();
        let outcome = outcome?;
        run.exit_code = outcome.exit_code();
        match outcome {
            Outcome::Exited(0) => {}
            Outcome::Exited(code) => {
                run.status = TargetStatus::Failed;
                run.error = Some(format!("`{}` exited with code {code}", target.command));
                return Ok(None);
            }
            Outcome::Signaled(sig) => {
                run.status = TargetStatus::Failed;
                run.error = Some(format!("`{}` was killed by signal {sig}", target.command));
                return Ok(None);
            }
            Outcome::TimedOut => {
                run.status = TargetStatus::Failed;
                run.error = Some(format!(
                    "timed out after {} ms",
                    target.timeout.unwrap_or_default().as_millis()
                ));
                return Ok(None);
            }
            Outcome::Cancelled => {
                run.status = TargetStatus::Cancelled;
                return Ok(None);
            }
        }
        run.status = TargetStatus::Succeeded;
        if !target.cache {
            return Ok(None);
        }
        let duration_ms = ran.elapsed().as_millis() as u64;
        let staged: Result<RunResult> = (|| {
            if let Some(task) = &target.task {
                // turbo's `.turbo/turbo-<task>.log`: among the outputs, so a hit restores it.
                let dest = target.cwd.join(&task.log_file);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
                }
                // The contents only: the stored log is private (0600), this copy is the
                // workspace's, with the mode any new file gets there (as a restore gives it).
                std::fs::File::open(&log_path)
                    .and_then(|mut from| {
                        std::io::copy(&mut from, &mut std::fs::File::create(&dest)?)
                    })
                    .map_err(|e| Error::io(dest.display(), e))?;
            }
            let paths = outputs::collect(&ctx.config.root, &target.cwd, &target.outputs)?;
            run.warnings.extend(target.output_warnings(&paths));
            Ok(RunResult {
                key,
                components,
                outputs: outputs::stage(&ctx.config.root, &paths, &self.cas)?,
                log: self.cas.stage_file(&log_path)?,
                duration_ms,
            })
        })();
        match staged {
            Ok(result) => Ok(Some(result)),
            // The command did its work: a full disk or an unreadable output costs the cache
            // entry, not the build.
            Err(err) => {
                tracing::info!(target = %target.name, %err, "outputs were not cached");
                run.warnings
                    .push(format!("outputs not cached: {}", err.message()));
                Ok(None)
            }
        }
    }

    /// Says that a target that succeeded (and was recorded so) could not be cached.
    pub(super) fn not_cached(&self, ctx: &BuildCtx<'_>, target: &str, err: &Error) {
        tracing::info!(target, %err, "outputs were not cached");
        self.events.publish(Event::BuildWarning {
            build_id: ctx.id.to_owned(),
            message: format!("{target} succeeded, but its outputs were not cached: {err}"),
        });
    }

    /// Stores a successful run's outputs and log under its key (when the build writes the
    /// local cache), then uploads them (when it writes the remote one).
    pub(super) fn store_result(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        result: RunResult,
    ) -> Result<()> {
        let stored = outputs::commit(result.outputs, &self.cas)?;
        let log_hash = result.log.hash.clone();
        self.cas.commit_staged(result.log)?;
        let manifest = Manifest {
            outputs: stored,
            log: Some(log_hash),
            duration_ms: result.duration_ms,
        };
        if ctx.modes.local_write {
            self.put_entry(&result.key, target, &manifest, &result.components)?;
        }
        self.upload(ctx, target, &result.key, &manifest);
        Ok(())
    }

    /// Records `manifest` as the local cache entry of `key`, with what the key was made of.
    pub(super) fn put_entry(
        &self,
        key: &str,
        target: &ResolvedTarget,
        manifest: &Manifest,
        components: &KeyComponents,
    ) -> Result<()> {
        let encode = |e: serde_json::Error| Error::internal(format!("encoding a cache entry: {e}"));
        let entry = serde_json::to_string(manifest).map_err(encode)?;
        let components = serde_json::to_string(components).map_err(encode)?;
        self.store.cache_put(key, &target.name, &entry, &components)
    }

    /// The key of `target` and what it was made of.
    pub(super) fn cache_key(
        &self,
        config: &Config,
        target: &ResolvedTarget,
        dep_keys: BTreeMap<String, String>,
        vars: &BTreeMap<String, String>,
    ) -> Result<(KeyComponents, String)> {
        let files = self.key_files(config, target)?;
        Ok(KeyComponents::gather(
            target,
            process::env::for_key(&target.env, vars),
            files,
            dep_keys,
        ))
    }

    /// The input files of `target`'s key: path relative to the workspace root -> blake3.
    pub(super) fn key_files(
        &self,
        config: &Config,
        target: &ResolvedTarget,
    ) -> Result<BTreeMap<String, String>> {
        if !target.cwd.is_dir() {
            return Err(Error::not_found(format!(
                "target {}: working directory {} does not exist",
                target.name,
                target.cwd.display()
            )));
        }
        let prefix = if target.cwd_rel == "." || target.cwd_rel.is_empty() {
            String::new()
        } else {
            format!("{}/", target.cwd_rel.trim_end_matches('/'))
        };
        let skip = std::slice::from_ref(&config.state_dir);
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        if target.default_walk {
            let tree = self.hasher.hash_tree_within(
                &config.root,
                &target.cwd,
                &target.input_globs(),
                skip,
            )?;
            files.extend(
                tree.files
                    .into_iter()
                    .map(|f| (format!("{prefix}{}", f.path), f.hash)),
            );
        }
        if !target.unignored_inputs.is_empty() {
            let tree = self.hasher.hash_tree_unignored(
                &config.root,
                &target.cwd,
                &target.unignored_globs(),
                skip,
            )?;
            files.extend(
                tree.files
                    .into_iter()
                    .map(|f| (format!("{prefix}{}", f.path), f.hash)),
            );
        }
        files.extend(self.root_input_files(config, target)?);
        Ok(files)
    }

    /// The files of `target`'s inputs named from the workspace root: a plain path is hashed
    /// alone (if it exists), a glob walks from its literal start.
    fn root_input_files(
        &self,
        config: &Config,
        target: &ResolvedTarget,
    ) -> Result<BTreeMap<String, String>> {
        let mut files = BTreeMap::new();
        if target.root_inputs.is_empty() {
            return Ok(files);
        }
        let excludes: Vec<&String> = target
            .root_inputs
            .iter()
            .filter(|g| g.starts_with('!'))
            .collect();
        for glob in target.root_inputs.iter().filter(|g| !g.starts_with('!')) {
            let is_glob = glob.contains(['*', '?', '[', '{']);
            if !is_glob {
                let path = config.root.join(glob);
                if path.is_file() && !excludes.iter().any(|e| &e[1..] == glob) {
                    let hash = self.hasher.hash_file(&path)?;
                    files.insert(glob.clone(), hash.to_hex().to_string());
                }
                continue;
            }
            let literal: Vec<&str> = glob
                .split('/')
                .take_while(|p| !p.contains(['*', '?', '[', '{']))
                .collect();
            let base = literal.join("/");
            let dir = config.root.join(&base);
            if !dir.is_dir() {
                continue;
            }
            let strip = |g: &str| -> String {
                if base.is_empty() {
                    g.to_owned()
                } else {
                    g.strip_prefix(&format!("{base}/")).unwrap_or(g).to_owned()
                }
            };
            let mut globs = vec![strip(glob)];
            globs.extend(excludes.iter().map(|e| format!("!{}", strip(&e[1..]))));
            let tree = self.hasher.hash_tree_within(
                &config.root,
                &dir,
                &globs,
                std::slice::from_ref(&config.state_dir),
            )?;
            for f in tree.files {
                let rel = if base.is_empty() {
                    f.path
                } else {
                    format!("{base}/{}", f.path)
                };
                files.insert(rel, f.hash);
            }
        }
        Ok(files)
    }

    /// Publishes a cached run's log as if it ran. The log stays in the artifact store (the
    /// manifest names it); no file is written for a hit.
    fn replay_log(&self, build_id: &str, target: &ResolvedTarget, log: Option<&str>) -> Result<()> {
        let Some(hash) = log else { return Ok(()) };
        if !self.events.has_subscribers() {
            return Ok(());
        }
        let Some(data) = self.cas.get(hash)? else {
            return Ok(());
        };
        for (i, line) in String::from_utf8_lossy(&data).lines().enumerate() {
            self.events.publish(Event::TargetLog {
                build_id: build_id.to_owned(),
                target: target.name.clone(),
                stream: process::Stream::Stdout,
                line: line.to_owned(),
                line_no: i as u64 + 1,
            });
        }
        Ok(())
    }
}

/// The environment of `target`'s command: `PATH` with the workspace's tools in front; the
/// build's variables (in strict mode only the pass-through list and those the target names);
/// for a Turborepo task the package manager's `npm_*` variables and `TURBO_HASH`.
fn command_env(
    config: &Config,
    target: &ResolvedTarget,
    key: &str,
    vars: &BTreeMap<String, String>,
) -> Vec<(String, std::ffi::OsString)> {
    let mut env: Vec<(String, std::ffi::OsString)> =
        vec![("PATH".into(), target.path_env(&config.root, vars))];
    let strict = target.env_mode == EnvMode::Strict;
    let names: Vec<String> = target.env.iter().chain(&target.pass_env).cloned().collect();
    for (k, v) in process::env::for_command(strict, &names, vars) {
        if k != "PATH" {
            env.push((k, v.into()));
        }
    }
    if let Some(task) = &target.task {
        for (k, v) in task.script_env(&config.root) {
            env.push((k, v.into()));
        }
        env.push(("TURBO_HASH".into(), short_hash(key).into()));
    }
    // A `buildnet build` run by this command must not wait for the workspace's build lock that
    // this very process holds.
    env.push((
        BUILD_OWNER_VAR.into(),
        std::process::id().to_string().into(),
    ));
    env
}

/// Names the process whose build runs a command (see `wait_workspace`).
pub(super) const BUILD_OWNER_VAR: &str = "BUILDNET_BUILD_OWNER";

/// The 16-hex form of a key that turbo users see (`TURBO_HASH`, dry runs, log lines).
pub fn short_hash(key: &str) -> &str {
    &key[..key.len().min(16)]
}
