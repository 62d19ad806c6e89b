//! The one event bus. Everything observable is published here; the WebSocket stream, the
//! bindings' event pull and the CLI's progress display are all subscribers of it.
//!
//! Each event is wrapped in an [`EventEnvelope`] with a sequence number (gap-free per daemon, so a
//! subscriber that lagged knows how much it missed) and a timestamp. Publishing never blocks and
//! never fails: with no subscriber the event is simply dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::state::{now_ms, BuildStatus, TargetStatus};

/// Events a slow subscriber may fall behind by before it starts missing some.
pub(crate) const CAPACITY: usize = 4096;

/// What happened.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The HTTP server is listening.
    DaemonStarted {
        address: String,
    },
    /// The daemon stopped serving.
    DaemonStopped,
    /// `buildnet.yaml` was read again.
    ConfigReloaded {
        targets: usize,
    },
    /// A key was set or deleted.
    StateChanged {
        key: String,
        op: StateOp,
    },
    LockAcquired {
        resource: String,
        fence: i64,
    },
    LockReleased {
        resource: String,
    },
    /// A blob entered the artifact store.
    ArtifactStored {
        hash: String,
        size: u64,
    },
    /// A blob on disk did not match its hash; it was removed and treated as a miss.
    ArtifactCorrupted {
        hash: String,
    },
    /// Garbage collection removed blobs.
    ArtifactsCollected {
        removed: u64,
        freed_bytes: u64,
    },
    /// A build was asked for; it starts when the builds before it ended.
    BuildQueued {
        build_id: String,
        targets: Vec<String>,
    },
    /// A build started; `targets` is the resolved graph in dependency order.
    BuildStarted {
        build_id: String,
        targets: Vec<String>,
    },
    /// A build ended: `succeeded`, `failed` or `cancelled`.
    BuildFinished {
        build_id: String,
        status: BuildStatus,
        duration_ms: u64,
    },
    TargetStarted {
        build_id: String,
        target: String,
    },
    /// A target ended: `succeeded`, `failed`, `skipped` or `cancelled`.
    TargetFinished {
        build_id: String,
        target: String,
        status: TargetStatus,
        cached: bool,
        duration_ms: u64,
        exit_code: Option<i32>,
        error: Option<String>,
        /// The target's cache key, when one was computed.
        #[serde(default)]
        cache_key: Option<String>,
        /// What looked wrong without failing it (a glob that matched no file).
        #[serde(default)]
        warnings: Vec<String>,
        /// For a hit from the remote cache: the bytes downloaded.
        #[serde(default)]
        remote_bytes: Option<u64>,
        /// For a remotely executed target (or an action-cache hit): where and how it ran.
        #[serde(default)]
        remote_execution: Option<Box<crate::state::RemoteExecution>>,
    },
    /// Something went wrong that does not fail the build (the remote cache could not be
    /// reached, refused an upload, sent an artifact that did not verify).
    BuildWarning {
        build_id: String,
        message: String,
    },
    /// A target's outputs came from the cache; `saved_ms` is what the original run took.
    CacheHit {
        build_id: String,
        target: String,
        saved_ms: u64,
    },
    /// One line of a target's output (replayed from the cache on a hit).
    TargetLog {
        build_id: String,
        target: String,
        stream: crate::process::Stream,
        line: String,
        /// 1-based number of this line in the target's output (both streams together).
        line_no: u64,
    },
    /// The file watcher saw changes and started a build of the targets they affect.
    WatchTriggered {
        build_id: String,
        targets: Vec<String>,
        /// Some of the changed paths (relative to the workspace), at most 20.
        paths: Vec<String>,
    },
}

impl Event {
    /// The `type` this event has on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::DaemonStarted { .. } => "daemon_started",
            Event::DaemonStopped => "daemon_stopped",
            Event::ConfigReloaded { .. } => "config_reloaded",
            Event::StateChanged { .. } => "state_changed",
            Event::LockAcquired { .. } => "lock_acquired",
            Event::LockReleased { .. } => "lock_released",
            Event::ArtifactStored { .. } => "artifact_stored",
            Event::ArtifactCorrupted { .. } => "artifact_corrupted",
            Event::ArtifactsCollected { .. } => "artifacts_collected",
            Event::BuildQueued { .. } => "build_queued",
            Event::BuildStarted { .. } => "build_started",
            Event::BuildFinished { .. } => "build_finished",
            Event::TargetStarted { .. } => "target_started",
            Event::TargetFinished { .. } => "target_finished",
            Event::BuildWarning { .. } => "build_warning",
            Event::CacheHit { .. } => "cache_hit",
            Event::TargetLog { .. } => "target_log",
            Event::WatchTriggered { .. } => "watch_triggered",
        }
    }

    /// The build this event belongs to, if any.
    pub fn build_id(&self) -> Option<&str> {
        match self {
            Event::BuildQueued { build_id, .. }
            | Event::BuildStarted { build_id, .. }
            | Event::BuildFinished { build_id, .. }
            | Event::TargetStarted { build_id, .. }
            | Event::TargetFinished { build_id, .. }
            | Event::BuildWarning { build_id, .. }
            | Event::CacheHit { build_id, .. }
            | Event::TargetLog { build_id, .. }
            | Event::WatchTriggered { build_id, .. } => Some(build_id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateOp {
    Set,
    Delete,
}

/// An event with its place in the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventEnvelope {
    pub seq: u64,
    pub at_ms: i64,
    #[serde(flatten)]
    pub event: Event,
}

/// Told of every event as it is published, on the publisher's thread, before any subscriber
/// (so it never lags and misses one, as a subscriber can). Must be quick and never block.
pub trait Observer: Send + Sync {
    fn observe(&self, event: &Event);
}

/// Cheap to clone; every clone publishes to the same subscribers.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<EventEnvelope>>,
    seq: Arc<AtomicU64>,
    observer: Option<Arc<dyn Observer>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus with no observer.
    pub fn new() -> EventBus {
        let (sender, _) = broadcast::channel(CAPACITY);
        EventBus {
            sender,
            seq: Arc::new(AtomicU64::new(0)),
            observer: None,
        }
    }

    /// A bus that tells `observer` of every event published.
    pub fn observed_by(observer: Arc<dyn Observer>) -> EventBus {
        EventBus {
            observer: Some(observer),
            ..EventBus::new()
        }
    }

    /// Publishes `event` to the observer and every current subscriber.
    pub fn publish(&self, event: Event) {
        if let Some(observer) = &self.observer {
            observer.observe(&event);
        }
        if self.sender.receiver_count() == 0 {
            return;
        }
        let envelope = EventEnvelope {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            at_ms: now_ms(),
            event,
        };
        let _ = self.sender.send(Arc::new(envelope));
    }

    /// Whether anyone listens (so costly events can be skipped when no one does).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// A new subscriber that sees every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventEnvelope>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_see_events_in_order_as_json() {
        let bus = EventBus::new();
        bus.publish(Event::DaemonStopped);
        let mut rx = bus.subscribe();
        bus.publish(Event::StateChanged {
            key: "k".into(),
            op: StateOp::Set,
        });
        bus.publish(Event::LockReleased {
            resource: "r".into(),
        });
        let first = rx.try_recv().unwrap();
        let second = rx.try_recv().unwrap();
        assert!(second.seq == first.seq + 1);
        let json = serde_json::to_value(&*first).unwrap();
        assert_eq!(json["type"], "state_changed");
        assert_eq!(json["key"], "k");
        assert_eq!(json["op"], "set");
        assert!(rx.try_recv().is_err());
    }
}
