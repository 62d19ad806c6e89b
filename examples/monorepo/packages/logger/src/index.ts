import { slugify } from "@demo/utils";

export type Level = "info" | "warn" | "error";

/** A logger that prefixes every line with a slug of its scope. */
export function createLogger(scope: string) {
  const prefix = slugify(scope);
  return (level: Level, message: string): string => `[${prefix}] ${level}: ${message}`;
}
