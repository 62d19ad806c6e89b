//! yarn 2+ ("berry") `yarn.lock`: YAML.
//!
//! ```yaml
//! __metadata:
//!   version: 8
//!
//! "is-number@npm:^6.0.0, is-number@npm:~6.0.0":
//!   version: 6.0.0
//!   resolution: "is-number@npm:6.0.0"
//!   checksum: 10c0/…
//!
//! "@acme/a@workspace:packages/a":
//!   resolution: "@acme/a@workspace:packages/a"
//!   dependencies:
//!     is-number: "npm:7.0.0"
//!   languageName: unknown
//!   linkType: soft
//! ```
//!
//! Each key lists the descriptors (`name@range`, comma-separated) that resolved to the entry.
//! A walk starts at the workspace entry whose resolution is `<name>@workspace:<dir>`
//! (`workspace:.` for the root) and follows `dependencies` descriptors; a range without a
//! protocol means `npm:<range>` (`^7.0.0` is `npm:^7.0.0`). Optional dependencies are in
//! `dependencies` too, marked in `dependenciesMeta`; they are skipped when missing.
//! `peerDependencies` hold ranges the lockfile does not resolve and are not followed. Workspace
//! entries are internal. The entry is `resolution checksum` (`is-number@npm:6.0.0 10c0/…`).
//! Patched packages (`patch:` descriptors) count as the lockfile records them: a dependency
//! that names the `patch:` descriptor leads to the patched entry.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_norway::Value;

use super::{label, yaml_pairs, yaml_scalar, Graph, Target};

/// How a workspace package's direct dependencies resolve in a berry lockfile.
pub(super) struct BerryRoots {
    /// Descriptor → node.
    index: HashMap<String, usize>,
    /// Descriptors of workspace entries.
    internal: HashSet<String>,
    /// Workspace folder (`.` for the root) → its entry's dependencies (name → range).
    workspaces: HashMap<String, HashMap<String, String>>,
}

/// Parses a berry `yarn.lock` into its package graph.
pub(super) fn parse(text: &str) -> Result<(Graph, BerryRoots), String> {
    let doc: Value =
        serde_norway::from_str(text).map_err(|e| format!("yarn.lock is not YAML: {e}"))?;
    let map = doc
        .as_mapping()
        .ok_or("yarn.lock (berry) is not a YAML mapping")?;
    if !doc.get("__metadata").is_some_and(Value::is_mapping) {
        return Err("yarn.lock has no `__metadata` (not a yarn 2+ lockfile)".into());
    }

    let mut graph = Graph::default();
    let mut roots = BerryRoots {
        index: HashMap::new(),
        internal: HashSet::new(),
        workspaces: HashMap::new(),
    };
    let mut entries: Vec<(usize, &Value)> = Vec::new();
    for (k, v) in map.iter() {
        let key = yaml_scalar(k).ok_or("yarn.lock has a key that is not text")?;
        if key == "__metadata" {
            continue;
        }
        if !v.is_mapping() {
            return Err(format!("yarn.lock entry {key:?} is not a mapping"));
        }
        let resolution = v
            .get("resolution")
            .and_then(yaml_scalar)
            .unwrap_or_default();
        if let Some(dir) = workspace_dir(&resolution) {
            roots.workspaces.insert(
                dir.to_owned(),
                yaml_pairs(v.get("dependencies")).into_iter().collect(),
            );
            roots.internal.extend(split_descriptors(&key));
            continue;
        }
        let checksum = v.get("checksum").and_then(yaml_scalar).unwrap_or_default();
        let id = if resolution.is_empty() {
            &key
        } else {
            &resolution
        };
        let i = graph.add(label(id, &checksum));
        for descriptor in split_descriptors(&key) {
            roots.index.insert(descriptor, i);
        }
        entries.push((i, v));
    }

    for (i, v) in entries {
        let mut optional: HashSet<String> = v
            .get("dependenciesMeta")
            .and_then(Value::as_mapping)
            .map(|meta| {
                meta.iter()
                    .filter(|(_, m)| m.get("optional").and_then(Value::as_bool) == Some(true))
                    .filter_map(|(name, _)| yaml_scalar(name))
                    .collect()
            })
            .unwrap_or_default();
        let mut deps = yaml_pairs(v.get("dependencies"));
        for (name, range) in yaml_pairs(v.get("optionalDependencies")) {
            optional.insert(name.clone());
            deps.push((name, range));
        }
        for (name, range) in deps {
            let target = roots.lookup(&name, &range);
            graph.link(i, target, optional.contains(&name));
        }
    }
    Ok((graph, roots))
}

/// The workspace folder of a `name@workspace:<dir>` resolution.
fn workspace_dir(resolution: &str) -> Option<&str> {
    let at = resolution.get(1..)?.find("@workspace:")? + 1;
    resolution.get(at + "@workspace:".len()..)
}

/// The descriptors of an entry key (`"a@npm:^1, a@npm:^1.2"`).
fn split_descriptors(key: &str) -> impl Iterator<Item = String> + '_ {
    key.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
}

/// Whether a range names its protocol (`npm:^1`, `workspace:*`, `patch:…`), as opposed to a
/// bare semver range or tag that means `npm:<range>`.
fn has_protocol(range: &str) -> bool {
    match range.split_once(':') {
        Some((protocol, _)) => {
            !protocol.is_empty()
                && protocol
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
        }
        None => false,
    }
}

impl BerryRoots {
    /// Where dependency `name` with range `range` leads.
    fn lookup(&self, name: &str, range: &str) -> Target {
        let mut candidates = vec![format!("{name}@{range}")];
        if !has_protocol(range) {
            candidates.push(format!("{name}@npm:{range}"));
        }
        for descriptor in &candidates {
            if let Some(&i) = self.index.get(descriptor) {
                return Target::Node(i);
            }
            if self.internal.contains(descriptor) {
                return Target::Internal;
            }
        }
        if range.starts_with("workspace:") {
            Target::Internal
        } else {
            Target::Missing
        }
    }

    /// The direct dependencies of the workspace in `dir`, with the ranges its lockfile entry
    /// records (the package.json spec when the entry lacks one); None when the lockfile has no
    /// such workspace.
    pub(super) fn resolve(
        &self,
        dir: &str,
        deps: &BTreeMap<String, String>,
    ) -> Option<Vec<Target>> {
        let key = if dir.is_empty() { "." } else { dir };
        let workspace = self.workspaces.get(key)?;
        Some(
            deps.iter()
                .map(|(name, spec)| {
                    let range = workspace.get(name).unwrap_or(spec);
                    self.lookup(name, range)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil;
    use super::super::LockfileKind;
    use super::*;

    const ACME: &str = include_str!("testdata/berry.lock");
    const N7: &str = "is-number@npm:7.0.0 10c0/b4686d0d3053146095ccd45346461bc8e53b80aeb7671cc52a4de02dbbf7dc0d1d2a986e2fe4ae206984b4d34ef37e8b795ebc4f4295c978373e6575e295d811";
    const N6: &str = "is-number@npm:6.0.0 10c0/5da4c68401529675c575878d2760d66f18eaef4b014858577f6003daf66488d7fe4eae684b1e8574e3fa1bb447c6c6c56b8491d2b4b3239da2d32e5f6f218008";
    const ODD: &str = "is-odd@npm:3.0.1 10c0/89ee2e353c5a3f3bd400c79db1c307a5b3506198ee8169d521e533a9b1d8a08fc95f21a919c084e98845b4286d7ffe309778da03744dfe66c3c1763ab1a030c6";

    #[test]
    fn acme_closures() {
        testutil::acme_suite(
            LockfileKind::Berry,
            ACME,
            &[N7],
            &[N6, ODD],
            &[
                ("10c0/89ee2e35", "10c0/00ee2e35"),
                ("10c0/5da4c684", "10c0/00a4c684"),
                (
                    "resolution: \"is-odd@npm:3.0.1\"",
                    "resolution: \"is-odd@npm:3.0.2\"",
                ),
            ],
        );
        assert_eq!(
            testutil::closure(LockfileKind::Berry, ACME, "packages/c", testutil::A_DEPS),
            None,
            "unknown workspace"
        );
        // `@acme/a` is `workspace:*`: internal.
        assert_eq!(
            testutil::closure(
                LockfileKind::Berry,
                ACME,
                "packages/b",
                &[("@acme/a", "workspace:*"), ("is-odd", "3.0.1")]
            ),
            Some(testutil::strings(&[N6, ODD]))
        );
    }

    #[test]
    fn bare_ranges_optional_deps_and_cycles() {
        let text = r#"
__metadata:
  version: 8
  cacheKey: 10c0

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  dependencies:
    x: ^1.0.0
  languageName: unknown
  linkType: soft

"x@npm:^1.0.0, x@npm:^1.1.0":
  version: 1.1.0
  resolution: "x@npm:1.1.0"
  dependencies:
    fsevents: "npm:^2.3.2"
    y: ^2.0.0
  dependenciesMeta:
    fsevents:
      optional: true
  checksum: 10c0/x

"y@npm:^2.0.0":
  version: 2.0.0
  resolution: "y@npm:2.0.0"
  dependencies:
    x: "npm:^1.1.0"
  checksum: 10c0/y
"#;
        assert_eq!(
            testutil::closure(LockfileKind::Berry, text, "", &[("x", "^1.0.0")]),
            Some(testutil::strings(&[
                "x@npm:1.1.0 10c0/x",
                "y@npm:2.0.0 10c0/y"
            ]))
        );
        let stale = text.replace("\"y@npm:^2.0.0\":", "\"y@npm:^3.0.0\":");
        assert_eq!(
            testutil::closure(LockfileKind::Berry, &stale, "", &[("x", "^1.0.0")]),
            None
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(workspace_dir("acme@workspace:."), Some("."));
        assert_eq!(
            workspace_dir("@acme/a@workspace:packages/a"),
            Some("packages/a")
        );
        assert_eq!(workspace_dir("is-number@npm:7.0.0"), None);
        assert_eq!(workspace_dir(""), None);
        assert!(has_protocol("npm:^1"));
        assert!(has_protocol("git+ssh://x"));
        assert!(!has_protocol("^1.0.0"));
        assert!(!has_protocol(":x"));
        assert!(!has_protocol("latest"));
    }

    #[test]
    fn rejects_garbage() {
        let no_metadata = "\"a@npm:^1\":\n  version: 1.0.0\n";
        let bad_entry = "__metadata:\n  version: 8\n\"a@npm:^1\": 7\n";
        testutil::rejects_garbage(LockfileKind::Berry, &[no_metadata, bad_entry]);
    }
}
