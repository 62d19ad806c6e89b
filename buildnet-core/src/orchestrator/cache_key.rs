//! How a target's cache key is formed, and how a miss is explained.
//!
//! The key is blake3 over, in this order, each part length-prefixed so no two different
//! combinations can produce the same byte stream:
//!
//! 1. a format tag (`buildnet-cache-v1`), so a change of this scheme never reuses old entries;
//! 2. the target's definition: command, working directory, output globs and adapter (the
//!    command as it will run, adapter defaults applied), and for a Turborepo task its resolved
//!    definition, external dependency closure, env mode and pass-through names;
//! 3. for each variable `env` names (plain names, and every variable a `FOO_*` pattern
//!    matches), sorted: the name and its value (or a marker for a plain name that is unset);
//! 4. for each input file, sorted by path: its path relative to the workspace root and the
//!    blake3 of its contents (the tree hasher's stat cache avoids re-reading unchanged files;
//!    a Turborepo task's global inputs are among them);
//! 5. for each dependency, sorted: its name and its own cache key, so any change upstream
//!    reaches every dependent.
//!
//! The environment outside the names in `env` never enters the key. The parts are also kept as
//! [`KeyComponents`] (environment values only as hashes) with each cached run, so a later miss
//! can say what changed: which input file, which variable, which dependency, or the definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::target::ResolvedTarget;

const FORMAT_TAG: &[u8] = b"buildnet-cache-v1";

/// What a key was computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyComponents {
    /// blake3 of the definition (command, cwd, outputs, adapter).
    pub definition: String,
    /// Variable name -> blake3 of its value (`None`: unset).
    pub env: BTreeMap<String, Option<String>>,
    /// Input path (relative to the root) -> blake3 of its contents.
    pub files: BTreeMap<String, String>,
    /// Dependency -> its cache key.
    pub deps: BTreeMap<String, String>,
}

fn part(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

impl KeyComponents {
    /// Gathers the parts of `target`'s key. `env` holds the variables its `env` names (see
    /// [`crate::process::env::for_key`]); `files` are the input hashes relative to the
    /// workspace root; `deps` are the dependencies' keys.
    pub fn gather(
        target: &ResolvedTarget,
        env: BTreeMap<String, Option<String>>,
        files: BTreeMap<String, String>,
        deps: BTreeMap<String, String>,
    ) -> (KeyComponents, String) {
        let mut definition = blake3::Hasher::new();
        part(&mut definition, target.command.as_bytes());
        part(&mut definition, target.cwd_rel.as_bytes());
        part(&mut definition, target.outputs.len().to_string().as_bytes());
        for output in &target.outputs {
            part(&mut definition, output.as_bytes());
        }
        part(
            &mut definition,
            target.adapter.as_deref().unwrap_or("").as_bytes(),
        );
        for extra in &target.key_extra {
            part(&mut definition, extra.as_bytes());
        }
        let mut env_values = BTreeMap::new();
        let mut key = blake3::Hasher::new();
        part(&mut key, FORMAT_TAG);
        let definition = definition.finalize();
        part(&mut key, definition.as_bytes());
        for (name, value) in env {
            part(&mut key, name.as_bytes());
            match &value {
                Some(v) => {
                    part(&mut key, b"set");
                    part(&mut key, v.as_bytes());
                }
                None => part(&mut key, b"unset"),
            }
            env_values.insert(
                name,
                value.map(|v| blake3::hash(v.as_bytes()).to_hex().to_string()),
            );
        }
        part(&mut key, b"files");
        for (path, hash) in &files {
            part(&mut key, path.as_bytes());
            part(&mut key, hash.as_bytes());
        }
        part(&mut key, b"deps");
        for (dep, dep_key) in &deps {
            part(&mut key, dep.as_bytes());
            part(&mut key, dep_key.as_bytes());
        }
        let components = KeyComponents {
            definition: definition.to_hex().to_string(),
            env: env_values,
            files,
            deps,
        };
        (components, key.finalize().to_hex().to_string())
    }

    /// What differs from `before` (the last cached run), as short sentences.
    pub fn explain_changes(&self, before: &KeyComponents) -> Vec<String> {
        let mut why = Vec::new();
        if self.definition != before.definition {
            why.push("the target's definition changed (command, cwd, outputs or adapter)".into());
        }
        for (name, value) in &self.env {
            match before.env.get(name) {
                Some(old) if old == value => {}
                Some(_) => why.push(format!("environment variable {name} changed")),
                None => why.push(format!(
                    "environment variable {name} is now part of the key"
                )),
            }
        }
        for (path, hash) in &self.files {
            match before.files.get(path) {
                Some(old) if old == hash => {}
                Some(_) => why.push(format!("input {path} changed")),
                None => why.push(format!("input {path} was added")),
            }
        }
        for path in before.files.keys().filter(|p| !self.files.contains_key(*p)) {
            why.push(format!("input {path} was removed"));
        }
        for (dep, key) in &self.deps {
            if before.deps.get(dep) != Some(key) {
                why.push(format!("dependency {dep} changed"));
            }
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn target() -> ResolvedTarget {
        ResolvedTarget {
            name: "lib".into(),
            command: "tsc".into(),
            cwd: PathBuf::from("/ws/lib"),
            cwd_rel: "lib".into(),
            inputs: vec!["src/**".into()],
            outputs: vec!["dist/**".into()],
            env: vec!["NODE_ENV".into()],
            timeout: None,
            cache: true,
            adapter: None,
            pass_env: Vec::new(),
            env_mode: Default::default(),
            root_inputs: Vec::new(),
            key_extra: Vec::new(),
            task: None,
            declared_inputs: Vec::new(),
            declared_outputs: Vec::new(),
            default_walk: true,
            unignored_inputs: Vec::new(),
        }
    }

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_part_changes_the_key_and_is_explained() {
        let t = target();
        let env = |v: &'static str| BTreeMap::from([("NODE_ENV".to_string(), Some(v.to_string()))]);
        let base_files = files(&[("lib/src/a.ts", "h1")]);
        let (c0, k0) = KeyComponents::gather(&t, env("dev"), base_files.clone(), BTreeMap::new());
        let (_, same) = KeyComponents::gather(&t, env("dev"), base_files.clone(), BTreeMap::new());
        assert_eq!(k0, same, "the key is deterministic");

        let (c, k) = KeyComponents::gather(&t, env("prod"), base_files.clone(), BTreeMap::new());
        assert_ne!(k, k0);
        assert_eq!(
            c.explain_changes(&c0),
            vec!["environment variable NODE_ENV changed"]
        );

        let (c, k) = KeyComponents::gather(
            &t,
            env("dev"),
            files(&[("lib/src/a.ts", "h2")]),
            BTreeMap::new(),
        );
        assert_ne!(k, k0);
        assert_eq!(c.explain_changes(&c0), vec!["input lib/src/a.ts changed"]);

        let (c, k) = KeyComponents::gather(
            &t,
            env("dev"),
            files(&[("lib/src/b.ts", "h1")]),
            BTreeMap::new(),
        );
        assert_ne!(k, k0);
        assert_eq!(
            c.explain_changes(&c0),
            vec![
                "input lib/src/b.ts was added",
                "input lib/src/a.ts was removed"
            ]
        );

        let deps = files(&[("base", "k")]);
        let (c, k) = KeyComponents::gather(&t, env("dev"), base_files.clone(), deps);
        assert_ne!(k, k0);
        assert_eq!(c.explain_changes(&c0), vec!["dependency base changed"]);

        let mut other = t.clone();
        other.command = "tsc -b".into();
        let (c, k) = KeyComponents::gather(&other, env("dev"), base_files, BTreeMap::new());
        assert_ne!(k, k0);
        assert!(c.explain_changes(&c0)[0].contains("definition"));
    }

    #[test]
    fn unrelated_environment_and_env_values_are_not_stored_in_clear() {
        let t = target();
        let (c, k1) = KeyComponents::gather(
            &t,
            BTreeMap::from([("NODE_ENV".to_string(), Some("secret".to_string()))]),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        let (_, k2) = KeyComponents::gather(
            &t,
            BTreeMap::from([("NODE_ENV".to_string(), Some("secret".to_string()))]),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert_eq!(k1, k2);
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("secret"));
    }
}
