// The API token: kept in sessionStorage or taken from the URL fragment; the form asking for it.

import { $, setText, show } from './dom.js';
import { S } from './state.js';
import { setConn } from './header.js';
import { disconnect, start } from './socket.js';

const TOKEN_KEY = 'buildnet.token';

export function readToken() {
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

export function needToken(message) {
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

export function submitToken(event) {
  event.preventDefault();
  S.token = $('token-input').value.trim();
  saveToken(S.token);
  $('token-input').value = '';
  S.authFailed = false;
  show($('token-panel'), false);
  show($('main'), true);
  start();
}
