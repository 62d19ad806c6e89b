//! Writes `include/buildnet.h` from this crate's source with cbindgen (`scripts/gen-header.sh`),
//! or with `--check`, fails if the committed header differs from what the source generates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("../include/buildnet.h");
    let check = std::env::args().any(|a| a == "--check");
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gen-header: cbindgen.toml: {err}");
            return ExitCode::FAILURE;
        }
    };
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => bindings,
        Err(err) => {
            eprintln!("gen-header: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let generated = parenthesize_negative_defines(&String::from_utf8_lossy(&raw)).into_bytes();
    if check {
        return compare(&header, &generated);
    }
    if let Err(err) = std::fs::write(&header, &generated) {
        eprintln!("gen-header: cannot write {}: {err}", header.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", header.display());
    ExitCode::SUCCESS
}

/// `#define X -1` becomes `#define X (-1)`, so `a-X` cannot turn into `a--1`.
fn parenthesize_negative_defines(header: &str) -> String {
    header
        .lines()
        .map(|line| match line.strip_prefix("#define ") {
            Some(rest) => match rest.split_once(' ') {
                Some((name, value)) if value.starts_with('-') => {
                    format!("#define {name} ({value})\n")
                }
                _ => format!("{line}\n"),
            },
            None => format!("{line}\n"),
        })
        .collect()
}

fn compare(header: &Path, generated: &[u8]) -> ExitCode {
    match std::fs::read(header) {
        Ok(committed) if committed == generated => {
            println!("{} is up to date", header.display());
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!(
                "{} differs from what the source generates: run scripts/gen-header.sh and commit it",
                header.display()
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("gen-header: cannot read {}: {err}", header.display());
            ExitCode::FAILURE
        }
    }
}
