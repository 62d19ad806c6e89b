// The cross-runtime scenario (tests/scenario/README.md) through the Bun binding, plus the
// binding's own promises: an event stream per events() iterator, `using`, growing getState
// buffers, argument checks made before the C call, the library-not-found message, the error
// codes of tests/vectors/error_codes.json, and the copies of bindings/ffi-common.
// Run: ../ffi-common/sync.sh && BUILDNET_LIB=target/debug/libbuildnet.so bun test
// (scripts/test-ffi.sh does this)
import { afterEach, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  blake3,
  BuildNetClient,
  BuildNetError,
  type BuildNetErrorCode,
  type BuildNetEvent,
  statusOf,
  version,
  xxhash,
} from "../index.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");
const SCENARIO = join(ROOT, "tests", "scenario");
const APP_TXT = "alpha\nbeta\nmain\n";

const temps: string[] = [];
const clients: BuildNetClient[] = [];

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
  // The library may still be closing the state database (deleting state.db-wal) just after
  // destroy() returns, which makes one removal give up with ENOENT: try again.
  for (const dir of temps.splice(0)) {
    for (let tries = 0; existsSync(dir) && tries < 5; tries++) {
      if (tries > 0) Bun.sleepSync(20);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

/** A fresh copy of tests/scenario/<name> in a temporary folder. */
function fixture(name: "workspace" | "cycle"): string {
  const dir = mkdtempSync(join(tmpdir(), `buildnet-bun-${name}-`));
  temps.push(dir);
  cpSync(join(SCENARIO, name), dir, { recursive: true });
  return dir;
}

/** A client over `dir`, destroyed after the test. */
function open(dir: string): BuildNetClient {
  const client = new BuildNetClient(join(dir, "buildnet.yaml"));
  clients.push(client);
  return client;
}

/** The BuildNetError `f` throws; fails if it throws something else or nothing. */
function failure(f: () => unknown, code: BuildNetErrorCode): BuildNetError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(BuildNetError);
    expect((error as BuildNetError).code).toBe(code);
    return error as BuildNetError;
  }
  throw new Error(`expected a BuildNetError ${code}, nothing was thrown`);
}

/** Reads `events` until an event matches `last` (included). */
async function until(
  events: AsyncIterator<BuildNetEvent>,
  last: (e: BuildNetEvent) => boolean,
): Promise<BuildNetEvent[]> {
  const seen: BuildNetEvent[] = [];
  for (;;) {
    const { value, done } = await events.next();
    if (done) {
      throw new Error(`the iterator ended after ${JSON.stringify(seen.map((e) => e.type))}`);
    }
    seen.push(value);
    if (last(value)) return seen;
  }
}

const finishedBuild = (id: string) => (e: BuildNetEvent) =>
  e.type === "build_finished" && e.build_id === id;

function build(client: BuildNetClient, dir: string, cached: boolean): string {
  const id = client.requestBuild(["app"]);
  expect(id).toMatch(/^\S+$/);
  const record = client.waitBuild(id, 60_000);
  expect(record.id).toBe(id);
  expect(record.status).toBe("succeeded");
  expect(record.requested).toEqual(["app"]);
  expect(record.targets.map((t) => [t.target, t.status, t.cached])).toEqual([
    ["lib", "succeeded", cached],
    ["app", "succeeded", cached],
  ]);
  expect(client.getBuild(id).status).toBe("succeeded");
  expect(readFileSync(join(dir, "out", "app.txt"), "utf8")).toBe(APP_TXT);
  return id;
}

test("1. create and start: the status is running on 127.0.0.1 with a real port", () => {
  const client = open(fixture("workspace"));
  client.start();
  client.start(); // starting a started daemon does nothing
  const status = client.getStatus();
  expect(status.running).toBe(true);
  expect(status.version).toBe(version());
  const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(status.address ?? "")?.[1]);
  expect(port).toBeGreaterThan(0);
  client.stop();
  expect(client.getStatus()).toMatchObject({ running: false, address: null });
});

test("2, 3. a cold build runs lib then app; a cached build restores out/ from the cache", () => {
  const dir = fixture("workspace");
  const client = open(dir);
  client.start();
  build(client, dir, false);
  rmSync(join(dir, "out"), { recursive: true });
  build(client, dir, true);
  expect(client.getStatus().cache).toMatchObject({ hits: 2, misses: 2, hit_rate: 0.5 });
});

test("4. events: an iterator made at creation sees the cold build's events, in order", async () => {
  const dir = fixture("workspace");
  const client = open(dir);
  const events = client.events();
  client.start();
  const id = build(client, dir, false);
  const seen = await until(events, finishedBuild(id));
  for (const event of seen) {
    expect(typeof event.type).toBe("string");
    expect("seq" in event && Number.isInteger(event.seq)).toBe(true);
    expect("at_ms" in event && event.at_ms > 0).toBe(true);
  }
  const seqs = seen.map((e) => ("seq" in e ? e.seq : 0));
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  const ofBuild = seen.filter((e) => "build_id" in e && e.build_id === id);
  expect(ofBuild.filter((e) => e.type === "build_started")).toHaveLength(1);
  expect(ofBuild.at(-1)).toMatchObject({ type: "build_finished", status: "succeeded" });
  const finished = ofBuild.flatMap((e) => (e.type === "target_finished" ? [e] : []));
  expect(finished.map((e) => [e.target, e.status, e.cached])).toEqual([
    ["lib", "succeeded", false],
    ["app", "succeeded", false],
  ]);
  expect(seen[0]).toMatchObject({ type: "daemon_started", address: client.getStatus().address });
  expect(await events.return!()).toEqual({ value: undefined, done: true });
  expect(await events.next()).toEqual({ value: undefined, done: true });
});

test("events: concurrent iterators each get every event from when they were made", async () => {
  const dir = fixture("workspace");
  const client = open(dir);
  client.start();
  const a = client.events();
  const b = client.events();
  const first = build(client, dir, false);
  // The first build's events are still unread in a's and b's streams: the next iterator opens
  // its own stream after them and must get none of them.
  const late = client.events();
  rmSync(join(dir, "out"), { recursive: true });
  const second = build(client, dir, true);
  const seenA = await until(a, finishedBuild(second));
  const cut = seenA.findIndex(finishedBuild(first)) + 1;
  expect(cut).toBeGreaterThan(0);
  expect(seenA.slice(0, cut).map((e) => e.type)).toContain("build_started");
  expect(await until(b, finishedBuild(first))).toEqual(seenA.slice(0, cut));
  expect(await until(late, finishedBuild(second))).toEqual(seenA.slice(cut));
  expect(seenA.slice(cut).filter((e) => e.type === "cache_hit")).toHaveLength(2);
  for (const it of [a, b, late]) await it.return!();
});

test("events: destroy ends every open iterator; events() afterwards is INVALID_STATE", async () => {
  const client = open(fixture("workspace"));
  const a = client.events();
  const b = client.events();
  const pending = a.next();
  client.destroy();
  expect(await pending).toEqual({ value: undefined, done: true });
  expect(await b.next()).toEqual({ value: undefined, done: true });
  failure(() => client.events(), "BUILDNET_INVALID_STATE");
});

test("events: destroy wakes a next() already polling; return() wakes one too", async () => {
  const client = open(fixture("workspace"));
  const a = client.events();
  const b = client.events();
  const waitingA = a.next();
  const waitingB = b.next();
  await Bun.sleep(50); // both are polling their empty streams by now
  const ended = b.return!();
  expect(await waitingB).toEqual({ value: undefined, done: true });
  expect(await ended).toEqual({ value: undefined, done: true });
  client.destroy();
  expect(await waitingA).toEqual({ value: undefined, done: true });
  expect(await a.next()).toEqual({ value: undefined, done: true });
});

test("events: calls to next() made at once are answered in order", async () => {
  const dir = fixture("workspace");
  const client = open(dir);
  const events = client.events();
  const calls = Array.from({ length: 4 }, () => events.next());
  client.start(); // daemon_started
  const id = build(client, dir, false);
  const firsts = (await Promise.all(calls)).map((r) => r.value as BuildNetEvent);
  expect(firsts[0]).toMatchObject({ type: "daemon_started" });
  const seqs = firsts.map((e) => ("seq" in e ? e.seq : -1));
  expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  expect(new Set(seqs).size).toBe(4);
  await until(events, finishedBuild(id));
  await events.return!();
});

test("events: a raw buildnet_destroy of client.handle ends the iterators cleanly", async () => {
  const client = open(fixture("workspace"));
  const events = client.events();
  const waiting = events.next();
  await Bun.sleep(30);
  const raw = dlopen(process.env.BUILDNET_LIB!, {
    buildnet_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  });
  expect(raw.symbols.buildnet_destroy(client.handle)).toBe(0);
  raw.close();
  expect(await waiting).toEqual({ value: undefined, done: true });
  // The client's own destroy now fails in C: the handle is gone.
  failure(() => client.destroy(), "BUILDNET_INVALID_STATE");
});

test("5. state: get, set, big values, TTL, delete", async () => {
  const client = open(fixture("workspace"));
  expect(client.getState("scenario/missing")).toBeNull();
  client.setState("scenario/k", "v1");
  expect(client.getState("scenario/k")).toBe("v1");
  for (const size of [10_000, 100_000]) {
    const big = "x".repeat(size - 1) + "y"; // a cut value would lose the last character
    client.setState(`scenario/big${size}`, big);
    expect(client.getState(`scenario/big${size}`)).toBe(big);
  }
  expect(client.getState("scenario/k")).toBe("v1"); // a small value after the buffer grew
  const unicode = "héllo, 世界 ✓ 🚀";
  client.setState("scenario/unicode ✓", unicode);
  expect(client.getState("scenario/unicode ✓")).toBe(unicode);
  client.setState("scenario/ttl", "soon", 150);
  expect(client.getState("scenario/ttl")).toBe("soon");
  await Bun.sleep(400);
  expect(client.getState("scenario/ttl")).toBeNull();
  expect(client.deleteState("scenario/k")).toBe(true);
  expect(client.deleteState("scenario/k")).toBe(false);
  expect(client.getState("scenario/k")).toBeNull();
});

test("setState takes a TTL only as a positive integer (0 means none in C)", () => {
  const client = open(fixture("workspace"));
  for (const ttl of [0, -5, 1.5, Number.NaN]) {
    const error = failure(
      () => client.setState("scenario/t", "v", ttl),
      "BUILDNET_INVALID_ARGUMENT",
    );
    expect(error.status).toBe(-1);
    expect(error.message).toContain("ttlMs");
  }
  expect(client.getState("scenario/t")).toBeNull();
  failure(() => client.acquireLock("scenario/res", 0), "BUILDNET_INVALID_ARGUMENT");
});

test("6. locks: contention, wrong token, release, re-acquire", () => {
  const client = open(fixture("workspace"));
  const token = client.acquireLock("scenario/res", 5000);
  expect(token).toMatch(/^[0-9a-f]{32}$/);
  expect(client.acquireLock("scenario/res", 5000)).toBeNull();
  expect(client.releaseLock("scenario/res", "0123456789abcdef0123456789abcdef")).toBe(false);
  expect(client.releaseLock("scenario/res", token!)).toBe(true);
  const again = client.acquireLock("scenario/res", 5000);
  expect(again).toMatch(/^[0-9a-f]{32}$/);
  expect(again).not.toBe(token);
  expect(client.releaseLock("scenario/res", again!)).toBe(true);
});

test("7. hashes: every vector of tests/vectors/hashes.json", () => {
  const { vectors } = JSON.parse(
    readFileSync(join(ROOT, "tests", "vectors", "hashes.json"), "utf8"),
  );
  expect(vectors.length).toBeGreaterThanOrEqual(5);
  for (const v of vectors) {
    const data: Uint8Array = "utf8" in v
      ? new TextEncoder().encode(v.utf8)
      : Uint8Array.from({ length: v.generate.length }, (_, i) => i % 251);
    expect([v.name, xxhash(data).toString(16).padStart(16, "0")]).toEqual([v.name, v.xxh3_64]);
    expect([v.name, Buffer.from(blake3(data)).toString("hex")]).toEqual([v.name, v.blake3]);
  }
  // A view into a larger buffer hashes its own bytes only.
  const bytes = new TextEncoder().encode("--abc--");
  expect(xxhash(bytes.subarray(2, 5))).toBe(0x78af5f94892f3950n);
  expect(blake3(bytes.subarray(2, 5))).toEqual(blake3(new TextEncoder().encode("abc")));
  expect(blake3(new Uint8Array(0))).toHaveLength(32);
});

test("a running build: waitBuild times out, cancelBuild cancels it once", () => {
  const dir = fixture("workspace");
  writeFileSync(
    join(dir, "buildnet.yaml"),
    "server:\n  port: 0\ntargets:\n  slow:\n    command: sleep 5\n",
  );
  const client = open(dir);
  const id = client.requestBuild(["slow"]);
  const timeout = failure(() => client.waitBuild(id, 100), "BUILDNET_TIMEOUT");
  expect(timeout.status).toBe(-8);
  expect(client.getBuild(id).status).toBe("running");
  expect(client.cancelBuild(id)).toBe(true);
  const record = client.waitBuild(id, 10_000);
  expect(record.status).toBe("cancelled");
  expect(record.targets.map((t) => [t.target, t.status])).toEqual([["slow", "cancelled"]]);
  // The build leaves the engine's running set just after waitBuild returns (until then a
  // cancel still answers true): wait for the queue to empty first.
  while (client.getStatus().builds.running.length > 0) Bun.sleepSync(5);
  expect(client.cancelBuild(id)).toBe(false);
});

test("8. errors carry stable codes and the library's message", () => {
  const client = open(fixture("workspace"));
  const unknown = failure(() => client.requestBuild(["nope"]), "BUILDNET_NOT_FOUND");
  expect(unknown.status).toBe(-2);
  expect(unknown.message).toContain("nope");
  expect(unknown.name).toBe("BuildNetError");

  const cycleDir = fixture("cycle");
  const cycle = open(cycleDir);
  expect(failure(() => cycle.requestBuild(["a"]), "BUILDNET_CYCLE").status).toBe(-4);

  const missing = failure(
    () => new BuildNetClient(join(cycleDir, "no-such.yaml")),
    "BUILDNET_NOT_FOUND",
  );
  expect(missing.message).toContain("no-such.yaml");
  writeFileSync(join(cycleDir, "bad.yaml"), "targets: [this is not a map\n");
  failure(() => new BuildNetClient(join(cycleDir, "bad.yaml")), "BUILDNET_CONFIG");

  expect(failure(() => client.setState("", "v"), "BUILDNET_INVALID_ARGUMENT").status).toBe(-1);
  failure(() => client.getState(""), "BUILDNET_INVALID_ARGUMENT");
  failure(() => client.waitBuild("no-such-build", 100), "BUILDNET_NOT_FOUND");
  // Checked before the C call, which would split the name or cut the string.
  const comma = failure(() => client.requestBuild(["lib,app"]), "BUILDNET_INVALID_ARGUMENT");
  expect(comma.message).toContain("lib,app");
  failure(() => client.getState("scenario/a\0b"), "BUILDNET_INVALID_ARGUMENT");
});

test("every BUILDNET_ERR_* status of buildnet.h has its code, the C name without ERR_", () => {
  const header = readFileSync(join(ROOT, "include", "buildnet.h"), "utf8");
  const defines = [...header.matchAll(/^#define BUILDNET_ERR_(\w+) \((-\d+)\)$/gm)];
  expect(defines.length).toBe(13);
  for (const [, name, status] of defines) {
    const error = new BuildNetError(Number(status), "message");
    expect([error.code, error.status]).toEqual([
      `BUILDNET_${name}` as BuildNetErrorCode,
      Number(status),
    ]);
  }
});

test("9. destroy works once; every later call fails with INVALID_STATE from the library", () => {
  const client = open(fixture("workspace"));
  client.start();
  client.setState("scenario/k", "v");
  const handle = client.handle;
  client.destroy();
  client.destroy(); // a no-op in this binding: the handle is already gone
  for (
    const call of [
      () => client.getState("scenario/k"),
      () => client.start(),
      () => client.getStatus(),
      () => client.requestBuild(["app"]),
    ]
  ) {
    const error = failure(call, "BUILDNET_INVALID_STATE");
    expect(error.status).toBe(-11);
    expect(error.message).toContain("not a live BuildNet handle");
  }
  // The C call underneath a second destroy fails, without crashing.
  const raw = dlopen(process.env.BUILDNET_LIB!, {
    buildnet_destroy: { args: [FFIType.ptr], returns: FFIType.i32 },
  });
  expect(raw.symbols.buildnet_destroy(handle)).toBe(-11);
  raw.close();
});

test("`using` destroys the client at the end of its block", () => {
  const dir = fixture("workspace");
  let escaped: BuildNetClient;
  {
    using client = new BuildNetClient(join(dir, "buildnet.yaml"));
    escaped = client;
    client.setState("scenario/k", "v");
    expect(client.getState("scenario/k")).toBe("v");
  }
  failure(() => escaped.getState("scenario/k"), "BUILDNET_INVALID_STATE");
  // The workspace is free again: a new client opens it and reads what was written.
  expect(open(dir).getState("scenario/k")).toBe("v");
});

test("no config path: the buildnet.yaml is found from the current directory", () => {
  const dir = fixture("workspace");
  const cwd = process.cwd();
  process.chdir(join(dir, "src"));
  try {
    const client = new BuildNetClient();
    clients.push(client);
    expect(client.getStatus().workspace).toBe(realpathSync(dir));
  } finally {
    process.chdir(cwd);
  }
});

test("the package's copies of bindings/ffi-common/*.ts are up to date (sync.sh)", () => {
  const common = join(ROOT, "bindings", "ffi-common");
  const shared = readdirSync(common).filter((f) => f.endsWith(".ts"));
  expect(shared).toEqual(expect.arrayContaining(["events.ts", "types.ts"]));
  for (const file of shared) {
    const copy = join(import.meta.dir, "..", file);
    expect([file, existsSync(copy)]).toEqual([file, true]);
    const same = readFileSync(copy, "utf8") === readFileSync(join(common, file), "utf8");
    // Not the same: the copy was edited (edit ffi-common instead), or sync.sh was not run.
    expect([file, same]).toEqual([file, true]);
  }
});

test("the error codes are those of tests/vectors/error_codes.json, plus BUFFER_TOO_SMALL", () => {
  const { codes } = JSON.parse(
    readFileSync(join(ROOT, "tests", "vectors", "error_codes.json"), "utf8"),
  ) as { codes: { name: string; code: string; number: number }[] };
  expect(codes.length).toBeGreaterThan(0);
  const expected = new Map(codes.map((c) => [c.code, -c.number]));
  expect(expected.size).toBe(codes.length);
  expected.set("BUILDNET_BUFFER_TOO_SMALL", -13); // the C ABI's own
  // The table, both ways: each code's status, and each status's code.
  for (const [code, status] of expected) {
    expect([code, statusOf(code as BuildNetErrorCode)]).toEqual([code, status]);
    expect([status, new BuildNetError(status, "m").code as string]).toEqual([status, code]);
  }
  // Nothing more: every status the binding knows (an unknown one falls back to INTERNAL)...
  const known = new Map<string, number>();
  for (let status = 0; status >= -1000; status--) {
    const { code } = new BuildNetError(status, "m");
    if (statusOf(code) === status) known.set(code, status);
  }
  expect(Object.fromEntries(known)).toEqual(Object.fromEntries(expected));
  // ...and every member of the BuildNetErrorCode type: the generated engine codes and the
  // C ABI's own.
  const literals = (file: string, name: string) => {
    const text = readFileSync(join(ROOT, "bindings", "ffi-common", file), "utf8");
    const union = new RegExp(`export type ${name} =([^;]*);`).exec(text)?.[1] ?? "";
    return [...union.matchAll(/"(BUILDNET_\w+)"/g)].map((m) => m[1]);
  };
  const members = [
    ...literals("records.ts", "EngineErrorCode"),
    ...literals("types.ts", "BuildNetErrorCode"),
  ];
  expect(members.sort()).toEqual([...expected.keys()].sort());
});

test("a missing library fails with a message naming the path and the fix", () => {
  const missing = join(tmpdir(), "no-such-dir", "libbuildnet.so");
  const script = `import { xxhash } from ${JSON.stringify(join(import.meta.dir, "..", "index.ts"))};
xxhash(new Uint8Array(1));`;
  const child = Bun.spawnSync([process.execPath, "-e", script], {
    env: { ...process.env, BUILDNET_LIB: missing },
    stderr: "pipe",
  });
  const stderr = child.stderr.toString();
  expect(child.exitCode).not.toBe(0);
  expect(stderr).toContain(`cannot load libbuildnet from ${missing} (from BUILDNET_LIB)`);
  expect(stderr).toContain("Set BUILDNET_LIB");
  expect(stderr).toContain("scripts/package-c.sh");
});
