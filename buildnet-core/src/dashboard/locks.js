// Locks panel: the locks held, with fences and expiries.

import { $, el, show } from './dom.js';
import { fmtExpiry } from './format.js';
import { api } from './api.js';
import { S } from './state.js';

export async function refreshLocks() {
  const data = await api('/api/v1/locks');
  S.locks = Array.isArray(data.locks) ? data.locks : [];
  renderLocks();
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
