/**
 * The shapes of what libbuildnet returns as JSON, and the error every call throws.
 *
 * One source for the Bun and the Deno package (bindings/ffi-common; sync.sh copies it into
 * each), so the two runtimes cannot drift apart. Field names are the JSON's, unchanged.
 */

/** A build's status: `interrupted` is a build left running by a crash. */
export type BuildStatus =
  | "queued"
  | "running"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "interrupted";

/** A target's status within a build. */
export type TargetStatus =
  | "pending"
  | "running"
  | "succeeded"
  | "failed"
  | "skipped"
  | "cancelled"
  | "interrupted";

/** One target's part in a build. Times are Unix milliseconds. */
export interface TargetRun {
  target: string;
  status: TargetStatus;
  /** Whether the outputs came from the cache. */
  cached: boolean;
  cache_key: string | null;
  exit_code: number | null;
  started_at: number | null;
  finished_at: number | null;
  duration_ms: number | null;
  /** Why it failed or was skipped. */
  error: string | null;
}

/** A build, as waitBuild() and getBuild() return it. */
export interface BuildRecord {
  id: string;
  status: BuildStatus;
  /** The targets asked for (the graph adds their dependencies). */
  requested: string[];
  started_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  pid: number;
  /** Every target of the resolved graph, dependencies first. */
  targets: TargetRun[];
}

/** A daemon of the workspace, as the status lists it. */
export interface WorkerRecord {
  id: string;
  pid: number;
  host: string;
  port: number;
  status: string;
  started_at: number;
  last_heartbeat: number;
}

/** The daemon's status: the same object as GET /api/v1/status. */
export interface Status {
  version: string;
  pid: number;
  running: boolean;
  /** `127.0.0.1:<port>` while running, else null. */
  address: string | null;
  uptime_ms: number;
  workspace: string;
  config_file: string | null;
  state_dir: string;
  db_path: string;
  kv_keys: number;
  locks_held: number;
  artifacts: { count: number; bytes: number };
  read_cache: boolean;
  workers: WorkerRecord[];
  builds: { running: string[]; queued: string[] };
  /** `hit_rate` is null before any target ran. */
  cache: { hits: number; misses: number; hit_rate: number | null; saved_ms: number };
  /** Targets that may run at once. */
  slots: number;
  watch: {
    enabled: boolean;
    mode: "native" | "poll" | null;
    tree_walks: number;
    tree_cache_hits: number;
  };
}

/** Every event's place in the stream: `seq` is gap-free per daemon, `at_ms` Unix ms. */
export interface EventEnvelope {
  seq: number;
  at_ms: number;
}

/**
 * One event of `events()`. New types may be added; switch on `type` with a default branch.
 * `lagged` (no envelope) says the reader fell behind and `missed` events are lost.
 */
export type BuildNetEvent =
  | (EventEnvelope & { type: "daemon_started"; address: string })
  | (EventEnvelope & { type: "daemon_stopped" })
  | (EventEnvelope & { type: "config_reloaded"; targets: number })
  | (EventEnvelope & { type: "state_changed"; key: string; op: "set" | "delete" })
  | (EventEnvelope & { type: "lock_acquired"; resource: string; fence: number })
  | (EventEnvelope & { type: "lock_released"; resource: string })
  | (EventEnvelope & { type: "artifact_stored"; hash: string; size: number })
  | (EventEnvelope & { type: "artifact_corrupted"; hash: string })
  | (EventEnvelope & { type: "artifacts_collected"; removed: number; freed_bytes: number })
  | (EventEnvelope & { type: "build_queued"; build_id: string; targets: string[] })
  | (EventEnvelope & { type: "build_started"; build_id: string; targets: string[] })
  | (EventEnvelope & {
    type: "build_finished";
    build_id: string;
    status: BuildStatus;
    duration_ms: number;
  })
  | (EventEnvelope & { type: "target_started"; build_id: string; target: string })
  | (EventEnvelope & {
    type: "target_finished";
    build_id: string;
    target: string;
    status: TargetStatus;
    cached: boolean;
    duration_ms: number;
    exit_code: number | null;
    error: string | null;
  })
  | (EventEnvelope & { type: "cache_hit"; build_id: string; target: string; saved_ms: number })
  | (EventEnvelope & {
    type: "target_log";
    build_id: string;
    target: string;
    stream: "stdout" | "stderr";
    line: string;
    /** 1-based, both streams together. */
    line_no: number;
  })
  | (EventEnvelope & {
    type: "watch_triggered";
    build_id: string;
    targets: string[];
    /** Some of the changed paths, relative to the workspace (at most 20). */
    paths: string[];
  })
  | { type: "lagged"; missed: number };

/** The stable error codes: the C ABI's BUILDNET_ERR_* names without `ERR_`. */
export type BuildNetErrorCode =
  | "BUILDNET_INVALID_ARGUMENT"
  | "BUILDNET_NOT_FOUND"
  | "BUILDNET_CONFIG"
  | "BUILDNET_CYCLE"
  | "BUILDNET_BUSY"
  | "BUILDNET_IO"
  | "BUILDNET_CANCELLED"
  | "BUILDNET_TIMEOUT"
  | "BUILDNET_UNAUTHORIZED"
  | "BUILDNET_DATABASE"
  | "BUILDNET_INVALID_STATE"
  | "BUILDNET_INTERNAL"
  | "BUILDNET_BUFFER_TOO_SMALL";

/** The C status of each code. */
const STATUS: Readonly<Record<BuildNetErrorCode, number>> = {
  BUILDNET_INVALID_ARGUMENT: -1,
  BUILDNET_NOT_FOUND: -2,
  BUILDNET_CONFIG: -3,
  BUILDNET_CYCLE: -4,
  BUILDNET_BUSY: -5,
  BUILDNET_IO: -6,
  BUILDNET_CANCELLED: -7,
  BUILDNET_TIMEOUT: -8,
  BUILDNET_UNAUTHORIZED: -9,
  BUILDNET_DATABASE: -10,
  BUILDNET_INVALID_STATE: -11,
  BUILDNET_INTERNAL: -12,
  BUILDNET_BUFFER_TOO_SMALL: -13,
};

const CODE = new Map(
  Object.entries(STATUS).map(([code, status]) => [status, code as BuildNetErrorCode]),
);

/** The negative status of `code`, e.g. -2 for BUILDNET_NOT_FOUND. */
export function statusOf(code: BuildNetErrorCode): number {
  return STATUS[code];
}

/** A failed call: `code` is stable, `status` the C ABI's negative return value. */
export class BuildNetError extends Error {
  readonly code: BuildNetErrorCode;
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "BuildNetError";
    this.status = status;
    // A status newer than this binding is reported as internal, its number kept in `status`.
    this.code = CODE.get(status) ?? "BUILDNET_INTERNAL";
  }
}
