//! Native watches: one per folder of the workspace (never into skipped folders), a folder made
//! later watched as it appears; the OS refusing a watch turns the watcher to polling.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::Watcher as _;

use super::{Msg, Shared, WatchMode, POLL_INTERVAL};
use crate::error::{Error, Result};
use crate::lock;
use crate::workspace;

impl Shared {
    /// Watches every folder of the workspace natively. Fails when the OS refuses a watch.
    pub(super) fn start_native(self: &Arc<Self>) -> Result<()> {
        let tx = self.tx.clone();
        let queue = Arc::clone(self);
        let cookie_dir = self.cookie_dir.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            let event = match res {
                Ok(event) => event,
                Err(err) => {
                    tracing::warn!(%err, "file watcher error; rescanning");
                    let _ = tx.send(Msg::Rescan);
                    return;
                }
            };
            if event.need_rescan() {
                let _ = tx.send(Msg::Rescan);
                return;
            }
            if event.kind.is_access() {
                return;
            }
            let mut paths = Vec::with_capacity(event.paths.len());
            for path in event.paths {
                if path.parent() == Some(cookie_dir.as_path()) {
                    let n = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .and_then(|s| s.parse::<u64>().ok());
                    if let (Some(n), true) = (n, event.kind.is_create()) {
                        let _ = tx.send(Msg::Cookie(n));
                        let _ = std::fs::remove_file(&path);
                    }
                } else {
                    paths.push(path);
                }
            }
            if !paths.is_empty() {
                queue.queue_paths(paths);
            }
        };
        let mut watcher = notify::recommended_watcher(handler)
            .map_err(|e| Error::internal(format!("cannot start the file watcher: {e}")))?;
        watcher
            .watch(&self.cookie_dir, notify::RecursiveMode::NonRecursive)
            .map_err(watch_error)?;
        for dir in watched_dirs(&self.root, &self.state_dir) {
            watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
                .map_err(watch_error)?;
        }
        *lock(&self.native) = Some(watcher);
        *lock(&self.mode) = WatchMode::Native;
        Ok(())
    }

    /// Watches new folders too (files made in them before the watch was added count as
    /// changed). Falls back to polling when the OS refuses.
    pub(super) fn watch_new_dir(self: &Arc<Self>, dir: &Path) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        let dirs = watched_dirs(dir, &self.state_dir);
        let mut native = lock(&self.native);
        let Some(watcher) = native.as_mut() else {
            return changed;
        };
        for d in dirs {
            if let Err(err) = watcher.watch(&d, notify::RecursiveMode::NonRecursive) {
                let err = watch_error(err);
                drop(native);
                tracing::warn!("{err}; watching by polling every {POLL_INTERVAL:?} instead");
                lock(&self.native).take();
                self.start_polling();
                let _ = self.tx.send(Msg::Rescan);
                return changed;
            }
            if let Ok(entries) = std::fs::read_dir(&d) {
                changed.extend(entries.flatten().map(|e| e.path()));
            }
        }
        changed
    }
}

fn watch_error(err: notify::Error) -> Error {
    match err.kind {
        notify::ErrorKind::MaxFilesWatch => Error::internal(
            "the OS limit on file watches was reached (on Linux raise it with \
             `sysctl fs.inotify.max_user_watches=524288`)",
        ),
        _ => Error::internal(format!("cannot watch the workspace: {err}")),
    }
}

/// The folders under `root` to watch.
pub(super) fn watched_dirs(root: &Path, state_dir: &Path) -> Vec<PathBuf> {
    workspace::walk(root, state_dir)
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
        .map(|e| e.into_path())
        .collect()
}
