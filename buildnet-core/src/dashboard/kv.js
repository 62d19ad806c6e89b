// Key-value store panel: listing by prefix, setting and deleting keys.

import { $, el, setText, show } from './dom.js';
import { fmtExpiry } from './format.js';
import { api } from './api.js';
import { S } from './state.js';
import { reportError } from './notice.js';
import { schedule } from './refresh.js';

export async function refreshKv() {
  const prefix = $('kv-prefix').value;
  const data = await api(`/api/v1/state?prefix=${encodeURIComponent(prefix)}&limit=500`);
  if ($('kv-prefix').value !== prefix) return; // the filter changed meanwhile; a refetch follows
  S.kv = Array.isArray(data.entries) ? data.entries : [];
  renderKv();
}

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

export async function setKey(event) {
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
