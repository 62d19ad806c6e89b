//! A Turborepo repository read as BuildNet targets: one target `package#task` for every
//! package and every task some `turbo.json` defines for it (the root package only for its
//! `//#task` keys), with the edges `dependsOn` gives.
//!
//! - `^t`: task `t` of each workspace package this one depends on (where `t` is defined for
//!   it), `t`: the same package's `t`, `pkg#t`: that package's `t` (an unknown package or task
//!   is an error naming the task that asked for it).
//! - A package without the script is a no-op node (turbo's transit task): it still orders its
//!   dependents and its files still reach their keys.
//! - Inputs: none given, the package's files git does not ignore; given, those globs plus
//!   `package.json` and `turbo.json`; `$TURBO_DEFAULT$` adds the default set back; `!` excludes;
//!   `$TURBO_ROOT$/x` and `../x` are read from the repository root. Outputs: the globs given,
//!   plus the task's log `.turbo/turbo-<task>.log` (so a hit restores it too).
//! - Every key also covers the global inputs (the root `package.json`, `globalDependencies`,
//!   `globalEnv`), the package's external dependencies resolved in the lockfile (the whole
//!   lockfile where it cannot be parsed), the resolved definition and the env mode.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::lockfile::{Lockfile, LockfileKind};
use super::packages::{Manager, ManagerKind, Package, Packages, ROOT_PACKAGE};
use super::turbo_json::{TaskDefinition, TurboConfig, TurboEnvMode};
use crate::error::{Error, Result};

/// What a Turborepo task adds to a plain target: how its script starts, and the parts of its
/// key that are not files or variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSpec {
    /// `package#task`.
    pub id: String,
    pub package: String,
    /// The package's folder relative to the root (empty for the root).
    pub package_dir: String,
    pub task: String,
    /// The package.json script; `None` for a no-op (transit) task.
    pub script: Option<String>,
    /// `pre<task>` / `post<task>`, where the package manager runs them.
    pub pre: Option<String>,
    pub post: Option<String>,
    pub manager: Manager,
    pub package_version: Option<String>,
    pub definition: TaskDefinition,
    /// blake3 of the package's external dependency closure in the lockfile.
    pub external_deps: String,
    /// What every task's key holds of the root package.json and the global settings.
    pub global_key: String,
    /// The task's log, relative to the package folder.
    pub log_file: String,
    /// Targets started beside this one (`with`), without an edge.
    pub with: Vec<String>,
    pub framework: Option<String>,
    pub env_mode: TurboEnvMode,
    /// Input globs relative to the repository root (the global inputs among them).
    pub root_inputs: Vec<String>,
    /// Whether the package's files git does not ignore are inputs (no `inputs`, or
    /// `$TURBO_DEFAULT$` among them).
    pub default_inputs: bool,
    /// Input globs relative to the package read whether or not git ignores their files.
    pub unignored_inputs: Vec<String>,
}

impl TaskSpec {
    /// The command BuildNet runs for this task: the script (with `pre`/`post` around it where
    /// the manager runs them) and `args` appended as the manager appends them; with `pm_run`,
    /// `<pm> run <task> [--] args` instead. Empty for a no-op.
    pub fn command(&self, args: &[String], pm_run: bool) -> String {
        let Some(script) = &self.script else {
            return String::new();
        };
        let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        if pm_run {
            let separator = match self.manager.kind {
                ManagerKind::Npm => " --",
                ManagerKind::Pnpm | ManagerKind::Berry => "",
                ManagerKind::Yarn | ManagerKind::Bun => {
                    if args.iter().any(|a| a == "--") {
                        " --"
                    } else {
                        ""
                    }
                }
            };
            let mut command = format!(
                "{} run {}",
                self.manager.kind.binary(),
                shell_quote(&self.task)
            );
            if !args.is_empty() {
                command.push_str(separator);
                command.push(' ');
                command.push_str(&quoted.join(" "));
            }
            return command;
        }
        let main = if quoted.is_empty() {
            script.clone()
        } else {
            format!("{script} {}", quoted.join(" "))
        };
        let parts: Vec<String> = [self.pre.as_ref(), Some(&main), self.post.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.to_owned())
            .collect();
        if parts.len() == 1 {
            main
        } else {
            parts
                .iter()
                .map(|p| format!("( {p}\n)"))
                .collect::<Vec<_>>()
                .join(" && ")
        }
    }

    /// The variables the package manager sets for a script, as `<pm> run` would.
    pub fn script_env(&self, root: &Path) -> Vec<(String, String)> {
        let dir = root.join(&self.package_dir);
        let mut env = vec![
            ("npm_lifecycle_event".to_owned(), self.task.clone()),
            (
                "npm_lifecycle_script".to_owned(),
                self.script.clone().unwrap_or_default(),
            ),
            (
                "npm_package_json".to_owned(),
                dir.join("package.json").display().to_string(),
            ),
            ("INIT_CWD".to_owned(), dir.display().to_string()),
            (
                "npm_config_user_agent".to_owned(),
                format!(
                    "{}/{} buildnet/{}",
                    self.manager.kind.binary(),
                    self.manager.version.as_deref().unwrap_or("0.0.0"),
                    env!("CARGO_PKG_VERSION")
                ),
            ),
        ];
        if self.package != ROOT_PACKAGE {
            env.push(("npm_package_name".to_owned(), self.package.clone()));
        }
        if let Some(version) = &self.package_version {
            env.push(("npm_package_version".to_owned(), version.clone()));
        }
        env
    }
}

/// POSIX shell quoting: a bare word when it is safe, else single quotes.
fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// One task as a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTarget {
    /// The package folder relative to the root (`.` for the root).
    pub cwd: String,
    pub deps: Vec<String>,
    /// `!` globs taken out of the package's default inputs (see [`TaskSpec::default_inputs`]).
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Hashed variables (names and `FOO_*` patterns).
    pub env: Vec<String>,
    /// Passed, not hashed.
    pub pass_env: Vec<String>,
    pub strict: bool,
    pub cache: bool,
    pub spec: Arc<TaskSpec>,
}

/// A Turborepo repository: its packages, its turbo config and the targets they make.
#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    pub root: PathBuf,
    pub packages: Packages,
    pub turbo: TurboConfig,
    /// By id (`package#task`).
    pub tasks: BTreeMap<String, TaskTarget>,
    /// Files whose change means the repository must be read again.
    pub sources: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// The log file of `task`, relative to its package: `:` is written `$colon$`, as turbo does.
pub fn log_file_name(task: &str) -> String {
    format!(".turbo/turbo-{}.log", task.replace(':', "$colon$"))
}

impl Repo {
    /// Reads the repository whose root turbo config is `turbo_file`.
    pub fn read(turbo_file: &Path) -> Result<Repo> {
        let root = turbo_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let packages = Packages::read(&root)?;
        let dirs: BTreeMap<String, String> = packages
            .by_name
            .iter()
            .map(|(n, p)| (n.clone(), p.dir.clone()))
            .collect();
        let turbo = TurboConfig::read(turbo_file, &dirs)?;
        let mut warnings = packages.warnings.clone();
        warnings.extend(turbo.warnings.iter().cloned());
        let (external, lockfile_whole) = external_hashes(&root, &packages, &mut warnings);
        let mut sources = vec![turbo_file.to_path_buf(), root.join("package.json")];
        if let Some(lock) = &packages.manager.lockfile {
            sources.push(root.join(lock));
        }
        for name in ["pnpm-workspace.yaml", ".npmrc", ".yarnrc.yml"] {
            if root.join(name).is_file() {
                sources.push(root.join(name));
            }
        }
        for p in packages.by_name.values().filter(|p| !p.dir.is_empty()) {
            sources.push(root.join(&p.dir).join("package.json"));
        }
        sources.extend(turbo.packages.values().map(|p| p.file.clone()));
        let mut global_inputs = Vec::new();
        if lockfile_whole {
            global_inputs.extend(packages.manager.lockfile.clone());
        }
        // Of the root package.json, what turbo's global hash holds: `engines`, the root's
        // workspace dependencies and its external closure (its name, scripts or description
        // change only the root's own tasks, whose files include package.json).
        let root_json: serde_json::Value = std::fs::read_to_string(root.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let root_package = &packages.by_name[ROOT_PACKAGE];
        let global_key = serde_json::json!({
            "engines": root_json.get("engines"),
            "internal": root_package.internal,
            "external": external.get(ROOT_PACKAGE),
            "globalEnv": turbo.global_env,
            "globalPassThroughEnv": turbo.global_pass_through_env,
        })
        .to_string();
        global_inputs.extend(turbo.global_dependencies.iter().map(|g| {
            let g = g.strip_prefix("$TURBO_ROOT$/").unwrap_or(g);
            g.to_owned()
        }));
        let mut repo = Repo {
            root,
            packages,
            turbo,
            tasks: BTreeMap::new(),
            sources,
            warnings,
        };
        repo.tasks = repo.build_tasks(&external, &global_inputs, &global_key)?;
        Ok(repo)
    }

    fn build_tasks(
        &self,
        external: &BTreeMap<String, String>,
        global_inputs: &[String],
        global_key: &str,
    ) -> Result<BTreeMap<String, TaskTarget>> {
        let names = self.turbo.task_names();
        let mut defs: BTreeMap<String, (&Package, TaskDefinition)> = BTreeMap::new();
        for package in self.packages.by_name.values() {
            for task in &names {
                if let Some(def) = self.turbo.definition(&package.name, task) {
                    defs.insert(format!("{}#{task}", package.name), (package, def));
                }
            }
        }
        let mut tasks = BTreeMap::new();
        for (id, (package, def)) in &defs {
            let task = &id[package.name.len() + 1..];
            if def.interactive && def.cache {
                return Err(Error::config(format!(
                    "{}: task {id}: tasks cannot be marked as interactive and cacheable (add \"cache\": false)",
                    self.turbo.file.display()
                )));
            }
            let mut deps = BTreeSet::new();
            for dep in &def.depends_on {
                for target in self.expand_dep(id, package, dep, &defs)? {
                    deps.insert(target);
                }
            }
            let with = def
                .with
                .iter()
                .flat_map(|w| self.expand_dep(id, package, w, &defs).unwrap_or_default())
                .collect();
            let script = package
                .scripts
                .get(task)
                .filter(|s| !s.trim().is_empty())
                .cloned();
            if package.name == ROOT_PACKAGE {
                if let Some(s) = &script {
                    if calls_turbo(s) {
                        return Err(Error::config(format!(
                            "root task {id} runs `{s}`, which would start turbo again (creating a loop of turbo invocations); give the root script another name"
                        )));
                    }
                }
            }
            let (pre, post) = if self.packages.manager.runs_pre_post() && script.is_some() {
                (
                    package.scripts.get(&format!("pre{task}")).cloned(),
                    package.scripts.get(&format!("post{task}")).cloned(),
                )
            } else {
                (None, None)
            };
            let plan = translate_inputs(&package.dir, def.inputs.as_deref());
            let mut root_inputs = plan.root.clone();
            root_inputs.extend(global_inputs.iter().cloned());
            let log_file = log_file_name(task);
            let mut outputs: Vec<String> = def.outputs.clone();
            if def.cache {
                outputs.push(log_file.clone());
            }
            let framework = super::frameworks::infer(&package.external);
            let mut env: Vec<String> = def.env.clone();
            env.extend(self.turbo.global_env.iter().cloned());
            if let Some(fw) = &framework {
                env.extend(fw.env.iter().map(|e| e.to_string()));
            }
            let mut pass_env: Vec<String> = def.pass_through_env.clone().unwrap_or_default();
            pass_env.extend(
                self.turbo
                    .global_pass_through_env
                    .clone()
                    .unwrap_or_default(),
            );
            let spec = TaskSpec {
                id: id.clone(),
                package: package.name.clone(),
                package_dir: package.dir.clone(),
                task: task.to_owned(),
                script,
                pre,
                post,
                manager: self.packages.manager.clone(),
                package_version: package.version.clone(),
                definition: def.clone(),
                external_deps: external.get(&package.name).cloned().unwrap_or_default(),
                global_key: global_key.to_owned(),
                log_file,
                with,
                framework: framework.map(|f| f.slug.to_owned()),
                env_mode: self.turbo.env_mode,
                root_inputs,
                default_inputs: plan.default,
                unignored_inputs: plan.unignored.clone(),
            };
            tasks.insert(
                id.clone(),
                TaskTarget {
                    cwd: if package.dir.is_empty() {
                        ".".into()
                    } else {
                        package.dir.clone()
                    },
                    deps: deps.into_iter().collect(),
                    inputs: plan.default_excludes,
                    outputs,
                    env,
                    pass_env,
                    strict: self.turbo.env_mode == TurboEnvMode::Strict,
                    cache: def.cache,
                    spec: Arc::new(spec),
                },
            );
        }
        Ok(tasks)
    }

    /// The targets one `dependsOn` (or `with`) entry of `id` names.
    fn expand_dep(
        &self,
        id: &str,
        package: &Package,
        dep: &str,
        defs: &BTreeMap<String, (&Package, TaskDefinition)>,
    ) -> Result<Vec<String>> {
        if let Some(task) = dep.strip_prefix('^') {
            return Ok(package
                .internal
                .iter()
                .map(|d| format!("{d}#{task}"))
                .filter(|t| defs.contains_key(t))
                .collect());
        }
        if let Some((pkg, task)) = dep.split_once('#') {
            if !self.packages.by_name.contains_key(pkg) {
                return Err(Error::config(format!(
                    "task {id} depends on {dep}, but there is no package named {pkg:?}"
                )));
            }
            let target = format!("{pkg}#{task}");
            if !defs.contains_key(&target) {
                return Err(Error::config(format!(
                    "task {id} depends on {dep}, which no turbo.json defines"
                )));
            }
            return Ok(vec![target]);
        }
        let target = format!("{}#{dep}", package.name);
        Ok(defs
            .contains_key(&target)
            .then_some(target)
            .into_iter()
            .collect())
    }

    /// The package whose folder holds `dir` (an absolute path inside the root).
    pub fn package_at(&self, dir: &Path) -> Option<&Package> {
        let rel = dir.strip_prefix(&self.root).ok()?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        self.packages.containing(&rel)
    }
}

/// Whether a root script would start turbo (or BuildNet's `run`) again.
fn calls_turbo(script: &str) -> bool {
    script.split(['&', '|', ';']).any(|part| {
        let mut words = part.split_whitespace();
        let first = words.next().unwrap_or("");
        let first = if ["npx", "pnpm", "yarn", "bunx", "pnpx"].contains(&first) {
            let next = words.next().unwrap_or("");
            if next == "exec" || next == "dlx" {
                words.next().unwrap_or("")
            } else {
                next
            }
        } else {
            first
        };
        first == "turbo" || first.ends_with("/turbo")
    })
}

/// What a task's `inputs` make of its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct InputPlan {
    /// Whether the package's files git does not ignore are read (no `inputs`, or
    /// `$TURBO_DEFAULT$`).
    default: bool,
    /// `!` globs taken out of the default set (relative to the package).
    default_excludes: Vec<String>,
    /// Globs relative to the package read whether or not git ignores their files, as turbo
    /// reads explicit inputs (with their `!` globs, and package.json and turbo.json).
    unignored: Vec<String>,
    /// Globs relative to the repository root (`$TURBO_ROOT$/x`, `../x`).
    root: Vec<String>,
}

fn translate_inputs(package_dir: &str, inputs: Option<&[String]>) -> InputPlan {
    let Some(inputs) = inputs.filter(|i| !i.is_empty()) else {
        return InputPlan {
            default: true,
            ..InputPlan::default()
        };
    };
    let mut plan = InputPlan {
        default: inputs.iter().any(|i| i == "$TURBO_DEFAULT$"),
        ..InputPlan::default()
    };
    let mut positives = Vec::new();
    let mut negatives = Vec::new();
    for input in inputs {
        if input == "$TURBO_DEFAULT$" {
            continue;
        }
        let (neg, glob) = match input.strip_prefix('!') {
            Some(g) => ("!", g),
            None => ("", input.as_str()),
        };
        let glob = glob.strip_prefix("./").unwrap_or(glob);
        if let Some(rest) = glob.strip_prefix("$TURBO_ROOT$/") {
            plan.root.push(format!("{neg}{rest}"));
        } else if glob.starts_with("../") {
            let joined = format!("{package_dir}/{glob}");
            let mut parts: Vec<&str> = Vec::new();
            let mut leaves = false;
            for part in joined.split('/') {
                match part {
                    "" | "." => {}
                    ".." => leaves |= parts.pop().is_none(),
                    p => parts.push(p),
                }
            }
            if !leaves {
                plan.root.push(format!("{neg}{}", parts.join("/")));
            }
        } else if neg.is_empty() {
            positives.push(glob.to_owned());
        } else {
            negatives.push(format!("!{glob}"));
        }
    }
    if plan.default {
        plan.default_excludes = negatives.clone();
    } else {
        positives.extend(["package.json", "turbo.json", "turbo.jsonc"].map(String::from));
    }
    if !positives.is_empty() {
        plan.unignored = positives;
        plan.unignored.extend(negatives);
    }
    plan
}

/// The blake3 of each package's external dependency closure, and whether the whole lockfile
/// must be hashed instead (it could not be parsed, or there is none).
fn external_hashes(
    root: &Path,
    packages: &Packages,
    warnings: &mut Vec<String>,
) -> (BTreeMap<String, String>, bool) {
    let kind = match packages.manager.kind {
        ManagerKind::Npm => LockfileKind::Npm,
        ManagerKind::Pnpm => LockfileKind::Pnpm,
        ManagerKind::Yarn => LockfileKind::Yarn,
        ManagerKind::Berry => LockfileKind::Berry,
        ManagerKind::Bun => LockfileKind::Bun,
    };
    let Some(file) = &packages.manager.lockfile else {
        return (BTreeMap::new(), false);
    };
    let parsed = std::fs::read_to_string(root.join(file))
        .map_err(|e| e.to_string())
        .and_then(|text| Lockfile::parse(kind, &text));
    let lockfile = match parsed {
        Ok(l) => l,
        Err(e) => {
            warnings.push(format!(
                "{file}: not parsed ({e}); every task's key covers the whole lockfile"
            ));
            return (BTreeMap::new(), true);
        }
    };
    let mut hashes = BTreeMap::new();
    let mut whole = false;
    for package in packages.by_name.values() {
        match lockfile.closure(&package.dir, &package.external) {
            Some(closure) => {
                let mut h = blake3::Hasher::new();
                for entry in closure {
                    h.update(entry.as_bytes());
                    h.update(b"\0");
                }
                hashes.insert(package.name.clone(), h.finalize().to_hex().to_string());
            }
            None => whole = true,
        }
    }
    if whole {
        warnings.push(format!(
            "{file}: does not match the package.json files (run the package manager's install); every task's key covers the whole lockfile"
        ));
    }
    (hashes, whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_as_the_manager_would_run_them() {
        let spec = |kind, pre: Option<&str>| TaskSpec {
            id: "a#build".into(),
            package: "a".into(),
            package_dir: "packages/a".into(),
            task: "build".into(),
            script: Some("tsc -b".into()),
            pre: pre.map(str::to_owned),
            post: None,
            manager: Manager {
                kind,
                version: Some("1.0.0".into()),
                lockfile: None,
            },
            package_version: Some("1.0.0".into()),
            definition: TaskDefinition::default(),
            external_deps: String::new(),
            global_key: String::new(),
            log_file: log_file_name("build"),
            with: Vec::new(),
            framework: None,
            env_mode: TurboEnvMode::Strict,
            root_inputs: Vec::new(),
            default_inputs: true,
            unignored_inputs: Vec::new(),
        };
        let args = vec!["--watch".to_string(), "a b".to_string()];
        let npm = spec(ManagerKind::Npm, None);
        assert_eq!(npm.command(&[], false), "tsc -b");
        assert_eq!(npm.command(&args, false), "tsc -b --watch 'a b'");
        assert_eq!(npm.command(&args, true), "npm run build -- --watch 'a b'");
        assert_eq!(
            spec(ManagerKind::Pnpm, None).command(&args, true),
            "pnpm run build --watch 'a b'"
        );
        let with_pre = spec(ManagerKind::Npm, Some("echo pre"));
        assert_eq!(with_pre.command(&[], false), "( echo pre\n) && ( tsc -b\n)");
        let mut transit = spec(ManagerKind::Npm, None);
        transit.script = None;
        assert_eq!(transit.command(&args, false), "");
        assert_eq!(
            log_file_name("build:prod"),
            ".turbo/turbo-build$colon$prod.log"
        );
        let env = npm.script_env(Path::new("/ws"));
        assert!(env.contains(&("npm_package_name".into(), "a".into())));
        assert!(env.contains(&("INIT_CWD".into(), "/ws/packages/a".into())));
    }

    #[test]
    fn inputs_translate_to_package_and_root_globs() {
        let plan = translate_inputs("packages/a", None);
        assert!(plan.default && plan.unignored.is_empty() && plan.root.is_empty());
        let inputs = [
            "src/**",
            "!src/**/*.test.ts",
            "$TURBO_ROOT$/tsconfig.json",
            "../shared/*.ts",
        ]
        .map(String::from);
        let plan = translate_inputs("packages/a", Some(&inputs));
        assert!(!plan.default);
        assert_eq!(
            plan.unignored,
            [
                "src/**",
                "package.json",
                "turbo.json",
                "turbo.jsonc",
                "!src/**/*.test.ts"
            ]
        );
        assert_eq!(plan.root, ["tsconfig.json", "packages/shared/*.ts"]);
        let inputs = ["$TURBO_DEFAULT$", "!README.md", ".env*"].map(String::from);
        let plan = translate_inputs("packages/a", Some(&inputs));
        assert!(plan.default);
        assert_eq!(plan.default_excludes, ["!README.md"]);
        // `.env.local` is usually git-ignored: turbo reads it anyway, and so do we.
        assert_eq!(plan.unignored, [".env*", "!README.md"]);
    }

    #[test]
    fn root_scripts_that_start_turbo_are_found() {
        assert!(calls_turbo("turbo run build"));
        assert!(calls_turbo("pnpm exec turbo build --filter=web"));
        assert!(calls_turbo("npx turbo lint"));
        assert!(calls_turbo(
            "rm -rf dist && ./node_modules/.bin/turbo build"
        ));
        assert!(!calls_turbo("prettier --write . && echo turbo"));
        assert!(!calls_turbo("turbo-ignore"));
    }
}
