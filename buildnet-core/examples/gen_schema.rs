//! Writes `schema/buildnet.schema.json` and `tests/vectors/error_codes.json` from the Rust
//! types (see `buildnet_core::schema`). `--check` fails instead when a file is stale.

use std::path::Path;

fn main() -> std::process::ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stale = false;
    for (path, content) in buildnet_core::schema::files() {
        let file = root.join(path);
        if std::fs::read_to_string(&file).ok().as_deref() == Some(content.as_str()) {
            continue;
        }
        if check {
            eprintln!("{path} is stale: run `cargo run -p buildnet-core --example gen_schema`");
            stale = true;
        } else {
            std::fs::create_dir_all(file.parent().expect("a file has a folder")).expect("mkdir");
            std::fs::write(&file, content).expect("writing the schema");
            println!("wrote {path}");
        }
    }
    if stale {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
