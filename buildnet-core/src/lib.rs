//! BuildNet's engine. Everything that decides anything lives here, behind the [`Daemon`] facade;
//! the executable and the language bindings only convert arguments, call it and map errors.
//!
//! Modules, each the one owner of its resource: [`config`] reads `buildnet.yaml`, [`state`]
//! writes SQL, [`cas`] writes blob files, [`hash`] hashes, [`workspace`] says what a walk of the
//! workspace skips, [`events`] carries everything observable, [`orchestrator`] runs builds and
//! alone reads and writes their logs, [`watch`] turns file changes into builds, [`daemon`] ties
//! them into the [`Daemon`] handle, and [`server`] speaks HTTP over it. Dependencies point down
//! that list's reverse: nothing below the facade imports it (the watcher reaches it through
//! [`watch::WatchHost`]) and nothing but the server imports the server.
//!
//! Faces import from this root alone: the facade and the types its methods take and return.

pub mod cas;
pub mod config;
pub mod confined;
pub mod daemon;
pub mod daemon_file;
pub mod error;
pub mod event_stream;
pub mod events;
pub mod follow;
pub mod hash;
pub mod metrics;
pub mod orchestrator;
pub mod process;
pub mod reapi;
pub mod remote_cache;
pub mod runtime;
pub mod schema;
pub mod server;
pub mod state;
pub mod state_dir;
pub mod watch;
pub mod workspace;

pub use config::{Config, EnvMode, ServerOverrides};
pub use daemon::{select_tasks, ArtifactPage, Daemon, SlotView, Status, WatchStatus, VERSION};
pub use daemon_file::DaemonFile;
pub use error::{Error, ErrorCode, Result};
pub use event_stream::{EventStream, StreamItem};
pub use events::{Event, EventEnvelope, StateOp};
pub use follow::{BuildFollow, Followed, Pending};
pub use hash::{blake3, blake3_file, xxh3_64, xxh3_file, TreeHash};
pub use orchestrator::{log_path, BuildOptions, DryRunEntry, Edges, TargetGraph};
pub use runtime::{block_on, get as tokio_runtime};
pub use state::{BuildRecord, BuildStatus, TargetRun, TargetStatus};
pub use workspace::{OutputLogs as TaskOutputLogs, Repo, TaskSpec};

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every critical section
/// in this crate leaves its data consistent before anything in it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
