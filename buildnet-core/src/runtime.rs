//! The one tokio runtime of the process, created on first use and owned by core.
//!
//! The synchronous facade blocks on it from outside it, never from inside it (that would
//! deadlock a worker thread, so it is refused with an error). The runtime remembers the pid
//! that created it: after `fork()` its threads do not exist in the child, so a child gets a
//! runtime of its own (the parent's copy is left alone: its threads are gone and its locks may
//! be held). Handles opened before the fork refuse to work in the child (see
//! [`fork_generation`]), and rayon's pool, whose threads are gone too, is not used there
//! ([`parallel`]).

use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;

use crate::error::{Error, Result};

struct Owned {
    runtime: tokio::runtime::Runtime,
    pid: u32,
}

/// The current process's runtime (leaked: it lives as long as the process). A forked child
/// finds its parent's here, with a different pid, and replaces it.
static RUNTIME: AtomicPtr<Owned> = AtomicPtr::new(std::ptr::null_mut());

/// Most worker threads: enough for the server and the background tasks; CPU-heavy work
/// (hashing) runs on rayon, and SQLite work on the caller's thread or the blocking pool.
const MAX_WORKER_THREADS: usize = 2;

/// Worker threads: [`MAX_WORKER_THREADS`], but no more than the cores this process may run on
/// (two workers sharing one core only hand work back and forth).
fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKER_THREADS)
}

/// The process's runtime, created if needed.
pub fn get() -> Result<&'static tokio::runtime::Runtime> {
    let pid = std::process::id();
    let current = RUNTIME.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was leaked from a Box below and is never freed.
    if let Some(owned) = unsafe { current.as_ref() } {
        if owned.pid == pid {
            return Ok(&owned.runtime);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .thread_name("buildnet-rt")
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    let fresh = Box::into_raw(Box::new(Owned { runtime, pid }));
    match RUNTIME.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` was just leaked and is now published; it is never freed.
        Ok(_) => Ok(unsafe { &(*fresh).runtime }),
        Err(winner) => {
            // Another thread created one first: use it and drop ours (outside any runtime).
            // SAFETY: `fresh` was never published, so this is its only owner.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: as above, the published pointer is never freed.
            let owned = unsafe { &*winner };
            if owned.pid != pid {
                return Err(Error::internal(
                    "the async runtime changed hands during fork()",
                ));
            }
            Ok(&owned.runtime)
        }
    }
}

/// How many times this process's ancestry forked since the engine was first used: bumped in the
/// child by a `pthread_atfork` handler, so checking it costs one atomic load (no `getpid`).
static FORKS: AtomicU64 = AtomicU64::new(0);
static WATCH_FORKS: Once = Once::new();

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation. A handle remembers it when made; a handle made before a
/// `fork()` sees a different number in the child and refuses to be used there.
pub(crate) fn fork_generation() -> u64 {
    WATCH_FORKS.call_once(|| {
        #[cfg(unix)]
        // SAFETY: registers a handler that only bumps an atomic, which is async-signal-safe as
        // the child side of fork() requires; the function is 'static.
        unsafe {
            libc::pthread_atfork(None, None, Some(forked_child));
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), read once; `""` where there is none.
/// Lease deadlines and the records of running commands are only meaningful within one boot.
pub(crate) fn boot_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

/// Whether rayon's global pool may be used: not in a forked child, where its threads do not
/// exist (work queued there would wait forever); callers then work on the calling thread.
pub(crate) fn parallel() -> bool {
    fork_generation() == 0
}

/// Runs `future` to completion from synchronous code.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::invalid_state(
            "a blocking buildnet call was made from inside an async runtime; \
             call it from a plain thread (e.g. spawn_blocking)",
        ));
    }
    Ok(get()?.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_runs_and_refuses_nesting() {
        assert_eq!(block_on(async { 41 + 1 }).unwrap(), 42);
        let nested = block_on(async { block_on(async {}) }).unwrap();
        assert_eq!(
            nested.unwrap_err().code(),
            crate::error::ErrorCode::InvalidState
        );
    }
}
