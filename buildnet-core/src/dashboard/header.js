// Header and summary stats: daemon status, cache, artifacts, slot counts, uptime, connection state.

import { $, setText, show } from './dom.js';
import { fmtDuration, fmtBytes, plural } from './format.js';
import { api } from './api.js';
import { S } from './state.js';

export async function refreshStatus() {
  const status = await api('/api/v1/status');
  S.status = status;
  S.statusAt = performance.now();
  renderStatus();
}

function renderStatus() {
  const st = S.status;
  if (!st) return;
  setText($('version'), st.version ? `v${st.version}` : '');
  setText($('workspace'), st.workspace || '');
  $('workspace').title = st.workspace || '';
  setText($('address'), st.address ? `http://${st.address}` : '');
  setText($('pid'), st.pid ? `pid ${st.pid}` : '');

  const watch = $('watch');
  if (st.watch && st.watch.enabled) {
    setText(watch, `watch: ${st.watch.mode || 'on'}`);
    show(watch, true);
  } else {
    show(watch, false);
  }

  const cache = st.cache || {};
  const rate = typeof cache.hit_rate === 'number' ? cache.hit_rate : null;
  setText($('hit-rate'), rate === null ? '–' : `${Math.round(rate * 100)}%`);
  $('hit-rate-bar').value = rate === null ? 0 : rate;
  const hits = cache.hits ?? 0;
  const misses = cache.misses ?? 0;
  setText($('hit-counts'), `${plural(hits, 'hit')}, ${misses} ${misses === 1 ? 'miss' : 'misses'}`);
  setText($('saved'), cache.saved_ms ? fmtDuration(cache.saved_ms) : '0 s');

  const art = st.artifacts || {};
  setText($('artifacts'), fmtBytes(art.bytes ?? NaN));
  setText($('artifacts-count'), art.count === undefined ? '' : plural(art.count, 'blob'));

  const builds = st.builds || {};
  const running = (builds.running || []).length;
  const queued = (builds.queued || []).length;
  setText($('queue-stat'), `${running} running, ${queued} queued`);
  renderSlotStat();
  tickUptime();
}

export function tickUptime() {
  const st = S.status;
  if (!st || !Number.isFinite(st.uptime_ms)) return;
  setText($('uptime'), fmtDuration(st.uptime_ms + (performance.now() - S.statusAt)));
}

export function renderSlotStat() {
  const total = S.slots.length || (S.status && S.status.slots) || 0;
  const busy = S.slots.filter((s) => s.busy).length;
  setText($('slots-stat'), total ? `${busy} / ${total}` : '–');
}

export function setConn(state, label) {
  const conn = $('conn');
  conn.dataset.state = state === 'open' ? 'open' : 'closed';
  conn.classList.toggle('connecting', state === 'connecting');
  setText($('conn-label'), label);
}
