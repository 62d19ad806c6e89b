//! The remote caches served (Turborepo, Nx, Bazel): their artifacts are blobs of the artifact
//! store, named by keys in the `served` index, and counted per protocol. The protocols' HTTP
//! faces are in `server::cache`.
//!
//! Small blobs read and verified once are kept in memory ([`HotBlobs`], a few MiB): a popular
//! artifact (the same cached build on every laptop) is answered without a read or a hash. What
//! is kept was verified against its name when it was read; it still counts as a use of the blob
//! for the store's LRU.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use crate::cas::{BlobReader, BlobWriter, Staged};
use crate::error::Result;
use crate::metrics::Served;
use crate::state::{Protocol, ServedEntry, ServedMeta};

use super::Daemon;

/// Total bytes of the blobs kept in memory, and the largest one kept.
const HOT_BYTES: usize = 8 * 1024 * 1024;
pub const HOT_MAX_BLOB: u64 = 1024 * 1024;

/// Verified small blobs, by blake3, the oldest dropped first once over [`HOT_BYTES`].
#[derive(Default)]
pub(crate) struct HotBlobs {
    blobs: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

/// A served artifact's body: in memory already, or a blob to read.
pub enum ServedBody {
    Hot(Bytes),
    Disk(Box<BlobReader>),
}

impl Daemon {
    /// The artifact `key` names in `protocol`'s `namespace`, in memory or opened for a verified
    /// read; `None` if there is none (a key whose blob was collected or found corrupt is
    /// forgotten).
    pub fn served_open(
        &self,
        protocol: Protocol,
        namespace: &str,
        key: &str,
    ) -> Result<Option<(ServedEntry, ServedBody)>> {
        self.check_open()?;
        let Some(entry) = self.inner.store.served_get(protocol, namespace, key)? else {
            return Ok(None);
        };
        let hot = crate::lock(&self.inner.hot).blobs.get(&entry.blob).cloned();
        if let Some(bytes) = hot {
            self.inner.cas.touch(&entry.blob)?;
            return Ok(Some((entry, ServedBody::Hot(bytes))));
        }
        match self.inner.cas.reader(&entry.blob)? {
            Some(reader) => Ok(Some((entry, ServedBody::Disk(Box::new(reader))))),
            None => {
                self.inner.store.served_remove(protocol, namespace, key)?;
                Ok(None)
            }
        }
    }

    /// Keeps a small blob that was just read and verified in memory.
    pub fn served_keep(&self, blob: &str, bytes: Bytes) {
        if bytes.len() as u64 > HOT_MAX_BLOB {
            return;
        }
        let mut hot = crate::lock(&self.inner.hot);
        if hot.blobs.contains_key(blob) {
            return;
        }
        hot.bytes += bytes.len();
        hot.blobs.insert(blob.to_owned(), bytes);
        hot.order.push_back(blob.to_owned());
        while hot.bytes > HOT_BYTES {
            let Some(oldest) = hot.order.pop_front() else {
                break;
            };
            if let Some(dropped) = hot.blobs.remove(&oldest) {
                hot.bytes -= dropped.len();
            }
        }
    }

    /// Whether `key` names an artifact in `protocol`'s `namespace` (its blob unread).
    pub fn served_contains(&self, protocol: Protocol, namespace: &str, key: &str) -> Result<bool> {
        self.check_open()?;
        Ok(self
            .inner
            .store
            .served_get(protocol, namespace, key)?
            .is_some())
    }

    /// The index entry of `key`, without opening its blob.
    pub fn served_entry(
        &self,
        protocol: Protocol,
        namespace: &str,
        key: &str,
    ) -> Result<Option<ServedEntry>> {
        self.check_open()?;
        self.inner.store.served_get(protocol, namespace, key)
    }

    /// A new upload, written piece by piece into the artifact store's temporary folder.
    pub fn served_writer(&self) -> Result<BlobWriter> {
        self.check_open()?;
        self.inner.cas.writer()
    }

    /// Stores a finished upload as `key`: the blob is placed (fsynced under `durability: full`)
    /// before the key names it. With `overwrite` false an existing key is kept and `false`
    /// returned (the upload is discarded).
    pub fn served_commit(
        &self,
        protocol: Protocol,
        namespace: &str,
        key: &str,
        staged: Staged,
        meta: &ServedMeta,
        overwrite: bool,
    ) -> Result<bool> {
        self.check_open()?;
        let store = &self.inner.store;
        if !overwrite && store.served_get(protocol, namespace, key)?.is_some() {
            return Ok(false);
        }
        let entry = ServedEntry {
            blob: staged.hash.clone(),
            size: staged.size,
            meta: meta.clone(),
            created_at: 0,
        };
        self.inner.cas.commit_staged(staged)?;
        store.served_put(protocol, namespace, key, &entry, overwrite)
    }

    /// Counts `n` for the served cache's `counter` of `protocol` (`GET /metrics`).
    pub(crate) fn count_served(&self, protocol: Protocol, counter: Served, n: u64) {
        self.inner.metrics.served(protocol, counter, n);
    }
}
