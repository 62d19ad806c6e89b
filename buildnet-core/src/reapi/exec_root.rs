//! A worker's exec root: the input root of an action written out from the CAS (blobs checked
//! and kept in a local cache by digest), and the outputs of its command collected and uploaded.

use std::path::Path;
use std::sync::Arc;

use super::client::{Engine, Source};
use super::merkle::{self, TreeFile};
use super::{digest_file, encode, re, Digest};
use crate::error::{Error, Result};

/// The paths the command's outputs are at, relative to its working directory.
#[allow(deprecated)] // output_files/output_directories: what v2.0 clients send
pub(super) fn output_paths(command: &re::Command) -> Result<Vec<String>> {
    let paths: Vec<String> = if command.output_paths.is_empty() {
        command
            .output_files
            .iter()
            .chain(&command.output_directories)
            .cloned()
            .collect()
    } else {
        command.output_paths.clone()
    };
    for p in &paths {
        if !super::is_relative_path(p) {
            return Err(Error::invalid_argument(format!(
                "output path {p:?} is not relative"
            )));
        }
    }
    Ok(paths)
}

/// Writes the input root of `action` under `root`; returns how many files it has.
pub(super) fn stage(
    engine: &Engine,
    dir: &Path,
    root: &Path,
    action: &re::Action,
) -> Result<usize> {
    let root_digest = action
        .input_root_digest
        .as_ref()
        .ok_or_else(|| Error::invalid_argument("the action has no input root"))?;
    let top: re::Directory = engine.read_message(root_digest, "input root")?;
    let mut get = |d: &Digest| -> std::result::Result<re::Directory, String> {
        engine
            .read_message(d, "input folder")
            .map_err(|e| e.message().to_owned())
    };
    let (files, dirs) = merkle::walk_with(&top, &mut get).map_err(Error::invalid_argument)?;
    for d in &dirs {
        let p = root.join(d);
        std::fs::create_dir_all(&p).map_err(|e| Error::io(p.display(), e))?;
    }
    let cache = dir.join("cas");
    std::fs::create_dir_all(&cache).map_err(|e| Error::io(cache.display(), e))?;
    let mut wanted: Vec<Digest> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in &files {
        if !super::is_sha256(&f.digest.hash) {
            return Err(Error::invalid_argument(format!("{}: not a digest", f.path)));
        }
        if !cache.join(&f.digest.hash).exists() && seen.insert(f.digest.hash.clone()) {
            wanted.push(f.digest.clone());
        }
    }
    for (digest, data) in wanted.iter().zip(engine.read_blobs(&wanted)?) {
        let tmp = cache.join(format!("{}.{}", digest.hash, super::client::uuid()));
        std::fs::write(&tmp, &data).map_err(|e| Error::io(tmp.display(), e))?;
        std::fs::rename(&tmp, cache.join(&digest.hash)).map_err(|e| Error::io(tmp.display(), e))?;
    }
    for f in &files {
        let dest = root.join(&f.path);
        std::fs::copy(cache.join(&f.digest.hash), &dest)
            .map_err(|e| Error::io(dest.display(), e))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = if f.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(dest.display(), e))?;
    }
    Ok(files.len())
}

/// The outputs of a finished command, uploaded: files and folders (as `Tree`s), stdout and
/// stderr.
pub(super) fn collect_outputs(
    engine: &Engine,
    cwd: &Path,
    outputs: &[String],
    stdout: Vec<u8>,
    stderr: Vec<u8>,
) -> Result<re::ActionResult> {
    let mut result = re::ActionResult::default();
    let mut blobs: Vec<(Digest, Source)> = Vec::new();
    for out in outputs {
        let full = cwd.join(out);
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        if meta.is_file() {
            let digest = digest_file(&full).map_err(|e| Error::io(full.display(), e))?;
            blobs.push((digest.clone(), Source::File(full.clone())));
            result.output_files.push(re::OutputFile {
                path: out.clone(),
                digest: Some(digest),
                is_executable: is_executable(&meta),
                ..Default::default()
            });
        } else if meta.is_dir() {
            let (files, dirs) = walk_dir(&full)?;
            for f in &files {
                blobs.push((f.digest.clone(), Source::File(full.join(&f.path))));
            }
            let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
            let tree = merkle::tree(&files, &dirs).map_err(Error::invalid_argument)?;
            let (tree_digest, bytes) = encode(&tree);
            let root_digest = tree.root.as_ref().map(|r| encode(r).0);
            blobs.push((tree_digest.clone(), Source::Bytes(Arc::new(bytes))));
            result.output_directories.push(re::OutputDirectory {
                path: out.clone(),
                tree_digest: Some(tree_digest),
                root_directory_digest: root_digest,
                ..Default::default()
            });
        }
    }
    for (data, slot) in [
        (stdout, &mut result.stdout_digest),
        (stderr, &mut result.stderr_digest),
    ] {
        let digest = super::digest_of(&data);
        blobs.push((digest.clone(), Source::Bytes(Arc::new(data))));
        *slot = Some(digest);
    }
    let missing: std::collections::HashSet<String> = engine
        .find_missing(blobs.iter().map(|(d, _)| d.clone()).collect())?
        .into_iter()
        .map(|d| d.hash)
        .collect();
    let mut seen = std::collections::HashSet::new();
    blobs.retain(|(d, _)| missing.contains(&d.hash) && seen.insert(d.hash.clone()));
    engine.upload(blobs)?;
    Ok(result)
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

/// The files (and folders) below `dir`, digested; a symbolic link is refused.
fn walk_dir(dir: &Path) -> Result<(Vec<TreeFile>, Vec<String>)> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&at).map_err(|e| Error::io(at.display(), e))? {
            let entry = entry.map_err(|e| Error::io(at.display(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(entry.path())
                .map_err(|e| Error::io(entry.path().display(), e))?;
            if meta.is_dir() {
                dirs.push(path.clone());
                stack.push((entry.path(), path));
            } else if meta.is_file() {
                let digest =
                    digest_file(&entry.path()).map_err(|e| Error::io(entry.path().display(), e))?;
                files.push(TreeFile {
                    path,
                    digest,
                    executable: is_executable(&meta),
                });
            } else {
                return Err(Error::invalid_argument(format!(
                    "output {path} is a symbolic link or special file, which is not supported"
                )));
            }
        }
    }
    Ok((files, dirs))
}

/// `arguments` as one shell command line that `exec`s them unchanged.
pub(super) fn shell_words(arguments: &[String]) -> Result<String> {
    if arguments.is_empty() {
        return Err(Error::invalid_argument("the command has no arguments"));
    }
    let quoted: Vec<String> = arguments
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    Ok(format!("exec {}", quoted.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_survive_the_shell() {
        let line =
            shell_words(&["/bin/sh".into(), "-c".into(), "echo 'a b' \"$X\"".into()]).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(line.replace("exec ", "exec /usr/bin/env X=1 "))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b 1\n");
        assert!(shell_words(&[]).is_err());
    }
}
