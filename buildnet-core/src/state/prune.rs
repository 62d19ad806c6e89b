//! Keeping the database from growing without end: old builds, rows of daemons that died,
//! stat-cache rows of deleted files, and the WAL after a spike of writes.

use rusqlite::params;

use super::{now_ms, Store};
use crate::error::Result;

/// What one pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub builds: usize,
    pub workers: usize,
    pub file_stats: usize,
}

impl Store {
    /// Deletes the oldest finished builds beyond the newest `keep` (their target runs go with
    /// them). Queued and running builds are never touched.
    pub fn prune_builds(&self, keep: u64) -> Result<usize> {
        Ok(self.prune_builds_and_due(keep, None)?.0)
    }

    /// [`Store::prune_builds`] after a build, and in the same transaction whether the hourly
    /// clean-up `due` names is due (see [`Store::due`]): one write per build, not two.
    pub fn prune_builds_and_due(
        &self,
        keep: u64,
        due: Option<(&str, i64)>,
    ) -> Result<(usize, bool)> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let due = due.map(|(name, every)| (format!("due:{name}"), every));
        self.write(false, move |c| {
            let pruned = c
                .prepare_cached(
                    "
                    DELETE FROM builds
                    WHERE status NOT IN ('queued', 'running')
                      AND id NOT IN (
                        SELECT id FROM builds WHERE status NOT IN ('queued', 'running')
                        ORDER BY started_at DESC, id DESC LIMIT ?1
                      )
                    ",
                )?
                .execute([keep])?;
            let due = match &due {
                Some((name, every)) => due_in(c, name, *every)?,
                None => false,
            };
            Ok((pruned, due))
        })
    }

    /// Deletes the rows of daemons not heard from for `stale_ms` (killed without a chance to
    /// remove themselves) and the stat-cache rows of files `exists` says are gone.
    pub fn prune_stale(&self, stale_ms: i64, exists: impl Fn(&str) -> bool) -> Result<Pruned> {
        let paths: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT path FROM file_stats")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let gone: Vec<String> = paths.into_iter().filter(|p| !exists(p)).collect();
        let cutoff = now_ms() - stale_ms;
        self.write(false, move |c| {
            let workers = c
                .prepare_cached("DELETE FROM workers WHERE last_heartbeat < ?1")?
                .execute([cutoff])?;
            let mut stmt = c.prepare_cached("DELETE FROM file_stats WHERE path = ?1")?;
            let mut file_stats = 0;
            for path in &gone {
                file_stats += stmt.execute(params![path])?;
            }
            Ok(Pruned {
                builds: 0,
                workers,
                file_stats,
            })
        })
    }

    /// Moves the WAL into the database and truncates it to nothing (a reader still inside it
    /// makes this a partial checkpoint, done again next time).
    pub fn checkpoint(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// Whether `every_ms` passed since this returned `true` for `name` (in any process); the
    /// time is recorded when it does.
    pub fn due(&self, name: &str, every_ms: i64) -> Result<bool> {
        let name = format!("due:{name}");
        self.write(false, move |c| due_in(c, &name, every_ms))
    }
}

/// Whether `every_ms` passed since counter `name` was last set, setting it when it did.
fn due_in(c: &rusqlite::Connection, name: &str, every_ms: i64) -> Result<bool> {
    let now = now_ms();
    let last: Option<i64> = c
        .prepare_cached("SELECT value FROM counters WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .ok();
    if last.is_some_and(|at| (0..every_ms).contains(&(now - at))) {
        return Ok(false);
    }
    c.prepare_cached(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![name, now])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::super::{BuildStatus, WorkerRecord};
    use super::*;

    #[test]
    fn old_builds_dead_workers_and_gone_files_are_pruned() {
        let (_dir, store) = temp_store();
        for i in 0..12 {
            let id = format!("b{i:02}");
            store
                .build_insert(&id, &["t".to_string()], &["t".to_string()])
                .unwrap();
            if i < 11 {
                store.build_finish(&id, BuildStatus::Succeeded).unwrap();
            }
        }
        assert_eq!(store.prune_builds(5).unwrap(), 6);
        let left: Vec<String> = store
            .builds_recent(100)
            .unwrap()
            .into_iter()
            .map(|b| b.id)
            .collect();
        assert_eq!(
            left.len(),
            6,
            "five finished and the one still queued: {left:?}"
        );
        assert!(left.contains(&"b11".to_string()) && left.contains(&"b06".to_string()));
        let worker = |id: &str, beat: i64| WorkerRecord {
            id: id.into(),
            pid: 1,
            host: "127.0.0.1".into(),
            port: 1,
            status: "serving".into(),
            started_at: beat,
            last_heartbeat: beat,
        };
        store
            .worker_register(&worker("dead", now_ms() - 3_600_000))
            .unwrap();
        store.worker_register(&worker("live", now_ms())).unwrap();
        let stat = |p: &str| crate::hash::FileStat {
            path: p.into(),
            size: 1,
            mtime_ns: 1,
            inode: 1,
            hash: [0u8; 32],
        };
        store
            .file_stats_save(vec![stat("/gone"), stat("/here")])
            .unwrap();
        let pruned = store.prune_stale(300_000, |p| p == "/here").unwrap();
        assert_eq!((pruned.workers, pruned.file_stats), (1, 1));
        let ids: Vec<String> = store.workers().unwrap().into_iter().map(|w| w.id).collect();
        assert_eq!(ids, ["live"]);
        assert_eq!(store.file_stats_load().unwrap().len(), 1);
        assert!(store.due("x", 60_000).unwrap());
        assert!(!store.due("x", 60_000).unwrap());
    }

    #[test]
    fn a_spike_of_writes_leaves_no_large_wal_behind() {
        let (dir, store) = temp_store();
        let value = "v".repeat(1024 * 1024);
        // A long reader (another process's open transaction) keeps checkpoints from resetting
        // the WAL, so the spike lands in it whole.
        let reader = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        reader
            .query_row("SELECT count(*) FROM kv", [], |r| r.get::<_, i64>(0))
            .unwrap();
        for i in 0..40 {
            store.kv_set(&format!("k{i}"), &value, None).unwrap();
        }
        let wal = dir.path().join("state.db-wal");
        let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(
            size() > 30 * 1024 * 1024,
            "the spike grew the WAL: {}",
            size()
        );
        reader.execute_batch("COMMIT").unwrap();
        drop(reader);
        for i in 0..40 {
            store.kv_delete(&format!("k{i}")).unwrap();
        }
        store.checkpoint().unwrap();
        assert_eq!(size(), 0, "the checkpoint truncated the WAL");
        // Later writes reuse the WAL from its start: it stays small.
        store.kv_set("small", "x", None).unwrap();
        assert!(size() < 1024 * 1024, "{}", size());
    }
}
