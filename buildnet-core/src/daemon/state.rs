//! The key-value store and locks through the facade: each change is published on the bus.

use super::Daemon;
use crate::error::Result;
use crate::events::{Event, StateOp};
use crate::state::{KvPage, Lock};

/// Bytes of keys and values one listing page holds (at least one entry).
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

impl Daemon {
    pub fn get_state(&self, key: &str) -> Result<Option<String>> {
        self.check_open()?;
        self.inner.store.kv_get(key)
    }

    pub fn set_state(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<()> {
        self.check_open()?;
        self.inner.store.kv_set(key, value, ttl_ms)?;
        self.inner.events.publish(Event::StateChanged {
            key: key.to_owned(),
            op: StateOp::Set,
        });
        Ok(())
    }

    /// Deletes `key`; returns whether it was there.
    pub fn delete_state(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        let existed = self.inner.store.kv_delete(key)?;
        if existed {
            self.inner.events.publish(Event::StateChanged {
                key: key.to_owned(),
                op: StateOp::Delete,
            });
        }
        Ok(existed)
    }

    /// One page of the keys starting with `prefix` after `after`: at most `limit` entries and
    /// about [`MAX_PAGE_BYTES`] of keys and values (a value of 64 MiB is a page of its own).
    pub fn list_state(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<KvPage> {
        self.check_open()?;
        self.inner
            .store
            .kv_page(prefix, after, limit, MAX_PAGE_BYTES)
    }

    pub fn acquire_lock(&self, resource: &str, ttl_ms: u64) -> Result<Option<Lock>> {
        self.check_open()?;
        let lock = self.inner.store.acquire_lock(resource, ttl_ms)?;
        if let Some(l) = &lock {
            self.inner.events.publish(Event::LockAcquired {
                resource: l.resource.clone(),
                fence: l.fence,
            });
        }
        Ok(lock)
    }

    pub fn release_lock(&self, resource: &str, token: &str) -> Result<bool> {
        self.check_open()?;
        let released = self.inner.store.release_lock(resource, token)?;
        if released {
            self.inner.events.publish(Event::LockReleased {
                resource: resource.to_owned(),
            });
        }
        Ok(released)
    }

    pub fn extend_lock(&self, resource: &str, token: &str, ttl_ms: u64) -> Result<bool> {
        self.check_open()?;
        self.inner.store.extend_lock(resource, token, ttl_ms)
    }

    pub fn list_locks(&self) -> Result<Vec<Lock>> {
        self.check_open()?;
        self.inner.store.list_locks()
    }
}
