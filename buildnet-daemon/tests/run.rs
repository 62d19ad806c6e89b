//! `buildnet run` in a Turborepo workspace with no `buildnet.yaml`: the task graph from
//! package.json workspaces and turbo.json, transit tasks, the cache (hits, restored outputs
//! and logs), strict environment mode, args after `--`, filters, exit codes and errors.

mod common;

use std::path::Path;

use common::{run, stderr, stdout};
use serde_json::Value;

const TURBO_JSON: &str = r#"{
  "$schema": "https://turborepo.com/schema.json",
  // turbo.json may hold comments
  "globalEnv": ["GLOBAL_FLAG"],
  "tasks": {
    "build": {"dependsOn": ["^build"], "outputs": ["dist/**"], "env": ["BUILD_MODE"]},
    "test": {"dependsOn": ["build"], "passThroughEnv": ["PASS_ME"]},
    "lint": {},
    "fail": {},
    "dev": {"persistent": true, "cache": false},
    "bad": {"dependsOn": ["dev"]},
    "//#check": {"outputs": ["check.txt"]}
  }
}"#;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// lib <- mid (no build script: a transit task) <- web; web has pre/post scripts.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"name": "acme", "private": true, "packageManager": "npm@10.9.0",
            "workspaces": ["packages/*", "apps/*"],
            "scripts": {"check": "echo root check > check.txt && echo checked"}}"#,
    );
    write(root, "turbo.json", TURBO_JSON);
    write(root, ".gitignore", "dist/\n.turbo/\n.buildnet/\n");
    write(
        root,
        "packages/lib/package.json",
        r#"{"name": "@acme/lib", "version": "1.2.0", "scripts": {
            "build": "mkdir -p dist && cat src/*.txt > dist/out.txt && echo built lib",
            "test": "echo \"test secret=${SECRET_X:-none} pass=${PASS_ME:-none} mode=${BUILD_MODE:-none} hash=${TURBO_HASH:-none} pkg=$npm_package_name token=${BUILDNET_TOKEN:-none}\"",
            "lint": "echo lint",
            "fail": "echo failing; exit 3",
            "dev": "sleep 1000"}}"#,
    );
    write(root, "packages/lib/src/a.txt", "lib a\n");
    write(
        root,
        "packages/mid/package.json",
        r#"{"name": "@acme/mid", "version": "1.0.0", "dependencies": {"@acme/lib": "^1.0.0"},
            "peerDependencies": {"@acme/web": "*"}}"#,
    );
    write(root, "packages/mid/index.txt", "mid\n");
    write(
        root,
        "apps/web/package.json",
        r#"{"name": "web", "version": "0.1.0", "devDependencies": {"@acme/mid": "*"}, "scripts": {
            "prebuild": "echo pre",
            "build": "mkdir -p dist && cp ../../packages/lib/dist/out.txt dist/lib.txt && echo built web",
            "postbuild": "echo post",
            "fail": "echo web fail ok"}}"#,
    );
    write(root, "apps/web/src/page.txt", "page\n");
    dir
}

fn bn(dir: &Path, args: &[&str]) -> std::process::Output {
    run(dir, args, &[("NO_COLOR", "1")])
}

fn dry(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["run", "--dry=json"];
    all.extend_from_slice(args);
    let out = bn(dir, &all);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

fn task<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["taskId"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {doc}"))
}

fn ids(doc: &Value) -> Vec<String> {
    let mut ids: Vec<String> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn status(doc: &Value, id: &str) -> String {
    task(doc, id)["cache"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn dry_json_has_turbos_graph_with_transit_tasks_and_no_peer_edges() {
    let dir = workspace();
    let doc = dry(dir.path(), &["build"]);
    assert_eq!(
        ids(&doc),
        ["@acme/lib#build", "@acme/mid#build", "web#build"]
    );
    let mid = task(&doc, "@acme/mid#build");
    assert_eq!(mid["command"], "<NONEXISTENT>");
    assert_eq!(mid["dependencies"], serde_json::json!(["@acme/lib#build"]));
    assert_eq!(mid["directory"], "packages/mid");
    let web = task(&doc, "web#build");
    assert_eq!(web["dependencies"], serde_json::json!(["@acme/mid#build"]));
    assert_eq!(web["dependents"], serde_json::json!([]));
    assert_eq!(web["outputs"], serde_json::json!(["dist/**"]));
    assert_eq!(web["logFile"], "apps/web/.turbo/turbo-build.log");
    assert_eq!(web["cache"]["status"], "MISS");
    assert_eq!(web["hash"].as_str().unwrap().len(), 16);
    assert!(web["inputs"]["src/page.txt"].is_string(), "{web}");
    assert!(web["missReasons"][0]
        .as_str()
        .unwrap()
        .contains("never built"));
}

#[test]
fn a_second_run_is_full_turbo_and_deleted_outputs_and_logs_come_back() {
    let dir = workspace();
    let root = dir.path();
    let out = bn(root, &["run", "build"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("@acme/lib:build: cache miss, executing "),
        "{text}"
    );
    // npm runs prebuild and postbuild around build: so does the direct start.
    let web: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("web:build: "))
        .collect();
    assert_eq!(
        web[1..],
        ["web:build: pre", "web:build: built web", "web:build: post"],
        "{text}"
    );
    assert!(
        text.contains(" Tasks:    2 successful, 2 total"),
        "transit tasks are not counted: {text}"
    );
    assert!(!text.contains("FULL TURBO"));
    assert_eq!(
        std::fs::read_to_string(root.join("apps/web/dist/lib.txt")).unwrap(),
        "lib a\n"
    );
    let log = std::fs::read_to_string(root.join("packages/lib/.turbo/turbo-build.log")).unwrap();
    assert_eq!(log, "built lib\n");

    let out = bn(root, &["run", "build"]);
    let text = stdout(&out);
    assert!(out.status.success());
    assert!(text.contains("Cached:    2 cached, 2 total"), "{text}");
    assert!(text.contains(">>> FULL TURBO"), "{text}");
    assert!(
        text.contains("@acme/lib:build: cache hit, replaying logs "),
        "{text}"
    );
    assert!(
        text.contains("@acme/lib:build: built lib"),
        "the log is replayed: {text}"
    );

    std::fs::remove_dir_all(root.join("apps/web/dist")).unwrap();
    std::fs::remove_dir_all(root.join("packages/lib/.turbo")).unwrap();
    let out = bn(root, &["run", "build"]);
    assert!(stdout(&out).contains(">>> FULL TURBO"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(root.join("apps/web/dist/lib.txt")).unwrap(),
        "lib a\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("packages/lib/.turbo/turbo-build.log")).unwrap(),
        "built lib\n"
    );

    // An edit in the transit package reaches its dependents, as in turbo.
    write(root, "packages/mid/index.txt", "mid changed\n");
    let doc = dry(root, &["build"]);
    assert_eq!(status(&doc, "@acme/lib#build"), "HIT");
    assert_eq!(status(&doc, "web#build"), "MISS");
    // An ignored file is no input; a new untracked file is.
    write(root, "packages/lib/dist/extra.txt", "x");
    write(root, "packages/lib/notes.md", "x");
    let doc = dry(root, &["build", "--filter=@acme/lib"]);
    assert_eq!(status(&doc, "@acme/lib#build"), "MISS");
    assert!(
        task(&doc, "@acme/lib#build")["missReasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "input packages/lib/notes.md was added"),
        "{doc}"
    );
}

#[test]
fn strict_env_passes_only_declared_variables_and_sets_turbo_hash() {
    let dir = workspace();
    let root = dir.path();
    let env = [
        ("SECRET_X", "leaked"),
        ("PASS_ME", "p1"),
        ("BUILD_MODE", "prod"),
        ("BUILDNET_TOKEN", "tok"),
    ];
    let out = run(root, &["run", "test", "--filter=@acme/lib"], &env);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let line = text
        .lines()
        .find(|l| l.starts_with("@acme/lib:test: test "))
        .unwrap_or_else(|| panic!("{text}"));
    // BUILD_MODE is not in test's env (only build's): strict mode keeps it out.
    assert!(line.contains("secret=none pass=p1 mode=none"), "{line}");
    assert!(line.contains("pkg=@acme/lib token=none"), "{line}");
    let hash = line
        .split("hash=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(hash.len(), 16, "{line}");
    assert!(
        text.contains(&format!("@acme/lib:test: cache miss, executing {hash}")),
        "{text}"
    );

    let doc = |env: &[(&str, &str)]| {
        let out = run(
            root,
            &["run", "test", "--filter=@acme/lib", "--dry=json"],
            env,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // A pass-through variable does not enter the key; a hashed one does, and reaches
    // everything that depends on its task; globalEnv reaches every task.
    let same = doc(&[
        ("SECRET_X", "other"),
        ("PASS_ME", "p2"),
        ("BUILD_MODE", "prod"),
    ]);
    assert_eq!(status(&same, "@acme/lib#test"), "HIT");
    let changed = doc(&[("PASS_ME", "p1"), ("BUILD_MODE", "dev")]);
    assert_eq!(status(&changed, "@acme/lib#build"), "MISS");
    assert_eq!(status(&changed, "@acme/lib#test"), "MISS");
    let global = doc(&[
        ("PASS_ME", "p1"),
        ("BUILD_MODE", "prod"),
        ("GLOBAL_FLAG", "1"),
    ]);
    assert_eq!(status(&global, "@acme/lib#build"), "MISS");
    assert!(
        task(&global, "@acme/lib#build")["missReasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("GLOBAL_FLAG")),
        "{global}"
    );
}

#[test]
fn args_after_the_separator_reach_every_script_and_the_key() {
    let dir = workspace();
    let root = dir.path();
    let out = bn(
        root,
        &["run", "lint", "--filter=@acme/lib", "--", "--fix", "a b"],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("@acme/lib:lint: lint --fix a b"), "{text}");
    let with = dry(root, &["lint", "--filter=@acme/lib", "--", "--fix", "a b"]);
    assert_eq!(status(&with, "@acme/lib#lint"), "HIT");
    assert_eq!(
        task(&with, "@acme/lib#lint")["cliArguments"],
        serde_json::json!(["--fix", "a b"])
    );
    let without = dry(root, &["lint", "--filter=@acme/lib"]);
    assert_eq!(status(&without, "@acme/lib#lint"), "MISS");
}

#[test]
fn filters_select_packages_as_turbo_does() {
    let dir = workspace();
    let root = dir.path();
    let sel = |filters: &[&str]| {
        let mut args = vec!["build"];
        args.extend_from_slice(filters);
        ids(&dry(root, &args))
    };
    assert_eq!(sel(&["--filter=@acme/lib"]), ["@acme/lib#build"]);
    // Dependencies of what is selected always run (and key) before it.
    assert_eq!(
        sel(&["-F", "web"]),
        ["@acme/lib#build", "@acme/mid#build", "web#build"]
    );
    assert_eq!(
        sel(&["--filter=...@acme/lib", "--only"]),
        ["@acme/lib#build", "@acme/mid#build", "web#build"]
    );
    assert_eq!(sel(&["--filter=...^@acme/mid", "--only"]), ["web#build"]);
    assert_eq!(sel(&["--filter=./apps/*", "--only"]), ["web#build"]);
    assert_eq!(
        sel(&["--filter={./packages/*}", "--filter=!@acme/mid", "--only"]),
        ["@acme/lib#build"]
    );
    assert_eq!(
        sel(&["--filter=@acme/*", "--only"]),
        ["@acme/lib#build", "@acme/mid#build"]
    );
    assert_eq!(ids(&dry(root, &["web#build", "--only"])), ["web#build"]);
    // Inside a package, without a filter: that package alone.
    let inside = dry(&root.join("apps/web/src"), &["build", "--only"]);
    assert_eq!(ids(&inside), ["web#build"]);
    let out = bn(root, &["run", "build", "--filter=nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No package found with name 'nope' in workspace"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_task_gives_its_exit_code_and_continue_runs_the_rest() {
    let dir = workspace();
    let root = dir.path();
    let out = bn(root, &["run", "fail", "--concurrency=1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}{}", stderr(&out));
    assert!(
        text.contains("@acme/lib#fail:  ERROR  command (")
            && text.contains("echo failing; exit 3 exited (3)"),
        "{text}"
    );
    assert!(
        stderr(&out).contains(" ERROR  run failed: command  exited (3)"),
        "{}",
        stderr(&out)
    );
    assert!(text.contains("@acme/lib:fail: failing"), "{text}");
    let out = bn(root, &["run", "fail", "--continue"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("web:fail: web fail ok"), "{text}");
    assert!(text.contains("Failed:    @acme/lib#fail"), "{text}");
    assert!(
        text.contains("@acme/lib#fail:  WARNING  command finished with error, but continuing..."),
        "{text}"
    );
}

#[test]
fn root_tasks_run_in_the_root_folder() {
    let dir = workspace();
    let out = bn(dir.path(), &["run", "check"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("//:check: checked"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("check.txt")).unwrap(),
        "root check\n"
    );
}

#[test]
fn bad_workspaces_and_requests_are_clear_errors() {
    let dir = workspace();
    let root = dir.path();
    let err = |args: &[&str]| {
        let out = bn(root, args);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        stderr(&out)
    };
    assert!(err(&["run", "nosuch"]).contains("could not find task `nosuch` in project"));
    let msg = err(&["run", "bad", "--filter=@acme/lib"]);
    assert!(
        msg.contains(
            "\"@acme/lib#dev\" is a persistent task, \"@acme/lib#bad\" cannot depend on it"
        ),
        "{msg}"
    );
    write(
        root,
        "apps/web/package.json",
        r#"{"name": "@acme/lib", "version": "1.0.0"}"#,
    );
    let msg = err(&["run", "build"]);
    assert!(
        msg.contains("two workspace packages are named \"@acme/lib\": apps/web and packages/lib"),
        "{msg}"
    );
    write(
        root,
        "apps/web/package.json",
        r#"{"name": "web", "version": "1.0.0"}"#,
    );
    write(
        root,
        "turbo.json",
        "{\"tasks\": {\"build\": {\"dependsOn\": \"^build\"}}}",
    );
    let msg = err(&["run", "build"]);
    assert!(
        msg.contains("turbo.json:1:") && msg.contains("tasks.build.dependsOn"),
        "{msg}"
    );
    // A v1 `pipeline` is read (with a warning).
    write(
        root,
        "turbo.json",
        "{\"pipeline\": {\"build\": {\"dependsOn\": [\"^build\"], \"outputs\": [\"dist/**\"]}}}",
    );
    let out = bn(root, &["run", "build"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn buildnet_yaml_and_turbo_json_make_one_graph_and_bad_globs_are_reported() {
    let dir = workspace();
    let root = dir.path();
    // `packages/lib/src/**` is written from the repository root, but globs are read from the
    // target's folder: it matches nothing, and says so.
    write(
        root,
        "buildnet.yaml",
        "targets:\n  bundle:\n    cwd: packages/lib\n    command: mkdir -p out && cp dist/out.txt out/\n    deps: [\"@acme/lib#build\"]\n    inputs: [\"packages/lib/src/**\"]\n    outputs: [\"out/**\", \"types/**\"]\n",
    );
    let out = bn(root, &["build", "bundle"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("@acme/lib#build"),
        "the turbo task ran first: {text}"
    );
    assert!(
        text.contains(
            "warning: input glob \"packages/lib/src/**\" matched no file in packages/lib"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "warning: output glob \"types/**\" matched no file the command left in packages/lib"
        ),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("packages/lib/out/out.txt")).unwrap(),
        "lib a\n"
    );
    let out = bn(root, &["build", "bundle", "--dry-run"]);
    assert!(
        stdout(&out).contains("warning: input glob \"packages/lib/src/**\""),
        "{}",
        stdout(&out)
    );
    // `turbo: off` leaves turbo.json unread.
    write(
        root,
        "buildnet.yaml",
        "turbo: off\ntargets:\n  solo:\n    command: \"true\"\n",
    );
    let out = bn(root, &["build", "--dry-run"]);
    assert!(!stdout(&out).contains("#build"), "{}", stdout(&out));
}

#[test]
fn through_a_running_daemon_the_callers_environment_counts() {
    let dir = workspace();
    let root = dir.path();
    let server = common::serve(root, &[], &[("BUILD_MODE", "daemon")]);
    let out = run(
        root,
        &["run", "test", "--filter=@acme/lib"],
        &[("PASS_ME", "client"), ("BUILD_MODE", "client")],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("pass=client"),
        "the caller's variable reached the task: {text}"
    );
    // The daemon ran it (its history has the build)...
    let (code, builds) = common::http(&server.address, "GET", "/api/v1/builds", None, &[]);
    assert_eq!(code, 200);
    assert_eq!(
        builds["builds"].as_array().map(Vec::len),
        Some(1),
        "{builds}"
    );
    // ...and the key used the caller's BUILD_MODE: the same run without a daemon is a hit.
    drop(server);
    let doc = {
        let out = run(
            root,
            &["run", "--dry=json", "test", "--filter=@acme/lib"],
            &[("BUILD_MODE", "client")],
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(status(&doc, "@acme/lib#build"), "HIT", "{doc}");
    assert_eq!(status(&doc, "@acme/lib#test"), "HIT", "{doc}");
}

fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn changed_since_a_ref_selects_packages_and_their_dependents() {
    let dir = workspace();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "base"]);
    git(root, &["checkout", "-qb", "topic"]);
    let sel = |filters: &[&str]| {
        let mut args = vec!["build", "--only"];
        args.extend_from_slice(filters);
        ids(&dry(root, &args))
    };
    // Nothing changed yet: an empty selection, which is no error.
    let out = bn(root, &["run", "build", "--filter=[main]"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("No tasks were executed"),
        "{}",
        stdout(&out)
    );
    // An uncommitted edit counts for `[ref]`; --affected adds the dependents.
    write(root, "packages/lib/src/a.txt", "lib a, edited\n");
    assert_eq!(sel(&["--filter=[main]"]), ["@acme/lib#build"]);
    assert_eq!(
        sel(&["--filter=...[main]"]),
        ["@acme/lib#build", "@acme/mid#build", "web#build"]
    );
    git(root, &["commit", "-qam", "edit lib"]);
    assert_eq!(
        sel(&["--affected"]),
        ["@acme/lib#build", "@acme/mid#build", "web#build"],
        "committed on the branch: affected since main"
    );
    assert_eq!(sel(&["--filter=[HEAD]"]), Vec::<String>::new());
    // A change to a global file (the root package.json) changes every package.
    write(
        root,
        "package.json",
        &std::fs::read_to_string(root.join("package.json"))
            .unwrap()
            .replace("acme", "acme2"),
    );
    assert_eq!(sel(&["--filter=[HEAD]"]).len(), 3);
}

#[test]
fn the_api_takes_a_bare_task_name_for_every_package_and_siblings_come_along() {
    let dir = workspace();
    let root = dir.path();
    // `with`: web's build starts lib's lint beside it (no edge).
    write(
        root,
        "turbo.json",
        &TURBO_JSON.replace(
            r#""lint": {},"#,
            r#""lint": {}, "web#build": {"dependsOn": ["^build"], "outputs": ["dist/**"], "with": ["@acme/lib#lint"]},"#,
        ),
    );
    let server = common::serve(root, &[], &[]);
    let (code, resp) = common::http(
        &server.address,
        "POST",
        "/api/v1/build",
        Some(r#"{"targets": ["build"]}"#),
        &[],
    );
    assert_eq!(code, 202, "{resp}");
    let id = resp["build_id"].as_str().unwrap().to_string();
    let build = common::wait_build(&server.address, &id, &[]);
    assert_eq!(build["status"], "succeeded", "{build}");
    let mut targets: Vec<String> = build["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap().to_string())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            "@acme/lib#build",
            "@acme/lib#lint",
            "@acme/mid#build",
            "web#build"
        ]
    );
}

#[test]
fn cycles_and_interactive_cached_tasks_are_refused() {
    let dir = workspace();
    let root = dir.path();
    write(
        root,
        "packages/lib/package.json",
        r#"{"name": "@acme/lib", "version": "1.2.0", "dependencies": {"web": "*"}, "scripts": {"build": "true"}}"#,
    );
    let out = bn(root, &["run", "build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("dependency cycle: "),
        "{}",
        stderr(&out)
    );
    write(
        root,
        "packages/lib/package.json",
        r#"{"name": "@acme/lib", "version": "1.2.0", "scripts": {"build": "true"}}"#,
    );
    write(
        root,
        "turbo.json",
        r#"{"tasks": {"build": {"interactive": true}}}"#,
    );
    let out = bn(root, &["run", "build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("tasks cannot be marked as interactive and cacheable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explicit_inputs_read_ignored_files_as_turbo_does() {
    let dir = workspace();
    let root = dir.path();
    write(
        root,
        "turbo.json",
        r#"{"tasks": {
            "lint": {"inputs": ["$TURBO_DEFAULT$", ".env*"]},
            "test": {"inputs": ["src/**"]}
        }}"#,
    );
    write(
        root,
        ".gitignore",
        "dist/\n.turbo/\n.env.local\nsrc/gen.txt\n",
    );
    let run_ok = |task: &str| {
        let out = bn(root, &["run", task, "--filter=@acme/lib"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    let text = run_ok("lint");
    assert!(
        !text.contains("WARNING"),
        "an optional glob beside $TURBO_DEFAULT$ is no warning: {text}"
    );
    run_ok("test");
    let st = |task: &str| {
        status(
            &dry(root, &[task, "--filter=@acme/lib"]),
            &format!("@acme/lib#{task}"),
        )
    };
    assert_eq!(st("lint"), "HIT");
    // `.env.local` is git-ignored, and still an input: `.env*` names it.
    write(root, "packages/lib/.env.local", "API=1\n");
    assert_eq!(st("lint"), "MISS");
    // An explicit `src/**` reads an ignored file under src/ too, and nothing outside it.
    assert_eq!(st("test"), "HIT");
    write(root, "packages/lib/other.txt", "x");
    assert_eq!(st("test"), "HIT", "outside the explicit inputs");
    write(root, "packages/lib/src/gen.txt", "generated");
    assert_eq!(st("test"), "MISS");
    // BuildNet's state never shows up in git.
    assert_eq!(
        std::fs::read_to_string(root.join(".buildnet/.gitignore"))
            .unwrap()
            .lines()
            .last(),
        Some("*")
    );
}
