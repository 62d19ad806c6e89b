//! `buildnet build`, `graph` and `builds`: the engine's build API, shown as progress lines,
//! JSON lines or a summary.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use buildnet_core::{
    BuildOptions, BuildRecord, BuildStatus, Daemon, DaemonFile, Error, ErrorCode, Event,
    EventEnvelope, Followed, Result, TargetRun, TargetStatus,
};

use crate::OutputLogs;

/// Unknown targets and cycles are usage errors of the command line: exit 2.
fn usage_error(err: Error) -> Error {
    match err.code() {
        ErrorCode::NotFound | ErrorCode::Cycle => {
            Error::new(ErrorCode::InvalidArgument, err.message())
        }
        _ => err,
    }
}

pub fn build(
    config: Option<&Path>,
    targets: &[String],
    options: BuildOptions,
    dry_run: bool,
    json: bool,
    logs: OutputLogs,
    no_daemon: bool,
) -> Result<ExitCode> {
    let config = crate::commands::load_config(config)?;
    if !dry_run && !no_daemon {
        if let Some(running) = DaemonFile::read_live(&config.state_dir) {
            // Only a daemon that cannot be reached is built around: once it took the build, a
            // second one here would write the same outputs.
            match hand_off(&config, &running.address, targets, &options) {
                Ok(answer) => {
                    return remote_build(&config, &running.address, answer, json, logs);
                }
                Err(err) if err.code() == ErrorCode::Io => {
                    eprintln!(
                        "buildnet: the daemon at {} did not answer ({err}); building here",
                        running.address
                    );
                }
                Err(err) => return Err(err),
            }
        }
    }
    let daemon = Daemon::open(config)?;
    if dry_run {
        return print_dry_run(&daemon, targets, &options, json);
    }
    let started = Instant::now();
    let pending = daemon.prepare_follow();
    let id = daemon
        .request_build(targets, options)
        .map_err(usage_error)?;
    let mut follow = pending.follow(id.clone());
    cancel_on_signal(&daemon, &id)?;
    let mut out = std::io::stdout().lock();
    let mut progress = Progress::new(!json && std::io::IsTerminal::is_terminal(&std::io::stdout()));
    // With replay off, log events only come from commands that ran.
    progress.stream_logs = matches!(logs, OutputLogs::Full | OutputLogs::NewOnly);
    // Wake up now and then on a terminal to move the elapsed times along.
    let tick = progress.tty.then_some(TICK);
    loop {
        let envelope = match follow.next_within(tick)? {
            Followed::Event(envelope) => envelope,
            Followed::Idle => {
                progress.redraw(&mut out, None);
                continue;
            }
            Followed::Lagged { .. } => continue,
            Followed::End => break,
        };
        if json {
            let line =
                serde_json::to_string(&*envelope).map_err(|e| Error::internal(e.to_string()))?;
            let _ = writeln!(out, "{line}");
        } else {
            progress.show(&mut out, &envelope.event);
        }
    }
    // Events may have been missed (a lagging subscriber): nothing is running any more.
    progress.running.clear();
    progress.redraw(&mut out, None);
    let record = daemon.wait_build(&id, None)?;
    if json {
        let line = serde_json::to_string(&record).map_err(|e| Error::internal(e.to_string()))?;
        let _ = writeln!(out, "{line}");
    } else {
        if logs == OutputLogs::ErrorsOnly {
            print_failed_logs(&mut out, &daemon, &record);
        }
        let _ = writeln!(
            out,
            "{}",
            summary(&record, started.elapsed().as_millis() as u64)
        );
    }
    drop(out);
    daemon.close()?;
    Ok(if record.status == BuildStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Asks the daemon serving this workspace to build; its answer streams the build's events.
pub fn hand_off(
    config: &buildnet_core::Config,
    address: &str,
    targets: &[String],
    options: &BuildOptions,
) -> Result<crate::client::Answer> {
    let token = config.server.token.as_deref();
    let body = serde_json::json!({
        "targets": targets,
        "force": options.force,
        "concurrency": options.concurrency,
        "fail_fast": options.fail_fast,
        "replay_logs": options.replay_logs,
        "args": options.args,
        "only": options.only,
        "parallel": options.parallel,
        "pm_run": options.pm_run,
        "cache": options.cache,
        "remote_cache": options.remote_cache,
        // The commands and keys see this command's environment, not the daemon's.
        "env": options.env.clone().unwrap_or_else(|| {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect()
        }),
    })
    .to_string();
    crate::client::request(
        address,
        "POST",
        "/api/v1/build?stream=true",
        token,
        Some(&body),
        None,
    )
}

/// Shows the progress of a build handed to the daemon from the event stream it sends back. The
/// daemon answers from what its file watcher already knows.
fn remote_build(
    config: &buildnet_core::Config,
    address: &str,
    answer: crate::client::Answer,
    json: bool,
    logs: OutputLogs,
) -> Result<ExitCode> {
    let started = Instant::now();
    let token = config.server.token.as_deref();
    if !json {
        eprintln!("buildnet: building on the daemon at http://{address}");
    }
    let mut out = std::io::stdout().lock();
    let mut progress = Progress::new(!json && std::io::IsTerminal::is_terminal(&std::io::stdout()));
    progress.stream_logs = matches!(logs, OutputLogs::Full | OutputLogs::NewOnly);
    let mut id: Option<String> = None;
    read_stream(config, address, answer, &mut |kind, data| {
        match kind {
            "build" => {
                let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                id = v["build_id"].as_str().map(str::to_owned);
            }
            "event" => {
                if json {
                    let _ = writeln!(out, "{data}");
                }
                if let Ok(env) = serde_json::from_str::<EventEnvelope>(data) {
                    if !json {
                        progress.show(&mut out, &env.event);
                    }
                    if matches!(env.event, Event::BuildFinished { .. }) {
                        return false;
                    }
                }
            }
            _ => {}
        }
        true
    })?;
    progress.running.clear();
    progress.redraw(&mut out, None);
    let id = id.ok_or_else(|| Error::internal("the daemon did not say which build it started"))?;
    let record = fetch_record(config, address, &id)?;
    if json {
        let line = serde_json::to_string(&record).map_err(|e| Error::internal(e.to_string()))?;
        let _ = writeln!(out, "{line}");
    } else {
        if logs == OutputLogs::ErrorsOnly {
            for run in record
                .targets
                .iter()
                .filter(|t| t.status == TargetStatus::Failed)
            {
                let path = format!("/api/v1/logs?build={id}&target={}", run.target);
                if let Ok(answer) = crate::client::request(
                    address,
                    "GET",
                    &path,
                    token,
                    None,
                    Some(std::time::Duration::from_secs(10)),
                ) {
                    print_log_tail(&mut out, &run.target, &answer.text().unwrap_or_default());
                }
            }
        }
        let _ = writeln!(
            out,
            "{}",
            summary(&record, started.elapsed().as_millis() as u64)
        );
    }
    Ok(if record.status == BuildStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads the server-sent events of a build handed to the daemon, calling `on` with each
/// event's kind and data until it returns `false` or the stream ends. The first `build` event
/// names the build; Ctrl-C from then on cancels it on the daemon.
pub fn read_stream(
    config: &buildnet_core::Config,
    address: &str,
    answer: crate::client::Answer,
    on: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<()> {
    use std::io::BufRead;
    let token = config.server.token.as_deref();
    if answer.status != 200 {
        let status = answer.status;
        let text = answer.text()?;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        return Err(usage_error(crate::client::status_error(status, &json)));
    }
    let (mut event, mut data) = (String::new(), String::new());
    let mut lines = answer.body;
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines
            .read_line(&mut line)
            .map_err(|e| Error::internal(format!("reading the daemon's event stream: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if let Some(v) = l.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = l.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        } else if l.is_empty() && !data.is_empty() {
            if event == "build" {
                let v: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                if let Some(b) = v["build_id"].as_str() {
                    cancel_remote_on_signal(address, token, b)?;
                }
            }
            if !on(&event, &data) {
                return Ok(());
            }
            event.clear();
            data.clear();
        }
    }
}

/// The record of build `id` from the daemon at `address`.
pub fn fetch_record(
    config: &buildnet_core::Config,
    address: &str,
    id: &str,
) -> Result<BuildRecord> {
    let path = format!("/api/v1/builds/{id}");
    let answer = crate::client::get_json(address, &path, config.server.token.as_deref())?;
    serde_json::from_value(answer["build"].clone())
        .map_err(|e| Error::internal(format!("the daemon sent an unreadable build: {e}")))
}

/// Ctrl-C or SIGTERM asks the daemon to cancel the build this command handed to it.
fn cancel_remote_on_signal(address: &str, token: Option<&str>, id: &str) -> Result<()> {
    let (address, token, id) = (address.to_owned(), token.map(str::to_owned), id.to_owned());
    on_interrupt(move || {
        eprintln!("buildnet: cancelling build {id}");
        let path = format!("/api/v1/builds/{id}");
        let _ = crate::client::request(
            &address,
            "DELETE",
            &path,
            token.as_deref(),
            None,
            Some(std::time::Duration::from_secs(10)),
        );
    })
}

/// Ctrl-C or SIGTERM cancels the build: its commands run in their own process groups, so the
/// terminal's SIGINT does not reach them by itself.
pub fn cancel_on_signal(daemon: &Daemon, id: &str) -> Result<()> {
    let (daemon, id) = (daemon.clone(), id.to_owned());
    on_interrupt(move || {
        eprintln!("buildnet: cancelling build {id}");
        let _ = daemon.cancel_build(&id);
    })
}

/// Runs `then` (on a blocking thread) at the first SIGINT or SIGTERM.
fn on_interrupt(then: impl FnOnce() + Send + 'static) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = buildnet_core::tokio_runtime()?;
    let _guard = rt.enter();
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| Error::io("installing a signal handler", e))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Error::io("installing a signal handler", e))?;
    rt.spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let _ = tokio::task::spawn_blocking(then).await;
    });
    Ok(())
}

const TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// Progress display. On a terminal: finished targets scroll up as permanent lines, and below
/// them one live line per running target with its elapsed time, redrawn in place. Elsewhere:
/// plain lines, one when a target starts and one when it ends.
struct Progress {
    tty: bool,
    /// Print every target's output lines as they come (`target: line`).
    stream_logs: bool,
    running: Vec<(String, Instant)>,
    /// Live lines currently drawn below the permanent output.
    drawn: usize,
}

impl Progress {
    fn new(tty: bool) -> Progress {
        Progress {
            tty,
            stream_logs: false,
            running: Vec::new(),
            drawn: 0,
        }
    }

    fn show(&mut self, out: &mut impl Write, event: &Event) {
        match event {
            Event::TargetLog { target, line, .. } if self.stream_logs => {
                let line = format!("{target}: {line}");
                if self.tty {
                    self.redraw(out, Some(&line));
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
            Event::TargetStarted { target, .. } => {
                self.running.push((target.clone(), Instant::now()));
                if self.tty {
                    self.redraw(out, None);
                } else {
                    let _ = writeln!(out, "  ▸ {target}");
                }
            }
            Event::TargetFinished {
                target,
                status,
                cached,
                duration_ms,
                error,
                warnings,
                remote_bytes,
                remote_execution,
                ..
            } => {
                self.running.retain(|(t, _)| t != target);
                let mark = match (status, cached) {
                    (TargetStatus::Succeeded, true) if remote_execution.is_some() => {
                        "✓ action cache"
                    }
                    (TargetStatus::Succeeded, false) if remote_execution.is_some() => "✓ remote ",
                    (TargetStatus::Succeeded, true) if remote_bytes.is_some() => "✓ remote ",
                    (TargetStatus::Succeeded, true) => "✓ cached ",
                    (TargetStatus::Succeeded, false) => "✓ built  ",
                    (TargetStatus::Failed, _) => "✗ failed ",
                    (TargetStatus::Skipped, _) => "- skipped",
                    _ => "- stopped",
                };
                let why = error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                let mut line = format!("{mark} {target} ({}){why}", seconds(*duration_ms));
                if let Some(r) = remote_execution {
                    line.push_str(&format!(
                        " [remote: {}{}]",
                        r.worker
                            .as_deref()
                            .map(|w| format!("{w} via "))
                            .unwrap_or_default(),
                        r.engine
                    ));
                }
                for warning in warnings {
                    line.push_str(&format!("\n    warning: {warning}"));
                }
                if self.tty {
                    self.redraw(out, Some(&line));
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
            Event::BuildWarning { message, .. } => {
                let line = format!("  warning: {message}");
                if self.tty {
                    self.redraw(out, Some(&line));
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
            _ => {}
        }
    }

    /// Erases the live lines, prints `permanent` (if any), draws the live lines again.
    fn redraw(&mut self, out: &mut impl Write, permanent: Option<&str>) {
        if !self.tty {
            return;
        }
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn);
        }
        if let Some(line) = permanent {
            let _ = writeln!(out, "{line}");
        }
        for (target, since) in &self.running {
            let _ = writeln!(out, "  ▸ {target} {:.1}s", since.elapsed().as_secs_f64());
        }
        self.drawn = self.running.len();
        let _ = out.flush();
    }
}

fn seconds(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.2}s", ms as f64 / 1000.0)
    }
}

/// `8 targets: 6 cached, 2 built, 0 failed in 1.23s`
pub fn summary(record: &BuildRecord, elapsed_ms: u64) -> String {
    let count = |f: &dyn Fn(&TargetRun) -> bool| record.targets.iter().filter(|t| f(t)).count();
    let cached = count(&|t| t.status == TargetStatus::Succeeded && t.cached);
    let built = count(&|t| t.status == TargetStatus::Succeeded && !t.cached);
    let failed = count(&|t| t.status == TargetStatus::Failed);
    let other = record.targets.len() - cached - built - failed;
    let mut line = format!(
        "{} targets: {cached} cached, {built} built, {failed} failed",
        record.targets.len()
    );
    if other > 0 {
        line.push_str(&format!(", {other} not run"));
    }
    if record.status == BuildStatus::Cancelled {
        line.push_str(" (cancelled)");
    }
    line.push_str(&format!(" in {:.2}s", elapsed_ms as f64 / 1000.0));
    line
}

fn print_failed_logs(out: &mut impl Write, daemon: &Daemon, record: &BuildRecord) {
    let state_dir = daemon.config().state_dir.clone();
    for run in record
        .targets
        .iter()
        .filter(|t| t.status == TargetStatus::Failed)
    {
        let log = buildnet_core::log_path(&state_dir, &record.id, &run.target);
        if let Ok(text) = std::fs::read_to_string(log) {
            print_log_tail(out, &run.target, &text);
        }
    }
}

fn print_log_tail(out: &mut impl Write, target: &str, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    let _ = writeln!(
        out,
        "── {target} (last {} lines of its log) ──",
        lines.len() - from
    );
    for line in &lines[from..] {
        let _ = writeln!(out, "{line}");
    }
}

fn print_dry_run(
    daemon: &Daemon,
    targets: &[String],
    options: &BuildOptions,
    json: bool,
) -> Result<ExitCode> {
    let entries = daemon.dry_run(targets, options).map_err(usage_error)?;
    let mut out = std::io::stdout().lock();
    for entry in &entries {
        if json {
            let line = serde_json::to_string(entry).map_err(|e| Error::internal(e.to_string()))?;
            let _ = writeln!(out, "{line}");
        } else if entry.hit && entry.action_cache {
            let _ = writeln!(out, "HIT (action cache)  {}", entry.target);
        } else if entry.hit && entry.remote {
            let _ = writeln!(out, "hit   {} (remote)", entry.target);
        } else if entry.hit {
            let _ = writeln!(out, "hit   {}", entry.target);
        } else {
            let _ = writeln!(out, "miss  {}: {}", entry.target, entry.reasons.join("; "));
        }
        if !json {
            for warning in &entry.warnings {
                let _ = writeln!(out, "      warning: {warning}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn graph(config: Option<&Path>, targets: &[String], json: bool) -> Result<ExitCode> {
    let daemon = crate::commands::open(config)?;
    let graph = daemon.graph(targets).map_err(usage_error)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&graph).map_err(|e| Error::internal(e.to_string()))?
        );
    } else {
        print!("{}", graph.to_dot());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn builds(config: Option<&Path>, limit: usize, json: bool) -> Result<ExitCode> {
    let daemon = crate::commands::open(config)?;
    let mut out = std::io::stdout().lock();
    for b in daemon.list_builds(limit)? {
        if json {
            let line = serde_json::to_string(&b).map_err(|e| Error::internal(e.to_string()))?;
            let _ = writeln!(out, "{line}");
        } else {
            let requested = if b.requested.is_empty() {
                "(all)".to_string()
            } else {
                b.requested.join(" ")
            };
            let _ = writeln!(
                out,
                "{}  {:<11} {:>8}  {}",
                b.id,
                b.status,
                b.duration_ms
                    .map(|d| seconds(d as u64))
                    .unwrap_or_else(|| "-".into()),
                requested
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
