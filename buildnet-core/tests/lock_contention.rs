//! 8 threads in each of 2 processes contend for one lock 1,000 times in all: never two holders
//! at once, and fencing numbers strictly increase.
//!
//! The test re-runs its own executable as the two worker processes. Each holder appends
//! `A <fence>` to a shared log right after acquiring and `R <fence>` right before releasing
//! (appends of one short line are atomic), so overlapping holders would show up as two `A`
//! lines in a row.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use buildnet_core::state::{Store, StoreOptions};

const PROCESSES: usize = 2;
const THREADS: usize = 8;
const TOTAL: usize = 1000;
const RESOURCE: &str = "contended";

fn worker_process(db: &Path, log: &Path, acquisitions: usize) {
    let store = Arc::new(Store::open(db, StoreOptions::default()).unwrap());
    let taken = Arc::new(AtomicUsize::new(0));
    let held_here = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (store, taken, held_here) = (
                Arc::clone(&store),
                Arc::clone(&taken),
                Arc::clone(&held_here),
            );
            let log = log.to_path_buf();
            std::thread::spawn(move || {
                let mut out = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                loop {
                    if taken.load(Ordering::SeqCst) >= acquisitions {
                        return;
                    }
                    let Some(lock) = store.acquire_lock(RESOURCE, 30_000).unwrap() else {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    };
                    if taken.fetch_add(1, Ordering::SeqCst) >= acquisitions {
                        assert!(store.release_lock(RESOURCE, &lock.token).unwrap());
                        return;
                    }
                    assert!(
                        !held_here.swap(true, Ordering::SeqCst),
                        "two holders in one process"
                    );
                    out.write_all(format!("A {}\n", lock.fence).as_bytes())
                        .unwrap();
                    std::thread::yield_now();
                    out.write_all(format!("R {}\n", lock.fence).as_bytes())
                        .unwrap();
                    held_here.store(false, Ordering::SeqCst);
                    assert!(
                        store.release_lock(RESOURCE, &lock.token).unwrap(),
                        "lost the lock"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn lock_is_exclusive_across_threads_and_processes() {
    if let Ok(db) = std::env::var("BUILDNET_TEST_LOCK_DB") {
        let log = std::env::var("BUILDNET_TEST_LOCK_LOG").unwrap();
        let n: usize = std::env::var("BUILDNET_TEST_LOCK_COUNT")
            .unwrap()
            .parse()
            .unwrap();
        worker_process(Path::new(&db), Path::new(&log), n);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let log = dir.path().join("holders.log");
    std::fs::write(&log, b"").unwrap();
    drop(Store::open(&db, StoreOptions::default()).unwrap());
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "lock_is_exclusive_across_threads_and_processes",
                    "--test-threads=1",
                ])
                .env("BUILDNET_TEST_LOCK_DB", &db)
                .env("BUILDNET_TEST_LOCK_LOG", &log)
                .env("BUILDNET_TEST_LOCK_COUNT", (TOTAL / PROCESSES).to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a worker process failed: {status:?}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * TOTAL, "every acquisition is logged");
    let mut last_fence = 0i64;
    for pair in lines.chunks(2) {
        let acquired = pair[0]
            .strip_prefix("A ")
            .unwrap_or_else(|| panic!("overlap at {pair:?}"));
        let released = pair[1]
            .strip_prefix("R ")
            .unwrap_or_else(|| panic!("overlap at {pair:?}"));
        assert_eq!(acquired, released, "another holder in between: {pair:?}");
        let fence: i64 = acquired.parse().unwrap();
        assert!(fence > last_fence, "fence {fence} after {last_fence}");
        last_fence = fence;
    }
}
