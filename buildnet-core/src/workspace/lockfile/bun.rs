//! bun's text `bun.lock` (bun 1.2+): JSONC, turned into JSON by
//! [`crate::workspace::jsonc::to_json`] (it may have trailing commas).
//!
//! ```text
//! {
//!   "lockfileVersion": 1,
//!   "workspaces": {
//!     "": { "name": "acme", "devDependencies": { "is-number": "7.0.0" } },
//!     "packages/b": { "name": "@acme/b", "dependencies": { "is-odd": "3.0.1" } },
//!   },
//!   "packages": {
//!     "@acme/b": ["@acme/b@workspace:packages/b"],
//!     "is-odd": ["is-odd@3.0.1", "", { "dependencies": { "is-number": "^6.0.0" } }, "sha512-…"],
//!     "is-odd/is-number": ["is-number@6.0.0", "", {}, "sha512-…"],
//!   }
//! }
//! ```
//!
//! `packages` is keyed by hoisting path, like a `node_modules` tree: `is-odd/is-number` is the
//! `is-number` that `is-odd` sees, `@acme/b/is-number` the one workspace `@acme/b` sees. A
//! dependency `d` of the package at key `p1/p2` resolves to the first of `p1/p2/d`, `p1/d`, `d`
//! that exists; a workspace package's dependency starts from its name. Each value is an array:
//! the resolved identity `name@version` first, then the registry, the metadata object
//! (`dependencies`, `optionalDependencies`, `peerDependencies`) and the integrity (git, file and
//! workspace entries have fewer fields). Identities with `@workspace:` are internal. The entry is
//! the identity followed by the array's other strings (registry, integrity), plus the patch from
//! `patchedDependencies` when there is one. Optional and peer dependencies that are not in the
//! lockfile are skipped. The binary `bun.lockb` is not read.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::{Graph, Target};

/// How a workspace package's direct dependencies resolve in a bun lockfile.
pub(super) struct BunRoots {
    /// Package key (hoisting path) → node.
    index: HashMap<String, usize>,
    /// Package keys of workspace packages.
    internal: HashSet<String>,
    /// Workspace folder (`""` for the root) → its package name, if it has one.
    workspaces: HashMap<String, Option<String>>,
}

/// A package awaiting its edges: its key, its node and its metadata object.
type Entry<'a> = (&'a str, usize, Option<&'a serde_json::Map<String, Value>>);

/// Parses a `bun.lock` into its package graph.
pub(super) fn parse(text: &str) -> Result<(Graph, BunRoots), String> {
    let json = crate::workspace::jsonc::to_json(text);
    let doc: Value =
        serde_json::from_str(&json).map_err(|e| format!("bun.lock is not JSONC: {e}"))?;
    doc.get("lockfileVersion")
        .and_then(Value::as_u64)
        .ok_or("bun.lock has no numeric lockfileVersion")?;
    let workspaces = doc
        .get("workspaces")
        .and_then(Value::as_object)
        .ok_or("bun.lock has no `workspaces` object")?;
    let empty = serde_json::Map::new();
    let packages = match doc.get("packages") {
        None => &empty,
        Some(p) => p
            .as_object()
            .ok_or("bun.lock `packages` is not an object")?,
    };
    let patches = doc.get("patchedDependencies").and_then(Value::as_object);

    let mut graph = Graph::default();
    let mut roots = BunRoots {
        index: HashMap::with_capacity(packages.len()),
        internal: HashSet::new(),
        workspaces: workspaces
            .iter()
            .map(|(dir, ws)| {
                let name = ws.get("name").and_then(Value::as_str).map(str::to_owned);
                (dir.clone(), name)
            })
            .collect(),
    };
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(packages.len());
    for (key, value) in packages {
        let fields = value
            .as_array()
            .ok_or_else(|| format!("bun.lock package {key:?} is not an array"))?;
        let ident = fields
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| format!("bun.lock package {key:?} has no identity"))?;
        if ident.contains("@workspace:") {
            roots.internal.insert(key.clone());
            continue;
        }
        let mut entry: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
        entry.retain(|s| !s.is_empty());
        let patch = patches.and_then(|p| p.get(ident)).and_then(Value::as_str);
        if let Some(patch) = patch {
            entry.push("patch:");
            entry.push(patch);
        }
        let i = graph.add(entry.join(" "));
        roots.index.insert(key.clone(), i);
        entries.push((key.as_str(), i, fields.iter().find_map(Value::as_object)));
    }

    for (key, i, meta) in entries {
        let Some(meta) = meta else {
            continue;
        };
        for (field, optional) in [
            ("dependencies", false),
            ("optionalDependencies", true),
            ("peerDependencies", true),
        ] {
            let Some(deps) = meta.get(field).and_then(Value::as_object) else {
                continue;
            };
            for dep in deps.keys() {
                let target = roots.lookup(key, dep);
                graph.link(i, target, optional);
            }
        }
    }
    Ok((graph, roots))
}

/// The package names a hoisting path is made of: `@acme/b/is-number` → `@acme/b`, `is-number`.
fn key_names(key: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        // A scoped name spans one more `/`.
        let skip = if rest.starts_with('@') {
            rest.find('/').map_or(rest.len(), |i| i + 1)
        } else {
            0
        };
        let end = rest
            .get(skip..)
            .and_then(|tail| tail.find('/'))
            .map_or(rest.len(), |i| skip + i);
        names.push(&rest[..end]);
        rest = rest.get(end + 1..).unwrap_or("");
    }
    names
}

impl BunRoots {
    /// Where dependency `dep` of the package at hoisting path `from` (a workspace name, or `""`
    /// for the root) leads: `from/dep`, then each shorter prefix of `from`, then `dep`.
    fn lookup(&self, from: &str, dep: &str) -> Target {
        let names = key_names(from);
        for depth in (0..=names.len()).rev() {
            let prefix = names.get(..depth).unwrap_or(&[]).join("/");
            let key = if prefix.is_empty() {
                dep.to_owned()
            } else {
                format!("{prefix}/{dep}")
            };
            if let Some(&i) = self.index.get(&key) {
                return Target::Node(i);
            }
            if self.internal.contains(&key) {
                return Target::Internal;
            }
        }
        Target::Missing
    }

    /// The direct dependencies of the workspace in `dir`; None when the lockfile has no such
    /// workspace.
    pub(super) fn resolve(
        &self,
        dir: &str,
        deps: &BTreeMap<String, String>,
    ) -> Option<Vec<Target>> {
        let name = self.workspaces.get(dir)?;
        let from = if dir.is_empty() {
            ""
        } else {
            name.as_deref().unwrap_or("")
        };
        Some(deps.keys().map(|dep| self.lookup(from, dep)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, IS_NUMBER_6, IS_NUMBER_7, IS_ODD};
    use super::super::LockfileKind;
    use super::*;

    const ACME: &str = include_str!("testdata/bun.lock");
    const NESTED: &str = include_str!("testdata/bun-nested.lock");

    fn n7() -> String {
        format!("is-number@7.0.0 {IS_NUMBER_7}")
    }
    fn n6() -> String {
        format!("is-number@6.0.0 {IS_NUMBER_6}")
    }
    fn odd() -> String {
        format!("is-odd@3.0.1 {IS_ODD}")
    }

    #[test]
    fn acme_closures() {
        let (n7, n6, odd) = (n7(), n6(), odd());
        testutil::acme_suite(
            LockfileKind::Bun,
            ACME,
            &[&n7],
            &[&n6, &odd],
            &[
                (IS_ODD, "sha512-changed"),
                (IS_NUMBER_6, "sha512-changed"),
                ("\"is-odd@3.0.1\"", "\"is-odd@3.0.2\""),
                ("\"is-number@6.0.0\"", "\"is-number@6.0.1\""),
            ],
        );
        assert_eq!(
            testutil::closure(LockfileKind::Bun, ACME, "packages/c", testutil::A_DEPS),
            None,
            "unknown workspace"
        );
        assert_eq!(
            testutil::closure(
                LockfileKind::Bun,
                ACME,
                "packages/b",
                &[("@acme/a", "workspace:*"), ("is-odd", "3.0.1")]
            ),
            Some(vec![n6, odd])
        );
    }

    #[test]
    fn a_workspace_local_version_wins_over_the_hoisted_one() {
        // packages/b depends on is-number 6.0.0 directly: bun keys it `@acme/b/is-number`,
        // while the hoisted `is-number` is 7.0.0.
        let b = testutil::closure(
            LockfileKind::Bun,
            NESTED,
            "packages/b",
            &[("is-number", "6.0.0"), ("is-odd", "3.0.1")],
        );
        assert_eq!(b, Some(vec![n6(), odd()]));
        let a = testutil::closure(LockfileKind::Bun, NESTED, "packages/a", testutil::A_DEPS);
        assert_eq!(a, Some(vec![n7()]));
        let root = testutil::closure(LockfileKind::Bun, NESTED, "", testutil::ROOT_DEPS);
        assert_eq!(root, Some(vec![n7()]));
    }

    #[test]
    fn patches_git_entries_missing_deps_and_cycles() {
        let text = r#"{
  // comments and trailing commas are JSONC
  "lockfileVersion": 1,
  "workspaces": { "": { "name": "app", "dependencies": { "x": "^1", "g": "github:o/g" } } },
  "patchedDependencies": { "x@1.0.0": "patches/x.patch" },
  "packages": {
    "x": ["x@1.0.0", "", { "dependencies": { "y": "*" }, "optionalDependencies": { "z": "*" }, "peerDependencies": { "p": "*" } }, "sha512-x"],
    "y": ["y@1.0.0", "", { "dependencies": { "x": "*" } }, "sha512-y"],
    "g": ["g@github:o/g#abc123", {}, "o-g-abc123"],
  },
}"#;
        let got = testutil::closure(
            LockfileKind::Bun,
            text,
            "",
            &[("x", "^1"), ("g", "github:o/g")],
        );
        assert_eq!(
            got,
            Some(testutil::strings(&[
                "g@github:o/g#abc123 o-g-abc123",
                "x@1.0.0 sha512-x patch: patches/x.patch",
                "y@1.0.0 sha512-y"
            ]))
        );
        let stale = text.replace("\"y\": [", "\"w\": [");
        assert_eq!(
            testutil::closure(LockfileKind::Bun, &stale, "", &[("x", "^1")]),
            None
        );
    }

    #[test]
    fn key_names_split_scopes() {
        assert_eq!(key_names(""), Vec::<&str>::new());
        assert_eq!(key_names("a"), ["a"]);
        assert_eq!(key_names("@s/a/b"), ["@s/a", "b"]);
        assert_eq!(key_names("a/@s/b/c"), ["a", "@s/b", "c"]);
        assert_eq!(key_names("@s"), ["@s"]);
        assert_eq!(key_names("@s/"), ["@s/"]);
        assert_eq!(key_names("a//b"), ["a", "", "b"]);
    }

    #[test]
    fn rejects_garbage() {
        let no_workspaces = r#"{"lockfileVersion": 1, "packages": {}}"#;
        let bad_package =
            r#"{"lockfileVersion": 1, "workspaces": {}, "packages": {"x": {"version": "1"}}}"#;
        let no_ident = r#"{"lockfileVersion": 1, "workspaces": {}, "packages": {"x": []}}"#;
        testutil::rejects_garbage(LockfileKind::Bun, &[no_workspaces, bad_package, no_ident]);
    }
}
