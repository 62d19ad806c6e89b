//! The key-value store with TTL, and its read cache.
//!
//! Keys are non-empty UTF-8 strings of at most [`MAX_KEY_BYTES`] bytes without NUL; values are
//! UTF-8 strings of at most [`MAX_VALUE_BYTES`]. A key whose TTL has passed is never returned,
//! whether or not the sweeper has deleted its row yet.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::clock::{self, live_sql};
use super::wal_watch::{WalVersion, WalWatch};
use super::Store;
use crate::error::{Error, Result};
use crate::lock;

pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;
/// Longest TTL accepted: about 100 years.
pub const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
/// Entries the read cache holds before it starts over.
const CACHE_CAPACITY: usize = 16 * 1024;
/// Bytes of keys and values the read cache holds before it starts over.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Values larger than this are not cached (copying them costs more than the read saves).
const CACHE_MAX_VALUE: usize = 1024 * 1024;

/// A value with its `expires_at`, `boot` and `deadline` columns.
type ValueRow = (String, Option<i64>, Option<String>, Option<i64>);

/// One key with its value and expiry (Unix ms, `None` for never).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct KvEntry {
    pub key: String,
    pub value: String,
    pub expires_at: Option<i64>,
}

/// One page of a listing; `next` is where the next page starts (`after=`), if there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct KvPage {
    pub entries: Vec<KvEntry>,
    pub next: Option<String>,
}

pub(crate) fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_argument("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::invalid_argument(format!(
            "key is {} bytes, more than the {MAX_KEY_BYTES} allowed",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(Error::invalid_argument(format!("key {key:?} contains NUL")));
    }
    Ok(())
}

pub(crate) fn validate_ttl(ttl_ms: u64) -> Result<()> {
    if ttl_ms == 0 || ttl_ms > MAX_TTL_MS {
        return Err(Error::invalid_argument(format!(
            "field `ttl_ms`: TTL must be between 1 and {MAX_TTL_MS} ms, got {ttl_ms}"
        )));
    }
    Ok(())
}

impl Store {
    /// The value of `key`, or `None` if it is absent or expired.
    pub fn kv_get(&self, key: &str) -> Result<Option<String>> {
        validate_key(key)?;
        let Some(cache) = &self.cache else {
            return self.kv_get_from_db(key).map(|e| e.map(|(v, _)| v));
        };
        let version = cache.watch.version();
        if let Some(hit) = cache.lookup(&version, key) {
            return Ok(hit);
        }
        let found = self.kv_get_from_db(key)?;
        let value = found.as_ref().map(|(v, _)| v.clone());
        cache.insert(&version, key, found);
        Ok(value)
    }

    /// The live value of `key` and, when it expires, its deadline on this boot's clock.
    fn kv_get_from_db(&self, key: &str) -> Result<Option<(String, Option<i64>)>> {
        let now = clock::now();
        let row: Option<ValueRow> = self.read(|c| {
            Ok(c.prepare_cached(concat!(
                "SELECT value, expires_at, boot, deadline FROM kv WHERE key = ?1 AND ",
                live_sql!(2, 3, 4)
            ))?
            .query_row(params![key, now.boot, now.boot_ms, now.wall], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?)
        })?;
        Ok(row.map(|(value, at, boot, deadline)| {
            let left = now.left(at, boot.as_deref(), deadline);
            (value, left.map(|ms| now.boot_ms + ms))
        }))
    }

    /// Sets `key` to `value`, expiring after `ttl_ms` if given. Returns once committed.
    pub fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<()> {
        validate_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::invalid_argument(format!(
                "value is {} bytes, more than the {MAX_VALUE_BYTES} allowed",
                value.len()
            )));
        }
        if let Some(ttl) = ttl_ms {
            validate_ttl(ttl)?;
        }
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(true, move |c| {
            let now = clock::now();
            let expiry = ttl_ms.map(|t| now.after(t));
            c.prepare_cached(
                "
                INSERT INTO kv (key, value, expires_at, updated_at, boot, deadline)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT (key) DO UPDATE SET
                    value = excluded.value,
                    expires_at = excluded.expires_at,
                    updated_at = excluded.updated_at,
                    boot = excluded.boot,
                    deadline = excluded.deadline
                ",
            )?
            .execute(params![
                key,
                value,
                expiry.map(|e| e.0),
                now.wall,
                expiry.map(|_| now.boot),
                expiry.map(|e| e.1)
            ])?;
            Ok(())
        })
    }

    /// Deletes `key`; returns whether a live (unexpired) value was there.
    pub fn kv_delete(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let key = key.to_owned();
        self.write(true, move |c| {
            let gone: Option<(Option<i64>, Option<String>, Option<i64>)> = c
                .prepare_cached(
                    "DELETE FROM kv WHERE key = ?1 RETURNING expires_at, boot, deadline",
                )?
                .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let now = clock::now();
            Ok(gone.is_some_and(|(at, boot, deadline)| now.live(at, boot.as_deref(), deadline)))
        })
    }

    /// Live entries whose key starts with `prefix`, in key order, at most `limit` of them.
    pub fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<KvEntry>> {
        Ok(self.kv_page(prefix, None, limit, usize::MAX)?.entries)
    }

    /// One page of [`Store::kv_list`]: keys after `after`, at most `limit` entries and about
    /// `max_bytes` of keys and values (always at least one entry, so paging moves on).
    /// `next` is the key to pass as `after` for the next page, when there is one.
    pub fn kv_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<KvPage> {
        let upper = prefix_upper_bound(prefix);
        // One more than asked for tells whether another page follows.
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut stmt = c.prepare_cached(concat!(
                "SELECT key, value, expires_at FROM kv
                WHERE key >= ?1 AND (?2 IS NULL OR key < ?2) AND (?4 IS NULL OR key > ?4) AND ",
                live_sql!(5, 6, 7),
                " ORDER BY key LIMIT ?3"
            ))?;
            let now = clock::now();
            let mut rows = stmt.query(params![
                prefix,
                upper,
                fetch,
                after,
                now.boot,
                now.boot_ms,
                now.wall
            ])?;
            let mut page = KvPage::default();
            let mut bytes = 0usize;
            while let Some(r) = rows.next()? {
                let full =
                    page.entries.len() >= limit || (!page.entries.is_empty() && bytes >= max_bytes);
                if full {
                    page.next = page.entries.last().map(|e| e.key.clone());
                    break;
                }
                let entry = KvEntry {
                    key: r.get(0)?,
                    value: r.get(1)?,
                    expires_at: r.get(2)?,
                };
                bytes += entry.key.len() + entry.value.len();
                page.entries.push(entry);
            }
            Ok(page)
        })
    }

    /// How many live keys there are.
    pub fn kv_count(&self) -> Result<u64> {
        let now = clock::now();
        self.read(|c| {
            Ok(c.prepare_cached(concat!(
                "SELECT count(*) FROM kv WHERE ",
                live_sql!(1, 2, 3)
            ))?
            .query_row(params![now.boot, now.boot_ms, now.wall], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
    }
}

/// The smallest string greater than every string that starts with `prefix` (`None`: no bound).
/// SQLite compares TEXT bytewise, and UTF-8 byte order is code point order, so the bound is the
/// prefix with its last character replaced by the next scalar value.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Values read from SQLite, trusted only while the wal-index header is unchanged.
pub(super) struct ReadCache {
    pub(super) watch: WalWatch,
    inner: Mutex<CacheInner>,
}

struct CacheInner {
    version: WalVersion,
    /// Key -> value and its deadline on the boot clock (which, unlike `Instant`, counts a
    /// suspend); `None` records a key known to be absent.
    entries: HashMap<String, Option<(String, Option<i64>)>>,
    /// Bytes of the keys and values in `entries`.
    bytes: usize,
}

fn entry_bytes(key: &str, found: &Option<(String, Option<i64>)>) -> usize {
    key.len() + found.as_ref().map_or(0, |(v, _)| v.len())
}

impl ReadCache {
    pub(super) fn new(watch: WalWatch) -> ReadCache {
        let version = watch.version();
        ReadCache {
            watch,
            inner: Mutex::new(CacheInner {
                version,
                entries: HashMap::new(),
                bytes: 0,
            }),
        }
    }

    /// `Some(answer)` when the cache knows the answer at `version`.
    fn lookup(&self, version: &WalVersion, key: &str) -> Option<Option<String>> {
        let mut inner = lock(&self.inner);
        if inner.version != *version {
            inner.entries.clear();
            inner.bytes = 0;
            inner.version = *version;
            return None;
        }
        match inner.entries.get(key)? {
            None => Some(None),
            Some((value, until)) => match until {
                Some(at) if *at <= clock::now().boot_ms => None,
                _ => Some(Some(value.clone())),
            },
        }
    }

    /// Remembers what a read that started at `version` found.
    fn insert(&self, version: &WalVersion, key: &str, found: Option<(String, Option<i64>)>) {
        let mut inner = lock(&self.inner);
        if inner.version != *version {
            return;
        }
        let size = entry_bytes(key, &found);
        if size > CACHE_MAX_VALUE {
            return;
        }
        if inner.entries.len() >= CACHE_CAPACITY || inner.bytes + size > CACHE_BYTES {
            inner.entries.clear();
            inner.bytes = 0;
        }
        if let Some(old) = inner.entries.insert(key.to_owned(), found) {
            inner.bytes -= entry_bytes(key, &old);
        }
        inner.bytes += size;
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.entries.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::super::StoreOptions;
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn set_get_delete_roundtrip() {
        let (_dir, store) = temp_store();
        assert_eq!(store.kv_get("a").unwrap(), None);
        store.kv_set("a", "1", None).unwrap();
        assert_eq!(store.kv_get("a").unwrap().as_deref(), Some("1"));
        store.kv_set("a", "2", None).unwrap();
        assert_eq!(store.kv_get("a").unwrap().as_deref(), Some("2"));
        assert!(store.kv_delete("a").unwrap());
        assert!(!store.kv_delete("a").unwrap());
        assert_eq!(store.kv_get("a").unwrap(), None);
    }

    #[test]
    fn expired_keys_are_never_returned_and_are_swept() {
        let (_dir, store) = temp_store();
        store.kv_set("short", "x", Some(30)).unwrap();
        store.kv_set("long", "y", Some(60_000)).unwrap();
        assert_eq!(store.kv_get("short").unwrap().as_deref(), Some("x"));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(store.kv_get("short").unwrap(), None);
        let keys: Vec<_> = store
            .kv_list("", 10)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, vec!["long"]);
        assert_eq!(store.kv_count().unwrap(), 1);
        assert_eq!(store.sweep_expired().unwrap(), 1);
        let rows: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM kv", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn pages_are_bounded_by_count_and_by_bytes_and_cover_everything() {
        let (_dir, store) = temp_store();
        let big = "x".repeat(300 * 1024);
        for i in 0..40 {
            store.kv_set(&format!("k{i:02}"), &big, None).unwrap();
        }
        store.kv_set("other", "v", None).unwrap();
        let mut after: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page = store
                .kv_page("k", after.as_deref(), 1000, 1024 * 1024)
                .unwrap();
            let bytes: usize = page
                .entries
                .iter()
                .map(|e| e.key.len() + e.value.len())
                .sum();
            assert!(bytes <= 1024 * 1024 + big.len() + 3, "{bytes}");
            assert!(!page.entries.is_empty());
            seen.extend(page.entries.iter().map(|e| e.key.clone()));
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), seen.last());
                    after = Some(next);
                }
                None => break,
            }
        }
        let want: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
        assert_eq!(seen, want);
        // One value larger than the budget still makes a page of one.
        let page = store.kv_page("k", None, 10, 1).unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.next.as_deref(), Some("k00"));
        // Exactly `limit` left: no next page.
        let page = store.kv_page("", Some("k37"), 3, usize::MAX).unwrap();
        assert_eq!(page.entries.len(), 3);
        assert_eq!(page.next, None);
    }

    #[test]
    fn the_read_cache_bounds_its_bytes() {
        let (_dir, store) = temp_store();
        let value = "v".repeat(512 * 1024);
        for i in 0..200 {
            store.kv_set(&format!("k{i}"), &value, None).unwrap();
        }
        store
            .kv_set("huge", &"h".repeat(8 * 1024 * 1024), None)
            .unwrap();
        for i in 0..200 {
            assert_eq!(
                store.kv_get(&format!("k{i}")).unwrap().unwrap().len(),
                value.len()
            );
        }
        assert_eq!(
            store.kv_get("huge").unwrap().unwrap().len(),
            8 * 1024 * 1024
        );
        let (entries, bytes) = store.cache.as_ref().unwrap().held();
        assert!(entries > 0, "the cache is used");
        assert!(bytes <= CACHE_BYTES, "{bytes} bytes held");
        assert_eq!(store.kv_get("k199").unwrap().unwrap().len(), value.len());
    }

    #[test]
    fn list_by_prefix_is_exact() {
        let (_dir, store) = temp_store();
        for k in ["app/a", "app/b", "app", "apq", "ap", "b", "app\u{10FFFF}x"] {
            store.kv_set(k, "v", None).unwrap();
        }
        let keys: Vec<_> = store
            .kv_list("app", 100)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, vec!["app", "app/a", "app/b", "app\u{10FFFF}x"]);
        assert_eq!(store.kv_list("", 100).unwrap().len(), 7);
        assert_eq!(store.kv_list("", 2).unwrap().len(), 2);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn bad_keys_values_and_ttls_are_invalid_arguments() {
        let (_dir, store) = temp_store();
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for err in [
            store.kv_get("").unwrap_err(),
            store.kv_set(&long, "v", None).unwrap_err(),
            store.kv_set("a\0b", "v", None).unwrap_err(),
            store.kv_set("k", "v", Some(0)).unwrap_err(),
            store.kv_set("k", "v", Some(MAX_TTL_MS + 1)).unwrap_err(),
        ] {
            assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
        }
        assert_eq!(store.kv_count().unwrap(), 0);
    }

    #[test]
    fn cache_never_serves_a_value_another_connection_changed() {
        let (dir, store) = temp_store();
        assert!(store.has_read_cache());
        let other = Store::open(
            &dir.path().join("state.db"),
            StoreOptions {
                read_cache: false,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        store.kv_set("k", "1", None).unwrap();
        assert_eq!(store.kv_get("k").unwrap().as_deref(), Some("1"));
        assert_eq!(store.kv_get("k").unwrap().as_deref(), Some("1"));
        other.kv_set("k", "2", None).unwrap();
        assert_eq!(store.kv_get("k").unwrap().as_deref(), Some("2"));
        other.kv_delete("k").unwrap();
        assert_eq!(store.kv_get("k").unwrap(), None);
        assert_eq!(store.kv_get("k").unwrap(), None);
        other.kv_set("k", "3", None).unwrap();
        assert_eq!(store.kv_get("k").unwrap().as_deref(), Some("3"));
        // A writer outside BuildNet altogether.
        let raw = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
        raw.execute("UPDATE kv SET value = '4' WHERE key = 'k'", [])
            .unwrap();
        assert_eq!(store.kv_get("k").unwrap().as_deref(), Some("4"));
    }

    #[test]
    fn cache_respects_ttl_without_any_commit() {
        let (_dir, store) = temp_store();
        store.kv_set("t", "v", Some(40)).unwrap();
        assert_eq!(store.kv_get("t").unwrap().as_deref(), Some("v"));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(store.kv_get("t").unwrap(), None);
    }
}
