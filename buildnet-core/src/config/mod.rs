//! `buildnet.yaml`: loading, discovery, environment overrides and validation.
//!
//! The file is found at the path given, or by walking up from the current directory. Its folder
//! is the workspace root: every relative path in it (`state_dir`, a target's `cwd`) is relative
//! to that folder. Walking up also stops at a Turborepo root (a `turbo.json` beside a
//! package.json, not a package's own): its tasks, read by [`crate::workspace`], join the
//! targets, with or without a `buildnet.yaml` beside it (`turbo: off` opts out). Unknown fields are errors, so a typo never silently does nothing. A malformed
//! file gives an error naming the file, the line and column, and the offending field.
//!
//! Environment overrides, applied after the file: `BUILDNET_DB` (database path),
//! `BUILDNET_HOST`, `BUILDNET_PORT`, `BUILDNET_TOKEN`, `BUILDNET_CACHE_SIGNATURE_KEY`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod cache;
mod remote_exec;
mod target;

pub use crate::workspace::{OutputLogs, Repo, TaskSpec};
pub use cache::{CacheAccess, CacheConfig, CacheToken, RemoteCacheConfig, RetentionConfig};
pub use remote_exec::RemoteExecutionConfig;
use target::validate_target;
pub use target::{is_env_pattern, EnvMode, TargetConfig};

/// What an acknowledged write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `synchronous = NORMAL`: survives any crash of the process (SIGKILL included); a power
    /// loss can drop the last transactions, never corrupt the file.
    #[default]
    Normal,
    /// `synchronous = FULL`: every commit is fsynced; survives power loss. Concurrent writers
    /// share fsyncs through group commit.
    Full,
}

/// The most targets a build may run at once (`concurrency`, here or in a build's options):
/// more is refused, never a slot table of that size.
pub const MAX_CONCURRENCY: usize = 1024;

/// The longest `timeout_ms` a target may have: a hundred years, the same bound as a TTL.
pub const MAX_TIMEOUT_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// The file names looked for, in order, when no path is given.
pub const CONFIG_FILE_NAMES: [&str; 2] = ["buildnet.yaml", "buildnet.yml"];

/// Adapters that supply defaults for a known tool (their defaults land with the orchestrator).
pub const KNOWN_ADAPTERS: [&str; 5] = ["esbuild", "bun", "tsc", "vite", "npm-script"];

/// The loaded, validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The workspace root: the folder of the config file (or the current directory without one).
    pub root: PathBuf,
    /// The file this configuration came from, if any.
    pub file: Option<PathBuf>,
    /// Absolute path of the state directory (database, blobs, logs).
    pub state_dir: PathBuf,
    /// Absolute path of the SQLite database.
    pub db_path: PathBuf,
    pub server: ServerConfig,
    /// How many targets may run at once.
    pub concurrency: usize,
    /// Whether `serve` watches the workspace and rebuilds on change.
    pub watch: bool,
    /// What an acknowledged state write survives: `normal` (any process crash) or `full`
    /// (power loss too, at the cost of an fsync per commit).
    pub durability: Durability,
    pub cache: CacheConfig,
    pub retention: RetentionConfig,
    /// The Turborepo-protocol remote cache builds read and write (turbo's `TURBO_API`,
    /// `TURBO_TOKEN`, `TURBO_TEAM` and `--cache` override it per build).
    pub remote_cache: Option<RemoteCacheConfig>,
    /// The Remote Execution API engine that runs commands instead of this machine.
    pub remote_execution: Option<RemoteExecutionConfig>,
    pub targets: BTreeMap<String, TargetConfig>,
    /// Whether a `turbo.json` next to this file (or found alone) adds its tasks: `auto` (yes)
    /// or `off`.
    pub turbo: TurboMode,
    /// Run Turborepo tasks as `<pm> run <script>` instead of starting the script directly.
    pub pm_run: bool,
    /// Environment variables whose values are replaced by `***` in every command log BuildNet
    /// stores, replays, streams or uploads (`*` wildcards, `!` negation, names compared
    /// case-insensitively). Defaults to `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*_KEY`.
    pub redact_env: Vec<String>,
    /// The Turborepo repository whose tasks are among `targets`, when there is one.
    #[serde(skip)]
    pub repo: Option<std::sync::Arc<Repo>>,
    /// `--host`/`--port` from the command line: they win over the file and the environment,
    /// and survive a reload.
    #[serde(skip)]
    pub overrides: ServerOverrides,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; loopback unless configured otherwise.
    pub host: String,
    /// Port to listen on; 0 picks any free port (see `Daemon::status` for the one bound).
    pub port: u16,
    /// Bearer token required on every API call when set. Never serialized back out.
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// Names the `Host` header may carry besides `localhost`, loopback addresses and the bound
    /// address (a guard against DNS rebinding). `"*"` allows any.
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://ci.example.com`) allowed to call the API and open the
    /// WebSocket from other pages. The dashboard's own origin is always allowed.
    pub allowed_origins: Vec<String>,
    /// Who may read and write the remote caches served (Turborepo, Nx, Bazel). The admin
    /// `token` may do everything; with neither set, on loopback, the caches are open.
    pub cache_tokens: Vec<CacheToken>,
    /// The key Turborepo artifacts are signed with (`remoteCache.signature`): when set, a PUT
    /// without a valid `x-artifact-tag` is refused. Never serialized back out.
    #[serde(skip_serializing)]
    pub cache_signature_key: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 7890,
            token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            cache_tokens: Vec::new(),
            cache_signature_key: None,
        }
    }
}

/// Whether a `turbo.json` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurboMode {
    /// The tasks of a root `turbo.json` in the same folder join the targets.
    #[default]
    Auto,
    /// `turbo.json` is not read.
    Off,
}

/// The file as written: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    watch: bool,
    #[serde(default)]
    durability: Durability,
    #[serde(default)]
    cache: CacheConfig,
    #[serde(default)]
    retention: RetentionConfig,
    #[serde(default)]
    remote_cache: Option<RemoteCacheConfig>,
    #[serde(default)]
    remote_execution: Option<RemoteExecutionConfig>,
    #[serde(default)]
    targets: BTreeMap<String, TargetConfig>,
    #[serde(default)]
    turbo: TurboMode,
    #[serde(default)]
    pm_run: bool,
    #[serde(default)]
    redact_env: Option<Vec<String>>,
}

impl Config {
    /// Loads the file at `path`, or discovers one by walking up from the current directory. With
    /// no path and no file found, the defaults apply with the current directory as the root.
    /// `path` may also be a workspace folder or a repository's `turbo.json`. Environment
    /// overrides are applied in every case.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let mut config = match path {
            // A Turborepo repository is named by its folder or its turbo.json.
            Some(path) if path.is_dir() => match discover_root(path)? {
                Some(Found::Yaml(found)) if found.parent() == Some(path) => {
                    Self::from_file(&found)?
                }
                _ => Self::parse("", None, path)?,
            },
            Some(path)
                if path
                    .file_name()
                    .is_some_and(|n| n == "turbo.json" || n == "turbo.jsonc") =>
            {
                let root = path.parent().unwrap_or(Path::new("."));
                Self::parse("", None, root)?
            }
            Some(path) => Self::from_file(path)?,
            None => {
                let cwd = std::env::current_dir()
                    .map_err(|e| Error::io("reading the current directory", e))?;
                match discover_root(&cwd)? {
                    Some(Found::Yaml(found)) => Self::from_file(&found)?,
                    Some(Found::Turbo(root)) => Self::parse("", None, &root)?,
                    None => Self::parse("", None, &cwd)?,
                }
            }
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Reads and parses one file; its folder becomes the workspace root.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            let message = format!("cannot read {}: {e}", path.display());
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(message)
            } else {
                Error::config(message)
            }
        })?;
        let abs = absolute(path)?;
        let root = abs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        Self::parse(&text, Some(&abs), &root)
    }

    /// Parses YAML text. `file` only names the source in error messages.
    pub fn parse(text: &str, file: Option<&Path>, root: &Path) -> Result<Config> {
        let name = file
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "buildnet.yaml".to_string());
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|err| {
                let field = err.path().to_string();
                let inner = err.into_inner();
                let at = inner
                    .location()
                    .map(|l| format!(":{}:{}", l.line(), l.column()))
                    .unwrap_or_default();
                let field = if field == "." {
                    String::new()
                } else {
                    format!(" field `{field}`:")
                };
                Error::config(format!("{name}{at}:{field} {inner}"))
            })?
        };
        let root = absolute(root)?;
        let state_dir = root.join(raw.state_dir.as_deref().unwrap_or(".buildnet"));
        let mut config = Config {
            db_path: state_dir.join("state.db"),
            state_dir,
            root,
            file: file.map(Path::to_path_buf),
            server: raw.server,
            concurrency: raw.concurrency.unwrap_or_else(default_concurrency),
            watch: raw.watch,
            durability: raw.durability,
            cache: raw.cache,
            retention: raw.retention,
            remote_cache: raw.remote_cache,
            remote_execution: raw.remote_execution,
            targets: raw.targets,
            turbo: raw.turbo,
            pm_run: raw.pm_run,
            redact_env: raw.redact_env.unwrap_or_else(|| {
                crate::process::redact::DEFAULT_REDACT_ENV
                    .iter()
                    .map(|p| p.to_string())
                    .collect()
            }),
            repo: None,
            overrides: ServerOverrides::default(),
        };
        config.read_turbo()?;
        config
            .validate()
            .map_err(|e| Error::config(format!("{name}: {}", e.message())))?;
        Ok(config)
    }

    /// Adds the tasks of the root `turbo.json` in the root folder, if there is one (and
    /// `turbo` is not `off`).
    fn read_turbo(&mut self) -> Result<()> {
        if self.turbo == TurboMode::Off {
            return Ok(());
        }
        let Some(file) = crate::workspace::turbo_json::find_in(&self.root)? else {
            return Ok(());
        };
        if crate::workspace::turbo_json::is_package_file(&file) {
            return Ok(());
        }
        let repo = Repo::read(&file)?;
        for warning in &repo.warnings {
            tracing::warn!("{warning}");
        }
        for (id, task) in &repo.tasks {
            let target = TargetConfig {
                command: task.spec.script.clone(),
                cwd: Some(task.cwd.clone()),
                deps: task.deps.clone(),
                inputs: task.inputs.clone(),
                outputs: task.outputs.clone(),
                env: task.env.clone(),
                timeout_ms: None,
                cache: task.cache,
                adapter: None,
                pass_env: task.pass_env.clone(),
                env_mode: if task.strict {
                    EnvMode::Strict
                } else {
                    EnvMode::Loose
                },
                task: Some(std::sync::Arc::clone(&task.spec)),
            };
            if self.targets.insert(id.clone(), target).is_some() {
                return Err(Error::config(format!(
                    "target {id} is both in buildnet.yaml and a turbo.json task"
                )));
            }
        }
        self.repo = Some(std::sync::Arc::new(repo));
        Ok(())
    }

    /// The files whose change means the configuration must be read again.
    pub fn sources(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.file.iter().cloned().collect();
        if let Some(repo) = &self.repo {
            files.extend(repo.sources.iter().cloned());
        }
        files
    }

    /// Sets command-line overrides of the listening address (kept across reloads).
    pub fn override_server(&mut self, overrides: ServerOverrides) {
        if let Some(host) = &overrides.host {
            self.server.host = host.clone();
        }
        if let Some(port) = overrides.port {
            self.server.port = port;
        }
        self.overrides = overrides;
    }

    /// Reads the same source again (the file, or the defaults at the same root), with the
    /// environment and the command-line overrides applied as at first.
    pub fn reload(&self) -> Result<Config> {
        let mut fresh = match &self.file {
            Some(file) => Config::from_file(file)?,
            None => Config::parse("", None, &self.root)?,
        };
        fresh.apply_env(|name| std::env::var(name).ok())?;
        fresh.override_server(self.overrides.clone());
        Ok(fresh)
    }

    /// Applies `BUILDNET_DB`, `BUILDNET_HOST`, `BUILDNET_PORT`, `BUILDNET_TOKEN` from `env`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(db) = env("BUILDNET_DB").filter(|v| !v.is_empty()) {
            self.db_path = self.root.join(db);
        }
        if let Some(host) = env("BUILDNET_HOST").filter(|v| !v.is_empty()) {
            self.server.host = host;
        }
        if let Some(port) = env("BUILDNET_PORT").filter(|v| !v.is_empty()) {
            self.server.port = port.parse().map_err(|_| {
                Error::config(format!(
                    "BUILDNET_PORT: {port:?} is not a port number (0-65535)"
                ))
            })?;
        }
        if let Some(token) = env("BUILDNET_TOKEN").filter(|v| !v.is_empty()) {
            self.server.token = Some(token);
        }
        if let Some(key) = env("BUILDNET_CACHE_SIGNATURE_KEY").filter(|v| !v.is_empty()) {
            self.server.cache_signature_key = Some(key);
        }
        Ok(())
    }

    /// Checks what types alone cannot: names, references between targets, paths, numbers.
    /// Cycles are left to the orchestrator, which reports them when a build is requested.
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(Error::config(format!(
                "field `concurrency`: must be between 1 and {}",
                MAX_CONCURRENCY
            )));
        }
        if self.server.host.trim().is_empty() {
            return Err(Error::config("field `server.host`: must not be empty"));
        }
        if self
            .redact_env
            .iter()
            .any(|p| p.trim_start_matches('!').is_empty())
        {
            return Err(Error::config(
                "field `redact_env`: a pattern must name a variable",
            ));
        }
        self.cache.validate()?;
        self.retention.validate()?;
        cache::validate_tokens(&self.server.cache_tokens)?;
        if let Some(remote) = &self.remote_cache {
            remote.validate()?;
        }
        if let Some(remote) = &self.remote_execution {
            remote.validate()?;
        }
        for origin in &self.server.allowed_origins {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin != "http://"
                && origin != "https://";
            if !valid {
                return Err(Error::config(format!(
                    "field `server.allowed_origins`: {origin:?} is not an origin like https://ci.example.com"
                )));
            }
        }
        for (name, target) in &self.targets {
            if target.task.is_none() {
                validate_target(name, target, &self.targets)?;
            }
        }
        Ok(())
    }
}

/// What marks a workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A `buildnet.yaml` (a `turbo.json` beside it is read too).
    Yaml(PathBuf),
    /// The folder of a root `turbo.json` with no `buildnet.yaml`.
    Turbo(PathBuf),
}

/// Walks up from `start` to the first folder with a `buildnet.yaml` or a repository's root
/// `turbo.json` (one with a `package.json` beside it; a package's own `turbo.json`, which
/// `extends`, does not count).
pub fn discover_root(start: &Path) -> Result<Option<Found>> {
    for dir in start.ancestors() {
        if let Some(file) = CONFIG_FILE_NAMES
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
        {
            return Ok(Some(Found::Yaml(file)));
        }
        if let Some(turbo) = crate::workspace::turbo_json::find_in(dir)? {
            // A repository's root has its package.json beside turbo.json; a package's own
            // turbo.json `extends` the root's.
            if dir.join("package.json").is_file()
                && !crate::workspace::turbo_json::is_package_file(&turbo)
            {
                return Ok(Some(Found::Turbo(dir.to_path_buf())));
            }
        }
    }
    Ok(None)
}

/// Walks up from `start` looking for a config file.
pub fn discover(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        CONFIG_FILE_NAMES
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(format!("resolving {}", path.display()), e))
}

fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().min(MAX_CONCURRENCY))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Some(Path::new("/ws/buildnet.yaml")), Path::new("/ws"))
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/ws/.buildnet"));
        assert_eq!(c.db_path, PathBuf::from("/ws/.buildnet/state.db"));
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.server.port, 7890);
        assert!(c.concurrency >= 1);
        assert!(!c.watch);
        assert!(c.targets.is_empty());
    }

    #[test]
    fn full_file_parses_targets() {
        let c = parse(
            "state_dir: state\nserver:\n  host: 0.0.0.0\n  port: 0\nconcurrency: 3\nwatch: true\ndurability: full\n\
             targets:\n  lib:\n    command: tsc -b\n    cwd: packages/lib\n    inputs: [\"src/**/*.ts\"]\n    outputs: [dist/**]\n    env: [NODE_ENV]\n  \
             app:\n    adapter: esbuild\n    deps: [lib]\n    timeout_ms: 5000\n    cache: false\n",
        )
        .unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/ws/state"));
        assert_eq!(c.server.port, 0);
        assert_eq!(c.concurrency, 3);
        assert!(c.watch);
        assert_eq!(c.durability, Durability::Full);
        let lib = &c.targets["lib"];
        assert_eq!(lib.command.as_deref(), Some("tsc -b"));
        assert_eq!(lib.inputs, vec!["src/**/*.ts"]);
        assert!(lib.cache);
        let app = &c.targets["app"];
        assert_eq!(app.deps, vec!["lib"]);
        assert!(!app.cache);
        assert_eq!(app.timeout_ms, Some(5000));
    }

    #[test]
    fn type_error_names_file_line_column_and_field() {
        let err = parse("server:\n  host: localhost\n  port: lots\n").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Config);
        let msg = err.message();
        assert!(msg.starts_with("/ws/buildnet.yaml:3:9:"), "{msg}");
        assert!(msg.contains("`server.port`"), "{msg}");
    }

    #[test]
    fn unknown_field_is_refused_with_its_name() {
        let err = parse("targets:\n  a:\n    comand: x\n").unwrap_err();
        let msg = err.message();
        assert!(msg.contains(":3:"), "{msg}");
        assert!(msg.contains("comand"), "{msg}");
    }

    #[test]
    fn broken_yaml_gives_a_position() {
        let err = parse("server: [1, 2\n").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Config);
        assert!(
            err.message().starts_with("/ws/buildnet.yaml:"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let cases = [
            (
                "targets:\n  a:\n    command: x\n    deps: [b]\n",
                "targets.a.deps",
                "unknown target \"b\"",
            ),
            (
                "targets:\n  a:\n    cwd: x\n",
                "targets.a.command",
                "needs a command",
            ),
            (
                "targets:\n  a:\n    command: x\n    cwd: ../up\n",
                "targets.a.cwd",
                "leaves the workspace",
            ),
            (
                "targets:\n  a:\n    command: x\n    outputs: [/etc/x]\n",
                "targets.a.outputs",
                "relative",
            ),
            (
                "targets:\n  a:\n    adapter: make\n",
                "targets.a.adapter",
                "unknown adapter",
            ),
            (
                "targets:\n  a:\n    command: x\n    env: [\"1X\"]\n",
                "targets.a.env",
                "not an environment",
            ),
            ("concurrency: 0\n", "concurrency", "between 1 and 1024"),
            ("concurrency: 100000\n", "concurrency", "between 1 and 1024"),
        ];
        for (text, field, needle) in cases {
            let msg = parse(text).unwrap_err().message().to_string();
            assert!(
                msg.contains(field) && msg.contains(needle),
                "{text:?} gave {msg}"
            );
        }
    }

    #[test]
    fn environment_overrides_apply() {
        let mut c = parse("").unwrap();
        c.apply_env(|name| match name {
            "BUILDNET_DB" => Some("/tmp/other.db".into()),
            "BUILDNET_HOST" => Some("::1".into()),
            "BUILDNET_PORT" => Some("0".into()),
            "BUILDNET_TOKEN" => Some("secret".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.db_path, PathBuf::from("/tmp/other.db"));
        assert_eq!(c.server.host, "::1");
        assert_eq!(c.server.port, 0);
        assert_eq!(c.server.token.as_deref(), Some("secret"));
        let err = c
            .apply_env(|n| (n == "BUILDNET_PORT").then(|| "70000".into()))
            .unwrap_err();
        assert!(err.message().contains("BUILDNET_PORT"));
    }

    #[test]
    fn reload_rereads_the_file_and_keeps_command_line_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("buildnet.yaml");
        std::fs::write(&file, "concurrency: 2\nserver:\n  port: 1000\n").unwrap();
        let mut c = Config::from_file(&file).unwrap();
        c.override_server(ServerOverrides {
            host: None,
            port: Some(0),
        });
        assert_eq!(c.server.port, 0);
        std::fs::write(&file, "concurrency: 3\nserver:\n  port: 2000\n").unwrap();
        let fresh = c.reload().unwrap();
        assert_eq!(fresh.concurrency, 3);
        assert_eq!(fresh.server.port, 0, "--port outlives a reload");
        std::fs::write(&file, "concurrency: [\n").unwrap();
        assert_eq!(c.reload().unwrap_err().code(), ErrorCode::Config);
    }

    #[test]
    fn discovery_finds_the_repository_root_not_a_package_or_a_stray_turbo_json() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let pkg = root.join("apps/web/src");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(dir.path().join("turbo.json"), "{}").unwrap();
        std::fs::write(root.join("turbo.json"), "{\"tasks\": {}}").unwrap();
        std::fs::write(root.join("package.json"), "{}").unwrap();
        std::fs::write(root.join("apps/web/package.json"), "{}").unwrap();
        std::fs::write(root.join("apps/web/turbo.json"), "{\"extends\": [\"//\"]}").unwrap();
        assert_eq!(
            discover_root(&pkg).unwrap(),
            Some(Found::Turbo(root.clone()))
        );
        std::fs::remove_file(root.join("package.json")).unwrap();
        assert_eq!(
            discover_root(&pkg).unwrap(),
            None,
            "a turbo.json alone is no root"
        );
        std::fs::write(root.join("apps/web/buildnet.yaml"), "").unwrap();
        assert_eq!(
            discover_root(&pkg).unwrap(),
            Some(Found::Yaml(root.join("apps/web/buildnet.yaml")))
        );
    }

    #[test]
    fn a_turborepo_is_opened_by_its_folder_or_its_turbo_json() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("package.json"),
            r#"{"name": "r", "packageManager": "npm@10.0.0", "workspaces": ["p/*"]}"#,
        )
        .unwrap();
        std::fs::create_dir_all(root.join("p/a")).unwrap();
        std::fs::write(
            root.join("p/a/package.json"),
            r#"{"name": "a", "scripts": {"build": "true"}}"#,
        )
        .unwrap();
        std::fs::write(root.join("turbo.json"), r#"{"tasks": {"build": {}}}"#).unwrap();
        for path in [root.to_path_buf(), root.join("turbo.json")] {
            let c = Config::load(Some(&path)).unwrap();
            assert_eq!(c.root, root);
            assert!(c.targets.contains_key("a#build"), "{path:?}");
            assert!(c.repo.is_some());
        }
    }

    #[test]
    fn discovery_walks_up() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.path().join("buildnet.yaml"), "concurrency: 2\n").unwrap();
        assert_eq!(discover(&nested), Some(dir.path().join("buildnet.yaml")));
        let c = Config::from_file(&dir.path().join("buildnet.yaml")).unwrap();
        assert_eq!(c.root, dir.path());
        assert_eq!(c.concurrency, 2);
    }
}
