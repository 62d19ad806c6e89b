//! The tree cache: while a file watcher vouches for the workspace, whole tree results are
//! remembered and served without walking, until the watcher reports a change that may concern
//! them. A change landing while a tree is being walked keeps that walk's result from being
//! remembered (the walk may have read the tree before or after the change).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use globset::GlobSet;

use super::{compile_globs, TreeHash, TreeHasher};
use crate::error::Result;
use crate::workspace;

#[derive(Default)]
pub(super) struct TreeCache {
    enabled: bool,
    entries: HashMap<TreeKey, CachedTree>,
    /// Walks under way, so that a change landing during one keeps its result from being
    /// remembered (the walk may have read the tree before or after the change).
    walking: Vec<Walking>,
    next_walk: u64,
}

struct Walking {
    id: u64,
    dir: PathBuf,
    include: Option<GlobSet>,
    exclude: GlobSet,
    /// A change that may concern this tree landed during the walk.
    stale: bool,
}

impl Walking {
    /// Conservative: anything under the folder that is not a file its globs leave out.
    fn concerned_by(&self, path: &Path, is_ignore_file: bool) -> bool {
        let Ok(rel) = path.strip_prefix(&self.dir) else {
            return is_ignore_file && path.parent().is_some_and(|p| self.dir.starts_with(p));
        };
        if is_ignore_file || rel.as_os_str().is_empty() || !path.is_file() {
            return true;
        }
        let rel = rel.to_string_lossy().replace('\\', "/");
        self.include.as_ref().is_none_or(|g| g.is_match(&rel)) && !self.exclude.is_match(&rel)
    }
}

struct CachedTree {
    tree: TreeHash,
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl CachedTree {
    /// Whether a change at `rel` (a file, a folder, or something gone) may change this tree.
    fn affected_by(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return true;
        }
        let files = &self.tree.files;
        // A file it holds, or a folder holding some of them (changed, removed, moved away).
        // Searched separately: `src/sub.ts` sorts between `src/sub` and `src/sub/b.ts`.
        let exact = files.binary_search_by(|f| f.path.as_str().cmp(rel)).is_ok();
        let folder = format!("{rel}/");
        let at = files.partition_point(|f| f.path.as_str() < folder.as_str());
        let holds = exact || files.get(at).is_some_and(|f| f.path.starts_with(&folder));
        // Or a new file its globs select.
        holds
            || (self.include.as_ref().is_none_or(|g| g.is_match(rel))
                && !self.exclude.is_match(rel))
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TreeKey {
    workspace: PathBuf,
    dir: PathBuf,
    globs: Vec<String>,
    skip_dirs: Vec<PathBuf>,
    ignores: bool,
}

impl TreeHasher {
    /// Like [`TreeHasher::hash_tree`] for `dir`, a folder inside `workspace`: the ignore files
    /// of the folders from `workspace` down to `dir` apply too (none above `workspace` does).
    pub fn hash_tree_within(
        &self,
        workspace: &Path,
        dir: &Path,
        globs: &[String],
        skip_dirs: &[PathBuf],
    ) -> Result<TreeHash> {
        self.hash_tree_with(workspace, dir, globs, skip_dirs, true)
    }

    /// Like [`TreeHasher::hash_tree_within`], but ignore files do not apply: every file the
    /// globs match counts (a Turborepo task's explicit `inputs`, as turbo reads them).
    pub fn hash_tree_unignored(
        &self,
        workspace: &Path,
        dir: &Path,
        globs: &[String],
        skip_dirs: &[PathBuf],
    ) -> Result<TreeHash> {
        self.hash_tree_with(workspace, dir, globs, skip_dirs, false)
    }

    fn hash_tree_with(
        &self,
        workspace: &Path,
        dir: &Path,
        globs: &[String],
        skip_dirs: &[PathBuf],
        ignores: bool,
    ) -> Result<TreeHash> {
        let walk = {
            let mut trees = crate::lock(&self.trees);
            if trees.enabled {
                let key = TreeKey {
                    workspace: workspace.to_path_buf(),
                    dir: dir.to_path_buf(),
                    globs: globs.to_vec(),
                    skip_dirs: skip_dirs.to_vec(),
                    ignores,
                };
                if let Some(hit) = trees.entries.get(&key) {
                    self.tree_hits.fetch_add(1, Ordering::Relaxed);
                    let mut hit = hit.tree.clone();
                    hit.files_read = 0;
                    return Ok(hit);
                }
                let (include, exclude) = compile_globs(globs)?;
                trees.next_walk += 1;
                let id = trees.next_walk;
                trees.walking.push(Walking {
                    id,
                    dir: dir.to_path_buf(),
                    include,
                    exclude,
                    stale: false,
                });
                Some((key, id))
            } else {
                None
            }
        };
        // Unregisters the walk however it ends (a panic included).
        struct Unregister<'a>(&'a Mutex<TreeCache>, Option<u64>);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                if let Some(id) = self.1 {
                    let mut trees = crate::lock(self.0);
                    if let Some(at) = trees.walking.iter().position(|w| w.id == id) {
                        trees.walking.swap_remove(at);
                    }
                }
            }
        }
        let mut guard = Unregister(&self.trees, walk.as_ref().map(|(_, id)| *id));
        let tree = self.walk_and_hash(workspace, dir, globs, skip_dirs, ignores);
        guard.1 = None;
        if let Some((key, id)) = walk {
            let mut trees = crate::lock(&self.trees);
            if let Some(at) = trees.walking.iter().position(|w| w.id == id) {
                let w = trees.walking.swap_remove(at);
                if let (Ok(tree), false, true) = (&tree, w.stale, trees.enabled) {
                    let cached = CachedTree {
                        tree: tree.clone(),
                        include: w.include,
                        exclude: w.exclude,
                    };
                    trees.entries.insert(key, cached);
                }
            }
        }
        tree
    }

    /// Whether whole trees are remembered (a watcher vouches for them): hashing a target's
    /// inputs then costs a lookup, not a walk.
    pub fn tree_cache_enabled(&self) -> bool {
        crate::lock(&self.trees).enabled
    }

    /// Remember whole trees from now on: the caller watches the files and reports every change
    /// with [`TreeHasher::invalidate`] before asking again.
    pub fn enable_tree_cache(&self) {
        let mut trees = crate::lock(&self.trees);
        trees.enabled = true;
        trees.entries.clear();
        trees.walking.iter_mut().for_each(|w| w.stale = true);
    }

    /// Stops remembering trees (the watcher stopped).
    pub fn disable_tree_cache(&self) {
        let mut trees = crate::lock(&self.trees);
        trees.enabled = false;
        trees.entries.clear();
        trees.walking.iter_mut().for_each(|w| w.stale = true);
    }

    /// Forgets the remembered trees a change at `path` may change: those holding it or whose
    /// globs select it, and for an ignore file every tree below its folder. A change outside
    /// every tree's inputs (an output being written, say) forgets nothing.
    pub fn invalidate(&self, path: &Path) {
        let mut trees = crate::lock(&self.trees);
        let is_ignore_file = workspace::is_ignore_file(path);
        let parent = path.parent().unwrap_or(path);
        for w in trees.walking.iter_mut() {
            if w.concerned_by(path, is_ignore_file) {
                w.stale = true;
            }
        }
        trees.entries.retain(|key, cached| {
            // An ignore file above a tree or inside it changes what the walk selects.
            if is_ignore_file && (key.dir.starts_with(parent) || path.starts_with(&key.dir)) {
                return false;
            }
            match path.strip_prefix(&key.dir) {
                Ok(rel) => !cached.affected_by(&rel.to_string_lossy().replace('\\', "/")),
                Err(_) => true,
            }
        });
    }

    /// Forgets every remembered tree (the watcher may have missed events).
    pub fn invalidate_all(&self) {
        let mut trees = crate::lock(&self.trees);
        trees.entries.clear();
        trees.walking.iter_mut().for_each(|w| w.stale = true);
    }
}
