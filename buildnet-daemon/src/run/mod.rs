//! `buildnet run <task...>`: `turbo run` in a Turborepo workspace (package-manager workspaces
//! and `turbo.json`, no `buildnet.yaml` needed), with turbo's flags, output and exit codes.
//!
//! Output is grouped by task: when a task ends, a line `pkg:task: cache hit, replaying logs
//! HASH` (or `cache miss, executing HASH`), then its output lines prefixed `pkg:task: `, as
//! `--output-logs` asks; then turbo's summary (`Tasks:`, `Cached:`, `Time:`, `>>> FULL TURBO`
//! when everything was a hit). `--dry=json` prints turbo's dry-run document.

mod report;
mod show;

use report::{dry_json, dry_run, write_graph};
use show::{finish, print_header, Show, TaskInfo};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use buildnet_core::{
    BuildOptions, BuildRecord, Config, Daemon, DaemonFile, Error, ErrorCode, Event, EventEnvelope,
    Followed, Result,
};
use clap::Args;

/// `buildnet run`'s flags, turbo's names.
#[derive(Args)]
pub struct RunArgs {
    /// Tasks to run: `build` (every package that defines it) or `pkg#task`
    #[arg(required = true)]
    tasks: Vec<String>,
    /// Packages to run in (turbo's grammar: `name`, `@scope/*`, `./apps/*`, `{./dir}`,
    /// `pkg...`, `...pkg`, `^`, `!pkg`, `[git-ref]`, `...[ref]`); repeatable, a union
    #[arg(short = 'F', long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Only packages changed since the base branch (`main`, or TURBO_SCM_BASE), and their
    /// dependents
    #[arg(long)]
    affected: bool,
    /// Tasks at once: a number, or a percentage of the cores (`50%`)
    #[arg(long, value_name = "N|P%")]
    concurrency: Option<String>,
    /// Keep going after a failure (tasks whose dependencies failed are skipped)
    #[arg(long = "continue", value_name = "WHEN", num_args = 0..=1, require_equals = true,
          default_missing_value = "always")]
    continue_on_error: Option<String>,
    /// Run every task, ignoring cache hits (results are still stored)
    #[arg(long)]
    force: bool,
    /// Run only the tasks asked for, not their dependencies
    #[arg(long)]
    only: bool,
    /// Run the tasks without waiting for their dependencies
    #[arg(long)]
    parallel: bool,
    /// Which output to show: full, hash-only, new-only, errors-only, none
    #[arg(long, value_enum, default_value_t = LogMode::Full)]
    output_logs: LogMode,
    /// `grouped` (each task's lines together when it ends) or `stream` (as they come)
    #[arg(long, value_enum, default_value_t = LogOrder::Auto)]
    log_order: LogOrder,
    /// Run as if started in this folder
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Write a summary of the run to .turbo/runs/<id>.json
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    summarize: Option<String>,
    /// Print the task graph (Graphviz DOT; `--graph=FILE` writes .dot, .json or .mermaid)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "")]
    graph: Option<String>,
    /// Say what would run and why, without running it (`--dry=json` for turbo's JSON)
    #[arg(long, visible_alias = "dry-run", num_args = 0..=1, require_equals = true,
          default_missing_value = "text")]
    dry: Option<String>,
    /// Run scripts through the package manager (`<pm> run <script>`) instead of directly
    #[arg(long)]
    pm_run: bool,
    /// Which caches to read and write: `local:rw,remote:rw` (the default), `local:rw,remote:r`,
    /// `remote:r`, ... (a source left out is off; TURBO_CACHE says the same)
    #[arg(long, value_name = "local:rw,remote:rw")]
    cache: Option<String>,
    /// The remote cache's base URL (TURBO_API; else .turbo/config.json, buildnet.yaml,
    /// turbo.json)
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// The remote cache's bearer token (TURBO_TOKEN; else turbo's or the Vercel CLI's login)
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// The team, sent as `slug` (TURBO_TEAM)
    #[arg(long, value_name = "SLUG")]
    team: Option<String>,
    /// Seconds per remote-cache request, 0 for no limit (TURBO_REMOTE_CACHE_TIMEOUT)
    #[arg(long, value_name = "SECONDS")]
    remote_cache_timeout: Option<u64>,
    /// Ask the remote cache with an OPTIONS preflight before each request (TURBO_PREFLIGHT)
    #[arg(long)]
    preflight: bool,
    /// Run in this process even when a daemon serves the workspace
    #[arg(long)]
    no_daemon: bool,
    /// Arguments after `--`, passed to every task's script
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogMode {
    Full,
    HashOnly,
    NewOnly,
    ErrorsOnly,
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogOrder {
    Auto,
    Stream,
    Grouped,
}

/// `pkg#task` as turbo prints it in front of a line: `pkg:task`.
fn shown(id: &str) -> String {
    id.replacen('#', ":", 1)
}

fn short(key: &str) -> &str {
    &key[..key.len().min(16)]
}

/// A number, or a percentage of the cores.
fn parse_concurrency(text: &str) -> Result<usize> {
    let bad = || {
        Error::invalid_argument(format!(
            "--concurrency {text:?}: give a number of tasks (≥ 1) or a percentage like 50%"
        ))
    };
    let n = if let Some(p) = text.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(p > 0.0 && p <= 100_000.0) {
            return Err(bad());
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        ((cores as f64 * p / 100.0).floor() as usize).max(1)
    } else {
        text.trim().parse::<usize>().map_err(|_| bad())?
    };
    if n == 0 || n > 100_000 {
        return Err(bad());
    }
    Ok(n)
}

/// `buildnet run`: as turbo, any error exits 1.
pub fn main(config_path: Option<&Path>, args: RunArgs) -> Result<ExitCode> {
    Ok(run(config_path, args).unwrap_or_else(|err| {
        eprintln!("buildnet: {err}");
        ExitCode::from(1)
    }))
}

fn run(config_path: Option<&Path>, args: RunArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.cwd {
        std::env::set_current_dir(dir)
            .map_err(|e| Error::invalid_argument(format!("--cwd {}: {e}", dir.display())))?;
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading the current directory", e))?;
    let config = crate::commands::load_config(config_path)?;
    if config.repo.is_none() {
        return Err(Error::config(format!(
            "{}: no turbo.json found here or above (buildnet run reads a package-manager workspace with a turbo.json; `buildnet build` runs buildnet.yaml targets)",
            cwd.display()
        )));
    }
    let ids = buildnet_core::select_tasks(&config, &args.tasks, &args.filter, args.affected, &cwd)?;
    let concurrency = args
        .concurrency
        .as_deref()
        .map(parse_concurrency)
        .transpose()?;
    let continue_on_error = match args.continue_on_error.as_deref() {
        None | Some("never") => false,
        Some("always" | "dependencies-successful" | "true") => true,
        Some(other) => {
            return Err(Error::invalid_argument(format!(
                "--continue={other}: use never, dependencies-successful or always"
            )))
        }
    };
    let options = BuildOptions {
        force: args.force,
        concurrency,
        fail_fast: !continue_on_error,
        // In this process a hit's log is read from the store when it is shown; a daemon
        // replays it as events.
        replay_logs: false,
        args: args.args.clone(),
        pm_run: args.pm_run,
        only: args.only,
        parallel: args.parallel,
        env: None,
        cache: args.cache.clone(),
        local: false,
        remote_cache: buildnet_core::remote_cache::Layer {
            api_url: args.api.clone(),
            token: args.token.clone(),
            team_slug: args.team.clone(),
            timeout: args.remote_cache_timeout,
            preflight: args.preflight.then_some(true),
            ..Default::default()
        },
    };
    let (_, remote_cache) = buildnet_core::remote_cache::resolve(
        &config,
        &buildnet_core::process::env::current(),
        args.cache.as_deref(),
        &options.remote_cache,
    )?;
    if ids.is_empty() {
        // An empty selection runs nothing (an empty target list would mean every target).
        return empty_run(&config, &args, &options);
    }
    if let Some(graph_to) = &args.graph {
        let daemon = Daemon::open(config)?;
        let graph = daemon.graph_for(&ids, &options)?;
        return write_graph(&graph, graph_to);
    }
    if let Some(mode) = args.dry.as_deref() {
        let daemon = Daemon::open(config)?;
        return dry_run(&daemon, &ids, &options, mode);
    }
    let started = Instant::now();
    // Transit tasks (no script) order the graph but are neither shown nor counted, as in turbo.
    let noop: BTreeSet<String> = config
        .targets
        .iter()
        .filter(|(_, t)| t.task.as_ref().is_some_and(|s| s.script.is_none()))
        .map(|(id, _)| id.clone())
        .collect();
    let tasks: BTreeMap<String, TaskInfo> = config
        .targets
        .iter()
        .map(|(id, t)| {
            let dir = config.root.join(t.cwd.as_deref().unwrap_or("."));
            let info = TaskInfo {
                noop: noop.contains(id),
                bypass: !t.cache || args.force,
                log: t.task.as_ref().map(|s| dir.join(&s.log_file)),
                dir,
                command: t.command.clone().unwrap_or_default(),
            };
            (id.clone(), info)
        })
        .collect();
    let mut show = Show::new(args.output_logs, args.log_order, continue_on_error, tasks);
    print_header(&config, &ids, remote_cache.is_some());
    let summarize = args.summarize.as_deref().is_some_and(|v| v != "false");
    if !args.no_daemon && !summarize {
        if let Some(running) = DaemonFile::read_live(&config.state_dir) {
            let remote_options = BuildOptions {
                replay_logs: matches!(args.output_logs, LogMode::Full),
                ..options.clone()
            };
            match crate::build::hand_off(&config, &running.address, &ids, &remote_options) {
                Ok(answer) => {
                    let record = remote(&config, &running.address, answer, &mut show)?;
                    return Ok(finish(&record, &show, started, &noop));
                }
                Err(err) if err.code() == ErrorCode::Io => {
                    eprintln!(
                        "buildnet: the daemon at {} did not answer ({err}); running here",
                        running.address
                    );
                }
                Err(err) => return Err(err),
            }
        }
    }
    let root = config.root.clone();
    let daemon = Daemon::open(config)?;
    let store = daemon.clone();
    show.cached_log = Some(Box::new(move |key| store.cached_log(key).ok().flatten()));
    let pending = daemon.prepare_follow();
    let id = daemon.request_build(&ids, options.clone())?;
    let mut follow = pending.follow(id.clone());
    crate::build::cancel_on_signal(&daemon, &id)?;
    loop {
        match follow.next_within(None)? {
            Followed::Event(envelope) => show.event(&envelope.event),
            Followed::Idle | Followed::Lagged { .. } => continue,
            Followed::End => break,
        }
    }
    let record = daemon.wait_build(&id, None)?;
    if summarize {
        let entries = daemon.dry_run(
            &ids,
            &BuildOptions {
                force: false,
                ..options.clone()
            },
        )?;
        let graph = daemon.graph_for(&ids, &options)?;
        let doc = dry_json(&daemon, &graph, &entries, Some(&record), &options.args);
        let dir = root.join(".turbo/runs");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
        let file = dir.join(format!("{}.json", record.id));
        let text =
            serde_json::to_string_pretty(&doc).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::write(&file, text).map_err(|e| Error::io(file.display(), e))?;
        println!("Summary:    {}", file.display());
    }
    daemon.close()?;
    Ok(finish(&record, &show, started, &noop))
}

/// Follows a build handed to the daemon; returns its record.
fn remote(
    config: &Config,
    address: &str,
    answer: crate::client::Answer,
    show: &mut Show,
) -> Result<BuildRecord> {
    let mut id = None;
    crate::build::read_stream(config, address, answer, &mut |kind, data| {
        match kind {
            "build" => {
                let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                id = v["build_id"].as_str().map(str::to_owned);
            }
            "event" => {
                if let Ok(env) = serde_json::from_str::<EventEnvelope>(data) {
                    show.event(&env.event);
                    if matches!(env.event, Event::BuildFinished { .. }) {
                        return false;
                    }
                }
            }
            _ => {}
        }
        true
    })?;
    let id = id.ok_or_else(|| Error::internal("the daemon did not say which build it started"))?;
    crate::build::fetch_record(config, address, &id)
}

/// What a run that selected no task prints: an empty graph, an empty dry run, or turbo's
/// summary with its warning.
fn empty_run(config: &Config, args: &RunArgs, options: &BuildOptions) -> Result<ExitCode> {
    let empty = buildnet_core::TargetGraph {
        order: Vec::new(),
        deps: Default::default(),
    };
    if let Some(graph_to) = &args.graph {
        return write_graph(&empty, graph_to);
    }
    if let Some(mode) = args.dry.as_deref() {
        let daemon = Daemon::open(config.clone())?;
        return dry_run(&daemon, &[], options, mode);
    }
    print_header(config, &[], false);
    let record = BuildRecord {
        id: String::new(),
        status: buildnet_core::BuildStatus::Succeeded,
        requested: Vec::new(),
        started_at: 0,
        finished_at: None,
        duration_ms: None,
        pid: 0,
        targets: Vec::new(),
    };
    let show = Show::new(args.output_logs, args.log_order, false, BTreeMap::new());
    Ok(finish(&record, &show, Instant::now(), &BTreeSet::new()))
}
