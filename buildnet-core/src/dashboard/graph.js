// Dependency graph panel (SVG): the target graph, its layout, and each node's status.

import { $, svgEl, setText, show } from './dom.js';
import { fmtDuration, targetNames, truncate } from './format.js';
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

export function renderGraph() {
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

export function updateNode(name) {
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
