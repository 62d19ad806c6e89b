//! The few git questions BuildNet asks (which files changed since a ref), answered by the
//! `git` on `PATH`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

fn git(root: &Path, args: &[&str]) -> Result<Option<String>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::io("running git", e))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Files changed between `from` and `to` (`None`: the working tree, staged, unstaged and
/// untracked files included), relative to `root`. `None` when git cannot tell (not a
/// repository, an unknown ref, history cut short by a shallow clone).
pub fn changed_files(root: &Path, from: &str, to: Option<&str>) -> Result<Option<Vec<String>>> {
    let Some(prefix) = git(root, &["rev-parse", "--show-prefix"])? else {
        return Ok(None);
    };
    let prefix = prefix.trim().to_owned();
    let diff = match to {
        Some(to) => git(
            root,
            &[
                "diff",
                "--name-only",
                "--no-renames",
                &format!("{from}...{to}"),
                "--",
                ".",
            ],
        )?,
        None => git(
            root,
            &["diff", "--name-only", "--no-renames", from, "--", "."],
        )?,
    };
    let Some(diff) = diff else {
        return Ok(None);
    };
    let mut files: Vec<String> = diff.lines().map(str::to_owned).collect();
    if to.is_none() {
        if let Some(untracked) = git(
            root,
            &[
                "ls-files",
                "--others",
                "--exclude-standard",
                "--full-name",
                ".",
            ],
        )? {
            files.extend(untracked.lines().map(str::to_owned));
        }
    }
    // git names files from the top of the repository; the workspace may be below it.
    Ok(Some(
        files
            .into_iter()
            .filter_map(|f| f.strip_prefix(prefix.as_str()).map(str::to_owned))
            .collect(),
    ))
}
