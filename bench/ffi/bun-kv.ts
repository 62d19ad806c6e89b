// The Bun binding's hot paths against the runtime's own SQLite, in one process:
//   getState("bench/key") (a 100-byte value) vs the same point query through bun:sqlite,
//   alternated over 5 rounds (medians), and BLAKE3 of 1 MiB in MB/s.
// usage: BUILDNET_LIB=target/release/libbuildnet.so bun bench/ffi/bun-kv.ts
// Prints one JSON line: {"runtime":"bun","get_ns":...,"sqlite_get_ns":...,"ratio":...,...}
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake3, BuildNetClient } from "../../bindings/bun/index.ts";

// BUILDNET_BENCH_QUICK=1 (scripts/bench.sh --quick): a tenth of the calls, a smoke check.
const QUICK = (typeof Deno !== "undefined" ? Deno.env.get("BUILDNET_BENCH_QUICK") : process.env.BUILDNET_BENCH_QUICK) === "1";
const N = QUICK ? 20_000 : 200_000;
const ROUNDS = 5;
const KEY = "bench/key";
const VALUE = "v".repeat(100);

const dir = mkdtempSync(join(tmpdir(), "buildnet-bench-ffi-"));
writeFileSync(join(dir, "buildnet.yaml"), "server:\n  port: 0\n");
const client = new BuildNetClient(join(dir, "buildnet.yaml"));
client.setState(KEY, VALUE);

const db = new Database(join(dir, "kv.db"));
db.exec("PRAGMA journal_mode = WAL");
db.exec(`
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT
`);
db.query("INSERT INTO kv (key, value) VALUES (?, ?)").run(KEY, VALUE);
const select = db.prepare<{ value: string }, [string]>("SELECT value FROM kv WHERE key = ?");

function viaBuildNet(): string | null {
  let last: string | null = null;
  for (let i = 0; i < N; i++) last = client.getState(KEY);
  return last;
}

function viaSqlite(): string | null {
  let last: string | null = null;
  for (let i = 0; i < N; i++) last = select.get(KEY)?.value ?? null;
  return last;
}

/** Nanoseconds per call of one run of `body` (N calls). */
function perCall(body: () => string | null): number {
  const start = Bun.nanoseconds();
  const value = body();
  const ns = (Bun.nanoseconds() - start) / N;
  if (value !== VALUE) throw new Error(`read ${JSON.stringify(value)}`);
  return ns;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

viaBuildNet();
viaSqlite();
const get: number[] = [];
const sqlite: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  get.push(perCall(viaBuildNet));
  sqlite.push(perCall(viaSqlite));
}

const MiB = new Uint8Array(1 << 20).map((_, i) => i % 251);
blake3(MiB);
const rates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  let bytes = 0;
  const start = Bun.nanoseconds();
  while (Bun.nanoseconds() - start < 200e6) {
    blake3(MiB);
    bytes += MiB.length;
  }
  rates.push(bytes / 1e6 / ((Bun.nanoseconds() - start) / 1e9));
}

client.destroy();
db.close();
rmSync(dir, { recursive: true, force: true });

const getNs = median(get);
const sqliteNs = median(sqlite);
console.log(JSON.stringify({
  runtime: "bun",
  get_ns: Math.round(getNs),
  sqlite_get_ns: Math.round(sqliteNs),
  ratio: Number((getNs / sqliteNs).toFixed(2)),
  blake3_1mib_mbps: Math.round(median(rates)),
}));
