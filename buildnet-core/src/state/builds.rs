//! Build history (builds and their target runs), cache entries, and the key components of each
//! target's last cached run (for explaining a cache miss).

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{now_ms, BuildStatus, Store, TargetStatus};
use crate::error::Result;

/// One build as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BuildRecord {
    pub id: String,
    /// `interrupted`: left running by a process that died.
    pub status: BuildStatus,
    /// The targets asked for (the graph adds their dependencies).
    pub requested: Vec<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub pid: u32,
    /// Every target of the resolved graph, in the order they were resolved.
    pub targets: Vec<TargetRun>,
}

/// One target's part in a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetRun {
    pub target: String,
    pub status: TargetStatus,
    /// Whether the outputs came from the cache.
    pub cached: bool,
    pub cache_key: Option<String>,
    pub exit_code: Option<i32>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// What looked wrong without failing it: an input or output glob that matched no file.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// For a hit from the remote cache: the bytes downloaded (`None` for a local hit or a run).
    #[serde(default)]
    pub remote_bytes: Option<u64>,
    /// For a target whose command a Remote Execution API engine ran (or whose result came from
    /// its action cache): where and how.
    #[serde(default)]
    pub remote_execution: Option<RemoteExecution>,
}

/// Where a remotely executed target ran, as the engine reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemoteExecution {
    /// The engine's address (`grpc://HOST:PORT`).
    pub engine: String,
    /// The action's digest (SHA-256 of the encoded `Action`).
    pub action: String,
    /// Whether the result came from the engine's action cache (nothing was executed).
    pub action_cache: bool,
    /// The worker that executed it, as the engine's execution metadata names it.
    #[serde(default)]
    pub worker: Option<String>,
    /// Milliseconds from the engine queueing the action to a worker taking it.
    #[serde(default)]
    pub queued_ms: Option<u64>,
    /// Milliseconds the worker spent: fetching inputs, running, uploading outputs.
    #[serde(default)]
    pub worker_ms: Option<u64>,
    /// Bytes sent to the engine's CAS for this action (only what it lacked).
    pub uploaded_bytes: u64,
    /// Bytes of outputs and logs fetched from it.
    pub downloaded_bytes: u64,
}

impl TargetRun {
    pub fn pending(target: &str) -> TargetRun {
        TargetRun {
            target: target.to_owned(),
            status: TargetStatus::Pending,
            cached: false,
            cache_key: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            error: None,
            warnings: Vec::new(),
            remote_bytes: None,
            remote_execution: None,
        }
    }
}

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<TargetRun> {
    Ok(TargetRun {
        target: r.get(0)?,
        status: r.get(1)?,
        cached: r.get::<_, i64>(2)? != 0,
        cache_key: r.get(3)?,
        exit_code: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        duration_ms: r.get(7)?,
        error: r.get(8)?,
        warnings: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
        remote_bytes: r.get::<_, Option<i64>>(10)?.map(|b| b as u64),
        remote_execution: r
            .get::<_, Option<String>>(11)?
            .and_then(|j| serde_json::from_str(&j).ok()),
    })
}

impl Store {
    /// Records a new build, `queued` until [`Store::build_started`], and its pending targets.
    pub fn build_insert(&self, id: &str, requested: &[String], targets: &[String]) -> Result<()> {
        let id = id.to_owned();
        let requested = serde_json::to_string(requested).unwrap_or_else(|_| "[]".into());
        let targets = targets.to_vec();
        self.write(false, move |c| {
            c.prepare_cached(
                "
                INSERT INTO builds (id, status, targets, started_at, pid)
                VALUES (?1, 'queued', ?2, ?3, ?4)
                ",
            )?
            .execute(params![id, requested, now_ms(), std::process::id()])?;
            let mut insert = c.prepare_cached(
                "INSERT INTO target_runs (build_id, target, seq, status) VALUES (?1, ?2, ?3, 'pending')",
            )?;
            for (seq, target) in targets.iter().enumerate() {
                insert.execute(params![id, target, seq as i64])?;
            }
            Ok(())
        })
    }

    /// Records that a queued build started running.
    pub fn build_started(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(false, move |c| {
            c.prepare_cached(
                "UPDATE builds SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'queued'",
            )?
            .execute(params![id, now_ms()])?;
            Ok(())
        })
    }

    /// Records the end of a build.
    pub fn build_finish(&self, id: &str, status: BuildStatus) -> Result<()> {
        let id = id.to_owned();
        self.write(true, move |c| {
            let now = now_ms();
            c.prepare_cached(
                "
                UPDATE builds SET status = ?2, finished_at = ?3, duration_ms = ?3 - started_at
                WHERE id = ?1
                ",
            )?
            .execute(params![id, status, now])?;
            Ok(())
        })
    }

    /// Records a target run's current state.
    pub fn target_run_update(&self, build_id: &str, run: &TargetRun) -> Result<()> {
        self.target_runs_update(vec![(build_id.to_owned(), run.clone())])
    }

    /// Records several target runs' states in one transaction.
    pub fn target_runs_update(&self, runs: Vec<(String, TargetRun)>) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let single = runs.len() == 1;
        self.write(single, move |c| {
            let mut stmt = c.prepare_cached(
                "
                UPDATE target_runs SET status = ?3, cached = ?4, cache_key = ?5, exit_code = ?6,
                    started_at = ?7, finished_at = ?8, duration_ms = ?9, error = ?10,
                    warnings = ?11, remote_bytes = ?12, remote_execution = ?13
                WHERE build_id = ?1 AND target = ?2
                ",
            )?;
            for (id, run) in &runs {
                stmt.execute(params![
                    id,
                    run.target,
                    run.status,
                    run.cached as i64,
                    run.cache_key,
                    run.exit_code,
                    run.started_at,
                    run.finished_at,
                    run.duration_ms,
                    run.error,
                    serde_json::to_string(&run.warnings).unwrap_or_else(|_| "[]".into()),
                    run.remote_bytes.map(|b| b as i64),
                    run.remote_execution
                        .as_ref()
                        .and_then(|r| serde_json::to_string(r).ok())
                ])?;
            }
            Ok(())
        })
    }

    /// A build with its target runs.
    pub fn build_get(&self, id: &str) -> Result<Option<BuildRecord>> {
        self.read(|c| {
            let Some(mut build) = c
                .prepare_cached(
                    "
                    SELECT id, status, targets, started_at, finished_at, duration_ms, pid
                    FROM builds WHERE id = ?1
                    ",
                )?
                .query_row([id], build_from_row)
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare_cached(
                "
                SELECT target, status, cached, cache_key, exit_code, started_at, finished_at,
                       duration_ms, error, warnings, remote_bytes, remote_execution
                FROM target_runs WHERE build_id = ?1 ORDER BY seq
                ",
            )?;
            build.targets = stmt
                .query_map([id], run_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(build))
        })
    }

    /// The most recent builds, newest first, without their target runs.
    pub fn builds_recent(&self, limit: usize) -> Result<Vec<BuildRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "
                SELECT id, status, targets, started_at, finished_at, duration_ms, pid
                FROM builds ORDER BY started_at DESC, rowid DESC LIMIT ?1
                ",
            )?;
            let rows = stmt.query_map([limit as i64], build_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Marks builds left `queued` or `running` by processes that no longer exist as `interrupted` (with their
    /// unfinished targets). Returns how many builds were marked.
    pub fn builds_mark_interrupted(&self, is_alive: fn(u32) -> bool) -> Result<usize> {
        // Most opens find nothing running: look before taking the write lock.
        let running: Vec<(String, u32)> = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, pid FROM builds WHERE status IN ('queued', 'running')",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
        })?;
        let dead: Vec<String> = running
            .into_iter()
            .filter(|(_, pid)| !is_alive(*pid))
            .map(|(id, _)| id)
            .collect();
        if dead.is_empty() {
            return Ok(0);
        }
        self.write(false, move |c| {
            let now = now_ms();
            let mut marked = 0;
            for id in &dead {
                marked += c
                    .prepare_cached(
                        "
                        UPDATE builds SET status = 'interrupted', finished_at = ?2,
                            duration_ms = ?2 - started_at
                        WHERE id = ?1 AND status IN ('queued', 'running')
                        ",
                    )?
                    .execute(params![id, now])?;
                c.prepare_cached(
                    "
                    UPDATE target_runs SET status = 'interrupted'
                    WHERE build_id = ?1 AND status IN ('pending', 'running')
                    ",
                )?
                .execute([id])?;
            }
            Ok(marked)
        })
    }

    /// The manifest stored under a cache key.
    pub fn cache_entry(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT manifest FROM cache_entries WHERE key = ?1")?
                    .query_row([key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Stores a manifest under a cache key, with the key components of that run for `target`.
    pub fn cache_put(
        &self,
        key: &str,
        target: &str,
        manifest: &str,
        components: &str,
    ) -> Result<()> {
        let (key, target, manifest, components) = (
            key.to_owned(),
            target.to_owned(),
            manifest.to_owned(),
            components.to_owned(),
        );
        self.write(false, move |c| {
            let now = now_ms();
            c.prepare_cached(
                "
                INSERT OR REPLACE INTO cache_entries (key, target, manifest, created_at)
                VALUES (?1, ?2, ?3, ?4)
                ",
            )?
            .execute(params![key, target, manifest, now])?;
            c.prepare_cached(
                "
                INSERT OR REPLACE INTO target_inputs (target, key, components, updated_at)
                VALUES (?1, ?2, ?3, ?4)
                ",
            )?
            .execute(params![target, key, components, now])?;
            Ok(())
        })
    }

    /// Removes a cache entry whose blobs are gone.
    pub fn cache_remove(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.write(true, move |c| {
            c.prepare_cached("DELETE FROM cache_entries WHERE key = ?1")?
                .execute([key])?;
            Ok(())
        })
    }

    /// The key components of `target`'s last cached run: (key, components JSON).
    pub fn last_cached_components(&self, target: &str) -> Result<Option<(String, String)>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT key, components FROM target_inputs WHERE target = ?1")?
                    .query_row([target], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
            )
        })
    }
}

fn build_from_row(r: &Row<'_>) -> rusqlite::Result<BuildRecord> {
    let requested: String = r.get(2)?;
    Ok(BuildRecord {
        id: r.get(0)?,
        status: r.get(1)?,
        requested: serde_json::from_str(&requested).unwrap_or_default(),
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        duration_ms: r.get(5)?,
        pid: r.get(6)?,
        targets: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::*;

    #[test]
    fn builds_and_runs_roundtrip() {
        let (_dir, store) = temp_store();
        let targets = vec!["lib".to_string(), "app".to_string()];
        store.build_insert("b1", &["app".into()], &targets).unwrap();
        let mut run = TargetRun::pending("lib");
        run.status = TargetStatus::Succeeded;
        run.cached = true;
        run.cache_key = Some("k".into());
        store.target_run_update("b1", &run).unwrap();
        store.build_finish("b1", BuildStatus::Succeeded).unwrap();
        let b = store.build_get("b1").unwrap().unwrap();
        assert_eq!(b.status, BuildStatus::Succeeded);
        assert_eq!(b.requested, vec!["app"]);
        assert_eq!(b.targets.len(), 2);
        assert_eq!(b.targets[0], run);
        assert_eq!(b.targets[1].status, TargetStatus::Pending);
        assert!(b.duration_ms.is_some());
        assert_eq!(store.builds_recent(10).unwrap().len(), 1);
        assert!(store.build_get("nope").unwrap().is_none());
    }

    #[test]
    fn builds_of_dead_processes_are_marked_interrupted() {
        let (_dir, store) = temp_store();
        store.build_insert("b1", &[], &["t".into()]).unwrap();
        assert_eq!(store.builds_mark_interrupted(|_| true).unwrap(), 0);
        assert_eq!(store.builds_mark_interrupted(|_| false).unwrap(), 1);
        let b = store.build_get("b1").unwrap().unwrap();
        assert_eq!(b.status, BuildStatus::Interrupted);
        assert_eq!(b.targets[0].status, TargetStatus::Interrupted);
    }

    #[test]
    fn cache_entries_and_last_components() {
        let (_dir, store) = temp_store();
        assert!(store.cache_entry("k1").unwrap().is_none());
        store
            .cache_put("k1", "lib", "{\"m\":1}", "{\"c\":1}")
            .unwrap();
        assert_eq!(
            store.cache_entry("k1").unwrap().as_deref(),
            Some("{\"m\":1}")
        );
        assert_eq!(
            store.last_cached_components("lib").unwrap(),
            Some(("k1".into(), "{\"c\":1}".into()))
        );
        store.cache_remove("k1").unwrap();
        assert!(store.cache_entry("k1").unwrap().is_none());
    }
}
