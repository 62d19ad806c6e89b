//! The remote cache in a build (see [`crate::remote_cache`]): after a local miss the remote
//! cache is asked; its artifact becomes a local entry (when the build writes the local cache)
//! and is restored as any hit is, with the same confinement. After a successful run is stored,
//! its outputs and log go up as one artifact in turbo's format. Nothing the remote cache does
//! fails a target: what goes wrong is a `build_warning` event.

use std::fs::File;

use super::{BuildCtx, KeyComponents, Manifest, Orchestrator, ResolvedTarget};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::orchestrator::outputs::OutputFile;
use crate::remote_cache::{archive, ArtifactFile, RemoteCache};
use crate::state::TargetRun;

/// Where a target's log is in its artifact: turbo's `<package>/.turbo/turbo-<task>.log` for
/// Turborepo tasks (where turbo restores it too); the same place, named after the target, for
/// `buildnet.yaml` targets (kept as the log only, never written to the workspace).
pub(super) fn artifact_log_path(target: &ResolvedTarget) -> String {
    let file = match &target.task {
        Some(task) => task.log_file.clone(),
        None => crate::workspace::tasks::log_file_name(&target.name.replace('/', "$slash$")),
    };
    if target.cwd_rel == "." || target.cwd_rel.is_empty() {
        file
    } else {
        format!("{}/{file}", target.cwd_rel.trim_end_matches('/'))
    }
}

impl Orchestrator {
    /// Publishes what the build's remote cache has to say.
    fn remote_warnings(&self, ctx: &BuildCtx<'_>) {
        let Some(remote) = &ctx.remote else { return };
        for message in remote.take_warnings() {
            self.events.publish(Event::BuildWarning {
                build_id: ctx.id.to_owned(),
                message,
            });
        }
    }

    fn remote_warning(&self, ctx: &BuildCtx<'_>, message: String) {
        tracing::warn!(build = ctx.id, "{message}");
        self.events.publish(Event::BuildWarning {
            build_id: ctx.id.to_owned(),
            message,
        });
    }

    /// After a local miss: restores `key` from the remote cache if it has it. `run` is marked a
    /// cached success (with the bytes downloaded) on a hit, and left untouched otherwise.
    pub(super) fn remote_hit(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        key: &str,
        components: &KeyComponents,
        run: &mut TargetRun,
    ) -> Result<()> {
        let Some(remote) = &ctx.remote else {
            return Ok(());
        };
        let download = remote.fetch(&self.cas, key);
        self.remote_warnings(ctx);
        let Some(download) = download else {
            return Ok(());
        };
        let unpacked = File::open(&download.archive.path)
            .map_err(|e| Error::io(download.archive.path.display(), e))
            .and_then(|file| archive::unpack(&self.cas, file, ctx.config.cache.max_artifact_bytes));
        let files = match unpacked {
            Ok(files) => files,
            Err(err) => {
                self.remote_warning(
                    ctx,
                    format!(
                        "the remote cache's artifact of {} was not used: {err}",
                        target.name
                    ),
                );
                return Ok(());
            }
        };
        let log_path = artifact_log_path(target);
        let log = files
            .iter()
            .find(|f| f.path == log_path)
            .map(|f| f.blob.clone());
        let manifest = Manifest {
            outputs: files
                .into_iter()
                .filter(|f| target.task.is_some() || f.path != log_path)
                .map(|f| OutputFile {
                    path: f.path,
                    hash: f.blob,
                    size: f.size,
                    executable: f.executable,
                })
                .collect(),
            log,
            duration_ms: download.duration_ms,
        };
        if ctx.modes.local_write {
            self.put_entry(key, target, &manifest, components)?;
        }
        if let Err(err) = self.finish_hit(ctx, target, key, &manifest, run, false) {
            // Refused by the workspace (a folder on the way is a link): a miss, the command runs.
            self.remote_warning(
                ctx,
                format!(
                    "the remote cache's artifact of {} was not restored: {err}",
                    target.name
                ),
            );
            return Ok(());
        }
        if run.cached {
            run.remote_bytes = Some(download.size);
        }
        Ok(())
    }

    /// Uploads a stored run as `key`, unless the build does not write the remote cache.
    pub(super) fn upload(
        &self,
        ctx: &BuildCtx<'_>,
        target: &ResolvedTarget,
        key: &str,
        manifest: &Manifest,
    ) {
        let Some(remote) = ctx.remote.as_ref().filter(|r| r.uploads()) else {
            return;
        };
        let mut files: Vec<ArtifactFile> = manifest
            .outputs
            .iter()
            .map(|o| ArtifactFile {
                path: o.path.clone(),
                blob: o.hash.clone(),
                size: o.size,
                executable: o.executable,
            })
            .collect();
        let log_path = artifact_log_path(target);
        if let Some(log) = &manifest.log {
            if !files.iter().any(|f| f.path == log_path) {
                files.push(ArtifactFile {
                    path: log_path,
                    blob: log.clone(),
                    size: 0,
                    executable: false,
                });
            }
        }
        match RemoteCache::pack(&self.cas, &files) {
            Ok(archive) => {
                remote.upload(key, &archive.path, manifest.duration_ms);
            }
            Err(err) => self.remote_warning(
                ctx,
                format!("the artifact of {} was not uploaded: {err}", target.name),
            ),
        }
        self.remote_warnings(ctx);
    }
}
