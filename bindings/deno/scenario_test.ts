// The cross-runtime scenario (tests/scenario/README.md) through the Deno binding, plus the
// binding's own promises: an event stream per events() iterator, `using`, growing getState
// buffers, argument checks made before the C call, the library-not-found message, the error
// codes of tests/vectors/error_codes.json, and the copies of bindings/ffi-common.
// Run (scripts/test-ffi.sh does this, with BUILDNET_LIB set), after ../ffi-common/sync.sh:
//   deno test --allow-ffi --allow-read --allow-write --allow-env --allow-run scenario_test.ts
// Assertions are local (no remote imports): the tests run offline.
import {
  blake3,
  BuildNetClient,
  BuildNetError,
  type BuildNetErrorCode,
  type BuildNetEvent,
  statusOf,
  version,
  xxhash,
} from "./mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const SCENARIO = `${ROOT}/tests/scenario`;
const APP_TXT = "alpha\nbeta\nmain\n";

// --- a tiny assert kit ---------------------------------------------------------------------

function fail(message: string): never {
  throw new Error(message);
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

function show(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
}

function assertEquals(actual: unknown, expected: unknown, what = "value"): void {
  if (show(actual) !== show(expected)) {
    fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

/** The BuildNetError `f` throws; fails if it throws something else or nothing. */
function failure(f: () => unknown, code: BuildNetErrorCode): BuildNetError {
  try {
    f();
  } catch (error) {
    assert(error instanceof BuildNetError, `expected a BuildNetError, got ${error}`);
    assertEquals(error.code, code, `code of "${error.message}"`);
    return error;
  }
  return fail(`expected a BuildNetError ${code}, nothing was thrown`);
}

// --- fixtures ------------------------------------------------------------------------------

function copyTree(from: string, to: string): void {
  Deno.mkdirSync(to, { recursive: true });
  for (const entry of Deno.readDirSync(from)) {
    if (entry.isDirectory) copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else Deno.copyFileSync(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}

/** Runs `body` with fresh copies of tests/scenario/{workspace,cycle} and its own clients. */
function scenario(
  name: string,
  body: (t: {
    workspace: string;
    cycle: string;
    open: (dir: string) => BuildNetClient;
    keep: (client: BuildNetClient) => BuildNetClient;
  }) => void | Promise<void>,
): void {
  Deno.test(name, async () => {
    const root = Deno.makeTempDirSync({ prefix: "buildnet-deno-" });
    const clients: BuildNetClient[] = [];
    const keep = (client: BuildNetClient) => (clients.push(client), client);
    try {
      copyTree(`${SCENARIO}/workspace`, `${root}/workspace`);
      copyTree(`${SCENARIO}/cycle`, `${root}/cycle`);
      await body({
        workspace: `${root}/workspace`,
        cycle: `${root}/cycle`,
        open: (dir) => keep(new BuildNetClient(`${dir}/buildnet.yaml`)),
        keep,
      });
    } finally {
      for (const client of clients) client.destroy();
      Deno.removeSync(root, { recursive: true });
    }
  });
}

/** Reads `events` until an event matches `last` (included). */
async function until(
  events: AsyncIterator<BuildNetEvent>,
  last: (e: BuildNetEvent) => boolean,
): Promise<BuildNetEvent[]> {
  const seen: BuildNetEvent[] = [];
  for (;;) {
    const { value, done } = await events.next();
    if (done) fail(`the iterator ended after ${show(seen.map((e) => e.type))}`);
    seen.push(value);
    if (last(value)) return seen;
  }
}

const finishedBuild = (id: string) => (e: BuildNetEvent) =>
  e.type === "build_finished" && e.build_id === id;

function build(client: BuildNetClient, dir: string, cached: boolean): string {
  const id = client.requestBuild(["app"]);
  assert(/^\S+$/.test(id), `build id ${id}`);
  const record = client.waitBuild(id, 60_000);
  assertEquals(record.id, id, "record id");
  assertEquals(record.status, "succeeded", "build status");
  assertEquals(record.requested, ["app"], "requested");
  assertEquals(record.targets.map((t) => [t.target, t.status, t.cached]), [
    ["lib", "succeeded", cached],
    ["app", "succeeded", cached],
  ], "targets");
  assertEquals(client.getBuild(id).status, "succeeded", "getBuild status");
  assertEquals(Deno.readTextFileSync(`${dir}/out/app.txt`), APP_TXT, "out/app.txt");
  return id;
}

// --- the scenario --------------------------------------------------------------------------

scenario("1. create and start: the status is running on 127.0.0.1 with a real port", (t) => {
  const client = t.open(t.workspace);
  client.start();
  client.start(); // starting a started daemon does nothing
  const status = client.getStatus();
  assertEquals(status.running, true, "running");
  assertEquals(status.version, version(), "version");
  const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(status.address ?? "")?.[1]);
  assert(port > 0, `address ${status.address}`);
  client.stop();
  const stopped = client.getStatus();
  assertEquals([stopped.running, stopped.address], [false, null], "stopped status");
});

scenario("2, 3. a cold build runs lib then app; a cached build restores out/", (t) => {
  const client = t.open(t.workspace);
  client.start();
  build(client, t.workspace, false);
  Deno.removeSync(`${t.workspace}/out`, { recursive: true });
  build(client, t.workspace, true);
  const { hits, misses, hit_rate } = client.getStatus().cache;
  assertEquals([hits, misses, hit_rate], [2, 2, 0.5], "cache stats");
});

scenario("4. events: an iterator made at creation sees the cold build's events", async (t) => {
  const client = t.open(t.workspace);
  const events = client.events();
  client.start();
  const id = build(client, t.workspace, false);
  const seen = await until(events, finishedBuild(id));
  for (const event of seen) {
    assert(typeof event.type === "string", `type of ${show(event)}`);
    assert("seq" in event && Number.isInteger(event.seq), `seq of ${show(event)}`);
    assert("at_ms" in event && event.at_ms > 0, `at_ms of ${show(event)}`);
  }
  const seqs = seen.map((e) => ("seq" in e ? e.seq : 0));
  assertEquals(seqs, [...seqs].sort((a, b) => a - b), "seq order");
  const ofBuild = seen.filter((e) => "build_id" in e && e.build_id === id);
  assertEquals(ofBuild.filter((e) => e.type === "build_started").length, 1, "build_started");
  const last = ofBuild.at(-1);
  assert(last?.type === "build_finished" && last.status === "succeeded", show(last));
  const finished = ofBuild.flatMap((e) => (e.type === "target_finished" ? [e] : []));
  assertEquals(finished.map((e) => [e.target, e.status, e.cached]), [
    ["lib", "succeeded", false],
    ["app", "succeeded", false],
  ], "target_finished");
  const started = seen[0];
  assert(started.type === "daemon_started", show(started));
  assertEquals(started.address, client.getStatus().address, "daemon_started address");
  assertEquals(await events.return!(), { value: undefined, done: true }, "return()");
  assertEquals(await events.next(), { value: undefined, done: true }, "next() after return");
});

scenario("events: concurrent iterators each get every event from their creation", async (t) => {
  const client = t.open(t.workspace);
  client.start();
  const a = client.events();
  const b = client.events();
  const first = build(client, t.workspace, false);
  // The first build's events are still unread in a's and b's streams: the next iterator opens
  // its own stream after them and must get none of them.
  const late = client.events();
  Deno.removeSync(`${t.workspace}/out`, { recursive: true });
  const second = build(client, t.workspace, true);
  const seenA = await until(a, finishedBuild(second));
  const cut = seenA.findIndex(finishedBuild(first)) + 1;
  assert(cut > 0, "the first build_finished is seen");
  assert(seenA.slice(0, cut).some((e) => e.type === "build_started"), "build_started seen");
  assertEquals(await until(b, finishedBuild(first)), seenA.slice(0, cut), "b's events");
  assertEquals(await until(late, finishedBuild(second)), seenA.slice(cut), "late's events");
  const hits = seenA.slice(cut).filter((e) => e.type === "cache_hit");
  assertEquals(hits.length, 2, "cache_hit events");
  for (const it of [a, b, late]) await it.return!();
});

scenario("events: destroy ends every open iterator; events() afterwards fails", async (t) => {
  const client = t.open(t.workspace);
  const a = client.events();
  const b = client.events();
  const pending = a.next();
  client.destroy();
  assertEquals(await pending, { value: undefined, done: true }, "pending next()");
  assertEquals(await b.next(), { value: undefined, done: true }, "b.next()");
  failure(() => client.events(), "BUILDNET_INVALID_STATE");
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

scenario(
  "events: destroy wakes a next() waiting on the thread pool; so does return()",
  async (t) => {
    const client = t.open(t.workspace);
    const a = client.events();
    const b = client.events();
    const waitingA = a.next();
    const waitingB = b.next();
    await sleep(50); // both wait in buildnet_events_next on the blocking pool by now
    const begun = Date.now();
    const ended = b.return!();
    assertEquals(await waitingB, { value: undefined, done: true }, "b's waiting next()");
    assertEquals(await ended, { value: undefined, done: true }, "b.return()");
    client.destroy();
    assertEquals(await waitingA, { value: undefined, done: true }, "a's waiting next()");
    assertEquals(await a.next(), { value: undefined, done: true }, "a.next() afterwards");
    // Woken, not timed out (the waits have no time limit).
    assert(Date.now() - begun < 1000, `ending the waits took ${Date.now() - begun} ms`);
  },
);

scenario("events: a next() waiting on the pool gets the event that comes", async (t) => {
  const client = t.open(t.workspace);
  const events = client.events();
  const waiting = events.next();
  await sleep(50); // waiting on the blocking pool: the stream is empty
  client.setState("scenario/k", "v");
  const { value } = await waiting;
  assert(value?.type === "state_changed" && value.key === "scenario/k", show(value));
  await events.return!();
});

scenario("events: calls to next() made at once are answered in order", async (t) => {
  const client = t.open(t.workspace);
  const events = client.events();
  const calls = Array.from({ length: 4 }, () => events.next());
  client.start(); // daemon_started
  const id = build(client, t.workspace, false);
  const firsts = (await Promise.all(calls)).map((r) => r.value as BuildNetEvent);
  assertEquals(firsts[0].type, "daemon_started", "first event");
  const seqs = firsts.map((e) => ("seq" in e ? e.seq : -1));
  assertEquals(seqs, [...seqs].sort((x, y) => x - y), "seq order");
  assertEquals(new Set(seqs).size, 4, "distinct events");
  await until(events, finishedBuild(id));
  await events.return!();
});

scenario(
  "events: a raw buildnet_destroy of client.handle ends the iterators cleanly",
  async (t) => {
    const client = t.open(t.workspace);
    const events = client.events();
    const waiting = events.next();
    await sleep(30);
    const raw = Deno.dlopen(Deno.env.get("BUILDNET_LIB")!, {
      buildnet_destroy: { parameters: ["pointer"], result: "i32" },
    });
    try {
      assertEquals(raw.symbols.buildnet_destroy(client.handle), 0, "raw destroy");
    } finally {
      raw.close();
    }
    assertEquals(await waiting, { value: undefined, done: true }, "the waiting next()");
    // The client's own destroy now fails in C: the handle is gone.
    failure(() => client.destroy(), "BUILDNET_INVALID_STATE");
  },
);

scenario("5. state: get, set, big values, TTL, delete", async (t) => {
  const client = t.open(t.workspace);
  assertEquals(client.getState("scenario/missing"), null, "missing key");
  client.setState("scenario/k", "v1");
  assertEquals(client.getState("scenario/k"), "v1", "scenario/k");
  for (const size of [10_000, 100_000]) {
    const big = "x".repeat(size - 1) + "y"; // a cut value would lose the last character
    client.setState(`scenario/big${size}`, big);
    const got = client.getState(`scenario/big${size}`);
    assert(got === big, `${size} chars came back as ${got?.length} chars`);
  }
  assertEquals(client.getState("scenario/k"), "v1", "a small value after the buffer grew");
  const unicode = "héllo, 世界 ✓ 🚀";
  client.setState("scenario/unicode ✓", unicode);
  assertEquals(client.getState("scenario/unicode ✓"), unicode, "unicode value");
  client.setState("scenario/ttl", "soon", 150);
  assertEquals(client.getState("scenario/ttl"), "soon", "ttl key at once");
  await new Promise((resolve) => setTimeout(resolve, 400));
  assertEquals(client.getState("scenario/ttl"), null, "ttl key 400 ms later");
  assertEquals(client.deleteState("scenario/k"), true, "first delete");
  assertEquals(client.deleteState("scenario/k"), false, "second delete");
  assertEquals(client.getState("scenario/k"), null, "deleted key");
});

scenario("setState takes a TTL only as a positive integer (0 means none in C)", (t) => {
  const client = t.open(t.workspace);
  for (const ttl of [0, -5, 1.5, Number.NaN]) {
    const error = failure(
      () => client.setState("scenario/t", "v", ttl),
      "BUILDNET_INVALID_ARGUMENT",
    );
    assertEquals(error.status, -1, "status");
    assert(error.message.includes("ttlMs"), error.message);
  }
  assertEquals(client.getState("scenario/t"), null, "nothing was set");
  failure(() => client.acquireLock("scenario/res", 0), "BUILDNET_INVALID_ARGUMENT");
});

scenario("6. locks: contention, wrong token, release, re-acquire", (t) => {
  const client = t.open(t.workspace);
  const token = client.acquireLock("scenario/res", 5000);
  assert(token !== null && /^[0-9a-f]{32}$/.test(token), `token ${token}`);
  assertEquals(client.acquireLock("scenario/res", 5000), null, "contended acquire");
  const wrong = "0123456789abcdef0123456789abcdef";
  assertEquals(client.releaseLock("scenario/res", wrong), false, "release with a wrong token");
  assertEquals(client.releaseLock("scenario/res", token), true, "release");
  const again = client.acquireLock("scenario/res", 5000);
  assert(again !== null && /^[0-9a-f]{32}$/.test(again) && again !== token, `token ${again}`);
  assertEquals(client.releaseLock("scenario/res", again), true, "release again");
});

Deno.test("7. hashes: every vector of tests/vectors/hashes.json", () => {
  const { vectors } = JSON.parse(Deno.readTextFileSync(`${ROOT}/tests/vectors/hashes.json`));
  assert(vectors.length >= 5, `${vectors.length} vectors`);
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  for (const v of vectors) {
    const data: Uint8Array = "utf8" in v
      ? new TextEncoder().encode(v.utf8)
      : Uint8Array.from({ length: v.generate.length }, (_, i) => i % 251);
    assertEquals(xxhash(data).toString(16).padStart(16, "0"), v.xxh3_64, `xxhash(${v.name})`);
    assertEquals(hex(blake3(data)), v.blake3, `blake3(${v.name})`);
  }
  // A view into a larger buffer hashes its own bytes only.
  const bytes = new TextEncoder().encode("--abc--");
  assertEquals(xxhash(bytes.subarray(2, 5)), 0x78af5f94892f3950n, "xxhash of a view");
  assertEquals(hex(blake3(bytes.subarray(2, 5))), hex(blake3(bytes.slice(2, 5))), "blake3 view");
  assertEquals(blake3(new Uint8Array(0)).length, 32, "blake3 length");
});

scenario("a running build: waitBuild times out, cancelBuild cancels it once", (t) => {
  Deno.writeTextFileSync(
    `${t.workspace}/buildnet.yaml`,
    "server:\n  port: 0\ntargets:\n  slow:\n    command: sleep 5\n",
  );
  const client = t.open(t.workspace);
  const id = client.requestBuild(["slow"]);
  assertEquals(failure(() => client.waitBuild(id, 100), "BUILDNET_TIMEOUT").status, -8, "timeout");
  assertEquals(client.getBuild(id).status, "running", "status while running");
  assertEquals(client.cancelBuild(id), true, "first cancel");
  const record = client.waitBuild(id, 10_000);
  assertEquals(record.status, "cancelled", "status after cancel");
  assertEquals(record.targets.map((t) => [t.target, t.status]), [["slow", "cancelled"]], "targets");
  // The build leaves the engine's running set just after waitBuild returns (until then a
  // cancel still answers true): wait for the queue to empty first.
  while (client.getStatus().builds.running.length > 0) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
  assertEquals(client.cancelBuild(id), false, "second cancel");
});

scenario("8. errors carry stable codes and the library's message", (t) => {
  const client = t.open(t.workspace);
  const unknown = failure(() => client.requestBuild(["nope"]), "BUILDNET_NOT_FOUND");
  assertEquals([unknown.status, unknown.name], [-2, "BuildNetError"], "status and name");
  assert(unknown.message.includes("nope"), unknown.message);

  const cycle = t.open(t.cycle);
  assertEquals(failure(() => cycle.requestBuild(["a"]), "BUILDNET_CYCLE").status, -4, "cycle");

  const missing = failure(
    () => new BuildNetClient(`${t.cycle}/no-such.yaml`),
    "BUILDNET_NOT_FOUND",
  );
  assert(missing.message.includes("no-such.yaml"), missing.message);
  Deno.writeTextFileSync(`${t.cycle}/bad.yaml`, "targets: [this is not a map\n");
  failure(() => new BuildNetClient(`${t.cycle}/bad.yaml`), "BUILDNET_CONFIG");

  assertEquals(failure(() => client.setState("", "v"), "BUILDNET_INVALID_ARGUMENT").status, -1);
  failure(() => client.getState(""), "BUILDNET_INVALID_ARGUMENT");
  failure(() => client.waitBuild("no-such-build", 100), "BUILDNET_NOT_FOUND");
  // Checked before the C call, which would split the name or cut the string.
  const comma = failure(() => client.requestBuild(["lib,app"]), "BUILDNET_INVALID_ARGUMENT");
  assert(comma.message.includes("lib,app"), comma.message);
  failure(() => client.getState("scenario/a\0b"), "BUILDNET_INVALID_ARGUMENT");
});

Deno.test("every BUILDNET_ERR_* status of buildnet.h has its code, the C name without ERR_", () => {
  const header = Deno.readTextFileSync(`${ROOT}/include/buildnet.h`);
  const defines = [...header.matchAll(/^#define BUILDNET_ERR_(\w+) \((-\d+)\)$/gm)];
  assertEquals(defines.length, 13, "error statuses in the header");
  for (const [, name, status] of defines) {
    const error = new BuildNetError(Number(status), "message");
    assertEquals([error.code, error.status], [`BUILDNET_${name}`, Number(status)], name);
  }
});

scenario("9. destroy works once; every later call fails with INVALID_STATE", (t) => {
  const client = t.open(t.workspace);
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
    assertEquals(error.status, -11, "status");
    assert(error.message.includes("not a live BuildNet handle"), error.message);
  }
  // The C call underneath a second destroy fails, without crashing.
  const raw = Deno.dlopen(Deno.env.get("BUILDNET_LIB")!, {
    buildnet_destroy: { parameters: ["pointer"], result: "i32" },
  });
  try {
    assertEquals(raw.symbols.buildnet_destroy(handle), -11, "raw second destroy");
  } finally {
    raw.close();
  }
});

scenario("`using` destroys the client at the end of its block", (t) => {
  let escaped: BuildNetClient;
  {
    using client = new BuildNetClient(`${t.workspace}/buildnet.yaml`);
    escaped = client;
    client.setState("scenario/k", "v");
    assertEquals(client.getState("scenario/k"), "v", "inside the block");
  }
  failure(() => escaped.getState("scenario/k"), "BUILDNET_INVALID_STATE");
  // The workspace is free again: a new client opens it and reads what was written.
  assertEquals(t.open(t.workspace).getState("scenario/k"), "v", "a new client");
});

scenario("no config path: the buildnet.yaml is found from the current directory", (t) => {
  const cwd = Deno.cwd();
  Deno.chdir(`${t.workspace}/src`);
  try {
    const client = t.keep(new BuildNetClient());
    assertEquals(client.getStatus().workspace, Deno.realPathSync(t.workspace), "workspace");
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("the package's copies of bindings/ffi-common/*.ts are up to date (sync.sh)", () => {
  const common = `${ROOT}/bindings/ffi-common`;
  const shared = [...Deno.readDirSync(common)].map((e) => e.name).filter((f) => f.endsWith(".ts"));
  assert(shared.includes("types.ts") && shared.includes("events.ts"), show(shared));
  const here = new URL(".", import.meta.url).pathname;
  for (const file of shared) {
    let copy: string;
    try {
      copy = Deno.readTextFileSync(`${here}${file}`);
    } catch {
      return fail(`no copy of ffi-common/${file} here: run bindings/ffi-common/sync.sh`);
    }
    // Not the same: the copy was edited (edit ffi-common instead), or sync.sh was not run.
    assert(copy === Deno.readTextFileSync(`${common}/${file}`), `${file} differs from ffi-common`);
  }
});

Deno.test("the error codes are those of tests/vectors/error_codes.json, plus BUFFER_TOO_SMALL", () => {
  const { codes } = JSON.parse(
    Deno.readTextFileSync(`${ROOT}/tests/vectors/error_codes.json`),
  ) as { codes: { name: string; code: string; number: number }[] };
  assert(codes.length > 0, "no codes in the vector");
  const expected = new Map(codes.map((c) => [c.code, -c.number]));
  assertEquals(expected.size, codes.length, "distinct codes in the vector");
  expected.set("BUILDNET_BUFFER_TOO_SMALL", -13); // the C ABI's own
  // The table, both ways: each code's status, and each status's code.
  for (const [code, status] of expected) {
    assertEquals(statusOf(code as BuildNetErrorCode), status, `statusOf(${code})`);
    assertEquals(new BuildNetError(status, "m").code, code, `the code of status ${status}`);
  }
  // Nothing more: every status the binding knows (an unknown one falls back to INTERNAL)...
  const known = new Map<string, number>();
  for (let status = 0; status >= -1000; status--) {
    const { code } = new BuildNetError(status, "m");
    if (statusOf(code) === status) known.set(code, status);
  }
  const sorted = (m: Map<string, number>) => [...m].sort(([x], [y]) => x < y ? -1 : 1);
  assertEquals(sorted(known), sorted(expected), "every status the binding knows");
  // ...and every member of the BuildNetErrorCode type: the generated engine codes and the
  // C ABI's own.
  const literals = (file: string, name: string) => {
    const text = Deno.readTextFileSync(`${ROOT}/bindings/ffi-common/${file}`);
    const union = new RegExp(`export type ${name} =([^;]*);`).exec(text)?.[1] ?? "";
    return [...union.matchAll(/"(BUILDNET_\w+)"/g)].map((m) => m[1]);
  };
  const members = [
    ...literals("records.ts", "EngineErrorCode"),
    ...literals("types.ts", "BuildNetErrorCode"),
  ];
  assertEquals(members.sort(), [...expected.keys()].sort(), "the BuildNetErrorCode type");
});

Deno.test("a missing library fails with a message naming the path and the fix", () => {
  const dir = Deno.makeTempDirSync({ prefix: "buildnet-deno-" });
  const missing = `${dir}/no-such-dir/libbuildnet.so`;
  const script = `import { xxhash } from ${show(new URL("./mod.ts", import.meta.url).href)};
xxhash(new Uint8Array(1));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script], // eval runs with every permission
    env: { BUILDNET_LIB: missing },
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  Deno.removeSync(dir, { recursive: true });
  const stderr = new TextDecoder().decode(child.stderr);
  assert(!child.success, "the child succeeded");
  assert(stderr.includes(`cannot load libbuildnet from ${missing} (from BUILDNET_LIB)`), stderr);
  assert(stderr.includes("Set BUILDNET_LIB") && stderr.includes("scripts/package-c.sh"), stderr);
});
