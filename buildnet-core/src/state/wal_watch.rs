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
//! The header is read through SQLite's own mapping of the wal-index, obtained from the VFS
//! (`xShmMap` on the connection's file), never by opening the `-shm` file ourselves: closing any
//! descriptor of that file would drop every POSIX lock this process holds on it, SQLite's
//! included, and let another process think it is alone and reset the file under us. The mapping
//! belongs to the store's writer connection and stays valid for as long as that connection is
//! open, which is the whole life of the store.

use rusqlite::{ffi, Connection};

/// Bytes of the first copy of the wal-index header.
const HEADER_LEN: usize = 48;
/// The size of a wal-index region, as SQLite maps it.
const SHM_REGION: i32 = 32 * 1024;

pub(super) type WalVersion = [u8; HEADER_LEN];

pub(super) struct WalWatch {
    header: *const u8,
}

// SAFETY: the pointer is only ever read, with volatile loads, while the connection that owns the
// mapping is open (see `WalWatch::open`); reading shared memory from any thread is sound.
unsafe impl Send for WalWatch {}
// SAFETY: as above; there is no interior state besides the read-only pointer.
unsafe impl Sync for WalWatch {}

impl WalWatch {
    /// The wal-index header as mapped by `conn`, which must be in WAL mode and have read once.
    /// `None` when the VFS has no shared memory (then the caller goes without a read cache).
    ///
    /// The caller must keep `conn` open for as long as it uses the returned watch.
    pub(super) fn open(conn: &Connection) -> Option<WalWatch> {
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: `conn.handle()` is a live connection; FILE_POINTER writes the main database's
        // sqlite3_file pointer into `file`, which lives as long as the connection.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: `file` is the connection's open file; its methods table is static in the VFS.
        let methods = unsafe { (*file).pMethods };
        // SAFETY: `methods` was just read from a live file object and is non-null when checked.
        if methods.is_null() || unsafe { (*methods).iVersion } < 2 {
            return None;
        }
        // SAFETY: iVersion >= 2, so the table has xShmMap.
        let shm_map = unsafe { (*methods).xShmMap }?;
        let mut region: *mut std::ffi::c_void = std::ptr::null_mut();
        // SAFETY: region 0 is mapped once the connection has read in WAL mode; bExtend = 0 only
        // returns the existing mapping, which stays until the connection closes.
        let rc = unsafe { shm_map(file, 0, SHM_REGION, 0, &mut region) };
        if rc != ffi::SQLITE_OK || region.is_null() {
            return None;
        }
        Some(WalWatch {
            header: region.cast::<u8>().cast_const(),
        })
    }

    /// The current header bytes.
    pub(super) fn version(&self) -> WalVersion {
        let mut out = [0u8; HEADER_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            // SAFETY: `i < HEADER_LEN`, inside region 0; the memory is shared with writers in
            // other processes, so each byte is read with a volatile load.
            *byte = unsafe { std::ptr::read_volatile(self.header.add(i)) };
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_changes_on_every_commit_from_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let a = Connection::open(&path).unwrap();
        a.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        a.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let watch = WalWatch::open(&a).expect("shm mapped");
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
