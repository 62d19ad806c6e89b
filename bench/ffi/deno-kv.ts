// The Deno binding's hot paths against the runtime's own SQLite, in one process:
//   getState("bench/key") (a 100-byte value) vs the same point query through node:sqlite,
//   alternated over 5 rounds (medians), and BLAKE3 of 1 MiB in MB/s.
// usage: BUILDNET_LIB=target/release/libbuildnet.so \
//          deno run --allow-ffi --allow-read --allow-write --allow-env bench/ffi/deno-kv.ts
// Prints one JSON line: {"runtime":"deno","get_ns":...,"sqlite_get_ns":...,"ratio":...,...}
import { DatabaseSync } from "node:sqlite";
import { blake3, BuildNetClient } from "../../bindings/deno/mod.ts";

// BUILDNET_BENCH_QUICK=1 (scripts/bench.sh --quick): a tenth of the calls, a smoke check.
const QUICK = (typeof Deno !== "undefined" ? Deno.env.get("BUILDNET_BENCH_QUICK") : process.env.BUILDNET_BENCH_QUICK) === "1";
const N = QUICK ? 20_000 : 200_000;
const ROUNDS = 5;
const KEY = "bench/key";
const VALUE = "v".repeat(100);

const dir = Deno.makeTempDirSync({ prefix: "buildnet-bench-ffi-" });
Deno.writeTextFileSync(`${dir}/buildnet.yaml`, "server:\n  port: 0\n");
const client = new BuildNetClient(`${dir}/buildnet.yaml`);
client.setState(KEY, VALUE);

const db = new DatabaseSync(`${dir}/kv.db`);
db.exec("PRAGMA journal_mode = WAL");
db.exec(`
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT
`);
db.prepare("INSERT INTO kv (key, value) VALUES (?, ?)").run(KEY, VALUE);
const select = db.prepare("SELECT value FROM kv WHERE key = ?");

function viaBuildNet(): string | null {
  let last: string | null = null;
  for (let i = 0; i < N; i++) last = client.getState(KEY);
  return last;
}

function viaSqlite(): string | null {
  let last: string | null = null;
  for (let i = 0; i < N; i++) {
    last = (select.get(KEY) as { value: string } | undefined)?.value ?? null;
  }
  return last;
}

/** Nanoseconds per call of one run of `body` (N calls). */
function perCall(body: () => string | null): number {
  const start = performance.now();
  const value = body();
  const ns = ((performance.now() - start) * 1e6) / N;
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
  const start = performance.now();
  while (performance.now() - start < 200) {
    blake3(MiB);
    bytes += MiB.length;
  }
  rates.push(bytes / 1e6 / ((performance.now() - start) / 1e3));
}

client.destroy();
db.close();
Deno.removeSync(dir, { recursive: true });

const getNs = median(get);
const sqliteNs = median(sqlite);
console.log(JSON.stringify({
  runtime: "deno",
  get_ns: Math.round(getNs),
  sqlite_get_ns: Math.round(sqliteNs),
  ratio: Number((getNs / sqliteNs).toFixed(2)),
  blake3_1mib_mbps: Math.round(median(rates)),
}));
