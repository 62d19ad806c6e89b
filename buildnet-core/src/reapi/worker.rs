//! `buildnet worker --reapi URL`: a bot of an engine's Remote Workers API. Each of its
//! `concurrency` sessions takes one lease at a time: it stages the action's input root from
//! the CAS (blobs checked, kept in a local cache by digest), runs the command with BuildNet's
//! process manager (own process group, timeout, killed on cancel, output capped), uploads the
//! outputs, stdout and stderr, and completes the lease with the `ActionResult`. A lost engine
//! is waited for and a forgotten session made again; on SIGTERM the sessions say they are
//! terminating, a running command is killed and its lease completed as `UNAVAILABLE`, so the
//! engine gives the action to another bot instead of waiting for this one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use prost::Message;
use tonic::Code;

use super::bots::{self, bot_status, lease_state, BotSession, BotsClient, Lease};
use super::client::Engine;
use super::exec_root::{collect_outputs, output_paths, shell_words, stage};
use super::{encode, pb, re, rpc, Digest};
use crate::error::{Error, Result};
use crate::process::{self, Outcome, RunSpec, Stream};

/// How a worker is run.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub url: String,
    pub instance: String,
    pub concurrency: usize,
    /// Exec roots, logs and the blob cache.
    pub dir: PathBuf,
    /// The id sessions are named after (`<host>-<pid>` by default).
    pub name: String,
}

/// An action's output kept in memory at most (stdout and stderr each).
const MAX_OUTPUT: usize = 16 << 20;
/// The long poll of an idle session.
const POLL: Duration = Duration::from_secs(5);
/// How often a session with a running lease says it is alive.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// Runs the worker until `stop` is set.
pub fn run(options: WorkerOptions, stop: Arc<AtomicBool>) -> Result<()> {
    std::fs::create_dir_all(&options.dir).map_err(|e| Error::io(options.dir.display(), e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&options.dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(options.dir.display(), e))?;
    }
    let engine = Engine::new(&options.url, &options.instance, Duration::from_secs(60))?;
    tracing::info!(url = %options.url, instance = %options.instance, sessions = options.concurrency, "worker started");
    let handles: Vec<_> = (0..options.concurrency.max(1))
        .map(|n| {
            let (engine, options, stop) = (engine.clone(), options.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("bot-{n}"))
                .spawn(move || Bot::new(engine, &options, n).serve(&stop))
                .map_err(|e| Error::internal(format!("starting a bot thread: {e}")))
        })
        .collect::<Result<_>>()?;
    for h in handles {
        let _ = h.join();
    }
    tracing::info!("worker stopped");
    Ok(())
}

struct Running {
    lease: Lease,
    cancel: Arc<AtomicBool>,
    done: mpsc::Receiver<(re::ActionResult, Option<rpc::Status>)>,
}

struct Bot {
    engine: Engine,
    bots: BotsClient,
    bot_id: String,
    dir: PathBuf,
    session: Option<BotSession>,
    running: Option<Running>,
    /// A lease finished and not yet reported.
    finished: Option<Lease>,
}

impl Bot {
    fn new(engine: Engine, options: &WorkerOptions, n: usize) -> Bot {
        let bots = BotsClient::new(engine.channel());
        Bot {
            bot_id: format!("{}-{n}", options.name),
            dir: options.dir.clone(),
            bots,
            engine,
            session: None,
            running: None,
            finished: None,
        }
    }

    fn blank_session(&self) -> BotSession {
        BotSession {
            bot_id: self.bot_id.clone(),
            status: bot_status::OK,
            worker: Some(bots::Worker {
                devices: vec![bots::Device {
                    handle: self.bot_id.clone(),
                    properties: Vec::new(),
                }],
                properties: Vec::new(),
            }),
            ..Default::default()
        }
    }

    fn serve(mut self, stop: &AtomicBool) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            if stopping {
                if let Some(r) = &self.running {
                    r.cancel.store(true, Ordering::SeqCst);
                }
            }
            self.collect(
                if stopping {
                    Duration::from_secs(30)
                } else {
                    Duration::ZERO
                },
                None,
            );
            if stopping && self.running.is_none() {
                self.terminate();
                return;
            }
            match self.exchange(stopping) {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(status) => {
                    if matches!(status.code(), Code::NotFound | Code::InvalidArgument)
                        && self.session.is_some()
                    {
                        tracing::warn!(bot = %self.bot_id, "the engine forgot this session ({}); making a new one", status.message());
                        self.session = None;
                        if let Some(r) = self.running.take() {
                            r.cancel.store(true, Ordering::SeqCst);
                        }
                        self.finished = None;
                    } else if status.code() != Code::DeadlineExceeded {
                        tracing::warn!(bot = %self.bot_id, "the engine did not answer: {}", status.message());
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if self.running.is_some() {
                self.collect(KEEPALIVE, Some(stop));
            }
        }
    }

    /// Picks up a finished lease's result, waiting up to `wait` (less once `stop` is set).
    fn collect(&mut self, wait: Duration, stop: Option<&AtomicBool>) {
        let Some(r) = &self.running else { return };
        let until = Instant::now() + wait;
        let got = loop {
            let step = until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match r.done.recv_timeout(step) {
                Ok(got) => break Some(got),
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= until || stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                break None;
            }
        };
        if let Some((result, status)) = got {
            let mut lease = self.running.take().expect("running").lease;
            lease.state = lease_state::COMPLETED;
            lease.status = Some(status.unwrap_or_default());
            let (_, bytes) = encode(&result);
            lease.result = Some(pb::Any {
                type_url: bots::type_url("build.bazel.remote.execution.v2.ActionResult"),
                value: bytes,
            });
            self.finished = Some(lease);
        }
    }

    /// One `CreateBotSession` or `UpdateBotSession`; starts a lease it is given.
    fn exchange(&mut self, stopping: bool) -> std::result::Result<(), tonic::Status> {
        let mut bots = self.bots.clone();
        let answer = match &self.session {
            None => {
                let mut req = tonic::Request::new(bots::CreateBotSessionRequest {
                    parent: self.engine.instance().to_owned(),
                    bot_session: Some(self.blank_session()),
                });
                req.set_timeout(Duration::from_secs(30));
                let s = self.engine.block(bots.create_bot_session(req))?;
                tracing::info!(bot = %self.bot_id, session = %s.name, "session created");
                s
            }
            Some(session) => {
                let mut session = session.clone();
                session.status = if stopping {
                    bot_status::BOT_TERMINATING
                } else {
                    bot_status::OK
                };
                session.leases = self
                    .running
                    .iter()
                    .map(|r| r.lease.clone())
                    .chain(self.finished.clone())
                    .collect();
                let mut req = tonic::Request::new(bots::UpdateBotSessionRequest {
                    name: session.name.clone(),
                    bot_session: Some(session),
                });
                let busy = self.running.is_some() || self.finished.is_some() || stopping;
                req.set_timeout(if busy { Duration::from_secs(2) } else { POLL });
                match self.engine.block(bots.update_bot_session(req)) {
                    Ok(s) => s,
                    // An idle long poll that ran out: nothing to do.
                    Err(e) if e.code() == Code::DeadlineExceeded && !busy => return Err(e),
                    Err(e) => return Err(e),
                }
            }
        };
        if let Some(done) = self.finished.take() {
            tracing::info!(bot = %self.bot_id, lease = %done.id, "lease completed");
        }
        let running_id = self.running.as_ref().map(|r| r.lease.id.clone());
        for lease in &answer.leases {
            if Some(&lease.id) == running_id.as_ref() {
                if lease.state == lease_state::CANCELLED {
                    tracing::info!(bot = %self.bot_id, lease = %lease.id, "lease cancelled by the engine");
                    if let Some(r) = self.running.take() {
                        r.cancel.store(true, Ordering::SeqCst);
                    }
                }
                continue;
            }
            if matches!(lease.state, lease_state::PENDING | lease_state::ACTIVE)
                && self.running.is_none()
                && !stopping
            {
                self.start(lease.clone());
            }
        }
        self.session = Some(BotSession {
            leases: Vec::new(),
            ..answer
        });
        Ok(())
    }

    fn start(&mut self, mut lease: Lease) {
        lease.state = lease_state::ACTIVE;
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (engine, bot_id, dir) = (self.engine.clone(), self.bot_id.clone(), self.dir.clone());
        let (payload, id, flag) = (lease.payload.clone(), lease.id.clone(), cancel.clone());
        std::thread::spawn(move || {
            let queued = SystemTime::now();
            let answer = match run_lease(&engine, &bot_id, &dir, &id, payload, &flag, queued) {
                Ok(answer) => answer,
                Err(err) => {
                    tracing::warn!(bot = %bot_id, lease = %id, %err, "lease failed");
                    let code = if flag.load(Ordering::SeqCst) { 14 } else { 13 };
                    (
                        re::ActionResult::default(),
                        Some(rpc::Status {
                            code,
                            message: err.message().to_owned(),
                            details: Vec::new(),
                        }),
                    )
                }
            };
            let _ = tx.send(answer);
        });
        self.running = Some(Running {
            lease,
            cancel,
            done: rx,
        });
    }

    /// Tells the engine this bot is going away, so nothing more is leased to it.
    fn terminate(&mut self) {
        if self.session.is_none() {
            return;
        }
        let _ = self.exchange(true);
        tracing::info!(bot = %self.bot_id, "session terminated");
    }
}

fn timestamp(t: SystemTime) -> Option<pb::Timestamp> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Some(pb::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    })
}

/// Runs one lease's action; the result, with a status when the command could not run to its
/// end (cancelled: `UNAVAILABLE`, timed out: `DEADLINE_EXCEEDED`).
fn run_lease(
    engine: &Engine,
    bot_id: &str,
    dir: &Path,
    lease_id: &str,
    payload: Option<pb::Any>,
    cancel: &AtomicBool,
    queued: SystemTime,
) -> Result<(re::ActionResult, Option<rpc::Status>)> {
    let worker_start = SystemTime::now();
    let payload = payload.ok_or_else(|| Error::invalid_argument("the lease has no payload"))?;
    let action: re::Action = if payload.type_url.ends_with(".Digest") {
        let digest = Digest::decode(payload.value.as_slice())
            .map_err(|e| Error::invalid_argument(format!("the lease's digest: {e}")))?;
        engine.read_message(&digest, "action")?
    } else {
        re::Action::decode(payload.value.as_slice())
            .map_err(|e| Error::invalid_argument(format!("the lease's action: {e}")))?
    };
    let action_hash = encode(&action).0.hash;
    let command: re::Command = engine.read_message(
        action
            .command_digest
            .as_ref()
            .ok_or_else(|| Error::invalid_argument("the action has no command"))?,
        "command",
    )?;
    let safe: String = lease_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let root = dir.join("exec").join(&safe);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| Error::io(root.display(), e))?;
    let outcome = (|| {
        let fetched = stage(engine, dir, &root, &action)?;
        let fetch_done = SystemTime::now();
        let cwd = if command.working_directory.is_empty() {
            root.clone()
        } else if super::is_relative_path(&command.working_directory) {
            root.join(&command.working_directory)
        } else {
            return Err(Error::invalid_argument(format!(
                "working directory {:?} is not relative",
                command.working_directory
            )));
        };
        std::fs::create_dir_all(&cwd).map_err(|e| Error::io(cwd.display(), e))?;
        let outputs = output_paths(&command)?;
        for out in &outputs {
            if let Some(parent) = cwd.join(out).parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
            }
        }
        let mut env: Vec<(String, std::ffi::OsString)> = command
            .environment_variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone().into()))
            .collect();
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), std::env::var_os("PATH").unwrap_or_default()));
        }
        let script = shell_words(&command.arguments)?;
        let timeout = action
            .timeout
            .as_ref()
            .map(|t| Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32))
            .filter(|t| !t.is_zero());
        let log = dir.join("logs").join(format!("{safe}.log"));
        tracing::info!(bot = bot_id, lease = lease_id, action = %action_hash, files = fetched, "running `{}`", command.arguments.join(" "));
        let spec = RunSpec {
            command: &script,
            cwd: &cwd,
            env,
            clear_env: true,
            timeout,
            log_path: &log,
            redact: &[],
            running_dir: None,
        };
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let started = SystemTime::now();
        let ran = Instant::now();
        let outcome = process::run(&spec, cancel, |stream, line| {
            let buf = match stream {
                Stream::Stdout => &mut stdout,
                Stream::Stderr => &mut stderr,
            };
            if buf.len() + line.len() < MAX_OUTPUT {
                buf.extend_from_slice(line.as_bytes());
                buf.push(b'\n');
            }
        })?;
        let _ = std::fs::remove_file(&log);
        let completed = SystemTime::now();
        tracing::info!(
            bot = bot_id,
            lease = lease_id,
            ?outcome,
            ms = ran.elapsed().as_millis() as u64,
            "command ended"
        );
        let (exit_code, status) = match outcome {
            Outcome::Exited(code) => (code, None),
            Outcome::Signaled(sig) => (128 + sig, None),
            Outcome::TimedOut => (-1, Some((4, "the action timed out"))),
            Outcome::Cancelled => (-1, Some((14, "the worker was stopped"))),
        };
        if let Some((code, message)) = status {
            return Ok((
                re::ActionResult::default(),
                Some(rpc::Status {
                    code,
                    message: message.into(),
                    details: Vec::new(),
                }),
            ));
        }
        let mut result = collect_outputs(engine, &cwd, &outputs, stdout, stderr)?;
        result.exit_code = exit_code;
        result.execution_metadata = Some(re::ExecutedActionMetadata {
            worker: bot_id.to_owned(),
            queued_timestamp: timestamp(queued),
            worker_start_timestamp: timestamp(worker_start),
            input_fetch_start_timestamp: timestamp(worker_start),
            input_fetch_completed_timestamp: timestamp(fetch_done),
            execution_start_timestamp: timestamp(started),
            execution_completed_timestamp: timestamp(completed),
            output_upload_start_timestamp: timestamp(completed),
            output_upload_completed_timestamp: timestamp(SystemTime::now()),
            worker_completed_timestamp: timestamp(SystemTime::now()),
            ..Default::default()
        });
        Ok((result, None))
    })();
    let _ = std::fs::remove_dir_all(&root);
    outcome
}

/// Sets `stop` on SIGTERM or SIGINT.
pub fn stop_on_signals() -> Arc<AtomicBool> {
    static STOP: AtomicBool = AtomicBool::new(false);
    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let flag = stop.clone();
    std::thread::spawn(move || loop {
        if STOP.load(Ordering::SeqCst) {
            flag.store(true, Ordering::SeqCst);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
    stop
}
