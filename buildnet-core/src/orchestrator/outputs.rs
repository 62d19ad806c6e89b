//! A target's outputs: collected into the artifact store after a successful run, restored from
//! it on a cache hit.
//!
//! Restoring never writes outside the workspace. Every recorded path must be relative and free
//! of `..`; and no folder on the way from the workspace root to the file may be a symbolic
//! link (a link could lead anywhere, so it is refused rather than followed). A manifest that
//! breaks either rule — a tampered database, a hand-made entry — is refused whole, before any
//! file is written. (A file already in place with the recorded contents is not written, so
//! its folders are not looked at: a cached build of many packages costs no walk up each
//! path.) The file itself is replaced by a rename, which replaces a link at that place instead
//! of writing through it.

use std::path::{Component, Path, PathBuf};

use ignore::WalkBuilder;
use serde::{Deserialize, Serialize};

use crate::cas::{ArtifactStore, Staged};
use crate::error::{Error, Result};
use crate::hash::TreeHasher;

/// What a cached run left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub outputs: Vec<OutputFile>,
    /// The blob holding the run's log.
    pub log: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Relative to the workspace root, `/`-separated.
    pub path: String,
    pub hash: String,
    pub size: u64,
    pub executable: bool,
}

/// The files under `cwd` matching the output globs (relative to `cwd`), whether or not git
/// ignores them. Paths are returned relative to `root`, sorted.
pub fn collect(root: &Path, cwd: &Path, globs: &[String]) -> Result<Vec<String>> {
    if globs.is_empty() || !cwd.is_dir() {
        return Ok(Vec::new());
    }
    // The same glob rules as inputs; with no positive glob there are no outputs.
    let (Some(include), exclude) = crate::hash::compile_globs(globs)? else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    let walker = WalkBuilder::new(cwd)
        .standard_filters(false)
        .hidden(false)
        .follow_links(false)
        .filter_entry(|e| {
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && crate::workspace::skipped_name(e.file_name()))
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| Error::internal(format!("walking outputs: {e}")))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel_cwd) = entry.path().strip_prefix(cwd) else {
            continue;
        };
        if include.is_match(rel_cwd) && !exclude.is_match(rel_cwd) {
            // Only what could be restored is recorded (not a path outside the workspace or
            // through a symbolic link, e.g. a `cwd` that is a link).
            let Ok(rel_root) = entry.path().strip_prefix(root) else {
                tracing::warn!(path = %entry.path().display(), "output outside the workspace is not cached");
                continue;
            };
            let rel_root = rel_root.to_string_lossy().replace('\\', "/");
            if confined_path(root, &rel_root).is_err() {
                tracing::warn!(path = %rel_root, "output behind a symbolic link is not cached");
                continue;
            }
            found.push(rel_root);
        }
    }
    found.sort();
    Ok(found)
}

/// Stores the files at `paths` (relative to `root`) in the artifact store.
pub fn store(root: &Path, paths: &[String], cas: &ArtifactStore) -> Result<Vec<OutputFile>> {
    let staged = stage(root, paths, cas)?;
    commit(staged, cas)
}

/// Snapshots the files at `paths` into the artifact store's temporary folder (see
/// [`ArtifactStore::stage_file`]); [`commit`] makes them blobs.
pub fn stage(
    root: &Path,
    paths: &[String],
    cas: &ArtifactStore,
) -> Result<Vec<(String, Staged, bool)>> {
    paths
        .iter()
        .map(|path| {
            let full = root.join(path);
            let staged = cas.stage_file(&full)?;
            Ok((path.clone(), staged, is_executable(&full)))
        })
        .collect()
}

/// Commits staged outputs; returns what a manifest records of them.
pub fn commit(staged: Vec<(String, Staged, bool)>, cas: &ArtifactStore) -> Result<Vec<OutputFile>> {
    staged
        .into_iter()
        .map(|(path, staged, executable)| {
            let (hash, size) = (staged.hash.clone(), staged.size);
            cas.commit_staged(staged)?;
            Ok(OutputFile {
                path,
                hash,
                size,
                executable,
            })
        })
        .collect()
}

/// Restores every output of `manifest` under `root`. `Ok(false)` when a blob is missing or
/// corrupt (a cache miss); an error when a path would leave the workspace.
pub fn restore(
    root: &Path,
    manifest: &Manifest,
    cas: &ArtifactStore,
    hasher: &TreeHasher,
) -> Result<bool> {
    // The lexical rules for every path first; then, for every file that is to be written (or
    // made executable), no symbolic link on the way: all checked before anything is written.
    // A file already in place with the recorded contents is left alone, unchecked: nothing is
    // written through its path.
    let targets: Vec<PathBuf> = manifest
        .outputs
        .iter()
        .map(|o| lexical_path(root, &o.path))
        .collect::<Result<_>>()?;
    let present: Vec<bool> = manifest
        .outputs
        .iter()
        .zip(&targets)
        .map(|(output, dest)| already_there(dest, output, hasher))
        .collect();
    for (output, here) in manifest.outputs.iter().zip(&present) {
        if !here || output.executable {
            confined_path(root, &output.path)?;
        }
    }
    // The writes go through directory descriptors: a link swapped in after the checks above
    // is met as an error, never followed.
    let refused = |e: Error, rel: &str| match e.code() {
        crate::error::ErrorCode::InvalidArgument => Error::invalid_argument(format!(
            "refusing to restore output {rel:?}: {}",
            e.message()
        )),
        _ => e,
    };
    for ((output, dest), here) in manifest.outputs.iter().zip(&targets).zip(present) {
        let rel = Path::new(&output.path);
        if !here {
            let restored = cas
                .restore_beneath(&output.hash, root, rel, output.executable)
                .map_err(|e| refused(e, &output.path))?;
            if !restored {
                return Ok(false);
            }
            // Another target's inputs may hold it: remembered trees must not wait for the
            // watcher to report this write.
            hasher.invalidate(dest);
        } else if output.executable {
            set_executable_beneath(root, rel).map_err(|e| refused(e, &output.path))?;
        }
    }
    Ok(true)
}

/// Whether `dest` is a regular file with exactly the recorded contents (then it is left alone:
/// rewriting identical files costs more than checking them).
fn already_there(dest: &Path, output: &OutputFile, hasher: &TreeHasher) -> bool {
    std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_file() && m.len() == output.size)
        && hasher
            .hash_file(dest)
            .is_ok_and(|h| h.to_hex().as_str() == output.hash)
}

/// `root/rel`, provided `rel` is relative, free of `..` and names a file (no disk access).
fn lexical_path(root: &Path, rel: &str) -> Result<PathBuf> {
    lexical_parts(rel).map(|parts| parts.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

fn lexical_parts(rel: &str) -> Result<Vec<&std::ffi::OsStr>> {
    let refuse = |why: &str| {
        Err(Error::invalid_argument(format!(
            "refusing to restore output {rel:?}: {why}"
        )))
    };
    let path = Path::new(rel);
    if rel.is_empty() || path.is_absolute() {
        return refuse("it is not a path relative to the workspace");
    }
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            _ => return refuse("it leaves the workspace"),
        }
    }
    if parts.is_empty() {
        return refuse("it names no file");
    }
    Ok(parts)
}

/// `root/rel`, provided `rel` stays inside `root` without passing through a symbolic link.
pub fn confined_path(root: &Path, rel: &str) -> Result<PathBuf> {
    let refuse = |why: &str| {
        Err(Error::invalid_argument(format!(
            "refusing to restore output {rel:?}: {why}"
        )))
    };
    let parts = lexical_parts(rel)?;
    let Some((_file, dirs)) = parts.split_last() else {
        return refuse("it names no file");
    };
    let mut at = root.to_path_buf();
    for dir in dirs {
        at.push(dir);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return refuse(&format!("{} is a symbolic link", at.display()));
            }
            Ok(meta) if !meta.is_dir() => {
                return refuse(&format!("{} is not a folder", at.display()))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io(at.display(), e)),
        }
    }
    Ok(parts.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

#[cfg(unix)]
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Makes the file at `root/rel` executable, opened through directory descriptors and never
/// through a symbolic link.
#[cfg(unix)]
fn set_executable_beneath(root: &Path, rel: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let (dirs, name) = crate::confined::plain_parts(rel)?;
    let path = root.join(rel);
    let file = crate::confined::open_beneath(root, &dirs)?
        .open_file(name)
        .map_err(|e| Error::io(path.display(), e))?;
    let mut perms = file
        .metadata()
        .map_err(|e| Error::io(path.display(), e))?
        .permissions();
    perms.set_mode(perms.mode() | 0o111);
    file.set_permissions(perms)
        .map_err(|e| Error::io(path.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::state::{Store, StoreOptions};
    use std::sync::Arc;

    #[test]
    fn paths_that_leave_the_workspace_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("pkg/link")).unwrap();
        for bad in [
            "/etc/passwd",
            "../outside/x",
            "pkg/../../outside/x",
            "pkg/link/x",
            "",
        ] {
            let err = confined_path(&root, bad).unwrap_err();
            assert!(
                err.message().contains("refusing to restore"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            confined_path(&root, "pkg/dist/a.js").unwrap(),
            root.join("pkg/dist/a.js")
        );
        assert_eq!(
            confined_path(&root, "./pkg/a.js").unwrap(),
            root.join("pkg/a.js")
        );
    }

    #[test]
    fn collect_store_and_restore_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let cwd = root.join("pkg");
        std::fs::create_dir_all(cwd.join("dist/sub")).unwrap();
        std::fs::write(root.join(".gitignore"), "dist/\n").unwrap();
        std::fs::write(cwd.join("dist/a.js"), "a").unwrap();
        std::fs::write(cwd.join("dist/sub/b.js"), "b").unwrap();
        std::fs::write(cwd.join("dist/skip.map"), "m").unwrap();
        std::fs::write(cwd.join("src.ts"), "s").unwrap();
        let found = collect(&root, &cwd, &["dist/**".into(), "!**/*.map".into()]).unwrap();
        assert_eq!(found, vec!["pkg/dist/a.js", "pkg/dist/sub/b.js"]);

        let store =
            Arc::new(Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap());
        let cas = ArtifactStore::open(&dir.path().join("cas"), store, EventBus::new()).unwrap();
        let outputs = super::store(&root, &found, &cas).unwrap();
        let manifest = Manifest {
            outputs,
            log: None,
            duration_ms: 1,
        };
        std::fs::remove_dir_all(cwd.join("dist")).unwrap();
        let hasher = TreeHasher::new();
        // A tree another target would hash over these outputs (from its own folder, so the root
        // .gitignore does not hide them), remembered as a watcher allows.
        hasher.enable_tree_cache();
        let (other_globs, no_skip) = (vec!["**/*.js".to_string()], Vec::new());
        std::fs::create_dir_all(cwd.join("dist")).unwrap();
        let before = hasher
            .hash_tree_within(&cwd, &cwd, &other_globs, &no_skip)
            .unwrap();
        assert!(restore(&root, &manifest, &cas, &hasher).unwrap());
        assert_eq!(
            std::fs::read_to_string(cwd.join("dist/sub/b.js")).unwrap(),
            "b"
        );
        // The restore forgot it at once: no watcher needed to see the files it wrote.
        let after = hasher
            .hash_tree_within(&cwd, &cwd, &other_globs, &no_skip)
            .unwrap();
        assert_ne!(before.root, after.root);
        assert_eq!(after.files.len(), 2);
        hasher.disable_tree_cache();

        let mut evil = manifest.clone();
        evil.outputs[1].path = "../escape.js".into();
        std::fs::remove_dir_all(cwd.join("dist")).unwrap();
        assert!(restore(&root, &evil, &cas, &hasher).is_err());
        assert!(
            !cwd.join("dist/a.js").exists(),
            "nothing is written when one path is bad"
        );
        assert!(!dir.path().join("escape.js").exists());
    }
}
