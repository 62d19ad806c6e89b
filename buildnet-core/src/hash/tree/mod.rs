//! Workspace tree hashing: the files matching a set of globs, hashed in parallel.
//!
//! The walk follows the workspace's rules ([`crate::workspace`]): ignore files count, `.git`,
//! `node_modules` and the state directory are never entered. Globs are relative to the root; a
//! glob starting with `!` excludes. No globs means every file.
//!
//! Two caches spare work: the [`stat_cache`] (a file whose stat is unchanged is not read
//! again) and, while a watcher runs, the [`tree_cache`] (a tree nothing changed in is not
//! walked again).
//!
//! The tree hash is blake3 over the sorted list of `path NUL file-hash` records, so it changes
//! when any matched file is added, removed, renamed or edited.

mod stat_cache;
mod tree_cache;

pub use stat_cache::FileStat;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use globset::{GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::workspace;
use stat_cache::Stat;
use tree_cache::TreeCache;

/// Below this many files, hashing stays on the calling thread.
const PARALLEL_FROM: usize = 64;

/// One hashed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHash {
    /// Path relative to the root, with `/` separators.
    pub path: String,
    /// blake3 hex of the contents.
    pub hash: String,
}

/// The result of hashing a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeHash {
    /// blake3 hex over every file's path and hash.
    pub root: String,
    /// Matched files, sorted by path.
    pub files: Vec<FileHash>,
    /// How many files were read (the rest came from the stat cache).
    pub files_read: usize,
}

/// Hashes trees, remembering file stats between calls. `Send + Sync`.
///
/// While a file watcher vouches for the workspace ([`TreeHasher::enable_tree_cache`]), whole
/// tree results are remembered too and served without walking, until the watcher reports a
/// change under them ([`TreeHasher::invalidate`]).
#[derive(Default)]
pub struct TreeHasher {
    stat_cache: Mutex<HashMap<PathBuf, (Stat, blake3::Hash)>>,
    /// Paths remembered since the last [`TreeHasher::take_changes`].
    changed: Mutex<Vec<PathBuf>>,
    trees: Mutex<TreeCache>,
    walks: AtomicU64,
    tree_hits: AtomicU64,
}

/// The folders never walked, whatever the ignore files say.
struct Skip {
    dirs: Vec<PathBuf>,
}

impl TreeHasher {
    pub fn new() -> TreeHasher {
        TreeHasher::default()
    }

    /// Hashes the files under `root` matching `globs`, skipping the folders in `skip_dirs`.
    pub fn hash_tree(
        &self,
        root: &Path,
        globs: &[String],
        skip_dirs: &[PathBuf],
    ) -> Result<TreeHash> {
        self.hash_tree_within(root, root, globs, skip_dirs)
    }

    /// Trees walked, and trees answered from the tree cache, since this hasher was made.
    pub fn walk_counts(&self) -> (u64, u64) {
        (
            self.walks.load(Ordering::Relaxed),
            self.tree_hits.load(Ordering::Relaxed),
        )
    }

    pub(super) fn walk_and_hash(
        &self,
        workspace: &Path,
        dir: &Path,
        globs: &[String],
        skip_dirs: &[PathBuf],
        ignores: bool,
    ) -> Result<TreeHash> {
        self.walks.fetch_add(1, Ordering::Relaxed);
        let (include, exclude) = compile_globs(globs)?;
        let root = std::path::absolute(dir).map_err(|e| Error::io(dir.display(), e))?;
        if !root.is_dir() {
            return Err(Error::not_found(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let workspace =
            std::path::absolute(workspace).map_err(|e| Error::io(workspace.display(), e))?;
        let inherited = if ignores {
            workspace::ancestor_ignores(&workspace, &root)
        } else {
            Vec::new()
        };
        let skip = Skip {
            dirs: skip_dirs.to_vec(),
        };
        let started = SystemTime::now();
        // The user's global excludes and .git/info/exclude are left out on purpose: what counts
        // as an input must not depend on the machine or the clone.
        let mut builder = if ignores {
            workspace::walk_builder(&root)
        } else {
            // Every file under the globs, ignored or not (`.git`, `node_modules` and the state
            // directory are still never entered).
            let mut b = ignore::WalkBuilder::new(&root);
            b.standard_filters(false).hidden(false);
            b
        };
        let walker = builder
            .filter_entry(move |entry| {
                let skipped_name = entry.depth() > 0
                    && entry.file_type().is_some_and(|t| t.is_dir())
                    && workspace::skipped_name(entry.file_name());
                let skipped_dir = skip.dirs.iter().any(|d| entry.path() == d);
                let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                let ignored = inherited
                    .iter()
                    .rev()
                    .map(|gi| gi.matched_path_or_any_parents(entry.path(), is_dir))
                    .find(|m| !m.is_none())
                    .is_some_and(|m| m.is_ignore());
                !(skipped_name || skipped_dir || ignored)
            })
            .build();
        // Listing a folder is cheap; stat and hashing are the work, done on rayon's threads.
        let mut matched = Vec::new();
        for entry in walker {
            let entry = entry.map_err(|err| Error::internal(format!("walking the tree: {err}")))?;
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&root) else {
                continue;
            };
            if include.as_ref().is_none_or(|g| g.is_match(rel)) && !exclude.is_match(rel) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                matched.push((rel, entry.into_path()));
            }
        }
        let hashed: Vec<(String, blake3::Hash, bool)> =
            if matched.len() < PARALLEL_FROM || !crate::runtime::parallel() {
                matched
                    .into_iter()
                    .map(|(rel, path)| {
                        self.hash_one(&path, started)
                            .map(|(h, read)| (rel, h, read))
                    })
                    .collect::<Result<_>>()?
            } else {
                matched
                    .into_par_iter()
                    .map(|(rel, path)| {
                        self.hash_one(&path, started)
                            .map(|(h, read)| (rel, h, read))
                    })
                    .collect::<Result<_>>()?
            };
        let mut files = hashed;
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut root_hasher = blake3::Hasher::new();
        let mut files_read = 0;
        let files = files
            .into_iter()
            .map(|(path, hash, read)| {
                root_hasher.update(path.as_bytes());
                root_hasher.update(&[0]);
                root_hasher.update(hash.as_bytes());
                files_read += usize::from(read);
                FileHash {
                    path,
                    hash: hash.to_hex().to_string(),
                }
            })
            .collect();
        Ok(TreeHash {
            root: root_hasher.finalize().to_hex().to_string(),
            files,
            files_read,
        })
    }
}

/// Splits globs into an include set (`None`: everything) and an exclude set. Compiled sets
/// are kept for the life of the process: the targets of a workspace mostly share their globs,
/// and compiling is most of what a cached target costs otherwise.
pub(crate) fn compile_globs(globs: &[String]) -> Result<(Option<GlobSet>, GlobSet)> {
    type Compiled = (Option<GlobSet>, GlobSet);
    static COMPILED: std::sync::OnceLock<Mutex<HashMap<Vec<String>, Compiled>>> =
        std::sync::OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    if let Some(hit) = crate::lock(cache).get(globs) {
        return Ok(hit.clone());
    }
    let compiled = compile_globs_uncached(globs)?;
    let mut cache = crate::lock(cache);
    if cache.len() >= 4096 {
        cache.clear();
    }
    cache.insert(globs.to_vec(), compiled.clone());
    Ok(compiled)
}

fn compile_globs_uncached(globs: &[String]) -> Result<(Option<GlobSet>, GlobSet)> {
    let mut include = GlobSetBuilder::new();
    let mut exclude = GlobSetBuilder::new();
    let mut any_include = false;
    for glob in globs {
        let (builder, pattern) = match glob.strip_prefix('!') {
            Some(p) => (&mut exclude, p),
            None => {
                any_include = true;
                (&mut include, glob.as_str())
            }
        };
        let compiled = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::invalid_argument(format!("invalid glob {glob:?}: {e}")))?;
        builder.add(compiled);
    }
    let build = |b: GlobSetBuilder| {
        b.build()
            .map_err(|e| Error::invalid_argument(format!("invalid globs: {e}")))
    };
    let include = if any_include {
        Some(build(include)?)
    } else {
        None
    };
    Ok((include, build(exclude)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(root: &Path, rel: &str, data: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    fn age(root: &Path, rel: &str) {
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(root.join(rel))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    fn paths(t: &TreeHash) -> Vec<&str> {
        t.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn globs_gitignore_and_skipped_dirs_select_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", "dist/\n*.log\n");
        write(root, "src/a.ts", "a");
        write(root, "src/deep/b.ts", "b");
        write(root, "src/c.js", "c");
        write(root, "src/debug.log", "log");
        write(root, "dist/out.js", "out");
        write(root, ".buildnet/state.db", "db");
        write(root, ".git/HEAD", "ref");
        let hasher = TreeHasher::new();
        let skip = [root.join(".buildnet")];
        let all = hasher.hash_tree(root, &[], &skip).unwrap();
        assert_eq!(
            paths(&all),
            vec![".gitignore", "src/a.ts", "src/c.js", "src/deep/b.ts"]
        );
        let ts = hasher
            .hash_tree(root, &["src/**/*.ts".into(), "!src/deep/**".into()], &skip)
            .unwrap();
        assert_eq!(paths(&ts), vec!["src/a.ts"]);
        assert_eq!(ts.files[0].hash, blake3::hash(b"a").to_hex().as_str());
    }

    #[test]
    fn ignore_files_between_the_workspace_and_the_tree_apply() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        write(&ws, ".gitignore", "*.log\ngenerated/\n");
        write(&ws, "pkgs/.gitignore", "*.tmp\n");
        write(&ws, "pkgs/a/src/main.ts", "m");
        write(&ws, "pkgs/a/src/debug.log", "l");
        write(&ws, "pkgs/a/src/x.tmp", "t");
        write(&ws, "pkgs/a/generated/out.ts", "g");
        write(dir.path(), ".gitignore", "*.ts\n");
        let hasher = TreeHasher::new();
        let tree = hasher
            .hash_tree_within(&ws, &ws.join("pkgs/a"), &[], &[])
            .unwrap();
        assert_eq!(
            paths(&tree),
            vec!["src/main.ts"],
            "ignore files above the workspace do not count"
        );
    }

    #[test]
    fn root_hash_changes_on_edit_add_remove_and_rename() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a", "1");
        write(root, "b", "2");
        let hasher = TreeHasher::new();
        let mut seen = vec![hasher.hash_tree(root, &[], &[]).unwrap().root];
        let mut step = |f: &dyn Fn()| {
            f();
            let h = hasher.hash_tree(root, &[], &[]).unwrap().root;
            assert!(!seen.contains(&h), "a change left the tree hash as before");
            seen.push(h);
        };
        step(&|| write(root, "a", "changed"));
        step(&|| write(root, "c", "3"));
        step(&|| std::fs::remove_file(root.join("b")).unwrap());
        step(&|| std::fs::rename(root.join("c"), root.join("c2")).unwrap());
        let again = TreeHasher::new().hash_tree(root, &[], &[]).unwrap().root;
        assert_eq!(&again, seen.last().unwrap(), "same files, same hash");
    }

    #[test]
    fn stat_cache_skips_unchanged_files_and_rereads_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..20 {
            write(root, &format!("f{i}"), &format!("content {i}"));
            age(root, &format!("f{i}"));
        }
        let hasher = TreeHasher::new();
        let first = hasher.hash_tree(root, &[], &[]).unwrap();
        assert_eq!(first.files_read, 20);
        let second = hasher.hash_tree(root, &[], &[]).unwrap();
        assert_eq!(second.files_read, 0);
        assert_eq!(second.root, first.root);
        write(root, "f3", "new content");
        let third = hasher.hash_tree(root, &[], &[]).unwrap();
        assert_eq!(third.files_read, 1);
        assert_ne!(third.root, first.root);
        // Just written, so not trusted yet: read again next time.
        assert_eq!(hasher.hash_tree(root, &[], &[]).unwrap().files_read, 1);
    }

    #[test]
    fn tree_cache_serves_until_an_input_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "pkg/src/a.ts", "a");
        write(root, "pkg/src/sub/b.ts", "b");
        write(root, "pkg/src/sub.ts", "s");
        write(root, "pkg/dist/out.js", "o");
        let h = TreeHasher::new();
        let globs = vec!["src/**/*.ts".to_string(), "!dist/**".to_string()];
        let pkg = root.join("pkg");
        let hash = |h: &TreeHasher| h.hash_tree_within(root, &pkg, &globs, &[]).unwrap();
        let first = hash(&h);
        assert_eq!(h.walk_counts(), (1, 0));
        // Off: every call walks.
        hash(&h);
        assert_eq!(h.walk_counts(), (2, 0));
        h.enable_tree_cache();
        hash(&h);
        assert_eq!(hash(&h).root, first.root);
        assert_eq!(h.walk_counts(), (3, 1));
        // Outputs and files no glob selects forget nothing.
        h.invalidate(&pkg.join("dist/out.js"));
        h.invalidate(&pkg.join("README.md"));
        h.invalidate(&root.join("other/x.ts"));
        hash(&h);
        assert_eq!(h.walk_counts(), (3, 2));
        // An edited input, a new input, a removed folder of inputs, an ignore file: walk again.
        for changed in [
            pkg.join("src/a.ts"),
            pkg.join("src/new.ts"),
            pkg.join("src/sub"),
            root.join(".gitignore"),
            pkg.join("src/.gitignore"),
            pkg.clone(),
        ] {
            let (walks, _) = h.walk_counts();
            h.invalidate(&changed);
            hash(&h);
            assert_eq!(h.walk_counts().0, walks + 1, "{}", changed.display());
        }
        // Off again: every call walks.
        h.disable_tree_cache();
        hash(&h);
        assert_eq!(h.walk_counts().0, 10);
    }

    #[test]
    fn invalid_glob_and_missing_root_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let hasher = TreeHasher::new();
        assert!(hasher.hash_tree(dir.path(), &["a[".into()], &[]).is_err());
        let err = hasher
            .hash_tree(&dir.path().join("nope"), &[], &[])
            .unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::NotFound);
    }
}
