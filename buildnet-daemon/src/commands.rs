//! One function per command: convert arguments, call the engine, print, pick the exit code.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use buildnet_core::{Config, Daemon, DaemonFile, Error, ErrorCode, Result, ServerOverrides};

/// 2 for usage and configuration errors, 1 for everything else that failed.
pub fn exit_code(err: &Error) -> ExitCode {
    match err.code() {
        ErrorCode::InvalidArgument | ErrorCode::Config => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// Loads the configuration; for the CLI a `--config` file that does not exist is a usage error
/// (exit 2), like a malformed one.
pub fn load_config(config: Option<&Path>) -> Result<Config> {
    Config::load(config).map_err(|err| match err.code() {
        ErrorCode::NotFound => Error::config(err.message()),
        _ => err,
    })
}

/// The engine's log on stderr: `level` and above unless `RUST_LOG` says otherwise (`serve`
/// shows `info`, the other commands only warnings, such as a killed orphan or a turbo.json
/// warning).
pub fn init_logging(level: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn open(config: Option<&Path>) -> Result<Daemon> {
    Daemon::open(load_config(config)?)
}

pub fn serve(
    config: Option<&Path>,
    host: Option<String>,
    port: Option<u16>,
    watch: bool,
) -> Result<ExitCode> {
    let mut config = load_config(config)?;
    config.override_server(ServerOverrides { host, port });
    config.watch |= watch;
    let daemon = Daemon::open(config)?;
    // Handlers go in before the daemon announces itself, so no signal finds the default action.
    let signals = buildnet_core::block_on(async { Signals::install() })??;
    let address = daemon.start()?;
    println!(
        "buildnet {} listening on http://{address}",
        buildnet_core::VERSION
    );
    let _ = std::io::stdout().flush();
    let waited = buildnet_core::block_on(wait_for_stop(daemon.clone(), signals));
    let stopped = daemon.close();
    waited?;
    stopped?;
    Ok(ExitCode::SUCCESS)
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let install = |kind: SignalKind| {
            signal(kind).map_err(|e| Error::io("installing a signal handler", e))
        };
        Ok(Signals {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
            hup: install(SignalKind::hangup())?,
        })
    }
}

/// Waits for SIGTERM or SIGINT, reloading the configuration on every SIGHUP meanwhile.
async fn wait_for_stop(daemon: Daemon, signals: Signals) {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); return; }
            _ = hup.recv() => {
                let d = daemon.clone();
                match tokio::task::spawn_blocking(move || d.reload_config()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::error!(%err, "SIGHUP: configuration not reloaded"),
                    Err(err) => tracing::error!(%err, "SIGHUP: reload task failed"),
                }
            }
        }
    }
}

pub fn kv_get(config: Option<&Path>, key: &str) -> Result<ExitCode> {
    match open(config)?.get_state(key)? {
        Some(value) => {
            println!("{value}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("buildnet: key {key:?} not found");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn kv_set(config: Option<&Path>, key: &str, value: &str, ttl: Option<u64>) -> Result<ExitCode> {
    open(config)?.set_state(key, value, ttl)?;
    Ok(ExitCode::SUCCESS)
}

pub fn kv_del(config: Option<&Path>, key: &str) -> Result<ExitCode> {
    if open(config)?.delete_state(key)? {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("buildnet: key {key:?} not found");
        Ok(ExitCode::from(1))
    }
}

pub fn kv_list(config: Option<&Path>, prefix: &str, limit: usize, json: bool) -> Result<ExitCode> {
    let daemon = open(config)?;
    let mut out = std::io::stdout().lock();
    let (mut after, mut left) = (None, limit);
    // Page by page, so a listing of large values never sits in memory whole.
    while left > 0 {
        let page = daemon.list_state(prefix, after.as_deref(), left)?;
        left -= page.entries.len();
        for entry in page.entries {
            let line = if json {
                serde_json::to_string(&entry).map_err(|e| Error::internal(e.to_string()))?
            } else {
                format!("{}\t{}", entry.key, entry.value)
            };
            if writeln!(out, "{line}").is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn lock_acquire(config: Option<&Path>, resource: &str, ttl: u64) -> Result<ExitCode> {
    match open(config)?.acquire_lock(resource, ttl)? {
        Some(lock) => {
            println!("{} {}", lock.token, lock.fence);
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("buildnet: lock {resource:?} is held by someone else");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn lock_release(config: Option<&Path>, resource: &str, token: &str) -> Result<ExitCode> {
    if open(config)?.release_lock(resource, token)? {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("buildnet: lock {resource:?} is not held with that token");
        Ok(ExitCode::from(1))
    }
}

/// Prints `HEX  PATH` per file, escaping paths exactly as b3sum does: a path containing a
/// backslash, newline or carriage return has them escaped and the line starts with `\`.
pub fn hash(files: &[PathBuf], xxh3: bool) -> Result<ExitCode> {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for file in files {
        let digest = if file.as_os_str() == "-" {
            hash_stdin(xxh3)
        } else if xxh3 {
            buildnet_core::xxh3_file(file).map(|h| format!("{h:016x}"))
        } else {
            buildnet_core::blake3_file(file).map(|h| h.to_hex().to_string())
        };
        match digest {
            Ok(hex) => {
                let name = file.to_string_lossy();
                let line = if name.contains(['\\', '\n', '\r']) {
                    let escaped = name
                        .replace('\\', "\\\\")
                        .replace('\n', "\\n")
                        .replace('\r', "\\r");
                    format!("\\{hex}  {escaped}")
                } else {
                    format!("{hex}  {name}")
                };
                let _ = writeln!(out, "{line}");
            }
            Err(err) => {
                eprintln!("buildnet: {err}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `buildnet hash --workspace [GLOB...]`: the workspace's tree hash, as builds compute it.
pub fn hash_workspace(config: Option<&Path>, globs: &[PathBuf]) -> Result<ExitCode> {
    let daemon = open(config)?;
    let globs: Vec<String> = globs
        .iter()
        .map(|g| g.to_string_lossy().into_owned())
        .collect();
    let tree = daemon.hash_workspace(&globs)?;
    println!(
        "{}  {} files ({} read)",
        tree.root,
        tree.files.len(),
        tree.files_read
    );
    daemon.close()?;
    Ok(ExitCode::SUCCESS)
}

fn hash_stdin(xxh3: bool) -> Result<String> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .map_err(|e| Error::io("reading standard input", e))?;
    Ok(if xxh3 {
        format!("{:016x}", buildnet_core::xxh3_64(&data))
    } else {
        buildnet_core::blake3(&data).to_hex().to_string()
    })
}

pub fn status(config: Option<&Path>, json: bool) -> Result<ExitCode> {
    let config = load_config(config)?;
    let Some(daemon) = DaemonFile::read_live(&config.state_dir) else {
        if json {
            println!("{{\"running\":false}}");
        } else {
            println!(
                "buildnet daemon: not running (workspace {})",
                config.root.display()
            );
        }
        return Ok(ExitCode::from(1));
    };
    let body = crate::client::get_json(
        &daemon.address,
        "/api/v1/status",
        config.server.token.as_deref(),
    )?;
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let s = &body;
    println!(
        "buildnet {} daemon running at http://{} (pid {}, up {:.1}s)",
        s["version"].as_str().unwrap_or("?"),
        s["address"].as_str().unwrap_or("?"),
        s["pid"],
        s["uptime_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
    );
    println!("workspace: {}", s["workspace"].as_str().unwrap_or("?"));
    println!(
        "state:     {} ({} keys, {} locks held)",
        s["db_path"].as_str().unwrap_or("?"),
        s["kv_keys"],
        s["locks_held"]
    );
    println!(
        "artifacts: {} blobs, {} bytes",
        s["artifacts"]["count"], s["artifacts"]["bytes"]
    );
    Ok(ExitCode::SUCCESS)
}

/// `buildnet worker --reapi URL`: serves the engine until SIGTERM or SIGINT.
pub fn worker(
    url: String,
    instance: String,
    concurrency: usize,
    dir: Option<PathBuf>,
    name: Option<String>,
) -> Result<ExitCode> {
    let dir = dir.unwrap_or_else(|| {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(0);
        std::env::temp_dir().join(format!("buildnet-worker-{uid}"))
    });
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".into());
    let options = buildnet_core::reapi::worker::WorkerOptions {
        url,
        instance,
        concurrency,
        dir,
        name: name.unwrap_or_else(|| format!("{host}-{}", std::process::id())),
    };
    let stop = buildnet_core::reapi::worker::stop_on_signals();
    buildnet_core::reapi::worker::run(options, stop)?;
    Ok(ExitCode::SUCCESS)
}
