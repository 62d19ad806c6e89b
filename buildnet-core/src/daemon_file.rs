//! `state_dir/daemon.json`: how other processes find the daemon serving a workspace.
//!
//! Written atomically when the server starts, removed when it stops. It counts only while the
//! serving daemon holds `daemon.lock` ([`crate::state_dir`]): a file left behind by a daemon
//! that was killed is ignored, even when its pid was reused.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The record of a running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonFile {
    pub pid: u32,
    pub worker_id: String,
    pub address: String,
    pub version: String,
    pub started_at: i64,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.json")
}

impl DaemonFile {
    /// Writes the record (temporary file, then rename).
    pub fn write(&self, state_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(format!("creating {}", state_dir.display()), e))?;
        let tmp = state_dir.join(format!("daemon.json.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::internal(format!("encoding daemon.json: {e}")))?;
        crate::state_dir::create_private(&tmp)?
            .write_all(&json)
            .and_then(|_| std::fs::rename(&tmp, path(state_dir)))
            .map_err(|e| Error::io(format!("writing {}", path(state_dir).display()), e))
    }

    /// The record of the daemon serving now, if any: one whose process holds the serving
    /// lock. A record left by a killed daemon is ignored, even when its pid now belongs to
    /// another program.
    pub fn read_live(state_dir: &Path) -> Option<DaemonFile> {
        if !crate::state_dir::is_locked(&crate::state_dir::serve_lock_path(state_dir)) {
            return None;
        }
        let text = std::fs::read(path(state_dir)).ok()?;
        let record: DaemonFile = serde_json::from_slice(&text).ok()?;
        pid_alive(record.pid).then_some(record)
    }

    /// Removes the record if it is this daemon's.
    pub fn remove_if_ours(state_dir: &Path, worker_id: &str) {
        let p = path(state_dir);
        let ours = std::fs::read(&p)
            .ok()
            .and_then(|t| serde_json::from_slice::<DaemonFile>(&t).ok())
            .is_some_and(|d| d.worker_id == worker_id);
        if ours {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether a process with this pid exists.
#[cfg(unix)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
pub fn pid_alive(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_records_are_found_and_dead_ones_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mine = DaemonFile {
            pid: std::process::id(),
            worker_id: "w".into(),
            address: "127.0.0.1:1".into(),
            version: "0".into(),
            started_at: 0,
        };
        mine.write(dir.path()).unwrap();
        // A live pid without the serving lock: a killed daemon's pid reused by another program.
        assert_eq!(DaemonFile::read_live(dir.path()), None);
        let lock = crate::state_dir::lock_for_serving(dir.path(), dir.path()).unwrap();
        assert_eq!(DaemonFile::read_live(dir.path()), Some(mine.clone()));
        let second = crate::state_dir::lock_for_serving(dir.path(), dir.path()).unwrap_err();
        assert!(second.message().contains("already serves"), "{second}");
        DaemonFile::remove_if_ours(dir.path(), "someone-else");
        assert!(DaemonFile::read_live(dir.path()).is_some());
        DaemonFile::remove_if_ours(dir.path(), "w");
        assert!(DaemonFile::read_live(dir.path()).is_none());
        let dead = DaemonFile {
            pid: i32::MAX as u32,
            ..mine
        };
        dead.write(dir.path()).unwrap();
        assert!(DaemonFile::read_live(dir.path()).is_none());
        drop(lock);
    }
}
