//! The handle registry: what a `BuildNetHandle *` stands for.
//!
//! A handle is a number, never a pointer the library dereferences: `buildnet_create` registers
//! a [`Client`] under the next number of a counter that never repeats, and every call looks the
//! number up. `buildnet_destroy` removes it first, so a second destroy, a call after destroy or
//! a made-up value finds nothing and fails with `BUILDNET_ERR_INVALID_STATE`; calls already
//! inside the engine hold their own reference and see the daemon closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use buildnet_core::event_stream::EventStream;
use buildnet_core::{Daemon, Error};

use crate::errors::CResult;

/// Opaque handle to one BuildNet engine (a daemon over one workspace). Never dereferenced.
pub struct BuildNetHandle {
    _opaque: [u8; 0],
}

/// One embedded daemon and its event stream.
pub(crate) struct Client {
    pub(crate) daemon: Daemon,
    /// Subscribed at creation, so no event after `buildnet_create` is missed.
    pub(crate) events: EventStream,
}

struct Registry {
    next: AtomicUsize,
    live: RwLock<HashMap<usize, Arc<Client>>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        next: AtomicUsize::new(1),
        live: RwLock::new(HashMap::new()),
    })
}

/// Registers `daemon`; the returned handle is never 0 and never reused.
pub(crate) fn register(daemon: Daemon) -> CResult<*mut BuildNetHandle> {
    let reg = registry();
    let client = Arc::new(Client {
        events: daemon.events()?,
        daemon,
    });
    let id = reg.next.fetch_add(1, Ordering::Relaxed);
    reg.live
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, client);
    Ok(id as *mut BuildNetHandle)
}

/// The client behind `handle`, if it is live.
pub(crate) fn get(handle: *const BuildNetHandle) -> CResult<Arc<Client>> {
    if handle.is_null() {
        return Err(crate::errors::invalid("handle is NULL"));
    }
    registry()
        .live
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(handle as usize))
        .cloned()
        .ok_or_else(|| {
            Error::invalid_state(format!(
                "handle {:#x} is not a live BuildNet handle (destroyed, or never created)",
                handle as usize
            ))
            .into()
        })
}

/// Removes `handle` from the registry and closes its daemon.
pub(crate) fn destroy(handle: *mut BuildNetHandle) -> CResult<()> {
    let client = get(handle)?;
    let removed = registry()
        .live
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(handle as usize));
    if removed.is_none() {
        // Another thread's destroy won the race.
        return Err(Error::invalid_state("the handle was destroyed by another call").into());
    }
    // Closing the daemon ends its event streams at once, waking a `next_event` in progress.
    client.daemon.close()?;
    Ok(())
}
