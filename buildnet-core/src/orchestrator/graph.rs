//! The target graph: the targets asked for and everything they depend on, in dependency order.
//!
//! Resolution fails before anything runs: an unknown target is reported with the list of known
//! ones, a cycle with its path (`a -> b -> a`), a dependency on a persistent Turborepo task
//! (one that never ends) by both names.
//!
//! In a Turborepo workspace a bare task name (`build`) asks for that task of every package
//! that defines it; `pkg#task` for one. A task's `with` siblings join the build without an
//! edge.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, ErrorCode, Result};

/// Which dependency edges a build keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Edges {
    #[default]
    All,
    /// The targets asked for, without their dependencies.
    Only,
    /// The dependencies run too, but nothing waits for anything.
    Parallel,
}

/// A resolved, acyclic graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TargetGraph {
    /// Every target of the graph; each comes after all of its dependencies.
    pub order: Vec<String>,
    /// Each target's direct dependencies.
    pub deps: BTreeMap<String, Vec<String>>,
}

impl TargetGraph {
    /// Resolves `requested` (every target when empty) against `config`.
    pub fn resolve(config: &Config, requested: &[String]) -> Result<TargetGraph> {
        Self::resolve_with(config, requested, Edges::All)
    }

    /// Resolves `requested` with `edges`: all of them, none (`only`: the targets asked for
    /// alone), or dependencies included but not waited for (`parallel`).
    pub fn resolve_with(
        config: &Config,
        requested: &[String],
        edges: Edges,
    ) -> Result<TargetGraph> {
        let mut roots: Vec<String> = Vec::new();
        if requested.is_empty() {
            roots = config.targets.keys().cloned().collect();
        }
        for name in requested {
            if !config.targets.contains_key(name) {
                let tasks: Vec<String> = config
                    .targets
                    .iter()
                    .filter(|(_, t)| t.task.as_ref().is_some_and(|s| s.task == *name))
                    .map(|(id, _)| id.clone())
                    .collect();
                if !tasks.is_empty() {
                    roots.extend(tasks);
                    continue;
                }
            }
            roots.push(name.clone());
        }
        // `with` siblings run beside what asked for them.
        let mut at = 0;
        while at < roots.len() {
            if let Some(spec) = config.targets.get(&roots[at]).and_then(|t| t.task.as_ref()) {
                for sibling in &spec.with {
                    if !roots.contains(sibling) {
                        roots.push(sibling.clone());
                    }
                }
            }
            at += 1;
        }
        for name in &roots {
            if name.trim().is_empty() {
                return Err(Error::invalid_argument(format!(
                    "target names must not be empty (asked for {requested:?})"
                )));
            }
            if !config.targets.contains_key(name) {
                let known: Vec<&str> = config.targets.keys().map(String::as_str).collect();
                return Err(Error::not_found(format!(
                    "unknown target {name:?} (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        let mut graph = TargetGraph {
            order: Vec::new(),
            deps: BTreeMap::new(),
        };
        let mut done = BTreeSet::new();
        let mut path = Vec::new();
        for root in &roots {
            visit(config, root, &mut path, &mut done, &mut graph)?;
        }
        match edges {
            Edges::All => {}
            Edges::Only => {
                graph.order.retain(|t| roots.contains(t));
                graph.deps.retain(|t, _| roots.contains(t));
                for deps in graph.deps.values_mut() {
                    deps.retain(|d| roots.contains(d));
                }
            }
            Edges::Parallel => {
                for deps in graph.deps.values_mut() {
                    deps.clear();
                }
            }
        }
        Ok(graph)
    }

    /// Targets that depend directly on `target`.
    pub fn dependents(&self, target: &str) -> Vec<&str> {
        self.deps
            .iter()
            .filter(|(_, deps)| deps.iter().any(|d| d == target))
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// Graphviz DOT text: an edge from each target to each of its dependencies.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph buildnet {\n  rankdir=LR;\n");
        for target in &self.order {
            out.push_str(&format!("  {target:?};\n"));
        }
        for target in &self.order {
            for dep in &self.deps[target] {
                out.push_str(&format!("  {target:?} -> {dep:?};\n"));
            }
        }
        out.push_str("}\n");
        out
    }
}

fn visit(
    config: &Config,
    name: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    graph: &mut TargetGraph,
) -> Result<()> {
    if done.contains(name) {
        return Ok(());
    }
    if let Some(start) = path.iter().position(|p| p == name) {
        let mut cycle: Vec<&str> = path[start..].iter().map(String::as_str).collect();
        cycle.push(name);
        return Err(Error::new(
            ErrorCode::Cycle,
            format!("dependency cycle: {}", cycle.join(" -> ")),
        ));
    }
    let target = config.targets.get(name).ok_or_else(|| {
        Error::not_found(format!(
            "unknown target {name:?} (named in a dependency list)"
        ))
    })?;
    path.push(name.to_owned());
    let mut deps = target.deps.clone();
    deps.sort();
    deps.dedup();
    for dep in &deps {
        let persistent = config
            .targets
            .get(dep)
            .and_then(|t| t.task.as_ref())
            // One without a script runs nothing, so nothing waits forever (turbo allows it).
            .is_some_and(|s| s.definition.persistent && s.script.is_some());
        if persistent {
            return Err(Error::config(format!(
                "{dep:?} is a persistent task, {name:?} cannot depend on it"
            )));
        }
        visit(config, dep, path, done, graph)?;
    }
    path.pop();
    done.insert(name.to_owned());
    graph.order.push(name.to_owned());
    graph.deps.insert(name.to_owned(), deps);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(yaml: &str) -> Config {
        Config::parse(yaml, None, Path::new("/ws")).unwrap()
    }

    #[test]
    fn resolves_requested_targets_and_their_dependencies_in_order() {
        let c = config(
            "targets:\n  a: {command: x}\n  b: {command: x, deps: [a]}\n  c: {command: x, deps: [b, a]}\n  d: {command: x}\n",
        );
        let g = TargetGraph::resolve(&c, &["c".into()]).unwrap();
        assert_eq!(g.order, vec!["a", "b", "c"]);
        assert_eq!(g.deps["c"], vec!["a", "b"]);
        assert_eq!(g.dependents("a"), vec!["b", "c"]);
        let all = TargetGraph::resolve(&c, &[]).unwrap();
        assert_eq!(all.order.len(), 4);
        let dot = g.to_dot();
        assert!(dot.contains("\"c\" -> \"b\";"), "{dot}");
    }

    #[test]
    fn unknown_target_lists_the_known_ones() {
        let c = config("targets:\n  api: {command: x}\n  shared: {command: x}\n");
        let err = TargetGraph::resolve(&c, &["web".into()]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NotFound);
        assert_eq!(err.message(), "unknown target \"web\" (known: api, shared)");
    }

    #[test]
    fn cycle_is_named() {
        let c = config(
            "targets:\n  a: {command: x, deps: [b]}\n  b: {command: x, deps: [c]}\n  c: {command: x, deps: [a]}\n",
        );
        let err = TargetGraph::resolve(&c, &["a".into()]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Cycle);
        assert_eq!(err.message(), "dependency cycle: a -> b -> c -> a");
        let self_loop = config("targets:\n  a: {command: x, deps: [a]}\n");
        let err = TargetGraph::resolve(&self_loop, &[]).unwrap_err();
        assert_eq!(err.message(), "dependency cycle: a -> a");
    }
}
