// Dependency graph panel (SVG): the target graph, its layout, each node's status, and the
// warnings of the selected build's targets (a badge on the node and a list under the graph).

import { $, el, svgEl, setText, show } from './dom.js';
import { fmtBytes, fmtDuration, plural, targetNames, truncate } from './format.js';
import { api } from './api.js';
import { S, buildSummary, runOf } from './state.js';
import { renderTargets } from './buildform.js';
import { selectTarget } from './detail.js';

export async function refreshGraph() {
  const graph = await api('/api/v1/graph');
  S.graph = { order: Array.isArray(graph.order) ? graph.order : [], deps: graph.deps || {} };
  renderTargets();
  renderGraph();
}

const NODE_W = 168;
const NODE_H = 46;
const GAP_X = 56;
const GAP_Y = 14;
const PAD = 14;

let graphKey = '';
const graphNodes = new Map(); // target -> { g, sub, title, warn }
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

export function renderGraph() {
  const names = graphTargets();
  const key = JSON.stringify([names, names.map((n) => S.graph.deps[n] || [])]);
  if (key !== graphKey) drawGraph(names);
  for (const name of graphNodes.keys()) updateNode(name);
  for (const edge of graphEdges) {
    const hot = S.selectedTarget !== null && (edge.from === S.selectedTarget || edge.to === S.selectedTarget);
    edge.path.classList.toggle('hot', hot);
  }
  renderWarnings(names);
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
    const warn = svgEl('text', { x: x + NODE_W - 19, y: y + 4, 'text-anchor': 'middle' });
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
      warnBadge(x, y, warn),
    );
    g.addEventListener('click', () => selectTarget(name));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        selectTarget(name);
      }
    });
    nodes.append(g);
    graphNodes.set(name, { g, sub, title, warn });
  }
  svg.replaceChildren(edges, nodes);
}

export function updateNode(name) {
  const node = graphNodes.get(name);
  if (!node) return;
  const run = S.selectedBuild ? runOf(S.selectedBuild, name) : null;
  const status = run ? run.status || 'pending' : S.selectedBuild ? 'pending' : 'none';
  node.g.dataset.status = status;
  node.g.dataset.cached = run && run.cached ? 'true' : 'false';
  node.g.dataset.source = run && run.remote_execution
    ? (run.remote_execution.action_cache ? 'action-cache' : 'remote-exec')
    : run && run.cached ? (Number.isFinite(run.remote_bytes) ? 'remote' : 'local') : '';
  node.g.classList.toggle('selected', name === S.selectedTarget);
  setText(node.sub, nodeSubtitle(run, status));
  const warnings = runWarnings(run);
  node.g.dataset.warnings = String(warnings.length);
  node.g.classList.toggle('warned', warnings.length > 0);
  setText(node.warn, warnings.length ? `⚠ ${warnings.length}` : '');
  node.g.setAttribute('aria-label', warnings.length ? `${name} (${plural(warnings.length, 'warning')})` : name);
  setText(node.title, [name, run && run.error, ...warnings.map((w) => `⚠ ${w}`)].filter(Boolean).join('\n'));
}

/** The pill on a node's top right corner that counts its warnings (hidden while none). */
function warnBadge(x, y, text) {
  return svgEl(
    'g',
    { class: 'warn', 'data-testid': 'warning-badge', 'aria-hidden': 'true' },
    svgEl('rect', { x: x + NODE_W - 34, y: y - 7, width: 30, height: 14, rx: 7, ry: 7 }),
    text,
  );
}

/** What looked wrong in a target's run without failing it (a glob that matched no file). */
export function runWarnings(run) {
  return run && Array.isArray(run.warnings) ? run.warnings.map(String) : [];
}

let warningsKey = '';

/** The list under the graph: each warning of the selected build's targets, by target. */
function renderWarnings(names) {
  const items = S.selectedBuild
    ? names.flatMap((name) => runWarnings(runOf(S.selectedBuild, name)).map((text) => [name, text]))
    : [];
  const key = JSON.stringify(items);
  if (key === warningsKey) return;
  warningsKey = key;
  const list = $('warnings');
  list.replaceChildren(...items.map(([name, text]) => warningItem(name, text)));
  show(list, items.length > 0);
}

function warningItem(name, text) {
  return el(
    'li',
    { class: 'warning', 'data-testid': 'target-warning', 'data-target': name },
    el('span', { class: 'wicon', 'aria-hidden': 'true' }, '⚠'),
    ' ', // (spaces for the text when copied; the flex gap lays the spans out)
    el('span', { class: 'wtarget' }, name),
    ' ',
    el('span', { class: 'wtext' }, text),
  );
}

function nodeSubtitle(run, status) {
  if (!run) return status === 'none' ? '' : status;
  const took = fmtDuration(run.duration_ms);
  switch (status) {
    case 'running':
      return `running ${run.started_at ? fmtDuration(Date.now() - run.started_at) : ''}`.trim();
    case 'succeeded':
      if (run.remote_execution) {
        const where = run.remote_execution.action_cache
          ? 'action cache'
          : `remote${run.remote_execution.worker ? ` on ${run.remote_execution.worker}` : ''}`;
        return `${where}${took ? ` · ${took}` : ''}`;
      }
      if (run.cached && Number.isFinite(run.remote_bytes)) {
        return `remote · ${fmtBytes(run.remote_bytes)}${took ? ` · ${took}` : ''}`;
      }
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
