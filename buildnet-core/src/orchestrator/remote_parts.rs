//! The parts of a remote action that follow from a target alone: its working folder, its
//! output paths and the filter of what comes back, and its environment.

use std::collections::BTreeMap;

use super::ResolvedTarget;
use crate::config::Config;
use crate::error::Result;

/// The PATH of a remote command, after the workspace's tool folders (see [`remote_env`]).
const REMOTE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The working directory of `target`'s action, relative to the input root (`""`: the root).
pub(super) fn working_dir(target: &ResolvedTarget) -> String {
    let rel = target.cwd_rel.trim_end_matches('/');
    if rel == "." || rel.is_empty() {
        String::new()
    } else {
        rel.trim_start_matches("./").to_owned()
    }
}

/// The action's `output_paths`, relative to its working directory: each output glob's literal
/// start (`dist/**` -> `dist`); the globs themselves filter what comes back.
pub(super) fn output_paths(target: &ResolvedTarget) -> Vec<String> {
    let mut paths: Vec<String> = target
        .outputs
        .iter()
        .filter(|g| !g.starts_with('!'))
        .filter_map(|g| {
            let literal: Vec<&str> = g
                .split('/')
                .take_while(|c| !c.contains(['*', '?', '[', '{']))
                .filter(|c| !c.is_empty() && *c != ".")
                .collect();
            (!literal.is_empty()).then(|| literal.join("/"))
        })
        .collect();
    paths.sort();
    paths.dedup();
    // A path below another listed one is covered by it.
    let all = paths.clone();
    paths.retain(|p| {
        !all.iter()
            .any(|q| q != p && p.starts_with(&format!("{q}/")))
    });
    paths
}

/// Matches a workspace-relative path against `target`'s output globs (relative to its cwd).
pub(super) fn output_matcher(target: &ResolvedTarget) -> Result<impl Fn(&str) -> bool> {
    let (include, exclude) = crate::hash::compile_globs(&target.outputs)?;
    let cwd = working_dir(target);
    Ok(move |path: &str| {
        let rel = if cwd.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(&format!("{cwd}/"))
        };
        match (rel, &include) {
            (Some(rel), Some(include)) => include.is_match(rel) && !exclude.is_match(rel),
            _ => false,
        }
    })
}

/// The variables of `target`'s remote command: only those its `env` and `pass_env` name (as
/// in strict mode, without the machine's own such as `HOME` and `PWD`), and for a Turborepo
/// task the package manager's and `TURBO_HASH`. The workspace's absolute path becomes the path
/// from the command's folder to the root (so two clones make the same action), and `PATH` is
/// the workspace's tool folders (relative) then [`REMOTE_PATH`], unless the target names
/// `PATH` itself.
pub(super) fn remote_env(
    config: &Config,
    vars: &BTreeMap<String, String>,
    target: &ResolvedTarget,
    key: &str,
) -> Vec<(String, String)> {
    let root = config.root.to_string_lossy().into_owned();
    let depth = working_dir(target)
        .split('/')
        .filter(|c| !c.is_empty())
        .count();
    let up = if depth == 0 {
        ".".to_owned()
    } else {
        vec![".."; depth].join("/")
    };
    let relative = |v: &str| v.replace(&root, &up);
    let names: Vec<&str> = target
        .env
        .iter()
        .chain(&target.pass_env)
        .map(String::as_str)
        .collect();
    let mut env = crate::process::env::select(names.iter().copied(), vars);
    for secret in crate::process::env::OWN_SECRETS {
        env.remove(secret);
    }
    if let Some(task) = &target.task {
        env.extend(task.script_env(&config.root));
        env.insert("TURBO_HASH".into(), super::run::short_hash(key).to_owned());
    }
    if !env.contains_key("PATH") {
        let mut parts: Vec<String> =
            std::env::split_paths(&target.path_env(&config.root, &BTreeMap::new()))
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| p.starts_with(&root))
                .collect();
        parts.push(REMOTE_PATH.to_owned());
        env.insert("PATH".into(), parts.join(":"));
    }
    env.into_iter()
        .map(|(k, v)| {
            let v = relative(&v);
            (k, v)
        })
        .collect()
}
