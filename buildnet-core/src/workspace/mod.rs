//! What a repository is: the walk rules every walk of it shares (below), and, for a
//! package-manager workspace with a `turbo.json`, its packages and tasks ([`Repo`]).
//!
//! What a walk of the workspace looks at: the one set of rules hashing, watching and output
//! collection share.
//!
//! - Folders named `.git` or `node_modules`, at any depth, are never entered (a nested
//!   repository's `.git` no more than the root's), nor is the state directory.
//! - `.gitignore` and `.ignore` files count, in the walked tree and in the folders between the
//!   workspace root and it, whether or not the folder is a git repository. The user's global
//!   excludes and `.git/info/exclude` do not, so the same files count on every machine and
//!   clone. (Output collection alone ignores them: outputs are usually git-ignored.)

pub mod filter;
pub mod frameworks;
pub mod jsonc;
pub mod lockfile;
pub mod packages;
pub mod tasks;
pub mod turbo_json;

pub use packages::{Manager, ManagerKind, Package, Packages, ROOT_PACKAGE};
pub use tasks::{Repo, TaskSpec, TaskTarget};
pub use turbo_json::{OutputLogs, TaskDefinition, TurboEnvMode, TurboRemoteCache};

use std::ffi::OsStr;
use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::WalkBuilder;

/// Folder names no walk enters.
pub const SKIPPED_DIR_NAMES: [&str; 2] = [".git", "node_modules"];

/// The ignore files whose rules a walk honours.
pub const IGNORE_FILES: [&str; 2] = [".gitignore", ".ignore"];

/// Whether a folder with this name is never entered.
pub fn skipped_name(name: &OsStr) -> bool {
    SKIPPED_DIR_NAMES.iter().any(|s| name == *s)
}

/// Whether the walk skips the folder at `path`: the state directory (or inside it), or a
/// folder of a skipped name.
pub fn skipped_dir(path: &Path, state_dir: &Path) -> bool {
    path.starts_with(state_dir) || path.file_name().is_some_and(skipped_name)
}

/// Whether `rel` (relative to the workspace root) lies inside a folder of a skipped name.
pub fn in_skipped_dir(rel: &Path) -> bool {
    rel.components().any(|c| skipped_name(c.as_os_str()))
}

/// Whether `path` is an ignore file (its edits change which files count).
pub fn is_ignore_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| IGNORE_FILES.iter().any(|f| n == *f))
}

/// A walk builder over `root` with the ignore-file rules above (the caller adds its filter).
pub fn walk_builder(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_ignore(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false);
    // Read as custom ignore files (`.ignore` last: it wins over `.gitignore`, as in ripgrep),
    // so the walker does not resolve the root and look for ignore files in every folder
    // above it: those above the workspace never count, and those between it and the walked
    // folder come from `ancestor_ignores`.
    for name in IGNORE_FILES {
        builder.add_custom_ignore_filename(name);
    }
    builder
}

/// A walk of `root` honouring ignore files and skipping what [`skipped_dir`] says.
pub fn walk(root: &Path, state_dir: &Path) -> ignore::Walk {
    let state_dir = state_dir.to_path_buf();
    walk_builder(root)
        .filter_entry(move |e| {
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && skipped_dir(e.path(), &state_dir))
        })
        .build()
}

/// The rules of `dir`'s own `.gitignore` and `.ignore`, if it has any (unreadable ones are
/// skipped).
pub fn read_ignores(dir: &Path) -> Option<Gitignore> {
    // Parsed rules are kept while the files' size and modification time stay the same: every
    // target's walk reads the ignore files of the folders above it.
    type Seen = (Vec<Option<(u64, std::time::SystemTime)>>, Option<Gitignore>);
    static PARSED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, Seen>>,
    > = std::sync::OnceLock::new();
    let stamp: Vec<Option<(u64, std::time::SystemTime)>> = IGNORE_FILES
        .iter()
        .map(|name| -> Option<(u64, std::time::SystemTime)> {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            if !meta.is_file() {
                return None;
            }
            Some((meta.len(), meta.modified().ok()?))
        })
        .collect();
    let cache = PARSED.get_or_init(Default::default);
    if let Some((seen, rules)) = crate::lock(cache).get(dir) {
        if *seen == stamp {
            return rules.clone();
        }
    }
    let rules = parse_ignores(dir);
    let mut cache = crate::lock(cache);
    if cache.len() >= 65536 {
        cache.clear();
    }
    cache.insert(dir.to_path_buf(), (stamp, rules.clone()));
    rules
}

fn parse_ignores(dir: &Path) -> Option<Gitignore> {
    let mut builder = GitignoreBuilder::new(dir);
    let mut any = false;
    for name in IGNORE_FILES {
        let file = dir.join(name);
        if file.is_file() && builder.add(&file).is_none() {
            any = true;
        }
    }
    any.then(|| builder.build().ok()).flatten()
}

/// The ignore files of the folders from `workspace` down to `dir`'s parent, shallowest first
/// (`dir`'s own are read by the walker).
pub fn ancestor_ignores(workspace: &Path, dir: &Path) -> Vec<Gitignore> {
    let Ok(below) = dir.strip_prefix(workspace) else {
        return Vec::new();
    };
    let mut folders = vec![workspace.to_path_buf()];
    let mut at = workspace.to_path_buf();
    for part in below.components() {
        at.push(part);
        folders.push(at.clone());
    }
    folders.pop();
    folders.iter().filter_map(|f| read_ignores(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_skipped_folders_at_any_depth() {
        let state = Path::new("/ws/.buildnet");
        assert!(skipped_dir(Path::new("/ws/.git"), state));
        assert!(skipped_dir(Path::new("/ws/vendor/lib/.git"), state));
        assert!(skipped_dir(Path::new("/ws/packages/a/node_modules"), state));
        assert!(skipped_dir(Path::new("/ws/.buildnet/cas"), state));
        assert!(!skipped_dir(Path::new("/ws/src/git"), state));
        assert!(in_skipped_dir(Path::new("vendor/.git/HEAD")));
        assert!(!in_skipped_dir(Path::new("src/.gitignore")));
        assert!(is_ignore_file(Path::new("a/.ignore")));
        assert!(!is_ignore_file(Path::new("a/.gitattributes")));
    }

    #[test]
    fn walk_skips_state_dir_node_modules_nested_git_and_ignored_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "src/a",
            "node_modules/x",
            "vendor/.git/objects",
            ".buildnet/cas",
            "dist",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "dist/\n").unwrap();
        let mut dirs: Vec<String> = walk(root, &root.join(".buildnet"))
            .flatten()
            .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
            .map(|e| {
                e.path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        dirs.sort();
        assert_eq!(dirs, ["", "src", "src/a", "vendor"]);
    }
}
