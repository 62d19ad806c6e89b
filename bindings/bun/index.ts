/**
 * BuildNet for Bun: the C ABI (include/buildnet.h) through `bun:ffi`.
 *
 * Every method is a synchronous call into libbuildnet on the JS thread, except `events()`:
 * each iterator opens an event stream of its own (`buildnet_events_open`) and reads it
 * without waiting (`buildnet_events_next` with timeout 0, then `Bun.sleep(10)` while it is
 * empty), only while a `next()` is waiting; it closes the stream when it ends.
 *
 * Strings go in through reusable scratch buffers (`TextEncoder.encodeInto` plus a NUL);
 * `getState` reads into one reusable buffer that grows to `buildnet_required_len()` when a
 * value does not fit, so the hot path allocates only the string it returns.
 *
 * The library is `$BUILDNET_LIB` if set, else `libbuildnet.<suffix>` next to this file,
 * loaded on first use.
 */
import { CString, dlopen, FFIType, type Pointer, ptr, suffix } from "bun:ffi";
import { join } from "node:path";
import {
  BuildNetError,
  type BuildNetEvent,
  type BuildRecord,
  type Status,
  statusOf,
} from "./types.ts";
import { EventIterator, type EventSource } from "./events.ts";

export * from "./types.ts";

const { ptr: P, i32, i64, u64, u64_fast, void: VOID } = FFIType;

const SYMBOLS = {
  buildnet_create: { args: [P], returns: P },
  buildnet_start: { args: [P], returns: i32 },
  buildnet_stop: { args: [P], returns: i32 },
  buildnet_destroy: { args: [P], returns: i32 },
  buildnet_request_build: { args: [P, P, P, u64], returns: i32 },
  buildnet_wait_build: { args: [P, P, i64, P], returns: i32 },
  buildnet_cancel_build: { args: [P, P], returns: i32 },
  buildnet_build_json: { args: [P, P, P], returns: i32 },
  buildnet_status_json: { args: [P, P], returns: i32 },
  buildnet_get_state: { args: [P, P, P, u64], returns: i32 },
  buildnet_set_state: { args: [P, P, P, u64], returns: i32 },
  buildnet_delete_state: { args: [P, P], returns: i32 },
  buildnet_acquire_lock: { args: [P, P, u64, P, u64, P], returns: i32 },
  buildnet_release_lock: { args: [P, P, P], returns: i32 },
  buildnet_events_open: { args: [P, P], returns: i32 },
  buildnet_events_next: { args: [P, i64, P], returns: i32 },
  buildnet_events_close: { args: [P], returns: i32 },
  buildnet_string_free: { args: [P], returns: VOID },
  buildnet_last_error: { args: [], returns: P },
  buildnet_last_error_code: { args: [], returns: i32 },
  buildnet_required_len: { args: [], returns: u64_fast },
  buildnet_version: { args: [], returns: P },
  buildnet_xxhash: { args: [P, u64], returns: u64 },
  buildnet_blake3: { args: [P, u64, P], returns: i32 },
} as const;

type Symbols = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];

const OK = 0;
const NO = 1;
const ERR_INVALID_STATE = -11;
const ERR_BUFFER_TOO_SMALL = -13;
/** Bytes that hold a build id or a lock token with its NUL (BUILDNET_ID_LEN). */
const ID_LEN = 33;
/** getState's buffer grows up to this; a larger value is read into a buffer of its own. */
const MAX_KEPT_VALUE_BUFFER = 1 << 20;
/** How long an events() iterator sleeps when its stream is empty. */
const EVENT_POLL_MS = 10;

let symbols: Symbols | undefined;

/** The library's symbols, loading it on first use. */
function lib(): Symbols {
  if (symbols) return symbols;
  const fromEnv = process.env.BUILDNET_LIB;
  const path = fromEnv || join(import.meta.dir, `libbuildnet.${suffix}`);
  const where = fromEnv ? "from BUILDNET_LIB" : "next to index.ts, BUILDNET_LIB being unset";
  try {
    symbols = dlopen(path, SYMBOLS).symbols;
  } catch (cause) {
    throw new Error(
      `cannot load libbuildnet from ${path} (${where}): ${(cause as Error).message}. ` +
        `Set BUILDNET_LIB to the library's path, or build it with scripts/package-c.sh PREFIX ` +
        `and copy PREFIX/lib/libbuildnet.${suffix} next to index.ts.`,
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

/**
 * A NUL-terminated UTF-8 copy of a string, in a buffer reused by the next call. Hands out the
 * buffer's address, taken once per buffer (see fixedBytes).
 */
class CStringScratch {
  #bytes = fixedBytes(256);
  #address: Pointer = ptr(this.#bytes);
  #encoder = new TextEncoder();

  put(s: string, name: string): Pointer {
    if (typeof s !== "string") throw invalid(`${name} must be a string`);
    if (s.indexOf("\0") !== -1) throw invalid(`${name} contains a NUL character`);
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    if (s.length * 3 + 1 > this.#bytes.length) {
      this.#bytes = fixedBytes(Math.max(s.length * 3 + 1, this.#bytes.length * 2));
      this.#address = ptr(this.#bytes);
    }
    const { written } = this.#encoder.encodeInto(s, this.#bytes);
    this.#bytes[written] = 0;
    return this.#address;
  }
}

// Scratch space shared by every client: calls are synchronous on the JS thread, and each
// call's arguments use distinct scratches.
const first = new CStringScratch();
const second = new CStringScratch();
/** A `char **` out-parameter (and the `BuildNetEvents **` of buildnet_events_open). */
const outString = new BigUint64Array(new ArrayBuffer(8));
const outStringAddress = ptr(outString);
/** The out-buffer of build ids and lock tokens. */
const idBytes = fixedBytes(ID_LEN);
/** getState's output buffer and its address. */
let valueBytes = fixedBytes(4096);
let valueAddress: Pointer = ptr(valueBytes);

function invalid(message: string): BuildNetError {
  return new BuildNetError(statusOf("BUILDNET_INVALID_ARGUMENT"), message);
}

/** The error of the calling thread's last failed call, which returned `status`. */
function lastError(s: Symbols, status: number): BuildNetError {
  const message = s.buildnet_last_error();
  return new BuildNetError(
    status,
    message ? new CString(message).toString() : `libbuildnet call failed with status ${status}`,
  );
}

/** `rc` if it is not an error, else throws the error it stands for. */
function check(s: Symbols, rc: number): number {
  if (rc < 0) throw lastError(s, rc);
  return rc;
}

/** The string a `char **` out-parameter received, freed after reading. */
function takeString(s: Symbols): string {
  const p = Number(outString[0]) as Pointer;
  outString[0] = 0n;
  try {
    return new CString(p).toString();
  } finally {
    s.buildnet_string_free(p);
  }
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
  readonly #handle: Pointer;
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
  get handle(): Pointer {
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
    return new CString(ptr(idBytes)).toString();
  }

  /** Waits (blocking) until build `id` ends, at most `timeoutMs` (default: no limit). */
  waitBuild(id: string, timeoutMs?: number): BuildRecord {
    if (timeoutMs !== undefined && !Number.isSafeInteger(timeoutMs)) {
      throw invalid(`timeoutMs must be an integer, got ${timeoutMs}`);
    }
    const rc = this.#s.buildnet_wait_build(
      this.#handle,
      first.put(id, "id"),
      timeoutMs ?? -1,
      outStringAddress,
    );
    check(this.#s, rc);
    return JSON.parse(takeString(this.#s));
  }

  /** Cancels build `id`: true if it was cancelled, false if it had already finished. */
  cancelBuild(id: string): boolean {
    return check(this.#s, this.#s.buildnet_cancel_build(this.#handle, first.put(id, "id"))) === OK;
  }

  /** The record of build `id`, finished or not. */
  getBuild(id: string): BuildRecord {
    check(
      this.#s,
      this.#s.buildnet_build_json(this.#handle, first.put(id, "id"), outStringAddress),
    );
    return JSON.parse(takeString(this.#s));
  }

  /** The daemon's status, the same object as GET /api/v1/status. */
  getStatus(): Status {
    check(this.#s, this.#s.buildnet_status_json(this.#handle, outStringAddress));
    return JSON.parse(takeString(this.#s));
  }

  /** The value of `key`, or null if it is not set (or expired). */
  getState(key: string): string | null {
    const s = this.#s;
    const k = first.put(key, "key");
    let rc = s.buildnet_get_state(this.#handle, k, valueAddress, valueBytes.length);
    if (rc === OK) return new CString(valueAddress).toString();
    if (rc === NO) return null;
    if (rc !== ERR_BUFFER_TOO_SMALL) throw lastError(s, rc);
    const needed = s.buildnet_required_len();
    const bytes = fixedBytes(needed);
    const address = ptr(bytes);
    if (needed <= MAX_KEPT_VALUE_BUFFER) {
      valueBytes = bytes;
      valueAddress = address;
    }
    rc = s.buildnet_get_state(this.#handle, k, address, needed);
    if (rc === OK) return new CString(address).toString();
    if (rc === NO) return null;
    throw lastError(s, rc);
  }

  /** Sets `key` to `value`, expiring after `ttlMs` (a positive integer) if given. */
  setState(key: string, value: string, ttlMs?: number): void {
    const ttl = ttlMs === undefined ? 0 : positiveInteger(ttlMs, "ttlMs");
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
      positiveInteger(ttlMs, "ttlMs"),
      idBytes,
      ID_LEN,
      null,
    );
    return check(this.#s, rc) === OK ? new CString(ptr(idBytes)).toString() : null;
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
    check(s, s.buildnet_events_open(this.#handle, outStringAddress));
    const stream = Number(outString[0]) as Pointer;
    outString[0] = 0n;
    const iterator = new EventIterator(
      new PolledStream(s, stream),
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
 * An event stream of its own, polled without waiting: a bun:ffi call blocks the JS thread, so
 * an empty stream is tried again after EVENT_POLL_MS.
 */
class PolledStream implements EventSource {
  readonly #s: Symbols;
  readonly #stream: Pointer;
  #closed = false;

  constructor(s: Symbols, stream: Pointer) {
    this.#s = s;
    this.#stream = stream;
  }

  async next(): Promise<BuildNetEvent | null> {
    const s = this.#s;
    for (;;) {
      if (this.#closed) return null;
      const rc = s.buildnet_events_next(this.#stream, 0, outStringAddress);
      if (rc === OK) return JSON.parse(takeString(s));
      // The daemon was closed (destroy(), or a raw buildnet_destroy of client.handle).
      if (rc === ERR_INVALID_STATE) return null;
      if (rc !== NO) throw lastError(s, rc);
      await Bun.sleep(EVENT_POLL_MS);
    }
  }

  close(): void {
    this.#closed = true;
    // Closed once (EventIterator.end), so it cannot fail: a stream whose daemon was closed
    // still closes with 0 (only a second close is INVALID_STATE).
    this.#s.buildnet_events_close(this.#stream);
  }
}

/** XXH3-64 (seed 0) of `data`. */
export function xxhash(data: Uint8Array): bigint {
  const s = lib();
  if (!(data instanceof Uint8Array)) throw invalid("data must be a Uint8Array");
  return BigInt(s.buildnet_xxhash(data.byteLength === 0 ? null : data, data.byteLength));
}

/** BLAKE3 of `data`: 32 bytes. */
export function blake3(data: Uint8Array): Uint8Array {
  const s = lib();
  if (!(data instanceof Uint8Array)) throw invalid("data must be a Uint8Array");
  const out = new Uint8Array(32);
  check(s, s.buildnet_blake3(data.byteLength === 0 ? null : data, data.byteLength, out));
  return out;
}

/** The library's version, e.g. "0.1.0". */
export function version(): string {
  const s = lib();
  return new CString(s.buildnet_version()!).toString();
}
