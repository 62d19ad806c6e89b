// REST API client: fetch with the token, errors as ApiError, the token as a query string.

import { needToken } from './token.js';
import { S } from './state.js';

export class ApiError extends Error {
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
export async function api(path, { method = 'GET', body, text = false } = {}) {
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
export function tokenQuery(prefix) {
  return S.token ? `${prefix}access_token=${encodeURIComponent(S.token)}` : '';
}
