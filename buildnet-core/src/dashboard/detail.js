// Selected build: its detail, the graph header summary, picking a target, cancelling.

import { $, setText, show } from './dom.js';
import { fmtBytes, fmtDuration, shortId, plural } from './format.js';
import { LIVE_BUILD } from './status.js';
import { api } from './api.js';
import { S, buildSummary, storeDetail } from './state.js';
import { notice, reportError } from './notice.js';
import { schedule } from './refresh.js';
import { renderGraph, runWarnings } from './graph.js';
import { openLogForSelection } from './log.js';

export async function refreshDetail() {
  const id = S.selectedBuild;
  if (!id) return;
  const data = await api(`/api/v1/builds/${encodeURIComponent(id)}`);
  if (S.selectedBuild !== id || !data.build) return;
  storeDetail(data.build);
  renderGraph();
  renderGraphHeader();
}

export function renderGraphHeader() {
  const id = S.selectedBuild;
  const summary = id ? buildSummary(id) || S.details.get(id) : null;
  setText($('graph-title'), id ? `build ${shortId(id)}` : 'all targets');
  show($('cancel-build'), Boolean(summary && LIVE_BUILD.has(summary.status)));
  const detail = id ? S.details.get(id) : null;
  if (!detail) {
    setText($('build-summary'), summary ? summary.status : '');
    return;
  }
  const runs = [...detail.runs.values()];
  const count = (pred) => runs.filter(pred).length;
  const parts = [
    plural(runs.length, 'target'),
    `${count((r) => r.status === 'succeeded' && r.cached)} cached`,
    `${count((r) => r.status === 'succeeded' && !r.cached)} built`,
  ];
  const remote = runs.filter((r) => r.cached && Number.isFinite(r.remote_bytes));
  if (remote.length) {
    const bytes = remote.reduce((n, r) => n + r.remote_bytes, 0);
    parts.push(`${remote.length} from the remote cache (${fmtBytes(bytes)})`);
  }
  const failed = count((r) => r.status === 'failed');
  if (failed) parts.push(`${failed} failed`);
  const skipped = count((r) => r.status === 'skipped');
  if (skipped) parts.push(`${skipped} skipped`);
  const warnings = runs.reduce((n, r) => n + runWarnings(r).length, 0);
  if (warnings) parts.push(`⚠ ${plural(warnings, 'warning')}`);
  const duration = Number.isFinite(detail.duration_ms)
    ? detail.duration_ms
    : detail.status === 'running' && detail.started_at
      ? Date.now() - detail.started_at
      : null;
  parts.push(`${detail.status}${duration !== null ? ` in ${fmtDuration(duration)}` : ''}`);
  setText($('build-summary'), parts.join(' · '));
}

export function selectTarget(name) {
  if (!S.selectedBuild) {
    notice('Pick a build to see its logs (or start one).');
    return;
  }
  S.selectedTarget = name;
  S.targetPinned = true;
  renderGraph();
  openLogForSelection();
}

export async function cancelBuild() {
  const id = S.selectedBuild;
  if (!id) return;
  try {
    const data = await api(`/api/v1/builds/${encodeURIComponent(id)}`, { method: 'DELETE' });
    notice(data.cancelled ? `Cancelling build ${shortId(id)}.` : `Build ${shortId(id)} was not running.`);
    schedule('builds', 50);
  } catch (err) {
    reportError('cancelling', err);
  }
}
