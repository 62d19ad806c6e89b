// The web dashboard in headless Chromium against a real `buildnet serve`.
//
//   BUILDNET_BIN=target/debug/buildnet node --test tests/e2e/

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, makeWorkspace, removeDir, request, startDaemon, waitFor, watchPage } from './helpers.mjs';

/** What the page's Content-Security-Policy must say (it may say more, e.g. frame-ancestors). */
const CSP = {
  'default-src': "'self'",
  'connect-src': "'self'",
  'img-src': "'self' data:",
  'style-src': "'self'",
  'script-src': "'self'",
};

function parseCsp(header) {
  const directives = {};
  for (const part of (header || '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives[name.toLowerCase()] = values.join(' ');
  }
  return directives;
}

const CONFIG = `
concurrency: 2
targets:
  lib:
    cwd: packages/lib
    command: 'echo building lib; mkdir -p dist; echo lib > dist/out.txt'
    outputs: ["dist/**"]
  app:
    cwd: packages/app
    deps: [lib]
    command: 'echo hello from app; sleep 0.3; mkdir -p dist; echo app > dist/out.txt'
    outputs: ["dist/**"]
  slow:
    command: 'for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.4; done'
    cache: false
`;

const FILES = {
  'buildnet.yaml': CONFIG,
  'packages/lib/src/index.js': 'export const lib = 1;\n',
  'packages/app/src/index.js': 'export const app = 2;\n',
};

const sel = {
  conn: (state) => `[data-testid="conn"][data-state="${state}"]`,
  checkbox: (name) => `[data-testid="target-checkbox"][value="${name}"]`,
  node: (name, status) => `[data-testid="graph-node"][data-target="${name}"]${status ? `[data-status="${status}"]` : ''}`,
};

/** Waits until the log panel's text contains `text`; returns the whole text. */
async function waitForLog(page, text) {
  await page.waitForFunction(
    (t) => (document.querySelector('[data-testid="log"]')?.textContent || '').includes(t),
    text,
    { timeout: 15_000 },
  );
  return page.textContent('[data-testid="log"]');
}

describe('dashboard', () => {
  let workspace;
  let daemon;
  let browser;
  let page;
  let seen;
  let firstBuild;

  before(async () => {
    workspace = makeWorkspace(FILES);
    daemon = await startDaemon(workspace);
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    seen = watchPage(page, daemon.base);
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await daemon?.stop();
      removeDir(workspace);
    }
  });

  test('serves the page and its assets with a strict CSP', async () => {
    const index = await fetch(`${daemon.base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /^text\/html/);
    const csp = parseCsp(index.headers.get('content-security-policy'));
    for (const [directive, value] of Object.entries(CSP)) assert.equal(csp[directive], value, directive);
    const html = await index.text();
    assert.match(html, /<script type="module" src="\/assets\/app\.js"><\/script>/);
    for (const [asset, type] of [['/assets/app.js', /javascript/], ['/assets/style.css', /^text\/css/]]) {
      const res = await fetch(daemon.base + asset);
      assert.equal(res.status, 200, asset);
      assert.match(res.headers.get('content-type'), type, asset);
      assert.ok((await res.text()).length > 1000, `${asset} has content`);
    }
  });

  test('connects and lists the targets', async () => {
    await page.goto(`${daemon.base}/`);
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    await page.waitForSelector(sel.checkbox('app'));
    const names = await page.$$eval('[data-testid="target-checkbox"]', (els) => els.map((e) => e.value));
    assert.deepEqual(names.sort(), ['app', 'lib', 'slow']);
    const health = await request(daemon.base, '/health');
    assert.equal(await page.textContent('[data-testid="version"]'), `v${health.body.version}`);
    // Nothing built yet: no hit rate to show.
    assert.equal((await page.textContent('[data-testid="hit-rate"]')).trim(), '–');
  });

  test('shows the worker slots', async () => {
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="slots"] [data-testid="slot"]').length === 2);
    assert.equal(await page.textContent('[data-testid="slots-stat"]'), '0 / 2');
  });

  test('starts a build of the ticked target and shows it live', async () => {
    await page.check(sel.checkbox('app'));
    await page.click('[data-testid="build-button"]');
    const item = await page.waitForSelector('[data-testid="build-item"][data-status="succeeded"]', { timeout: 30_000 });
    firstBuild = await item.getAttribute('data-build-id');
    assert.ok(firstBuild);

    // The daemon agrees with the page.
    const { status, body } = await request(daemon.base, `/api/v1/builds/${firstBuild}`);
    assert.equal(status, 200);
    assert.equal(body.build.status, 'succeeded');
    assert.deepEqual(body.build.requested, ['app']);
    const runs = Object.fromEntries(body.build.targets.map((t) => [t.target, t]));
    assert.deepEqual(Object.keys(runs).sort(), ['app', 'lib']);
    assert.equal(runs.app.status, 'succeeded');
    assert.equal(runs.app.cached, false);
    assert.equal(fs.readFileSync(path.join(workspace, 'packages/app/dist/out.txt'), 'utf8'), 'app\n');
    assert.equal(fs.readFileSync(path.join(workspace, 'packages/lib/dist/out.txt'), 'utf8'), 'lib\n');

    // The graph of the build: both boxes built, with their durations.
    await page.waitForSelector(sel.node('lib', 'succeeded'));
    await page.waitForSelector(sel.node('app', 'succeeded'));
    const appText = await page.textContent(sel.node('app'));
    assert.match(appText, /built · \d/);
    const appMs = runs.app.duration_ms;
    assert.ok(appMs >= 300, `app ran for its sleep (${appMs} ms)`);
    // An edge from lib to app.
    assert.equal(await page.locator('path.edge[data-from="lib"][data-to="app"]').count(), 1);
  });

  test('shows the log of the selected target', async () => {
    await page.click(sel.node('app'));
    await page.waitForSelector(`${sel.node('app')}.selected`);
    const log = await waitForLog(page, 'hello from app');
    assert.ok(!log.includes('building lib'), 'only the selected target log');
    await page.click(sel.node('lib'));
    const libLog = await waitForLog(page, 'building lib');
    assert.ok(!libLog.includes('hello from app'));
  });

  test('a second build comes from the cache and the hit rate shows it', async () => {
    await page.click(sel.node('app')); // the log follows app into the next build
    await page.click('[data-testid="build-button"]');
    const second = await page.waitForSelector(
      `[data-testid="build-item"][data-status="succeeded"]:not([data-build-id="${firstBuild}"])`,
      { timeout: 30_000 },
    );
    const secondId = await second.getAttribute('data-build-id');
    // The newest build is selected and its boxes are cache hits.
    await page.waitForSelector(`[data-testid="build-item"][data-build-id="${secondId}"].selected`);
    await page.waitForFunction(
      (id) => document.getElementById('log-title').textContent.includes(id.slice(0, 8)),
      secondId,
    );
    await page.waitForSelector(`${sel.node('app', 'succeeded')}[data-cached="true"]`);
    await page.waitForSelector(`${sel.node('lib', 'succeeded')}[data-cached="true"]`);
    assert.match(await page.textContent(sel.node('app')), /cached/);
    const { body } = await request(daemon.base, '/api/v1/status');
    assert.ok(body.cache.hits >= 2, `cache hits ${body.cache.hits}`);
    const shown = await page.waitForFunction(
      (expected) => {
        const text = document.querySelector('[data-testid="hit-rate"]').textContent.trim();
        return text === expected ? text : null;
      },
      `${Math.round(body.cache.hit_rate * 100)}%`,
    );
    assert.notEqual(await shown.jsonValue(), '0%');
    // A cache hit's log is the one stored with the artifact.
    await waitForLog(page, 'hello from app');
  });

  test('streams the log of a running target, from its first line', async () => {
    await page.uncheck(sel.checkbox('app'));
    await page.check(sel.checkbox('slow'));
    await page.click('[data-testid="build-button"]');
    await page.waitForSelector(sel.node('slow', 'running'), { timeout: 15_000 });
    await new Promise((r) => setTimeout(r, 1000)); // it printed a few lines before anyone looked
    await page.click(sel.node('slow'));
    await waitForLog(page, 'tick 3');
    assert.equal(await page.getAttribute(sel.node('slow'), 'data-status'), 'running', 'the log arrived while it ran');
    await waitForLog(page, 'tick 8');
    await page.waitForSelector(sel.node('slow', 'succeeded'), { timeout: 15_000 });
    // Every line once, in order: what came before the click and what came after.
    const lines = await page.$$eval('[data-testid="log"] .ln', (els) => els.map((e) => e.textContent));
    assert.deepEqual(lines, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `tick ${i}`));
    await page.uncheck(sel.checkbox('slow'));
  });

  test('browses the key-value store live', async () => {
    // Written elsewhere: appears through the event stream.
    const put = await request(daemon.base, '/api/v1/state/e2e%2Fone', { method: 'PUT', body: { value: 'first value' } });
    assert.equal(put.status, 200);
    const row = await page.waitForSelector('[data-testid="kv-table"] tr[data-key="e2e/one"]');
    assert.match(await row.textContent(), /first value/);

    // Written from the page: reaches the daemon.
    await page.fill('[data-testid="kv-key"]', 'e2e/two');
    await page.fill('[data-testid="kv-value"]', '<b>not markup</b>');
    await page.click('[data-testid="kv-set"]');
    await page.waitForSelector('[data-testid="kv-table"] tr[data-key="e2e/two"]');
    const got = await request(daemon.base, '/api/v1/state/e2e%2Ftwo');
    assert.equal(got.body.value, '<b>not markup</b>');
    // Shown as text, never parsed as HTML.
    assert.equal(await page.locator('[data-testid="kv-table"] b').count(), 0);

    // The prefix filter.
    await page.fill('[data-testid="kv-prefix"]', 'e2e/tw');
    await page.waitForFunction(() => !document.querySelector('[data-testid="kv-table"] tr[data-key="e2e/one"]'));
    assert.equal(await page.locator('[data-testid="kv-table"] tr[data-key="e2e/two"]').count(), 1);
    await page.fill('[data-testid="kv-prefix"]', '');

    // Deleted from the page.
    await page.click('[data-testid="kv-table"] tr[data-key="e2e/two"] [data-testid="kv-delete"]');
    await page.waitForSelector('[data-testid="kv-table"] tr[data-key="e2e/two"]', { state: 'detached' });
    assert.equal((await request(daemon.base, '/api/v1/state/e2e%2Ftwo')).status, 404);
  });

  test('shows locks as they are taken and released', async () => {
    const lock = await request(daemon.base, '/api/v1/locks/deploy', { method: 'POST', body: { ttl_ms: 60_000 } });
    assert.equal(lock.status, 200);
    const row = await page.waitForSelector('[data-testid="locks-table"] tr[data-resource="deploy"]');
    assert.match(await row.textContent(), new RegExp(`deploy${lock.body.fence}`));
    const released = await request(daemon.base, '/api/v1/locks/deploy', { method: 'DELETE', body: { token: lock.body.token } });
    assert.equal(released.status, 200);
    await page.waitForSelector('[data-testid="locks-table"] tr[data-resource="deploy"]', { state: 'detached' });
  });

  test('made no console errors and no request off the daemon', () => {
    assert.deepEqual(seen.pageErrors, []);
    assert.deepEqual(seen.consoleErrors, []);
    assert.deepEqual(seen.foreignRequests, []);
  });

  test('the daemon stops cleanly on SIGTERM and the page reconnects to the next one', async () => {
    const { port } = daemon;
    const { code, signal } = await daemon.stop();
    assert.equal(signal, null, daemon.output());
    assert.equal(code, 0, daemon.output());
    await page.waitForSelector(sel.conn('closed'), { timeout: 10_000 });

    // The same workspace on the same port: the page finds it again by itself and refetches.
    daemon = await startDaemon(workspace, { port });
    await page.waitForSelector(sel.conn('open'), { timeout: 30_000 });
    await page.waitForSelector(`[data-testid="build-item"][data-build-id="${firstBuild}"][data-status="succeeded"]`);
    assert.equal(await page.locator('[data-testid="build-item"]').count(), 3);
    assert.deepEqual(seen.pageErrors, []);

    await browser.close();
    browser = null;
    const second = await daemon.stop();
    assert.deepEqual(second, { code: 0, signal: null }, daemon.output());
  });
});

describe('dashboard with a token', () => {
  let workspace;
  let daemon;
  let browser;

  before(async () => {
    workspace = makeWorkspace(FILES);
    daemon = await startDaemon(workspace, { env: { BUILDNET_TOKEN: 'secret' } });
    browser = await launchBrowser();
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await daemon?.stop();
      removeDir(workspace);
    }
  });

  test('the API needs the token, the page and /health do not', async () => {
    assert.equal((await request(daemon.base, '/api/v1/status')).status, 401);
    assert.equal((await request(daemon.base, '/api/v1/status', { token: 'wrong' })).status, 401);
    assert.equal((await request(daemon.base, '/api/v1/status', { token: 'secret' })).status, 200);
    assert.equal((await request(daemon.base, '/health')).status, 200);
    assert.equal((await request(daemon.base, '/')).status, 200);
    assert.equal((await request(daemon.base, '/assets/app.js')).status, 200);
  });

  test('without a token the page asks for one, and takes it', async () => {
    const page = await (await browser.newContext()).newPage();
    const seen = watchPage(page, daemon.base);
    await page.goto(`${daemon.base}/`);
    await page.waitForSelector('[data-testid="token-form"]', { state: 'visible' });
    assert.equal(await page.getAttribute('[data-testid="conn"]', 'data-state'), 'closed');
    assert.equal(await page.locator('[data-testid="target-checkbox"]').count(), 0);

    await page.fill('[data-testid="token-input"]', 'wrong');
    await page.click('[data-testid="token-submit"]');
    await page.waitForSelector('#token-error', { state: 'visible' });
    await page.waitForSelector('[data-testid="token-form"]', { state: 'visible' });

    await page.fill('[data-testid="token-input"]', 'secret');
    await page.click('[data-testid="token-submit"]');
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    await page.waitForSelector('[data-testid="token-form"]', { state: 'hidden' });
    await page.waitForSelector(sel.checkbox('lib'));
    assert.deepEqual(seen.pageErrors, []);
    assert.deepEqual(seen.foreignRequests, []);
  });

  test('a token in the URL fragment opens the page and leaves the URL', async () => {
    const page = await (await browser.newContext()).newPage();
    const seen = watchPage(page, daemon.base);
    await page.goto(`${daemon.base}/#token=secret`);
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    await page.waitForSelector(sel.checkbox('app'));
    assert.equal(await page.isVisible('[data-testid="token-form"]'), false);
    assert.ok(!page.url().includes('secret'), `token left in ${page.url()}`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('buildnet.token')), 'secret');
    // A reload keeps working from sessionStorage.
    await page.reload();
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    assert.deepEqual(seen.pageErrors, []);
    assert.deepEqual(seen.consoleErrors, []);
    assert.deepEqual(seen.foreignRequests, []);
  });

  test('the daemon stops cleanly on SIGTERM', async () => {
    await browser.close();
    browser = null;
    const { code, signal } = await daemon.stop();
    assert.equal(signal, null, daemon.output());
    assert.equal(code, 0, daemon.output());
  });
});

describe('dashboard with target warnings', () => {
  // `globless` succeeds but its input glob matches nothing: the run records a warning.
  const config = `
targets:
  clean:
    command: 'echo clean'
    inputs: ["src/**"]
  globless:
    deps: [clean]
    command: 'echo fine'
    inputs: ["nope/**"]
`;
  const WARNING = 'input glob "nope/**" matched no file';
  let workspace;
  let daemon;
  let browser;
  let page;
  let seen;
  let buildId;

  before(async () => {
    workspace = makeWorkspace({ 'buildnet.yaml': config, 'src/a.txt': 'a\n' });
    daemon = await startDaemon(workspace);
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    seen = watchPage(page, daemon.base);
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      await daemon?.stop();
      removeDir(workspace);
    }
  });

  /** Opens the build's detail from the builds list and checks the warning is shown on `globless` only. */
  async function assertWarningShown(id) {
    await page.click(`[data-testid="build-item"][data-build-id="${id}"]`);
    await page.waitForSelector(`[data-testid="build-item"][data-build-id="${id}"].selected`);
    await page.waitForSelector(sel.node('globless', 'succeeded'), { timeout: 15_000 });
    await page.waitForSelector(sel.node('clean', 'succeeded'));
    // The list under the graph: the message, for that target.
    const item = page.locator('[data-testid="target-warning"][data-target="globless"]', { hasText: WARNING });
    await item.waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal(await page.locator('[data-testid="target-warning"]').count(), 1);
    // The node: a visible badge counting it, and the message in its tooltip.
    const badge = `${sel.node('globless')}[data-warnings="1"] [data-testid="warning-badge"]`;
    await page.waitForSelector(badge, { state: 'visible' });
    assert.equal((await page.textContent(badge)).trim(), '⚠ 1');
    assert.ok((await page.textContent(`${sel.node('globless')} title`)).includes(WARNING));
    // No warning on the target whose glob matched.
    assert.equal(await page.getAttribute(sel.node('clean'), 'data-warnings'), '0');
    assert.equal(await page.isVisible(`${sel.node('clean')} [data-testid="warning-badge"]`), false);
  }

  test('a build started over HTTP shows its target warning live', async () => {
    await page.goto(`${daemon.base}/`);
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    const started = await request(daemon.base, '/api/v1/build', { method: 'POST', body: { targets: ['globless'] } });
    assert.equal(started.status, 202, started.text);
    buildId = started.body.build_id;
    assert.ok(buildId);
    await assertWarningShown(buildId);

    // The daemon's record says the same.
    const { body } = await request(daemon.base, `/api/v1/builds/${buildId}`);
    const runs = Object.fromEntries(body.build.targets.map((t) => [t.target, t]));
    assert.equal(runs.globless.status, 'succeeded');
    assert.ok(runs.globless.warnings.some((w) => w.includes(WARNING)), JSON.stringify(runs.globless.warnings));
    assert.deepEqual(runs.clean.warnings, []);
  });

  test('the warning is shown from the stored record after a reload', async () => {
    await page.reload();
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    await page.waitForSelector(`[data-testid="build-item"][data-build-id="${buildId}"][data-status="succeeded"]`);
    await assertWarningShown(buildId);
  });

  test('made no console errors', () => {
    assert.deepEqual(seen.pageErrors, []);
    assert.deepEqual(seen.consoleErrors, []);
    assert.deepEqual(seen.foreignRequests, []);
  });
});

describe('dashboard with remote-cache hits', () => {
  // `cache` serves the remote cache; `first` builds and uploads; `second`, a fresh copy of the
  // same workspace, gets both targets from the remote cache, and its page says so.
  const targets = `
targets:
  lib:
    cwd: packages/lib
    command: 'echo building lib; mkdir -p dist; head -c 5000 /dev/zero > dist/lib.bin'
    outputs: ["dist/**"]
  app:
    cwd: packages/app
    deps: [lib]
    command: 'echo hello from app; mkdir -p dist; echo app > dist/out.txt'
    outputs: ["dist/**"]
`;
  const files = (url) => ({
    'buildnet.yaml': `${targets}remote_cache:\n  url: ${url}\n  team: team_e2e\n`,
    'packages/lib/src/index.js': 'export const lib = 1;\n',
    'packages/app/src/index.js': 'export const app = 2;\n',
  });
  const dirs = [];
  const daemons = [];
  let browser;
  let page;
  let seen;
  let second;
  let buildId;

  before(async () => {
    const cacheDir = makeWorkspace({ 'buildnet.yaml': 'targets: {}\n' });
    dirs.push(cacheDir);
    const cache = await startDaemon(cacheDir);
    daemons.push(cache);
    for (let i = 0; i < 2; i++) {
      const dir = makeWorkspace(files(cache.base));
      dirs.push(dir);
      daemons.push(await startDaemon(dir));
    }
    second = daemons[2];
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    seen = watchPage(page, second.base);
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      for (const d of daemons) await d?.stop();
      for (const d of dirs) removeDir(d);
    }
  });

  async function build(daemon) {
    const started = await request(daemon.base, '/api/v1/build', { method: 'POST', body: { targets: ['app'] } });
    assert.equal(started.status, 202, started.text);
    const id = started.body.build_id;
    return waitFor(async () => {
      const { body } = await request(daemon.base, `/api/v1/builds/${id}`);
      return body.build.status === 'succeeded' ? body.build : null;
    }, { timeoutMs: 30_000, what: `build ${id} to succeed` });
  }

  test('a fresh workspace\'s build shows its hits as remote, with the bytes they took', async () => {
    const first = await build(daemons[1]);
    assert.ok(first.targets.every((t) => !t.cached), JSON.stringify(first.targets));
    await page.goto(`${second.base}/`);
    await page.waitForSelector(sel.conn('open'), { timeout: 15_000 });
    const record = await build(second);
    buildId = record.id;
    const runs = Object.fromEntries(record.targets.map((t) => [t.target, t]));
    assert.equal(runs.lib.cached, true);
    assert.ok(runs.lib.remote_bytes > 0, JSON.stringify(runs.lib));
    await page.click(`[data-testid="build-item"][data-build-id="${buildId}"]`);
    await page.waitForSelector(`${sel.node('lib', 'succeeded')}[data-source="remote"]`, { timeout: 15_000 });
    await page.waitForSelector(`${sel.node('app', 'succeeded')}[data-source="remote"]`);
    assert.match(await page.textContent(sel.node('lib')), /remote · \d/);
    await page.waitForFunction(() => /2 from the remote cache \(\d/.test(document.getElementById('build-summary').textContent));
  });

  test('made no console errors', () => {
    assert.deepEqual(seen.pageErrors, []);
    assert.deepEqual(seen.consoleErrors, []);
    assert.deepEqual(seen.foreignRequests, []);
  });
});
