//! The polling fallback: a stat scan of the tree every [`POLL_INTERVAL`] (or at once, for a
//! sync), reporting what was added, changed or removed since the last scan.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::SystemTime;

use super::{Msg, Poller, Shared, WatchMode, POLL_INTERVAL};
use crate::lock;
use crate::workspace;

impl Shared {
    pub(super) fn start_polling(self: &Arc<Self>) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let (wake, wake_rx) = mpsc::channel::<Option<u64>>();
        let shared = Arc::clone(self);
        // The baseline is taken before this returns: a change made after the caller goes on
        // is always seen by the first scan.
        let mut snapshot = scan(&self.root, &self.state_dir);
        let thread = std::thread::Builder::new()
            .name("buildnet-poll".into())
            .spawn(move || loop {
                let cookie = match wake_rx.recv_timeout(POLL_INTERVAL) {
                    Ok(cookie) => cookie,
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let fresh = scan(&shared.root, &shared.state_dir);
                let changed = diff(&snapshot, &fresh);
                snapshot = fresh;
                if !changed.is_empty() {
                    shared.queue_paths(changed);
                }
                if let Some(n) = cookie {
                    let _ = shared.tx.send(Msg::Cookie(n));
                }
            });
        match thread {
            Ok(thread) => {
                *lock(&self.poller) = Some(Poller { wake, thread });
                *lock(&self.mode) = WatchMode::Poll;
            }
            Err(err) => tracing::error!(%err, "could not start the polling watcher"),
        }
    }
}

type Snapshot = HashMap<PathBuf, (SystemTime, u64, u64)>;

/// Every file's modification time, size and inode.
fn scan(root: &Path, state_dir: &Path) -> Snapshot {
    use std::os::unix::fs::MetadataExt;
    workspace::walk(root, state_dir)
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let mtime = meta.modified().ok()?;
            Some((e.into_path(), (mtime, meta.len(), meta.ino())))
        })
        .collect()
}

fn diff(old: &Snapshot, new: &Snapshot) -> Vec<PathBuf> {
    let mut changed: Vec<PathBuf> = new
        .iter()
        .filter(|(p, s)| old.get(*p) != Some(s))
        .map(|(p, _)| p.clone())
        .collect();
    changed.extend(old.keys().filter(|p| !new.contains_key(*p)).cloned());
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_diff_finds_added_changed_and_removed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let state = root.join(".buildnet");
        std::fs::write(root.join("a"), "1").unwrap();
        std::fs::write(root.join("b"), "1").unwrap();
        let before = scan(root, &state);
        std::fs::write(root.join("a"), "22").unwrap();
        std::fs::remove_file(root.join("b")).unwrap();
        std::fs::write(root.join("c"), "1").unwrap();
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("ignored"), "1").unwrap();
        let mut changed = diff(&before, &scan(root, &state));
        changed.sort();
        assert_eq!(changed, [root.join("a"), root.join("b"), root.join("c")]);
    }
}
