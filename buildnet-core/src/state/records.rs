//! Records kept for other modules: artifact blobs (for the artifact store's accounting and LRU
//! collection) and worker processes (each running daemon registers itself).

use rusqlite::params;
use serde::Serialize;

use super::{now_ms, Store};
use crate::error::Result;

/// One blob of the artifact store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ArtifactRecord {
    pub hash: String,
    pub size: u64,
    pub created_at: i64,
    pub last_accessed: i64,
}

/// A daemon process serving this database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WorkerRecord {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub port: u16,
    pub status: String,
    pub started_at: i64,
    pub last_heartbeat: i64,
}

impl Store {
    /// Every remembered file stat.
    pub fn file_stats_load(&self) -> Result<Vec<crate::hash::FileStat>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT path, size, mtime_ns, inode, hash FROM file_stats")?;
            let rows = stmt.query_map([], |r| {
                let hash: Vec<u8> = r.get(4)?;
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)?,
                    hash,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (path, size, mtime_ns, inode, hash) = row?;
                if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
                    out.push(crate::hash::FileStat {
                        path: path.into(),
                        size: size as u64,
                        mtime_ns,
                        inode: inode as u64,
                        hash,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Remembers file stats (replacing older ones for the same paths).
    pub fn file_stats_save(&self, stats: Vec<crate::hash::FileStat>) -> Result<()> {
        if stats.is_empty() {
            return Ok(());
        }
        self.write(false, move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT OR REPLACE INTO file_stats (path, size, mtime_ns, inode, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for s in &stats {
                stmt.execute(params![
                    s.path.to_string_lossy(),
                    s.size as i64,
                    s.mtime_ns,
                    s.inode as i64,
                    &s.hash[..]
                ])?;
            }
            Ok(())
        })
    }

    /// Records a stored blob (or refreshes its access time if it is already known).
    pub fn artifact_put(&self, hash: &str, size: u64) -> Result<()> {
        let hash = hash.to_owned();
        self.write(true, move |c| {
            let now = now_ms();
            c.prepare_cached(
                "
                INSERT INTO artifacts (hash, size, created_at, last_accessed) VALUES (?1, ?2, ?3, ?3)
                ON CONFLICT (hash) DO UPDATE SET size = excluded.size, last_accessed = excluded.last_accessed
                ",
            )?
            .execute(params![hash, size as i64, now])?;
            Ok(())
        })
    }

    /// Marks a blob as just used.
    pub fn artifact_touch(&self, hash: &str) -> Result<()> {
        self.artifacts_touch(vec![hash.to_owned()])
    }

    /// Marks several blobs as just used, in one transaction.
    pub fn artifacts_touch(&self, hashes: Vec<String>) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let single = hashes.len() == 1;
        self.write(single, move |c| {
            let mut stmt =
                c.prepare_cached("UPDATE artifacts SET last_accessed = ?2 WHERE hash = ?1")?;
            let now = now_ms();
            for hash in &hashes {
                stmt.execute(params![hash, now])?;
            }
            Ok(())
        })
    }

    /// Forgets a blob, and every served key that named it.
    pub fn artifact_remove(&self, hash: &str) -> Result<()> {
        let hash = hash.to_owned();
        self.write(false, move |c| {
            c.prepare_cached("DELETE FROM artifacts WHERE hash = ?1")?
                .execute([&hash])?;
            c.prepare_cached("DELETE FROM served WHERE blob = ?1")?
                .execute([&hash])?;
            Ok(())
        })
    }

    /// Number of blobs and their total size in bytes.
    pub fn artifact_totals(&self) -> Result<(u64, u64)> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT count(*), coalesce(sum(size), 0) FROM artifacts")?
                    .query_row([], |r| {
                        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                    })?,
            )
        })
    }

    /// Blobs, least recently used first, from `offset`, at most `limit`.
    pub fn artifacts_by_last_access(&self, offset: u64, limit: u64) -> Result<Vec<ArtifactRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "
                SELECT hash, size, created_at, last_accessed FROM artifacts
                ORDER BY last_accessed, hash LIMIT ?1 OFFSET ?2
                ",
            )?;
            let rows = stmt.query_map(params![limit as i64, offset as i64], |r| {
                Ok(ArtifactRecord {
                    hash: r.get(0)?,
                    size: r.get::<_, i64>(1)? as u64,
                    created_at: r.get(2)?,
                    last_accessed: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Registers (or re-registers) a running daemon.
    pub fn worker_register(&self, worker: &WorkerRecord) -> Result<()> {
        let w = worker.clone();
        self.write(true, move |c| {
            c.prepare_cached(
                "
                INSERT OR REPLACE INTO workers
                    (id, pid, host, port, status, started_at, last_heartbeat)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                ",
            )?
            .execute(params![
                w.id,
                w.pid,
                w.host,
                w.port,
                w.status,
                w.started_at,
                w.last_heartbeat
            ])?;
            Ok(())
        })
    }

    /// Records that a daemon is still alive.
    /// Records that daemon `id` is alive; `false` if its row is gone (pruned after a long
    /// suspend): it must register again.
    pub fn worker_heartbeat(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(true, move |c| {
            let changed = c
                .prepare_cached("UPDATE workers SET last_heartbeat = ?2 WHERE id = ?1")?
                .execute(params![id, now_ms()])?;
            Ok(changed == 1)
        })
    }

    /// Removes a daemon that stopped.
    pub fn worker_remove(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(true, move |c| {
            c.prepare_cached("DELETE FROM workers WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
    }

    /// Registered daemons, oldest first.
    pub fn workers(&self) -> Result<Vec<WorkerRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "
                SELECT id, pid, host, port, status, started_at, last_heartbeat
                FROM workers ORDER BY started_at, id
                ",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(WorkerRecord {
                    id: r.get(0)?,
                    pid: r.get(1)?,
                    host: r.get(2)?,
                    port: r.get(3)?,
                    status: r.get(4)?,
                    started_at: r.get(5)?,
                    last_heartbeat: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::*;

    #[test]
    fn artifact_accounting_and_lru_order() {
        let (_dir, store) = temp_store();
        store.artifact_put("aa", 10).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        store.artifact_put("bb", 20).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        store.artifact_touch("aa").unwrap();
        assert_eq!(store.artifact_totals().unwrap(), (2, 30));
        let order: Vec<_> = store
            .artifacts_by_last_access(0, 10)
            .unwrap()
            .into_iter()
            .map(|a| a.hash)
            .collect();
        assert_eq!(order, vec!["bb", "aa"]);
        store.artifact_remove("bb").unwrap();
        assert_eq!(store.artifact_totals().unwrap(), (1, 10));
    }

    #[test]
    fn workers_register_and_leave() {
        let (_dir, store) = temp_store();
        let w = WorkerRecord {
            id: "w1".into(),
            pid: 42,
            host: "127.0.0.1".into(),
            port: 7890,
            status: "serving".into(),
            started_at: 1,
            last_heartbeat: 1,
        };
        store.worker_register(&w).unwrap();
        store.worker_heartbeat("w1").unwrap();
        let listed = store.workers().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_heartbeat > 1);
        store.worker_remove("w1").unwrap();
        assert!(store.workers().unwrap().is_empty());
    }
}
