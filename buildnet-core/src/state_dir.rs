//! The state directory itself: private to its owner, and locked by the processes using it.
//!
//! - The folder is created (or tightened to) 0700 and BuildNet's own files in it are created
//!   0600: it holds the database, build logs and tokens' effects, which other local users have
//!   no business reading (the Nx daemon's socket folder is 0700 for the same reason).
//! - `daemon.lock` is held, with an exclusive `flock`, by the daemon serving the workspace for
//!   as long as it serves. The kernel drops the lock when that process dies however it dies, so
//!   of two `serve` started together exactly one wins, and a stale `daemon.json` whose pid was
//!   reused by another program never blocks a start.
//! - `build.lock` is held by a process while one of its builds runs: builds from separate
//!   processes on one workspace (a CLI build beside an embedding Node program, two CI steps)
//!   wait for each other instead of writing the same outputs at once.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

/// Mode of the state directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files BuildNet creates in it.
pub const FILE_MODE: u32 = 0o600;

/// Creates the state directory 0700 (an existing one is tightened to 0700) with a `.gitignore`
/// of `*` (as pytest and ruff do with their caches), so `git status` and `--filter=[ref]` never
/// see BuildNet's files, whatever the repository's own `.gitignore` says.
pub fn prepare(state_dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(state_dir)
        .map_err(|e| Error::io(format!("creating {}", state_dir.display()), e))?;
    // A folder this user does not own (a shared cache set up by an admin) keeps its mode.
    if let Err(err) = make_private(state_dir, DIR_MODE) {
        tracing::warn!(%err, "the state folder stays readable by others");
    }
    let ignore = state_dir.join(".gitignore");
    if !ignore.exists() {
        let mut file = create_private(&ignore)?;
        file.write_all(b"# Written by BuildNet: its state stays out of git.\n*\n")
            .map_err(|e| Error::io(ignore.display(), e))?;
    }
    Ok(())
}

/// Takes group and other permissions off `path`, when this user owns it and may write it (a
/// file someone made read-only stays so).
pub fn make_private(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    // SAFETY: geteuid(2) only reads this process's credentials.
    let mine = meta.uid() == unsafe { libc::geteuid() };
    let writable = meta.permissions().mode() & 0o200 != 0;
    if mine && writable && meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format!("making {} private", path.display()), e))?;
    }
    Ok(())
}

/// Creates (or truncates) a file readable and writable by its owner only.
pub fn create_private(path: &Path) -> Result<File> {
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| Error::io(path.display(), e))?;
    // An existing file keeps its mode through open(2): tighten it.
    make_private(path, FILE_MODE)?;
    Ok(file)
}

/// An exclusive `flock` on a file, released when dropped (or when the process dies).
///
/// A forked child shares the parent's open files, and with them its `flock`s: the lock would
/// outlive the parent for as long as the child runs. The child side of `fork` therefore points
/// each held lock's descriptor at `/dev/null` ([`forget_in_child`]), which drops the child's
/// share of the lock and leaves a valid descriptor for its copy of this value to close.
#[derive(Debug)]
pub struct FileLock {
    /// Dropped before `file` (fields drop in order): never a slot naming a closed descriptor.
    _forgotten: ForkForgotten,
    file: File,
    path: PathBuf,
}

/// The descriptors a forked child lets go of (-1: a free slot): the locks this process holds,
/// and the write ends of its commands' lifelines (`process::orphans`).
static HELD: [AtomicI32; 4096] = [const { AtomicI32::new(-1) }; 4096];

/// A descriptor a forked child points at `/dev/null` ([`forget_in_child`]); registered while
/// this value lives. Drop it before the descriptor is closed.
#[derive(Debug)]
pub(crate) struct ForkForgotten {
    fd: i32,
    slot: Option<usize>,
}

impl ForkForgotten {
    pub(crate) fn new(fd: i32) -> ForkForgotten {
        WATCH_FORKS.call_once(|| {
            // SAFETY: registers a 'static handler that makes only async-signal-safe calls, as
            // the child side of fork() requires.
            unsafe {
                libc::pthread_atfork(None, None, Some(forget_in_child));
            }
        });
        ForkForgotten {
            fd,
            slot: remember(fd),
        }
    }
}

impl Drop for ForkForgotten {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let _ = HELD[i].compare_exchange(self.fd, -1, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
}

fn remember(fd: i32) -> Option<usize> {
    (0..HELD.len()).find(|&i| {
        HELD[i]
            .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

static WATCH_FORKS: std::sync::Once = std::sync::Once::new();

/// The child side of `fork` (a `pthread_atfork` handler, registered with the first descriptor):
/// lets go of the parent's locks and lifelines without closing descriptors the child's copies
/// of their owners still hold. Only async-signal-safe calls (`open`, `dup3`, `close`).
extern "C" fn forget_in_child() {
    let mut null = -1;
    for slot in &HELD {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd < 0 {
            continue;
        }
        if null < 0 {
            // SAFETY: open(2) of a constant NUL-terminated path; async-signal-safe.
            null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if null < 0 {
                return;
            }
        }
        // SAFETY: replaces a descriptor this process owns with /dev/null, close-on-exec as
        // the original was; async-signal-safe.
        unsafe { libc::dup3(null, fd, libc::O_CLOEXEC) };
    }
    if null >= 0 {
        // SAFETY: closes the descriptor opened just above.
        unsafe { libc::close(null) };
    }
}

impl FileLock {
    fn open(path: &Path) -> Result<File> {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))
    }

    /// Takes the lock if it is free; `None` if another open file holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let file = Self::open(path)?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).map_err(|e| Error::io(path.display(), e))? {
            let lock = FileLock {
                _forgotten: ForkForgotten::new(file.as_raw_fd()),
                file,
                path: path.to_path_buf(),
            };
            lock.record_owner();
            Ok(Some(lock))
        } else {
            Ok(None)
        }
    }

    /// Waits for the lock, checking `give_up` between tries; `on_wait` is called once, with the
    /// pid recorded by the holder, if the lock was not free at once. `None` if `give_up` said so.
    pub fn acquire(
        path: &Path,
        give_up: impl Fn() -> bool,
        on_wait: impl FnOnce(Option<u32>),
    ) -> Result<Option<FileLock>> {
        if let Some(lock) = Self::try_acquire(path)? {
            return Ok(Some(lock));
        }
        on_wait(holder(path));
        loop {
            if give_up() {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
            if let Some(lock) = Self::try_acquire(path)? {
                return Ok(Some(lock));
            }
        }
    }

    /// Writes this process's pid into the lock file, for messages about who holds it.
    fn record_owner(&self) {
        let mut file = &self.file;
        let _ = file.set_len(0);
        let _ = std::io::Seek::rewind(&mut file);
        let _ = writeln!(file, "{}", std::process::id());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether some open file holds the lock at `path` now.
pub fn is_locked(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(flock(&file, libc::LOCK_SH | libc::LOCK_NB), Ok(false))
}

/// The pid the holder of `path` recorded.
pub fn holder(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `flock(2)`: `Ok(false)` when `LOCK_NB` was given and the lock is held elsewhere.
fn flock(file: &File, op: libc::c_int) -> std::io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor this `File` owns; it touches no memory.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// The lock the serving daemon holds.
pub fn serve_lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.lock")
}

/// The lock a process holds while one of its builds runs.
pub fn build_lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("build.lock")
}

/// Takes the serving lock, or says who holds it.
pub fn lock_for_serving(state_dir: &Path, root: &Path) -> Result<FileLock> {
    let path = serve_lock_path(state_dir);
    // A process checking whether a daemon serves holds a shared lock for a moment: try again
    // briefly before calling the lock taken.
    for _ in 0..10 {
        if let Some(lock) = FileLock::try_acquire(&path)? {
            return Ok(lock);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    FileLock::try_acquire(&path)?.ok_or_else(|| {
        let who = holder(&path).map_or_else(String::new, |pid| format!(" (pid {pid})"));
        Error::new(
            ErrorCode::Busy,
            format!(
                "another buildnet daemon{who} already serves {}: it holds {}",
                root.display(),
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/.buildnet");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&state).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(".gitignore")), 0o600);
        let f = state.join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_private(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
    }

    /// The fork test's child would share the other test's lock if it forked in the middle of it.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A forked child shares its parent's open files: without letting go in the child, the
    /// lock would outlive the parent's drop for as long as the child runs.
    #[test]
    fn a_forked_child_does_not_keep_the_parents_lock() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.lock");
        let held = FileLock::try_acquire(&path).unwrap().unwrap();
        let mut ready = [0; 2];
        // SAFETY: a pipe for the child to say it runs (its fork handlers have run by then).
        assert_eq!(unsafe { libc::pipe(ready.as_mut_ptr()) }, 0);
        // SAFETY: the child only writes, sleeps and exits (async-signal-safe calls).
        let child = unsafe { libc::fork() };
        if child == 0 {
            // SAFETY: as above.
            unsafe {
                libc::write(ready[1], b"x".as_ptr().cast(), 1);
                libc::usleep(1_500_000);
                libc::_exit(0);
            }
        }
        assert!(child > 0);
        let mut byte = [0u8; 1];
        // SAFETY: reads one byte into a local buffer; then closes both ends.
        unsafe {
            libc::read(ready[0], byte.as_mut_ptr().cast(), 1);
            libc::close(ready[0]);
            libc::close(ready[1]);
        }
        drop(held);
        let free = !is_locked(&path);
        // SAFETY: reaps the child forked above.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
        assert!(free, "the child still held the lock");
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped_and_names_its_holder() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        assert!(!is_locked(&path));
        let held = FileLock::try_acquire(&path).unwrap().unwrap();
        assert!(is_locked(&path));
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        assert_eq!(holder(&path), Some(std::process::id()));
        let mut waited_for = None;
        let gave_up = FileLock::acquire(&path, || true, |pid| waited_for = pid).unwrap();
        assert!(gave_up.is_none());
        assert_eq!(waited_for, Some(std::process::id()));
        drop(held);
        assert!(!is_locked(&path));
        assert!(FileLock::acquire(&path, || true, |_| panic!("it was free"))
            .unwrap()
            .is_some());
    }
}
