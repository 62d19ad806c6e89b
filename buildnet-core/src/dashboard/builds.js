// Builds panel: the list of recent builds, following the newest, selecting one.

import { $, el, setText, show } from './dom.js';
import { fmtDuration, fmtClock, shortId, targetNames } from './format.js';
import { api } from './api.js';
import { BUILDS_LIMIT, S, runOf, pickSummary, pruneDetails } from './state.js';
import { reportError } from './notice.js';
import { renderGraph } from './graph.js';
import { refreshDetail, renderGraphHeader } from './detail.js';
import { LOG, openLogForSelection } from './log.js';

export async function refreshBuilds() {
  const data = await api(`/api/v1/builds?limit=${BUILDS_LIMIT}`);
  const fetched = Array.isArray(data.builds) ? data.builds : [];
  const ids = new Set(fetched.map((b) => b.id));
  const newest = fetched.length ? Math.max(...fetched.map((b) => b.started_at || 0)) : 0;
  // A build announced by an event after the server answered is kept until the next fetch.
  const announced = S.builds.filter((b) => !ids.has(b.id) && (b.started_at || 0) > newest);
  S.builds = [...announced, ...fetched].slice(0, BUILDS_LIMIT);
  for (const b of S.builds) {
    const detail = S.details.get(b.id);
    if (detail) Object.assign(detail, pickSummary(b));
  }
  if (!S.selectedBuild && S.builds.length) {
    await selectBuild(S.builds[0].id, { byUser: false });
  }
  renderBuilds();
  renderGraphHeader();
}

export const buildItems = new Map(); // build id -> <li>

export function renderBuilds() {
  const list = $('builds');
  const seen = new Set();
  S.builds.forEach((b, index) => {
    seen.add(b.id);
    let li = buildItems.get(b.id);
    if (!li) {
      li = el(
        'li',
        { class: 'build-item', 'data-testid': 'build-item', 'data-build-id': b.id, role: 'button', tabindex: 0 },
        el('span', { class: 'sdot', 'aria-hidden': 'true' }),
        el('span', { class: 'bid' }),
        el('span', { class: 'bstatus' }),
        el('span', { class: 'btargets-pad' }),
        el('span', { class: 'btargets' }),
        el('span', { class: 'btime' }),
      );
      li.addEventListener('click', () => selectBuild(b.id, { byUser: true }));
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          selectBuild(b.id, { byUser: true });
        }
      });
      buildItems.set(b.id, li);
    }
    updateBuildItem(li, b);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  for (const [id, li] of buildItems) {
    if (!seen.has(id)) {
      li.remove();
      buildItems.delete(id);
    }
  }
  show($('builds-empty'), S.builds.length === 0);
}

export function updateBuildItem(li, b) {
  li.dataset.status = b.status || 'queued';
  li.classList.toggle('selected', b.id === S.selectedBuild);
  li.setAttribute('aria-pressed', b.id === S.selectedBuild ? 'true' : 'false');
  const [, id, status, , targets, time] = li.children;
  setText(id, shortId(b.id));
  id.title = b.id;
  setText(status, b.status);
  const requested = targetNames(b.requested);
  setText(targets, requested.length ? requested.join(', ') : 'all targets');
  targets.title = requested.join(', ');
  const duration = Number.isFinite(b.duration_ms)
    ? b.duration_ms
    : b.status === 'running' && b.started_at
      ? Date.now() - b.started_at
      : null;
  setText(time, [fmtClock(b.started_at), fmtDuration(duration)].filter(Boolean).join(' · '));
}

export function setFollow(on) {
  S.follow = on;
  $('follow').checked = on;
}

export async function selectBuild(id, { byUser }) {
  if (byUser) setFollow(S.builds.length > 0 && S.builds[0].id === id);
  const changed = S.selectedBuild !== id;
  S.selectedBuild = id;
  if (changed) {
    // Keep looking at the same target in the new build when it has one.
    if (byUser) {
      S.selectedTarget = null;
      S.targetPinned = false;
    }
    pruneDetails();
  }
  renderBuilds();
  renderGraph();
  renderGraphHeader();
  if (changed) openLogForSelection();
  try {
    await refreshDetail();
  } catch (err) {
    reportError('loading the build', err);
  }
  if (changed) {
    // The detail may show the target finished already, or gone: reopen the log accordingly.
    const run = S.selectedTarget ? runOf(id, S.selectedTarget) : null;
    if (S.selectedTarget && !run && S.details.has(id)) {
      S.selectedTarget = null;
      openLogForSelection();
    } else if (run && LOG.mode === 'live' && !LOG.source && run.status !== 'pending') {
      openLogForSelection(); // opened before the detail said how far the target is
    }
    renderGraph();
  }
}
