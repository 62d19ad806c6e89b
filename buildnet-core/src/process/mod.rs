//! The process manager: the only module that spawns children.
//!
//! Each command runs as `/bin/sh -c COMMAND` in a process group of its own, with stdin
//! `/dev/null` and stdout/stderr piped. Output is streamed to the caller line by line and written to a log
//! file whose size is capped: the first [`LOG_HEAD_BYTES`] are written as they come, the last
//! [`LOG_TAIL_BYTES`] are kept in a ring buffer and appended at the end after a line saying how
//! much was cut, so a command printing hundreds of megabytes costs bounded memory and disk.
//!
//! A timeout or a cancellation ends the whole group: SIGTERM, then SIGKILL after
//! [`KILL_GRACE`]. When the command itself exits but something it started in the background
//! still holds its output open, that leftover group is ended the same way. The child is always
//! reaped, so no zombie is left. If this process dies instead, the group dies with it
//! ([`orphans`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub mod env;
pub mod git;
pub mod orphans;
pub mod redact;

/// Bytes of output written to the log as they come.
pub const LOG_HEAD_BYTES: usize = 1024 * 1024;
/// Bytes of the end of the output kept for the log.
pub const LOG_TAIL_BYTES: usize = 1024 * 1024;
/// Longest line passed to the caller; longer lines are cut (the log keeps them whole).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Time between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// Said in the log when a process that left the command's group outlives it.
const ESCAPED: &str = "\n[buildnet: a process that left the command's process group (setsid, a \
                       daemon) still holds its output; it escaped and was not stopped]\n";
/// How long output may stay open after the command exited before the leftovers are ended.
const LEFTOVER_GRACE: Duration = Duration::from_millis(500);

/// Which pipe a line came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What to run.
pub struct RunSpec<'a> {
    pub command: &'a str,
    pub cwd: &'a Path,
    /// Variables set on top of the inherited environment (or of nothing, with `clear_env`).
    pub env: Vec<(String, std::ffi::OsString)>,
    /// Start from an empty environment instead of the daemon's.
    pub clear_env: bool,
    pub timeout: Option<Duration>,
    pub log_path: &'a Path,
    /// Values replaced by `***` in the output before it is logged or passed on.
    pub redact: &'a [String],
    /// Where the running group is recorded, so that the next process opening the workspace can
    /// end it if this one dies ([`orphans`]).
    pub running_dir: Option<&'a Path>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Cancelled,
}

impl Outcome {
    pub fn success(self) -> bool {
        self == Outcome::Exited(0)
    }

    pub fn exit_code(self) -> Option<i32> {
        match self {
            Outcome::Exited(code) => Some(code),
            _ => None,
        }
    }
}

enum Chunk {
    Data(Stream, Vec<u8>),
    Closed,
    Exited(std::io::Result<Outcome>),
}

/// Runs `spec` to completion, calling `on_line` for every output line.
pub fn run(
    spec: &RunSpec<'_>,
    cancel: &AtomicBool,
    mut on_line: impl FnMut(Stream, &str),
) -> Result<Outcome> {
    if let Some(parent) = spec.log_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
    }
    let mut log = CappedLog::create(spec.log_path)?;
    let (lifeline, lifeline_held) =
        orphans::lifeline().map_err(|e| Error::io("creating a command's lifeline", e))?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(orphans::WRAPPER)
        .arg("sh")
        .arg(spec.command)
        .current_dir(spec.cwd)
        .stdin(Stdio::from(lifeline))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if spec.clear_env {
        cmd.env_clear();
    }
    for secret in env::OWN_SECRETS {
        cmd.env_remove(secret);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::io(
            format!("starting `{}` in {}", spec.command, spec.cwd.display()),
            e,
        )
    })?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    // From here on, however this function ends, the group is killed and the child reaped.
    let group = Group {
        pgid: pid as i32,
        child,
        _forgotten: crate::state_dir::ForkForgotten::new(std::os::fd::AsRawFd::as_raw_fd(
            &lifeline_held,
        )),
        _lifeline: lifeline_held,
        _record: spec
            .running_dir
            .and_then(|dir| orphans::record(dir, pid as i32, spec.command)),
    };
    // Bounded: a command printing faster than the log is written waits for it.
    let (tx, rx) = mpsc::sync_channel(64);
    let readers = [
        spawn_reader(stdout, Stream::Stdout, tx.clone())?,
        spawn_reader(stderr, Stream::Stderr, tx.clone())?,
    ];
    // The exit is reported the moment it happens. WNOWAIT leaves the child a zombie until
    // `group` reaps it, so its pid (the group id) cannot be reused while we may still signal it.
    std::thread::Builder::new()
        .name("buildnet-wait".into())
        .spawn(move || {
            let _ = tx.send(Chunk::Exited(wait_exit(pid)));
        })
        .map_err(|e| Error::io("starting a waiter thread", e))?;
    let started = Instant::now();
    let mut lines = LineSplitter::default();
    let mut redactor = redact::Redactor::new(spec.redact);
    let mut open_pipes = 2;
    let mut outcome: Option<Outcome> = None;
    let mut exited_at: Option<Instant> = None;
    let mut stopping: Option<(Outcome, Instant)> = None;
    let mut killed_at: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Chunk::Data(stream, data)) => {
                let data = redactor.feed(stream as usize, &data);
                log.write(&data);
                lines.feed(stream, &data, &mut on_line);
            }
            Ok(Chunk::Closed) => open_pipes -= 1,
            Ok(Chunk::Exited(status)) => {
                let status = status.map_err(|e| Error::io("waiting for a command", e))?;
                outcome = Some(match stopping {
                    Some((why, _)) => why,
                    None => status,
                });
                exited_at = Some(Instant::now());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => open_pipes = 0,
        }
        if stopping.is_none() && outcome.is_none() {
            let why = if cancel.load(Ordering::Relaxed) {
                Some(Outcome::Cancelled)
            } else if spec.timeout.is_some_and(|t| started.elapsed() >= t) {
                Some(Outcome::TimedOut)
            } else {
                None
            };
            if let Some(why) = why {
                signal_group(group.pgid, libc::SIGTERM);
                stopping = Some((why, Instant::now()));
            }
        }
        if let Some((_, since)) = stopping {
            if killed_at.is_none() && since.elapsed() >= KILL_GRACE {
                signal_group(group.pgid, libc::SIGKILL);
                killed_at = Some(Instant::now());
            }
        }
        if let (Some(_), Some(at)) = (outcome, exited_at) {
            if open_pipes == 0 {
                break;
            }
            // The command is gone but something it left behind holds the output open.
            if stopping.is_none() && at.elapsed() >= LEFTOVER_GRACE {
                signal_group(group.pgid, libc::SIGTERM);
                stopping = Some((outcome.expect("set"), Instant::now()));
            }
            // Something that left the group (setsid, a daemon) still holds the output: stop
            // listening rather than wait for it forever.
            if killed_at.is_some_and(|k| k.elapsed() >= LEFTOVER_GRACE) {
                tracing::warn!(
                    command = spec.command,
                    "a process outside the command's group keeps its output open"
                );
                log.write(ESCAPED.as_bytes());
                on_line(Stream::Stderr, ESCAPED.trim());
                break;
            }
        }
    }
    drop(group);
    if open_pipes == 0 {
        for reader in readers {
            let _ = reader.join();
        }
    }
    for stream in [Stream::Stdout, Stream::Stderr] {
        let rest = redactor.finish(stream as usize);
        log.write(&rest);
        lines.feed(stream, &rest, &mut on_line);
    }
    lines.flush(&mut on_line);
    log.finish()?;
    Ok(outcome.expect("the loop ends after the child exited"))
}

/// A command's process group: killed, and its leader reaped, when dropped.
struct Group {
    pgid: i32,
    child: std::process::Child,
    /// A forked child of this process lets go of the lifeline (dropped before it).
    _forgotten: crate::state_dir::ForkForgotten,
    /// The write end of the lifeline: if this process dies, its closing ends the group.
    _lifeline: File,
    _record: Option<orphans::RunRecord>,
}

impl Drop for Group {
    fn drop(&mut self) {
        signal_group(self.pgid, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Waits for `pid` to exit without reaping it.
fn wait_exit(pid: u32) -> std::io::Result<Outcome> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child's pid; WNOWAIT leaves it waitable for `Group::drop`.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            // SAFETY: waitid succeeded for a child that exited, so si_status is set.
            let status = unsafe { info.si_status() };
            return Ok(if info.si_code == libc::CLD_EXITED {
                Outcome::Exited(status)
            } else {
                Outcome::Signaled(status)
            });
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for this child;
    // a group that no longer exists yields ESRCH, which is ignored.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn spawn_reader(
    mut pipe: impl Read + Send + 'static,
    stream: Stream,
    tx: mpsc::SyncSender<Chunk>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("buildnet-output".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Chunk::Data(stream, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = tx.send(Chunk::Closed);
        })
        .map_err(|e| Error::io("starting an output reader thread", e))
}

/// Splits byte chunks into lines per stream, cutting over-long lines.
#[derive(Default)]
struct LineSplitter {
    partial: [Vec<u8>; 2],
}

impl LineSplitter {
    fn feed(&mut self, stream: Stream, data: &[u8], on_line: &mut impl FnMut(Stream, &str)) {
        let buf = &mut self.partial[stream as usize];
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let complete = piece.ends_with(b"\n");
            let body = if complete {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            let room = MAX_LINE_BYTES.saturating_sub(buf.len());
            buf.extend_from_slice(&body[..body.len().min(room)]);
            if complete {
                let line = String::from_utf8_lossy(buf);
                on_line(stream, line.trim_end_matches('\r'));
                buf.clear();
            }
        }
    }

    fn flush(&mut self, on_line: &mut impl FnMut(Stream, &str)) {
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if !self.partial[i].is_empty() {
                on_line(stream, &String::from_utf8_lossy(&self.partial[i]));
                self.partial[i].clear();
            }
        }
    }
}

/// A log file that keeps the head and the tail of the output.
struct CappedLog {
    file: File,
    head_left: usize,
    tail: VecDeque<u8>,
    total: u64,
    error: Option<std::io::Error>,
}

impl CappedLog {
    fn create(path: &Path) -> Result<CappedLog> {
        Ok(CappedLog {
            file: crate::state_dir::create_private(path)?,
            head_left: LOG_HEAD_BYTES,
            tail: VecDeque::new(),
            total: 0,
            error: None,
        })
    }

    fn write(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head_left > 0 {
            let n = data.len().min(self.head_left);
            if let Err(e) = self.file.write_all(&data[..n]) {
                self.error.get_or_insert(e);
            }
            self.head_left -= n;
            data = &data[n..];
        }
        if data.len() >= LOG_TAIL_BYTES {
            self.tail.clear();
            self.tail.extend(&data[data.len() - LOG_TAIL_BYTES..]);
        } else {
            let overflow = (self.tail.len() + data.len()).saturating_sub(LOG_TAIL_BYTES);
            self.tail.drain(..overflow);
            self.tail.extend(data);
        }
    }

    fn finish(mut self) -> Result<()> {
        let kept = (LOG_HEAD_BYTES + self.tail.len()) as u64;
        if self.total > kept {
            let cut = self.total - kept;
            let marker = format!("\n[buildnet: {cut} bytes of output cut here]\n");
            if let Err(e) = self.file.write_all(marker.as_bytes()) {
                self.error.get_or_insert(e);
            }
        }
        let (a, b) = self.tail.as_slices();
        if let Err(e) = self.file.write_all(a).and_then(|_| self.file.write_all(b)) {
            self.error.get_or_insert(e);
        }
        match self.error {
            Some(e) => Err(Error::io("writing a command log", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_sh(
        dir: &Path,
        command: &str,
        timeout: Option<Duration>,
    ) -> (Outcome, Vec<String>, String) {
        let log = dir.join("run.log");
        let spec = RunSpec {
            clear_env: false,
            command,
            cwd: dir,
            env: vec![("BN_TEST".into(), "hello".into())],
            timeout,
            log_path: &log,
            redact: &[],
            running_dir: None,
        };
        let mut lines = Vec::new();
        let cancel = AtomicBool::new(false);
        let outcome = run(&spec, &cancel, |s, l| lines.push(format!("{s:?}:{l}"))).unwrap();
        (
            outcome,
            lines,
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    #[test]
    fn output_lines_exit_codes_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let (o, lines, log) = run_sh(
            dir.path(),
            "echo one; echo two >&2; printf $BN_TEST; exit 3",
            None,
        );
        assert_eq!(o, Outcome::Exited(3));
        assert!(lines.contains(&"Stdout:one".to_string()), "{lines:?}");
        assert!(lines.contains(&"Stderr:two".to_string()), "{lines:?}");
        assert!(lines.contains(&"Stdout:hello".to_string()), "{lines:?}");
        assert!(log.contains("one\n") && log.contains("two\n"));
        let (o, _, _) = run_sh(dir.path(), "pwd > where", None);
        assert!(o.success());
        let cwd = std::fs::read_to_string(dir.path().join("where")).unwrap();
        assert_eq!(
            Path::new(cwd.trim()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[test]
    fn timeout_kills_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (o, _, _) = run_sh(
            dir.path(),
            "sleep 300 & echo $! > bg.pid; sh -c 'sleep 300 & echo $! > grand.pid; wait' & wait",
            Some(Duration::from_millis(300)),
        );
        assert_eq!(o, Outcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
        for f in ["bg.pid", "grand.pid"] {
            let pid: i32 = std::fs::read_to_string(dir.path().join(f))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!alive(pid), "{f} ({pid}) survived");
        }
    }

    #[test]
    fn output_held_by_an_escaped_process_does_not_hang_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (o, lines, _) = run_sh(
            dir.path(),
            "setsid sh -c 'echo $$ > escaped.pid; exec sleep 30' & sleep 0.2; echo done",
            None,
        );
        assert_eq!(o, Outcome::Exited(0));
        assert!(lines.contains(&"Stdout:done".to_string()));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("escaped and was not stopped")),
            "{lines:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "took {:?}",
            started.elapsed()
        );
        let pid: i32 = std::fs::read_to_string(dir.path().join("escaped.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // It left the group on purpose, so it is the test's to end.
        // SAFETY: signalling a process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }

    #[test]
    fn cancellation_stops_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run.log");
        let spec = RunSpec {
            clear_env: false,
            command: "trap '' TERM; sleep 300",
            cwd: dir.path(),
            env: vec![],
            timeout: None,
            log_path: &log,
            redact: &[],
            running_dir: None,
        };
        let cancel = AtomicBool::new(false);
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                cancel.store(true, Ordering::Relaxed);
            });
            let o = run(&spec, &cancel, |_, _| {}).unwrap();
            assert_eq!(o, Outcome::Cancelled);
        });
        assert!(started.elapsed() < KILL_GRACE + Duration::from_secs(5));
    }

    #[test]
    fn huge_output_keeps_head_and_tail_with_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut count = 0usize;
        let log_path = dir.path().join("big.log");
        let spec = RunSpec {
            clear_env: false,
            command: "echo FIRST; head -c 50000000 /dev/zero | tr '\\0' 'x' | fold -w 100; echo; echo LAST",
            cwd: dir.path(),
            env: vec![],
            timeout: None,
            log_path: &log_path,
            redact: &[],
            running_dir: None,
        };
        let o = run(&spec, &AtomicBool::new(false), |_, _| count += 1).unwrap();
        assert!(o.success());
        assert!(count > 500_000);
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(log.len() < LOG_HEAD_BYTES + LOG_TAIL_BYTES + 200);
        assert!(log.starts_with("FIRST\n"));
        assert!(log.trim_end().ends_with("LAST"));
        assert!(log.contains("bytes of output cut here]"));
    }
}
