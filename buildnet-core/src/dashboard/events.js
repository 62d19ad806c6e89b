// Events from the WebSocket: each one updates the page or schedules a refetch.

import { $, setText } from './dom.js';
import { plural, targetNames } from './format.js';
import { S, runOf, storeDetail, upsertBuild } from './state.js';
import { notice } from './notice.js';
import { schedule, refreshAll } from './refresh.js';
import { renderBuilds, selectBuild } from './builds.js';
import { renderGraph } from './graph.js';
import { renderGraphHeader } from './detail.js';
import {
  LOG,
  openLogForSelection,
  hasLog,
  logComplete,
  loadStoredLog,
  addLogLine,
  addNote,
} from './log.js';

export function onEvent(ev) {
  switch (ev.type) {
    case 'lagged':
      notice(`Missed ${ev.missed ?? 'some'} events; refreshed.`);
      refreshAll();
      if (LOG.mode === 'live') openLogForSelection(); // lines were missed too
      break;

    case 'build_queued':
      upsertBuild({ id: ev.build_id, status: 'queued', started_at: ev.at_ms, targets: ev.targets || [] });
      renderBuilds();
      schedule('builds');
      schedule('status');
      break;

    case 'build_started': {
      upsertBuild({ id: ev.build_id, status: 'running', started_at: ev.at_ms, targets: ev.targets || [] });
      if (!S.details.has(ev.build_id)) {
        storeDetail({ id: ev.build_id, status: 'running', started_at: ev.at_ms, targets: ev.targets || [] });
      }
      if (S.follow && S.selectedBuild !== ev.build_id) {
        selectBuild(ev.build_id, { byUser: false });
      } else {
        renderBuilds();
        renderGraph();
        renderGraphHeader();
      }
      schedule('builds');
      schedule('status');
      schedule('workers');
      break;
    }

    case 'build_finished':
      upsertBuild({ id: ev.build_id, status: ev.status, duration_ms: ev.duration_ms, finished_at: ev.at_ms });
      renderBuilds();
      renderGraphHeader();
      if (ev.build_id === S.selectedBuild) schedule('detail', 50);
      schedule('builds');
      schedule('status');
      schedule('workers');
      break;

    case 'target_started':
      if (updateRun(ev.build_id, ev.target, { status: 'running', started_at: ev.at_ms })) {
        if (ev.build_id === S.selectedBuild && !S.targetPinned && S.follow) {
          // Nothing picked: the log follows the target that started last.
          S.selectedTarget = ev.target;
          renderGraph();
          openLogForSelection();
        }
      }
      schedule('workers', 50);
      break;

    case 'target_finished': {
      const fields = {
        status: ev.status,
        cached: Boolean(ev.cached),
        duration_ms: ev.duration_ms,
        exit_code: ev.exit_code,
        error: ev.error,
        cache_key: ev.cache_key,
        warnings: Array.isArray(ev.warnings) ? ev.warnings : undefined,
        remote_bytes: Number.isFinite(ev.remote_bytes) ? ev.remote_bytes : null,
        remote_execution: ev.remote_execution || null,
        finished_at: ev.at_ms,
      };
      updateRun(ev.build_id, ev.target, fields);
      if (ev.build_id === LOG.build && ev.target === LOG.target && LOG.mode === 'live') {
        const run = runOf(ev.build_id, ev.target);
        if (LOG.source) {
          setText($('log-state'), ev.status); // the follow stream ends by itself
        } else if (!hasLog(run)) {
          LOG.mode = 'stored';
          setText($('log-state'), ev.status);
          if (!LOG.lines.size) addNote(`${ev.status}${ev.error ? `: ${ev.error}` : ''} (no output)`);
        } else if (LOG.maxNo > 0 && logComplete()) {
          LOG.mode = 'stored';
          setText($('log-state'), `${ev.status} · ${plural(LOG.maxNo, 'line')}`);
        } else {
          loadStoredLog(); // lines were missed (or none came): the stored log is the whole story
        }
      }
      schedule('workers', 50);
      schedule('status', 300);
      break;
    }

    case 'build_warning':
      if (ev.build_id === S.selectedBuild) notice(ev.message, { bad: true });
      break;

    case 'cache_hit':
      updateRun(ev.build_id, ev.target, { cached: true });
      schedule('status', 300);
      break;

    case 'target_log':
      if (ev.build_id === LOG.build && ev.target === LOG.target && LOG.mode === 'live') addLogLine(ev);
      break;

    case 'state_changed':
      if (ev.key === undefined || String(ev.key).startsWith($('kv-prefix').value)) schedule('kv');
      schedule('status', 500);
      break;

    case 'lock_acquired':
    case 'lock_released':
      schedule('locks');
      schedule('status', 500);
      break;

    case 'artifact_stored':
    case 'artifacts_collected':
      schedule('status', 500);
      break;

    case 'config_reloaded':
      notice(`Configuration reloaded${Number.isFinite(ev.targets) ? `: ${plural(ev.targets, 'target')}` : ''}.`);
      schedule('graph', 0);
      schedule('status', 0);
      break;

    case 'watch_triggered': {
      const paths = Array.isArray(ev.paths) ? ev.paths : [];
      const targets = targetNames(ev.targets);
      notice(
        `Watch: ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ` and ${paths.length - 3} more` : ''} changed; building ${targets.join(', ') || 'affected targets'}.`,
      );
      break;
    }

    default:
      break; // daemon_started, daemon_stopped and anything newer than this page
  }
}

/** Updates a target's run in a build whose detail is loaded; true if the target was known. */
function updateRun(buildId, target, fields) {
  const detail = S.details.get(buildId);
  if (!detail || !target) return false;
  let run = detail.runs.get(target);
  if (!run) {
    run = { target, status: 'pending' };
    detail.runs.set(target, run);
    detail.order.push(target);
  }
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) run[k] = v;
  if (buildId === S.selectedBuild) {
    renderGraph();
    renderGraphHeader();
  }
  return true;
}
