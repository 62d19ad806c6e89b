// The WebSocket connection: starting, connecting, reconnecting with backoff, disconnecting.

import { tokenQuery } from './api.js';
import { S } from './state.js';
import { reportError } from './notice.js';
import { refreshAll } from './refresh.js';
import { refreshStatus, setConn } from './header.js';
import { LOG, openLogForSelection, closeLogSource } from './log.js';
import { onEvent } from './events.js';

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

export function disconnect() {
  clearTimeout(WS.timer);
  clearInterval(WS.countdown);
  if (WS.socket) {
    WS.socket.onclose = null;
    WS.socket.close();
    WS.socket = null;
  }
  closeLogSource();
}

export async function start() {
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
