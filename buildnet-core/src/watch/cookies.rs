//! Sync: making sure every change made before a call has been seen. A cookie file is written
//! into a watched folder (or the poller is asked for a scan) and the caller waits until the
//! watch thread reports that cookie; events of one watcher arrive in order, so by then every
//! earlier change went through.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Msg, Shared, WatchMode};
use crate::lock;

/// How long [`Syncer::sync`] waits for its cookie.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// See [`Syncer::sync`].
#[derive(Clone)]
pub struct Syncer(pub(super) Arc<Shared>);

impl Syncer {
    /// Returns once every change made before this call has been seen (invalidated in the tree
    /// cache), with the number of the cookie that proved it; `None` after [`SYNC_TIMEOUT`] or
    /// once the watcher stopped.
    pub fn sync(&self) -> Option<u64> {
        let shared = &self.0;
        if shared.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let n = shared.next_cookie.fetch_add(1, Ordering::SeqCst) + 1;
        let mode = *lock(&shared.mode);
        let asked = match mode {
            WatchMode::Native => {
                let cookie = shared.cookie_dir.join(format!("{n}.cookie"));
                std::fs::write(&cookie, b"").is_ok()
            }
            WatchMode::Poll => lock(&shared.poller)
                .as_ref()
                .is_some_and(|p| p.wake.send(Some(n)).is_ok()),
        };
        if !asked {
            return None;
        }
        let deadline = Instant::now() + SYNC_TIMEOUT;
        let mut seen = lock(&shared.seen_cookie);
        while *seen < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            seen = shared
                .cookie_seen
                .wait_timeout(seen, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(n)
    }
}

impl Syncer {
    /// Tells the watcher that a build of `targets` started after the [`Syncer::sync`] that
    /// returned `cookie`: the changes to them it saw before that cookie are covered by it.
    pub fn covered(&self, targets: Vec<String>, cookie: u64) {
        let _ = self.0.tx.send(Msg::Covered(targets, cookie));
    }
}
