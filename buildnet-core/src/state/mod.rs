//! The state store: one SQLite file in WAL mode, the only module that writes SQL.
//!
//! Writes are group-committed (see [`group_commit`]): concurrent writers share one transaction,
//! a lone writer pays one autocommit statement. Exclusion across processes comes from SQLite's
//! own write lock (`BEGIN IMMEDIATE` with a busy timeout).
//!
//! Reads use a small pool of read connections and, for the key-value store, a read cache that is
//! emptied whenever the database changed in any process (see [`wal_watch`]).
//!
//! Expiry (key-value TTLs, lock leases) is decided by one clock, boot-relative, in [`clock`]:
//! a step of the wall clock changes no deadline, and a reboot ends them all.

mod builds;
mod clock;
mod group_commit;
mod kv;
mod locks;
mod prune;
mod records;
mod served;
mod status;
mod wal_watch;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use crate::config::Durability;
use crate::error::{Error, ErrorCode, Result};
use crate::lock;

pub use builds::{BuildRecord, RemoteExecution, TargetRun};
pub use kv::{KvEntry, KvPage};
pub use locks::Lock;
pub use prune::Pruned;
pub use records::{ArtifactRecord, WorkerRecord};
pub use served::{Protocol, ServedEntry, ServedMeta};
pub use status::{BuildStatus, TargetStatus};

use group_commit::{busy_or_db, WriteQueue};
use kv::ReadCache;
use wal_watch::WalWatch;

/// Milliseconds since the Unix epoch: the one clock every expiry is measured against.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How long a writer waits for another process's write lock before failing with `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

/// Numbered migrations; `PRAGMA user_version` records how many have run. They only add.
const MIGRATIONS: &[&str] = &[
    // 1: key-value store, locks, counters, builds, workers, artifacts.
    "
    CREATE TABLE kv (
        key         TEXT PRIMARY KEY NOT NULL,
        value       TEXT NOT NULL,
        expires_at  INTEGER,
        updated_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;

    CREATE TABLE locks (
        resource     TEXT PRIMARY KEY NOT NULL,
        token        TEXT NOT NULL,
        fence        INTEGER NOT NULL,
        acquired_at  INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE counters (
        name   TEXT PRIMARY KEY NOT NULL,
        value  INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO counters (name, value) VALUES ('lock_fence', 0);

    CREATE TABLE builds (
        id           TEXT PRIMARY KEY NOT NULL,
        status       TEXT NOT NULL,
        targets      TEXT NOT NULL DEFAULT '[]',
        started_at   INTEGER NOT NULL,
        finished_at  INTEGER,
        duration_ms  INTEGER,
        result       TEXT
    ) STRICT;
    CREATE INDEX builds_status ON builds (status);

    CREATE TABLE workers (
        id              TEXT PRIMARY KEY NOT NULL,
        pid             INTEGER NOT NULL,
        host            TEXT NOT NULL,
        port            INTEGER NOT NULL,
        status          TEXT NOT NULL,
        started_at      INTEGER NOT NULL,
        last_heartbeat  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE artifacts (
        hash           TEXT PRIMARY KEY NOT NULL,
        size           INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        last_accessed  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX artifacts_lru ON artifacts (last_accessed);
    ",
    // 2: target runs of builds, the owner of a build, cache entries, last cached key components.
    "
    ALTER TABLE builds ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE target_runs (
        build_id     TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
        target       TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        status       TEXT NOT NULL,
        cached       INTEGER NOT NULL DEFAULT 0,
        cache_key    TEXT,
        exit_code    INTEGER,
        started_at   INTEGER,
        finished_at  INTEGER,
        duration_ms  INTEGER,
        error        TEXT,
        PRIMARY KEY (build_id, target)
    ) STRICT;

    CREATE TABLE cache_entries (
        key         TEXT PRIMARY KEY NOT NULL,
        target      TEXT NOT NULL,
        manifest    TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE target_inputs (
        target      TEXT PRIMARY KEY NOT NULL,
        key         TEXT NOT NULL,
        components  TEXT NOT NULL,
        updated_at  INTEGER NOT NULL
    ) STRICT;
    ",
    // 3: the tree hasher's stat cache, so a new process does not read unchanged files again.
    "
    CREATE TABLE file_stats (
        path      TEXT PRIMARY KEY NOT NULL,
        size      INTEGER NOT NULL,
        mtime_ns  INTEGER NOT NULL,
        inode     INTEGER NOT NULL,
        hash      BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;
    ",
    // 4: what looked wrong in a target run without failing it (a glob that matched nothing).
    "
    ALTER TABLE target_runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
    ",
    // 5: artifacts served to remote-cache clients (turbo, nx, Bazel): their keys, per protocol
    // and namespace, naming blobs of the artifact store; and the bytes a target's hit took
    // from a remote cache.
    "
    ALTER TABLE target_runs ADD COLUMN remote_bytes INTEGER;

    CREATE TABLE served (
        protocol    TEXT NOT NULL,
        namespace   TEXT NOT NULL,
        key         TEXT NOT NULL,
        blob        TEXT NOT NULL,
        size        INTEGER NOT NULL,
        meta        TEXT NOT NULL DEFAULT '{}',
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (protocol, namespace, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX served_blob ON served (blob);
    ",
    // 6: expiry on the boot clock (see `clock`): the boot a TTL'd row was written in and its
    // deadline on that boot's `CLOCK_BOOTTIME`.
    "
    ALTER TABLE kv ADD COLUMN boot TEXT;
    ALTER TABLE kv ADD COLUMN deadline INTEGER;
    ALTER TABLE locks ADD COLUMN boot TEXT;
    ALTER TABLE locks ADD COLUMN deadline INTEGER;
    ",
    // 7: where a remotely executed target ran (JSON of `RemoteExecution`).
    "
    ALTER TABLE target_runs ADD COLUMN remote_execution TEXT;
    ",
];

/// Options for opening a [`Store`].
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Serve key-value reads from memory while no process changed the database.
    pub read_cache: bool,
    pub durability: Durability,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            read_cache: true,
            durability: Durability::Normal,
        }
    }
}

/// Handle to the state database. `Send + Sync`; share it behind an `Arc`.
pub struct Store {
    path: PathBuf,
    /// Dropped by hand (see `Drop`), so a forked child can leave it unclosed.
    writer: std::mem::ManuallyDrop<WriteQueue>,
    readers: Mutex<Vec<Connection>>,
    cache: Option<ReadCache>,
    /// The fork generation the store was opened in ([`crate::runtime::fork_generation`]).
    fork_generation: u64,
}

impl Drop for Store {
    /// In a forked child the connections are the parent's: closing one there could checkpoint
    /// and delete the WAL under the parent (SQLite's "how to corrupt" §2.6). The child forgets
    /// them instead; their memory goes with the process.
    fn drop(&mut self) {
        if crate::runtime::fork_generation() != self.fork_generation {
            let readers = std::mem::take(self.readers.get_mut().unwrap_or_else(|p| p.into_inner()));
            std::mem::forget(readers);
        } else {
            // SAFETY: dropped once, here, and never used again (the store is being dropped).
            unsafe { std::mem::ManuallyDrop::drop(&mut self.writer) };
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        make_private(path)?;
        let writer = open_connection(path, options.durability).map_err(|e| name_file(path, e))?;
        migrate(&writer, path).map_err(|e| name_file(path, e))?;
        // The watch reads the writer connection's mapping: both live as long as the store.
        let cache = if options.read_cache {
            WalWatch::open(&writer).map(ReadCache::new)
        } else {
            None
        };
        Ok(Store {
            path: path.to_path_buf(),
            writer: std::mem::ManuallyDrop::new(WriteQueue::new(
                writer,
                options.durability == Durability::Full,
            )),
            readers: Mutex::new(Vec::new()),
            cache,
            fork_generation: crate::runtime::fork_generation(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether key-value reads go through the read cache.
    pub fn has_read_cache(&self) -> bool {
        self.cache.is_some()
    }

    /// Runs `f` in a write transaction, group-committed with concurrent writers.
    fn write<R, F>(&self, single_statement: bool, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.writer
            .write(single_statement, f)
            .map_err(|e| name_file(&self.path, e))
    }

    /// Runs `f` on a pooled read connection.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let conn = match lock(&self.readers).pop() {
            Some(conn) => conn,
            None => open_connection(&self.path, Durability::Normal)?,
        };
        let result = f(&conn).map_err(|e| name_file(&self.path, e));
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    /// Runs `PRAGMA integrity_check` and returns its verdict (`"ok"` when sound).
    pub fn integrity_check(&self) -> Result<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
    }

    /// Deletes expired keys and lock leases; returns how many rows went.
    pub fn sweep_expired(&self) -> Result<usize> {
        self.write(false, |c| {
            let now = clock::now();
            let now = rusqlite::params![now.boot, now.boot_ms, now.wall];
            let kv = c
                .prepare_cached(concat!(
                    "DELETE FROM kv WHERE expires_at IS NOT NULL AND NOT ",
                    clock::live_sql!(1, 2, 3)
                ))?
                .execute(now)?;
            let locks = c
                .prepare_cached(concat!(
                    "DELETE FROM locks WHERE NOT ",
                    clock::live_sql!(1, 2, 3)
                ))?
                .execute(now)?;
            Ok(kv + locks)
        })
    }
}

/// Opens one connection with the pragmas of the design: WAL, a busy timeout, a page cache and
/// memory-mapped reads, and the `synchronous` level of `durability` (reads never sync).
fn open_connection(path: &Path, durability: Durability) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        Error::new(
            ErrorCode::Database,
            format!("cannot open state database {}: {e}", path.display()),
        )
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        retry_while_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            ErrorCode::Database,
            format!(
                "{} could not be put in WAL mode (got {mode})",
                path.display()
            ),
        ));
    }
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {synchronous};"))?;
    conn.execute_batch(
        "
        PRAGMA journal_size_limit = 67108864;
        PRAGMA cache_size = -64000;
        PRAGMA mmap_size = 268435456;
        PRAGMA temp_store = MEMORY;
        PRAGMA foreign_keys = ON;
        ",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs `f` again while SQLite answers `SQLITE_BUSY` without calling the busy handler, which it
/// does where waiting could deadlock: two processes creating a new database at once both read
/// it, then both need it exclusively to switch it to WAL. At most [`BUSY_TIMEOUT`].
fn retry_while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(err)
                if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// Runs the migrations this file has not seen yet, in one transaction that other processes wait
/// for, so two processes opening a new file at once do not both migrate it.
fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let current = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current == MIGRATIONS.len() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(busy_or_db)?;
    let result = (|| {
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
        if version > MIGRATIONS.len() {
            return Err(Error::new(
                ErrorCode::Database,
                format!(
                    "{} has schema version {version}, newer than this buildnet knows ({}); \
                     upgrade buildnet",
                    path.display(),
                    MIGRATIONS.len()
                ),
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            conn.execute_batch(sql)?;
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(busy_or_db),
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// A random 128-bit token as 32 hex digits.
pub(crate) fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("no randomness available: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Names the database file in a database error, and says what to do with a damaged one.
fn name_file(path: &Path, err: Error) -> Error {
    let shown = path.display().to_string();
    if err.code() != ErrorCode::Database || err.message().contains(&shown) {
        return err;
    }
    let message = err.message();
    let message = message.strip_prefix("state database: ").unwrap_or(message);
    let damaged = ["not a database", "malformed", "corrupt"]
        .iter()
        .any(|m| message.contains(m));
    let hint = if damaged {
        " (the file is damaged: move it aside, with its -wal and -shm files, and BuildNet \
         starts a new one; the cache's blobs stay where they are)"
    } else if path.parent().is_some_and(|dir| free_bytes(dir) < 64 * 1024) {
        " (no space is left on the file system that holds it)"
    } else {
        ""
    };
    Error::new(
        ErrorCode::Database,
        format!("state database {shown}: {message}{hint}"),
    )
}

/// Bytes an unprivileged writer may still use on the file system holding `dir` (`u64::MAX` when
/// unknown).
fn free_bytes(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return u64::MAX;
    };
    // SAFETY: an all-zero statvfs is a valid value for statvfs(3) to fill in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs of a NUL-terminated path into a local.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return u64::MAX;
    }
    (st.f_bavail as u64).saturating_mul(st.f_frsize as u64)
}

/// Creates the database file 0600 before SQLite does (SQLite gives its `-wal` and `-shm` files
/// the database's mode), and takes group and other permissions off existing ones.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if !path.exists() {
        std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(crate::state_dir::FILE_MODE)
            .open(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if !file.exists() {
            continue;
        }
        // A database someone else owns (a shared cache) or keeps read-only on purpose keeps
        // its mode: SQLite then says what it can and cannot do with it.
        if let Err(err) = crate::state_dir::make_private(&file, crate::state_dir::FILE_MODE) {
            tracing::warn!(%err, "the state database stays readable by others");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::group_commit::Job;
    use super::*;
    use std::any::Any;
    use std::sync::Arc;

    pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
        (dir, store)
    }

    /// A forked child that drops its copy of the store must not close the parent's
    /// connections: the last close checkpoints and deletes the WAL the parent still uses.
    #[test]
    fn a_forked_child_dropping_the_store_leaves_the_parents_database_alone() {
        let (dir, store) = temp_store();
        store.kv_set("before", "1", None).unwrap();
        let _ = store.kv_get("before").unwrap();
        let wal = dir.path().join("state.db-wal");
        assert!(wal.exists());
        crate::runtime::fork_generation();
        // SAFETY: the child drops the store (no locks are held meanwhile: nothing else runs
        // in this test) and exits at once.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let store = unsafe { std::ptr::read(&store) };
            drop(store);
            // SAFETY: leaves the child without running the parent's destructors again.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: reaps the child forked above.
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert_eq!(status, 0, "the child failed");
        assert!(wal.exists(), "the child's close removed the parent's WAL");
        store.kv_set("after", "2", None).unwrap();
        drop(store);
        let again = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
        assert_eq!(again.kv_get("before").unwrap().as_deref(), Some("1"));
        assert_eq!(again.kv_get("after").unwrap().as_deref(), Some("2"));
        assert_eq!(again.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn many_opening_a_new_database_at_once_all_succeed() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("state-{round}.db"));
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                for _ in 0..8 {
                    scope.spawn(|| {
                        barrier.wait();
                        let store = Store::open(&path, StoreOptions::default())
                            .expect("a concurrent open of a new database");
                        store.kv_set("k", "v", None).unwrap();
                    });
                }
            });
        }
    }

    #[test]
    fn opens_in_wal_mode_with_current_schema() {
        let (_dir, store) = temp_store();
        let (mode, version): (String, i64) = store
            .read(|c| {
                Ok((
                    c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    c.query_row("PRAGMA user_version", [], |r| r.get(0))?,
                ))
            })
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(version as usize, MIGRATIONS.len());
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn reopening_keeps_data_and_does_not_migrate_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let store = Store::open(&path, StoreOptions::default()).unwrap();
            store.kv_set("k", "v", None).unwrap();
        }
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        assert_eq!(store.kv_get("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA user_version = 999").unwrap();
        }
        let err = Store::open(&path, StoreOptions::default()).err().unwrap();
        assert_eq!(err.code(), ErrorCode::Database);
        assert!(err.message().contains("999"), "{}", err.message());
    }

    #[test]
    fn concurrent_writers_all_commit() {
        let (_dir, store) = temp_store();
        let store = Arc::new(store);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        store
                            .kv_set(&format!("t{t}/{i}"), &i.to_string(), None)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.kv_list("", 10_000).unwrap().len(), 1600);
        assert_eq!(store.kv_get("t7/199").unwrap().as_deref(), Some("199"));
    }

    #[test]
    fn a_failing_write_in_a_shared_batch_does_not_undo_the_others() {
        let (_dir, store) = temp_store();
        let bad = Job::new(
            false,
            Box::new(|c| {
                c.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES ('a', '1', 0)",
                    [],
                )?;
                Err(Error::invalid_argument("this job fails after writing"))
            }),
        );
        let good = Job::new(
            false,
            Box::new(|c| {
                c.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES ('b', '2', 0)",
                    [],
                )?;
                Ok(Box::new(()) as Box<dyn Any + Send>)
            }),
        );
        let (bad_handle, good_handle) = (bad.handle(), good.handle());
        store.writer.run_batch_for_test(vec![bad, good]);
        assert!(bad_handle.take_output().unwrap().is_err());
        assert!(good_handle.take_output().unwrap().is_ok());
        assert_eq!(store.kv_get("a").unwrap(), None);
        assert_eq!(store.kv_get("b").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn a_panicking_write_fails_alone_and_the_queue_keeps_working() {
        let (_dir, store) = temp_store();
        let err = store
            .write(true, |_| -> Result<()> { panic!("a bug in a write") })
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Internal);
        let panicking = Job::new(false, Box::new(|_| panic!("a bug in a batched write")));
        let fine = Job::new(
            false,
            Box::new(|c| {
                c.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES ('c', '3', 0)",
                    [],
                )?;
                Ok(Box::new(()) as Box<dyn Any + Send>)
            }),
        );
        let (p, f) = (panicking.handle(), fine.handle());
        store.writer.run_batch_for_test(vec![panicking, fine]);
        assert!(p.take_output().unwrap().is_err());
        assert!(f.take_output().unwrap().is_ok());
        store.kv_set("after", "ok", None).unwrap();
        assert_eq!(store.kv_get("c").unwrap().as_deref(), Some("3"));
        assert_eq!(store.kv_get("after").unwrap().as_deref(), Some("ok"));
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
