//! Leased locks with fencing numbers, exclusive across every process sharing the database.
//!
//! Acquiring reads the current lease and writes the new one in one `BEGIN IMMEDIATE`
//! transaction, so SQLite's write lock serialises acquirers in all processes. A lease that has
//! expired counts as free. Every successful acquisition takes the next value of one persistent
//! counter, so fencing numbers strictly increase across holders, resources and restarts: a
//! resource guarded by a lock can refuse any request carrying a smaller number than it has seen.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::clock::{self, live_sql};
use super::kv::validate_ttl;
use super::{random_token, Store};
use crate::error::{Error, Result};

/// A held lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Lock {
    pub resource: String,
    /// Secret proof of ownership, needed to release or extend.
    pub token: String,
    /// Strictly increasing across all acquisitions of all locks in this database.
    pub fence: i64,
    /// When the lease ends unless extended (Unix ms).
    pub expires_at: i64,
}

fn validate_resource(resource: &str) -> Result<()> {
    if resource.is_empty() || resource.len() > super::kv::MAX_KEY_BYTES || resource.contains('\0') {
        return Err(Error::invalid_argument(format!(
            "lock resource {resource:?} must be 1 to {} bytes without NUL",
            super::kv::MAX_KEY_BYTES
        )));
    }
    Ok(())
}

impl Store {
    /// Takes the lock on `resource` for `ttl_ms`, or returns `None` if someone holds it.
    pub fn acquire_lock(&self, resource: &str, ttl_ms: u64) -> Result<Option<Lock>> {
        validate_resource(resource)?;
        validate_ttl(ttl_ms)?;
        let resource = resource.to_owned();
        let token = random_token()?;
        self.write(false, move |c| {
            let now = clock::now();
            let held: Option<(i64, Option<String>, Option<i64>)> = c
                .prepare_cached("SELECT expires_at, boot, deadline FROM locks WHERE resource = ?1")?
                .query_row([&resource], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            if held.is_some_and(|(at, boot, deadline)| now.live(Some(at), boot.as_deref(), deadline)) {
                return Ok(None);
            }
            let fence: i64 = c
                .prepare_cached(
                    "UPDATE counters SET value = value + 1 WHERE name = 'lock_fence' RETURNING value",
                )?
                .query_row([], |r| r.get(0))?;
            let (expires_at, deadline) = now.after(ttl_ms);
            c.prepare_cached(
                "
                INSERT INTO locks (resource, token, fence, acquired_at, expires_at, boot, deadline)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                ON CONFLICT (resource) DO UPDATE SET
                    token = excluded.token,
                    fence = excluded.fence,
                    acquired_at = excluded.acquired_at,
                    expires_at = excluded.expires_at,
                    boot = excluded.boot,
                    deadline = excluded.deadline
                ",
            )?
            .execute(params![
                resource, token, fence, now.wall, expires_at, now.boot, deadline
            ])?;
            Ok(Some(Lock {
                resource,
                token,
                fence,
                expires_at,
            }))
        })
    }

    /// Releases the lock if `token` holds it; `false` when it was not held by that token (or its
    /// lease had already run out).
    pub fn release_lock(&self, resource: &str, token: &str) -> Result<bool> {
        validate_resource(resource)?;
        let (resource, token) = (resource.to_owned(), token.to_owned());
        self.write(true, move |c| {
            let gone: Option<(i64, Option<String>, Option<i64>)> = c
                .prepare_cached(
                    "DELETE FROM locks WHERE resource = ?1 AND token = ?2
                     RETURNING expires_at, boot, deadline",
                )?
                .query_row([resource, token], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let now = clock::now();
            Ok(gone
                .is_some_and(|(at, boot, deadline)| now.live(Some(at), boot.as_deref(), deadline)))
        })
    }

    /// Extends a held lease to `ttl_ms` from now; `false` if `token` no longer holds it.
    pub fn extend_lock(&self, resource: &str, token: &str, ttl_ms: u64) -> Result<bool> {
        validate_resource(resource)?;
        validate_ttl(ttl_ms)?;
        let (resource, token) = (resource.to_owned(), token.to_owned());
        self.write(true, move |c| {
            let now = clock::now();
            let (expires_at, deadline) = now.after(ttl_ms);
            let changed = c
                .prepare_cached(concat!(
                    "UPDATE locks SET expires_at = ?3, boot = ?4, deadline = ?5
                     WHERE resource = ?1 AND token = ?2 AND ",
                    live_sql!(4, 6, 7)
                ))?
                .execute(params![
                    resource,
                    token,
                    expires_at,
                    now.boot,
                    deadline,
                    now.boot_ms,
                    now.wall
                ])?;
            Ok(changed == 1)
        })
    }

    /// Live leases, by resource.
    pub fn list_locks(&self) -> Result<Vec<Lock>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(concat!(
                "SELECT resource, token, fence, expires_at FROM locks WHERE ",
                live_sql!(1, 2, 3),
                " ORDER BY resource"
            ))?;
            let now = clock::now();
            let rows = stmt.query_map(params![now.boot, now.boot_ms, now.wall], |r| {
                Ok(Lock {
                    resource: r.get(0)?,
                    token: r.get(1)?,
                    fence: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use std::time::Duration;

    #[test]
    fn a_held_lock_excludes_others_until_released() {
        let (_dir, store) = temp_store();
        let first = store.acquire_lock("deploy", 60_000).unwrap().unwrap();
        assert!(store.acquire_lock("deploy", 60_000).unwrap().is_none());
        assert!(!store.release_lock("deploy", "wrong-token").unwrap());
        assert!(store.acquire_lock("deploy", 60_000).unwrap().is_none());
        assert!(store.release_lock("deploy", &first.token).unwrap());
        assert!(!store.release_lock("deploy", &first.token).unwrap());
        let second = store.acquire_lock("deploy", 60_000).unwrap().unwrap();
        assert!(second.fence > first.fence);
        assert_ne!(second.token, first.token);
    }

    #[test]
    fn an_expired_lease_is_free_and_cannot_be_extended() {
        let (_dir, store) = temp_store();
        let first = store.acquire_lock("r", 30).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!store.extend_lock("r", &first.token, 60_000).unwrap());
        let second = store.acquire_lock("r", 60_000).unwrap().unwrap();
        assert!(second.fence > first.fence);
        assert!(!store.release_lock("r", &first.token).unwrap());
        assert_eq!(store.list_locks().unwrap(), vec![second]);
    }

    #[test]
    fn extending_keeps_the_lock() {
        let (_dir, store) = temp_store();
        let lock = store.acquire_lock("r", 40).unwrap().unwrap();
        assert!(store.extend_lock("r", &lock.token, 60_000).unwrap());
        std::thread::sleep(Duration::from_millis(60));
        assert!(store.acquire_lock("r", 1000).unwrap().is_none());
        assert!(!store.extend_lock("r", "other", 60_000).unwrap());
    }

    #[test]
    fn fences_increase_across_resources() {
        let (_dir, store) = temp_store();
        let a = store.acquire_lock("a", 1000).unwrap().unwrap();
        let b = store.acquire_lock("b", 1000).unwrap().unwrap();
        assert_eq!(b.fence, a.fence + 1);
    }
}
