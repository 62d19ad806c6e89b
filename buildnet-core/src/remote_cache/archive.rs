//! Artifacts in Turborepo's format: a zstd-compressed GNU tar of the target's output files at
//! paths relative to the repository root (the task log among them, at its turbo place),
//! owner 0, mtime 0, mode 0644 or 0755.
//!
//! Unpacking trusts nothing: every entry must be a regular file (folders are skipped, since
//! they are made as files need them) at a relative path that stays inside the repository,
//! named once; links, devices and anything else refuse the whole artifact, and so does more
//! than `limit` bytes of contents. Files go into the artifact store as blobs, not onto the
//! disk: the caller restores them as it restores a local hit, with the same confinement.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path};

use crate::cas::ArtifactStore;
use crate::error::{Error, Result};

/// One file of an artifact: where it goes (relative to the repository root, `/`-separated),
/// the blob holding it, and whether it is executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    pub path: String,
    pub blob: String,
    pub size: u64,
    pub executable: bool,
}

/// Writes the artifact of `files` to `out`.
pub fn pack(cas: &ArtifactStore, files: &[ArtifactFile], out: &mut File) -> Result<()> {
    let io = |e: std::io::Error| Error::io("writing an artifact", e);
    let encoder = zstd::stream::write::Encoder::new(out, 3).map_err(io)?;
    let mut tar = tar::Builder::new(encoder);
    for file in files {
        let blob = cas.blob_path(&file.blob)?;
        let src = File::open(&blob).map_err(|e| Error::io(blob.display(), e))?;
        let size = src
            .metadata()
            .map_err(|e| Error::io(blob.display(), e))?
            .len();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, &file.path, src).map_err(io)?;
    }
    let encoder = tar.into_inner().map_err(io)?;
    encoder.finish().map_err(io)?;
    Ok(())
}

/// An entry's path as a relative, `/`-separated path inside the repository.
fn checked_path(path: &Path) -> std::result::Result<String, String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| format!("{} is not UTF-8", path.display()))?,
            ),
            Component::CurDir => {}
            _ => return Err(format!("{} leaves the repository", path.display())),
        }
    }
    if parts.is_empty() {
        return Err("an entry names no file".into());
    }
    Ok(parts.join("/"))
}

/// Reads the artifact in `archive` into blobs of `cas` (see the module documentation).
pub fn unpack(cas: &ArtifactStore, archive: File, limit: u64) -> Result<Vec<ArtifactFile>> {
    let refuse = |why: String| Error::invalid_argument(format!("refusing the artifact: {why}"));
    let io = |e: std::io::Error| refuse(format!("it does not unpack: {e}"));
    let decoder = zstd::stream::read::Decoder::new(archive).map_err(io)?;
    let mut tar = tar::Archive::new(decoder);
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for entry in tar.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let raw_path = entry.path().map_err(io)?.into_owned();
        let path = checked_path(&raw_path).map_err(refuse)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            other => {
                return Err(refuse(format!(
                    "{path} is a {other:?} entry, not a regular file"
                )))
            }
        }
        if !seen.insert(path.clone()) {
            return Err(refuse(format!("{path} is in it twice")));
        }
        let executable = entry.header().mode().map_err(io)? & 0o111 != 0;
        let mut writer = cas.writer()?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > limit {
                return Err(refuse(format!("it holds more than {limit} bytes")));
            }
            writer.write(&buf[..n])?;
        }
        let staged = writer.finish();
        let (blob, size) = (staged.hash.clone(), staged.size);
        cas.commit_staged(staged)?;
        files.push(ArtifactFile {
            path,
            blob,
            size,
            executable,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventBus;
    use crate::state::{Store, StoreOptions};
    use std::sync::Arc;

    fn store() -> (tempfile::TempDir, ArtifactStore) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap());
        let cas = ArtifactStore::open(&dir.path().join("cas"), store, EventBus::new()).unwrap();
        (dir, cas)
    }

    /// One raw entry: the path as written, its type, its contents.
    type Raw<'a> = (&'a str, tar::EntryType, &'a [u8]);

    /// A tar.zst of raw entries.
    fn raw_archive(path: &Path, entries: &[Raw<'_>]) -> File {
        let out = File::create(path).unwrap();
        let mut tar = tar::Builder::new(zstd::stream::write::Encoder::new(out, 3).unwrap());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Written into the name field directly, so `..` and absolute paths get through.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        File::open(path).unwrap()
    }

    #[test]
    fn packs_and_unpacks_turbo_shaped_artifacts() {
        let (dir, cas) = store();
        let long = format!("packages/p/dist/{}/file.js", "deep".repeat(40));
        let a = cas.put_bytes(b"console.log(1)\n").unwrap();
        let b = cas.put_bytes(b"log line\n").unwrap();
        let files = vec![
            ArtifactFile {
                path: "packages/p/dist/index.js".into(),
                blob: a.clone(),
                size: 15,
                executable: true,
            },
            ArtifactFile {
                path: "packages/p/.turbo/turbo-build.log".into(),
                blob: b.clone(),
                size: 9,
                executable: false,
            },
            ArtifactFile {
                path: long.clone(),
                blob: a.clone(),
                size: 15,
                executable: false,
            },
        ];
        let path = dir.path().join("a.tar.zst");
        pack(&cas, &files, &mut File::create(&path).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
        let back = unpack(&cas, File::open(&path).unwrap(), 1 << 20).unwrap();
        assert_eq!(back, files);
        // The limit counts contents.
        let err = unpack(&cas, File::open(&path).unwrap(), 20).unwrap_err();
        assert!(err.message().contains("more than 20 bytes"), "{err}");
    }

    #[test]
    fn hostile_entries_refuse_the_whole_artifact() {
        let (dir, cas) = store();
        let p = dir.path().join("bad.tar.zst");
        let cases: Vec<(Vec<Raw<'_>>, &str)> = vec![
            (
                vec![("../escape.txt", tar::EntryType::Regular, b"x")],
                "leaves",
            ),
            (
                vec![("/etc/cron.d/x", tar::EntryType::Regular, b"x")],
                "leaves",
            ),
            (vec![("pkg/link", tar::EntryType::Symlink, b"")], "Symlink"),
            (vec![("pkg/dev", tar::EntryType::Char, b"")], "Char"),
            (vec![("pkg/hard", tar::EntryType::Link, b"")], "Link"),
            (
                vec![
                    ("pkg/a", tar::EntryType::Regular, b"1"),
                    ("pkg/a", tar::EntryType::Regular, b"2"),
                ],
                "twice",
            ),
        ];
        for (entries, why) in cases {
            let err = unpack(&cas, raw_archive(&p, &entries), 1 << 20).unwrap_err();
            assert!(err.message().contains(why), "{why}: {err}");
        }
        std::fs::write(&p, b"not zstd at all").unwrap();
        let err = unpack(&cas, File::open(&p).unwrap(), 1 << 20).unwrap_err();
        assert!(err.message().contains("does not unpack"), "{err}");
    }
}
