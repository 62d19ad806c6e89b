//! Remote execution through a real engine (issue 16): BuildGrid 0.4.4 (PyPI) on a private
//! PostgreSQL, started by `tests/reapi/run.sh`, which sets `BUILDNET_REAPI_PG_PORT`; without it
//! these tests say SKIP. Each test gets a fresh database and CAS (BuildGrid keeps leasing to
//! dead sessions until they expire) and its own `buildnet worker`s.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run, stderr, stdout};

fn pg_port() -> Option<String> {
    let port = std::env::var("BUILDNET_REAPI_PG_PORT").ok();
    if port.is_none() {
        eprintln!("SKIP: BUILDNET_REAPI_PG_PORT is unset (tests/reapi/run.sh starts the engine)");
    }
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reapi/engine.sh")
}

/// BuildGrid on a fresh database; stopped (its process group) on drop.
struct Engine {
    pid: i32,
    url: String,
    dir: PathBuf,
}

impl Engine {
    fn start(pg: &str, keepalive_s: u32, dir: &Path) -> Engine {
        let port = free_port();
        let dir = dir.join("bgd");
        let out = Command::new(script())
            .args([
                "bgd-start",
                dir.to_str().unwrap(),
                pg,
                &port.to_string(),
                &keepalive_s.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "BuildGrid did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        Engine {
            pid,
            url: format!("grpc://127.0.0.1:{port}"),
            dir,
        }
    }

    /// The file of the CAS blob `hash` in BuildGrid's disk storage.
    fn blob(&self, hash: &str) -> PathBuf {
        let mut stack = vec![self.dir.join("cas")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().replace('/', "").ends_with(hash) {
                    return p;
                }
            }
        }
        panic!("no blob {hash} in {}", self.dir.display());
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: signalling a process group we started.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
    }
}

/// A `buildnet worker`; killed on drop.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(engine: &Engine, name: &str, dir: &Path) -> Worker {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_buildnet"))
            .args(["worker", "--reapi", &engine.url, "--name", name, "--dir"])
            .arg(dir.join(name))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn ran(&self) -> usize {
        self.log().matches(" running `").count()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nonce() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A workspace of three targets: `lib` (a file and an executable), `app` (reads lib's output)
/// and `docs` (a folder of outputs).
fn workspace(dir: &Path, name: &str, url: &str, extra: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("lib/src")).unwrap();
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("lib/src/a.txt"), "hello\n").unwrap();
    std::fs::write(root.join("app/main.txt"), "world\n").unwrap();
    let yaml = format!(
        r#"
remote_execution:
  url: {url}
  timeout_ms: 60000
{extra}
targets:
  lib:
    cwd: lib
    env: [NONCE]
    command: "mkdir -p dist && tr a-z A-Z < src/a.txt > dist/lib.txt && printf '#!/bin/sh\necho tool\n' > dist/tool && chmod +x dist/tool && echo built-lib"
    inputs: ["src/**"]
    outputs: ["dist/**"]
  app:
    cwd: app
    env: [NONCE]
    command: "mkdir -p dist && cat ../lib/dist/lib.txt main.txt > dist/app.txt && ../lib/dist/tool >> dist/app.txt && echo built-app >&2"
    inputs: ["main.txt"]
    outputs: ["dist/**"]
    deps: [lib]
  docs:
    env: [NONCE]
    command: "mkdir -p site/a/b && echo one > site/a/one.html && echo two > site/a/b/two.html"
    inputs: ["buildnet.yaml"]
    outputs: ["site/**"]
"#
    );
    std::fs::write(root.join("buildnet.yaml"), yaml).unwrap();
    root
}

/// A copy of `root`'s sources only: no outputs, no state.
fn fresh_clone(root: &Path, dir: &Path, name: &str) -> PathBuf {
    let clone = dir.join(name);
    for f in ["buildnet.yaml", "lib/src/a.txt", "app/main.txt"] {
        std::fs::create_dir_all(clone.join(f).parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), clone.join(f)).unwrap();
    }
    clone
}

fn build(root: &Path, nonce: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "--no-daemon"];
    args.extend_from_slice(extra);
    run(root, &args, &[("NONCE", nonce)])
}

#[test]
fn every_target_runs_remotely_and_a_fresh_clone_takes_all_from_the_action_cache() {
    let Some(pg) = pg_port() else { return };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&pg, 600, dir.path());
    let w1 = Worker::start(&engine, "w1", dir.path());
    let w2 = Worker::start(&engine, "w2", dir.path());
    let n = nonce();
    let root = workspace(dir.path(), "ws", &engine.url, "");
    let out = build(&root, &n, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for t in ["lib", "app", "docs"] {
        assert!(
            text.contains(&format!("✓ remote  {t} (")),
            "{t} ran remotely: {text}"
        );
    }
    assert!(text.contains("[remote: w"), "the worker is named: {text}");
    assert_eq!(w1.ran() + w2.ran(), 3, "each action ran once");
    let app = std::fs::read_to_string(root.join("app/dist/app.txt")).unwrap();
    assert_eq!(app, "HELLO\nworld\ntool\n");
    assert_eq!(
        std::fs::read_to_string(root.join("site/a/b/two.html")).unwrap(),
        "two\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("lib/dist/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "the executable bit came back");
    // The build's record says where each ran.
    let db = rusqlite::Connection::open(root.join(".buildnet/state.db")).unwrap();
    let records: Vec<String> = db
        .prepare("SELECT remote_execution FROM target_runs WHERE remote_execution IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        assert_eq!(v["engine"], engine.url.as_str());
        assert_eq!(v["action_cache"], false);
        assert!(v["worker"].as_str().unwrap().starts_with('w'), "{v}");
        assert!(v["uploaded_bytes"].as_u64().unwrap() > 0, "{v}");
    }

    // A fresh clone with its own state: every target from the action cache, nothing executed.
    let clone = fresh_clone(&root, dir.path(), "clone");
    let dry = build(&clone, &n, &["--dry-run"]);
    assert_eq!(
        stdout(&dry).matches("HIT (action cache)").count(),
        3,
        "{}",
        stdout(&dry)
    );
    let out = build(&clone, &n, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert_eq!(text.matches("✓ action cache").count(), 3, "{text}");
    assert_eq!(w1.ran() + w2.ran(), 3, "nothing more was executed");
    assert_eq!(
        std::fs::read_to_string(clone.join("app/dist/app.txt")).unwrap(),
        app
    );
    // Then a local hit, without asking the engine.
    let out = build(&clone, &n, &[]);
    assert_eq!(
        stdout(&out).matches("✓ cached").count(),
        3,
        "{}",
        stdout(&out)
    );

    // An edit executes only what it invalidates; `--local` runs here.
    std::fs::write(clone.join("app/main.txt"), "changed\n").unwrap();
    let out = build(&clone, &n, &["--local"]);
    let text = stdout(&out);
    assert!(text.contains("✓ built   app"), "{text}");
    assert!(!text.contains("[remote:"), "{text}");
    assert_eq!(w1.ran() + w2.ran(), 3);
}

#[test]
fn a_tampered_blob_in_the_engine_is_refused_and_never_restored() {
    let Some(pg) = pg_port() else { return };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&pg, 600, dir.path());
    let _w = Worker::start(&engine, "w1", dir.path());
    let n = nonce();
    let root = workspace(dir.path(), "ws", &engine.url, "");
    let out = build(&root, &n, &["lib"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // lib.txt's blob, in BuildGrid's own storage, now holds other bytes of the same size.
    let hash = buildnet_core::reapi::digest_of(b"HELLO\n").hash;
    let blob = engine.blob(&hash);
    std::fs::write(&blob, b"EVIL!\n").unwrap();
    let clone = fresh_clone(&root, dir.path(), "clone");
    let out = build(&clone, &n, &["lib"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&hash) && text.contains("refused"), "{text}");
    assert!(
        !clone.join("lib/dist/lib.txt").exists(),
        "nothing was restored"
    );
    let entries = run(
        &clone,
        &["build", "--no-daemon", "--dry-run", "lib", "--local"],
        &[("NONCE", &n)],
    );
    assert!(
        stdout(&entries).contains("miss  lib"),
        "no local entry was made: {}",
        stdout(&entries)
    );
}

/// The command of the slow target: it says it started, then takes a while.
const SLOW: &str = r#"
targets:
  slow:
    env: [NONCE]
    command: "sleep 4 && echo done > out.txt"
    inputs: ["buildnet.yaml"]
    outputs: ["out.txt"]
"#;

fn slow_workspace(dir: &Path, url: &str) -> PathBuf {
    let root = dir.join("slow");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("buildnet.yaml"),
        format!("remote_execution:\n  url: {url}\n  timeout_ms: 90000\n{SLOW}"),
    )
    .unwrap();
    root
}

fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_build(root: &Path, nonce: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_buildnet"))
        .args(["build", "--no-daemon"])
        .current_dir(root)
        .env("NONCE", nonce)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child, secs: u64) -> (bool, String) {
    let start = Instant::now();
    let pid = child.id() as i32;
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > Duration::from_secs(secs) {
            // SAFETY: killing the build we started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the build hung for {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = waiter.join().unwrap();
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn a_worker_killed_mid_action_does_not_hang_the_build() {
    let Some(pg) = pg_port() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Sessions expire 5 s after their last word, so the engine gives the job to another bot.
    let engine = Engine::start(&pg, 5, dir.path());
    let mut doomed = Worker::start(&engine, "doomed", dir.path());
    let root = slow_workspace(dir.path(), &engine.url);
    let build = spawn_build(&root, &nonce());
    wait_until(30, "the action to start", || doomed.ran() == 1);
    doomed.child.kill().unwrap();
    let _ = doomed.child.wait();
    let rescue = Worker::start(&engine, "rescue", dir.path());
    let (ok, text) = finish(build, 120);
    assert!(ok, "{text}");
    assert_eq!(rescue.ran(), 1, "the other worker ran it: {}", rescue.log());
    assert!(text.contains("[remote: rescue-0"), "{text}");
    assert_eq!(
        std::fs::read_to_string(root.join("out.txt")).unwrap(),
        "done\n"
    );
}

#[test]
fn sigterm_stops_a_worker_cleanly_and_its_action_runs_elsewhere() {
    let Some(pg) = pg_port() else { return };
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&pg, 600, dir.path());
    let mut leaving = Worker::start(&engine, "leaving", dir.path());
    let root = slow_workspace(dir.path(), &engine.url);
    let build = spawn_build(&root, &nonce());
    wait_until(30, "the action to start", || leaving.ran() == 1);
    common::signal(&leaving.child, libc::SIGTERM);
    let stopped = Instant::now();
    let status = leaving.child.wait().unwrap();
    assert!(status.success(), "{}", leaving.log());
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "it stopped promptly"
    );
    let log = leaving.log();
    assert!(
        log.contains("lease completed") && log.contains("session terminated"),
        "{log}"
    );
    let other = Worker::start(&engine, "other", dir.path());
    let (ok, text) = finish(build, 120);
    assert!(ok, "no lease was left stuck: {text}");
    assert_eq!(other.ran(), 1, "{text}\n{log}\n{}", other.log());
}

#[test]
fn an_engine_that_is_down_fails_the_target_clearly_or_falls_back_to_local() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("grpc://127.0.0.1:{}", free_port());
    let root = workspace(dir.path(), "down", &url, "");
    let out = build(&root, "x", &["lib"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("unreachable") && text.contains(&url),
        "{text}"
    );
    let root = workspace(dir.path(), "fallback", &url, "  fallback_local: true");
    let out = build(&root, "x", &["lib"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("running locally") && text.contains("✓ built   lib"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("lib/dist/lib.txt")).unwrap(),
        "HELLO\n"
    );
}

#[test]
fn a_bad_remote_execution_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, says) in [
        (
            "remote_execution:\n  url: https://x:1\n",
            "grpc://HOST:PORT",
        ),
        (
            "remote_execution:\n  url: grpc://x:1\n  timeout_ms: 0\n",
            "remote_execution.timeout_ms",
        ),
        (
            "remote_execution:\n  url: grpc://x:1\n  inputs: [\"../up/**\"]\n",
            "inside the workspace",
        ),
        (
            "remote_execution:\n  url: grpc://x:1\n  bogus: 1\n",
            "bogus",
        ),
    ] {
        std::fs::write(
            dir.path().join("buildnet.yaml"),
            format!("{yaml}targets:\n  a:\n    command: \"true\"\n"),
        )
        .unwrap();
        let out = run(dir.path(), &["build", "--no-daemon"], &[]);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{yaml}: {}", stderr(&out));
    }
}
