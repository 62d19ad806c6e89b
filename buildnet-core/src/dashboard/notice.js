// The notice bar: short messages and error reports.

import { $, setText, show } from './dom.js';
import { ApiError } from './api.js';

let noticeTimer = 0;

export function notice(message, { bad = false, ms = 6000 } = {}) {
  const node = $('notice');
  setText(node, message);
  node.classList.toggle('bad', bad);
  show(node, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(node, false), ms);
}

export function reportError(what, err) {
  if (err instanceof ApiError && err.status === 401) return; // the token form says it
  notice(`${what}: ${err.message}`, { bad: true });
}
