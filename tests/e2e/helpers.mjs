// Shared helpers of the end-to-end tests: temporary workspaces, the `buildnet serve` daemon,
// headless Chromium, polling.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The `buildnet` executable: $BUILDNET_BIN (relative to the repository root) or target/debug/buildnet. */
export function buildnetBin() {
  const bin = path.resolve(repoRoot, process.env.BUILDNET_BIN || 'target/debug/buildnet');
  if (!fs.existsSync(bin)) {
    throw new Error(`buildnet executable not found at ${bin}: build it first (cargo build) or set BUILDNET_BIN`);
  }
  return bin;
}

/** A new temporary folder holding `files` ({relative path: content}). */
export function makeWorkspace(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'buildnet-e2e-'));
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return dir;
}

export function removeDir(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** The environment without any BUILDNET_* variable of the caller, plus `extra`. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BUILDNET_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `buildnet serve --config WS/buildnet.yaml --port PORT` (any free port by default) and
 * resolves once it printed its address. The result has `base` (http://127.0.0.1:PORT), `port`,
 * `proc`, `exited`, `output()` and `stop()`.
 */
export function startDaemon(workspace, { env = {}, args = [], port = 0, timeoutMs = 20_000 } = {}) {
  const bin = buildnetBin();
  const proc = spawn(
    bin,
    ['serve', '--config', path.join(workspace, 'buildnet.yaml'), '--port', String(port), ...args],
    { cwd: workspace, env: cleanEnv({ RUST_LOG: 'warn', ...env }), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const daemon = {
    proc,
    exited,
    output: () => `stdout:\n${stdout}\nstderr:\n${stderr}`,
    /** SIGTERM, then the exit status (SIGKILL after `ms` if it did not stop). */
    async stop(ms = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`buildnet serve printed no address within ${timeoutMs} ms\n${daemon.output()}`));
    }, timeoutMs);
    proc.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m && !daemon.base) {
        clearTimeout(timer);
        daemon.port = Number(m[1]);
        daemon.base = `http://127.0.0.1:${daemon.port}`;
        resolve(daemon);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!daemon.base) reject(new Error(`buildnet serve exited (${code ?? signal}) before listening\n${daemon.output()}`));
    });
  });
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** JSON from the daemon; `{status, body}`. */
export async function request(base, pathname, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + pathname, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON: the caller looks at `text`.
  }
  return { status: res.status, headers: res.headers, body: json, text };
}

/** Polls `fn` until it returns something truthy; returns that value. */
export async function waitFor(fn, { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Headless Chromium (Debian's, or $CHROMIUM_BIN) driven by playwright-core. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}: apt-get install chromium (scripts/e2e.sh does)`);
  }
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/**
 * Records what should never happen on a page: console errors, uncaught exceptions, and requests
 * to any origin but the daemon's.
 */
export function watchPage(page, base) {
  const origin = new URL(base).origin;
  const seen = { consoleErrors: [], pageErrors: [], foreignRequests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') seen.consoleErrors.push(`${msg.text()} (${msg.location().url || '?'})`);
  });
  page.on('pageerror', (err) => seen.pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:')) return;
    let reqOrigin;
    try {
      reqOrigin = new URL(url).origin;
    } catch {
      reqOrigin = url;
    }
    if (reqOrigin !== origin) seen.foreignRequests.push(url);
  });
  page.on('websocket', (ws) => {
    const url = new URL(ws.url());
    if (url.host !== new URL(base).host) seen.foreignRequests.push(ws.url());
  });
  return seen;
}
