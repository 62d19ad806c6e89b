/**
 * BuildNet for Deno: the C ABI (include/buildnet.h) through `Deno.dlopen`.
 *
 * Every method is a synchronous call into libbuildnet on the JS thread, except `events()`:
 * each iterator opens an event stream of its own (`buildnet_events_open`) and, while a
 * `next()` is waiting, takes what the stream holds without waiting, else waits with a second
 * definition of `buildnet_events_next` marked `nonblocking` (on Deno's blocking pool, with no
 * time limit: closing the stream when the iterator ends, or destroying the client, wakes it).
 *
 * Strings go in through reusable scratch buffers (`TextEncoder.encodeInto` plus a NUL);
 * `getState` reads into one reusable buffer that grows to `buildnet_required_len()` when a
 * value does not fit, so the hot path allocates only the string it returns.
 *
 * The library is `$BUILDNET_LIB` if set (and `--allow-env` lets it be read), else
 * `libbuildnet.<so|dylib|dll>` next to this file, loaded on first use.
 */
import {
  BuildNetError,
  type BuildNetEvent,
  type BuildRecord,
  type Status,
  statusOf,
} from "./types.ts";
import { EventIterator, type EventSource } from "./events.ts";

export * from "./types.ts";

const SYMBOLS = {
  buildnet_create: { parameters: ["buffer"], result: "pointer" },
  buildnet_start: { parameters: ["pointer"], result: "i32" },
  buildnet_stop: { parameters: ["pointer"], result: "i32" },
  buildnet_destroy: { parameters: ["pointer"], result: "i32" },
  buildnet_request_build: { parameters: ["pointer", "buffer", "buffer", "usize"], result: "i32" },
  buildnet_wait_build: { parameters: ["pointer", "buffer", "i64", "buffer"], result: "i32" },
  buildnet_cancel_build: { parameters: ["pointer", "buffer"], result: "i32" },
  buildnet_build_json: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  buildnet_status_json: { parameters: ["pointer", "buffer"], result: "i32" },
  buildnet_get_state: { parameters: ["pointer", "buffer", "buffer", "usize"], result: "i32" },
  buildnet_set_state: { parameters: ["pointer", "buffer", "buffer", "u64"], result: "i32" },
  buildnet_delete_state: { parameters: ["pointer", "buffer"], result: "i32" },
  buildnet_acquire_lock: {
    parameters: ["pointer", "buffer", "u64", "buffer", "usize", "buffer"],
    result: "i32",
  },
  buildnet_release_lock: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  buildnet_events_open: { parameters: ["pointer", "buffer"], result: "i32" },
  buildnet_events_next: { parameters: ["pointer", "i64", "buffer"], result: "i32" },
  /** The same function, waiting on another thread: its error message stays there. */
  buildnet_events_next_nonblocking: {
    name: "buildnet_events_next",
    parameters: ["pointer", "i64", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  buildnet_events_close: { parameters: ["pointer"], result: "i32" },
  buildnet_string_free: { parameters: ["pointer"], result: "void" },
  buildnet_last_error: { parameters: [], result: "pointer" },
  buildnet_last_error_code: { parameters: [], result: "i32" },
  buildnet_required_len: { parameters: [], result: "usize" },
  buildnet_version: { parameters: [], result: "pointer" },
  buildnet_xxhash: { parameters: ["buffer", "usize"], result: "u64" },
  buildnet_blake3: { parameters: ["buffer", "usize", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const OK = 0;
const NO = 1;
const ERR_INVALID_STATE = -11;
const ERR_BUFFER_TOO_SMALL = -13;
/** Bytes that hold a build id or a lock token with its NUL (BUILDNET_ID_LEN). */
const ID_LEN = 33n;
/** getState's buffer grows up to this; a larger value is read into a buffer of its own. */
const MAX_KEPT_VALUE_BUFFER = 1 << 20;

const SUFFIX = Deno.build.os === "darwin" ? "dylib" : Deno.build.os === "windows" ? "dll" : "so";

let symbols: Symbols | undefined;

/** `$BUILDNET_LIB` if it is set and the env permission lets it be read. */
function libFromEnv(): { path?: string; note: string } {
  const env = Deno.permissions.querySync({ name: "env", variable: "BUILDNET_LIB" });
  if (env.state !== "granted") {
    return { note: "BUILDNET_LIB not read: run with --allow-env=BUILDNET_LIB to use it" };
  }
  const path = Deno.env.get("BUILDNET_LIB");
  return path ? { path, note: "from BUILDNET_LIB" } : { note: "BUILDNET_LIB being unset" };
}

/** The library's symbols, loading it on first use. */
function lib(): Symbols {
  if (symbols) return symbols;
  const env = libFromEnv();
  const path = env.path ?? `${import.meta.dirname}/libbuildnet.${SUFFIX}`;
  const where = env.path ? env.note : `next to mod.ts, ${env.note}`;
  try {
    symbols = Deno.dlopen(path, SYMBOLS).symbols;
  } catch (cause) {
    throw new Error(
      `cannot load libbuildnet from ${path} (${where}): ${(cause as Error).message}. ` +
        `Set BUILDNET_LIB to the library's path, or build it with scripts/package-c.sh PREFIX ` +
        `and copy PREFIX/lib/libbuildnet.${SUFFIX} next to mod.ts.`,
      { cause },
    );
  }
  return symbols;
}

/**
 * Bytes over an ArrayBuffer of their own: never in the GC heap, so they never move. Their
 * address can be kept, and a call running on another thread can write into them.
 */
function fixedBytes(length: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(length));
}

/** Strings up to this length are copied by a loop when they are ASCII: cheaper than the op. */
const SHORT_STRING = 128;

/** A NUL-terminated UTF-8 copy of a string, in a buffer reused by the next call. */
class CStringScratch {
  #bytes = fixedBytes(256);
  #encoder = new TextEncoder();

  put(s: string, name: string): Uint8Array {
    if (typeof s !== "string") throw invalid(`${name} must be a string`);
    const n = s.length;
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    if (n * 3 + 1 > this.#bytes.length) {
      this.#bytes = fixedBytes(Math.max(n * 3 + 1, this.#bytes.length * 2));
    }
    const bytes = this.#bytes;
    if (n <= SHORT_STRING) {
      let i = 0;
      for (let c; i < n && (c = s.charCodeAt(i)) > 0 && c < 0x80; i++) bytes[i] = c;
      if (i === n) {
        bytes[n] = 0;
        return bytes;
      }
    }
    if (s.indexOf("\0") !== -1) throw invalid(`${name} contains a NUL character`);
    const { written } = this.#encoder.encodeInto(s, bytes);
    bytes[written] = 0;
    return bytes;
  }
}

// Scratch space shared by every client: calls are synchronous on the JS thread, and each
// call's arguments use distinct scratches.
const first = new CStringScratch();
const second = new CStringScratch();
/** A `char **` out-parameter of synchronous calls (and buildnet_events_open's). */
const outString = new BigUint64Array(new ArrayBuffer(8));
/** The out-buffer of build ids and lock tokens. */
const idBytes = fixedBytes(Number(ID_LEN));
/** getState's output buffer and its address (see fixedBytes). */
let valueBytes = fixedBytes(4096);
let valueAddress = Deno.UnsafePointer.of(valueBytes)!;
/** Its length as a bigint: V8's fast path passes 64-bit arguments as bigints. */
let valueLength = BigInt(valueBytes.length);

function invalid(message: string): BuildNetError {
  return new BuildNetError(statusOf("BUILDNET_INVALID_ARGUMENT"), message);
}

/** The error of the calling thread's last failed call, which returned `status`. */
function lastError(s: Symbols, status: number): BuildNetError {
  const message = s.buildnet_last_error();
  return new BuildNetError(
    status,
    message
      ? Deno.UnsafePointerView.getCString(message)
      : `libbuildnet call failed with status ${status}`,
  );
}

/** `rc` if it is not an error, else throws the error it stands for. */
function check(s: Symbols, rc: number): number {
  if (rc < 0) throw lastError(s, rc);
  return rc;
}

/** The string the `char **` out-parameter `out` received, freed after reading. */
function takeString(s: Symbols, out: BigUint64Array): string {
  const p = Deno.UnsafePointer.create(out[0]);
  out[0] = 0n;
  if (!p) throw new BuildNetError(statusOf("BUILDNET_INTERNAL"), "libbuildnet returned NULL");
  try {
    return Deno.UnsafePointerView.getCString(p);
  } finally {
    s.buildnet_string_free(p);
  }
}

function cText(bytes: Uint8Array): string {
  return Deno.UnsafePointerView.getCString(Deno.UnsafePointer.of(bytes)!);
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${name} must be a positive integer of milliseconds, got ${value}`);
  }
  return value;
}

/** One embedded BuildNet daemon over a workspace. */
export class BuildNetClient implements Disposable {
  readonly #s: Symbols;
  readonly #handle: Deno.PointerObject;
  /** The open events() iterators, ended by destroy(). */
  readonly #iterators = new Set<EventIterator>();
  #destroyed = false;

  /**
   * Opens the workspace of `configPath` (a buildnet.yaml), or of the buildnet.yaml found from
   * the current directory upwards when it is undefined. Nothing listens until `start()`.
   */
  constructor(configPath?: string) {
    const s = lib();
    const handle = s.buildnet_create(
      configPath === undefined ? null : first.put(configPath, "configPath"),
    );
    if (!handle) throw lastError(s, s.buildnet_last_error_code());
    this.#s = s;
    this.#handle = handle;
  }

  /** The raw `BuildNetHandle *`, for calling the C ABI directly (same process, same library). */
  get handle(): Deno.PointerObject {
    return this.#handle;
  }

  /** Binds the HTTP server (see `getStatus().address`) and starts the watcher if enabled. */
  start(): void {
    check(this.#s, this.#s.buildnet_start(this.#handle));
  }

  /** Stops the HTTP server and watcher; running builds go on. `start()` works again. */
  stop(): void {
    check(this.#s, this.#s.buildnet_stop(this.#handle));
  }

  /**
   * Requests a build of `targets` and their dependencies (an empty list builds every target);
   * returns the build id at once.
   */
  requestBuild(targets: string[]): string {
    if (!Array.isArray(targets)) throw invalid("targets must be an array of target names");
    for (const name of targets) {
      if (typeof name !== "string" || name.includes(",")) {
        throw invalid(`target name ${JSON.stringify(name)} is not a string without commas`);
      }
    }
    const list = first.put(targets.join(","), "targets");
    check(this.#s, this.#s.buildnet_request_build(this.#handle, list, idBytes, ID_LEN));
    return cText(idBytes);
  }

  /** Waits (blocking) until build `id` ends, at most `timeoutMs` (default: no limit). */
  waitBuild(id: string, timeoutMs?: number): BuildRecord {
    if (timeoutMs !== undefined && !Number.isSafeInteger(timeoutMs)) {
      throw invalid(`timeoutMs must be an integer, got ${timeoutMs}`);
    }
    const rc = this.#s.buildnet_wait_build(
      this.#handle,
      first.put(id, "id"),
      BigInt(timeoutMs ?? -1),
      outString,
    );
    check(this.#s, rc);
    return JSON.parse(takeString(this.#s, outString));
  }

  /** Cancels build `id`: true if it was cancelled, false if it had already finished. */
  cancelBuild(id: string): boolean {
    return check(this.#s, this.#s.buildnet_cancel_build(this.#handle, first.put(id, "id"))) === OK;
  }

  /** The record of build `id`, finished or not. */
  getBuild(id: string): BuildRecord {
    check(this.#s, this.#s.buildnet_build_json(this.#handle, first.put(id, "id"), outString));
    return JSON.parse(takeString(this.#s, outString));
  }

  /** The daemon's status, the same object as GET /api/v1/status. */
  getStatus(): Status {
    check(this.#s, this.#s.buildnet_status_json(this.#handle, outString));
    return JSON.parse(takeString(this.#s, outString));
  }

  /** The value of `key`, or null if it is not set (or expired). */
  getState(key: string): string | null {
    const s = this.#s;
    const k = first.put(key, "key");
    let rc = s.buildnet_get_state(this.#handle, k, valueBytes, valueLength);
    if (rc === OK) return Deno.UnsafePointerView.getCString(valueAddress);
    if (rc === NO) return null;
    if (rc !== ERR_BUFFER_TOO_SMALL) throw lastError(s, rc);
    const needed = Number(s.buildnet_required_len());
    const bytes = fixedBytes(needed);
    if (needed <= MAX_KEPT_VALUE_BUFFER) {
      valueBytes = bytes;
      valueAddress = Deno.UnsafePointer.of(bytes)!;
      valueLength = BigInt(needed);
    }
    rc = s.buildnet_get_state(this.#handle, k, bytes, BigInt(needed));
    if (rc === OK) return cText(bytes);
    if (rc === NO) return null;
    throw lastError(s, rc);
  }

  /** Sets `key` to `value`, expiring after `ttlMs` (a positive integer) if given. */
  setState(key: string, value: string, ttlMs?: number): void {
    const ttl = ttlMs === undefined ? 0n : BigInt(positiveInteger(ttlMs, "ttlMs"));
    const rc = this.#s.buildnet_set_state(
      this.#handle,
      first.put(key, "key"),
      second.put(value, "value"),
      ttl,
    );
    check(this.#s, rc);
  }

  /** Deletes `key`: true if it was there. */
  deleteState(key: string): boolean {
    return (
      check(this.#s, this.#s.buildnet_delete_state(this.#handle, first.put(key, "key"))) === OK
    );
  }

  /** Takes the lock on `resource` for `ttlMs`: its token, or null if someone else holds it. */
  acquireLock(resource: string, ttlMs: number): string | null {
    const rc = this.#s.buildnet_acquire_lock(
      this.#handle,
      first.put(resource, "resource"),
      BigInt(positiveInteger(ttlMs, "ttlMs")),
      idBytes,
      ID_LEN,
      null,
    );
    return check(this.#s, rc) === OK ? cText(idBytes) : null;
  }

  /** Releases the lock on `resource` held with `token`: false if `token` does not hold it. */
  releaseLock(resource: string, token: string): boolean {
    const rc = this.#s.buildnet_release_lock(
      this.#handle,
      first.put(resource, "resource"),
      second.put(token, "token"),
    );
    return check(this.#s, rc) === OK;
  }

  /**
   * Every event from now on, in order. Several iterators may be open at once; each gets every
   * event from when it was created (each reads a stream of its own). `break` (or `return()`)
   * ends one; `destroy()` ends all.
   */
  events(): AsyncIterableIterator<BuildNetEvent> {
    const s = this.#s;
    check(s, s.buildnet_events_open(this.#handle, outString));
    const stream = Deno.UnsafePointer.create(outString[0]);
    outString[0] = 0n;
    if (!stream) {
      throw new BuildNetError(statusOf("BUILDNET_INTERNAL"), "libbuildnet returned NULL");
    }
    const iterator = new EventIterator(
      new WaitedStream(s, stream),
      (it) => this.#iterators.delete(it),
    );
    this.#iterators.add(iterator);
    return iterator;
  }

  /**
   * Cancels running builds, stops the daemon, frees the handle and ends every events()
   * iterator. A second call does nothing (the C call would fail with INVALID_STATE); every
   * other method afterwards throws BuildNetError BUILDNET_INVALID_STATE.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const iterator of [...this.#iterators]) iterator.end();
    check(this.#s, this.#s.buildnet_destroy(this.#handle));
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/**
 * An event stream of its own. What it holds is taken without waiting, on the JS thread; when
 * it is empty, the nonblocking definition waits on Deno's blocking pool until an event comes
 * or the stream is closed (by close(), or by its daemon closing).
 */
class WaitedStream implements EventSource {
  readonly #s: Symbols;
  readonly #stream: Deno.PointerObject;
  /** The nonblocking call's own out-parameter: it is written on another thread. */
  readonly #out = new BigUint64Array(new ArrayBuffer(8));
  #closed = false;

  constructor(s: Symbols, stream: Deno.PointerObject) {
    this.#s = s;
    this.#stream = stream;
  }

  async next(): Promise<BuildNetEvent | null> {
    const s = this.#s;
    for (;;) {
      if (this.#closed) return null;
      const rc = s.buildnet_events_next(this.#stream, 0n, outString);
      if (rc === OK) return JSON.parse(takeString(s, outString));
      // The daemon was closed (destroy(), or a raw buildnet_destroy of client.handle).
      if (rc === ERR_INVALID_STATE) return null;
      if (rc !== NO) throw lastError(s, rc);
      const waited = await s.buildnet_events_next_nonblocking(this.#stream, -1n, this.#out);
      if (waited === OK) return JSON.parse(takeString(s, this.#out));
      if (waited === ERR_INVALID_STATE) return null;
      if (waited !== NO) {
        // The message was recorded on the FFI thread that made the call: only the code is here.
        throw new BuildNetError(waited, `waiting for the next event failed with status ${waited}`);
      }
    }
  }

  close(): void {
    this.#closed = true;
    // Closed once (EventIterator.end), so it cannot fail: a stream whose daemon was closed
    // still closes with 0 (only a second close is INVALID_STATE). A wait in flight on the
    // blocking pool returns at once.
    this.#s.buildnet_events_close(this.#stream);
  }
}

/** XXH3-64 (seed 0) of `data`. */
export function xxhash(data: Uint8Array): bigint {
  const s = lib();
  if (!(data instanceof Uint8Array)) throw invalid("data must be a Uint8Array");
  return BigInt(s.buildnet_xxhash(data.byteLength === 0 ? null : data, BigInt(data.byteLength)));
}

/** BLAKE3 of `data`: 32 bytes. */
export function blake3(data: Uint8Array): Uint8Array {
  const s = lib();
  if (!(data instanceof Uint8Array)) throw invalid("data must be a Uint8Array");
  const out = new Uint8Array(32);
  check(s, s.buildnet_blake3(data.byteLength === 0 ? null : data, BigInt(data.byteLength), out));
  return out;
}

/** The library's version, e.g. "0.1.0". */
export function version(): string {
  return Deno.UnsafePointerView.getCString(lib().buildnet_version()!);
}
