// Log panel: a target's log, stored or live.
//
// A finished target's log is fetched once (GET /api/v1/logs). A live target's log comes from
// two places: the server-sent-event follow stream (which first replays what was written before
// we looked) and the WebSocket's target_log events. Both number lines (line_no), so a line
// seen twice is drawn once, in order.

import { $, el, setText, show } from './dom.js';
import { shortId, plural } from './format.js';
import { FINISHED_TARGET, LIVE_BUILD } from './status.js';
import { api, tokenQuery } from './api.js';
import { S, buildSummary, runOf } from './state.js';

const MAX_LOG_LINES = 5000;

export const LOG = {
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

export function openLogForSelection() {
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
export function hasLog(run) {
  if (!run) return true;
  if (run.status === 'skipped') return false;
  if (run.status === 'cancelled' || run.status === 'interrupted') return Boolean(run.started_at);
  return true;
}

/** Whether every line 1..N of the live log arrived (so the stored copy adds nothing). */
export function logComplete() {
  return LOG.lines.size === LOG.maxNo && LOG.dropped === 0;
}

export async function loadStoredLog() {
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

export function closeLogSource() {
  if (LOG.source) {
    LOG.source.close();
    LOG.source = null;
  }
}

/** One line of output, from the follow stream or the WebSocket: `{line_no, stream, line}`. */
export function addLogLine(ev) {
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

export function addNote(text) {
  $('log').append(el('div', { class: 'ln note' }, text));
}

function showLogError(message) {
  setText($('log-error'), message);
  show($('log-error'), true);
}
