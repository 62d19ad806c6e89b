//! The handle registry: what a `BuildNetHandle *` stands for.
//!
//! A handle is a number, never a pointer the library dereferences: `buildnet_create` registers
//! a [`Client`] under the next number of a counter that never repeats, and every call looks the
//! number up. `buildnet_destroy` removes it first, so a second destroy, a call after destroy or
//! a made-up value finds nothing and fails with `BUILDNET_ERR_INVALID_STATE`; calls already
//! inside the engine hold their own reference and see the daemon closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use buildnet_core::events::EventEnvelope;
use buildnet_core::{Daemon, Error};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::errors::CResult;

/// Opaque handle to one BuildNet engine (a daemon over one workspace). Never dereferenced.
pub struct BuildNetHandle {
    _opaque: [u8; 0],
}

/// One embedded daemon and its event stream.
pub(crate) struct Client {
    pub(crate) daemon: Daemon,
    /// Subscribed at creation, so no event after `buildnet_create` is missed.
    events: Mutex<broadcast::Receiver<Arc<EventEnvelope>>>,
    /// Set by destroy: wakes a `next_event` waiting on another thread.
    closing: tokio::sync::watch::Sender<bool>,
}

/// What `next_event` found.
pub(crate) enum Next {
    Event(String),
    Nothing,
}

fn lagged(missed: u64) -> String {
    serde_json::json!({ "type": "lagged", "missed": missed }).to_string()
}

fn encode(envelope: &EventEnvelope) -> CResult<String> {
    serde_json::to_string(envelope)
        .map_err(|e| Error::internal(format!("cannot encode an event: {e}")).into())
}

impl Client {
    fn new(daemon: Daemon) -> Client {
        let events = Mutex::new(daemon.subscribe());
        Client {
            daemon,
            events,
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    /// The next event as JSON, waiting at most `timeout` (`None`: until one comes or the
    /// handle is destroyed). A consumer that fell behind gets `{"type":"lagged","missed":N}`.
    pub(crate) fn next_event(&self, timeout: Option<Duration>) -> CResult<Next> {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let closed = || Error::invalid_state("the handle was destroyed while waiting for an event");
        match events.try_recv() {
            Ok(envelope) => return Ok(Next::Event(encode(&envelope)?)),
            Err(TryRecvError::Lagged(missed)) => return Ok(Next::Event(lagged(missed))),
            Err(TryRecvError::Closed) => return Err(closed().into()),
            Err(TryRecvError::Empty) => {}
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(Next::Nothing);
        }
        let mut closing = self.closing.subscribe();
        if *closing.borrow() {
            return Err(closed().into());
        }
        let received = buildnet_core::runtime::block_on(async {
            let wait = async {
                tokio::select! {
                    // Destroy first: it publishes events of its own while closing.
                    biased;
                    _ = closing.wait_for(|c| *c) => None,
                    received = events.recv() => Some(received),
                }
            };
            match timeout {
                Some(limit) => tokio::time::timeout(limit, wait).await.ok(),
                None => Some(wait.await),
            }
        })?;
        match received {
            None => Ok(Next::Nothing),
            Some(None) | Some(Some(Err(RecvError::Closed))) => Err(closed().into()),
            Some(Some(Ok(envelope))) => Ok(Next::Event(encode(&envelope)?)),
            Some(Some(Err(RecvError::Lagged(missed)))) => Ok(Next::Event(lagged(missed))),
        }
    }
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
pub(crate) fn register(daemon: Daemon) -> *mut BuildNetHandle {
    let reg = registry();
    let id = reg.next.fetch_add(1, Ordering::Relaxed);
    let client = Arc::new(Client::new(daemon));
    reg.live
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, client);
    id as *mut BuildNetHandle
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
    client.closing.send_replace(true);
    client.daemon.close()?;
    Ok(())
}
