//! `buildnet run <task...>`: `turbo run` in a Turborepo workspace (package-manager workspaces
//! and `turbo.json`, no `buildnet.yaml` needed), with turbo's flags, output and exit codes.
//!
//! Output is grouped by task: when a task ends, a line `pkg:task: cache hit, replaying logs
//! HASH` (or `cache miss, executing HASH`), then its output lines prefixed `pkg:task: `, as
//! `--output-logs` asks; then turbo's summary (`Tasks:`, `Cached:`, `Time:`, `>>> FULL TURBO`
//! when everything was a hit). `--dry=json` prints turbo's dry-run document.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use buildnet_core::{
    BuildOptions, BuildRecord, BuildStatus, Config, Daemon, DaemonFile, Error, ErrorCode, Event,
    EventEnvelope, Followed, Result, TargetGraph, TargetStatus,
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
    };
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
            let info = TaskInfo {
                noop: noop.contains(id),
                bypass: !t.cache || args.force,
                dir: config.root.join(t.cwd.as_deref().unwrap_or(".")),
                command: t.command.clone().unwrap_or_default(),
            };
            (id.clone(), info)
        })
        .collect();
    let mut show = Show::new(args.output_logs, args.log_order, continue_on_error, tasks);
    print_header(&config, &ids);
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

/// Prints the summary; the exit code turbo would give.
fn finish(
    record: &BuildRecord,
    show: &Show,
    started: Instant,
    noop: &BTreeSet<String>,
) -> ExitCode {
    let real: Vec<&buildnet_core::TargetRun> = record
        .targets
        .iter()
        .filter(|t| !noop.contains(&t.target))
        .collect();
    let total = real.len();
    let succeeded = real
        .iter()
        .filter(|t| t.status == TargetStatus::Succeeded)
        .count();
    let cached = real.iter().filter(|t| t.cached).count();
    let failed: Vec<&str> = real
        .iter()
        .filter(|t| t.status == TargetStatus::Failed)
        .map(|t| t.target.as_str())
        .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    let _ = writeln!(out, " Tasks:    {succeeded} successful, {total} total");
    let _ = writeln!(out, "Cached:    {cached} cached, {total} total");
    let elapsed = started.elapsed().as_millis();
    let time = if elapsed < 1000 {
        format!("{elapsed}ms")
    } else {
        format!("{:.3}s", elapsed as f64 / 1000.0)
    };
    let full = total > 0 && cached == total;
    let _ = writeln!(
        out,
        "  Time:    {time}{}",
        if full { " >>> FULL TURBO" } else { " " }
    );
    if !failed.is_empty() {
        let _ = writeln!(out, "Failed:    {}", failed.join(", "));
    }
    let _ = writeln!(out);
    if total == 0 {
        let _ = writeln!(out, " WARNING  No tasks were executed as part of this run.");
    }
    drop(out);
    if record.status == BuildStatus::Succeeded {
        return ExitCode::SUCCESS;
    }
    if show.keep_going {
        for line in &show.errors {
            eprintln!("{line}");
        }
    }
    // turbo exits with the highest exit code of its failed tasks (1 when none gave one).
    let code = record
        .targets
        .iter()
        .filter(|t| t.status == TargetStatus::Failed)
        .filter_map(|t| t.exit_code)
        .filter(|c| (1..=255).contains(c))
        .max()
        .unwrap_or(1);
    eprintln!(" ERROR  run failed: command  exited ({code})");
    ExitCode::from(code as u8)
}

/// What a task shows besides its events: how it runs, for its lines.
struct TaskInfo {
    /// A transit task: nothing to show.
    noop: bool,
    /// `cache: false`, or `--force`: a "cache bypass".
    bypass: bool,
    dir: PathBuf,
    command: String,
}

/// Shows a build's events the way turbo prints a run.
struct Show {
    mode: LogMode,
    stream: bool,
    keep_going: bool,
    /// Lines of each running task, until it ends (grouped order).
    lines: BTreeMap<String, Vec<String>>,
    tasks: BTreeMap<String, TaskInfo>,
    /// Failure lines, repeated at the end with `--continue`.
    errors: Vec<String>,
    /// Reads a hit's stored log (in this process; a daemon sends it as events instead).
    cached_log: Option<Box<dyn Fn(&str) -> Option<Vec<u8>>>>,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Show {
    fn new(
        mode: LogMode,
        order: LogOrder,
        keep_going: bool,
        tasks: BTreeMap<String, TaskInfo>,
    ) -> Show {
        Show {
            mode,
            stream: order == LogOrder::Stream,
            keep_going,
            lines: BTreeMap::new(),
            tasks,
            errors: Vec::new(),
            cached_log: None,
            out: std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        }
    }

    fn event(&mut self, event: &Event) {
        self.show(event);
        if matches!(event, Event::TargetFinished { .. }) || self.stream {
            let _ = self.out.flush();
        }
    }

    fn show(&mut self, event: &Event) {
        let out = &mut self.out;
        match event {
            Event::TargetLog { target, line, .. } => {
                if matches!(self.mode, LogMode::None | LogMode::HashOnly) {
                    return;
                }
                let text = format!("{}: {line}", shown(target));
                if self.stream && matches!(self.mode, LogMode::Full | LogMode::NewOnly) {
                    let _ = writeln!(out, "{text}");
                } else {
                    self.lines.entry(target.clone()).or_default().push(text);
                }
            }
            Event::TargetFinished {
                target,
                status,
                cached,
                cache_key,
                error,
                exit_code,
                warnings,
                ..
            } => {
                let mut lines = self.lines.remove(target).unwrap_or_default();
                let Some(info) = self.tasks.get(target) else {
                    return;
                };
                if info.noop || *status == TargetStatus::Skipped {
                    return;
                }
                let failed = *status == TargetStatus::Failed;
                let hash = cache_key.as_deref().map(short).unwrap_or("");
                let name = shown(target);
                let suppress = matches!(self.mode, LogMode::HashOnly | LogMode::NewOnly);
                let header = if *cached && suppress {
                    format!("{name}: cache hit, suppressing logs {hash}")
                } else if *cached {
                    format!("{name}: cache hit, replaying logs {hash}")
                } else if info.bypass {
                    format!("{name}: cache bypass, force executing {hash}")
                } else {
                    format!("{name}: cache miss, executing {hash}")
                };
                let (show_header, show_lines) = match self.mode {
                    LogMode::None => (false, false),
                    LogMode::ErrorsOnly => (failed, failed),
                    LogMode::HashOnly => (true, false),
                    LogMode::NewOnly => (true, !*cached),
                    LogMode::Full => (true, true),
                };
                if show_header {
                    let _ = writeln!(out, "{header}");
                }
                if show_lines && *cached && lines.is_empty() {
                    let log = match (&self.cached_log, cache_key) {
                        (Some(read), Some(key)) => read(key),
                        _ => None,
                    };
                    if let Some(log) = log {
                        lines = String::from_utf8_lossy(&log)
                            .lines()
                            .map(|l| format!("{name}: {l}"))
                            .collect();
                    }
                }
                if show_lines {
                    for line in lines {
                        let _ = writeln!(out, "{line}");
                    }
                }
                for warning in warnings {
                    let _ = writeln!(out, "{name}: WARNING {warning}");
                }
                if failed {
                    let why = match exit_code {
                        Some(code) => format!(
                            "command ({}) {} exited ({code})",
                            info.dir.display(),
                            info.command
                        ),
                        None => error.clone().unwrap_or_else(|| "failed".into()),
                    };
                    let line = format!("{target}:  ERROR  {why}");
                    let _ = writeln!(out, "{line}");
                    if self.keep_going {
                        let _ = writeln!(
                            out,
                            "{target}:  WARNING  command finished with error, but continuing..."
                        );
                    }
                    self.errors.push(line);
                }
            }
            _ => {}
        }
    }
}

/// turbo's opening lines: the packages asked for and the tasks.
fn print_header(config: &Config, ids: &[String]) {
    let mut packages = BTreeSet::new();
    let mut tasks = BTreeSet::new();
    for id in ids {
        if let Some(spec) = config.targets.get(id).and_then(|t| t.task.as_ref()) {
            packages.insert(spec.package.clone());
            tasks.insert(spec.task.clone());
        }
    }
    let tasks: Vec<String> = tasks.into_iter().collect();
    let packages: Vec<String> = packages.into_iter().collect();
    let n = packages.len();
    println!();
    println!("   • buildnet {}", buildnet_core::VERSION);
    println!("   • Packages in scope: {}", packages.join(", "));
    println!(
        "   • Running {} in {n} package{}",
        tasks.join(", "),
        if n == 1 { "" } else { "s" }
    );
    println!("   • Remote caching disabled");
    println!();
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

fn write_graph(graph: &TargetGraph, to: &str) -> Result<ExitCode> {
    let text = if to.ends_with(".json") {
        serde_json::to_string_pretty(graph).map_err(|e| Error::internal(e.to_string()))?
    } else if to.ends_with(".mermaid") || to.ends_with(".mmd") {
        let mut s = String::from("graph TD\n");
        for (i, t) in graph.order.iter().enumerate() {
            s.push_str(&format!("  T{i}(\"{}\")\n", shown(t)));
        }
        let index: BTreeMap<&str, usize> = graph
            .order
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        for t in &graph.order {
            for d in &graph.deps[t] {
                s.push_str(&format!(
                    "  T{} --> T{}\n",
                    index[t.as_str()],
                    index[d.as_str()]
                ));
            }
        }
        s
    } else if to.is_empty() || to.ends_with(".dot") || to.ends_with(".gv") {
        graph.to_dot()
    } else {
        return Err(Error::invalid_argument(format!(
            "--graph={to}: write .dot, .json or .mermaid (images need Graphviz: `dot -Tsvg`)"
        )));
    };
    if to.is_empty() {
        print!("{text}");
    } else {
        std::fs::write(to, text).map_err(|e| Error::io(to, e))?;
        println!("✔ Generated task graph in {to}");
    }
    Ok(ExitCode::SUCCESS)
}

fn dry_run(
    daemon: &Daemon,
    ids: &[String],
    options: &BuildOptions,
    mode: &str,
) -> Result<ExitCode> {
    let entries = daemon.dry_run(ids, options)?;
    let graph = daemon.graph_for(ids, options)?;
    match mode {
        "json" => {
            let doc = dry_json(daemon, &graph, &entries, None, &options.args);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).map_err(|e| Error::internal(e.to_string()))?
            );
        }
        "text" | "true" => {
            let config = daemon.config();
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "Tasks to Run");
            for entry in &entries {
                let spec = config.targets[&entry.target].task.clone();
                let command = spec
                    .as_ref()
                    .and_then(|s| s.script.clone())
                    .unwrap_or_else(|| "<NONEXISTENT>".into());
                let status = if entry.hit { "HIT" } else { "MISS" };
                let _ = writeln!(out, "{}", shown(&entry.target));
                let _ = writeln!(out, "  Hash         = {}", short(&entry.cache_key));
                let _ = writeln!(out, "  Cached       = {status}");
                let _ = writeln!(out, "  Command      = {command}");
                if !entry.hit && !entry.reasons.is_empty() {
                    let _ = writeln!(out, "  Why          = {}", entry.reasons.join("; "));
                }
                for warning in &entry.warnings {
                    let _ = writeln!(out, "  Warning      = {warning}");
                }
            }
        }
        other => {
            return Err(Error::invalid_argument(format!(
                "--dry={other}: use --dry or --dry=json"
            )))
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// turbo's dry-run (and `--summarize`) document, with BuildNet's miss reasons added.
fn dry_json(
    daemon: &Daemon,
    graph: &TargetGraph,
    entries: &[buildnet_core::DryRunEntry],
    record: Option<&BuildRecord>,
    args: &[String],
) -> serde_json::Value {
    use serde_json::json;
    let config = daemon.config();
    let repo = config.repo.clone();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, deps) in &graph.deps {
        for d in deps {
            dependents.entry(d.as_str()).or_default().push(t.as_str());
        }
    }
    let mut packages = BTreeSet::new();
    let mut tasks = Vec::new();
    for entry in entries {
        let target = &config.targets[&entry.target];
        let spec = target.task.clone();
        let (package, task) = match &spec {
            Some(s) => (s.package.clone(), s.task.clone()),
            None => (String::new(), entry.target.clone()),
        };
        packages.insert(package.clone());
        let dir = spec
            .as_ref()
            .map(|s| s.package_dir.clone())
            .unwrap_or_default();
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let inputs: BTreeMap<String, String> = entry
            .inputs
            .iter()
            .map(|(path, hash)| {
                let rel = match path.strip_prefix(&prefix) {
                    Some(rel) if !prefix.is_empty() => rel.to_owned(),
                    _ if prefix.is_empty() => path.clone(),
                    _ => format!("$TURBO_ROOT$/{path}"),
                };
                (rel, hash.clone())
            })
            .collect();
        let run = record.and_then(|r| r.targets.iter().find(|t| t.target == entry.target));
        let mut item = json!({
            "taskId": entry.target,
            "task": task,
            "package": package,
            "hash": short(&entry.cache_key),
            "cacheKey": entry.cache_key,
            "inputs": inputs,
            "hashOfExternalDependencies": spec.as_ref().map(|s| short(&s.external_deps).to_owned()).unwrap_or_default(),
            "cache": {
                "local": entry.hit,
                "remote": false,
                "status": if entry.hit { "HIT" } else { "MISS" },
                "source": if entry.hit { Some("LOCAL") } else { None },
            },
            "command": spec.as_ref().and_then(|s| s.script.clone()).unwrap_or_else(|| "<NONEXISTENT>".into()),
            "cliArguments": args,
            "outputs": target.outputs.iter().filter(|o| !o.starts_with('!')).collect::<Vec<_>>(),
            "excludedOutputs": target.outputs.iter().filter_map(|o| o.strip_prefix('!')).collect::<Vec<_>>(),
            "logFile": spec.as_ref().map(|s| if dir.is_empty() { s.log_file.clone() } else { format!("{dir}/{}", s.log_file) }),
            "directory": dir,
            "dependencies": graph.deps.get(&entry.target).cloned().unwrap_or_default(),
            "dependents": dependents.get(entry.target.as_str()).cloned().unwrap_or_default(),
            "resolvedTaskDefinition": spec.as_ref().map(|s| serde_json::to_value(&s.definition).unwrap_or_default()),
            "framework": spec.as_ref().and_then(|s| s.framework.clone()).unwrap_or_default(),
            "envMode": if target.env_mode == buildnet_core::EnvMode::Strict { "strict" } else { "loose" },
            "environmentVariables": {
                "specified": { "env": target.env, "passThroughEnv": target.pass_env },
            },
            "missReasons": entry.reasons,
            "warnings": entry.warnings,
        });
        if let Some(run) = run {
            item["execution"] = json!({
                "status": run.status,
                "cached": run.cached,
                "exitCode": run.exit_code,
                "startTime": run.started_at,
                "endTime": run.finished_at,
                "error": run.error,
            });
        }
        tasks.push(item);
    }
    let global = repo.as_ref().map(|r| {
        json!({
            "rootKey": "buildnet",
            "files": r.turbo.global_dependencies,
            "environmentVariables": { "specified": { "env": r.turbo.global_env, "passThroughEnv": r.turbo.global_pass_through_env } },
        })
    });
    let mut doc = json!({
        "id": record.map(|r| r.id.clone()),
        "version": "1",
        "turboVersion": format!("buildnet {}", buildnet_core::VERSION),
        "monorepo": true,
        "globalCacheInputs": global,
        "packages": packages.into_iter().filter(|p| p != "//").collect::<Vec<_>>(),
        "envMode": repo.as_ref().map(|r| format!("{:?}", r.turbo.env_mode).to_lowercase()),
        "frameworkInference": true,
        "tasks": tasks,
    });
    if let Some(r) = record {
        doc["execution"] = json!({
            "status": r.status,
            "startTime": r.started_at,
            "endTime": r.finished_at,
        });
    }
    doc
}
