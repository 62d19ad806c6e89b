//! Watch mode and build hand-off over a real `buildnet serve --watch` and real file changes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{http, run, serve, stderr, stdout, wait_for};
use serde_json::Value;

const CONFIG: &str = r#"
concurrency: 2
targets:
  lib:
    command: sh -c 'mkdir -p dist; cat src/*.txt > dist/out.txt'
    cwd: packages/lib
    inputs: ["src/**"]
    outputs: ["dist/**"]
  app:
    deps: [lib]
    command: sh -c 'sleep ${APP_SLEEP:-0}; mkdir -p dist; cat src/*.txt ../lib/dist/out.txt > dist/app.txt'
    cwd: packages/app
    inputs: ["src/**"]
    outputs: ["dist/**"]
  other:
    command: sh -c 'mkdir -p dist; cp src/o.txt dist/'
    cwd: packages/other
    inputs: ["src/**"]
    outputs: ["dist/**"]
"#;

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("buildnet.yaml"), CONFIG).unwrap();
    std::fs::write(root.join(".gitignore"), "*.tmp\ngen/\n").unwrap();
    for (pkg, file) in [("lib", "a.txt"), ("app", "b.txt"), ("other", "o.txt")] {
        let src = root.join("packages").join(pkg).join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(file), format!("{pkg} v1\n")).unwrap();
    }
    // An ignored folder among lib's sources.
    std::fs::create_dir_all(root.join("packages/lib/src/gen")).unwrap();
    std::fs::write(root.join("packages/lib/src/gen/g.txt"), "g1\n").unwrap();
    dir
}

fn builds(a: &str) -> Vec<Value> {
    let (code, body) = http(a, "GET", "/api/v1/builds?limit=100", None, &[]);
    assert_eq!(code, 200);
    body["builds"].as_array().unwrap().clone()
}

fn idle(a: &str) -> bool {
    let (_, s) = http(a, "GET", "/api/v1/status", None, &[]);
    s["builds"]["running"].as_array().unwrap().is_empty()
        && s["builds"]["queued"].as_array().unwrap().is_empty()
}

/// Waits until `n` builds exist and none runs; then makes sure no further one starts.
fn settle(a: &str, n: usize) -> Vec<Value> {
    wait_for(30, &format!("{n} builds"), || {
        (builds(a).len() >= n && idle(a)).then_some(())
    });
    // Longer than the watcher's debounce: nothing else was coming.
    std::thread::sleep(Duration::from_millis(1500));
    let all = builds(a);
    assert_eq!(all.len(), n, "expected exactly {n} builds: {all:#?}");
    assert!(idle(a));
    all
}

fn requested(build: &Value) -> Vec<String> {
    let mut r: Vec<String> = build["requested"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    r.sort();
    r
}

fn write(root: &Path, rel: &str, text: &str) {
    std::fs::write(root.join(rel), text).unwrap();
}

fn check_watch(mode_env: &[(&str, &str)], expected_mode: &str) {
    let dir = workspace();
    let root = dir.path();
    let server = serve(root, &["--watch"], mode_env);
    let a = server.address.as_str();
    let (_, status) = http(a, "GET", "/api/v1/status", None, &[]);
    assert_eq!(status["watch"]["enabled"], true);
    assert_eq!(status["watch"]["mode"], expected_mode);
    // Nothing has changed yet: nothing builds.
    std::thread::sleep(Duration::from_millis(800));
    assert!(builds(a).is_empty());

    // A change to lib's sources rebuilds lib and what depends on it, not `other`.
    write(root, "packages/lib/src/a.txt", "lib v2\n");
    let all = settle(a, 1);
    assert_eq!(requested(&all[0]), ["app", "lib"]);
    assert_eq!(all[0]["status"], "succeeded");
    let app_out = std::fs::read_to_string(root.join("packages/app/dist/app.txt")).unwrap();
    assert!(app_out.contains("lib v2"), "{app_out}");

    // Outputs, the state directory, ignored files and unrelated paths trigger nothing.
    write(root, "packages/lib/dist/extra.txt", "x");
    write(root, ".buildnet/junk", "x");
    write(root, "packages/lib/src/scratch.tmp", "x");
    write(root, "packages/lib/src/gen/g.txt", "g2\n");
    write(root, "README.md", "x");
    settle(a, 1);

    // A storm (a checkout of many files) gives one build.
    for i in 0..150 {
        write(root, &format!("packages/other/src/gen{i}.txt"), "x");
    }
    let all = settle(a, 2);
    assert_eq!(requested(&all[0]), ["other"]);

    // An ignore file edited (no longer ignoring gen/): read again, its folder watched again,
    // one build of what it governs.
    write(root, ".gitignore", "*.tmp\n*.bak\n");
    let all = settle(a, 3);
    assert_eq!(requested(&all[0]), ["app", "lib", "other"]);
    assert_eq!(http(a, "GET", "/health", None, &[]).0, 200);
    // The folder it stopped ignoring is watched now.
    write(root, "packages/lib/src/gen/g.txt", "g3\n");
    let all = settle(a, 4);
    assert_eq!(requested(&all[0]), ["app", "lib"]);
    let out = std::fs::read_to_string(root.join("packages/lib/dist/out.txt")).unwrap();
    assert!(out.contains("lib v2"), "{out}");
}

#[test]
fn watch_rebuilds_what_changes_affect_natively() {
    check_watch(&[], "native");
}

#[test]
fn watch_falls_back_to_polling() {
    check_watch(&[("BUILDNET_WATCH", "poll")], "poll");
}

#[test]
fn a_change_during_a_build_queues_exactly_one_more() {
    let dir = workspace();
    let root = dir.path();
    let server = serve(root, &["--watch"], &[("APP_SLEEP", "2")]);
    let a = server.address.as_str();
    write(root, "packages/app/src/b.txt", "app v2\n");
    wait_for(20, "the app build to start", || {
        let (_, s) = http(a, "GET", "/api/v1/workers", None, &[]);
        s["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["target"] == "app")
            .then_some(())
    });
    // Three edits while it runs, spread over more than the debounce window.
    for v in 3..6 {
        write(root, "packages/app/src/b.txt", &format!("app v{v}\n"));
        std::thread::sleep(Duration::from_millis(300));
    }
    let all = settle(a, 2);
    assert!(all.iter().all(|b| b["status"] == "succeeded"), "{all:#?}");
    let out = std::fs::read_to_string(root.join("packages/app/dist/app.txt")).unwrap();
    assert!(out.contains("app v5"), "{out}");
}

#[test]
fn build_hands_off_to_the_daemon_and_is_never_stale() {
    let dir = workspace();
    let root = dir.path();
    let server = serve(root, &["--watch"], &[]);
    let a = server.address.as_str();

    let out = run(root, &["build"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("building on the daemon"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("3 targets: 0 cached, 3 built"),
        "{}",
        stdout(&out)
    );
    // The daemon ran it: it is in its history (and the watcher's own builds settle).
    wait_for(10, "idle", || idle(a).then_some(()));

    // Nothing changed: all cached, and not one tree walked.
    let walks = |a: &str| {
        let (_, s) = http(a, "GET", "/api/v1/status", None, &[]);
        s["watch"]["tree_walks"].as_u64().unwrap()
    };
    let before = walks(a);
    let out = run(root, &["build"], &[]);
    assert!(
        stdout(&out).contains("3 targets: 3 cached, 0 built"),
        "{}",
        stdout(&out)
    );
    assert_eq!(walks(a), before, "a fully cached build walked the tree");

    // Edit then build at once, many times: the build always sees the edit.
    for i in 0..10 {
        write(
            root,
            "packages/other/src/o.txt",
            &format!("other v{}\n", i + 2),
        );
        let out = run(root, &["build", "other", "--json"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let record: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        let run = &record["targets"][0];
        assert_eq!(run["target"], "other");
        assert_eq!(
            std::fs::read_to_string(root.join("packages/other/dist/o.txt")).unwrap(),
            format!("other v{}\n", i + 2),
            "stale output after edit {i}: {run}"
        );
    }

    // Those builds covered the changes: the watcher started none of its own.
    settle(a, 12);

    // Errors come back as the local build's would: unknown target is a usage error.
    let out = run(root, &["build", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope"));
    // --no-daemon builds here.
    let out = run(root, &["build", "--no-daemon"], &[]);
    assert!(out.status.success());
    assert!(!stderr(&out).contains("building on the daemon"));
}

#[test]
fn a_dependency_writing_into_inputs_is_seen_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("buildnet.yaml"),
        r#"
targets:
  gen:
    command: cp packages/gen/spec.txt packages/app/src/gen.txt
    inputs: ["packages/gen/spec.txt"]
    outputs: ["packages/app/src/gen.txt"]
  app:
    deps: [gen]
    command: sh -c 'mkdir -p dist; cat src/*.txt > dist/app.txt'
    cwd: packages/app
    inputs: ["src/**"]
    outputs: ["dist/**"]
"#,
    )
    .unwrap();
    std::fs::create_dir_all(root.join("packages/gen")).unwrap();
    std::fs::create_dir_all(root.join("packages/app/src")).unwrap();
    std::fs::write(root.join("packages/app/src/main.txt"), "main\n").unwrap();
    let server = serve(root, &["--watch"], &[]);
    let a = server.address.as_str();
    for i in 0..8 {
        std::fs::write(root.join("packages/gen/spec.txt"), format!("spec {i}\n")).unwrap();
        let out = run(root, &["build", "app"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let app = std::fs::read_to_string(root.join("packages/app/dist/app.txt")).unwrap();
        assert!(app.contains(&format!("spec {i}")), "round {i}: {app}");
    }
    wait_for(10, "idle", || idle(a).then_some(()));
}

/// The OS watch limit for real: in a user namespace of its own, the daemon may hold 3 inotify
/// watches, fewer than the workspace has folders.
#[test]
fn the_os_watch_limit_falls_back_to_polling_and_says_so() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let probe = Command::new("unshare").args(["-U", "-r", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: unshare -U is not available here, so the watch limit cannot be set");
        return;
    }
    let dir = workspace();
    let root = dir.path();
    let script = format!(
        "echo 3 > /proc/sys/user/max_inotify_watches && exec {} serve --watch --port 0",
        common::BIN
    );
    let mut child = Command::new("unshare")
        .args(["-U", "-r", "sh", "-c", &script])
        .current_dir(root)
        .env_remove("BUILDNET_TOKEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = common::Server {
        address: line.trim().rsplit("http://").next().unwrap().to_string(),
        child,
    };
    let a = server.address.as_str();
    let (_, status) = http(a, "GET", "/api/v1/status", None, &[]);
    assert_eq!(status["watch"]["mode"], "poll", "{status}");
    // Changes are still seen.
    write(root, "packages/other/src/o.txt", "other v2\n");
    let all = settle(a, 1);
    assert_eq!(requested(&all[0]), ["other"]);
    // And the log said why.
    let mut server = server;
    common::signal(&server.child, common::SIGTERM);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut server.child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("limit on file watches") && err.contains("polling"),
        "{err}"
    );
}
