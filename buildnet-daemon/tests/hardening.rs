//! Hostile input, secrets, crashes and growth, through the executable (issue 15): each test
//! fails without the protection it names.

mod common;

use std::path::{Path, PathBuf};

use common::{run, stderr, stdout};

fn workspace(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("buildnet.yaml"), yaml).unwrap();
    (dir, root)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const SECRET: &str = "ghp_s3cr3tVALUE0123456789";

/// The value is printed whole, split across two writes, and on stderr; `PLAIN_VALUE` is not
/// secret-looking and stays.
const LEAKY: &str = r#"
targets:
  leak:
    command: >-
      echo "token=$DEPLOY_TOKEN";
      echo "pw=$DB_PASSWORD" >&2;
      echo "plain=$PLAIN_VALUE"; sleep 0.1;
      printf 'split=%s' "${DEPLOY_TOKEN%??????????}"; sleep 0.2;
      printf '%s\n' "${DEPLOY_TOKEN#"${DEPLOY_TOKEN%??????????}"}";
      mkdir -p dist && echo built > dist/out.txt
    outputs: ["dist/**"]
"#;

#[test]
fn secret_values_are_redacted_in_streamed_stored_and_replayed_logs() {
    let (_dir, root) = workspace(LEAKY);
    let envs = [
        ("DEPLOY_TOKEN", SECRET),
        ("DB_PASSWORD", "correct horse battery"),
        ("PLAIN_VALUE", "visible-value"),
        ("NO_COLOR", "1"),
    ];
    let first = run(&root, &["build", "--output-logs", "full"], &envs);
    assert!(
        first.status.success(),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    let second = run(&root, &["build", "--output-logs", "full"], &envs);
    assert!(stdout(&second).contains("cached"), "{}", stdout(&second));
    for (what, o) in [("the run", &first), ("the cache hit", &second)] {
        let out = stdout(o) + &stderr(o);
        assert!(out.contains("token=***"), "{what}: {out}");
        assert!(out.contains("split=***"), "{what}: {out}");
        assert!(out.contains("pw=***"), "{what}: {out}");
        assert!(out.contains("plain=visible-value"), "{what}: {out}");
        assert!(
            !out.contains(SECRET) && !out.contains("correct horse"),
            "{what}: {out}"
        );
    }
    // Nothing BuildNet stored (logs, blobs, the database and its WAL) holds either value.
    let stored = files_under(&root.join(".buildnet"));
    assert!(stored.len() > 2, "{stored:?}");
    for file in stored {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, SECRET.as_bytes()),
            "{} holds the token",
            file.display()
        );
        assert!(
            !contains(&bytes, b"correct horse"),
            "{} holds the password",
            file.display()
        );
    }
}

#[test]
fn redact_env_names_the_variables_and_an_empty_list_turns_it_off() {
    let (_dir, root) = workspace(
        "redact_env: [\"MY_*\", \"!MY_PUBLIC\"]\ntargets:\n  t:\n    command: echo \"$MY_CODE $MY_PUBLIC $DEPLOY_TOKEN\"\n    cache: false\n",
    );
    let envs = [
        ("MY_CODE", "code-4242"),
        ("MY_PUBLIC", "public-4242"),
        ("DEPLOY_TOKEN", "token-4242"),
    ];
    let o = run(&root, &["build", "--output-logs", "full"], &envs);
    let out = stdout(&o);
    assert!(out.contains("*** public-4242 token-4242"), "{out}");
    std::fs::write(
        root.join("buildnet.yaml"),
        "redact_env: []\ntargets:\n  t:\n    command: echo \"$DEPLOY_TOKEN\"\n    cache: false\n",
    )
    .unwrap();
    let o = run(&root, &["build", "--output-logs", "full"], &envs);
    assert!(stdout(&o).contains("token-4242"), "{}", stdout(&o));
    std::fs::write(root.join("buildnet.yaml"), "redact_env: [\"!\"]\n").unwrap();
    let o = run(&root, &["build"], &envs);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("redact_env"), "{}", stderr(&o));
}

/// Sends raw bytes and returns the status code of the answer (None when the connection was
/// closed without one).
fn raw_status(address: &str, request: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn junk_requests_get_the_right_4xx_and_the_daemon_keeps_serving() {
    let (_dir, root) = workspace("targets:\n  t:\n    command: echo hi\n");
    let server = common::serve(&root, &[], &[]);
    let a = server.address.as_str();
    let port = a.rsplit(':').next().unwrap();
    let get = |path: &str, headers: &str| -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: {a}\r\n{headers}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let huge_header = format!("X-Big: {}\r\n", "a".repeat(512 * 1024));
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut non_utf8_host =
        b"GET /health HTTP/1.1\r\nHost: \xff\xfe:1\r\nConnection: close\r\n\r\n".to_vec();
    let mut non_utf8_origin = get("/api/v1/status", "");
    non_utf8_origin.splice(
        non_utf8_origin.len() - 2..non_utf8_origin.len() - 2,
        b"Origin: http://\xff\xfe\r\n".iter().copied(),
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not HTTP", b"GARBAGE\r\n\r\n".to_vec(), 400),
        ("control bytes in Host", b"GET / HTTP/1.1\r\nHost: \x01\x02\r\nConnection: close\r\n\r\n".to_vec(), 400),
        ("non-UTF-8 Host", std::mem::take(&mut non_utf8_host), 400),
        ("no Host", b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(), 400),
        ("foreign Host", format!("GET /health HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n").into_bytes(), 421),
        ("non-UTF-8 Origin", std::mem::take(&mut non_utf8_origin), 403),
        ("IP Origin", get("/api/v1/status", "Origin: http://192.168.1.20:8080\r\n"), 403),
        ("loopback Origin on another port", get("/api/v1/status", "Origin: http://127.0.0.1:1\r\n"), 403),
        ("localhost Origin for a 127.0.0.1 Host", get("/api/v1/status", &format!("Origin: http://localhost:{port}\r\n")), 403),
        ("null Origin", get("/api/v1/status", "Origin: null\r\n"), 403),
        ("huge header", get("/health", &huge_header), 431),
        ("200 headers", get("/health", &many_headers), 431),
        ("declared body over the limit", format!("POST /api/v1/build HTTP/1.1\r\nHost: {a}\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n").into_bytes(), 413),
        ("JSON that is not JSON", format!("POST /api/v1/build HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{nop}}").into_bytes(), 400),
        ("..%2f on the dashboard", get("/..%2f..%2fetc%2fpasswd", ""), 404),
        ("..%2f under /assets", get("/assets/..%2f..%2fCargo.toml", ""), 404),
        ("%2e%2e under /assets", get("/assets/%2e%2e/%2e%2e/buildnet.yaml", ""), 404),
        ("NTFS stream name", get("/assets/app.js::$DATA", ""), 404),
        ("raw query trick", get("/assets/app.js%3fraw%3f%3f", ""), 404),
        ("unknown API route", get("/api/v1/nothing-here", ""), 404),
        ("wrong method", format!("DELETE /health HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n").into_bytes(), 405),
    ];
    let mut wrong = Vec::new();
    for (what, request, want) in &cases {
        let got = raw_status(a, request);
        if got != Some(*want) {
            wrong.push(format!("{what}: want {want}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let (status, body) = common::http(a, "GET", "/health", None, &[]);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_state_listing_is_paged_by_bytes_and_its_limit_is_bounded() {
    let (_dir, root) = workspace("targets:\n  t:\n    command: echo hi\n");
    let server = common::serve(&root, &[], &[]);
    let a = server.address.as_str();
    let value = "v".repeat(3 * 1024 * 1024);
    let body = serde_json::json!({ "value": value }).to_string();
    for i in 0..8 {
        let (status, _) = common::http(
            a,
            "PUT",
            &format!("/api/v1/state/big/{i}"),
            Some(&body),
            &[],
        );
        assert_eq!(status, 200);
    }
    let mut after = String::new();
    let mut keys = Vec::new();
    let mut pages = 0;
    loop {
        let path = format!("/api/v1/state?prefix=big/&limit=10000&after={after}");
        let (status, text) = common::http_raw(a, "GET", &path, None, &[]);
        assert_eq!(status, 200, "{}", &text[..text.len().min(300)]);
        assert!(
            text.len() < 13 * 1024 * 1024,
            "a page of {} bytes",
            text.len()
        );
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        pages += 1;
        for e in page["entries"].as_array().unwrap() {
            assert_eq!(e["value"].as_str().unwrap().len(), value.len());
            keys.push(e["key"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => after = next.replace('/', "%2F"),
            None => break,
        }
    }
    let want: Vec<String> = (0..8).map(|i| format!("big/{i}")).collect();
    assert_eq!(keys, want);
    assert!(pages >= 3, "{pages} pages");
    for limit in ["0", "10001", "1000000000000"] {
        let (status, body) =
            common::http(a, "GET", &format!("/api/v1/state?limit={limit}"), None, &[]);
        assert_eq!(status, 400, "limit={limit}: {body}");
        assert!(body.to_string().contains("limit"), "{body}");
    }
    assert_eq!(common::http(a, "GET", "/health", None, &[]).0, 200);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_state_folder_is_0700_and_its_files_0600() {
    let (_dir, root) = workspace(
        "targets:\n  t:\n    command: mkdir -p dist && echo x > dist/x && echo said\n    outputs: [\"dist/**\"]\n",
    );
    // A folder someone made world-readable is tightened.
    std::fs::create_dir_all(root.join(".buildnet")).unwrap();
    std::fs::set_permissions(
        root.join(".buildnet"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let o = run(&root, &["build"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let server = common::serve(&root, &[], &[]);
    assert_eq!(mode(&root.join(".buildnet")), 0o700);
    let files = files_under(&root.join(".buildnet"));
    for name in [
        "state.db",
        "daemon.json",
        "daemon.lock",
        "build.lock",
        ".gitignore",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(name)),
            "{name} in {files:?}"
        );
    }
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "log")),
        "{files:?}"
    );
    for file in &files {
        assert_eq!(
            mode(file) & 0o077,
            0,
            "{} is {:o}",
            file.display(),
            mode(file)
        );
    }
    drop(server);
}

#[test]
fn of_two_daemons_started_together_one_serves_and_a_stale_record_never_blocks() {
    let (_dir, root) = workspace("targets:\n  t:\n    command: echo hi\n");
    for round in 0..3 {
        let spawn = || {
            std::process::Command::new(common::BIN)
                .args(["serve", "--port", "0"])
                .current_dir(&root)
                .env_remove("BUILDNET_TOKEN")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut children = [spawn(), spawn()];
        // The loser exits with the busy code; the winner keeps serving.
        let started = std::time::Instant::now();
        let loser = loop {
            if let Some(i) = (0..2).find(|&i| children[i].try_wait().unwrap().is_some()) {
                break i;
            }
            assert!(
                started.elapsed().as_secs() < 30,
                "round {round}: both still run"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let winner = 1 - loser;
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            children[winner].try_wait().unwrap().is_none(),
            "round {round}: the winner stopped too"
        );
        let out = children[loser].wait_with_output_ref();
        assert!(out.contains("already serves"), "round {round}: {out}");
        common::signal(&children[winner], libc_sigterm());
        let status = children[winner].wait().unwrap();
        assert!(status.success(), "round {round}: {status:?}");
    }
    // A record naming a live pid (this test's) whose process holds no lock: a reused pid.
    std::fs::write(
        root.join(".buildnet/daemon.json"),
        format!(
            r#"{{"pid": {}, "worker_id": "gone", "address": "127.0.0.1:9", "version": "0", "started_at": 0}}"#,
            std::process::id()
        ),
    )
    .unwrap();
    let server = common::serve(&root, &[], &[]);
    let (status, _) = common::http(&server.address, "GET", "/health", None, &[]);
    assert_eq!(status, 200);
}

trait OutputText {
    fn wait_with_output_ref(&mut self) -> String;
}

impl OutputText for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut text = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut text);
        }
        if let Some(mut o) = self.stdout.take() {
            let _ = o.read_to_string(&mut text);
        }
        text
    }
}

fn libc_sigterm() -> i32 {
    15
}

#[test]
fn builds_from_two_processes_on_one_workspace_wait_for_each_other() {
    let (dir, root) = workspace(
        "targets:\n  t:\n    command: echo start >> \"$RUNS\"; sleep 1; echo end >> \"$RUNS\"\n    cache: false\n",
    );
    let runs = dir.path().join("runs.txt");
    let spawn = || {
        std::process::Command::new(common::BIN)
            .args(["build"])
            .current_dir(&root)
            .env("RUNS", &runs)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let text = std::fs::read_to_string(&runs).unwrap();
    assert_eq!(text, "start\nend\nstart\nend\n", "the commands overlapped");
    let said = stdout(&a) + &stderr(&a) + &stdout(&b) + &stderr(&b);
    assert!(
        said.contains("waiting for another process's build of this workspace"),
        "{said}"
    );
}

extern "C" {
    fn getsid(pid: i32) -> i32;
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for this purpose: its state in /proc is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

fn read_pid(path: &Path) -> i32 {
    common::wait_for(20, "the command to start", || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

#[test]
fn commands_die_with_a_buildnet_that_is_sigkilled() {
    let (_dir, root) = workspace(
        "targets:\n  t:\n    command: sleep 300 & echo $! > bg.pid; echo $$ > sh.pid; sleep 300\n    cache: false\n",
    );
    let mut build = std::process::Command::new(common::BIN)
        .arg("build")
        .current_dir(&root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let bg = read_pid(&root.join("bg.pid"));
    let sh = read_pid(&root.join("sh.pid"));
    assert!(alive(bg) && alive(sh));
    build.kill().unwrap();
    build.wait().unwrap();
    common::wait_for(10, "the command and its child to die", || {
        (!alive(bg) && !alive(sh)).then_some(())
    });
}

#[test]
fn groups_left_by_a_dead_owner_are_killed_when_the_workspace_is_opened_again() {
    use std::os::unix::process::CommandExt;
    let (_dir, root) = workspace("targets:\n  t:\n    command: echo hi\n    cache: false\n");
    // A group whose lifeline watcher is gone too: only the record is left to find it by.
    let mut orphan = std::process::Command::new("/bin/sh")
        .args(["-c", "sleep 300 & echo $! > bg.pid; sleep 300"])
        .current_dir(&root)
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = orphan.id() as i32;
    let bg = read_pid(&root.join("bg.pid"));
    let start = |pid: i32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = stat.rsplit_once(") ").unwrap().1;
        rest.split_whitespace().nth(19).unwrap().parse().unwrap()
    };
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_owner = gone.id();
    gone.wait().unwrap();
    let running = root.join(".buildnet/running");
    std::fs::create_dir_all(&running).unwrap();
    std::fs::write(
        running.join(pgid.to_string()),
        format!(
            "{dead_owner} 1 {} {} {}\nsleep 300\n",
            start(pgid),
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .unwrap()
                .trim(),
            // SAFETY: getsid(0) reads this process's session id.
            unsafe { getsid(0) }
        ),
    )
    .unwrap();
    let o = run(&root, &["build"], &[("RUST_LOG", "warn")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("left running by a BuildNet process that died"),
        "{}",
        stderr(&o)
    );
    assert!(!orphan.wait().unwrap().success());
    common::wait_for(10, "the orphan's child to die", || {
        (!alive(bg)).then_some(())
    });
    assert!(!running.join(pgid.to_string()).exists());
}

#[test]
fn a_damaged_state_database_is_a_clear_error_naming_the_file() {
    let (_dir, root) = workspace("targets:\n  t:\n    command: echo hi\n");
    assert!(run(&root, &["build"], &[]).status.success());
    let db = root.join(".buildnet/state.db");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::write(
        &db,
        "this is not SQLite, it is a text file long enough to be read",
    )
    .unwrap();
    for args in [&["build"][..], &["builds"], &["kv", "get", "x"]] {
        let o = run(&root, args, &[]);
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains(&db.display().to_string()), "{args:?}: {err}");
        assert!(err.contains("damaged"), "{args:?}: {err}");
    }
}

/// Mounts a tmpfs of `size` at `at`, or says why not (the test then checks nothing).
fn small_disk(at: &Path, size: &str) -> Option<TmpMount> {
    std::fs::create_dir_all(at).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root in a container that allows it)");
        return None;
    }
    Some(TmpMount(at.to_path_buf()))
}

struct TmpMount(PathBuf);

impl Drop for TmpMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_the_target_succeeded_uncached_then_names_the_database() {
    let (_dir, root) = workspace(
        "targets:\n  big:\n    command: mkdir -p dist && head -c 3000000 /dev/zero > dist/big && echo made\n    outputs: [\"dist/**\"]\n",
    );
    let Some(_mount) = small_disk(&root.join(".buildnet"), "1m") else {
        return;
    };
    let o = run(&root, &["build"], &[("NO_COLOR", "1")]);
    let out = stdout(&o) + &stderr(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1 built, 0 failed"), "{out}");
    assert!(
        out.contains("outputs not cached") && out.contains("No space left"),
        "{out}"
    );
    assert_eq!(
        std::fs::metadata(root.join("dist/big")).unwrap().len(),
        3_000_000
    );
    let tmp = root.join(".buildnet/cas/tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "temporary files were left"
    );
    // What was stored before is intact, and the run is on record as succeeded.
    let o = run(&root, &["builds", "--json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("succeeded"), "{}", stdout(&o));
    // With not a byte left, the database itself cannot grow: a clear error naming it.
    let filler = root.join(".buildnet/filler");
    let _ = std::fs::write(&filler, vec![0u8; 2 * 1024 * 1024]);
    let o = run(&root, &["build", "--force"], &[]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("state.db"), "{err}");
    assert!(err.contains("full") || err.contains("no space"), "{err}");
    std::fs::remove_file(&filler).unwrap();
    let o = run(&root, &["build"], &[]);
    assert!(o.status.success(), "space again: {}", stderr(&o));
}

#[test]
fn a_read_only_state_folder_is_a_clear_error_naming_it() {
    let (_dir, root) = workspace("targets:\n  t:\n    command: echo hi\n");
    let state = root.join(".buildnet");
    let Some(_mount) = small_disk(&state, "4m") else {
        return;
    };
    assert!(run(&root, &["build"], &[]).status.success());
    let ro = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(ro.success());
    let o = run(&root, &["build"], &[]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(&state.display().to_string()), "{err}");
    assert!(
        err.to_lowercase().replace('-', "").contains("readonly"),
        "{err}"
    );
}

/// `buildnet ARGS` with its wall clock stepped by `offset` (libfaketime; the boot clock is
/// left alone, as it is when NTP or a user steps the time).
fn at_wall_offset(dir: &Path, offset: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("faketime")
        .args(["-f", offset, common::BIN])
        .args(args)
        .current_dir(dir)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env_remove("BUILDNET_TOKEN")
        .output()
        .expect("faketime (scripts/setup.sh installs it)")
}

#[test]
fn a_wall_clock_step_neither_frees_a_lease_nor_keeps_one_alive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The clock jumps 2 h ahead: a 1 h lease is still held, a 1 h value still there.
    assert!(
        run(d, &["lock", "acquire", "long", "--ttl", "3600000"], &[])
            .status
            .success()
    );
    assert!(run(d, &["kv", "set", "kept", "v", "--ttl", "3600000"], &[])
        .status
        .success());
    let o = at_wall_offset(d, "+2h", &["lock", "acquire", "long", "--ttl", "1000"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a +2h step freed the lease: {}",
        stdout(&o)
    );
    let o = at_wall_offset(d, "+2h", &["kv", "get", "kept"]);
    assert_eq!(
        stdout(&o),
        "v\n",
        "a +2h step expired the value: {}",
        stderr(&o)
    );
    // The clock jumps 1 h back: a 300 ms lease and value still end after 300 ms.
    assert!(run(d, &["lock", "acquire", "short", "--ttl", "300"], &[])
        .status
        .success());
    assert!(run(d, &["kv", "set", "brief", "v", "--ttl", "300"], &[])
        .status
        .success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let o = at_wall_offset(d, "-1h", &["lock", "acquire", "short", "--ttl", "1000"]);
    assert!(
        o.status.success(),
        "a -1h step kept the lease: {}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = at_wall_offset(d, "-1h", &["kv", "get", "brief"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a -1h step kept the value: {}",
        stdout(&o)
    );
}

#[test]
fn old_builds_are_pruned_to_the_retention_setting() {
    let (_dir, root) = workspace(
        "retention:\n  builds: 3\ntargets:\n  t:\n    command: echo hi\n    cache: false\n",
    );
    for _ in 0..6 {
        assert!(run(&root, &["build"], &[]).status.success());
    }
    let o = run(&root, &["builds", "--json", "--limit", "100"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = stdout(&o);
    let count = serde_json::from_str::<serde_json::Value>(&listed)
        .map(|v| v.as_array().map_or(0, |a| a.len()))
        .unwrap_or_else(|_| listed.lines().count());
    assert_eq!(count, 3, "{listed}");
    std::fs::write(root.join("buildnet.yaml"), "retention:\n  builds: 0\n").unwrap();
    let o = run(&root, &["build"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("retention.builds"), "{}", stderr(&o));
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A `git checkout` of a large tree: 100,000 files appear in a few seconds. The OS's own event
/// queue (16,384 by default) and ours (65,536 paths) overflow, the watcher rescans, and the
/// build that follows sees every file; the daemon's memory stays bounded.
#[test]
fn a_storm_of_100000_file_events_is_followed_by_a_build_that_sees_them_all() {
    let (_dir, root) = workspace(
        "targets:\n  count:\n    command: ls src | wc -l > count.txt\n    inputs: [\"src/**\"]\n    cache: false\n",
    );
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/first.txt"), "x").unwrap();
    let server = common::serve(&root, &["--watch"], &[]);
    let a = server.address.as_str();
    let before = vm_hwm_kib(server.child.id());
    for i in 0..100_000 {
        std::fs::write(root.join(format!("src/f{i:06}.txt")), "").unwrap();
    }
    let count = common::wait_for(240, "a build that saw every file", || {
        let text = std::fs::read_to_string(root.join("count.txt")).ok()?;
        let (_, status) = common::http(a, "GET", "/api/v1/status", None, &[]);
        let idle = status["builds"]["running"].as_array()?.is_empty()
            && status["builds"]["queued"].as_array()?.is_empty();
        (idle && text.trim() == "100001").then_some(text)
    });
    assert_eq!(count.trim(), "100001");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (_, body) = common::http(a, "GET", "/api/v1/builds?limit=100", None, &[]);
    let builds = body["builds"].as_array().unwrap();
    // Builds follow at most every second while the files keep coming (MAX_DELAY); one per
    // event, or per drained batch, would be thousands.
    assert!(
        (1..50).contains(&builds.len()),
        "{} builds followed the storm",
        builds.len()
    );
    let peak = vm_hwm_kib(server.child.id());
    eprintln!(
        "storm: {} builds, peak RSS {before} -> {peak} KiB",
        builds.len()
    );
    assert!(
        peak < before + 256 * 1024,
        "peak RSS grew from {before} to {peak} KiB"
    );
}

/// Waits up to `secs` for `child`, killing it if it takes longer; `None` on timeout.
fn wait_timeout(mut child: std::process::Child, secs: u64) -> Option<std::process::Output> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Some(child.wait_with_output().unwrap())
}

#[test]
fn a_build_run_by_a_command_of_a_build_does_not_wait_for_its_parent() {
    let (_dir, root) = workspace(
        "targets:\n  inner:\n    command: echo inner ran > inner.txt\n    cache: false\n  outer:\n    command: \"\\\"$BN\\\" build inner --no-daemon\"\n    cache: false\n",
    );
    let child = std::process::Command::new(common::BIN)
        .args(["build", "outer", "--no-daemon"])
        .current_dir(&root)
        .env("BN", common::BIN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_timeout(child, 60).expect("the nested build waited for its parent's lock");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        std::fs::read_to_string(root.join("inner.txt")).unwrap(),
        "inner ran\n"
    );
}

/// A program that reaps until it has no children left must not find BuildNet's watcher among
/// them.
#[test]
fn a_command_that_waits_for_all_its_children_is_not_kept_waiting() {
    let (_dir, root) = workspace(
        "targets:\n  t:\n    command: perl -e '1 while wait() != -1; print \"reaped all\\n\"'\n    cache: false\n    timeout_ms: 20000\n",
    );
    let child = std::process::Command::new(common::BIN)
        .args(["build", "--output-logs", "full"])
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = wait_timeout(child, 30).expect("the build hung");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("reaped all"), "{}", stdout(&o));
}
