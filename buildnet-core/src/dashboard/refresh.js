// Refetching panels: the table of refreshers, debounced refetches and a full refresh.

import { reportError } from './notice.js';
import { refreshStatus } from './header.js';
import { refreshBuilds } from './builds.js';
import { refreshGraph } from './graph.js';
import { refreshDetail } from './detail.js';
import { refreshWorkers } from './workers.js';
import { refreshKv } from './kv.js';
import { refreshLocks } from './locks.js';

const refreshers = {
  status: refreshStatus,
  graph: refreshGraph,
  builds: refreshBuilds,
  detail: refreshDetail,
  workers: refreshWorkers,
  kv: refreshKv,
  locks: refreshLocks,
};
const timers = new Map();

/** Refetches one panel after `delay` ms, once however many times it is asked meanwhile. */
export function schedule(name, delay = 150) {
  if (timers.has(name)) return;
  timers.set(
    name,
    setTimeout(() => {
      timers.delete(name);
      refreshers[name]().catch((err) => reportError(`refreshing ${name}`, err));
    }, delay),
  );
}

export async function refreshAll() {
  const results = await Promise.allSettled(Object.values(refreshers).map((f) => f()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) reportError('refreshing', failed.reason);
}
