//! The one tokio runtime of the process, created on first use and owned by core.
//!
//! The synchronous facade blocks on it from outside it, never from inside it (that would
//! deadlock a worker thread, so it is refused with an error). The runtime remembers the pid
//! that created it: after `fork()` its threads do not exist in the child, so every call from a
//! forked child fails with a clear error instead of hanging.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use crate::error::{Error, Result};

struct Owned {
    runtime: tokio::runtime::Runtime,
    pid: u32,
}

static RUNTIME: OnceLock<std::result::Result<Owned, String>> = OnceLock::new();

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
    let owned = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("buildnet-rt")
                .enable_all()
                .build()
                .map(|runtime| Owned {
                    runtime,
                    pid: std::process::id(),
                })
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    if owned.pid != std::process::id() {
        return Err(Error::invalid_state(
            "buildnet was started in a parent process and cannot be used after fork(); \
             create a new client in the child",
        ));
    }
    Ok(&owned.runtime)
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
