// The page's state (S) and the helpers that read and update builds and their details.

import { LIVE_BUILD, progress } from './status.js';

export const BUILDS_LIMIT = 30;

export const S = {
  token: '',
  authFailed: false,
  status: null,
  statusAt: 0, // performance.now() when `status` arrived (for the uptime clock)
  graph: { order: [], deps: {} },
  builds: [], // summaries, newest first
  details: new Map(), // build id -> { summary fields, runs: Map(target -> run), order: [names] }
  selectedBuild: null,
  selectedTarget: null,
  targetPinned: false, // the user picked the target (so live builds do not move the log)
  follow: true, // select each new build as it starts
  slots: [],
  daemons: [],
  kv: [],
  locks: [],
};

export function buildSummary(id) {
  return S.builds.find((b) => b.id === id) || null;
}

/** The status of a target in a build, as far as this page knows. */
export function runOf(buildId, target) {
  const detail = S.details.get(buildId);
  return (detail && detail.runs.get(target)) || null;
}

/** The build-level fields of a build record (those it has). */
export function pickSummary(b) {
  const out = {};
  for (const k of ['id', 'status', 'requested', 'started_at', 'finished_at', 'duration_ms', 'pid']) {
    if (b[k] !== undefined) out[k] = b[k];
  }
  return out;
}

export function storeDetail(build) {
  const old = S.details.get(build.id);
  const runs = new Map();
  const order = [];
  for (const run of Array.isArray(build.targets) ? build.targets : []) {
    if (typeof run === 'string') {
      runs.set(run, (old && old.runs.get(run)) || { target: run, status: 'pending' });
      order.push(run);
    } else if (run && run.target) {
      // An answer computed before the latest events must not move a target back in time.
      const known = old && old.runs.get(run.target);
      runs.set(run.target, known && progress(known.status) > progress(run.status) ? known : { ...run });
      order.push(run.target);
    }
  }
  const detail = { ...pickSummary(build), runs, order };
  S.details.set(build.id, detail);
  const summary = buildSummary(build.id);
  if (summary) Object.assign(summary, pickSummary(build));
  return detail;
}

/** Keeps the details of the selected build and of builds still running; drops the rest. */
export function pruneDetails() {
  for (const [id, detail] of S.details) {
    if (id !== S.selectedBuild && !LIVE_BUILD.has(detail.status)) S.details.delete(id);
  }
}

export function upsertBuild(fields) {
  let b = buildSummary(fields.id);
  if (!b) {
    b = { requested: [], targets: [], ...fields };
    S.builds.unshift(b);
    S.builds.length = Math.min(S.builds.length, BUILDS_LIMIT);
  } else {
    Object.assign(b, fields);
  }
  const detail = S.details.get(fields.id);
  if (detail) Object.assign(detail, fields);
  return b;
}
