// Build and target status vocabulary: which statuses are finished or live, and how far along.

export const FINISHED_TARGET = new Set(['succeeded', 'failed', 'skipped', 'cancelled', 'interrupted']);
export const LIVE_BUILD = new Set(['queued', 'running']);

/** How far along a target is: pending, running, finished. */
export function progress(status) {
  return FINISHED_TARGET.has(status) ? 2 : status === 'running' ? 1 : 0;
}
