//! npm's `package-lock.json`, lockfileVersion 2 and 3.
//!
//! The `packages` map is keyed by install path: `""` (the root package), `packages/a` (a
//! workspace package's folder), `node_modules/x`, `node_modules/x/node_modules/y`,
//! `packages/a/node_modules/x`. Every key with a `node_modules/` segment that is not a `link` is
//! a resolved package; `"node_modules/@acme/a": {"link": true, "resolved": "packages/a"}` is a
//! workspace package, internal. A dependency `d` of the package installed at folder `f`
//! resolves as Node's lookup does: `f/node_modules/d`, then `node_modules/d` under each parent
//! folder of `f` (except folders named `node_modules`) up to the root's `node_modules/d`.
//!
//! A package's `dependencies` are required, its `optionalDependencies` and `peerDependencies`
//! count when installed (npm 7+ installs peers) and are skipped when not. The entry is
//! `name@version integrity` (`resolved` when there is no integrity, `name@npm:real@version …` for
//! an alias). lockfileVersion 1 has no `packages` map and is an error.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::{label, Graph, Target};

/// The parts of one `packages` entry the closure needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPackage {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    peer_dependencies: BTreeMap<String, String>,
}

/// How a workspace package's direct dependencies resolve in an npm lockfile.
pub(super) struct NpmRoots {
    /// Install path → node.
    index: HashMap<String, usize>,
    /// Install paths that are links (workspace packages).
    links: HashSet<String>,
    /// Keys that are package folders, not installs: `""` and the workspace packages.
    folders: HashSet<String>,
}

/// Parses a `package-lock.json` into its package graph.
pub(super) fn parse(text: &str) -> Result<(Graph, NpmRoots), String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("package-lock.json is not JSON: {e}"))?;
    let version = doc
        .get("lockfileVersion")
        .and_then(serde_json::Value::as_u64)
        .ok_or("package-lock.json has no numeric lockfileVersion")?;
    let Some(packages) = doc.get("packages").and_then(serde_json::Value::as_object) else {
        return Err(format!(
            "package-lock.json lockfileVersion {version} has no `packages` map \
             (lockfileVersion 1 is not supported)"
        ));
    };
    if version < 2 {
        return Err(format!(
            "package-lock.json lockfileVersion {version} is not supported"
        ));
    }

    let mut graph = Graph::default();
    let mut roots = NpmRoots {
        index: HashMap::with_capacity(packages.len()),
        links: HashSet::new(),
        folders: HashSet::new(),
    };
    let mut installs: Vec<(&str, usize, RawPackage)> = Vec::with_capacity(packages.len());
    for (key, value) in packages {
        if !value.is_object() {
            return Err(format!("package-lock.json entry {key:?} is not an object"));
        }
        let pkg = RawPackage::deserialize(value)
            .map_err(|e| format!("package-lock.json entry {key:?}: {e}"))?;
        let Some(name) = install_name(key) else {
            roots.folders.insert(key.clone());
            continue;
        };
        if pkg.link {
            roots.links.insert(key.clone());
            continue;
        }
        let version = pkg.version.as_deref().unwrap_or("");
        let checksum = pkg
            .integrity
            .as_deref()
            .or(pkg.resolved.as_deref())
            .unwrap_or("");
        let id = match pkg.name.as_deref() {
            Some(real) if real != name => format!("{name}@npm:{real}@{version}"),
            _ => format!("{name}@{version}"),
        };
        let i = graph.add(label(&id, checksum));
        roots.index.insert(key.clone(), i);
        installs.push((key.as_str(), i, pkg));
    }

    for (key, i, pkg) in &installs {
        let edges = pkg
            .dependencies
            .keys()
            .map(|d| (d, false))
            .chain(pkg.optional_dependencies.keys().map(|d| (d, true)))
            .chain(pkg.peer_dependencies.keys().map(|d| (d, true)));
        for (dep, optional) in edges {
            let target = roots.lookup(key, dep);
            graph.link(*i, target, optional);
        }
    }
    Ok((graph, roots))
}

/// The package name an install path ends in (`node_modules/@s/x` → `@s/x`), or None for a key
/// that is not an install (the root `""`, a workspace folder).
fn install_name(key: &str) -> Option<&str> {
    if key.starts_with("node_modules/") {
        return key.rsplit_once("node_modules/").map(|(_, name)| name);
    }
    key.rsplit_once("/node_modules/").map(|(_, name)| name)
}

impl NpmRoots {
    /// Where `dep` resolves from the package installed at (or the workspace folder) `folder`.
    fn lookup(&self, folder: &str, dep: &str) -> Target {
        let mut current = folder;
        loop {
            let last = current.rsplit('/').next().unwrap_or(current);
            let candidate = if current.is_empty() {
                Some(format!("node_modules/{dep}"))
            } else if last == "node_modules" {
                // Node never looks in `node_modules/node_modules`.
                None
            } else {
                Some(format!("{current}/node_modules/{dep}"))
            };
            if let Some(candidate) = candidate {
                if let Some(&i) = self.index.get(&candidate) {
                    return Target::Node(i);
                }
                if self.links.contains(&candidate) {
                    return Target::Internal;
                }
            }
            if current.is_empty() {
                return Target::Missing;
            }
            current = current.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
    }

    /// The direct dependencies of the workspace package in `dir`; None when the lockfile does
    /// not know that package.
    pub(super) fn resolve(
        &self,
        dir: &str,
        deps: &BTreeMap<String, String>,
    ) -> Option<Vec<Target>> {
        if !self.folders.contains(dir) {
            return None;
        }
        Some(deps.keys().map(|name| self.lookup(dir, name)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, IS_NUMBER_6, IS_NUMBER_7, IS_ODD};
    use super::super::LockfileKind;
    use super::*;

    const ACME: &str = include_str!("testdata/npm.json");
    const NESTED: &str = include_str!("testdata/npm-nested.json");

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
            LockfileKind::Npm,
            ACME,
            &[&n7],
            &[&n6, &odd],
            &[
                (IS_ODD, "sha512-changed"),
                (IS_NUMBER_6, "sha512-changed"),
                ("\"version\": \"6.0.0\"", "\"version\": \"6.0.1\""),
                ("\"version\": \"3.0.1\"", "\"version\": \"3.0.2\""),
            ],
        );
    }

    #[test]
    fn unknown_folder_is_none() {
        let got = testutil::closure(LockfileKind::Npm, ACME, "packages/c", testutil::A_DEPS);
        assert_eq!(got, None);
    }

    #[test]
    fn links_to_workspace_packages_are_internal() {
        let got = testutil::closure(
            LockfileKind::Npm,
            ACME,
            "packages/b",
            &[("@acme/a", "1.0.0"), ("is-odd", "3.0.1")],
        );
        assert_eq!(got, Some(vec![n6(), odd()]));
    }

    #[test]
    fn a_workspace_local_install_wins_over_the_hoisted_one() {
        // packages/b depends on is-number 6.0.0 directly: npm installs it at
        // packages/b/node_modules/is-number, while the root's node_modules holds 7.0.0.
        let b = testutil::closure(
            LockfileKind::Npm,
            NESTED,
            "packages/b",
            &[("is-number", "6.0.0"), ("is-odd", "3.0.1")],
        );
        assert_eq!(b, Some(vec![n6(), odd()]));
        let a = testutil::closure(LockfileKind::Npm, NESTED, "packages/a", testutil::A_DEPS);
        assert_eq!(a, Some(vec![n7()]));
    }

    #[test]
    fn missing_required_transitive_dep_is_none() {
        // Without is-odd's nested is-number 6, the lookup falls back to the root's 7.0.0 (as
        // Node would); without any is-number at all, is-odd is incomplete.
        let text = r#"{"lockfileVersion": 3, "packages": {
            "": {"name": "acme"},
            "node_modules/is-odd": {"version": "3.0.1", "integrity": "sha512-x",
                "dependencies": {"is-number": "^6.0.0"},
                "optionalDependencies": {"fsevents": "^2"},
                "peerDependencies": {"react": "*"}}
        }}"#;
        let got = testutil::closure(LockfileKind::Npm, text, "", &[("is-odd", "3.0.1")]);
        assert_eq!(got, None);
        let fixed = text.replace(
            "\"node_modules/is-odd\"",
            "\"node_modules/is-number\": {\"version\": \"6.0.0\"}, \"node_modules/is-odd\"",
        );
        let got = testutil::closure(LockfileKind::Npm, &fixed, "", &[("is-odd", "3.0.1")]);
        assert_eq!(
            got,
            Some(vec![
                "is-number@6.0.0".into(),
                "is-odd@3.0.1 sha512-x".into()
            ])
        );
    }

    #[test]
    fn aliases_cycles_and_scopes() {
        let text = r#"{"lockfileVersion": 2, "packages": {
            "": {"name": "acme"},
            "node_modules/@s/x": {"version": "1.0.0", "resolved": "https://r/x.tgz",
                "dependencies": {"y": "1"}},
            "node_modules/y": {"name": "real-y", "version": "2.0.0", "integrity": "sha1-y",
                "dependencies": {"@s/x": "1"}}
        }}"#;
        let got = testutil::closure(LockfileKind::Npm, text, "", &[("@s/x", "1")]);
        assert_eq!(
            got,
            Some(vec![
                "@s/x@1.0.0 https://r/x.tgz".into(),
                "y@npm:real-y@2.0.0 sha1-y".into()
            ])
        );
    }

    #[test]
    fn install_names() {
        assert_eq!(install_name(""), None);
        assert_eq!(install_name("packages/a"), None);
        assert_eq!(install_name("node_modules/x"), Some("x"));
        assert_eq!(install_name("node_modules/@s/x"), Some("@s/x"));
        assert_eq!(
            install_name("node_modules/x/node_modules/@s/y"),
            Some("@s/y")
        );
        assert_eq!(install_name("packages/a/node_modules/x"), Some("x"));
        assert_eq!(install_name("a/node_modules/x/node_modules/y"), Some("y"));
    }

    #[test]
    fn rejects_garbage_and_v1() {
        let v1 = r#"{"lockfileVersion": 1, "dependencies": {"x": {"version": "1.0.0"}}}"#;
        let bad_entry = r#"{"lockfileVersion": 3, "packages": {"": ["not", "an", "object"]}}"#;
        let bad_field = r#"{"lockfileVersion": 3, "packages": {"": {"dependencies": 7}}}"#;
        testutil::rejects_garbage(LockfileKind::Npm, &[v1, bad_entry, bad_field]);
    }
}
