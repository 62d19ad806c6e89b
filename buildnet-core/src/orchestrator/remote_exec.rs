//! Targets executed by a Remote Execution API engine (`remote_execution` in the config). After
//! a local and remote-cache miss, a target becomes an REAPI action: its input root is a Merkle
//! tree of its input files, its dependencies' outputs and the configured `inputs` (tools such
//! as `node_modules`); its Command is `/bin/sh -c <command>` in its folder, with its declared
//! variables. The engine's action cache is asked first; on a miss the blobs it lacks are
//! uploaded and the action executed. The outputs (files, and folders as `Tree`s) come back
//! into the local artifact store, each checked against its digest, become the target's local
//! cache entry and are restored as a hit would be.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{log_path, outputs, BuildCtx, KeyComponents, Manifest, Orchestrator, ResolvedTarget};
use crate::config::{Config, RemoteExecutionConfig};
use crate::error::{Error, ErrorCode, Result};
use crate::events::Event;
use crate::lock;
use crate::orchestrator::outputs::OutputFile;
use crate::process::Stream;
use crate::reapi::client::{Engine, Source};
use crate::reapi::merkle::{self, TreeFile};
use crate::reapi::{encode, re, Digest};
use crate::state::{RemoteExecution, TargetRun, TargetStatus};

use super::remote_parts::{output_matcher, output_paths, remote_env, working_dir};

/// Outputs remembered by key (for dependents' input roots), at most.
const MAX_REMEMBERED: usize = 100_000;

/// What the orchestrator keeps between builds for remote execution.
#[derive(Default)]
pub(super) struct RemoteExec {
    engine: Mutex<Option<Engine>>,
    /// blake3 of a file's contents -> its REAPI digest (SHA-256), so each is read once.
    digests: Mutex<HashMap<String, Digest>>,
    /// A target's key -> its outputs (paths from the workspace root), as the engine knows them.
    outputs: Mutex<HashMap<String, Arc<Vec<TreeFile>>>>,
}

impl RemoteExec {
    /// The engine builds use now (`None`: execution is local), made once per address.
    pub(super) fn engine(&self, config: &Config, local: bool) -> Result<Option<Engine>> {
        let Some(remote) = config.remote_execution.as_ref().filter(|_| !local) else {
            return Ok(None);
        };
        let mut held = lock(&self.engine);
        if let Some(e) = held
            .as_ref()
            .filter(|e| e.url() == remote.url && e.instance() == remote.instance)
        {
            return Ok(Some(e.clone()));
        }
        let engine = Engine::new(&remote.url, &remote.instance, Duration::from_secs(60))?;
        *held = Some(engine.clone());
        Ok(Some(engine))
    }

    fn remember(&self, key: &str, files: Vec<TreeFile>) {
        let mut held = lock(&self.outputs);
        if held.len() >= MAX_REMEMBERED {
            held.clear();
        }
        held.insert(key.to_owned(), Arc::new(files));
    }
}

/// An action ready to be looked up or executed.
struct Action {
    digest: Digest,
    /// Every blob it needs (folders, files, the Command, the Action itself).
    blobs: Vec<(Digest, Source)>,
}

impl Orchestrator {
    /// The digest of the blob whose blake3 is `blake3`, read from `path` the first time.
    fn digest_of(&self, blake3: &str, path: &std::path::Path) -> Result<Digest> {
        if let Some(d) = lock(&self.remote_exec.digests).get(blake3) {
            return Ok(d.clone());
        }
        let d = crate::reapi::digest_file(path).map_err(|e| Error::io(path.display(), e))?;
        lock(&self.remote_exec.digests).insert(blake3.to_owned(), d.clone());
        Ok(d)
    }

    /// The outputs of the dependency whose key is `key`: those the engine sent, else those of
    /// its local cache entry. `None` when neither is known (the action cannot be formed).
    fn dep_outputs(&self, key: &str) -> Result<Option<Arc<Vec<TreeFile>>>> {
        if let Some(files) = lock(&self.remote_exec.outputs).get(key) {
            return Ok(Some(files.clone()));
        }
        let Some(entry) = self.store.cache_entry(key)? else {
            return Ok(None);
        };
        let manifest: Manifest = serde_json::from_str(&entry)
            .map_err(|e| Error::internal(format!("cache entry {key} is unreadable: {e}")))?;
        let mut files = Vec::with_capacity(manifest.outputs.len());
        for o in &manifest.outputs {
            let blob = self.cas.blob_path(&o.hash)?;
            files.push(TreeFile {
                path: o.path.clone(),
                digest: self.digest_of(&o.hash, &blob)?,
                executable: o.executable,
            });
        }
        let files = Arc::new(files);
        lock(&self.remote_exec.outputs).insert(key.to_owned(), files.clone());
        Ok(Some(files))
    }

    /// The REAPI action of `target`, or `None` when a dependency's outputs are unknown.
    #[allow(deprecated)] // Command.platform: what servers before v2.2 read
    fn remote_action(
        &self,
        config: &Config,
        vars: &BTreeMap<String, String>,
        remote: &RemoteExecutionConfig,
        target: &ResolvedTarget,
        key: &str,
        components: &KeyComponents,
    ) -> Result<Option<Action>> {
        let root = &config.root;
        let mut files: BTreeMap<String, TreeFile> = BTreeMap::new();
        let mut blobs: Vec<(Digest, Source)> = Vec::new();
        let mut add = |this: &Self, rel: &str, blake3: &str| -> Result<(Digest, Source)> {
            let full = root.join(rel);
            let digest = this.digest_of(blake3, &full)?;
            let executable = outputs::is_executable(&full);
            files.insert(
                rel.to_owned(),
                TreeFile {
                    path: rel.to_owned(),
                    digest: digest.clone(),
                    executable,
                },
            );
            Ok((digest, Source::File(full)))
        };
        if !remote.inputs.is_empty() {
            let skip = std::slice::from_ref(&config.state_dir);
            let tree = self
                .hasher
                .hash_tree_unignored(root, root, &remote.inputs, skip)?;
            for f in &tree.files {
                blobs.push(add(self, &f.path, &f.hash)?);
            }
        }
        for (rel, blake3) in &components.files {
            blobs.push(add(self, rel, blake3)?);
        }
        for dep_key in components.deps.values() {
            let Some(outs) = self.dep_outputs(dep_key)? else {
                return Ok(None);
            };
            for f in outs.iter() {
                // Restored in the workspace by now; the upload checks it is still those bytes.
                blobs.push((f.digest.clone(), Source::File(root.join(&f.path))));
                files.insert(f.path.clone(), f.clone());
            }
        }
        let files: Vec<TreeFile> = files.into_values().collect();
        let cwd = working_dir(target);
        let output_paths = output_paths(target);
        // Output folders' parents must exist for the command; the worker makes them, and the
        // working directory is in the input root even when empty.
        let dirs: Vec<&str> = if cwd.is_empty() {
            Vec::new()
        } else {
            vec![cwd.as_str()]
        };
        let input = merkle::input_root(&files, &dirs).map_err(Error::invalid_argument)?;
        for (hash, bytes) in input.directories {
            let size = bytes.len() as i64;
            blobs.push((
                Digest {
                    hash,
                    size_bytes: size,
                },
                Source::Bytes(Arc::new(bytes)),
            ));
        }
        let platform = (!remote.platform.is_empty()).then(|| re::Platform {
            properties: remote
                .platform
                .iter()
                .map(|(k, v)| re::platform::Property {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        });
        let command = re::Command {
            arguments: vec!["/bin/sh".into(), "-c".into(), target.command.clone()],
            environment_variables: remote_env(config, vars, target, key)
                .into_iter()
                .map(|(name, value)| re::command::EnvironmentVariable { name, value })
                .collect(),
            output_paths,
            working_directory: cwd,
            platform: platform.clone(),
            ..Default::default()
        };
        let (command_digest, command_bytes) = encode(&command);
        blobs.push((
            command_digest.clone(),
            Source::Bytes(Arc::new(command_bytes)),
        ));
        let timeout = target
            .timeout
            .unwrap_or(Duration::from_millis(remote.timeout_ms));
        let action = re::Action {
            command_digest: Some(command_digest),
            input_root_digest: Some(input.digest),
            timeout: Some(crate::reapi::pb::Duration {
                seconds: timeout.as_secs() as i64,
                nanos: timeout.subsec_nanos() as i32,
            }),
            do_not_cache: !target.cache,
            platform,
            ..Default::default()
        };
        let (digest, action_bytes) = encode(&action);
        blobs.push((digest.clone(), Source::Bytes(Arc::new(action_bytes))));
        Ok(Some(Action { digest, blobs }))
    }

    /// Whether the engine's action cache holds `target`'s action (for `--dry`); remembers the
    /// outputs, so that dependents' actions can be formed too.
    pub(super) fn action_cache_has(
        &self,
        config: &Config,
        vars: &BTreeMap<String, String>,
        engine: &Engine,
        target: &ResolvedTarget,
        key: &str,
        components: &KeyComponents,
    ) -> bool {
        let Some(remote) = &config.remote_execution else {
            return false;
        };
        let found = (|| -> Result<bool> {
            let Some(action) = self.remote_action(config, vars, remote, target, key, components)?
            else {
                return Ok(false);
            };
            let Some(result) = engine.get_action_result(&action.digest)? else {
                return Ok(false);
            };
            if result.exit_code != 0 {
                return Ok(false);
            }
            let (files, _) = self.result_files(engine, target, &result)?;
            self.remote_exec.remember(key, files);
            Ok(true)
        })();
        found.unwrap_or(false)
    }

    /// Runs `target` on the engine (or takes its action-cache entry); fills in `run`. `false`
    /// when its action cannot be formed (a dependency's outputs are not known: it is not
    /// cached), so it runs here. An `Err` of [`ErrorCode::Io`] from reaching the engine lets the
    /// caller fall back to local.
    pub(super) fn run_remotely(
        &self,
        ctx: &BuildCtx<'_>,
        engine: &Engine,
        target: &ResolvedTarget,
        key: &str,
        components: &KeyComponents,
        run: &mut TargetRun,
    ) -> Result<bool> {
        let remote = ctx
            .config
            .remote_execution
            .as_ref()
            .ok_or_else(|| Error::internal("remote execution without its configuration"))?;
        let started = Instant::now();
        let Some(action) =
            self.remote_action(ctx.config, &ctx.vars, remote, target, key, components)?
        else {
            self.events.publish(Event::BuildWarning {
                build_id: ctx.id.to_owned(),
                message: format!(
                    "{}: runs here, not remotely: a dependency's outputs are not cached, so its action cannot be formed",
                    target.name
                ),
            });
            return Ok(false);
        };
        let mut info = RemoteExecution {
            engine: engine.url().to_owned(),
            action: action.digest.hash.clone(),
            action_cache: false,
            worker: None,
            queued_ms: None,
            worker_ms: None,
            uploaded_bytes: 0,
            downloaded_bytes: 0,
        };
        let cached = if target.cache {
            engine
                .get_action_result(&action.digest)?
                .filter(|r| r.exit_code == 0)
        } else {
            None
        };
        let result = match cached {
            Some(result) => {
                info.action_cache = true;
                result
            }
            None => {
                let mut blobs = action.blobs;
                let mut seen = std::collections::HashSet::new();
                blobs.retain(|(d, _)| seen.insert(d.hash.clone()));
                let missing: std::collections::HashSet<String> = engine
                    .find_missing(blobs.iter().map(|(d, _)| d.clone()).collect())?
                    .into_iter()
                    .map(|d| d.hash)
                    .collect();
                blobs.retain(|(d, _)| missing.contains(&d.hash));
                info.uploaded_bytes = engine.upload(blobs)?;
                let _ = self.store.target_run_update(ctx.id, run);
                let deadline = Duration::from_millis(remote.timeout_ms);
                let executed = engine.execute(&action.digest, deadline, false, &mut |_| {})?;
                info.action_cache = executed.cached;
                executed.result
            }
        };
        if let Some(meta) = &result.execution_metadata {
            info.worker = (!meta.worker.is_empty()).then(|| meta.worker.clone());
            let ms = |a: &Option<crate::reapi::pb::Timestamp>,
                      b: &Option<crate::reapi::pb::Timestamp>| {
                let (a, b) = (a.as_ref()?, b.as_ref()?);
                let d = (b.seconds - a.seconds) * 1000 + i64::from(b.nanos - a.nanos) / 1_000_000;
                u64::try_from(d).ok()
            };
            info.queued_ms = ms(&meta.queued_timestamp, &meta.worker_start_timestamp);
            info.worker_ms = ms(
                &meta.worker_start_timestamp,
                &meta.worker_completed_timestamp,
            );
        }
        let outcome = self.take_result(
            ctx, engine, target, key, components, &result, &mut info, started, run,
        );
        run.remote_execution = Some(info);
        outcome.map(|()| true)
    }

    /// The output files of `result`, paths from the workspace root (folders' `Tree`s fetched
    /// and checked), and the bytes fetched for them.
    fn result_files(
        &self,
        engine: &Engine,
        target: &ResolvedTarget,
        result: &re::ActionResult,
    ) -> Result<(Vec<TreeFile>, u64)> {
        let cwd = working_dir(target);
        let at = |p: &str| {
            if cwd.is_empty() {
                p.to_owned()
            } else {
                format!("{cwd}/{p}")
            }
        };
        let mut files = Vec::new();
        let mut fetched = 0u64;
        for f in &result.output_files {
            files.push(TreeFile {
                path: at(&f.path),
                digest: f.digest.clone().unwrap_or_default(),
                executable: f.is_executable,
            });
        }
        for d in &result.output_directories {
            let digest = d.tree_digest.clone().unwrap_or_default();
            let tree: re::Tree = engine.read_message(&digest, "output tree")?;
            fetched += digest.size_bytes as u64;
            let inner = merkle::flatten(&tree).map_err(|e| {
                crate::reapi::client::integrity(format!("the engine's tree of {}: {e}", d.path))
            })?;
            for f in inner {
                files.push(TreeFile {
                    path: at(&format!("{}/{}", d.path, f.path)),
                    ..f
                });
            }
        }
        Ok((files, fetched))
    }

    /// Downloads what `result` names into the local store, records it as `key`'s entry and
    /// restores it; the command's output is published as its log.
    #[allow(clippy::too_many_arguments)]
    fn take_result(
        &self,
        ctx: &BuildCtx<'_>,
        engine: &Engine,
        target: &ResolvedTarget,
        key: &str,
        components: &KeyComponents,
        result: &re::ActionResult,
        info: &mut RemoteExecution,
        started: Instant,
        run: &mut TargetRun,
    ) -> Result<()> {
        let (files, tree_bytes) = self.result_files(engine, target, result)?;
        info.downloaded_bytes += tree_bytes;
        // stdout then stderr, as one log.
        let mut log = Vec::new();
        for (raw, digest) in [
            (&result.stdout_raw, &result.stdout_digest),
            (&result.stderr_raw, &result.stderr_digest),
        ] {
            if !raw.is_empty() {
                log.extend_from_slice(raw);
            } else if let Some(d) = digest.as_ref().filter(|d| d.size_bytes > 0) {
                log.extend_from_slice(&engine.read_blob(d)?);
                info.downloaded_bytes += d.size_bytes as u64;
            }
        }
        let log = crate::process::redact::redact(&log, &ctx.secrets);
        let log_file = log_path(&ctx.config.state_dir, ctx.id, &target.name);
        if let Some(parent) = log_file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
        }
        std::fs::write(&log_file, &log).map_err(|e| Error::io(log_file.display(), e))?;
        for (n, line) in String::from_utf8_lossy(&log).lines().enumerate() {
            self.events.publish(Event::TargetLog {
                build_id: ctx.id.to_owned(),
                target: target.name.clone(),
                stream: Stream::Stdout,
                line: line.to_owned(),
                line_no: n as u64 + 1,
            });
        }
        run.exit_code = Some(result.exit_code);
        if result.exit_code != 0 {
            run.status = TargetStatus::Failed;
            run.error = Some(format!(
                "`{}` exited with code {} (remote, on {})",
                target.command,
                result.exit_code,
                info.worker.as_deref().unwrap_or("the engine")
            ));
            return Ok(());
        }
        // Only what the target's output globs match is kept, as for a local run.
        let wanted = output_matcher(target)?;
        let files: Vec<TreeFile> = files.into_iter().filter(|f| wanted(&f.path)).collect();
        let digests: Vec<Digest> = files.iter().map(|f| f.digest.clone()).collect();
        let mut outputs = Vec::with_capacity(files.len());
        // In pieces, so a large output set is never held in memory at once.
        for (chunk_files, chunk) in files.chunks(256).zip(digests.chunks(256)) {
            for (f, data) in chunk_files.iter().zip(engine.read_blobs(chunk)?) {
                info.downloaded_bytes += data.len() as u64;
                let hash = self.cas.put_bytes(&data)?;
                outputs.push(OutputFile {
                    path: f.path.clone(),
                    hash,
                    size: data.len() as u64,
                    executable: f.executable,
                });
            }
        }
        let log_blob = self.cas.put_bytes(&log)?;
        if let Some(task) = &target.task {
            // turbo's `.turbo/turbo-<task>.log`, as a local run leaves it.
            let rel = format!("{}/{}", target.cwd_rel.trim_end_matches('/'), task.log_file);
            let rel = rel.trim_start_matches("./").to_owned();
            outputs.push(OutputFile {
                path: rel,
                hash: log_blob.clone(),
                size: log.len() as u64,
                executable: false,
            });
        }
        let manifest = Manifest {
            outputs,
            log: Some(log_blob),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if target.cache && ctx.modes.local_write {
            self.put_entry(key, target, &manifest, components)?;
        }
        if !outputs::restore(&ctx.config.root, &manifest, &self.cas, &self.hasher)? {
            return Err(Error::internal(format!(
                "{}: the outputs just fetched are gone from the local store",
                target.name
            )));
        }
        self.remote_exec.remember(key, files);
        if info.action_cache {
            self.events.publish(Event::CacheHit {
                build_id: ctx.id.to_owned(),
                target: target.name.clone(),
                saved_ms: manifest.duration_ms,
            });
            run.cached = true;
        }
        run.warnings.extend(
            target.output_warnings(
                &manifest
                    .outputs
                    .iter()
                    .map(|o| o.path.clone())
                    .collect::<Vec<_>>(),
            ),
        );
        run.status = TargetStatus::Succeeded;
        Ok(())
    }
}

/// Whether an error from the engine means it could not be reached (not that it refused).
pub(super) fn unreachable(err: &Error) -> bool {
    err.code() == ErrorCode::Io && err.message().contains("unreachable")
}
