//! Dry runs: which targets would be cache hits (locally, or in the remote cache: a `HEAD`
//! each), and for each miss, what changed since the target's last cached run.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::{BuildOptions, KeyComponents, Orchestrator, ResolvedTarget, TargetGraph};
use crate::config::Config;
use crate::error::Result;

/// One target of a dry run: would it be a hit, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunEntry {
    pub target: String,
    pub cache_key: String,
    pub hit: bool,
    /// Whether the hit is in the remote cache (and not in the local one).
    pub remote: bool,
    /// Whether the hit is in the remote execution engine's action cache (and in neither of
    /// the others).
    pub action_cache: bool,
    /// For a miss: what changed since the target's last cached run.
    pub reasons: Vec<String>,
    /// The input files the key covers: path (relative to the workspace root) -> blake3.
    pub inputs: BTreeMap<String, String>,
    /// Declared input globs that match no file.
    pub warnings: Vec<String>,
}

impl Orchestrator {
    /// Which targets would be cache hits, and for each miss, what changed.
    pub fn dry_run(
        &self,
        config: &Config,
        targets: &[String],
        options: &BuildOptions,
    ) -> Result<Vec<DryRunEntry>> {
        let graph = TargetGraph::resolve_with(config, targets, options.edges())?;
        self.load_stats();
        let vars = options.vars();
        let (modes, remote) = crate::remote_cache::resolve(
            config,
            &vars,
            options.cache.as_deref(),
            &options.remote_cache,
        )?;
        let limit = config.cache.max_artifact_bytes;
        let remote = remote.map(|s| crate::remote_cache::RemoteCache::new(s, &self.breaker, limit));
        let engine = self.remote_exec.engine(config, options.local)?;
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut entries = Vec::new();
        let targets = ResolvedTarget::resolve_all(config, &graph.order, options.run_args());
        // The file trees are walked in parallel; the keys are then chained in graph order.
        let files: Vec<Result<BTreeMap<String, String>>> = if crate::runtime::parallel() {
            targets
                .par_iter()
                .map(|t| self.key_files(config, t))
                .collect()
        } else {
            targets.iter().map(|t| self.key_files(config, t)).collect()
        };
        for (target, files) in targets.into_iter().zip(files) {
            let name = &target.name;
            let dep_keys = graph.deps[name]
                .iter()
                .map(|d| (d.clone(), keys[d].clone()))
                .collect();
            let (components, key) = KeyComponents::gather(
                &target,
                crate::process::env::for_key(&target.env, &vars),
                files?,
                dep_keys,
            );
            let inputs = components.files.clone();
            let mut warnings = target.input_warnings(inputs.keys());
            let looked = target.cache && !options.force;
            let stored = looked && modes.local_read && self.store.cache_entry(&key)?.is_some();
            let in_remote = looked && !stored && remote.as_ref().is_some_and(|r| r.exists(&key));
            if let Some(remote) = &remote {
                warnings.extend(remote.take_warnings());
            }
            let in_action_cache = looked
                && !stored
                && !in_remote
                && engine.as_ref().is_some_and(|e| {
                    self.action_cache_has(config, &vars, e, &target, &key, &components)
                });
            let hit = stored || in_remote || in_action_cache;
            let reasons = if hit {
                Vec::new()
            } else if !target.cache {
                vec!["caching is off for this target (cache: false)".into()]
            } else if options.force {
                vec!["--force ignores the cache".into()]
            } else {
                match self.store.last_cached_components(name)? {
                    None => vec!["never built with caching before".into()],
                    Some((last_key, _)) if last_key == key => {
                        vec!["the cached outputs are no longer in the store".into()]
                    }
                    Some((_, json)) => {
                        let before: KeyComponents = serde_json::from_str(&json).unwrap_or_default();
                        let why = components.explain_changes(&before);
                        if why.is_empty() {
                            vec!["the cache key changed".into()]
                        } else {
                            why
                        }
                    }
                }
            };
            keys.insert(name.clone(), key.clone());
            entries.push(DryRunEntry {
                target: name.clone(),
                cache_key: key,
                hit,
                remote: in_remote,
                action_cache: in_action_cache,
                reasons,
                inputs,
                warnings,
            });
        }
        Ok(entries)
    }
}
