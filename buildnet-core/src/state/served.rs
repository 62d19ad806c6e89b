//! The index of the remote caches served: which blob of the artifact store a client's key
//! names, per [`Protocol`] and namespace (a team, an instance), with
//! what the protocol stores beside the body. A blob's last access is the artifact store's, so
//! served artifacts and BuildNet's own outputs share one LRU budget; when a blob is collected,
//! the keys naming it go with it (`Store::artifact_remove`).

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{now_ms, Store};
use crate::error::{Error, Result};

/// The remote-cache protocols served, each its own key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Turborepo's `/v8/artifacts`.
    Turbo,
    /// Nx's self-hosted `/v1/cache`.
    Nx,
    /// Bazel's HTTP action cache, `/ac`.
    BazelAc,
    /// Bazel's HTTP content-addressed store, `/cas` (keys are the SHA-256 of the body).
    BazelCas,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [
        Protocol::Turbo,
        Protocol::Nx,
        Protocol::BazelAc,
        Protocol::BazelCas,
    ];

    /// The name stored in the index and used as the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Turbo => "turbo",
            Protocol::Nx => "nx",
            Protocol::BazelAc => "bazel-ac",
            Protocol::BazelCas => "bazel-cas",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a protocol keeps beside an artifact's body (Turborepo's `x-artifact-*` headers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty_hash: Option<String>,
}

/// One served key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedEntry {
    /// The blob (blake3 hex) holding the body.
    pub blob: String,
    pub size: u64,
    pub meta: ServedMeta,
    pub created_at: i64,
}

impl Store {
    /// The blob `key` names in `protocol`'s `namespace`, if any.
    pub fn served_get(
        &self,
        protocol: Protocol,
        namespace: &str,
        key: &str,
    ) -> Result<Option<ServedEntry>> {
        let protocol = protocol.as_str();
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT blob, size, meta, created_at FROM served
                     WHERE protocol = ?1 AND namespace = ?2 AND key = ?3",
                )?
                .query_row(params![protocol, namespace, key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()?;
            row.map(|(blob, size, meta, created_at)| {
                let meta = serde_json::from_str(&meta).map_err(|e| {
                    Error::internal(format!("served entry {protocol}/{key}: bad meta: {e}"))
                })?;
                Ok(ServedEntry {
                    blob,
                    size: size as u64,
                    meta,
                    created_at,
                })
            })
            .transpose()
        })
    }

    /// Records that `key` names `entry`'s blob (its `created_at` is now). With `overwrite`
    /// false an existing key is kept and `false` is returned (Nx's first write wins);
    /// otherwise the key is replaced.
    pub fn served_put(
        &self,
        protocol: Protocol,
        namespace: &str,
        key: &str,
        entry: &ServedEntry,
        overwrite: bool,
    ) -> Result<bool> {
        let meta = serde_json::to_string(&entry.meta)
            .map_err(|e| Error::internal(format!("encoding served meta: {e}")))?;
        let size = entry.size;
        let (protocol, namespace, key, blob) = (
            protocol.as_str(),
            namespace.to_owned(),
            key.to_owned(),
            entry.blob.clone(),
        );
        self.write(true, move |c| {
            let sql = if overwrite {
                "INSERT INTO served (protocol, namespace, key, blob, size, meta, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (protocol, namespace, key) DO UPDATE SET
                   blob = excluded.blob, size = excluded.size, meta = excluded.meta,
                   created_at = excluded.created_at"
            } else {
                "INSERT INTO served (protocol, namespace, key, blob, size, meta, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (protocol, namespace, key) DO NOTHING"
            };
            let changed = c.prepare_cached(sql)?.execute(params![
                protocol,
                namespace,
                key,
                blob,
                size as i64,
                meta,
                now_ms()
            ])?;
            Ok(changed == 1)
        })
    }

    /// Forgets one served key (its blob stays for whatever else names it).
    pub fn served_remove(&self, protocol: Protocol, namespace: &str, key: &str) -> Result<()> {
        let (protocol, namespace, key) = (protocol.as_str(), namespace.to_owned(), key.to_owned());
        self.write(true, move |c| {
            c.prepare_cached(
                "DELETE FROM served WHERE protocol = ?1 AND namespace = ?2 AND key = ?3",
            )?
            .execute(params![protocol, namespace, key])?;
            Ok(())
        })
    }

    /// Number of served keys and the bytes they name, per protocol.
    pub fn served_totals(&self) -> Result<Vec<(String, u64, u64)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT protocol, count(*), coalesce(sum(size), 0) FROM served GROUP BY protocol",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoreOptions;

    #[test]
    fn keys_are_per_protocol_and_namespace_and_go_with_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap();
        let meta = ServedMeta {
            duration_ms: Some(42),
            tag: Some("t".into()),
            ..ServedMeta::default()
        };
        let entry = |blob: &str, size: u64, meta: &ServedMeta| ServedEntry {
            blob: blob.repeat(64),
            size,
            meta: meta.clone(),
            created_at: 0,
        };
        store.artifact_put(&"a".repeat(64), 3).unwrap();
        let plain = ServedMeta::default();
        let put = |p, ns, e: &ServedEntry, overwrite| store.served_put(p, ns, "k1", e, overwrite);
        assert!(put(Protocol::Turbo, "team_a", &entry("a", 3, &meta), true).unwrap());
        assert!(put(Protocol::Nx, "", &entry("a", 3, &plain), false).unwrap());
        // Nx: first write wins.
        assert!(!put(Protocol::Nx, "", &entry("b", 9, &plain), false).unwrap());
        let got = store
            .served_get(Protocol::Turbo, "team_a", "k1")
            .unwrap()
            .unwrap();
        assert_eq!((got.blob.as_str(), got.size), ("a".repeat(64).as_str(), 3));
        assert_eq!(got.meta, meta);
        assert!(store
            .served_get(Protocol::Turbo, "team_b", "k1")
            .unwrap()
            .is_none());
        assert_eq!(
            store
                .served_get(Protocol::Nx, "", "k1")
                .unwrap()
                .unwrap()
                .size,
            3
        );
        store.artifact_remove(&"a".repeat(64)).unwrap();
        assert!(store
            .served_get(Protocol::Turbo, "team_a", "k1")
            .unwrap()
            .is_none());
        assert!(store.served_get(Protocol::Nx, "", "k1").unwrap().is_none());
    }
}
