//! State store and hashing benchmarks, each beside the baseline a user would compare it with:
//! a plain rusqlite connection with the same schema and pragmas.
//!
//! `cargo bench -p buildnet-core --bench core` (scripts/bench.sh runs it and collects numbers).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use buildnet_core::hash::TreeHasher;
use buildnet_core::state::{Durability, Store, StoreOptions};
use criterion::{criterion_group, criterion_main, Criterion};

const KEYS: usize = 10_000;

fn raw_connection(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    c.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -64000; PRAGMA mmap_size = 268435456;
         CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL,
             expires_at INTEGER, updated_at INTEGER NOT NULL) STRICT, WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;",
    )
    .unwrap();
    c
}

fn filled_store(dir: &Path, read_cache: bool) -> Store {
    let store = Store::open(
        &dir.join("state.db"),
        StoreOptions {
            read_cache,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    if store.kv_count().unwrap() == 0 {
        for i in 0..KEYS {
            store
                .kv_set(&format!("key/{i}"), &format!("value {i}"), None)
                .unwrap();
        }
    }
    store
}

fn kv_get(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cached = filled_store(dir.path(), true);
    let uncached = filled_store(dir.path(), false);
    let raw = raw_connection(&dir.path().join("state.db"));
    let mut group = c.benchmark_group("kv_get");
    let mut i = 0usize;
    group.bench_function("buildnet_cached", |b| {
        b.iter(|| {
            i = (i + 1) % 64;
            black_box(cached.kv_get(&format!("key/{i}")).unwrap())
        })
    });
    group.bench_function("buildnet_uncached", |b| {
        b.iter(|| {
            i = (i + 1) % 64;
            black_box(uncached.kv_get(&format!("key/{i}")).unwrap())
        })
    });
    group.bench_function("rusqlite_point_read", |b| {
        b.iter(|| {
            i = (i + 1) % 64;
            let mut stmt = raw
                .prepare_cached("SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)")
                .unwrap();
            let v: String = stmt
                .query_row(rusqlite::params![format!("key/{i}"), 0i64], |r| r.get(0))
                .unwrap();
            black_box(v)
        })
    });
    group.finish();
}

fn kv_set(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
    let raw = raw_connection(&dir.path().join("raw.db"));
    let mut group = c.benchmark_group("kv_set");
    let mut i = 0u64;
    group.bench_function("buildnet", |b| {
        b.iter(|| {
            i += 1;
            store
                .kv_set(&format!("key/{}", i % 1000), &format!("value {i}"), None)
                .unwrap()
        })
    });
    group.bench_function("rusqlite_autocommit_upsert", |b| {
        b.iter(|| {
            i += 1;
            // The same upsert the store runs, as one plain autocommit statement.
            raw.prepare_cached(
                "INSERT INTO kv (key, value, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                     expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            )
            .unwrap()
            .execute(rusqlite::params![
                format!("key/{}", i % 1000),
                format!("value {i}"),
                None::<i64>,
                i as i64
            ])
            .unwrap();
        })
    });
    // Throughput of N threads writing at once: time per write, all threads together.
    for (mode, durability) in [("normal", Durability::Normal), ("full", Durability::Full)] {
        for threads in [1usize, 8] {
            let path = dir.path().join(format!("{mode}{threads}.db"));
            let options = StoreOptions {
                durability,
                ..StoreOptions::default()
            };
            let store = Arc::new(Store::open(&path, options).unwrap());
            group.bench_function(format!("{mode}_{threads}_threads_per_write"), |b| {
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads as u64);
                    let start = Instant::now();
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let store = Arc::clone(&store);
                            std::thread::spawn(move || {
                                for n in 0..per_thread {
                                    store
                                        .kv_set(
                                            &format!("t{t}/{}", n % 1000),
                                            &format!("v{n}"),
                                            None,
                                        )
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join().unwrap();
                    }
                    let elapsed = start.elapsed();
                    elapsed.mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
                })
            });
        }
    }
    group.finish();
}

fn tree_hash(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2000 {
        let path = dir.path().join(format!("pkg{}/src/file{i}.ts", i % 100));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![b'x'; 1024 + (i * 37) % 7168]).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let mut group = c.benchmark_group("tree_hash_2000_files");
    group.bench_function("cold", |b| {
        b.iter(|| black_box(TreeHasher::new().hash_tree(dir.path(), &[], &[]).unwrap()))
    });
    let warm = TreeHasher::new();
    warm.hash_tree(dir.path(), &[], &[]).unwrap();
    group.bench_function("warm_stat_cache", |b| {
        b.iter(|| black_box(warm.hash_tree(dir.path(), &[], &[]).unwrap()))
    });
    group.finish();
}

/// The in-memory hashes the bindings expose (`blake3` / `blake3Hash` / `blake3_hash`): the Rust
/// figure the bindings' benchmarks compare with.
fn hash_in_memory(c: &mut Criterion) {
    let data: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut group = c.benchmark_group("hash_in_memory_1mib");
    group.throughput(criterion::Throughput::Bytes(data.len() as u64));
    group.bench_function("blake3", |b| {
        b.iter(|| black_box(buildnet_core::hash::blake3(black_box(&data))))
    });
    group.bench_function("xxh3_64", |b| {
        b.iter(|| black_box(buildnet_core::hash::xxh3_64(black_box(&data))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = kv_get, kv_set, tree_hash, hash_in_memory
}
criterion_main!(benches);
