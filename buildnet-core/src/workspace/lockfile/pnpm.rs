//! pnpm's `pnpm-lock.yaml`: lockfileVersion 5.x (pnpm 6/7), 6.0 (pnpm 7/8) and 9.0 (pnpm 9/10).
//!
//! `importers` is keyed by package folder (`.` for the root) and holds, under `dependencies`,
//! `devDependencies` and `optionalDependencies`, each dependency's resolved version: a mapping
//! `{specifier, version}` (6.0, 9.0) or the bare version (5.x). A single-project lockfile has
//! those maps at the top level instead. The version is `link:../b` (a workspace package:
//! internal), a plain version `1.2.3`, a version with peer suffix `1.2.3(react@18.2.0)` (5.x:
//! `1.2.3_react@18.2.0`), or an alias/path that is a key on its own (`other@1.2.3` in 9.0,
//! `/other@1.2.3` in 6.0, `file:../x`).
//!
//! The resolved packages are the keys of `snapshots` (9.0: `name@version(peers)`, holding
//! `dependencies`/`optionalDependencies`, with the metadata and `resolution.integrity` under
//! `packages` at `name@version`) or of `packages` (`/name@version(peers)` in 6.0,
//! `/name/version_peers` in 5.x, holding both). A dependency's version resolves to a key by the
//! version's own convention first, then by the others. Because the peer suffix is part of the
//! key and of the entry, peers count as pnpm resolved them. Catalogs need nothing: `catalog:`
//! specifiers are not read, the importers record the versions they resolved to.

use std::collections::{BTreeMap, HashMap};

use serde_norway::Value;

use super::{label, yaml_pairs, yaml_scalar, Graph, Target};

/// Which key convention the lockfile version uses (the other ones are tried after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// 5.x: `/name/version`.
    V5,
    /// 6.0: `/name@version`.
    V6,
    /// 9.0: `name@version`.
    V9,
}

/// The dependency maps of an importer.
const IMPORTER_FIELDS: [&str; 3] = ["dependencies", "devDependencies", "optionalDependencies"];

/// How a workspace package's direct dependencies resolve in a pnpm lockfile.
pub(super) struct PnpmRoots {
    style: Style,
    /// Snapshot (9.0) or package (5.x, 6.0) key → node.
    index: HashMap<String, usize>,
    /// Importer folder (`.` for the root) → dependency name → resolved version.
    importers: HashMap<String, HashMap<String, String>>,
}

/// Parses a `pnpm-lock.yaml` into its package graph.
pub(super) fn parse(text: &str) -> Result<(Graph, PnpmRoots), String> {
    let doc: Value =
        serde_norway::from_str(text).map_err(|e| format!("pnpm-lock.yaml is not YAML: {e}"))?;
    if !doc.is_mapping() {
        return Err("pnpm-lock.yaml is not a YAML mapping".into());
    }
    let version = doc
        .get("lockfileVersion")
        .and_then(yaml_scalar)
        .ok_or("pnpm-lock.yaml has no lockfileVersion")?;
    let major: u32 = version
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("pnpm-lock.yaml lockfileVersion {version:?} is not a version"))?;
    let style = match major {
        0..=4 => {
            return Err(format!(
                "pnpm-lock.yaml lockfileVersion {version} is not supported"
            ))
        }
        5 => Style::V5,
        6..=8 => Style::V6,
        _ => Style::V9,
    };

    let packages = doc.get("packages").and_then(Value::as_mapping);
    let snapshots = doc.get("snapshots").and_then(Value::as_mapping);
    let mut graph = Graph::default();
    let mut roots = PnpmRoots {
        style,
        index: HashMap::new(),
        importers: HashMap::new(),
    };

    // One node per snapshot (9.0) or package (5.x, 6.0).
    let mut entries: Vec<(usize, &Value)> = Vec::new();
    if let Some(nodes) = snapshots.or(packages) {
        roots.index.reserve(nodes.len());
        entries.reserve(nodes.len());
        for (k, v) in nodes.iter() {
            let key = yaml_scalar(k).ok_or("pnpm-lock.yaml has a package key that is not text")?;
            let meta = match snapshots {
                Some(_) => packages.and_then(|p| p.get(without_peers(&key))),
                None => Some(v),
            };
            let resolution = resolution_text(meta.and_then(|m| m.get("resolution")));
            let i = graph.add(label(key.trim_start_matches('/'), &resolution));
            if meta.is_none() {
                graph.mark_missing(i);
            }
            roots.index.insert(key, i);
            entries.push((i, v));
        }
    }
    for (i, v) in entries {
        for (field, optional) in [("dependencies", false), ("optionalDependencies", true)] {
            for (name, version) in yaml_pairs(v.get(field)) {
                let target = roots.lookup(&name, &version);
                graph.link(i, target, optional);
            }
        }
    }

    match doc.get("importers").and_then(Value::as_mapping) {
        Some(importers) => {
            for (k, v) in importers.iter() {
                let dir =
                    yaml_scalar(k).ok_or("pnpm-lock.yaml has an importer that is not text")?;
                roots.importers.insert(dir, importer_deps(v));
            }
        }
        // A single-project lockfile: the root's maps are at the top level.
        None => {
            roots.importers.insert(".".into(), importer_deps(&doc));
        }
    }
    Ok((graph, roots))
}

/// A package key without its peer suffix (`a@1.0.0(b@2.0.0)` → `a@1.0.0`), which is how 9.0
/// keys `packages`.
fn without_peers(key: &str) -> &str {
    key.split_once('(').map_or(key, |(base, _)| base)
}

/// The part of a `resolution` that identifies the bytes: the integrity, else every scalar field
/// (a tarball URL, a git commit, a directory).
fn resolution_text(resolution: Option<&Value>) -> String {
    let Some(resolution) = resolution else {
        return String::new();
    };
    if let Some(integrity) = resolution.get("integrity").and_then(yaml_scalar) {
        return integrity;
    }
    if let Some(text) = yaml_scalar(resolution) {
        return text;
    }
    yaml_pairs(Some(resolution))
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Name → resolved version over an importer's dependency maps (the first map naming a
/// dependency wins).
fn importer_deps(importer: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for field in IMPORTER_FIELDS {
        let Some(map) = importer.get(field).and_then(Value::as_mapping) else {
            continue;
        };
        for (name, dep) in map.iter() {
            let Some(name) = yaml_scalar(name) else {
                continue;
            };
            let version = yaml_scalar(dep).or_else(|| dep.get("version").and_then(yaml_scalar));
            if let Some(version) = version {
                out.entry(name).or_insert(version);
            }
        }
    }
    out
}

impl PnpmRoots {
    /// Where dependency `name` at resolved `version` leads.
    fn lookup(&self, name: &str, version: &str) -> Target {
        if version.starts_with("link:") {
            return Target::Internal;
        }
        let forms = [
            format!("{name}@{version}"),
            version.to_owned(),
            format!("/{name}@{version}"),
            format!("/{version}"),
            format!("/{name}/{version}"),
        ];
        let order: [usize; 5] = match self.style {
            Style::V9 => [0, 1, 2, 3, 4],
            Style::V6 => [2, 1, 3, 0, 4],
            Style::V5 => [4, 1, 3, 2, 0],
        };
        order
            .iter()
            .filter_map(|&k| forms.get(k))
            .find_map(|key| self.index.get(key))
            .map_or(Target::Missing, |&i| Target::Node(i))
    }

    /// The direct dependencies of the importer in `dir`; None when the lockfile has no such
    /// importer.
    pub(super) fn resolve(
        &self,
        dir: &str,
        deps: &BTreeMap<String, String>,
    ) -> Option<Vec<Target>> {
        let key = if dir.is_empty() { "." } else { dir };
        let importer = self.importers.get(key)?;
        Some(
            deps.keys()
                .map(|name| match importer.get(name) {
                    Some(version) => self.lookup(name, version),
                    None => Target::Missing,
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{self, IS_NUMBER_6, IS_NUMBER_7, IS_ODD};
    use super::super::LockfileKind;
    use super::*;

    const V6: &str = include_str!("testdata/pnpm-v6.yaml");
    const V9: &str = include_str!("testdata/pnpm-v9.yaml");
    const V9_CATALOG: &str = include_str!("testdata/pnpm-v9-catalog.yaml");
    const V6_PEERS: &str = include_str!("testdata/pnpm-v6-peers.yaml");
    const V9_PEERS: &str = include_str!("testdata/pnpm-v9-peers.yaml");

    fn suite(text: &str) {
        let n7 = format!("is-number@7.0.0 {IS_NUMBER_7}");
        let n6 = format!("is-number@6.0.0 {IS_NUMBER_6}");
        let odd = format!("is-odd@3.0.1 {IS_ODD}");
        testutil::acme_suite(
            LockfileKind::Pnpm,
            text,
            &[&n7],
            &[&n6, &odd],
            &[
                (IS_ODD, "sha512-changed"),
                (IS_NUMBER_6, "sha512-changed"),
                ("3.0.1", "3.0.2"),
                ("6.0.0", "6.0.1"),
            ],
        );
        assert_eq!(
            testutil::closure(LockfileKind::Pnpm, text, "packages/c", testutil::A_DEPS),
            None,
            "unknown importer"
        );
        // `@acme/a` is `link:../a`: internal.
        assert_eq!(
            testutil::closure(
                LockfileKind::Pnpm,
                text,
                "packages/b",
                &[("@acme/a", "workspace:*"), ("is-odd", "3.0.1")]
            ),
            Some(vec![n6, odd])
        );
    }

    #[test]
    fn v6_closures() {
        suite(V6);
    }

    #[test]
    fn v9_closures() {
        suite(V9);
    }

    #[test]
    fn v9_with_catalog_closures() {
        assert!(V9_CATALOG.contains("specifier: 'catalog:'"));
        suite(V9_CATALOG);
        // The caller passes package.json's spec, `catalog:`; the importer has the version.
        let b = testutil::closure(
            LockfileKind::Pnpm,
            V9_CATALOG,
            "packages/b",
            &[("is-odd", "catalog:")],
        );
        let b9 = testutil::closure(LockfileKind::Pnpm, V9, "packages/b", testutil::B_DEPS);
        assert!(b.is_some());
        assert_eq!(b, b9);
    }

    #[test]
    fn peers_resolve_as_recorded_and_agree_across_versions() {
        let deps = [("react", "18.2.0"), ("react-dom", "18.2.0")];
        let v9 = testutil::closure(LockfileKind::Pnpm, V9_PEERS, "", &deps).expect("v9 closure");
        let v6 = testutil::closure(LockfileKind::Pnpm, V6_PEERS, ".", &deps).expect("v6 closure");
        assert_eq!(v9, v6);
        let names: Vec<&str> = v9
            .iter()
            .map(|e| e.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            [
                "js-tokens@4.0.0",
                "loose-envify@1.4.0",
                "react-dom@18.2.0(react@18.2.0)",
                "react@18.2.0",
                "scheduler@0.23.2"
            ]
        );
        // react-dom alone still brings the react it was resolved with.
        let only_dom = [("react-dom", "18.2.0")];
        let got = testutil::closure(LockfileKind::Pnpm, V9_PEERS, "", &only_dom);
        assert_eq!(got, Some(v9.clone()));
        // A different peer resolution is a different entry.
        let edited = V9_PEERS.replace(
            "react-dom@18.2.0(react@18.2.0)",
            "react-dom@18.2.0(react@18.3.0)",
        );
        let edited = edited.replace(
            "version: 18.2.0(react@18.2.0)",
            "version: 18.2.0(react@18.3.0)",
        );
        let got = testutil::closure(LockfileKind::Pnpm, &edited, "", &only_dom).expect("edited");
        assert_ne!(got, v9);
    }

    #[test]
    fn v5_keys_and_missing_metadata() {
        let v5 = "lockfileVersion: 5.4\n\
                  importers:\n  .:\n    specifiers:\n      a: ^1.0.0\n    dependencies:\n      a: 1.0.0_b@2.0.0\n\
                  packages:\n  /a/1.0.0_b@2.0.0:\n    resolution: {integrity: sha512-a}\n    dependencies:\n      b: 2.0.0\n\
                  \x20 /b/2.0.0:\n    resolution: {tarball: 'https://r/b.tgz'}\n    optionalDependencies:\n      c: 1.0.0\n";
        let got = testutil::closure(LockfileKind::Pnpm, v5, "", &[("a", "^1.0.0")]);
        assert_eq!(
            got,
            Some(testutil::strings(&[
                "a/1.0.0_b@2.0.0 sha512-a",
                "b/2.0.0 tarball=https://r/b.tgz"
            ]))
        );
        // A 9.0 snapshot whose `packages` metadata is gone is incomplete.
        let v9 = "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: ^1\n        version: alias@1.0.0\n\
                  packages: {}\nsnapshots:\n  alias@1.0.0: {}\n";
        assert_eq!(
            testutil::closure(LockfileKind::Pnpm, v9, "", &[("a", "^1")]),
            None
        );
        let fixed = v9.replace(
            "packages: {}",
            "packages:\n  alias@1.0.0:\n    resolution: {integrity: sha512-x}",
        );
        assert_eq!(
            testutil::closure(LockfileKind::Pnpm, &fixed, "", &[("a", "^1")]),
            Some(testutil::strings(&["alias@1.0.0 sha512-x"]))
        );
    }

    #[test]
    fn cycles_terminate() {
        let text = "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a: {specifier: '1', version: 1.0.0}\n\
                    packages:\n  a@1.0.0: {resolution: {integrity: ia}}\n  b@1.0.0: {resolution: {integrity: ib}}\n\
                    snapshots:\n  a@1.0.0: {dependencies: {b: 1.0.0}}\n  b@1.0.0: {dependencies: {a: 1.0.0}}\n";
        assert_eq!(
            testutil::closure(LockfileKind::Pnpm, text, "", &[("a", "1")]),
            Some(testutil::strings(&["a@1.0.0 ia", "b@1.0.0 ib"]))
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(without_peers("a@1.0.0(b@2.0.0)(c@3.0.0)"), "a@1.0.0");
        assert_eq!(without_peers("@s/a@1.0.0"), "@s/a@1.0.0");
        let res: Value =
            serde_norway::from_str("{commit: abc, repo: 'https://g/x', type: git}").expect("yaml");
        assert_eq!(
            resolution_text(Some(&res)),
            "commit=abc repo=https://g/x type=git"
        );
        assert_eq!(resolution_text(None), "");
    }

    #[test]
    fn rejects_garbage() {
        let old = "lockfileVersion: 3\npackages: {}\n";
        let no_version = "importers:\n  .: {}\n";
        testutil::rejects_garbage(LockfileKind::Pnpm, &[old, no_version]);
    }
}
