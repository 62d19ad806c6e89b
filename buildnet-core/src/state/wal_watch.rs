//! Knowing, without a query, whether any process changed the database.
//!
//! In WAL mode every connection of every process shares the wal-index (the `-shm` file, mapped
//! into each process). Its first 48 bytes are the wal-index header, which the committing
//! connection rewrites before its commit returns: the change counter, the last valid frame, the
//! frame checksums and, after a checkpoint restarts the log, new salts. Any commit by anyone
//! therefore changes these bytes, and SQLite itself relies on that to know when its own page
//! cache is stale.
//!
//! The read cache takes a snapshot of the header before reading SQLite and trusts what it
//! cached only while the header still equals that snapshot. A commit that lands between the
//! snapshot and the read makes the cached value newer than its tag, never older, so the cache
//! can miss needlessly but never serve a value another process has since changed or deleted.
//!
//! The mapping stays valid because the store keeps a connection open for its whole life:
//! SQLite only truncates the `-shm` file when the first connection to the database opens it.

use std::path::Path;

use memmap2::{Mmap, MmapOptions};

/// Bytes of the first copy of the wal-index header.
const HEADER_LEN: usize = 48;
/// SQLite grows the `-shm` file in 32 KiB regions; one is there once WAL mode is on.
const MIN_SHM_LEN: u64 = 32 * 1024;

pub(super) type WalVersion = [u8; HEADER_LEN];

pub(super) struct WalWatch {
    map: Mmap,
}

impl WalWatch {
    /// Maps the `-shm` file of `db_path` read-only. `None` when there is none to map (not WAL,
    /// or a VFS without shared memory): the caller then goes without a read cache.
    pub(super) fn open(db_path: &Path) -> Option<WalWatch> {
        let mut shm = db_path.as_os_str().to_owned();
        shm.push("-shm");
        let file = std::fs::File::open(&shm).ok()?;
        if file.metadata().ok()?.len() < MIN_SHM_LEN {
            return None;
        }
        // SAFETY: the file is SQLite's shared wal-index, never truncated while the store holds
        // its connection open (see the module docs); it is only read, through volatile loads,
        // since other processes write it concurrently.
        let map = unsafe { MmapOptions::new().len(HEADER_LEN).map(&file) }.ok()?;
        Some(WalWatch { map })
    }

    /// The current header bytes.
    pub(super) fn version(&self) -> WalVersion {
        let mut out = [0u8; HEADER_LEN];
        let base = self.map.as_ptr();
        for (i, byte) in out.iter_mut().enumerate() {
            // SAFETY: `i < HEADER_LEN`, the mapped length; the memory is shared with writers in
            // other processes, so each byte is read with a volatile load.
            *byte = unsafe { std::ptr::read_volatile(base.add(i)) };
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn header_changes_on_every_commit_from_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let a = Connection::open(&path).unwrap();
        a.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        a.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let watch = WalWatch::open(&path).expect("shm mapped");
        let b = Connection::open(&path).unwrap();
        let mut seen = vec![watch.version()];
        for i in 0..5 {
            let conn = if i % 2 == 0 { &a } else { &b };
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            let v = watch.version();
            assert!(!seen.contains(&v), "commit {i} left the header unchanged");
            seen.push(v);
        }
        let before = watch.version();
        let _: i64 = b
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(watch.version(), before, "a read changed the header");
    }
}
