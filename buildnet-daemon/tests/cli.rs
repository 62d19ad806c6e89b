//! The one-shot commands: output, exit codes and bad input.

mod common;

use common::{run, stderr, stdout};

#[test]
fn version_and_help_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["--version"], &[]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        format!("buildnet {}", env!("CARGO_PKG_VERSION"))
    );
    for cmd in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["kv", "--help"],
        vec!["kv", "set", "--help"],
        vec!["lock", "acquire", "--help"],
        vec!["hash", "--help"],
        vec!["status", "--help"],
    ] {
        let o = run(dir.path(), &cmd, &[]);
        assert!(o.status.success(), "{cmd:?}");
        assert!(stdout(&o).contains("Usage: buildnet"), "{cmd:?}");
    }
}

#[test]
fn kv_commands_roundtrip_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        run(d, &["kv", "get", "missing"], &[]).status.code(),
        Some(1)
    );
    assert!(run(d, &["kv", "set", "app/a", "1"], &[]).status.success());
    assert!(run(d, &["kv", "set", "app/b", "two words"], &[])
        .status
        .success());
    assert!(run(d, &["kv", "set", "other", "x"], &[]).status.success());
    let o = run(d, &["kv", "get", "app/b"], &[]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "two words\n".to_string())
    );
    let o = run(d, &["kv", "list", "app/"], &[]);
    assert_eq!(stdout(&o), "app/a\t1\napp/b\ttwo words\n");
    let o = run(d, &["kv", "list", "--json"], &[]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["key"], "other");
    assert!(run(d, &["kv", "del", "app/a"], &[]).status.success());
    assert_eq!(run(d, &["kv", "del", "app/a"], &[]).status.code(), Some(1));
    assert!(d.join(".buildnet/state.db").is_file());
}

#[test]
fn kv_ttl_expires() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(run(d, &["kv", "set", "t", "v", "--ttl", "200"], &[])
        .status
        .success());
    assert_eq!(stdout(&run(d, &["kv", "get", "t"], &[])), "v\n");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(run(d, &["kv", "get", "t"], &[]).status.code(), Some(1));
}

#[test]
fn bad_input_gives_clear_errors_and_usage_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(d, &["kv", "set", "k", "v", "--ttl", "0"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("TTL must be between"), "{}", stderr(&o));
    let o = run(d, &["kv", "set", "k", "v", "--ttl", "soon"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(d, &["frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unrecognized subcommand"),
        "{}",
        stderr(&o)
    );
    let o = run(d, &["kv", "get", ""], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key must not be empty"));
    // A key that is not UTF-8 is refused before anything is opened.
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"k\xff");
    let o = std::process::Command::new(common::BIN)
        .current_dir(d)
        .args(["kv", "set"])
        .arg(bad)
        .arg("v")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("UTF-8"), "{}", stderr(&o));
    // A broken config names file, line, column and field.
    std::fs::write(d.join("buildnet.yaml"), "server:\n  port: high\n").unwrap();
    let o = run(d, &["kv", "get", "k"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("buildnet.yaml:2:9") && err.contains("server.port"),
        "{err}"
    );
    std::fs::write(d.join("buildnet.yaml"), "").unwrap();
    let o = run(d, &["kv", "get", "k"], &[("BUILDNET_PORT", "http")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("BUILDNET_PORT"));
    let o = run(d, &["--config", "nope.yaml", "kv", "get", "k"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.yaml"));
}

#[test]
fn config_is_found_from_a_subdirectory_and_buildnet_db_overrides_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("buildnet.yaml"), "state_dir: .state\n").unwrap();
    std::fs::create_dir_all(d.join("packages/app")).unwrap();
    assert!(run(&d.join("packages/app"), &["kv", "set", "k", "v"], &[])
        .status
        .success());
    assert!(d.join(".state/state.db").is_file());
    let o = run(
        d,
        &["kv", "set", "k2", "v"],
        &[("BUILDNET_DB", "custom.db")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("custom.db").is_file());
    assert_eq!(run(d, &["kv", "get", "k2"], &[]).status.code(), Some(1));
}

#[test]
fn lock_commands_print_token_and_fence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(d, &["lock", "acquire", "deploy", "--ttl", "60000"], &[]);
    assert!(o.status.success());
    let out = stdout(&o);
    let (token, fence) = out.trim().split_once(' ').unwrap();
    assert_eq!(token.len(), 32);
    let fence: i64 = fence.parse().unwrap();
    let o = run(d, &["lock", "acquire", "deploy", "--ttl", "60000"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("held"));
    assert_eq!(
        run(d, &["lock", "release", "deploy", "bad"], &[])
            .status
            .code(),
        Some(1)
    );
    assert!(run(d, &["lock", "release", "deploy", token], &[])
        .status
        .success());
    let o = run(d, &["lock", "acquire", "deploy", "--ttl", "60000"], &[]);
    let second: i64 = stdout(&o)
        .trim()
        .split_once(' ')
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(second > fence);
    assert_eq!(
        run(d, &["lock", "acquire", "x"], &[]).status.code(),
        Some(2)
    );
}

/// Files with known blake3 digests, including names b3sum escapes.
fn hash_fixture(d: &std::path::Path) -> Vec<&'static str> {
    std::fs::write(d.join("empty"), b"").unwrap();
    std::fs::write(d.join("abc"), b"abc").unwrap();
    std::fs::write(d.join("back\\slash"), b"abc").unwrap();
    std::fs::write(d.join("new\nline"), b"").unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.join("big"), big).unwrap();
    vec!["empty", "abc", "back\\slash", "new\nline", "big"]
}

#[test]
fn hash_output_is_b3sum_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = hash_fixture(d);
    let o = run(
        d,
        &["hash", "empty", "abc", "back\\slash", "new\nline"],
        &[],
    );
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262  empty\n\
         6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85  abc\n\
         \\6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85  back\\\\slash\n\
         \\af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262  new\\nline\n"
    );
    // Byte-identical to b3sum itself, where it is installed (scripts/test.sh installs it).
    if let Ok(b3) = std::process::Command::new("b3sum")
        .args(&files)
        .current_dir(d)
        .output()
    {
        let mut args = vec!["hash"];
        args.extend(&files);
        let ours = run(d, &args, &[]).stdout;
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&b3.stdout)
        );
    }
    let o = run(d, &["hash", "--xxh3", "abc"], &[]);
    assert_eq!(stdout(&o), "78af5f94892f3950  abc\n");
    let o = run(d, &["hash", "abc", "missing", "empty"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).lines().count(), 2);
    assert!(stderr(&o).contains("missing"));
}

#[test]
fn status_without_a_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["status"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("not running"));
}
