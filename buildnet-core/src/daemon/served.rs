//! The remote caches served (Turborepo, Nx, Bazel): their artifacts are blobs of the artifact
//! store, named by keys in the `served` index, and counted per protocol. The protocols' HTTP
//! faces are in `server::cache`.

use crate::cas::{BlobReader, BlobWriter, Staged};
use crate::error::Result;
use crate::metrics::Served;
use crate::state::{Protocol, ServedEntry, ServedMeta};

use super::Daemon;

impl Daemon {
    /// The artifact `key` names in `protocol`'s `namespace`, opened for a verified read; `None`
    /// if there is none (a key whose blob was collected or found corrupt is forgotten).
    pub fn served_open(
        &self,
        protocol: Protocol,
        namespace: &str,
        key: &str,
    ) -> Result<Option<(ServedEntry, BlobReader)>> {
        self.check_open()?;
        let Some(entry) = self.inner.store.served_get(protocol, namespace, key)? else {
            return Ok(None);
        };
        match self.inner.cas.reader(&entry.blob)? {
            Some(reader) => Ok(Some((entry, reader))),
            None => {
                self.inner.store.served_remove(protocol, namespace, key)?;
                Ok(None)
            }
        }
    }

    /// Whether `key` names an artifact in `protocol`'s `namespace` (its blob unread).
    pub fn served_contains(&self, protocol: Protocol, namespace: &str, key: &str) -> Result<bool> {
        self.check_open()?;
        Ok(self.inner.store.served_get(protocol, namespace, key)?.is_some())
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
        let (blob, size) = (staged.hash.clone(), staged.size);
        self.inner.cas.commit_staged(staged)?;
        store.served_put(protocol, namespace, key, &blob, size, meta, overwrite)
    }

    /// Counts `n` for the served cache's `counter` of `protocol` (`GET /metrics`).
    pub(crate) fn count_served(&self, protocol: Protocol, counter: Served, n: u64) {
        self.inner.metrics.served(protocol, counter, n);
    }
}
