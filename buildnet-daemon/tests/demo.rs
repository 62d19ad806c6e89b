//! The demo monorepo (examples/monorepo) builds with its real tools (tsc, esbuild from npm),
//! cold and then fully cached, and the result runs. `scripts/setup.sh --demo` installs the tools.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, stdout};

#[test]
fn demo_monorepo_builds_cold_then_cached_and_runs() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/monorepo");
    assert!(
        src.join("node_modules/.bin/tsc").exists()
            && src.join("node_modules/.bin/esbuild").exists(),
        "the demo's tools are missing: run scripts/setup.sh --demo"
    );
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("monorepo");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&ws)
        .status()
        .unwrap();
    assert!(copied.success());
    let _ = std::fs::remove_dir_all(ws.join(".buildnet"));
    for pkg in std::fs::read_dir(ws.join("packages")).unwrap() {
        let _ = std::fs::remove_dir_all(pkg.unwrap().path().join("dist"));
    }

    let o = run(&ws, &["build"], &[]);
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("6 targets: 0 cached, 6 built, 0 failed"),
        "{}",
        stdout(&o)
    );
    let cli = Command::new("node")
        .arg(ws.join("packages/cli/dist/index.js"))
        .arg(r#"{"id":"q","amounts":[2,3]}"#)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&cli.stdout);
    assert!(
        printed.contains("[order-core] info: order q totals 5"),
        "{printed}"
    );
    assert!(
        ws.join("packages/core/dist/index.d.ts").is_file(),
        "tsc emitted declarations"
    );

    let o = run(&ws, &["build"], &[]);
    assert!(
        stdout(&o).contains("6 targets: 6 cached, 0 built, 0 failed"),
        "{}",
        stdout(&o)
    );

    std::fs::remove_dir_all(ws.join("packages/cli/dist")).unwrap();
    let o = run(&ws, &["build", "cli"], &[("NODE_ENV", "production")]);
    assert!(
        stdout(&o).contains("✓ built   cli"),
        "a declared env value misses: {}",
        stdout(&o)
    );
    let cli = Command::new("node")
        .arg(ws.join("packages/cli/dist/index.js"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&cli.stdout).contains("built for production"));

    let utils = ws.join("packages/utils/src/index.ts");
    let text = std::fs::read_to_string(&utils).unwrap();
    std::fs::write(&utils, text + "\nexport const VERSION = 2;\n").unwrap();
    let o = run(&ws, &["build", "--dry-run"], &[]);
    assert!(
        stdout(&o).contains("miss  utils: input packages/utils/src/index.ts changed"),
        "{}",
        stdout(&o)
    );
    let o = run(&ws, &["build"], &[]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("6 built"), "{}", stdout(&o));
}
