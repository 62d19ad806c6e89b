//! `turbo.json` / `turbo.jsonc`: the root file and the packages' own, and a task's definition
//! merged from them as Turborepo 2 merges it.
//!
//! - The root file holds `tasks` (a v1 `pipeline` is read as `tasks`, with a warning),
//!   `globalDependencies`, `globalEnv`, `globalPassThroughEnv` and `envMode`. Keys BuildNet does
//!   not act on (`ui`, `daemon`, `remoteCache`, ...) are accepted; an unknown key in a task is an
//!   error naming it.
//! - A package's file must start `extends: ["//", ...]`, may hold only `tasks` (and `tags`),
//!   and its task keys may not name a package (`pkg#task`).
//! - A task's definition for package P: a root `P#task` entry alone if there is one; otherwise
//!   the root `task`, then each package P extends, then P's own file. Scalars are inherited;
//!   arrays replace unless their first element is `$TURBO_EXTENDS$`, which appends. A task with
//!   `extends: false` in P's file is dropped for P, or starts afresh if it has other keys.
//! - The root package's tasks are only the `//#task` keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::jsonc;
use crate::error::{Error, Result};

/// The names a turbo config file may have, in the order they are looked for.
pub const TURBO_FILES: [&str; 2] = ["turbo.json", "turbo.jsonc"];

/// The marker that makes an array extend the inherited one.
const EXTENDS_MARKER: &str = "$TURBO_EXTENDS$";

/// How much of a task's log is shown (`outputLogs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputLogs {
    #[default]
    Full,
    HashOnly,
    NewOnly,
    ErrorsOnly,
    None,
}

/// A task as written in one file: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTask {
    depends_on: Option<Vec<String>>,
    inputs: Option<Vec<String>>,
    outputs: Option<Vec<String>>,
    env: Option<Vec<String>>,
    pass_through_env: Option<Vec<String>>,
    cache: Option<bool>,
    persistent: Option<bool>,
    interactive: Option<bool>,
    interruptible: Option<bool>,
    output_logs: Option<OutputLogs>,
    /// The v1 name of `outputLogs`.
    output_mode: Option<OutputLogs>,
    with: Option<Vec<String>>,
    description: Option<String>,
    extends: Option<bool>,
    /// v1; read and ignored.
    dot_env: Option<Vec<String>>,
}

/// A task's merged definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub depends_on: Vec<String>,
    /// `None`: the default inputs (the package's files git does not ignore).
    pub inputs: Option<Vec<String>>,
    pub outputs: Vec<String>,
    pub env: Vec<String>,
    pub pass_through_env: Option<Vec<String>>,
    pub cache: bool,
    pub persistent: bool,
    pub interactive: bool,
    pub interruptible: bool,
    pub output_logs: OutputLogs,
    pub with: Vec<String>,
}

impl Default for TaskDefinition {
    fn default() -> Self {
        TaskDefinition {
            depends_on: Vec::new(),
            inputs: None,
            outputs: Vec::new(),
            env: Vec::new(),
            pass_through_env: None,
            cache: true,
            persistent: false,
            interactive: false,
            interruptible: false,
            output_logs: OutputLogs::Full,
            with: Vec::new(),
        }
    }
}

fn merge_list(into: &mut Vec<String>, layer: &Option<Vec<String>>) {
    if let Some(items) = layer {
        if items.first().map(String::as_str) == Some(EXTENDS_MARKER) {
            into.extend(items[1..].iter().cloned());
        } else {
            *into = items.clone();
        }
    }
}

impl TaskDefinition {
    fn apply(&mut self, raw: &RawTask) {
        merge_list(&mut self.depends_on, &raw.depends_on);
        if raw.inputs.is_some() {
            let mut inputs = self.inputs.clone().unwrap_or_default();
            merge_list(&mut inputs, &raw.inputs);
            self.inputs = Some(inputs);
        }
        merge_list(&mut self.outputs, &raw.outputs);
        merge_list(&mut self.env, &raw.env);
        if raw.pass_through_env.is_some() {
            let mut list = self.pass_through_env.clone().unwrap_or_default();
            merge_list(&mut list, &raw.pass_through_env);
            self.pass_through_env = Some(list);
        }
        merge_list(&mut self.with, &raw.with);
        if let Some(v) = raw.cache {
            self.cache = v;
        }
        if let Some(v) = raw.persistent {
            self.persistent = v;
        }
        if let Some(v) = raw.interactive {
            self.interactive = v;
        }
        if let Some(v) = raw.interruptible {
            self.interruptible = v;
        }
        if let Some(v) = raw.output_logs.or(raw.output_mode) {
            self.output_logs = v;
        }
    }
}

/// The root file's environment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurboEnvMode {
    #[default]
    Strict,
    Loose,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    tasks: Option<BTreeMap<String, RawTask>>,
    pipeline: Option<BTreeMap<String, RawTask>>,
    #[serde(default)]
    global_dependencies: Vec<String>,
    #[serde(default)]
    global_env: Vec<String>,
    global_pass_through_env: Option<Vec<String>>,
    env_mode: Option<TurboEnvMode>,
    concurrency: Option<String>,
    extends: Option<Vec<String>>,
    remote_cache: Option<TurboRemoteCache>,
    #[serde(flatten)]
    _other: BTreeMap<String, serde_json::Value>,
}

/// turbo's remote-cache settings as one source holds them: the root turbo.json's `remoteCache`,
/// `.turbo/config.json`, the user's turbo config, `buildnet run`'s flags (turbo's defaults:
/// enabled, unsigned, 30 s per request). `None` leaves a setting to the sources below it;
/// the remote-cache client merges them. Unknown keys are ignored, as turbo does.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurboRemoteCache {
    /// The server's base URL.
    #[serde(default, alias = "apiurl", alias = "ApiUrl", alias = "APIURL")]
    pub api_url: Option<String>,
    /// The bearer token (never taken from turbo.json, as in turbo).
    #[serde(default)]
    pub token: Option<String>,
    /// Sent as `slug`.
    #[serde(default, alias = "teamslug", alias = "TeamSlug", alias = "TEAMSLUG")]
    pub team_slug: Option<String>,
    /// Sent as `teamId`.
    #[serde(default, alias = "teamid", alias = "TeamId", alias = "TEAMID")]
    pub team_id: Option<String>,
    /// Seconds per request.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Seconds per upload.
    #[serde(default)]
    pub upload_timeout: Option<u64>,
    /// Ask with an `OPTIONS` preflight before each request.
    #[serde(default)]
    pub preflight: Option<bool>,
    /// Sign uploads and check downloads.
    #[serde(default)]
    pub signature: Option<bool>,
    /// `false` turns the remote cache off.
    #[serde(default)]
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPackage {
    #[serde(rename = "$schema")]
    _schema: Option<serde_json::Value>,
    extends: Option<Vec<String>>,
    #[serde(default)]
    tasks: BTreeMap<String, RawTask>,
    #[serde(default, rename = "tags")]
    _tags: Vec<String>,
    #[serde(rename = "boundaries")]
    _boundaries: Option<serde_json::Value>,
}

/// The root `turbo.json` and the package files, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurboConfig {
    /// The root file's path.
    pub file: PathBuf,
    pub tasks: BTreeMap<String, RawTask>,
    pub global_dependencies: Vec<String>,
    pub global_env: Vec<String>,
    pub global_pass_through_env: Option<Vec<String>>,
    pub env_mode: TurboEnvMode,
    /// `concurrency` as written (`"10"`, `"50%"`).
    pub concurrency: Option<String>,
    pub remote_cache: TurboRemoteCache,
    /// Package name -> (its file, the packages it extends after `//`, its tasks).
    pub packages: BTreeMap<String, PackageTurbo>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageTurbo {
    pub file: PathBuf,
    pub extends: Vec<String>,
    pub tasks: BTreeMap<String, RawTask>,
}

/// The turbo config file in `dir`, if any (both names present is an error).
pub fn find_in(dir: &Path) -> Result<Option<PathBuf>> {
    let found: Vec<PathBuf> = TURBO_FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(Error::config(format!(
            "{}: both turbo.json and turbo.jsonc exist; keep one",
            dir.display()
        ))),
    }
}

/// Whether the file at `path` is a package's (it has `extends`), not a repository root's.
pub fn is_package_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&jsonc::to_json(&t)).ok())
        .is_some_and(|v| v.get("extends").is_some())
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
    let json = jsonc::to_json(&text);
    let mut de = serde_json::Deserializer::from_str(&json);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        let field = if field == "." {
            String::new()
        } else {
            format!(" field `{field}`:")
        };
        Error::config(format!(
            "{}:{}:{}:{field} {inner}",
            path.display(),
            inner.line(),
            inner.column()
        ))
    })
}

impl TurboConfig {
    /// Reads the root file at `file` and the file of each package in `package_dirs`
    /// (name -> folder relative to the root).
    pub fn read(file: &Path, package_dirs: &BTreeMap<String, String>) -> Result<TurboConfig> {
        let raw: RawRoot = parse(file)?;
        let name = file.display();
        let mut warnings = Vec::new();
        let tasks = match (raw.tasks, raw.pipeline) {
            (Some(_), Some(_)) => {
                return Err(Error::config(format!(
                    "{name}: both `tasks` and `pipeline`; `pipeline` is the 1.x name of `tasks`"
                )))
            }
            (Some(tasks), None) => tasks,
            (None, Some(pipeline)) => {
                warnings.push(format!(
                    "{name}: found `pipeline` instead of `tasks` (renamed in turbo 2.0); read as `tasks`"
                ));
                pipeline
            }
            (None, None) => BTreeMap::new(),
        };
        if raw.extends.is_some() {
            warnings.push(format!(
                "{name}: `extends` is ignored in the root turbo.json"
            ));
        }
        for key in tasks.keys() {
            if let Some((pkg, task)) = key.split_once('#') {
                if pkg.is_empty() || task.is_empty() {
                    return Err(Error::config(format!(
                        "{name}: task key {key:?} is not `task` or `package#task`"
                    )));
                }
            }
        }
        let mut packages = BTreeMap::new();
        for (pkg, dir) in package_dirs {
            if dir.is_empty() {
                continue;
            }
            let root = file.parent().unwrap_or(Path::new("/"));
            let Some(pkg_file) = find_in(&root.join(dir))? else {
                continue;
            };
            let raw: RawPackage = parse(&pkg_file)?;
            let shown = pkg_file.display();
            let extends = raw.extends.unwrap_or_default();
            if extends.first().map(String::as_str) != Some("//") {
                return Err(Error::config(format!(
                    "{shown}: a package's turbo.json must start with `\"extends\": [\"//\"]`"
                )));
            }
            for key in raw.tasks.keys() {
                if key.contains('#') {
                    return Err(Error::config(format!(
                        "{shown}: task {key:?}: a package's turbo.json may not name a package (write `{}`)",
                        key.rsplit('#').next().unwrap_or(key)
                    )));
                }
            }
            packages.insert(
                pkg.clone(),
                PackageTurbo {
                    file: pkg_file,
                    extends: extends[1..].to_vec(),
                    tasks: raw.tasks,
                },
            );
        }
        Ok(TurboConfig {
            file: file.to_path_buf(),
            tasks,
            global_dependencies: raw.global_dependencies,
            global_env: raw.global_env,
            global_pass_through_env: raw.global_pass_through_env,
            env_mode: raw.env_mode.unwrap_or_default(),
            concurrency: raw.concurrency,
            remote_cache: raw.remote_cache.unwrap_or_default(),
            packages,
            warnings,
        })
    }

    /// Every task name some file defines (without package prefixes).
    pub fn task_names(&self) -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> = self
            .tasks
            .keys()
            .map(|k| k.rsplit('#').next().unwrap_or(k).to_owned())
            .collect();
        for p in self.packages.values() {
            names.extend(p.tasks.keys().cloned());
        }
        names
    }

    /// The definition of `task` for `package` (`//` for the root), if any file defines it.
    pub fn definition(&self, package: &str, task: &str) -> Option<TaskDefinition> {
        if let Some(raw) = self.tasks.get(&format!("{package}#{task}")) {
            let mut def = TaskDefinition::default();
            def.apply(raw);
            return Some(def);
        }
        if package == super::packages::ROOT_PACKAGE {
            return None;
        }
        let mut layers: Vec<&RawTask> = Vec::new();
        if let Some(raw) = self.tasks.get(task) {
            layers.push(raw);
        }
        if let Some(own) = self.packages.get(package) {
            for parent in &own.extends {
                if let Some(raw) = self.packages.get(parent).and_then(|p| p.tasks.get(task)) {
                    layers.push(raw);
                }
            }
            if let Some(raw) = own.tasks.get(task) {
                if raw.extends == Some(false) {
                    let mut only_extends = raw.clone();
                    only_extends.extends = None;
                    if only_extends == RawTask::default() {
                        return None;
                    }
                    layers.clear();
                }
                layers.push(raw);
            }
        }
        if layers.is_empty() {
            return None;
        }
        let mut def = TaskDefinition::default();
        for layer in layers {
            def.apply(layer);
        }
        Some(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn package_files_merge_over_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "turbo.jsonc",
            r#"{
              // comments are fine
              "$schema": "https://turborepo.com/schema.json",
              "ui": "stream",
              "globalEnv": ["CI"],
              "tasks": {
                "build": {"dependsOn": ["^build"], "outputs": ["dist/**"], "env": ["A"], "cache": true},
                "lib#lint": {"inputs": ["src/**"]},
                "//#format": {"cache": false},
                "lint": {},
              }
            }"#,
        );
        write(
            root,
            "apps/web/turbo.json",
            r#"{"extends": ["//"], "tasks": {
                "build": {"outputs": ["$TURBO_EXTENDS$", ".next/**"], "env": ["B"], "persistent": false},
                "lint": {"extends": false},
                "test": {"dependsOn": ["build"]}
            }}"#,
        );
        let dirs = BTreeMap::from([
            ("web".to_string(), "apps/web".to_string()),
            ("lib".to_string(), "packages/lib".to_string()),
        ]);
        let t = TurboConfig::read(&root.join("turbo.jsonc"), &dirs).unwrap();
        assert_eq!(t.global_env, vec!["CI"]);
        let web = t.definition("web", "build").unwrap();
        assert_eq!(web.outputs, vec!["dist/**", ".next/**"]);
        assert_eq!(web.env, vec!["B"], "arrays replace without the marker");
        assert_eq!(web.depends_on, vec!["^build"], "inherited");
        let lib = t.definition("lib", "build").unwrap();
        assert_eq!(lib.outputs, vec!["dist/**"]);
        assert!(
            t.definition("web", "lint").is_none(),
            "extends: false drops it"
        );
        // A root `lib#lint` replaces the definition.
        assert_eq!(
            t.definition("lib", "lint").unwrap().inputs,
            Some(vec!["src/**".to_string()])
        );
        assert!(t.definition("lib", "test").is_none());
        assert_eq!(
            t.definition("web", "test").unwrap().depends_on,
            vec!["build"]
        );
        assert!(t.definition("//", "build").is_none());
        assert!(!t.definition("//", "format").unwrap().cache);
        let names: Vec<String> = t.task_names().into_iter().collect();
        assert_eq!(names, ["build", "format", "lint", "test"]);
    }

    #[test]
    fn v1_pipeline_reads_with_a_warning_and_errors_name_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "turbo.json",
            r#"{"pipeline": {"build": {"outputs": ["dist/**"]}}}"#,
        );
        let t = TurboConfig::read(&root.join("turbo.json"), &BTreeMap::new()).unwrap();
        assert!(t.warnings[0].contains("pipeline"));
        assert!(t.definition("a", "build").is_some());
        write(
            root,
            "turbo.json",
            "{\"tasks\": {\"build\": {\"dependOn\": []}}}",
        );
        let err = TurboConfig::read(&root.join("turbo.json"), &BTreeMap::new()).unwrap_err();
        assert!(err.message().contains("tasks.build"), "{}", err.message());
        assert!(err.message().contains("dependOn"), "{}", err.message());
        write(
            root,
            "turbo.json",
            "{\"tasks\": {\"build\": {\"cache\": \"yes\"}}}",
        );
        let err = TurboConfig::read(&root.join("turbo.json"), &BTreeMap::new()).unwrap_err();
        assert!(err.message().contains("turbo.json:1:"), "{}", err.message());
        write(root, "turbo.json", "{\"tasks\": {}}");
        write(root, "p/turbo.json", "{\"tasks\": {}}");
        let dirs = BTreeMap::from([("p".to_string(), "p".to_string())]);
        let err = TurboConfig::read(&root.join("turbo.json"), &dirs).unwrap_err();
        assert!(err.message().contains("extends"), "{}", err.message());
        write(
            root,
            "p/turbo.json",
            "{\"extends\": [\"//\"], \"tasks\": {\"p#build\": {}}}",
        );
        let err = TurboConfig::read(&root.join("turbo.json"), &dirs).unwrap_err();
        assert!(
            err.message().contains("may not name a package"),
            "{}",
            err.message()
        );
        assert!(is_package_file(&root.join("p/turbo.json")));
        assert!(!is_package_file(&root.join("turbo.json")));
    }
}
