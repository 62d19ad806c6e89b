// Worker slots panel: which slot runs what, since when, and the daemons.

import { $, el, setText } from './dom.js';
import { fmtDuration, shortId } from './format.js';
import { api } from './api.js';
import { S } from './state.js';
import { renderSlotStat } from './header.js';

export async function refreshWorkers() {
  const data = await api('/api/v1/workers');
  S.slots = Array.isArray(data.slots) ? data.slots : [];
  S.daemons = Array.isArray(data.daemons) ? data.daemons : [];
  S.slotsAt = Date.now();
  renderSlots();
}

function renderSlots() {
  const list = $('slots');
  list.replaceChildren(
    ...S.slots.map((slot) => {
      const busy = Boolean(slot.busy);
      const what = busy
        ? `${slot.target || '?'}${slot.build_id ? ` (${shortId(slot.build_id)})` : ''}`
        : 'idle';
      return el(
        'li',
        { class: 'slot', 'data-testid': 'slot', 'data-busy': busy ? 'true' : 'false' },
        el('span', { class: 'num' }, `#${slot.slot}`),
        el('span', { class: 'what', title: what }, what),
        el('span', { class: 'since', 'data-since': busy ? slotStart(slot) : null }, busy ? slotElapsed(slot) : ''),
      );
    }),
  );
  if (!S.slots.length) list.append(el('li', { class: 'muted small-text' }, 'No worker slots reported.'));
  const daemons = S.daemons
    .map((d) => (d && typeof d === 'object' ? [d.host && d.port ? `${d.host}:${d.port}` : d.id, d.pid ? `pid ${d.pid}` : '', d.status].filter(Boolean).join(' ') : String(d)))
    .filter(Boolean);
  setText($('daemons'), daemons.length ? `Daemons: ${daemons.join('; ')}` : '');
  renderSlotStat();
}

/** When a busy slot started (Unix ms). `since_ms` is taken as a Unix time when it looks like one, else as the time busy so far when fetched. */
function slotStart(slot) {
  if (!Number.isFinite(slot.since_ms)) return null;
  return slot.since_ms > 1e11 ? slot.since_ms : (S.slotsAt || Date.now()) - slot.since_ms;
}

function slotElapsed(slot) {
  const start = slotStart(slot);
  return start === null ? '' : fmtDuration(Date.now() - start);
}
