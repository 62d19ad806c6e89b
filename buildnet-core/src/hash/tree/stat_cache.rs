//! The stat cache: per path, the size, modification time and inode seen when the file was last
//! read, with its hash. A file whose stat is unchanged is not read again. A file modified within
//! [`RACY_WINDOW`] of being hashed is not remembered, since a second write in the same
//! timestamp tick would leave its stat unchanged (git's "racily clean" problem). What it learns
//! is persisted between processes ([`TreeHasher::take_changes`], [`TreeHasher::import`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::TreeHasher;
use crate::error::{Error, Result};

/// Files modified this recently before hashing are read again next time.
const RACY_WINDOW: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    size: u64,
    /// Nanoseconds since the Unix epoch (0 when the platform has no mtime).
    mtime_ns: i64,
    inode: u64,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Stat {
            size: meta.len(),
            mtime_ns,
            inode,
        }
    }
}

/// A remembered stat and hash, as persisted between processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub hash: [u8; 32],
}

impl TreeHasher {
    /// Hash of one file, from the stat cache when its stat is unchanged. The bool says whether
    /// the file was read.
    pub(super) fn hash_one(
        &self,
        path: &Path,
        started: SystemTime,
    ) -> Result<(blake3::Hash, bool)> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
        let stat = Stat::of(&meta);
        if let Some((cached, hash)) = crate::lock(&self.stat_cache).get(path) {
            if *cached == stat {
                return Ok((*hash, false));
            }
        }
        let hash = crate::hash::blake3_file_single(path, stat.size)
            .map_err(|e| Error::io(path.display(), e))?;
        let started_ns = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let settled =
            stat.mtime_ns > 0 && started_ns - stat.mtime_ns >= RACY_WINDOW.as_nanos() as i64;
        let mut cache = crate::lock(&self.stat_cache);
        if settled {
            cache.insert(path.to_path_buf(), (stat, hash));
            crate::lock(&self.changed).push(path.to_path_buf());
        } else {
            cache.remove(path);
        }
        Ok((hash, true))
    }

    /// The hash of one file, from the stat cache when its stat is unchanged.
    pub fn hash_file(&self, path: &Path) -> Result<blake3::Hash> {
        self.hash_one(path, SystemTime::now()).map(|(h, _)| h)
    }

    /// Adds stats remembered by an earlier process (see [`TreeHasher::take_changes`]).
    pub fn import(&self, entries: impl IntoIterator<Item = FileStat>) {
        let mut cache = crate::lock(&self.stat_cache);
        for e in entries {
            let stat = Stat {
                size: e.size,
                mtime_ns: e.mtime_ns,
                inode: e.inode,
            };
            cache
                .entry(e.path)
                .or_insert((stat, blake3::Hash::from_bytes(e.hash)));
        }
    }

    /// The stats remembered since the last call, to persist them.
    pub fn take_changes(&self) -> Vec<FileStat> {
        let changed = std::mem::take(&mut *crate::lock(&self.changed));
        let cache = crate::lock(&self.stat_cache);
        changed
            .into_iter()
            .filter_map(|path| {
                let (stat, hash) = cache.get(&path)?;
                Some(FileStat {
                    size: stat.size,
                    mtime_ns: stat.mtime_ns,
                    inode: stat.inode,
                    hash: *hash.as_bytes(),
                    path,
                })
            })
            .collect()
    }

    /// Forgets every remembered stat.
    pub fn clear(&self) {
        crate::lock(&self.stat_cache).clear();
        crate::lock(&self.changed).clear();
    }
}
