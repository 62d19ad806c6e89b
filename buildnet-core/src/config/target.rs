//! One target of `buildnet.yaml` and its validation.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::{KNOWN_ADAPTERS, MAX_TIMEOUT_MS};
use crate::error::{Error, Result};
use crate::workspace::TaskSpec;

/// One build target as written in `buildnet.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Shell command, run by `/bin/sh -c`. May be omitted when an adapter supplies one.
    #[serde(default)]
    pub command: Option<String>,
    /// Working directory, relative to the workspace root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Targets that must succeed before this one runs.
    #[serde(default)]
    pub deps: Vec<String>,
    /// Globs (relative to `cwd`) whose files enter the cache key.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Globs (relative to `cwd`) of the files the command produces.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Names of environment variables whose values enter the cache key.
    #[serde(default)]
    pub env: Vec<String>,
    /// Kill the command after this many milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Whether results may be cached.
    #[serde(default = "default_true")]
    pub cache: bool,
    /// A known tool whose defaults apply (`esbuild`, `bun`, `tsc`, `vite`, `npm-script`).
    #[serde(default)]
    pub adapter: Option<String>,
    /// Variables passed to the command without entering the key (names, `FOO_*` wildcards,
    /// `!` to take one back): turbo's `passThroughEnv`.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Which of the daemon's variables the command sees: `loose` (the default here: all of
    /// them) or `strict` (only a fixed list, `PATH` and `HOME` among them, plus `env` and
    /// `pass_env`; the default for Turborepo tasks, as in turbo).
    #[serde(default)]
    pub env_mode: EnvMode,
    /// Set by the package-manager workspace reader for a `turbo.json` task; never written in
    /// `buildnet.yaml`.
    #[serde(skip)]
    pub task: Option<std::sync::Arc<TaskSpec>>,
}

/// Which of the daemon's environment variables a command sees.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EnvMode {
    /// Every variable of the daemon (BuildNet's own secrets excepted).
    #[default]
    Loose,
    /// Only a fixed list of system variables, plus the target's `env` and `pass_env`.
    Strict,
}

fn default_true() -> bool {
    true
}

pub(super) fn validate_target(
    name: &str,
    target: &TargetConfig,
    all: &BTreeMap<String, TargetConfig>,
) -> Result<()> {
    let field = |f: &str, msg: String| Error::config(format!("field `targets.{name}{f}`: {msg}"));
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@/".contains(c))
    {
        return Err(field(
            "",
            format!("target name {name:?} may only use letters, digits and - _ . : @ /"),
        ));
    }
    let command_empty = target
        .command
        .as_deref()
        .is_none_or(|c| c.trim().is_empty());
    if command_empty && target.adapter.is_none() {
        return Err(field(
            ".command",
            "a target needs a command or an adapter".into(),
        ));
    }
    if let Some(adapter) = &target.adapter {
        if !KNOWN_ADAPTERS.contains(&adapter.as_str()) {
            return Err(field(
                ".adapter",
                format!(
                    "unknown adapter {adapter:?} (known: {})",
                    KNOWN_ADAPTERS.join(", ")
                ),
            ));
        }
    }
    if let Some(cwd) = &target.cwd {
        check_relative(cwd).map_err(|msg| field(".cwd", msg))?;
    }
    for dep in &target.deps {
        if !all.contains_key(dep) {
            let known: Vec<&str> = all.keys().map(String::as_str).collect();
            return Err(field(
                ".deps",
                format!("unknown target {dep:?} (known: {})", known.join(", ")),
            ));
        }
    }
    for (list, globs) in [("inputs", &target.inputs), ("outputs", &target.outputs)] {
        for glob in globs {
            let pattern = glob.strip_prefix('!').unwrap_or(glob);
            check_relative(pattern).map_err(|msg| field(&format!(".{list}"), msg))?;
            globset::Glob::new(pattern)
                .map_err(|e| field(&format!(".{list}"), format!("invalid glob {glob:?}: {e}")))?;
        }
    }
    for (list, vars) in [("env", &target.env), ("pass_env", &target.pass_env)] {
        for var in vars {
            if !is_env_pattern(var) {
                return Err(field(
                    &format!(".{list}"),
                    format!("{var:?} is not an environment variable name (or a FOO_* pattern)"),
                ));
            }
        }
    }
    let max_timeout = MAX_TIMEOUT_MS;
    if target.timeout_ms.is_some_and(|t| t == 0 || t > max_timeout) {
        return Err(field(
            ".timeout_ms",
            format!("must be between 1 and {max_timeout}"),
        ));
    }
    Ok(())
}

/// An environment variable name, a `FOO_*` wildcard (`*` anywhere), or either with a leading
/// `!` (taken back out of what the others matched).
pub fn is_env_pattern(var: &str) -> bool {
    let name = var.strip_prefix('!').unwrap_or(var);
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*')
}

/// A path in the config must stay inside the workspace: relative, with no `..` leaving it.
fn check_relative(path: &str) -> std::result::Result<(), String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(format!("{path:?} must be relative to the workspace root"));
    }
    let mut depth: i64 = 0;
    for component in p.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("{path:?} leaves the workspace"));
        }
    }
    Ok(())
}
