// BuildNet dashboard: the entry module (native ES modules, no framework, no build step).
// It wires the page's controls, runs the one-second clock and starts the connection.
//
// Data flow: every panel is filled from the REST API (/api/v1/...), then kept current by the
// event stream on /ws. Events either update the page directly (a target's status, a log line) or
// schedule a debounced refetch of the panel they affect. After a reconnect or a `lagged` event
// (events were missed) everything is fetched again.
//
// All text from the daemon goes through textContent or SVG text nodes, never innerHTML.

import { $, setText } from './dom.js';
import { fmtDuration, fmtExpiry } from './format.js';
import { LIVE_BUILD } from './status.js';
import { readToken, submitToken } from './token.js';
import { S } from './state.js';
import { reportError } from './notice.js';
import { tickUptime } from './header.js';
import { renderTargets, updateBuildHint, startBuild, setAllTargets } from './buildform.js';
import { buildItems, updateBuildItem, selectBuild } from './builds.js';
import { updateNode } from './graph.js';
import { renderGraphHeader, cancelBuild } from './detail.js';
import { refreshKv, setKey } from './kv.js';
import { start } from './socket.js';

/** Once a second: the uptime and every running duration. */
function tick() {
  tickUptime();
  for (const b of S.builds) {
    if (b.status === 'running') {
      const li = buildItems.get(b.id);
      if (li) updateBuildItem(li, b);
    }
  }
  const detail = S.selectedBuild ? S.details.get(S.selectedBuild) : null;
  if (detail && LIVE_BUILD.has(detail.status)) {
    for (const [name, run] of detail.runs) if (run.status === 'running') updateNode(name);
    renderGraphHeader();
  }
  for (const node of document.querySelectorAll('#slots [data-since]')) {
    setText(node, fmtDuration(Date.now() - Number(node.dataset.since)));
  }
  for (const node of document.querySelectorAll('#kv-table [data-expires], #locks-table [data-expires]')) {
    setText(node, fmtExpiry(Number(node.dataset.expires)));
  }
}

function init() {
  S.token = readToken();
  $('build-form').addEventListener('submit', startBuild);
  $('targets').addEventListener('change', updateBuildHint);
  $('target-filter').addEventListener('input', renderTargets);
  $('targets-all').addEventListener('click', () => setAllTargets(true));
  $('targets-none').addEventListener('click', () => setAllTargets(false));
  $('follow').addEventListener('change', (e) => {
    S.follow = e.target.checked;
    if (S.follow && S.builds.length) selectBuild(S.builds[0].id, { byUser: false });
  });
  $('cancel-build').addEventListener('click', cancelBuild);
  $('log-wrap').addEventListener('change', (e) => $('log').classList.toggle('wrap', e.target.checked));
  let kvTimer = 0;
  $('kv-prefix').addEventListener('input', () => {
    clearTimeout(kvTimer);
    kvTimer = setTimeout(() => refreshKv().catch((err) => reportError('listing keys', err)), 200);
  });
  $('kv-form').addEventListener('submit', setKey);
  $('token-form').addEventListener('submit', submitToken);
  setInterval(tick, 1000);
  start();
}

init();
