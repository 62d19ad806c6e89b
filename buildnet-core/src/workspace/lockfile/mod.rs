//! A workspace package's external dependency closure, read from the repository's lockfile.
//!
//! Turborepo hashes, for each package, the external packages it can reach through the lockfile
//! rather than the whole lockfile, so a lockfile edit for one package's dependency leaves the
//! other packages' keys alone. [`Lockfile::parse`] reads the text once, builds a graph of the
//! resolved packages and indexes it; [`Lockfile::closure`] then walks that graph from one
//! workspace package's dependencies.
//!
//! What each format gives:
//! - **npm** `package-lock.json`, lockfileVersion 2 and 3: the `packages` map keyed by install
//!   path. A dependency resolves as Node does, from `<folder>/node_modules/<name>` up through each
//!   parent folder to the root `node_modules/<name>`; `link` entries (workspace packages) are
//!   internal. Version 1 (no `packages`) is an error.
//! - **pnpm** `pnpm-lock.yaml`, lockfileVersion 5.x, 6.0 and 9.0: `importers` (or, in a
//!   single-project lockfile, the top-level dependency maps) give each package's resolved
//!   versions; the `packages` map (5.x, 6.0) or the `snapshots` map (9.0, with the integrity in
//!   `packages`) gives each resolved package's own dependencies. Peer suffixes such as
//!   `18.2.0(react@18.2.0)` are part of the key, so peers count as pnpm resolved them. `link:`
//!   versions are internal.
//! - **yarn 1** `yarn.lock`: the custom line format, one entry per resolved package under the
//!   `name@range` descriptors that led to it.
//! - **berry** (yarn 2+) `yarn.lock`: YAML; a walk starts at the `workspace:<dir>` entry and
//!   follows `dependencies` descriptors (a range with no protocol means `npm:<range>`).
//! - **bun** `bun.lock` (JSONC): the `packages` map keyed by hoisting path (`is-odd/is-number` is
//!   the `is-number` that `is-odd` sees, `@acme/b/is-number` is workspace `@acme/b`'s own), looked
//!   up from the most nested key outwards as Node would. `bun.lockb` is not read.
//!
//! Every entry of a closure is a string that changes with the package's resolved version and its
//! integrity or checksum (and, where the format records them, its peer resolution, alias or
//! patch). Dependencies of external packages count, their devDependencies do not; a required
//! dependency that the lockfile does not hold makes the closure `None`, a missing optional or
//! peer dependency is skipped.
//!
//! The fallback, for the caller: when `parse` fails or `closure` is `None` (a stale lockfile),
//! hash the whole lockfile.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

mod berry;
mod bun;
mod npm;
mod pnpm;
mod yarn;

/// Which package manager wrote the lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockfileKind {
    /// npm's `package-lock.json` (lockfileVersion 2 or 3).
    Npm,
    /// pnpm's `pnpm-lock.yaml`.
    Pnpm,
    /// yarn 1's `yarn.lock`.
    Yarn,
    /// yarn 2+'s `yarn.lock`.
    Berry,
    /// bun's text `bun.lock`.
    Bun,
}

/// A parsed lockfile: its resolved packages as a graph, and how each format finds a workspace
/// package's direct dependencies in it.
pub struct Lockfile {
    kind: LockfileKind,
    graph: Graph,
    roots: Roots,
}

/// The per-format part of [`Lockfile`]: where a workspace package's dependencies lead.
enum Roots {
    Npm(npm::NpmRoots),
    Pnpm(pnpm::PnpmRoots),
    Yarn(yarn::YarnRoots),
    Berry(berry::BerryRoots),
    Bun(bun::BunRoots),
}

impl Lockfile {
    /// Parses the lockfile's text. Err(message) when the text is not a lockfile of that kind
    /// (the caller then hashes the whole file and warns).
    pub fn parse(kind: LockfileKind, text: &str) -> Result<Lockfile, String> {
        let (graph, roots) = match kind {
            LockfileKind::Npm => npm::parse(text).map(|(g, r)| (g, Roots::Npm(r))),
            LockfileKind::Pnpm => pnpm::parse(text).map(|(g, r)| (g, Roots::Pnpm(r))),
            LockfileKind::Yarn => yarn::parse(text).map(|(g, r)| (g, Roots::Yarn(r))),
            LockfileKind::Berry => berry::parse(text).map(|(g, r)| (g, Roots::Berry(r))),
            LockfileKind::Bun => bun::parse(text).map(|(g, r)| (g, Roots::Bun(r))),
        }?;
        Ok(Lockfile { kind, graph, roots })
    }

    /// The external packages reachable from the workspace package in folder `dir`
    /// (repo-relative with `/`, `""` for the root package) through its `deps` (name -> spec, as in
    /// its package.json: dependencies + devDependencies + optionalDependencies, internal workspace
    /// packages already removed by the caller), transitively (including their dependencies and
    /// optionalDependencies, not devDependencies of external packages; peer deps as the lockfile
    /// resolved them where the format records them). Returns sorted, deduplicated entries, one per
    /// resolved package, each a string that changes when that package's resolved version or
    /// integrity/checksum changes, e.g. `name@version integrity`. None when the lockfile does not
    /// know this package or one of its deps (a stale lockfile): the caller hashes the whole file.
    pub fn closure(&self, dir: &str, deps: &BTreeMap<String, String>) -> Option<Vec<String>> {
        let dir = normalize_dir(dir);
        let targets = match &self.roots {
            Roots::Npm(r) => r.resolve(dir, deps),
            Roots::Pnpm(r) => r.resolve(dir, deps),
            Roots::Yarn(r) => r.resolve(deps),
            Roots::Berry(r) => r.resolve(dir, deps),
            Roots::Bun(r) => r.resolve(dir, deps),
        }?;
        let mut start = Vec::with_capacity(targets.len());
        for target in targets {
            match target {
                Target::Node(i) => start.push(i),
                Target::Internal => {}
                Target::Missing => return None,
            }
        }
        self.graph.closure(&start)
    }
}

impl fmt::Debug for Lockfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockfile")
            .field("kind", &self.kind)
            .field("packages", &self.graph.nodes.len())
            .finish()
    }
}

/// `dir` as the formats key folders: no `./` in front, no `/` behind, `""` for the root.
fn normalize_dir(dir: &str) -> &str {
    let mut dir = dir.trim_end_matches('/');
    while let Some(rest) = dir.strip_prefix("./") {
        dir = rest;
    }
    if dir == "." {
        ""
    } else {
        dir
    }
}

/// Where one dependency edge leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A resolved external package: an index into [`Graph::nodes`].
    Node(usize),
    /// A workspace package (or a link to one): not part of any external closure.
    Internal,
    /// Nothing the lockfile holds.
    Missing,
}

/// The resolved external packages of a lockfile and the edges between them, built once by a
/// format's parser.
#[derive(Default)]
struct Graph {
    nodes: Vec<Node>,
}

/// One resolved external package.
struct Node {
    /// The closure entry: changes with the package's version and integrity.
    label: String,
    /// The nodes its dependencies resolve to.
    deps: Vec<usize>,
    /// A required dependency of it, or its own metadata, is not in the lockfile.
    missing: bool,
}

impl Graph {
    /// Adds a package with closure entry `label`; returns its index.
    fn add(&mut self, label: String) -> usize {
        self.nodes.push(Node {
            label,
            deps: Vec::new(),
            missing: false,
        });
        self.nodes.len() - 1
    }

    /// Records that package `from` depends on `to`. A missing required dependency marks `from`
    /// as incomplete; a missing optional one is skipped.
    fn link(&mut self, from: usize, to: Target, optional: bool) {
        let Some(node) = self.nodes.get_mut(from) else {
            return;
        };
        match to {
            Target::Node(i) => node.deps.push(i),
            Target::Internal => {}
            Target::Missing => node.missing |= !optional,
        }
    }

    /// Marks package `i` as incomplete (its metadata is not in the lockfile).
    fn mark_missing(&mut self, i: usize) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.missing = true;
        }
    }

    /// The sorted, deduplicated labels of every node reachable from `start` (cycles are fine),
    /// or None when one of them is incomplete.
    fn closure(&self, start: &[usize]) -> Option<Vec<String>> {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = Vec::new();
        let mut labels: BTreeSet<&str> = BTreeSet::new();
        for &i in start {
            if seen.insert(i) {
                stack.push(i);
            }
        }
        while let Some(i) = stack.pop() {
            let node = self.nodes.get(i)?;
            if node.missing {
                return None;
            }
            labels.insert(node.label.as_str());
            for &d in &node.deps {
                if seen.insert(d) {
                    stack.push(d);
                }
            }
        }
        Some(labels.into_iter().map(str::to_owned).collect())
    }
}

/// A closure entry: the package's identity (`name@version`, a resolution) and, when the
/// lockfile records one, its integrity or checksum.
fn label(id: &str, checksum: &str) -> String {
    if checksum.is_empty() {
        id.to_owned()
    } else {
        format!("{id} {checksum}")
    }
}

/// A YAML scalar as text (`7.0.0` is a string in YAML, but `1.0` would be a number).
fn yaml_scalar(value: &serde_norway::Value) -> Option<String> {
    match value {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The scalar pairs of a YAML mapping (none when `value` is absent or not a mapping).
fn yaml_pairs(value: Option<&serde_norway::Value>) -> Vec<(String, String)> {
    let Some(map) = value.and_then(serde_norway::Value::as_mapping) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(k, v)| Some((yaml_scalar(k)?, yaml_scalar(v)?)))
        .collect()
}

/// Helpers the formats' tests share.
#[cfg(test)]
mod testutil {
    use std::collections::BTreeMap;

    use super::{Lockfile, LockfileKind};

    /// is-number 7.0.0's integrity (npm, pnpm, yarn 1 and bun record the same one).
    pub const IS_NUMBER_7: &str = "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==";
    /// is-number 6.0.0's integrity.
    pub const IS_NUMBER_6: &str = "sha512-Wu1VHeILBK8KAWJUAiSZQX94GmOE45Rg6/538fKwiloUu21KncEkYGPqob2oSZ5mUT73vLGrHQjKw3KMPwfDzg==";
    /// is-odd 3.0.1's integrity.
    pub const IS_ODD: &str = "sha512-CQpnWPrDwmP1+SMHXZhtLtJv90yiyVfluGsX5iNCVkrhQtU3TQHsUWPG9wkdk9Lgd5yNpAg9jQEo90CBaXgWMA==";

    /// A dependency map from pairs.
    pub fn deps(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Parses `text` (which must parse) and returns the closure of `dir` with `pairs`.
    pub fn closure(
        kind: LockfileKind,
        text: &str,
        dir: &str,
        pairs: &[(&str, &str)],
    ) -> Option<Vec<String>> {
        let lock = Lockfile::parse(kind, text).expect("the fixture parses");
        lock.closure(dir, &deps(pairs))
    }

    /// Owned strings, for comparing closures.
    pub fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The acme fixture's dependency maps: root, `packages/a` and `packages/b` (internal
    /// `@acme/a` removed, as the caller does).
    pub const ROOT_DEPS: &[(&str, &str)] = &[("is-number", "7.0.0")];
    pub const A_DEPS: &[(&str, &str)] = &[("is-number", "7.0.0")];
    pub const B_DEPS: &[(&str, &str)] = &[("is-odd", "3.0.1")];

    /// The checks every format makes on its acme fixture (root and `packages/a` depend on
    /// is-number 7.0.0, `packages/b` on is-odd 3.0.1, which depends on is-number ^6):
    /// the three closures are `root`, `a` and `b`; an unknown dependency gives None; each of
    /// `edits` (a replacement in the text that concerns only b's packages) changes b's
    /// closure and not a's.
    pub fn acme_suite(
        kind: LockfileKind,
        text: &str,
        a: &[&str],
        b: &[&str],
        edits: &[(&str, &str)],
    ) {
        let lock = Lockfile::parse(kind, text).expect("the fixture parses");
        let a_closure = lock.closure("packages/a", &deps(A_DEPS));
        let b_closure = lock.closure("packages/b", &deps(B_DEPS));
        assert_eq!(a_closure, Some(strings(a)), "packages/a");
        assert_eq!(b_closure, Some(strings(b)), "packages/b");
        assert_eq!(lock.closure("", &deps(ROOT_DEPS)), Some(strings(a)), "root");
        assert_eq!(
            lock.closure(".", &deps(ROOT_DEPS)),
            Some(strings(a)),
            "root as ."
        );
        assert_eq!(lock.closure("", &deps(&[])), Some(Vec::new()), "no deps");
        let stale = deps(&[("is-odd", "3.0.1"), ("left-pad", "^1.3.0")]);
        assert_eq!(lock.closure("packages/b", &stale), None, "stale lockfile");
        for (from, to) in edits {
            assert!(text.contains(from), "edit {from:?} applies");
            let edited = text.replace(from, to);
            let lock2 = Lockfile::parse(kind, &edited).expect("the edited fixture parses");
            let b2 = lock2.closure("packages/b", &deps(B_DEPS));
            assert!(b2.is_some(), "edit {from:?}: b still resolves");
            assert_ne!(b2, b_closure, "edit {from:?} changes b");
            let a2 = lock2.closure("packages/a", &deps(A_DEPS));
            assert_eq!(a2, a_closure, "edit {from:?} leaves a alone");
        }
    }

    /// Texts no parser accepts, plus `others` (other formats' lockfiles).
    pub fn rejects_garbage(kind: LockfileKind, others: &[&str]) {
        let garbage = [
            "",
            "hello world",
            "{",
            "[1, 2, 3]",
            "null",
            "42",
            "key: [unclosed",
            "\u{0}\u{1}\u{2}",
            "{\"lockfileVersion\": \"x\"}",
            "  indented: 1\nnot: indented\n\t\ttabs",
        ];
        for text in garbage.iter().chain(others) {
            assert!(
                Lockfile::parse(kind, text).is_err(),
                "{kind:?} rejects {text:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::deps;
    use super::*;

    #[test]
    fn normalize_dir_strips_dots_and_slashes() {
        assert_eq!(normalize_dir(""), "");
        assert_eq!(normalize_dir("."), "");
        assert_eq!(normalize_dir("./"), "");
        assert_eq!(normalize_dir("./packages/a/"), "packages/a");
        assert_eq!(normalize_dir("packages/a"), "packages/a");
    }

    #[test]
    fn graph_closure_handles_cycles_and_missing() {
        let mut g = Graph::default();
        let a = g.add("a@1".into());
        let b = g.add("b@1".into());
        let c = g.add("c@1".into());
        g.link(a, Target::Node(b), false);
        g.link(b, Target::Node(a), false);
        g.link(b, Target::Internal, false);
        g.link(b, Target::Missing, true);
        assert_eq!(g.closure(&[a]), Some(vec!["a@1".into(), "b@1".into()]));
        g.link(c, Target::Missing, false);
        assert_eq!(g.closure(&[c]), None);
        assert_eq!(g.closure(&[a]).map(|v| v.len()), Some(2));
        assert_eq!(g.closure(&[99]), None);
    }

    #[test]
    fn kinds_do_not_accept_each_others_lockfiles() {
        let texts = [
            (LockfileKind::Npm, include_str!("testdata/npm.json")),
            (LockfileKind::Pnpm, include_str!("testdata/pnpm-v9.yaml")),
            (LockfileKind::Yarn, include_str!("testdata/yarn1.lock")),
            (LockfileKind::Berry, include_str!("testdata/berry.lock")),
            (LockfileKind::Bun, include_str!("testdata/bun.lock")),
        ];
        for (kind, _) in &texts {
            for (other, text) in &texts {
                let parsed = Lockfile::parse(*kind, text);
                assert_eq!(
                    parsed.is_ok(),
                    kind == other,
                    "{kind:?} on {other:?}'s lockfile"
                );
            }
        }
    }

    #[test]
    fn debug_names_the_kind() {
        let lock =
            Lockfile::parse(LockfileKind::Npm, include_str!("testdata/npm.json")).expect("parses");
        let text = format!("{lock:?}");
        assert!(text.contains("Npm"), "{text}");
        assert_eq!(lock.closure("", &deps(&[])), Some(Vec::new()));
    }
}
