// The Node addon's hot paths against better-sqlite3, in one process:
//   getState("bench/key") (a 100-char value) vs the same point query through a prepared
//   better-sqlite3 statement (`.pluck().get()`, so both return the value string), 200,000 calls
//   per round; setState vs a better-sqlite3 upsert, 20,000 calls per round; each pair
//   alternated over 5 rounds after a warm-up (medians); and BLAKE3 of a 64 MiB Buffer vs
//   node:crypto's SHA-256 of the same Buffer (3 rounds each, MB/s).
// usage: node bench/node/kv.mjs        (after `npm ci` and a release `npm run build` in
//        bindings/node; a debug addon's figures mean nothing)
// Prints one JSON line: {"runtime":"node","get_ns":...,"better_sqlite3_get_ns":...,...}
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Both packages come from bindings/node: the addon's loader and its devDependency.
const requireNode = createRequire(new URL('../../bindings/node/package.json', import.meta.url))
const { BuildNetClient, blake3Hash } = requireNode('./index.js')
const Database = requireNode('better-sqlite3')

// BUILDNET_BENCH_QUICK=1 (scripts/bench.sh --quick): a tenth of the calls, a smoke check.
const QUICK = process.env.BUILDNET_BENCH_QUICK === '1'
const GET_N = QUICK ? 20_000 : 200_000
const SET_N = QUICK ? 2_000 : 20_000
const ROUNDS = 5
const HASH_ROUNDS = 3
const KEY = 'bench/key'
const VALUE = 'v'.repeat(100)
// Writes alternate two values of the same length, so no write is a no-op rewrite.
const VALUES = [VALUE, 'w'.repeat(100)]

const dir = mkdtempSync(join(tmpdir(), 'buildnet-bench-node-'))
writeFileSync(join(dir, 'buildnet.yaml'), 'server:\n  port: 0\n')
const client = new BuildNetClient(join(dir, 'buildnet.yaml'))
client.setState(KEY, VALUE)

// BuildNet's `durability` defaults to `normal` (buildnet-core/src/config.rs, Durability in
// state/mod.rs): WAL with `synchronous = NORMAL`. better-sqlite3 gets the same, so the set
// figures compare equal durability (a commit survives a process crash, not a power loss).
const db = new Database(join(dir, 'kv.db'))
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.exec(`
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT
`)
db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run(KEY, VALUE)
const select = db.prepare('SELECT value FROM kv WHERE key = ?').pluck()
const upsert = db.prepare(`
  INSERT INTO kv (key, value) VALUES (?, ?)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value
`)

function getViaBuildNet() {
  let last = null
  for (let i = 0; i < GET_N; i++) last = client.getState(KEY)
  return last
}

function getViaSqlite() {
  let last = null
  for (let i = 0; i < GET_N; i++) last = select.get(KEY)
  return last
}

function setViaBuildNet() {
  for (let i = 0; i < SET_N; i++) client.setState(KEY, VALUES[i & 1])
  return client.getState(KEY)
}

function setViaSqlite() {
  for (let i = 0; i < SET_N; i++) upsert.run(KEY, VALUES[i & 1])
  return select.get(KEY)
}

/** Nanoseconds per call of one run of `body` (`n` calls), checking what it returned. */
function perCall(body, n, expected) {
  const start = process.hrtime.bigint()
  const value = body()
  const ns = Number(process.hrtime.bigint() - start) / n
  if (value !== expected) throw new Error(`read ${JSON.stringify(value)}`)
  return ns
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Alternates `a` and `b` over ROUNDS rounds after one warm-up run each; their medians. */
function alternate(a, b, n, expected) {
  a()
  b()
  const as = []
  const bs = []
  for (let round = 0; round < ROUNDS; round++) {
    as.push(perCall(a, n, expected))
    bs.push(perCall(b, n, expected))
  }
  return [median(as), median(bs)]
}

const [getNs, sqliteGetNs] = alternate(getViaBuildNet, getViaSqlite, GET_N, VALUE)
// SET_N is even, so the last value written is VALUES[1].
const [setNs, sqliteSetNs] = alternate(setViaBuildNet, setViaSqlite, SET_N, VALUES[1])

const data = Buffer.alloc(64 << 20)
for (let i = 0; i < data.length; i++) data[i] = i % 251

/** MB/s of `hash(data)`, median of HASH_ROUNDS after one warm-up. */
function rate(hash) {
  hash()
  const rates = []
  for (let round = 0; round < HASH_ROUNDS; round++) {
    const start = process.hrtime.bigint()
    hash()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    rates.push(data.length / 1e6 / seconds)
  }
  return median(rates)
}

const blake3Mbps = rate(() => blake3Hash(data))
const sha256Mbps = rate(() => createHash('sha256').update(data).digest('hex'))

await client.close()
db.close()
rmSync(dir, { recursive: true, force: true })

console.log(
  JSON.stringify({
    runtime: 'node',
    get_ns: Math.round(getNs),
    better_sqlite3_get_ns: Math.round(sqliteGetNs),
    ratio: Number((getNs / sqliteGetNs).toFixed(2)),
    set_ns: Math.round(setNs),
    better_sqlite3_set_ns: Math.round(sqliteSetNs),
    set_ratio: Number((setNs / sqliteSetNs).toFixed(2)),
    blake3_64mib_mbps: Math.round(blake3Mbps),
    sha256_64mib_mbps: Math.round(sha256Mbps),
    blake3_vs_sha256: Number((blake3Mbps / sha256Mbps).toFixed(2)),
  }),
)
