"""The Python binding's hot paths against the standard library's sqlite3, in one process:
  get_state("bench/key") (a 100-char value) vs the same point query through
  `con.execute(...).fetchone()[0]` (the idiomatic way; sqlite3's statement cache keeps it
  prepared), 200,000 calls per round; set_state vs an upsert + commit, 20,000 calls per round;
  each pair alternated over 5 rounds after a warm-up (medians); and blake3_hash of 64 MiB vs
  hashlib.sha256 of the same bytes (3 rounds each, MB/s).
usage: python bench/python/kv.py   (with a release `buildnet` wheel installed; a debug
       wheel's figures mean nothing)
Prints one JSON line: {"runtime":"python","get_ns":...,"sqlite3_get_ns":...,...}
"""

import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import buildnet
from buildnet import BuildNetClient

# BUILDNET_BENCH_QUICK=1 (scripts/bench.sh --quick): a tenth of the calls, a smoke check.
QUICK = os.environ.get("BUILDNET_BENCH_QUICK") == "1"
GET_N = 20_000 if QUICK else 200_000
SET_N = 2_000 if QUICK else 20_000
ROUNDS = 5
HASH_ROUNDS = 3
KEY = "bench/key"
VALUE = "v" * 100
# Writes alternate two values of the same length, so no write is a no-op rewrite.
VALUES = (VALUE, "w" * 100)
SELECT = "SELECT value FROM kv WHERE key = ?"
UPSERT = """
    INSERT INTO kv (key, value) VALUES (?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value
"""


def per_call(body: Callable[[], Optional[str]], n: int, expected: str) -> float:
    """Nanoseconds per call of one run of `body` (`n` calls), checking what it returned."""
    start = time.perf_counter_ns()
    value = body()
    ns = (time.perf_counter_ns() - start) / n
    if value != expected:
        raise AssertionError(f"read {value!r}")
    return ns


def alternate(
    a: Callable[[], Optional[str]], b: Callable[[], Optional[str]], n: int, expected: str
) -> Tuple[float, float]:
    """Alternates `a` and `b` over ROUNDS rounds after one warm-up run each; their medians."""
    a()
    b()
    a_ns: List[float] = []
    b_ns: List[float] = []
    for _ in range(ROUNDS):
        a_ns.append(per_call(a, n, expected))
        b_ns.append(per_call(b, n, expected))
    return statistics.median(a_ns), statistics.median(b_ns)


def rate(hash_once: Callable[[], str], size: int) -> float:
    """MB/s of `hash_once()` over `size` bytes, median of HASH_ROUNDS after one warm-up."""
    hash_once()
    rates = []
    for _ in range(HASH_ROUNDS):
        start = time.perf_counter()
        hash_once()
        rates.append(size / 1e6 / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="buildnet-bench-python-"))
    try:
        (work / "buildnet.yaml").write_text("server:\n  port: 0\n")
        bn = BuildNetClient(work / "buildnet.yaml")  # never started: nothing listens
        bn.set_state(KEY, VALUE)

        # BuildNet's `durability` defaults to `normal` (buildnet-core/src/config.rs, Durability
        # in state/mod.rs): WAL with `synchronous = NORMAL`. sqlite3 gets the same, so the set
        # figures compare equal durability (a commit survives a process crash, not power loss).
        con = sqlite3.connect(work / "kv.db")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute(
            """
            CREATE TABLE kv (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) STRICT
            """
        )
        con.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (KEY, VALUE))
        con.commit()

        get_state, set_state, execute = bn.get_state, bn.set_state, con.execute

        def get_via_buildnet() -> Optional[str]:
            last = None
            for _ in range(GET_N):
                last = get_state(KEY)
            return last

        def get_via_sqlite3() -> Optional[str]:
            last = None
            for _ in range(GET_N):
                last = execute(SELECT, (KEY,)).fetchone()[0]
            return last

        def set_via_buildnet() -> Optional[str]:
            for i in range(SET_N):
                set_state(KEY, VALUES[i & 1])
            return get_state(KEY)

        def set_via_sqlite3() -> Optional[str]:
            for i in range(SET_N):
                execute(UPSERT, (KEY, VALUES[i & 1]))
                con.commit()
            value: str = execute(SELECT, (KEY,)).fetchone()[0]
            return value

        get_ns, sqlite3_get_ns = alternate(get_via_buildnet, get_via_sqlite3, GET_N, VALUE)
        # SET_N is even, so the last value written is VALUES[1].
        set_ns, sqlite3_set_ns = alternate(set_via_buildnet, set_via_sqlite3, SET_N, VALUES[1])

        size = 64 << 20
        data = (bytes(range(251)) * (size // 251 + 1))[:size]  # byte i = i % 251
        blake3_mbps = rate(lambda: buildnet.blake3_hash(data), size)
        sha256_mbps = rate(lambda: hashlib.sha256(data).hexdigest(), size)

        bn.close()
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
        f"buildnet {buildnet.__version__} from {Path(buildnet.__file__).parent}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "runtime": "python",
                "get_ns": round(get_ns),
                "sqlite3_get_ns": round(sqlite3_get_ns),
                "ratio": round(get_ns / sqlite3_get_ns, 2),
                "set_ns": round(set_ns),
                "sqlite3_set_ns": round(sqlite3_set_ns),
                "set_ratio": round(set_ns / sqlite3_set_ns, 2),
                "blake3_64mib_mbps": round(blake3_mbps),
                "sha256_64mib_mbps": round(sha256_mbps),
                "blake3_vs_sha256": round(blake3_mbps / sha256_mbps, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
