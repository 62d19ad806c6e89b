//! BuildNet's engine. Everything that decides anything lives here, behind the [`Daemon`] facade;
//! the executable and the language bindings only convert arguments, call it and map errors.
//!
//! Modules, each the one owner of its resource: [`config`] reads `buildnet.yaml`, [`state`]
//! writes SQL, [`cas`] writes blob files, [`hash`] hashes, [`events`] carries everything
//! observable, [`server`] speaks HTTP, [`api`] ties them into the [`Daemon`] handle.

pub mod api;
pub mod cas;
pub mod config;
pub mod daemon_file;
pub mod error;
pub mod event_stream;
pub mod events;
pub mod hash;
pub mod metrics;
pub mod orchestrator;
pub mod process;
pub mod runtime;
pub mod server;
pub mod state;
pub mod watch;

pub use api::{Daemon, Status, VERSION};
pub use config::Config;
pub use error::{Error, ErrorCode, Result};

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// in this crate leaves its data consistent before anything in it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
