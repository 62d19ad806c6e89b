//! `buildnet build` end to end: real commands, real files, the real cache.
//!
//! Each command appends its target's name to a file outside the workspace (`$RUNS`), so a test
//! can tell exactly which commands ran.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{run, stderr, stdout};

struct Workspace {
    _dir: tempfile::TempDir,
    root: PathBuf,
    runs: PathBuf,
}

impl Workspace {
    fn new(yaml: &str, files: &[(&str, &str)]) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("buildnet.yaml"), yaml).unwrap();
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let runs = dir.path().join("runs.txt");
        Workspace {
            _dir: dir,
            root,
            runs,
        }
    }

    fn build(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut full = vec!["build"];
        full.extend(args);
        let runs = self.runs.to_str().unwrap();
        let mut envs = vec![("RUNS", runs)];
        envs.extend(env);
        run(&self.root, &full, &envs)
    }

    /// Names of the targets whose commands ran since the last call.
    fn ran(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.runs).unwrap_or_default();
        let _ = std::fs::remove_file(&self.runs);
        let mut names: Vec<String> = text.lines().map(str::to_owned).collect();
        names.sort();
        names
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path)).unwrap()
    }
}

/// base <- mid <- top, and an independent `other`; each copies its input into dist/.
const CHAIN: &str = r#"
targets:
  base:
    cwd: pkgs/base
    command: echo base >> "$RUNS"; mkdir -p dist && cat src/in.txt > dist/out.txt
    inputs: ["src/**"]
    outputs: ["dist/**"]
  mid:
    cwd: pkgs/mid
    deps: [base]
    command: echo mid >> "$RUNS"; mkdir -p dist && cat ../base/dist/out.txt src/in.txt > dist/out.txt
    inputs: ["src/**"]
    outputs: ["dist/**"]
  top:
    cwd: pkgs/top
    deps: [mid]
    command: echo top >> "$RUNS"; mkdir -p dist && cat ../mid/dist/out.txt src/in.txt > dist/out.txt && chmod +x dist/out.txt
    inputs: ["src/**"]
    outputs: ["dist/**"]
    env: [MODE]
  other:
    cwd: pkgs/other
    command: echo other >> "$RUNS"; mkdir -p dist && cat src/in.txt > dist/out.txt
    inputs: ["src/**"]
    outputs: ["dist/**"]
"#;

fn chain() -> Workspace {
    Workspace::new(
        CHAIN,
        &[
            ("pkgs/base/src/in.txt", "base-1\n"),
            ("pkgs/mid/src/in.txt", "mid-1\n"),
            ("pkgs/top/src/in.txt", "top-1\n"),
            ("pkgs/other/src/in.txt", "other-1\n"),
        ],
    )
}

#[test]
fn cold_build_then_fully_cached_and_restored() {
    let ws = chain();
    let o = ws.build(&[], &[]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(ws.ran(), vec!["base", "mid", "other", "top"]);
    assert!(
        stdout(&o).contains("4 targets: 0 cached, 4 built, 0 failed"),
        "{}",
        stdout(&o)
    );
    assert_eq!(ws.read("pkgs/top/dist/out.txt"), "base-1\nmid-1\ntop-1\n");

    let o = ws.build(&[], &[]);
    assert!(o.status.success());
    assert!(ws.ran().is_empty(), "nothing runs the second time");
    assert!(
        stdout(&o).contains("4 targets: 4 cached, 0 built, 0 failed"),
        "{}",
        stdout(&o)
    );

    for pkg in ["base", "mid", "top", "other"] {
        std::fs::remove_dir_all(ws.root.join(format!("pkgs/{pkg}/dist"))).unwrap();
    }
    let o = ws.build(&[], &[]);
    assert!(o.status.success());
    assert!(ws.ran().is_empty());
    assert_eq!(ws.read("pkgs/top/dist/out.txt"), "base-1\nmid-1\ntop-1\n");
    assert_eq!(ws.read("pkgs/other/dist/out.txt"), "other-1\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ws.root.join("pkgs/top/dist/out.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "the executable bit is restored");
}

#[test]
fn touching_a_leaf_rebuilds_exactly_it_and_its_dependents() {
    let ws = chain();
    assert!(ws.build(&[], &[]).status.success());
    ws.ran();
    std::fs::write(ws.root.join("pkgs/base/src/in.txt"), "base-2\n").unwrap();
    let o = ws.build(&["--dry-run"], &[]);
    let out = stdout(&o);
    assert!(
        out.contains("miss  base: input pkgs/base/src/in.txt changed"),
        "{out}"
    );
    assert!(out.contains("miss  mid: dependency base changed"), "{out}");
    assert!(out.contains("hit   other"), "{out}");
    assert!(ws.ran().is_empty(), "a dry run runs nothing");
    let o = ws.build(&[], &[]);
    assert!(o.status.success());
    assert_eq!(ws.ran(), vec!["base", "mid", "top"]);
    assert_eq!(ws.read("pkgs/top/dist/out.txt"), "base-2\nmid-1\ntop-1\n");
    // Only the requested target's graph is built.
    std::fs::write(ws.root.join("pkgs/mid/src/in.txt"), "mid-2\n").unwrap();
    assert!(ws.build(&["mid"], &[]).status.success());
    assert_eq!(ws.ran(), vec!["mid"]);
}

#[test]
fn declared_env_values_enter_the_key_and_others_do_not() {
    let ws = chain();
    assert!(ws.build(&["top"], &[("MODE", "dev")]).status.success());
    ws.ran();
    assert!(ws
        .build(&["top"], &[("MODE", "dev"), ("UNRELATED", "1")])
        .status
        .success());
    assert!(ws.ran().is_empty());
    let o = ws.build(&["top", "--dry-run"], &[("MODE", "prod")]);
    assert!(
        stdout(&o).contains("miss  top: environment variable MODE changed"),
        "{}",
        stdout(&o)
    );
    assert!(ws.build(&["top"], &[("MODE", "prod")]).status.success());
    assert_eq!(ws.ran(), vec!["top"]);
    assert!(ws
        .build(&["top", "--force"], &[("MODE", "prod")])
        .status
        .success());
    assert_eq!(
        ws.ran(),
        vec!["base", "mid", "top"],
        "--force runs everything"
    );
}

#[test]
fn failure_skips_dependents_is_not_cached_and_independents_finish() {
    let ws = Workspace::new(
        r#"
targets:
  bad:
    command: echo bad >> "$RUNS"; echo "something broke" >&2; exit 3
  after-bad:
    deps: [bad]
    command: echo after-bad >> "$RUNS"
  fine:
    command: echo fine >> "$RUNS"; sleep 0.3
"#,
        &[],
    );
    let o = ws.build(&[], &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("✗ failed  bad"), "{out}");
    assert!(out.contains("exited with code 3"), "{out}");
    assert!(
        out.contains("something broke"),
        "the failed target's log is shown: {out}"
    );
    assert!(out.contains("- skipped after-bad"), "{out}");
    assert!(
        out.contains("3 targets: 0 cached, 1 built, 1 failed, 1 not run"),
        "{out}"
    );
    assert_eq!(ws.ran(), vec!["bad", "fine"]);
    assert_eq!(ws.build(&[], &[]).status.code(), Some(1));
    assert_eq!(ws.ran(), vec!["bad"], "a failure is never cached");

    let o = ws.build(&["--json"], &[]);
    let last: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "failed");
    let runs = last["targets"].as_array().unwrap();
    let status = |name: &str| runs.iter().find(|t| t["target"] == name).unwrap()["status"].clone();
    assert_eq!(status("bad"), "failed");
    assert_eq!(status("after-bad"), "skipped");
    assert_eq!(status("fine"), "succeeded");
}

#[test]
fn fail_fast_stops_what_is_running() {
    let ws = Workspace::new(
        "targets:\n  bad:\n    command: sleep 0.2; exit 1\n  slow:\n    command: sleep 60\n",
        &[],
    );
    let started = Instant::now();
    let o = ws.build(&["--fail-fast", "--json"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(20));
    let last: serde_json::Value = serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    let slow = last["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "slow")
        .unwrap()
        .clone();
    assert_eq!(slow["status"], "cancelled");
}

#[test]
fn cycle_and_unknown_target_are_usage_errors_and_nothing_runs() {
    let ws = Workspace::new(
        "targets:\n  a:\n    command: echo a >> \"$RUNS\"\n    deps: [b]\n  b:\n    command: echo b >> \"$RUNS\"\n    deps: [a]\n  c:\n    command: echo c >> \"$RUNS\"\n",
        &[],
    );
    let o = ws.build(&["a"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("dependency cycle: a -> b -> a"),
        "{}",
        stderr(&o)
    );
    let o = ws.build(&["web"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown target \"web\" (known: a, b, c)"),
        "{}",
        stderr(&o)
    );
    let o = ws.build(&[], &[]);
    assert_eq!(o.status.code(), Some(2), "the whole graph has a cycle");
    assert!(ws.ran().is_empty());
    assert!(ws.build(&["c"], &[]).status.success());
    assert_eq!(ws.ran(), vec!["c"]);
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn timeout_kills_the_command_and_its_grandchildren() {
    let ws = Workspace::new(
        "targets:\n  hang:\n    command: sleep 300 & echo $! > bg.pid; sh -c 'sleep 300 & echo $! > grand.pid; wait' & wait\n    timeout_ms: 500\n",
        &[],
    );
    let started = Instant::now();
    let o = ws.build(&[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("timed out after 500 ms"),
        "{}",
        stdout(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    for f in ["bg.pid", "grand.pid"] {
        let pid: i32 = ws.read(f).trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "{f} survived the timeout");
    }
}

#[test]
fn huge_output_keeps_memory_bounded() {
    let ws = Workspace::new(
        "targets:\n  loud:\n    command: head -c 200000000 /dev/zero | tr '\\0' x | fold -w 200\n    cache: false\n",
        &[],
    );
    let o = ws.build(&[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Peak RSS of the largest child waited for: the buildnet process (the shell tools are tiny).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let peak_mib = usage.ru_maxrss / 1024;
    assert!(
        peak_mib < 100,
        "buildnet peaked at {peak_mib} MiB for 200 MB of output"
    );
    let logs = ws.root.join(".buildnet/logs");
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("loud.log");
    let size = std::fs::metadata(log).unwrap().len();
    assert!(size < 3 * 1024 * 1024, "the log is capped ({size} bytes)");
}

#[test]
fn restoring_outside_the_workspace_is_refused() {
    let ws = chain();
    assert!(ws.build(&["base"], &[]).status.success());
    ws.ran();
    // A tampered cache entry pointing outside the workspace.
    let db = rusqlite::Connection::open(ws.root.join(".buildnet/state.db")).unwrap();
    db.execute(
        "UPDATE cache_entries SET manifest = replace(manifest, 'pkgs/base/dist/out.txt', '../escaped.txt')",
        [],
    )
    .unwrap();
    drop(db);
    std::fs::remove_dir_all(ws.root.join("pkgs/base/dist")).unwrap();
    let o = ws.build(&["base"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("refusing to restore output \"../escaped.txt\""),
        "{}",
        stdout(&o)
    );
    assert!(!ws.root.parent().unwrap().join("escaped.txt").exists());
    assert!(
        ws.ran().is_empty(),
        "the refused entry is not silently rebuilt"
    );

    // A symlinked folder on the way out is refused too.
    let ws = chain();
    assert!(ws.build(&["other"], &[]).status.success());
    let outside = ws.root.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::remove_dir_all(ws.root.join("pkgs/other/dist")).unwrap();
    std::os::unix::fs::symlink(&outside, ws.root.join("pkgs/other/dist")).unwrap();
    let o = ws.build(&["other"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("is a symbolic link"), "{}", stdout(&o));
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
}

#[test]
fn a_build_killed_mid_way_is_recorded_as_interrupted() {
    let ws = Workspace::new("targets:\n  slow:\n    command: sleep 20\n", &[]);
    let mut child = std::process::Command::new(common::BIN)
        .arg("build")
        .current_dir(&ws.root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = run(&ws.root, &["builds", "--json"], &[]);
        if stdout(&o).contains("\"running\"") {
            break;
        }
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    common::signal(&child, common::SIGKILL);
    child.wait().unwrap();
    let o = run(&ws.root, &["builds", "--json"], &[]);
    let b: serde_json::Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(b["status"], "interrupted", "{}", stdout(&o));
}

#[test]
fn graph_prints_dot_and_json() {
    let ws = chain();
    let o = run(&ws.root, &["graph", "top"], &[]);
    assert!(o.status.success());
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph buildnet {"));
    assert!(
        dot.contains("\"top\" -> \"mid\";") && dot.contains("\"mid\" -> \"base\";"),
        "{dot}"
    );
    assert!(!dot.contains("other"));
    let o = run(&ws.root, &["graph", "--json"], &[]);
    let g: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(g["order"].as_array().unwrap().len(), 4);
    assert_eq!(g["deps"]["top"][0], "mid");
}

#[test]
fn a_terminal_gets_live_lines_for_running_targets() {
    let ws = Workspace::new(
        "targets:\n  slow:\n    command: sleep 0.5\n  quick:\n    command: \"true\"\n",
        &[],
    );
    // util-linux's `script` gives the build a pseudo-terminal.
    let o = std::process::Command::new("script")
        .args(["-qec", &format!("{} build", common::BIN), "/dev/null"])
        .current_dir(&ws.root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let screen = stdout(&o);
    assert!(
        screen.contains("\u{1b}[1A\u{1b}[J") || screen.contains("\u{1b}[2A\u{1b}[J"),
        "live lines are redrawn in place: {screen:?}"
    );
    assert!(
        screen.contains("▸ slow 0."),
        "a running target shows its elapsed time: {screen:?}"
    );
    assert!(screen.contains("✓ built   slow"));
    assert!(screen.contains("2 targets: 0 cached, 2 built, 0 failed"));
}

#[test]
fn a_cache_hit_replays_the_stored_log_as_events() {
    let ws = Workspace::new(
        "targets:\n  talk:\n    command: echo hello from the first run\n",
        &[],
    );
    assert!(ws.build(&[], &[]).status.success());
    let o = ws.build(&["--json"], &[]);
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events
        .iter()
        .any(|e| e["type"] == "cache_hit" && e["target"] == "talk"));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "target_log" && e["line"] == "hello from the first run"),
        "{events:?}"
    );
}

#[test]
fn a_dependent_rewriting_a_dependencys_outputs_does_not_taint_its_cache_entry() {
    let ws = Workspace::new(
        r#"
targets:
  a:
    command: mkdir -p shared && echo A > shared/out.txt
    outputs: ["shared/**"]
    inputs: ["in.txt"]
  b:
    deps: [a]
    command: echo B > shared/out.txt
    cache: false
"#,
        &[("in.txt", "1")],
    );
    assert!(ws.build(&["b"], &[]).status.success());
    assert_eq!(ws.read("shared/out.txt"), "B\n");
    std::fs::remove_dir_all(ws.root.join("shared")).unwrap();
    let o = ws.build(&["a"], &[]);
    assert!(stdout(&o).contains("✓ cached  a"), "{}", stdout(&o));
    assert_eq!(
        ws.read("shared/out.txt"),
        "A\n",
        "a's entry holds what a produced"
    );
}

#[test]
fn output_logs_chooses_whose_output_is_shown() {
    let ws = Workspace::new(
        "targets:\n  talk:\n    command: echo said by talk\n  quiet:\n    command: echo said by quiet\n    cache: false\n",
        &[],
    );
    let o = ws.build(&["--output-logs", "full"], &[]);
    assert!(stdout(&o).contains("talk: said by talk"), "{}", stdout(&o));
    let o = ws.build(&["--output-logs", "full"], &[]);
    assert!(
        stdout(&o).contains("talk: said by talk"),
        "a hit is replayed: {}",
        stdout(&o)
    );
    let o = ws.build(&["--output-logs", "new-only"], &[]);
    assert!(!stdout(&o).contains("talk: said by talk"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("quiet: said by quiet"),
        "{}",
        stdout(&o)
    );
    let o = ws.build(&[], &[]);
    assert!(
        !stdout(&o).contains("said by"),
        "errors-only is the default: {}",
        stdout(&o)
    );
    let o = ws.build(&["--output-logs", "loud"], &[]);
    assert_eq!(o.status.code(), Some(2));
}
