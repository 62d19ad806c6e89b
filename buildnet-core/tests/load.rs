//! Load on the state store: 50 writers in 5 processes write keys and take leases for 30 s
//! (`BUILDNET_LOAD_SECS` changes it), and one process is SIGKILLed at a random moment.
//!
//! - No write fails (no `SQLITE_BUSY` reaches a caller: writers queue in `BEGIN IMMEDIATE`).
//! - Every write a process was told had committed is there afterwards, the killed one's too.
//! - Fencing numbers are never handed out twice and grow with every lease a writer takes.
//!
//! The test re-runs its own executable as the worker processes. Each writer thread appends a
//! line to its own file after each acknowledged operation (`K key` after a write, `L fence`
//! after a lease), so what was acknowledged is known even for the process that was killed.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildnet_core::state::{Store, StoreOptions};

const PROCESSES: usize = 5;
const THREADS: usize = 10;

fn seconds() -> u64 {
    std::env::var("BUILDNET_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn worker_process(db: &Path, dir: &Path, proc_no: usize, secs: u64) {
    let store = Arc::new(Store::open(db, StoreOptions::default()).unwrap());
    let until = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            let path = dir.join(format!("acks-{proc_no}-{t}"));
            std::thread::spawn(move || {
                let mut acks = std::fs::File::create(&path).unwrap();
                let mut n = 0u64;
                while Instant::now() < until {
                    n += 1;
                    let key = format!("p{proc_no}/t{t}/{n}");
                    match store.kv_set(&key, &n.to_string(), None) {
                        Ok(()) => acks.write_all(format!("K {key} {n}\n").as_bytes()).unwrap(),
                        Err(e) => acks.write_all(format!("E {e}\n").as_bytes()).unwrap(),
                    }
                    if n % 10 == 0 {
                        let resource = format!("r{}", n % 4);
                        match store.acquire_lock(&resource, 5_000) {
                            Ok(Some(lock)) => {
                                acks.write_all(format!("L {}\n", lock.fence).as_bytes())
                                    .unwrap();
                                if let Err(e) = store.release_lock(&resource, &lock.token) {
                                    acks.write_all(format!("E {e}\n").as_bytes()).unwrap();
                                }
                            }
                            Ok(None) => {}
                            Err(e) => acks.write_all(format!("E {e}\n").as_bytes()).unwrap(),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn fifty_writers_in_five_processes_with_one_killed() {
    if let Ok(db) = std::env::var("BUILDNET_TEST_LOAD_DB") {
        let dir = std::env::var("BUILDNET_TEST_LOAD_DIR").unwrap();
        let proc_no = std::env::var("BUILDNET_TEST_LOAD_PROC")
            .unwrap()
            .parse()
            .unwrap();
        worker_process(Path::new(&db), Path::new(&dir), proc_no, seconds());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    drop(Store::open(&db, StoreOptions::default()).unwrap());
    let exe = std::env::current_exe().unwrap();
    let secs = seconds();
    let started = Instant::now();
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            std::process::Command::new(&exe)
                .args(["--exact", "fifty_writers_in_five_processes_with_one_killed"])
                .args(["--test-threads=1"])
                .env("BUILDNET_TEST_LOAD_DB", &db)
                .env("BUILDNET_TEST_LOAD_DIR", dir.path())
                .env("BUILDNET_TEST_LOAD_PROC", p.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // One process dies at a random moment of the run.
    let random = std::collections::hash_map::RandomState::new().hash_one(started);
    let victim = (random % PROCESSES as u64) as usize;
    let kill_after = Duration::from_millis(1000 + (random >> 8) % (secs * 1000).max(2000) / 2);
    std::thread::sleep(kill_after);
    children[victim].kill().unwrap();
    let killed_at = started.elapsed();
    for (i, child) in children.iter_mut().enumerate() {
        let status = child.wait().unwrap();
        assert!(
            i == victim || status.success(),
            "worker {i} failed: {status:?}"
        );
    }
    let elapsed = started.elapsed();

    let store = Store::open(&db, StoreOptions::default()).unwrap();
    let mut stored: HashMap<String, String> = HashMap::new();
    let mut after = None;
    loop {
        let page = store
            .kv_page("p", after.as_deref(), 10_000, usize::MAX)
            .unwrap();
        stored.extend(page.entries.into_iter().map(|e| (e.key, e.value)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let (mut writes, mut leases, mut errors) = (0usize, 0usize, Vec::new());
    let mut fences = HashSet::new();
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("acks-") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let mut last_fence = 0i64;
        // A line cut short by the kill was not acknowledged to anyone: only whole lines count.
        let whole = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in whole.lines() {
            let mut parts = line.split(' ');
            match parts.next() {
                Some("K") => {
                    let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    writes += 1;
                    assert_eq!(
                        stored.get(key).map(String::as_str),
                        Some(value),
                        "acknowledged write {key} is missing ({name})"
                    );
                }
                Some("L") => {
                    let Some(Ok(fence)) = parts.next().map(str::parse::<i64>) else {
                        continue;
                    };
                    leases += 1;
                    assert!(
                        fence > last_fence,
                        "{name}: fence {fence} after {last_fence}"
                    );
                    assert!(fences.insert(fence), "fence {fence} handed out twice");
                    last_fence = fence;
                }
                Some("E") => errors.push(line.to_owned()),
                _ => {}
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} writes failed, first: {}",
        errors.len(),
        errors[0]
    );
    assert!(
        writes > 1000 && leases > 10,
        "{writes} writes, {leases} leases"
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    eprintln!(
        "load: {PROCESSES} processes x {THREADS} writers for {secs} s (worker {victim} killed at \
         {:.1} s): {writes} acknowledged writes ({:.0}/s), {leases} leases, all present, no error",
        killed_at.as_secs_f64(),
        writes as f64 / elapsed.as_secs_f64(),
    );
}
