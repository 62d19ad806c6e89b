//! Build logs on disk: `state_dir/logs/BUILD/TARGET.log`, written by the run of a target and
//! read back here (or, for a cache hit, from the log stored with the cached outputs). The
//! orchestrator is the only reader and writer of these files.

use std::path::{Path, PathBuf};

use super::{Manifest, Orchestrator};
use crate::error::{Error, Result};
use crate::state::BuildRecord;

/// Logs of this many most recent builds are kept on disk.
pub(super) const KEEP_BUILD_LOGS: usize = 100;

/// Removes the log folders of all but the `keep` newest builds (build ids sort by start time).
pub(super) fn prune_logs(logs: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(logs) else {
        return;
    };
    let mut builds: Vec<std::path::PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    if builds.len() <= keep {
        return;
    }
    builds.sort();
    for old in &builds[..builds.len() - keep] {
        if let Err(err) = std::fs::remove_dir_all(old) {
            tracing::warn!(path = %old.display(), %err, "could not remove an old build log");
        }
    }
}

/// Where the log of `target` in build `build_id` is kept: `state_dir/logs/BUILD/TARGET.log`,
/// where a name with characters other than letters, digits and `._-` has them replaced by `_`
/// and a hash of the original name appended.
pub fn log_path(state_dir: &Path, build_id: &str, target: &str) -> PathBuf {
    let name: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Names that had to change get a hash of the original, so `a:b` and `a_b` never share a file.
    let file = if name == target {
        format!("{name}.log")
    } else {
        format!(
            "{name}-{:08x}.log",
            crate::hash::xxh3_64(target.as_bytes()) as u32
        )
    };
    state_dir.join("logs").join(build_id).join(file)
}

impl Orchestrator {
    /// The stored log of `target` in build `record`: the file its command wrote, or for a cache
    /// hit the log kept with the cached outputs. `None` if it has none (yet).
    pub fn target_log(
        &self,
        state_dir: &Path,
        record: &BuildRecord,
        target: &str,
    ) -> Result<Option<Vec<u8>>> {
        let build_id = record.id.as_str();
        let Some(run) = record.targets.iter().find(|t| t.target == target) else {
            return Err(Error::not_found(format!(
                "build {build_id} has no target {target:?}"
            )));
        };
        let path = log_path(state_dir, build_id, target);
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
        self.cached_log(key)
    }

    /// The log stored with cache entry `key`, if there is one.
    pub fn cached_log(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(manifest) = self.store.cache_entry(key)? else {
            return Ok(None);
        };
        let manifest: Manifest = serde_json::from_str(&manifest)
            .map_err(|e| Error::internal(format!("cache entry {key} is unreadable: {e}")))?;
        match manifest.log {
            Some(hash) => self.cas.get(&hash),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_of_different_targets_never_collide() {
        let dir = Path::new("/s");
        let a = log_path(dir, "b", "pkg:build");
        let b = log_path(dir, "b", "pkg_build");
        assert_ne!(a, b);
        assert_eq!(b, Path::new("/s/logs/b/pkg_build.log"));
        assert!(a.to_string_lossy().starts_with("/s/logs/b/pkg_build-"));
    }

    #[test]
    fn only_the_newest_build_logs_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        for i in 0..12u64 {
            let build = logs.join(format!("{:012x}-abcdef01", 1_000 + i));
            std::fs::create_dir_all(&build).unwrap();
            std::fs::write(build.join("t.log"), "x").unwrap();
        }
        prune_logs(&logs, 10);
        let mut left: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 10);
        assert_eq!(left[0], format!("{:012x}-abcdef01", 1_002));
        prune_logs(&dir.path().join("missing"), 10);
    }
}
