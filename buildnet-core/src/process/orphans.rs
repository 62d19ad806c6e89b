//! Commands never outlive the process that started them.
//!
//! - **While the owner lives**, a command's whole process group ends with its run (see the
//!   module above).
//! - **When the owner dies** (SIGKILL, a crash of the Node, Python or C host), a lifeline does
//!   it: the command's shell gets the read end of a pipe whose only write end the owner holds,
//!   and leaves a tiny watcher in the group that blocks reading it. The kernel closes the
//!   write end when the owner dies, however it dies; the watcher's read returns, and it kills
//!   its group (`kill -9 0`). `PR_SET_PDEATHSIG` was not used: it fires when the spawning
//!   *thread* exits, and it reaches only the direct child, not its grandchildren.
//! - **If the watcher itself was killed**, the record this module keeps for each running group
//!   (`state_dir/running/<pgid>`: the owner's pid and start time, the group leader's start
//!   time, the command) lets the next process that opens the workspace kill what is left
//!   ([`reap`]). Start times tell a reused pid from the original.
//! - Processes that left the group (`setsid`, a daemonizing server) are out of reach of all
//!   three: the run's log says so when they keep its output open.

use std::path::{Path, PathBuf};

/// The shell program a command runs under: it moves the lifeline (stdin) to fd 3, starts the
/// watcher on it (forked twice, so it stays in the group but is no child of the command: a
/// program that waits for all its children is not kept waiting), gives the command `/dev/null`
/// as stdin and becomes the command.
pub(super) const WRAPPER: &str = "exec 3<&0 </dev/null
( (trap '' HUP INT TERM; read -r _ <&3; kill -9 0) >/dev/null 2>&1 & )
exec 3<&-
exec /bin/sh -c \"$1\"";

/// A pipe: the read end for the child's stdin, the write end (close-on-exec) kept by the owner.
pub(super) fn lifeline() -> std::io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors this function then owns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    })
}

/// The record of one running group, removed when dropped.
pub(super) struct RunRecord {
    path: PathBuf,
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// This process's start time, read once (every record carries it).
fn own_start_time() -> Option<u64> {
    static START: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *START.get_or_init(|| start_time(std::process::id() as i32))
}

fn session_of(pid: i32) -> i32 {
    // SAFETY: getsid(2) only reads the process table.
    unsafe { libc::getsid(pid) }
}

/// Records the group `pgid` (its leader is `pgid`) as run by this process: the owner's pid and
/// start time, the leader's start time, the boot, the session (the group is in the owner's),
/// then the command. Written whole (a temporary, then a rename), so a reader never sees half.
/// A record that cannot be written only costs the next-open clean-up, so it is not an error.
pub(super) fn record(dir: &Path, pgid: i32, command: &str) -> Option<RunRecord> {
    let owner = std::process::id() as i32;
    let text = format!(
        "{owner} {} {} {} {}\n{command}\n",
        own_start_time()?,
        start_time(pgid)?,
        crate::runtime::boot_id(),
        session_of(0),
    );
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(pgid.to_string());
    let tmp = dir.join(format!(".{pgid}.tmp"));
    let mut file = crate::state_dir::create_private(&tmp).ok()?;
    std::io::Write::write_all(&mut file, text.as_bytes()).ok()?;
    std::fs::rename(&tmp, &path).ok()?;
    Some(RunRecord { path })
}

/// One group left running by a dead owner, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub pgid: i32,
    pub owner: i32,
    pub command: String,
    /// How many processes of the group were still alive and were killed.
    pub killed: usize,
}

/// Kills the groups recorded in `dir` whose owner is gone, and forgets their records.
pub fn reap(dir: &Path) -> Vec<Orphan> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let this_boot = crate::runtime::boot_id();
    let mut reaped = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pgid) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<i32>().ok())
            .filter(|p| *p > 1)
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let (head, command) = text.split_once('\n').unwrap_or((&text, ""));
        let fields: Vec<&str> = head.split_whitespace().collect();
        let parsed = match fields[..] {
            [owner, owner_start, leader_start, boot, session] => (|| {
                Some((
                    owner.parse::<i32>().ok()?,
                    owner_start.parse::<u64>().ok()?,
                    leader_start.parse::<u64>().ok()?,
                    boot,
                    session.parse::<i32>().ok()?,
                ))
            })(),
            _ => None,
        };
        let Some((owner, owner_start, leader_start, boot, session)) = parsed else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if start_time(owner) == Some(owner_start) {
            continue; // the owner still runs: its commands are its own business
        }
        // From another boot, every process it names is long gone and its numbers mean nothing.
        let members = if boot == this_boot {
            group_members(pgid, leader_start, session)
        } else {
            Vec::new()
        };
        for pid in &members {
            // SAFETY: kill(2) of a process found in our group above.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_file(&path);
        reaped.push(Orphan {
            pgid,
            owner,
            command: command.trim_end().to_owned(),
            killed: members.len(),
        });
    }
    reaped
}

/// The live processes of group `pgid` that belong to the recorded group: a leader with another
/// start time means the id was reused, and members started before the leader, or in another
/// session than the owner's, are not ours.
fn group_members(pgid: i32, leader_start: u64, session: i32) -> Vec<i32> {
    if start_time(pgid).is_some_and(|t| t != leader_start) {
        return Vec::new();
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|(pgrp, start)| {
                pgrp == pgid && start >= leader_start && session_of(*pid) == session
            })
        })
        .collect()
}

/// A process's start time (clock ticks since boot), from `/proc/PID/stat`.
pub(super) fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid).map(|(_, start)| start)
}

/// The process group and start time of `pid`.
fn stat_fields(pid: i32) -> Option<(i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after its end.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 3.. of proc(5): state is fields[0], pgrp fields[2], starttime fields[19].
    let state = *fields.first()?;
    if state == "Z" || state == "X" {
        return None;
    }
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn groups_of_a_dead_owner_are_killed_and_live_owners_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut group = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 300 & echo $! > bg.pid; sleep 300"])
            .current_dir(dir.path())
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = group.id() as i32;
        let bg = dir.path().join("bg.pid");
        while std::fs::read_to_string(&bg).map_or(true, |s| !s.ends_with('\n')) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::fs::remove_file(&bg).unwrap();
        // A record of ours (the owner lives) is left alone.
        let ours = record(dir.path(), pgid, "sleep 300").unwrap();
        assert!(reap(dir.path()).is_empty());
        std::mem::forget(ours);
        // The same group recorded by an owner that is gone.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = gone.id();
        gone.wait().unwrap();
        let leader = start_time(pgid).unwrap();
        let record = |boot: &str| {
            std::fs::write(
                dir.path().join(pgid.to_string()),
                format!(
                    "{dead_pid} 1 {leader} {boot} {}\nsleep 300\n",
                    session_of(0)
                ),
            )
            .unwrap()
        };
        // Of another boot: nothing is killed, the record is forgotten.
        record("another-boot");
        let reaped = reap(dir.path());
        assert_eq!(reaped.len(), 1);
        assert_eq!(reaped[0].killed, 0);
        assert!(
            group.try_wait().unwrap().is_none(),
            "a record of another boot killed"
        );
        record(crate::runtime::boot_id());
        let reaped = reap(dir.path());
        assert_eq!(reaped.len(), 1, "{reaped:?}");
        assert!(reaped[0].killed >= 2, "the shell and its background sleep");
        assert_eq!(reaped[0].command, "sleep 300");
        let status = group.wait().unwrap();
        assert!(!status.success());
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
