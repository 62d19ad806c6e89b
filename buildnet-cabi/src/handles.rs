//! The handle registries: what a `BuildNetHandle *` or a `BuildNetEvents *` stands for.
//!
//! A handle is a number, never a pointer the library dereferences: `buildnet_create` (or
//! `buildnet_events_open`) registers its object under the next number of a counter that never
//! repeats, and every call looks the number up. Destroying removes it first, so a second
//! destroy, a call after destroy or a made-up value finds nothing and fails with
//! `BUILDNET_ERR_INVALID_STATE`; calls already inside the engine hold their own reference and
//! see the daemon (or stream) closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use buildnet_core::{Daemon, Error, EventStream};

use crate::errors::CResult;

/// Opaque handle to one BuildNet engine (a daemon over one workspace). Never dereferenced.
pub struct BuildNetHandle {
    _opaque: [u8; 0],
}

/// Opaque handle to one event stream of a daemon (buildnet_events_open). Never dereferenced.
pub struct BuildNetEvents {
    _opaque: [u8; 0],
}

/// One embedded daemon and its event stream.
pub(crate) struct Client {
    pub(crate) daemon: Daemon,
    /// Subscribed at creation, so no event after `buildnet_create` is missed.
    pub(crate) events: EventStream,
}

/// Live objects by number; a number is never 0 and never reused.
struct Registry<T> {
    next: AtomicUsize,
    live: RwLock<HashMap<usize, Arc<T>>>,
    kind: &'static str,
}

impl<T> Registry<T> {
    fn new(kind: &'static str) -> Self {
        Registry {
            next: AtomicUsize::new(1),
            live: RwLock::new(HashMap::new()),
            kind,
        }
    }

    fn insert(&self, value: T) -> usize {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Arc::new(value));
        id
    }

    fn get(&self, id: usize) -> CResult<Arc<T>> {
        if id == 0 {
            return Err(crate::errors::invalid(format!("{} is NULL", self.kind)));
        }
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
            .ok_or_else(|| {
                Error::invalid_state(format!(
                    "{id:#x} is not a live {} (destroyed, or never created)",
                    self.kind
                ))
                .into()
            })
    }

    /// Removes `id`; fails as [`Registry::get`] does, or when another call removed it first.
    fn remove(&self, id: usize) -> CResult<Arc<T>> {
        self.get(id)?;
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            .ok_or_else(|| {
                Error::invalid_state(format!("the {} was destroyed by another call", self.kind))
                    .into()
            })
    }
}

fn clients() -> &'static Registry<Client> {
    static REGISTRY: OnceLock<Registry<Client>> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new("BuildNet handle"))
}

fn streams() -> &'static Registry<EventStream> {
    static REGISTRY: OnceLock<Registry<EventStream>> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new("BuildNet event stream"))
}

/// Registers `daemon`; the returned handle is never 0 and never reused.
pub(crate) fn register(daemon: Daemon) -> CResult<*mut BuildNetHandle> {
    let client = Client {
        events: daemon.events()?,
        daemon,
    };
    Ok(clients().insert(client) as *mut BuildNetHandle)
}

/// The client behind `handle`, if it is live.
pub(crate) fn get(handle: *const BuildNetHandle) -> CResult<Arc<Client>> {
    clients().get(handle as usize)
}

/// Removes `handle` from the registry and closes its daemon.
pub(crate) fn destroy(handle: *mut BuildNetHandle) -> CResult<()> {
    let client = clients().remove(handle as usize)?;
    // Closing the daemon ends its event streams at once, waking a `next_event` in progress.
    client.daemon.close()?;
    Ok(())
}

/// Opens a new event stream of `handle`'s daemon.
pub(crate) fn open_stream(handle: *const BuildNetHandle) -> CResult<*mut BuildNetEvents> {
    let stream = get(handle)?.daemon.events()?;
    Ok(streams().insert(stream) as *mut BuildNetEvents)
}

/// The stream behind `events`, if it is open.
pub(crate) fn stream(events: *const BuildNetEvents) -> CResult<Arc<EventStream>> {
    streams().get(events as usize)
}

/// Removes `events` from the registry and closes it, waking a reader on another thread.
pub(crate) fn close_stream(events: *mut BuildNetEvents) -> CResult<()> {
    streams().remove(events as usize)?.close();
    Ok(())
}
