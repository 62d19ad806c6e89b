//! `buildnet build` as a remote-cache client of a real `buildnet serve` (Turborepo's v8
//! protocol): a fresh copy of a workspace restores everything and runs nothing; read-only
//! tokens never upload; `--cache` turns sources off; signed artifacts are checked both ways;
//! an unreachable cache never fails a build. ducktors' turborepo-remote-cache is the other
//! server, in `tests/remote-cache/clients.test.mjs`.

mod common;

use std::path::Path;

use common::{http_raw, serve, stderr, stdout};

/// `buildnet ARGS` in `dir`, its runs noted in the file `workspace` named.
fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let runlog = std::fs::read_to_string(dir.join(".runlog")).unwrap();
    let mut all = envs.to_vec();
    all.push(("RUNLOG", runlog.as_str()));
    common::run(dir, args, &all)
}

/// A workspace whose `lib` target writes dist/ and notes each run in `runlog`.
fn workspace(dir: &Path, remote: &str, runlog: &Path) {
    // Each copy notes its runs in its own file, named outside the key (`$RUNLOG`).
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/input.txt"), "v1\n").unwrap();
    let config = format!(
        r#"
targets:
  lib:
    command: sh -c 'mkdir -p dist/sub && cp src/input.txt dist/out.txt && echo true > dist/sub/run.sh && chmod +x dist/sub/run.sh && echo ran >> "$RUNLOG" && echo building lib'
    inputs: ["src/**"]
    outputs: ["dist/**"]
  app:
    deps: [lib]
    command: sh -c 'mkdir -p out && cat dist/out.txt > out/app.txt && echo app >> "$RUNLOG"'
    inputs: ["src/**"]
    outputs: ["out/**"]
remote_cache:
{remote}
"#
    );
    std::fs::write(dir.join(".runlog"), runlog.display().to_string()).unwrap();
    std::fs::write(dir.join("buildnet.yaml"), config).unwrap();
}

fn runs(runlog: &Path) -> usize {
    std::fs::read_to_string(runlog)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn metric(address: &str, name: &str, protocol: &str) -> f64 {
    let (_, text) = http_raw(
        address,
        "GET",
        "/metrics",
        None,
        &[("Authorization", "Bearer admin-secret")],
    );
    let series = format!("{name}{{protocol=\"{protocol}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("no {series}"))
        .parse()
        .unwrap()
}

const SERVER: &str = r#"
targets: {}
server:
  token: admin-secret
  cache_tokens:
    - {token: ci-write, access: read-write}
    - {token: pr-read, access: read}
"#;

#[test]
fn a_fresh_workspace_restores_everything_from_the_remote_cache_and_runs_nothing() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("server")).unwrap();
    std::fs::write(root.path().join("server/buildnet.yaml"), SERVER).unwrap();
    let server = serve(&root.path().join("server"), &[], &[]);
    let url = format!("http://{}", server.address);
    let a = &server.address;
    let remote = format!("  url: {url}\n  team: team_x\n");
    let writer = [("TURBO_TOKEN", "ci-write")];

    let (one, log1) = (root.path().join("one"), root.path().join("one.log"));
    workspace(&one, &remote, &log1);
    let built = run(&one, &["build"], &writer);
    assert!(
        built.status.success(),
        "{}{}",
        stdout(&built),
        stderr(&built)
    );
    assert_eq!(runs(&log1), 2);
    assert!(metric(a, "buildnet_remote_cache_bytes_in_total", "turbo") > 0.0);

    // A fresh copy: both targets come from the remote cache, nothing runs, files identical.
    let (two, log2) = (root.path().join("two"), root.path().join("two.log"));
    workspace(&two, &remote, &log2);
    let dry = run(&two, &["build", "--dry-run"], &writer);
    assert!(stdout(&dry).contains("remote"), "{}", stdout(&dry));
    let restored = run(&two, &["build", "--json"], &writer);
    let out = stdout(&restored);
    assert!(restored.status.success(), "{out}{}", stderr(&restored));
    assert_eq!(runs(&log2), 0, "a command ran in the fresh copy");
    for file in ["dist/out.txt", "dist/sub/run.sh", "out/app.txt"] {
        assert_eq!(
            std::fs::read(one.join(file)).unwrap(),
            std::fs::read(two.join(file)).unwrap(),
            "{file}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(two.join("dist/sub/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o111, 0, "the executable bit was not restored");
    // The record says where the hits came from.
    let record: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    for t in record["targets"].as_array().unwrap() {
        assert_eq!(t["cached"], true, "{t}");
        assert!(t["remote_bytes"].as_u64().unwrap() > 0, "{t}");
    }
    // Now a local hit: no remote bytes.
    let again = run(&two, &["build", "--json"], &writer);
    let record: serde_json::Value =
        serde_json::from_str(stdout(&again).lines().last().unwrap()).unwrap();
    assert!(record["targets"][0]["remote_bytes"].is_null(), "{record}");

    // A read-only token restores, but its new artifacts are refused and nothing is stored.
    let (three, log3) = (root.path().join("three"), root.path().join("three.log"));
    workspace(&three, &remote, &log3);
    std::fs::write(three.join("src/input.txt"), "v2\n").unwrap();
    let stored = metric(a, "buildnet_remote_cache_bytes_in_total", "turbo");
    let read_only = run(&three, &["build"], &[("TURBO_TOKEN", "pr-read")]);
    assert!(read_only.status.success(), "{}", stderr(&read_only));
    assert_eq!(runs(&log3), 2);
    assert!(
        stdout(&read_only).contains("403"),
        "the refused upload was not reported: {}",
        stdout(&read_only)
    );
    assert_eq!(
        metric(a, "buildnet_remote_cache_bytes_in_total", "turbo"),
        stored
    );

    // --cache=local:rw reads nothing remote; remote:r writes nothing anywhere.
    let (four, log4) = (root.path().join("four"), root.path().join("four.log"));
    workspace(&four, &remote, &log4);
    assert!(run(&four, &["build", "--cache=local:rw"], &writer)
        .status
        .success());
    assert_eq!(runs(&log4), 2);
    let (five, log5) = (root.path().join("five"), root.path().join("five.log"));
    workspace(&five, &remote, &log5);
    std::fs::write(five.join("src/input.txt"), "v3\n").unwrap();
    let before = metric(a, "buildnet_remote_cache_bytes_in_total", "turbo");
    assert!(run(&five, &["build", "--cache=remote:r"], &writer)
        .status
        .success());
    assert!(run(&five, &["build", "--cache=remote:r"], &writer)
        .status
        .success());
    assert_eq!(runs(&log5), 4, "remote:r kept a local entry");
    assert_eq!(
        metric(a, "buildnet_remote_cache_bytes_in_total", "turbo"),
        before
    );
    let bad = run(&five, &["build", "--cache=cloud:rw"], &writer);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("cloud"), "{}", stderr(&bad));
}

#[test]
fn signatures_are_made_and_checked_and_an_unreachable_cache_never_fails_a_build() {
    let key = "s".repeat(40);
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("server")).unwrap();
    std::fs::write(root.path().join("server/buildnet.yaml"), SERVER).unwrap();
    let server = serve(
        &root.path().join("server"),
        &[],
        &[("BUILDNET_CACHE_SIGNATURE_KEY", key.as_str())],
    );
    let remote = format!(
        "  url: http://{}\n  team: team_signed\n  token: ci-write\n  signature: true\n",
        server.address
    );

    // Signatures on without a key: a clear error before anything runs.
    let (none, log0) = (root.path().join("nokey"), root.path().join("nokey.log"));
    workspace(&none, &remote, &log0);
    let refused = run(&none, &["build"], &[]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("TURBO_REMOTE_CACHE_SIGNATURE_KEY"));
    assert_eq!(runs(&log0), 0);

    let (one, log1) = (root.path().join("one"), root.path().join("one.log"));
    workspace(&one, &remote, &log1);
    let signed = [("TURBO_REMOTE_CACHE_SIGNATURE_KEY", key.as_str())];
    assert!(run(&one, &["build"], &signed).status.success());
    assert_eq!(
        metric(
            &server.address,
            "buildnet_remote_cache_refusals_total",
            "turbo"
        ),
        0.0
    );

    // The wrong key: the download does not verify (a miss) and the upload is refused.
    let (two, log2) = (root.path().join("two"), root.path().join("two.log"));
    workspace(&two, &remote, &log2);
    let wrong = run(
        &two,
        &["build"],
        &[("TURBO_REMOTE_CACHE_SIGNATURE_KEY", "w")],
    );
    assert!(wrong.status.success(), "{}", stderr(&wrong));
    assert_eq!(runs(&log2), 2, "an artifact that did not verify was used");
    assert!(stdout(&wrong).contains("signature"), "{}", stdout(&wrong));
    assert!(
        metric(
            &server.address,
            "buildnet_remote_cache_refusals_total",
            "turbo"
        ) >= 2.0
    );

    // The right key: a fresh copy restores.
    let (three, log3) = (root.path().join("three"), root.path().join("three.log"));
    workspace(&three, &remote, &log3);
    assert!(run(&three, &["build"], &signed).status.success());
    assert_eq!(runs(&log3), 0);

    // Nothing listens: the build succeeds, and says why the cache was skipped.
    drop(server);
    let (four, log4) = (root.path().join("four"), root.path().join("four.log"));
    workspace(&four, &remote, &log4);
    let offline = run(&four, &["build"], &signed);
    assert!(offline.status.success(), "{}", stderr(&offline));
    assert_eq!(runs(&log4), 2);
    assert!(
        stdout(&offline).contains("remote cache"),
        "{}",
        stdout(&offline)
    );
}

#[test]
fn a_remote_artifact_the_workspace_refuses_is_a_miss_and_the_command_runs() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("server")).unwrap();
    std::fs::write(root.path().join("server/buildnet.yaml"), SERVER).unwrap();
    let server = serve(&root.path().join("server"), &[], &[]);
    let remote = format!("  url: http://{}\n  token: ci-write\n", server.address);
    let (one, log1) = (root.path().join("one"), root.path().join("one.log"));
    workspace(&one, &remote, &log1);
    assert!(run(&one, &["build"], &[]).status.success());

    // In the second copy `dist` is a link out of the workspace: restoring through it is refused.
    let (two, log2) = (root.path().join("two"), root.path().join("two.log"));
    workspace(&two, &remote, &log2);
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, two.join("dist")).unwrap();
    let built = run(&two, &["build"], &[]);
    let out = stdout(&built);
    assert!(built.status.success(), "{out}{}", stderr(&built));
    assert!(out.contains("was not restored"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&log2)
            .unwrap()
            .lines()
            .filter(|l| *l == "ran")
            .count(),
        1,
        "lib did not run"
    );
}
