//! How a run looks: each task's lines as turbo prints them, and the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use buildnet_core::{BuildRecord, BuildStatus, Config, Event, TargetStatus};

use super::{short, shown, LogMode, LogOrder};

/// Prints the summary; the exit code turbo would give.
pub(super) fn finish(
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
    // As turbo: the tasks that ran or were restored (not those a failure kept from starting).
    let real: Vec<&buildnet_core::TargetRun> = real
        .into_iter()
        .filter(|t| matches!(t.status, TargetStatus::Succeeded | TargetStatus::Failed))
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
pub(super) struct TaskInfo {
    /// A transit task: nothing to show.
    pub(super) noop: bool,
    /// `cache: false`, or `--force`: a "cache bypass".
    pub(super) bypass: bool,
    pub(super) dir: PathBuf,
    pub(super) command: String,
    /// The task's `.turbo/turbo-<task>.log`: a hit has just restored it (its contents checked).
    pub(super) log: Option<PathBuf>,
}

/// Reads the log stored with a cache key.
pub(super) type CachedLog = Box<dyn Fn(&str) -> Option<Vec<u8>>>;

/// Shows a build's events the way turbo prints a run.
pub(super) struct Show {
    mode: LogMode,
    stream: bool,
    pub(super) keep_going: bool,
    /// Lines of each running task, until it ends (grouped order).
    lines: BTreeMap<String, Vec<String>>,
    tasks: BTreeMap<String, TaskInfo>,
    /// Failure lines, repeated at the end with `--continue`.
    pub(super) errors: Vec<String>,
    /// Reads a hit's stored log (in this process; a daemon sends it as events instead).
    pub(super) cached_log: Option<CachedLog>,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Show {
    pub(super) fn new(
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

    pub(super) fn event(&mut self, event: &Event) {
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
                    // The restored log file first (one read); else the log in the store.
                    let restored = info.log.as_ref().and_then(|p| std::fs::read(p).ok());
                    let log = restored.or_else(|| match (&self.cached_log, cache_key) {
                        (Some(read), Some(key)) => read(key),
                        _ => None,
                    });
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
            Event::BuildWarning { message, .. } => {
                let _ = out.flush();
                eprintln!(" WARNING  {message}");
            }
            _ => {}
        }
    }
}

/// turbo's opening lines: the packages asked for and the tasks.
pub(super) fn print_header(config: &Config, ids: &[String], remote: bool) {
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
    if remote {
        println!("   • Remote caching enabled");
    } else {
        println!("   • Remote caching disabled");
    }
    println!();
}
