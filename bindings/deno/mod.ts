/**
 * BuildNet for Deno: the C ABI (include/buildnet.h) through `Deno.dlopen`.
 *
 * Every method is a synchronous call into libbuildnet on the JS thread, except `events()`:
 * the handle has one event stream, which one pump per client reads with a second definition
 * of `buildnet_next_event` marked `nonblocking` (it waits on Deno's blocking pool, at most
 * 250 ms a call, so ending the last iterator lets the process exit promptly) and fans out to
 * every open iterator.
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
import { Subscription } from "./subscription.ts";

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
  buildnet_next_event: { parameters: ["pointer", "i64", "buffer"], result: "i32" },
  /** The same function, waiting on another thread: its error message stays there. */
  buildnet_next_event_nonblocking: {
    name: "buildnet_next_event",
    parameters: ["pointer", "i64", "buffer"],
    result: "i32",
    nonblocking: true,
  },
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
const ERR_BUFFER_TOO_SMALL = -13;
/** Bytes that hold a build id or a lock token with its NUL (BUILDNET_ID_LEN). */
const ID_LEN = 33n;
/** getState's buffer grows up to this; a larger value is read into a buffer of its own. */
const MAX_KEPT_VALUE_BUFFER = 1 << 20;
/** How long one nonblocking wait for an event lasts: the bound on ending the pump. */
const EVENT_WAIT_MS = 250n;

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
/** A `char **` out-parameter of synchronous calls. */
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
  readonly #events: EventFanout;
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
    this.#events = new EventFanout(s, handle);
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
   * event from when it was created. `break` (or `return()`) ends one; `destroy()` ends all.
   */
  events(): AsyncIterableIterator<BuildNetEvent> {
    return this.#events.subscribe();
  }

  /**
   * Cancels running builds, stops the daemon, frees the handle and ends every events()
   * iterator. A second call does nothing (the C call would fail with INVALID_STATE); every
   * other method afterwards throws BuildNetError BUILDNET_INVALID_STATE.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#events.end();
    check(this.#s, this.#s.buildnet_destroy(this.#handle));
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/**
 * One pump over a handle's event stream, fanning each event out to every open subscription.
 * It runs while at least one subscription is open, one nonblocking wait at a time.
 *
 * Each iterator gets every event from its creation on. Events still in the stream when it is
 * created predate it: with no wait in flight they are drained (synchronously) to the older
 * iterators first. An iterator created while a wait is in flight joins after that wait, taking
 * from the wait's batch only the events stamped no earlier than its creation.
 */
class EventFanout {
  readonly #s: Symbols;
  readonly #handle: Deno.PointerObject;
  /** The nonblocking call's own out-parameter: it is written on another thread. */
  readonly #out = new BigUint64Array(new ArrayBuffer(8));
  readonly #subscribers = new Set<Subscription>();
  /** Iterators created during the wait in flight, with their creation time (Unix ms). */
  readonly #joining = new Map<Subscription, number>();
  #pumping = false;
  #waiting = false;
  #ended = false;

  constructor(s: Symbols, handle: Deno.PointerObject) {
    this.#s = s;
    this.#handle = handle;
  }

  subscribe(): Subscription {
    const sub = new Subscription((s) => {
      this.#subscribers.delete(s);
      this.#joining.delete(s);
    });
    if (this.#ended || !this.#waiting) {
      // Throws INVALID_STATE once the handle is destroyed.
      for (const event of this.#drain([])) for (const old of this.#subscribers) old.push(event);
    }
    if (this.#ended) {
      sub.finish();
      return sub;
    }
    if (this.#waiting) this.#joining.set(sub, Date.now());
    else this.#subscribers.add(sub);
    if (!this.#pumping) {
      this.#pumping = true;
      void this.#pump();
    }
    return sub;
  }

  /** Ends every subscription (the handle is being destroyed). */
  end(): void {
    this.#ended = true;
    for (const sub of [...this.#subscribers, ...this.#joining.keys()]) sub.finish();
  }

  /** Appends every event waiting in the stream to `batch`, without waiting. */
  #drain(batch: BuildNetEvent[]): BuildNetEvent[] {
    while (check(this.#s, this.#s.buildnet_next_event(this.#handle, 0n, outString)) === OK) {
      batch.push(JSON.parse(takeString(this.#s, outString)));
    }
    return batch;
  }

  async #pump(): Promise<void> {
    try {
      while (!this.#ended && this.#subscribers.size + this.#joining.size > 0) {
        this.#waiting = true;
        let rc: number;
        try {
          rc = await this.#s.buildnet_next_event_nonblocking(
            this.#handle,
            EVENT_WAIT_MS,
            this.#out,
          );
        } finally {
          this.#waiting = false;
        }
        const batch = rc === OK ? [JSON.parse(takeString(this.#s, this.#out))] : [];
        if (this.#ended) break;
        if (rc < 0) {
          // The message was recorded on the FFI thread that made the call: only the code is here.
          throw new BuildNetError(rc, `waiting for the next event failed with status ${rc}`);
        }
        for (const event of this.#drain(batch)) {
          for (const sub of this.#subscribers) sub.push(event);
          for (const [sub, since] of this.#joining) {
            if (!("at_ms" in event) || event.at_ms >= since) sub.push(event);
          }
        }
        for (const sub of this.#joining.keys()) this.#subscribers.add(sub);
        this.#joining.clear();
      }
    } catch (error) {
      for (const sub of [...this.#subscribers, ...this.#joining.keys()]) {
        sub.finish(error as Error);
      }
    } finally {
      this.#pumping = false;
    }
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
