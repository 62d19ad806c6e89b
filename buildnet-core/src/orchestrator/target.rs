//! A target ready to run: its adapter's defaults applied, paths resolved.
//!
//! Adapter defaults (every field written in `buildnet.yaml` overrides its default):
//!
//! | adapter | command | inputs | outputs |
//! |---|---|---|---|
//! | `esbuild` | `esbuild src/index.ts --bundle --platform=node --outfile=dist/index.js` | `src/**`, `package.json` | `dist/**` |
//! | `bun` | `bun build src/index.ts --outdir dist --target node` | `src/**`, `package.json` | `dist/**` |
//! | `tsc` | `tsc -p tsconfig.json` | `src/**`, `tsconfig.json`, `package.json` | `dist/**` |
//! | `vite` | `vite build` | `src/**`, `public/**`, `index.html`, `vite.config.*`, `package.json` | `dist/**` |
//! | `npm-script` | `<pm> run <script>` | every file of `cwd` | `dist/**` |
//!
//! For `npm-script`, `<script>` is the target name after its last `:` (`web:build` runs
//! `build`), and `<pm>` is the workspace's package manager, told by its lockfile at the root:
//! `bun.lock`/`bun.lockb` → bun, `pnpm-lock.yaml` → pnpm, `yarn.lock` → yarn, else npm.
//!
//! Commands run with `node_modules/.bin` of the target's folder and of the workspace root in
//! front of `PATH`, as package managers do for scripts, so tools installed by the workspace are
//! found. A target without `inputs` (and without an adapter supplying them) hashes every file of
//! its folder that git would not ignore; a target's outputs never count as its inputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, EnvMode, TargetConfig, TaskSpec};

/// A target with every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTarget {
    pub name: String,
    pub command: String,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// Working directory relative to the workspace root (`.` for the root).
    pub cwd_rel: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<Duration>,
    pub cache: bool,
    pub adapter: Option<String>,
    /// Passed to the command, not hashed.
    pub pass_env: Vec<String>,
    pub env_mode: EnvMode,
    /// Input globs relative to the workspace root.
    pub root_inputs: Vec<String>,
    /// Further parts of the definition the key covers (a Turborepo task's resolved
    /// definition, external dependencies and args).
    pub key_extra: Vec<String>,
    /// The Turborepo task this target is, if it is one.
    pub task: Option<Arc<TaskSpec>>,
    /// The input and output globs the user wrote (not defaults), relative to `cwd`: each one
    /// that matches no file is reported.
    pub declared_inputs: Vec<String>,
    pub declared_outputs: Vec<String>,
    /// Whether the files of `cwd` the ignore files leave (narrowed by `inputs`) are inputs:
    /// false for a Turborepo task with explicit `inputs`.
    pub default_walk: bool,
    /// Globs relative to `cwd` whose files are inputs whether or not an ignore file excludes
    /// them (a Turborepo task's explicit `inputs`, read as turbo reads them).
    pub unignored_inputs: Vec<String>,
}

/// What a build adds to its targets' definitions.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunArgs<'a> {
    /// Arguments after `--`, appended to every Turborepo task's script.
    pub args: &'a [String],
    /// Run Turborepo tasks through `<pm> run` instead of starting the script directly.
    pub pm_run: bool,
}

struct AdapterDefaults {
    command: String,
    inputs: &'static [&'static str],
    outputs: &'static [&'static str],
}

fn adapter_defaults(
    adapter: &str,
    name: &str,
    pm: &dyn Fn() -> &'static str,
) -> Option<AdapterDefaults> {
    let d = |command: &str, inputs, outputs| AdapterDefaults {
        command: command.to_owned(),
        inputs,
        outputs,
    };
    Some(match adapter {
        "esbuild" => d(
            "esbuild src/index.ts --bundle --platform=node --outfile=dist/index.js",
            &["src/**", "package.json"],
            &["dist/**"],
        ),
        "bun" => d(
            "bun build src/index.ts --outdir dist --target node",
            &["src/**", "package.json"],
            &["dist/**"],
        ),
        "tsc" => d(
            "tsc -p tsconfig.json",
            &["src/**", "tsconfig.json", "package.json"],
            &["dist/**"],
        ),
        "vite" => d(
            "vite build",
            &[
                "src/**",
                "public/**",
                "index.html",
                "vite.config.*",
                "package.json",
            ],
            &["dist/**"],
        ),
        "npm-script" => {
            let script = name.rsplit(':').next().unwrap_or(name);
            d(&format!("{} run {script}", pm()), &[], &["dist/**"])
        }
        _ => return None,
    })
}

/// The workspace's package manager, from the lockfile at its root.
pub fn package_manager(root: &Path) -> &'static str {
    let has = |f: &str| root.join(f).is_file();
    if has("bun.lock") || has("bun.lockb") {
        "bun"
    } else if has("pnpm-lock.yaml") {
        "pnpm"
    } else if has("yarn.lock") {
        "yarn"
    } else {
        "npm"
    }
}

impl ResolvedTarget {
    pub fn resolve(config: &Config, name: &str, t: &TargetConfig) -> ResolvedTarget {
        Self::resolve_with(
            config,
            name,
            t,
            &|| package_manager(&config.root),
            RunArgs::default(),
        )
    }

    /// Resolves every target named, looking for the package manager only once.
    pub fn resolve_all<'a>(
        config: &Config,
        names: impl IntoIterator<Item = &'a String>,
        run: RunArgs<'_>,
    ) -> Vec<ResolvedTarget> {
        let pm = std::sync::OnceLock::new();
        let pm = || *pm.get_or_init(|| package_manager(&config.root));
        let run = RunArgs {
            pm_run: run.pm_run || config.pm_run,
            ..run
        };
        names
            .into_iter()
            .map(|name| Self::resolve_with(config, name, &config.targets[name], &pm, run))
            .collect()
    }

    fn resolve_with(
        config: &Config,
        name: &str,
        t: &TargetConfig,
        pm: &dyn Fn() -> &'static str,
        run: RunArgs<'_>,
    ) -> ResolvedTarget {
        if let Some(task) = &t.task {
            return Self::resolve_task(config, name, t, task, run);
        }
        let defaults = t
            .adapter
            .as_deref()
            .and_then(|a| adapter_defaults(a, name, pm));
        let pick = |given: &Vec<String>, default: Option<&[&str]>| -> Vec<String> {
            if given.is_empty() {
                default
                    .unwrap_or(&[])
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                given.clone()
            }
        };
        let command = t
            .command
            .clone()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| defaults.as_ref().map(|d| d.command.clone()))
            .unwrap_or_default();
        let cwd_rel = t.cwd.clone().unwrap_or_else(|| ".".into());
        ResolvedTarget {
            name: name.to_owned(),
            command,
            cwd: config.root.join(&cwd_rel),
            inputs: pick(&t.inputs, defaults.as_ref().map(|d| d.inputs)),
            outputs: pick(&t.outputs, defaults.as_ref().map(|d| d.outputs)),
            cwd_rel,
            env: t.env.clone(),
            timeout: t.timeout_ms.map(Duration::from_millis),
            cache: t.cache,
            adapter: t.adapter.clone(),
            pass_env: t.pass_env.clone(),
            env_mode: t.env_mode,
            root_inputs: Vec::new(),
            key_extra: Vec::new(),
            task: None,
            declared_inputs: t.inputs.clone(),
            declared_outputs: t.outputs.clone(),
            default_walk: true,
            unignored_inputs: Vec::new(),
        }
    }

    /// A Turborepo task: its script as the package manager would run it.
    fn resolve_task(
        config: &Config,
        name: &str,
        t: &TargetConfig,
        task: &Arc<TaskSpec>,
        run: RunArgs<'_>,
    ) -> ResolvedTarget {
        let cwd_rel = t.cwd.clone().unwrap_or_else(|| ".".into());
        let definition = serde_json::to_string(&task.definition).unwrap_or_default();
        ResolvedTarget {
            name: name.to_owned(),
            command: task.command(run.args, run.pm_run),
            cwd: config.root.join(&cwd_rel),
            cwd_rel,
            inputs: t.inputs.clone(),
            outputs: t.outputs.clone(),
            env: t.env.clone(),
            timeout: t.timeout_ms.map(Duration::from_millis),
            cache: t.cache,
            adapter: None,
            pass_env: t.pass_env.clone(),
            env_mode: t.env_mode,
            root_inputs: task.root_inputs.clone(),
            key_extra: vec![
                definition,
                task.external_deps.clone(),
                task.global_key.clone(),
                format!("{:?}", task.env_mode),
                t.pass_env.join(","),
            ],
            task: Some(Arc::clone(task)),
            // Beside `$TURBO_DEFAULT$` extra globs are optional (`.env*` in turbo's own
            // templates): only an explicit list is checked.
            declared_inputs: if task.default_inputs {
                Vec::new()
            } else {
                task.definition
                    .inputs
                    .iter()
                    .flatten()
                    .filter(|g| !g.starts_with('$') && !g.starts_with("../"))
                    .cloned()
                    .collect()
            },
            declared_outputs: task.definition.outputs.clone(),
            default_walk: task.default_inputs,
            unignored_inputs: task.unignored_inputs.clone(),
        }
    }

    /// The globs hashed without ignore files: [`Self::unignored_inputs`], minus the outputs.
    pub fn unignored_globs(&self) -> Vec<String> {
        self.without_outputs(&self.unignored_inputs)
    }

    /// A warning for each declared input glob that matched none of `files` (paths relative to
    /// the workspace root, as the key holds them).
    pub fn input_warnings<'a>(
        &self,
        files: impl Iterator<Item = &'a String> + Clone,
    ) -> Vec<String> {
        let prefix = self.cwd_prefix();
        let rel = files.filter_map(move |f| {
            if prefix.is_empty() {
                Some(f.as_str())
            } else {
                f.strip_prefix(prefix.as_str())
            }
        });
        unmatched(&self.declared_inputs, rel)
            .into_iter()
            .map(|g| format!("input glob {g:?} matched no file in {}", self.cwd_rel))
            .collect()
    }

    /// A warning for each declared output glob that matched none of `outputs` (relative to the
    /// workspace root).
    pub fn output_warnings(&self, outputs: &[String]) -> Vec<String> {
        let prefix = self.cwd_prefix();
        let rel = outputs.iter().filter_map(|f| {
            if prefix.is_empty() {
                Some(f.as_str())
            } else {
                f.strip_prefix(prefix.as_str())
            }
        });
        unmatched(&self.declared_outputs, rel)
            .into_iter()
            .map(|g| {
                format!(
                    "output glob {g:?} matched no file the command left in {}",
                    self.cwd_rel
                )
            })
            .collect()
    }

    fn cwd_prefix(&self) -> String {
        if self.cwd_rel == "." || self.cwd_rel.is_empty() {
            String::new()
        } else {
            format!("{}/", self.cwd_rel.trim_end_matches('/'))
        }
    }

    /// Whether this target runs nothing (a Turborepo task whose package lacks the script).
    pub fn is_noop(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.script.is_none())
    }

    /// `PATH` with the workspace's tool folders in front: `node_modules/.bin` of the target's
    /// folder and of every folder above it up to the workspace root.
    pub fn path_env(
        &self,
        root: &Path,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> std::ffi::OsString {
        let mut dirs: Vec<PathBuf> = self
            .cwd
            .ancestors()
            .take_while(|d| d.starts_with(root))
            .map(|d| d.join("node_modules/.bin"))
            .collect();
        if dirs.is_empty() {
            dirs.push(root.join("node_modules/.bin"));
        }
        if let Some(path) = vars.get("PATH") {
            dirs.extend(std::env::split_paths(path));
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// The globs hashed for the cache key: the inputs, minus the outputs.
    pub fn input_globs(&self) -> Vec<String> {
        self.without_outputs(&self.inputs)
    }

    /// `globs` with each output glob taken out: a target's outputs never count as its inputs.
    fn without_outputs(&self, globs: &[String]) -> Vec<String> {
        let mut globs = globs.to_vec();
        globs.extend(
            self.outputs
                .iter()
                .filter(|o| !o.starts_with('!'))
                .map(|o| format!("!{o}")),
        );
        globs
    }
}

/// The positive globs of `globs` that match none of `paths`.
fn unmatched<'a>(globs: &[String], paths: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
    globs
        .iter()
        .filter(|g| !g.starts_with('!'))
        .filter(|g| {
            let Ok((Some(m), _)) = crate::hash::compile_globs(std::slice::from_ref(*g)) else {
                return false;
            };
            !paths.clone().any(|p| m.is_match(p))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        Config::parse(yaml, None, Path::new("/ws")).unwrap()
    }

    #[test]
    fn adapter_defaults_apply_and_are_overridable() {
        let c = config(
            "targets:\n  lib:\n    adapter: tsc\n    cwd: packages/lib\n  app:\n    adapter: esbuild\n    outputs: [out/**]\n    command: esbuild main.ts --outfile=out/x.js\n",
        );
        let lib = ResolvedTarget::resolve(&c, "lib", &c.targets["lib"]);
        assert_eq!(lib.command, "tsc -p tsconfig.json");
        assert_eq!(lib.cwd, PathBuf::from("/ws/packages/lib"));
        assert_eq!(lib.inputs, vec!["src/**", "tsconfig.json", "package.json"]);
        assert_eq!(lib.outputs, vec!["dist/**"]);
        assert_eq!(lib.input_globs().last().unwrap(), "!dist/**");
        let app = ResolvedTarget::resolve(&c, "app", &c.targets["app"]);
        assert_eq!(app.command, "esbuild main.ts --outfile=out/x.js");
        assert_eq!(app.outputs, vec!["out/**"]);
        assert_eq!(app.inputs, vec!["src/**", "package.json"]);
    }

    #[test]
    fn npm_script_uses_the_workspace_package_manager() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::parse(
            "targets:\n  web:build: {adapter: npm-script}\n",
            None,
            dir.path(),
        )
        .unwrap();
        let t = ResolvedTarget::resolve(&c, "web:build", &c.targets["web:build"]);
        assert_eq!(t.command, "npm run build");
        std::fs::write(dir.path().join("pnpm-lock.yaml"), "").unwrap();
        let t = ResolvedTarget::resolve(&c, "web:build", &c.targets["web:build"]);
        assert_eq!(t.command, "pnpm run build");
        assert!(t.inputs.is_empty());
    }

    #[test]
    fn globs_that_match_nothing_are_reported_by_glob() {
        let c = config(
            "targets:\n  lib:\n    command: x\n    cwd: packages/lib\n    inputs: [\"src/**\", \"packages/lib/src/**\", \"!src/skip.ts\"]\n    outputs: [dist/**, types/**]\n  tool:\n    adapter: vite\n",
        );
        let lib = ResolvedTarget::resolve(&c, "lib", &c.targets["lib"]);
        let files = ["packages/lib/src/a.ts".to_string(), "README.md".to_string()];
        assert_eq!(
            lib.input_warnings(files.iter()),
            ["input glob \"packages/lib/src/**\" matched no file in packages/lib"]
        );
        let outputs = ["packages/lib/dist/index.js".to_string()];
        assert_eq!(
            lib.output_warnings(&outputs),
            ["output glob \"types/**\" matched no file the command left in packages/lib"]
        );
        // An adapter's defaults are not the user's: no warning for what the project lacks.
        let tool = ResolvedTarget::resolve(&c, "tool", &c.targets["tool"]);
        assert!(tool.input_warnings([].iter()).is_empty());
        assert!(tool.output_warnings(&[]).is_empty());
    }
}
