/**
 * The shapes of what libbuildnet returns as JSON, and the error every call throws.
 *
 * One source for the Bun and the Deno package (bindings/ffi-common; sync.sh copies it into
 * each), so the two runtimes cannot drift apart. Field names are the JSON's, unchanged.
 *
 * The records and events (BuildRecord, TargetRun, Status, BuildNetEvent, ...) are generated
 * from schema/buildnet.schema.json into records.ts by scripts/gen-types.py, and re-exported
 * here; this file adds what the C ABI has of its own: its error codes and BuildNetError.
 */

import type { EngineErrorCode } from "./records.ts";

export * from "./records.ts";

/**
 * The stable error codes: the C ABI's BUILDNET_ERR_* names without `ERR_`. That is the engine's
 * codes (`EngineErrorCode`, generated from the schema) and the C ABI's own
 * BUILDNET_BUFFER_TOO_SMALL.
 */
export type BuildNetErrorCode = EngineErrorCode | "BUILDNET_BUFFER_TOO_SMALL";

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
