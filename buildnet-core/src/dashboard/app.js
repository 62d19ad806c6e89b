// BuildNet dashboard: one hand-written ES module, no framework, no build step.
//
// Data flow: every panel is filled from the REST API (/api/v1/...), then kept current by the
// event stream on /ws. Events either update the page directly (a target's status, a log line) or
// schedule a debounced refetch of the panel they affect. After a reconnect or a `lagged` event
// (events were missed) everything is fetched again.
//
// All text from the daemon goes through textContent or SVG text nodes, never innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';
const TOKEN_KEY = 'buildnet.token';
const BUILDS_LIMIT = 30;
const MAX_LOG_LINES = 5000;
const FINISHED_TARGET = new Set(['succeeded', 'failed', 'skipped', 'cancelled', 'interrupted']);
const LIVE_BUILD = new Set(['queued', 'running']);

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** `el('li', {class: 'x', 'data-id': id}, 'text', child)`: attributes, then text or nodes. */
function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

function svgEl(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(node, text) {
  const value = text === undefined || text === null ? '' : String(text);
  if (node.textContent !== value) node.textContent = value;
}

function show(node, visible) {
  node.hidden = !visible;
}

// ---------------------------------------------------------------------------------------------
// Formatting

function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

function fmtClock(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const today = new Date();
  return d.toDateString() === today.toDateString()
    ? time
    : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

/** "in 12 s" for an expiry time (Unix ms), "never" for none. */
function fmtExpiry(ms) {
  if (ms === null || ms === undefined) return 'never';
  const left = ms - Date.now();
  return left <= 0 ? 'expiring' : `in ${fmtDuration(left)}`;
}

function shortId(id) {
  return String(id ?? '').slice(0, 8);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Target names out of a list of names or of target-run objects. */
function targetNames(list) {
  if (!Array.isArray(list)) return [];
  return list.map((t) => (typeof t === 'string' ? t : t && t.target)).filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// Token and API

function readToken() {
  let token = '';
  try {
    token = sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    // Storage may be disabled; the token then lasts as long as the page.
  }
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has('token')) {
    token = hash.get('token') || '';
    saveToken(token);
    hash.delete('token');
    const rest = hash.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  return token;
}

function saveToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // See readToken.
  }
}

class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the API. Resolves to the parsed JSON (or the text, with `text: true`); rejects with an
 * ApiError carrying the daemon's message. A 401 also brings up the token form.
 */
async function api(path, { method = 'GET', body, text = false } = {}) {
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'the daemon is unreachable', 'NETWORK');
  }
  if (res.status === 401) {
    needToken(S.token ? 'That token was refused.' : '');
    throw new ApiError(401, 'token required', 'BUILDNET_UNAUTHORIZED');
  }
  if (text && res.ok) return res.text();
  let data = null;
  try {
    data = await res.json();
  } catch {
    // An error without a JSON body: reported by status below.
  }
  if (!res.ok || (data && data.success === false)) {
    throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`, data && data.code);
  }
  return data;
}

/** Query string for the token where headers cannot be set (WebSocket, EventSource). */
function tokenQuery(prefix) {
  return S.token ? `${prefix}access_token=${encodeURIComponent(S.token)}` : '';
}

// ---------------------------------------------------------------------------------------------
// State

const S = {
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

function buildSummary(id) {
  return S.builds.find((b) => b.id === id) || null;
}

/** The status of a target in a build, as far as this page knows. */
function runOf(buildId, target) {
  const detail = S.details.get(buildId);
  return (detail && detail.runs.get(target)) || null;
}

// ---------------------------------------------------------------------------------------------
// Notices

let noticeTimer = 0;

function notice(message, { bad = false, ms = 6000 } = {}) {
  const node = $('notice');
  setText(node, message);
  node.classList.toggle('bad', bad);
  show(node, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(node, false), ms);
}

function reportError(what, err) {
  if (err instanceof ApiError && err.status === 401) return; // the token form says it
  notice(`${what}: ${err.message}`, { bad: true });
}

// ---------------------------------------------------------------------------------------------
// Fetching, with debounced refetches

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
function schedule(name, delay = 150) {
  if (timers.has(name)) return;
  timers.set(
    name,
    setTimeout(() => {
      timers.delete(name);
      refreshers[name]().catch((err) => reportError(`refreshing ${name}`, err));
    }, delay),
  );
}

async function refreshAll() {
  const results = await Promise.allSettled(Object.values(refreshers).map((f) => f()));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) reportError('refreshing', failed.reason);
}

async function refreshStatus() {
  const status = await api('/api/v1/status');
  S.status = status;
  S.statusAt = performance.now();
  renderStatus();
}

async function refreshGraph() {
  const graph = await api('/api/v1/graph');
  S.graph = { order: Array.isArray(graph.order) ? graph.order : [], deps: graph.deps || {} };
  renderTargets();
  renderGraph();
}

async function refreshBuilds() {
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

async function refreshDetail() {
  const id = S.selectedBuild;
  if (!id) return;
  const data = await api(`/api/v1/builds/${encodeURIComponent(id)}`);
  if (S.selectedBuild !== id || !data.build) return;
  storeDetail(data.build);
  renderGraph();
  renderGraphHeader();
}

async function refreshWorkers() {
  const data = await api('/api/v1/workers');
  S.slots = Array.isArray(data.slots) ? data.slots : [];
  S.daemons = Array.isArray(data.daemons) ? data.daemons : [];
  S.slotsAt = Date.now();
  renderSlots();
}

async function refreshKv() {
  const prefix = $('kv-prefix').value;
  const data = await api(`/api/v1/state?prefix=${encodeURIComponent(prefix)}&limit=500`);
  if ($('kv-prefix').value !== prefix) return; // the filter changed meanwhile; a refetch follows
  S.kv = Array.isArray(data.entries) ? data.entries : [];
  renderKv();
}

async function refreshLocks() {
  const data = await api('/api/v1/locks');
  S.locks = Array.isArray(data.locks) ? data.locks : [];
  renderLocks();
}

/** The build-level fields of a build record (those it has). */
function pickSummary(b) {
  const out = {};
  for (const k of ['id', 'status', 'requested', 'started_at', 'finished_at', 'duration_ms', 'pid']) {
    if (b[k] !== undefined) out[k] = b[k];
  }
  return out;
}

function storeDetail(build) {
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

/** How far along a target is: pending, running, finished. */
function progress(status) {
  return FINISHED_TARGET.has(status) ? 2 : status === 'running' ? 1 : 0;
}

/** Keeps the details of the selected build and of builds still running; drops the rest. */
function pruneDetails() {
  for (const [id, detail] of S.details) {
    if (id !== S.selectedBuild && !LIVE_BUILD.has(detail.status)) S.details.delete(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Header and stats

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

function tickUptime() {
  const st = S.status;
  if (!st || !Number.isFinite(st.uptime_ms)) return;
  setText($('uptime'), fmtDuration(st.uptime_ms + (performance.now() - S.statusAt)));
}

function renderSlotStat() {
  const total = S.slots.length || (S.status && S.status.slots) || 0;
  const busy = S.slots.filter((s) => s.busy).length;
  setText($('slots-stat'), total ? `${busy} / ${total}` : '–');
}

function setConn(state, label) {
  const conn = $('conn');
  conn.dataset.state = state === 'open' ? 'open' : 'closed';
  conn.classList.toggle('connecting', state === 'connecting');
  setText($('conn-label'), label);
}

// ---------------------------------------------------------------------------------------------
// Build form

function renderTargets() {
  const box = $('targets');
  const ticked = new Set(
    [...box.querySelectorAll('input[type=checkbox]:checked')].map((input) => input.value),
  );
  const filter = $('target-filter').value.trim().toLowerCase();
  box.replaceChildren(
    ...S.graph.order.map((name) => {
      const input = el('input', {
        type: 'checkbox',
        value: name,
        'data-testid': 'target-checkbox',
        'aria-label': name,
      });
      input.checked = ticked.has(name);
      const label = el('label', { class: 'check', title: name }, input, el('span', {}, name));
      label.hidden = filter !== '' && !name.toLowerCase().includes(filter);
      return label;
    }),
  );
  if (!S.graph.order.length) box.append(el('span', { class: 'muted small-text' }, 'No targets.'));
  updateBuildHint();
}

function checkedTargets() {
  return [...$('targets').querySelectorAll('input[type=checkbox]:checked')].map((i) => i.value);
}

function updateBuildHint() {
  const n = checkedTargets().length;
  setText(
    $('build-hint'),
    n === 0
      ? 'No target ticked builds every target.'
      : `${plural(n, 'target')} and their dependencies.`,
  );
}

async function startBuild(event) {
  event.preventDefault();
  const button = $('build-button');
  const error = $('build-error');
  show(error, false);
  button.disabled = true;
  try {
    const data = await api('/api/v1/build', {
      method: 'POST',
      body: { targets: checkedTargets(), force: $('force').checked },
    });
    if (data.build_id) {
      setFollow(true);
      if (!buildSummary(data.build_id)) {
        S.builds.unshift({
          id: data.build_id,
          status: 'queued',
          requested: checkedTargets(),
          started_at: Date.now(),
          targets: [],
        });
      }
      await selectBuild(data.build_id, { byUser: false });
    }
    schedule('builds', 50);
    schedule('status', 50);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      setText(error, err.message);
      show(error, true);
    }
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Builds list

const buildItems = new Map(); // build id -> <li>

function renderBuilds() {
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

function updateBuildItem(li, b) {
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

function upsertBuild(fields) {
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

function setFollow(on) {
  S.follow = on;
  $('follow').checked = on;
}

async function selectBuild(id, { byUser }) {
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

// ---------------------------------------------------------------------------------------------
// Dependency graph (SVG)

const NODE_W = 168;
const NODE_H = 46;
const GAP_X = 56;
const GAP_Y = 14;
const PAD = 14;

let graphKey = '';
const graphNodes = new Map(); // target -> { g, sub }
const graphEdges = []; // { path, from, to }

/** Targets drawn: the selected build's, or every target when no build is selected. */
function graphTargets() {
  const detail = S.selectedBuild ? S.details.get(S.selectedBuild) : null;
  if (detail && detail.order.length) return detail.order;
  const summary = S.selectedBuild ? buildSummary(S.selectedBuild) : null;
  const fromSummary = summary ? targetNames(summary.targets) : [];
  if (fromSummary.length) return fromSummary;
  return S.graph.order;
}

/** Columns of targets: each target one column right of its deepest dependency. */
function layout(names) {
  const set = new Set(names);
  const depsOf = (name) => (S.graph.deps[name] || []).filter((d) => set.has(d) && d !== name);
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (name) => {
    if (depth.has(name)) return depth.get(name);
    if (visiting.has(name)) return 0; // a cycle (the daemon refuses those; drawn flat here)
    visiting.add(name);
    const d = depsOf(name).reduce((max, dep) => Math.max(max, depthOf(dep) + 1), 0);
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  const columns = [];
  for (const name of names) {
    const d = depthOf(name);
    (columns[d] ||= []).push(name);
  }
  // Order each column by where its dependencies sit, so edges cross less.
  const row = new Map();
  columns.forEach((column, c) => {
    if (!column) return;
    if (c > 0) {
      const key = (name) => {
        const rows = depsOf(name).map((d) => row.get(d)).filter((r) => r !== undefined);
        return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Infinity;
      };
      const keys = new Map(column.map((name) => [name, key(name)]));
      column.sort((a, b) => keys.get(a) - keys.get(b));
    }
    column.forEach((name, r) => row.set(name, r));
  });
  const pos = new Map();
  columns.forEach((column, c) => {
    (column || []).forEach((name, r) => {
      pos.set(name, { x: PAD + c * (NODE_W + GAP_X), y: PAD + r * (NODE_H + GAP_Y) });
    });
  });
  const height = Math.max(0, ...columns.map((col) => (col ? col.length : 0)));
  return {
    pos,
    depsOf,
    width: PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X,
    height: PAD * 2 + height * NODE_H + Math.max(0, height - 1) * GAP_Y,
  };
}

function renderGraph() {
  const names = graphTargets();
  const key = JSON.stringify([names, names.map((n) => S.graph.deps[n] || [])]);
  if (key !== graphKey) drawGraph(names);
  for (const name of graphNodes.keys()) updateNode(name);
  for (const edge of graphEdges) {
    const hot = S.selectedTarget !== null && (edge.from === S.selectedTarget || edge.to === S.selectedTarget);
    edge.path.classList.toggle('hot', hot);
  }
  show($('graph-empty'), names.length === 0);
}

function drawGraph(names) {
  const svg = $('graph');
  graphKey = JSON.stringify([names, names.map((n) => S.graph.deps[n] || [])]);
  graphNodes.clear();
  graphEdges.length = 0;
  const { pos, depsOf, width, height } = layout(names);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);

  const edges = svgEl('g', { class: 'edges' });
  for (const name of names) {
    const to = pos.get(name);
    for (const dep of depsOf(name)) {
      const from = pos.get(dep);
      if (!from || !to) continue;
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      const path = svgEl('path', {
        class: 'edge',
        d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
        'data-from': dep,
        'data-to': name,
      });
      edges.append(path);
      graphEdges.push({ path, from: dep, to: name });
    }
  }

  const nodes = svgEl('g', { class: 'nodes' });
  for (const name of names) {
    const { x, y } = pos.get(name);
    const title = svgEl('title', {}, name);
    const label = svgEl('text', { x: x + 14, y: y + 19 }, truncate(name, 19));
    const sub = svgEl('text', { class: 'sub', x: x + 14, y: y + 36 });
    const g = svgEl(
      'g',
      {
        class: 'node',
        'data-testid': 'graph-node',
        'data-target': name,
        'data-status': 'none',
        tabindex: 0,
        role: 'button',
        'aria-label': name,
      },
      title,
      svgEl('rect', { class: 'box', x, y, width: NODE_W, height: NODE_H, rx: 6, ry: 6 }),
      svgEl('rect', { class: 'bar', x: x + 1, y: y + 1, width: 5, height: NODE_H - 2, rx: 2, ry: 2 }),
      label,
      sub,
    );
    g.addEventListener('click', () => selectTarget(name));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        selectTarget(name);
      }
    });
    nodes.append(g);
    graphNodes.set(name, { g, sub, title });
  }
  svg.replaceChildren(edges, nodes);
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function updateNode(name) {
  const node = graphNodes.get(name);
  if (!node) return;
  const run = S.selectedBuild ? runOf(S.selectedBuild, name) : null;
  const status = run ? run.status || 'pending' : S.selectedBuild ? 'pending' : 'none';
  node.g.dataset.status = status;
  node.g.dataset.cached = run && run.cached ? 'true' : 'false';
  node.g.classList.toggle('selected', name === S.selectedTarget);
  setText(node.sub, nodeSubtitle(run, status));
  setText(node.title, run && run.error ? `${name}\n${run.error}` : name);
}

function nodeSubtitle(run, status) {
  if (!run) return status === 'none' ? '' : status;
  const took = fmtDuration(run.duration_ms);
  switch (status) {
    case 'running':
      return `running ${run.started_at ? fmtDuration(Date.now() - run.started_at) : ''}`.trim();
    case 'succeeded':
      return `${run.cached ? 'cached' : 'built'}${took ? ` · ${took}` : ''}`;
    case 'failed':
      return [
        Number.isInteger(run.exit_code) ? `failed (exit ${run.exit_code})` : 'failed',
        took,
      ].filter(Boolean).join(' · ');
    default:
      return took && status !== 'pending' && status !== 'skipped' ? `${status} · ${took}` : status;
  }
}

function renderGraphHeader() {
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
  const failed = count((r) => r.status === 'failed');
  if (failed) parts.push(`${failed} failed`);
  const skipped = count((r) => r.status === 'skipped');
  if (skipped) parts.push(`${skipped} skipped`);
  const duration = Number.isFinite(detail.duration_ms)
    ? detail.duration_ms
    : detail.status === 'running' && detail.started_at
      ? Date.now() - detail.started_at
      : null;
  parts.push(`${detail.status}${duration !== null ? ` in ${fmtDuration(duration)}` : ''}`);
  setText($('build-summary'), parts.join(' · '));
}

function selectTarget(name) {
  if (!S.selectedBuild) {
    notice('Pick a build to see its logs (or start one).');
    return;
  }
  S.selectedTarget = name;
  S.targetPinned = true;
  renderGraph();
  openLogForSelection();
}

async function cancelBuild() {
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

// ---------------------------------------------------------------------------------------------
// Log panel
//
// A finished target's log is fetched once (GET /api/v1/logs). A live target's log comes from
// two places: the server-sent-event follow stream (which first replays what was written before
// we looked) and the WebSocket's target_log events. Both number lines (line_no), so a line
// seen twice is drawn once, in order.

const LOG = {
  build: null,
  target: null,
  mode: 'none', // none | stored | live
  seq: 0, // bumps on every (re)open, so late answers for an old selection are dropped
  source: null, // EventSource of the follow stream
  lines: new Map(), // line_no -> element
  maxNo: 0, // highest line_no seen
  queue: [], // lines waiting for the next animation frame
  frame: 0,
  count: 0,
  dropped: 0,
};

function openLogForSelection() {
  closeLogSource();
  LOG.seq += 1;
  LOG.build = S.selectedBuild;
  LOG.target = S.selectedTarget;
  LOG.lines.clear();
  LOG.queue = [];
  LOG.count = 0;
  LOG.maxNo = 0;
  LOG.dropped = 0;
  $('log').replaceChildren();
  show($('log-error'), false);
  setText($('log-state'), '');
  if (!LOG.build || !LOG.target) {
    LOG.mode = 'none';
    setText($('log-title'), '');
    return;
  }
  setText($('log-title'), `${LOG.target} · build ${shortId(LOG.build)}`);
  const run = runOf(LOG.build, LOG.target);
  const summary = buildSummary(LOG.build) || S.details.get(LOG.build);
  const status = run ? run.status : summary && !LIVE_BUILD.has(summary.status) ? 'finished' : 'pending';
  if (status === 'running') {
    followLog(); // catch up on what it printed so far, then live
  } else if (status === 'pending') {
    LOG.mode = 'live'; // every line it prints will come over the WebSocket
    setText($('log-state'), 'waiting to start');
  } else if (!hasLog(run)) {
    LOG.mode = 'stored';
    addNote(`${status}${run && run.error ? `: ${run.error}` : ''} (no output)`);
  } else {
    loadStoredLog();
  }
}

/** Whether a finished target ran (or came from the cache), so a log can exist. */
function hasLog(run) {
  if (!run) return true;
  if (run.status === 'skipped') return false;
  if (run.status === 'cancelled' || run.status === 'interrupted') return Boolean(run.started_at);
  return true;
}

/** Whether every line 1..N of the live log arrived (so the stored copy adds nothing). */
function logComplete() {
  return LOG.lines.size === LOG.maxNo && LOG.dropped === 0;
}

async function loadStoredLog() {
  closeLogSource();
  LOG.mode = 'stored';
  const seq = LOG.seq;
  const { build, target } = LOG;
  setText($('log-state'), 'loading…');
  try {
    const text = await api(
      `/api/v1/logs?build=${encodeURIComponent(build)}&target=${encodeURIComponent(target)}`,
      { text: true },
    );
    if (seq !== LOG.seq) return;
    const lines = text.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    if (LOG.lines.size || LOG.queue.length) {
      // Lines arrived live before the fetch answered: the stored copy replaces them.
      LOG.lines.clear();
      LOG.queue = [];
      LOG.count = 0;
      LOG.maxNo = 0;
      $('log').replaceChildren();
    }
    lines.forEach((line, i) => addLogLine({ line_no: i + 1, stream: 'stdout', line }));
    const run = runOf(build, target);
    setText($('log-state'), `${plural(lines.length, 'line')}${run && run.cached ? ' (from the cache)' : ''}`);
    if (!lines.length) addNote('(no output)');
  } catch (err) {
    if (seq !== LOG.seq) return;
    setText($('log-state'), '');
    if (err.status === 404) addNote('No log stored for this target.');
    else if (err.status !== 401) showLogError(err.message);
  }
}

function followLog() {
  LOG.mode = 'live';
  setText($('log-state'), 'live');
  if (typeof EventSource === 'undefined') return; // WebSocket lines only
  const seq = LOG.seq;
  const url =
    `/api/v1/logs?build=${encodeURIComponent(LOG.build)}&target=${encodeURIComponent(LOG.target)}` +
    `&follow=true${tokenQuery('&')}`;
  const source = new EventSource(url);
  LOG.source = source;
  source.addEventListener('line', (e) => {
    if (seq !== LOG.seq) return;
    try {
      addLogLine(JSON.parse(e.data));
    } catch {
      // A malformed event is skipped.
    }
  });
  source.addEventListener('end', (e) => {
    if (seq !== LOG.seq) return;
    closeLogSource();
    LOG.mode = 'stored'; // the stream carried the whole log
    let status = '';
    try {
      status = JSON.parse(e.data).status || '';
    } catch {
      // No status given.
    }
    setText($('log-state'), [status, plural(LOG.count + LOG.queue.length, 'line')].filter(Boolean).join(' · '));
  });
  source.onerror = () => {
    // EventSource would reconnect and replay; the WebSocket carries on instead, and the stored
    // log is fetched when the target ends.
    if (seq !== LOG.seq) return;
    closeLogSource();
    const run = runOf(LOG.build, LOG.target);
    if (run && FINISHED_TARGET.has(run.status)) loadStoredLog();
  };
}

function closeLogSource() {
  if (LOG.source) {
    LOG.source.close();
    LOG.source = null;
  }
}

/** One line of output, from the follow stream or the WebSocket: `{line_no, stream, line}`. */
function addLogLine(ev) {
  const no = Number.isInteger(ev.line_no) ? ev.line_no : null;
  if (no !== null) {
    if (LOG.lines.has(no)) return;
    LOG.lines.set(no, null); // reserved; the element is made in the next frame
    LOG.maxNo = Math.max(LOG.maxNo, no);
  }
  LOG.queue.push({ no, stream: ev.stream === 'stderr' ? 'stderr' : 'stdout', line: String(ev.line ?? '') });
  if (!LOG.frame) LOG.frame = requestAnimationFrame(flushLog);
}

function flushLog() {
  LOG.frame = 0;
  const box = $('log');
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 24;
  for (const { no, stream, line } of LOG.queue) {
    const div = el('div', { class: `ln ${stream}` }, line);
    if (no !== null) {
      div.dataset.no = no;
      LOG.lines.set(no, div);
      // Usually the newest line: append. A replayed older line goes before the first later one.
      let after = box.lastElementChild;
      while (after && after.dataset.no !== undefined && Number(after.dataset.no) > no) {
        after = after.previousElementSibling;
      }
      box.insertBefore(div, after ? after.nextSibling : box.firstChild);
    } else {
      box.append(div);
    }
    LOG.count += 1;
  }
  LOG.queue = [];
  while (LOG.count > MAX_LOG_LINES && box.firstElementChild) {
    const first = box.firstElementChild;
    if (first.dataset.no !== undefined) LOG.lines.delete(Number(first.dataset.no));
    first.remove();
    LOG.count -= 1;
    LOG.dropped += 1;
  }
  if (LOG.dropped) box.title = `${LOG.dropped} earlier lines not shown`;
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function addNote(text) {
  $('log').append(el('div', { class: 'ln note' }, text));
}

function showLogError(message) {
  setText($('log-error'), message);
  show($('log-error'), true);
}

// ---------------------------------------------------------------------------------------------
// Worker slots

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

// ---------------------------------------------------------------------------------------------
// Key-value store and locks

function renderKv() {
  const body = $('kv-table').tBodies[0];
  body.replaceChildren(
    ...S.kv.map((entry) => {
      const del = el('button', { type: 'button', class: 'small danger', 'data-testid': 'kv-delete', 'aria-label': `delete ${entry.key}` }, 'delete');
      del.addEventListener('click', () => deleteKey(entry.key));
      const value = el('td', { class: 'val', title: entry.value }, entry.value);
      value.addEventListener('click', () => {
        $('kv-key').value = entry.key;
        $('kv-value').value = entry.value;
      });
      return el(
        'tr',
        { 'data-testid': 'kv-row', 'data-key': entry.key },
        el('td', { class: 'mono' }, entry.key),
        value,
        el('td', { class: 'num', 'data-expires': entry.expires_at ?? null }, fmtExpiry(entry.expires_at)),
        el('td', { class: 'act' }, del),
      );
    }),
  );
  show($('kv-empty'), S.kv.length === 0);
}

async function setKey(event) {
  event.preventDefault();
  const key = $('kv-key').value;
  const ttl = $('kv-ttl').value.trim();
  const body = { value: $('kv-value').value };
  if (ttl) body.ttl_ms = Number(ttl);
  show($('kv-error'), false);
  try {
    await api(`/api/v1/state/${encodeURIComponent(key)}`, { method: 'PUT', body });
    $('kv-value').value = '';
    schedule('kv', 0);
  } catch (err) {
    if (err.status !== 401) {
      setText($('kv-error'), err.message);
      show($('kv-error'), true);
    }
  }
}

async function deleteKey(key) {
  try {
    await api(`/api/v1/state/${encodeURIComponent(key)}`, { method: 'DELETE' });
    schedule('kv', 0);
  } catch (err) {
    reportError(`deleting ${key}`, err);
  }
}

function renderLocks() {
  const body = $('locks-table').tBodies[0];
  body.replaceChildren(
    ...S.locks.map((lock) =>
      el(
        'tr',
        { 'data-testid': 'lock-row', 'data-resource': lock.resource },
        el('td', { class: 'mono' }, lock.resource),
        el('td', { class: 'num' }, lock.fence),
        el('td', { class: 'num', 'data-expires': lock.expires_at ?? null }, fmtExpiry(lock.expires_at)),
      ),
    ),
  );
  show($('locks-empty'), S.locks.length === 0);
}

// ---------------------------------------------------------------------------------------------
// Events from the WebSocket

function onEvent(ev) {
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

// ---------------------------------------------------------------------------------------------
// WebSocket connection, reconnected with backoff

const WS = { socket: null, attempt: 0, timer: 0, countdown: 0 };

function connect() {
  clearTimeout(WS.timer);
  clearInterval(WS.countdown);
  if (S.authFailed) return;
  if (WS.socket) {
    WS.socket.onclose = null;
    WS.socket.close();
  }
  setConn('connecting', 'connecting…');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/ws${tokenQuery('?')}`);
  WS.socket = socket;
  socket.onopen = () => {
    WS.attempt = 0;
    setConn('open', 'live');
    refreshAll(); // whatever happened while we were away
    if (LOG.mode === 'live') openLogForSelection();
  };
  socket.onmessage = (message) => {
    let ev;
    try {
      ev = JSON.parse(message.data);
    } catch {
      return;
    }
    if (ev && typeof ev.type === 'string') onEvent(ev);
  };
  socket.onclose = () => {
    if (WS.socket !== socket) return;
    WS.socket = null;
    reconnectLater();
  };
}

function reconnectLater() {
  if (S.authFailed) {
    setConn('closed', 'token required');
    return;
  }
  const delay = Math.min(15_000, 500 * 2 ** WS.attempt) * (0.8 + Math.random() * 0.4);
  WS.attempt = Math.min(WS.attempt + 1, 10);
  const due = Date.now() + delay;
  const label = () => setConn('closed', `offline, retrying in ${Math.ceil((due - Date.now()) / 1000)} s`);
  label();
  clearInterval(WS.countdown);
  WS.countdown = setInterval(label, 1000);
  WS.timer = setTimeout(async () => {
    clearInterval(WS.countdown);
    try {
      await refreshStatus(); // also tells a refused token (401) from a daemon that is down
    } catch (err) {
      if (S.authFailed) return;
      if (err.status === 0) return reconnectLater();
    }
    connect();
  }, delay);
}

function disconnect() {
  clearTimeout(WS.timer);
  clearInterval(WS.countdown);
  if (WS.socket) {
    WS.socket.onclose = null;
    WS.socket.close();
    WS.socket = null;
  }
  closeLogSource();
}

// ---------------------------------------------------------------------------------------------
// Token form

function needToken(message) {
  if (!S.authFailed) {
    S.authFailed = true;
    disconnect();
  }
  setConn('closed', 'token required');
  show($('main'), false);
  show($('token-panel'), true);
  setText($('token-error'), message || '');
  show($('token-error'), Boolean(message));
  $('token-input').focus();
}

function submitToken(event) {
  event.preventDefault();
  S.token = $('token-input').value.trim();
  saveToken(S.token);
  $('token-input').value = '';
  S.authFailed = false;
  show($('token-panel'), false);
  show($('main'), true);
  start();
}

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  setConn('connecting', 'connecting…');
  try {
    await refreshStatus();
  } catch (err) {
    if (S.authFailed) return;
    if (err.status === 0) {
      reconnectLater();
      return;
    }
    reportError('loading status', err);
  }
  connect();
}

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

function setAllTargets(on) {
  for (const label of $('targets').children) {
    const input = label.querySelector && label.querySelector('input');
    if (input && !label.hidden) input.checked = on;
  }
  updateBuildHint();
}

init();
