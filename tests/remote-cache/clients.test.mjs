// The real remote-cache clients against `buildnet serve`: turbo 2.11.11 (tests/turbo), nx 24.0.6
// (this folder's node_modules) and Debian's Bazel (bazel-bootstrap). Each writes to a fresh
// BuildNet server from one clone and must then restore everything in a fresh clone without
// running a single command, outputs byte-identical. Tokens, read-only clients and turbo's
// artifact signatures are checked the same way, by what the real clients do.
//
//   BUILDNET_BIN   the buildnet executable (default target/debug/buildnet)
//   ONLY=turbo,buildnet,nx,bazel   narrows the clients
//   KEEP=1         keep the temp dirs
//
// Run with tests/remote-cache/run.sh.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const BUILDNET = process.env.BUILDNET_BIN || path.join(ROOT, 'target/debug/buildnet');
const TURBO = path.join(ROOT, 'tests/turbo/node_modules/.bin/turbo');
const NX_MODULES = path.join(HERE, 'node_modules');
const ONLY = process.env.ONLY ? process.env.ONLY.split(',') : null;
const skip = (name) => (ONLY && !ONLY.includes(name) ? `ONLY=${ONLY}` : false);
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'buildnet-remote-cache-'));

after(() => {
  if (process.env.KEEP === '1') console.log(`kept ${WORK}`);
  else fs.rmSync(WORK, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(TURBO_|NX_|npm_|BUILDNET_)/.test(k)) delete env[k];
  }
  delete env.CI;
  return {
    ...env,
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    TURBO_NO_UPDATE_NOTIFIER: '1',
    NX_NO_CLOUD: 'true',
    NX_DAEMON: 'false',
    NX_TUI: 'false',
    NX_SKIP_NX_CACHE: 'false',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    ...extra,
  };
}

function run(cmd, args, { cwd, env, timeout = 180_000 }) {
  const r = spawnSync(cmd, args, { cwd, env, timeout, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

function must(r, what) {
  assert.equal(r.status, 0, `${what} failed:\n${r.out.slice(-4000)}`);
  return r;
}

/// Starts `buildnet serve --port 0` on its own folder with `config`; resolves to
/// { url, stop(), metric(name, protocol) }.
async function serve(name, config, env = {}) {
  const dir = path.join(WORK, `server-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'buildnet.yaml'), config);
  const child = spawn(BUILDNET, ['serve', '--port', '0'], {
    cwd: dir,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('buildnet serve did not start in 30 s')), 30_000);
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', (l) => { clearTimeout(timer); resolve(l); });
    child.once('exit', (code) => reject(new Error(`buildnet serve exited (${code})`)));
  });
  const url = line.match(/http:\/\/[0-9.:]+/)[0];
  const admin = /token: (\S+)/.exec(config)?.[1];
  return {
    url,
    async metric(metric, protocol) {
      const headers = admin ? { authorization: `Bearer ${admin}` } : {};
      const text = await (await fetch(`${url}/metrics`, { headers })).text();
      const m = text.match(new RegExp(`^${metric}\\{protocol="${protocol}"\\} (\\S+)$`, 'm'));
      assert.ok(m, `no ${metric} for ${protocol} in /metrics`);
      return Number(m[1]);
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}

/// An npm workspace of `n` packages (p1 depends on p0) under git, each build writing dist/ and
/// appending its name to $RUNLOG, so a restore that runs nothing leaves RUNLOG empty.
function workspace(dir, { n = 4, turboJson, nxJson } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const write = (p, s) => { fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true }); fs.writeFileSync(path.join(dir, p), s); };
  write('package.json', JSON.stringify({ name: 'ws', private: true, packageManager: 'npm@11.19.1', workspaces: ['packages/*'] }, null, 2));
  write('.gitignore', 'node_modules\n.turbo\ndist\n.nx\n');
  if (turboJson) write('turbo.json', JSON.stringify(turboJson, null, 2));
  if (nxJson) write('nx.json', JSON.stringify(nxJson, null, 2));
  for (let i = 0; i < n; i++) {
    const deps = i === 1 ? { p0: '*' } : {};
    write(`packages/p${i}/package.json`, JSON.stringify({ name: `p${i}`, version: '1.0.0', scripts: { build: 'node build.js' }, dependencies: deps }, null, 2));
    write(`packages/p${i}/src/index.js`, `export const v${i} = ${i};\n`);
    write(`packages/p${i}/build.js`, [
      "const fs = require('fs');",
      "fs.mkdirSync('dist/nested', { recursive: true });",
      `fs.writeFileSync('dist/index.js', '// built p${i}\\n' + fs.readFileSync('src/index.js', 'utf8'));`,
      `fs.writeFileSync('dist/nested/big.bin', Buffer.alloc(${100_000 + i}, ${i + 1}));`,
      "fs.chmodSync('dist/index.js', 0o755);",
      `if (process.env.RUNLOG) fs.appendFileSync(process.env.RUNLOG, 'p${i}\\n');`,
      `console.log('built p${i}');`,
    ].join('\n'));
  }
  const env = cleanEnv();
  must(run('git', ['init', '-q', '-b', 'main'], { cwd: dir, env }), 'git init');
  must(run('git', ['add', '-A'], { cwd: dir, env }), 'git add');
  must(run('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'init'], { cwd: dir, env }), 'git commit');
}

function clone(from, name) {
  const to = path.join(WORK, name);
  must(run('git', ['clone', '-q', from, to], { cwd: WORK, env: cleanEnv() }), 'git clone');
  return to;
}

/// Every file under the packages' dist/ folders: relative path → [mode, contents].
function outputs(dir) {
  const found = {};
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else found[path.relative(dir, p)] = [fs.statSync(p).mode & 0o777, fs.readFileSync(p).toString('base64')];
    }
  };
  for (const pkg of fs.readdirSync(path.join(dir, 'packages'))) {
    const dist = path.join(dir, 'packages', pkg, 'dist');
    if (fs.existsSync(dist)) walk(dist);
  }
  return found;
}

const runlog = (dir) => path.join(dir, '..', `${path.basename(dir)}.runlog`);
const ran = (dir) => (fs.existsSync(runlog(dir)) ? fs.readFileSync(runlog(dir), 'utf8').split('\n').filter(Boolean).sort() : []);

// ---------------------------------------------------------------------------------------------
// turbo

describe('turbo 2.11.11 against buildnet serve', { skip: skip('turbo') }, () => {
  const TURBO_JSON = { $schema: 'https://turborepo.com/schema.json', globalPassThroughEnv: ['RUNLOG'], tasks: { build: { dependsOn: ['^build'], outputs: ['dist/**'] } } };
  let server;
  const origin = path.join(WORK, 'turbo-origin');
  const turbo = (dir, env) => run(TURBO, ['run', 'build'], { cwd: dir, env: cleanEnv({ RUNLOG: runlog(dir), ...env }) });

  before(async () => {
    workspace(origin, { turboJson: TURBO_JSON });
    server = await serve('turbo', [
      'targets: {}',
      'server:',
      '  token: admin-secret',
      '  cache_tokens:',
      '    - {token: ci-write, access: read-write}',
      '    - {token: pr-read, access: read}',
      '',
    ].join('\n'));
  });
  after(() => server?.stop());

  test('a fresh clone restores every task from the cache: FULL TURBO, nothing runs, outputs identical', async () => {
    const env = { TURBO_API: server.url, TURBO_TOKEN: 'ci-write', TURBO_TEAM: 'team_x' };
    const a = clone(origin, 'turbo-a');
    const first = must(turbo(a, env), 'turbo run in clone a');
    assert.deepEqual(ran(a), ['p0', 'p1', 'p2', 'p3'], first.out);
    assert.equal(await server.metric('buildnet_remote_cache_refusals_total', 'turbo'), 0);
    assert.ok(await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo') > 0);

    const b = clone(origin, 'turbo-b');
    const second = must(turbo(b, env), 'turbo run in clone b');
    assert.match(second.out, /FULL TURBO/, second.out);
    assert.match(second.out, /4 cached, 4 total/, second.out);
    assert.deepEqual(ran(b), [], 'a command ran in the fresh clone');
    assert.deepEqual(outputs(b), outputs(a));
    assert.ok(fs.existsSync(path.join(b, 'packages/p0/.turbo/turbo-build.log')));
    assert.equal(await server.metric('buildnet_remote_cache_hits_total', 'turbo'), 4);
  });

  test('a read-only token restores but its uploads are refused; turbo still succeeds', async () => {
    const c = clone(origin, 'turbo-c');
    fs.appendFileSync(path.join(c, 'packages/p2/src/index.js'), 'export const edited = 1;\n');
    const before = await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo');
    const refusedBefore = await server.metric('buildnet_remote_cache_refusals_total', 'turbo');
    const r = must(turbo(c, { TURBO_API: server.url, TURBO_TOKEN: 'pr-read', TURBO_TEAM: 'team_x' }), 'turbo run with a read-only token');
    assert.deepEqual(ran(c), ['p2'], r.out);
    assert.match(r.out, /3 cached, 4 total/, r.out);
    assert.equal(await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo'), before, 'a read-only client stored something');
    assert.ok(await server.metric('buildnet_remote_cache_refusals_total', 'turbo') > refusedBefore);
  });

  test('a wrong token is refused and turbo runs everything locally without failing', async () => {
    const d = clone(origin, 'turbo-d');
    const r = must(turbo(d, { TURBO_API: server.url, TURBO_TOKEN: 'wrong', TURBO_TEAM: 'team_x' }), 'turbo run with a wrong token');
    assert.deepEqual(ran(d), ['p0', 'p1', 'p2', 'p3'], r.out);
  });

  test('another team sees none of team_x\'s artifacts', async () => {
    const e = clone(origin, 'turbo-e');
    const r = must(turbo(e, { TURBO_API: server.url, TURBO_TOKEN: 'ci-write', TURBO_TEAM: 'team_y' }), 'turbo run as team_y');
    assert.deepEqual(ran(e), ['p0', 'p1', 'p2', 'p3'], r.out);
  });
});

describe('turbo 2.11.11 signed artifacts (remoteCache.signature) against a server holding the key', { skip: skip('turbo') }, () => {
  const KEY = 'k'.repeat(40);
  const TURBO_JSON = { globalPassThroughEnv: ['RUNLOG'], tasks: { build: { dependsOn: ['^build'], outputs: ['dist/**'] } }, remoteCache: { signature: true } };
  let server;
  const origin = path.join(WORK, 'signed-origin');
  const turbo = (dir, env) => run(TURBO, ['run', 'build'], { cwd: dir, env: cleanEnv({ RUNLOG: runlog(dir), TURBO_API: server.url, TURBO_TOKEN: 't', TURBO_TEAMID: 'team_signed', ...env }) });

  before(async () => {
    workspace(origin, { turboJson: TURBO_JSON, n: 2 });
    server = await serve('signed', 'targets: {}\n', { BUILDNET_CACHE_SIGNATURE_KEY: KEY });
  });
  after(() => server?.stop());

  test('artifacts signed with the wrong key are refused; the right key round-trips', async () => {
    const w = clone(origin, 'signed-wrong');
    must(turbo(w, { TURBO_REMOTE_CACHE_SIGNATURE_KEY: 'w'.repeat(40) }), 'turbo run with the wrong key');
    assert.equal(await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo'), 0, 'a wrongly signed artifact was stored');
    assert.equal(await server.metric('buildnet_remote_cache_refusals_total', 'turbo'), 2);

    const a = clone(origin, 'signed-a');
    must(turbo(a, { TURBO_REMOTE_CACHE_SIGNATURE_KEY: KEY }), 'turbo run with the key');
    assert.deepEqual(ran(a), ['p0', 'p1']);
    const b = clone(origin, 'signed-b');
    const r = must(turbo(b, { TURBO_REMOTE_CACHE_SIGNATURE_KEY: KEY }), 'turbo run in a fresh clone with the key');
    assert.match(r.out, /FULL TURBO/, r.out);
    assert.deepEqual(ran(b), []);
    assert.deepEqual(outputs(b), outputs(a));
  });
});

// ---------------------------------------------------------------------------------------------
// buildnet run as the client: of ducktors' turborepo-remote-cache (a server nobody here wrote)
// and of buildnet serve

/// Starts ducktors' turborepo-remote-cache on a free port with local storage.
async function ducktors(name, token) {
  const port = await freePort();
  const store = path.join(WORK, `${name}-store`);
  const child = spawn(process.execPath, [path.join(HERE, 'node_modules/turborepo-remote-cache/dist/cli.js')], {
    env: cleanEnv({ HOST: '127.0.0.1', PORT: String(port), STORAGE_PROVIDER: 'local', STORAGE_PATH: store, STORAGE_PATH_USE_TMP_FOLDER: 'false', TURBO_TOKEN: token, LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${url}/v8/artifacts/status`);
      if (r.ok) return { url, store, stop: () => child.kill('SIGTERM') };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('turborepo-remote-cache did not start in 10 s');
}

async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

describe('buildnet run as a remote-cache client', { skip: skip('buildnet') }, () => {
  const TURBO_JSON = { globalPassThroughEnv: ['RUNLOG'], tasks: { build: { dependsOn: ['^build'], outputs: ['dist/**'] } } };
  const origin = path.join(WORK, 'client-origin');
  const bn = (dir, env, args = []) => run(BUILDNET, ['run', 'build', ...args], { cwd: dir, env: cleanEnv({ RUNLOG: runlog(dir), ...env }) });
  before(() => workspace(origin, { turboJson: TURBO_JSON }));

  test('of ducktors\' server: a fresh clone restores every task and runs nothing', async () => {
    const server = await ducktors('ducktors', 'tok_secret');
    try {
      const env = { TURBO_API: server.url, TURBO_TOKEN: 'tok_secret', TURBO_TEAM: 'team_x' };
      const a = clone(origin, 'bn-ducktors-a');
      must(bn(a, env), 'buildnet run in clone a');
      assert.deepEqual(ran(a), ['p0', 'p1', 'p2', 'p3']);
      assert.equal(fs.readdirSync(path.join(server.store, 'team_x')).length, 4, 'ducktors stored fewer than 4 artifacts');
      const b = clone(origin, 'bn-ducktors-b');
      const dry = must(bn(b, env, ['--dry=json']), 'buildnet run --dry=json');
      const tasks = JSON.parse(dry.out.slice(dry.out.indexOf('{'), dry.out.lastIndexOf('}') + 1)).tasks;
      assert.deepEqual(tasks.map((t) => t.cache.source), ['REMOTE', 'REMOTE', 'REMOTE', 'REMOTE']);
      const r = must(bn(b, env), 'buildnet run in clone b');
      assert.match(r.out, /FULL TURBO/, r.out);
      assert.deepEqual(ran(b), []);
      assert.deepEqual(outputs(b), outputs(a));
      // A wrong token: ducktors refuses, the run still succeeds, running everything.
      const c = clone(origin, 'bn-ducktors-c');
      const wrong = must(bn(c, { ...env, TURBO_TOKEN: 'nope' }), 'buildnet run with a wrong token');
      assert.deepEqual(ran(c), ['p0', 'p1', 'p2', 'p3']);
      assert.match(wrong.out, /WARNING/, wrong.out);
    } finally {
      server.stop();
    }
  });

  test('of buildnet serve, with a read-only token for the second clone', async () => {
    const server = await serve('client', ['targets: {}', 'server:', '  token: admin-secret', '  cache_tokens:', '    - {token: w, access: read-write}', '    - {token: r, access: read}', ''].join('\n'));
    try {
      const a = clone(origin, 'bn-serve-a');
      must(bn(a, { TURBO_API: server.url, TURBO_TOKEN: 'w' }), 'buildnet run in clone a');
      const stored = await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo');
      assert.ok(stored > 0);
      const b = clone(origin, 'bn-serve-b');
      const r = must(bn(b, { TURBO_API: server.url, TURBO_TOKEN: 'r' }), 'buildnet run in clone b');
      assert.match(r.out, /FULL TURBO/, r.out);
      assert.deepEqual(ran(b), []);
      assert.deepEqual(outputs(b), outputs(a));
      assert.equal(await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo'), stored);
    } finally {
      server.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Where turbo finds its remote cache, beyond TURBO_*: its flags (--api --token --team), an
// OPTIONS preflight (--preflight) whose Location sends the request elsewhere, the repository's
// .turbo/config.json and the user's login file. The real turbo does each first, against the
// same server, and buildnet run must then do what it did.

/// A front that answers only turbo's preflight: OPTIONS gets a Location on `target` and the
/// headers turbo looks for; an artifact request is a 502, so a client that skipped the
/// preflight (or ignored its Location) gets no artifact through it. turbo's once-a-run status
/// call, which has no preflight, is answered. It is its own process (the test's runs block
/// this one) and logs each request as a line of JSON; `seen()` counts them.
async function preflightFront(target) {
  const port = await freePort();
  const log = path.join(WORK, `front-${port}.log`);
  const script = `
    const http = require('node:http'), fs = require('node:fs');
    http.createServer((req, res) => {
      fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ method: req.method, url: req.url, auth: !!req.headers.authorization }) + '\\n');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { location: ${JSON.stringify(target)} + req.url, 'access-control-allow-headers': 'Authorization, Content-Type, User-Agent, x-artifact-duration, x-artifact-tag' });
      } else if (req.url.startsWith('/v8/artifacts/status')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"status":"enabled"}');
      } else {
        res.writeHead(502);
      }
      res.end();
    }).listen(${port}, '127.0.0.1');`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/v8/artifacts/status`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  const seen = () => {
    const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    const artifacts = lines.filter((l) => l.url.startsWith('/v8/artifacts/') && !l.url.startsWith('/v8/artifacts/status') && !l.url.startsWith('/v8/artifacts/events'));
    const options = artifacts.filter((l) => l.method === 'OPTIONS');
    return { options: options.length, authorized: options.filter((l) => l.auth).length, other: artifacts.length - options.length };
  };
  return { url, seen, stop: () => child.kill('SIGTERM') };
}

describe('turbo\'s own remote-cache sources, turbo first, then buildnet run', { skip: skip('turbo') || skip('buildnet') }, () => {
  const TURBO_JSON = { globalPassThroughEnv: ['RUNLOG'], tasks: { build: { dependsOn: ['^build'], outputs: ['dist/**'] } } };
  const origin = path.join(WORK, 'sources-origin');
  let server;
  const tool = (bin, dir, args, env = {}) => run(bin, ['run', 'build', ...args], { cwd: dir, env: cleanEnv({ RUNLOG: runlog(dir), ...env }) });
  before(async () => {
    workspace(origin, { turboJson: TURBO_JSON });
    server = await serve('sources', ['targets: {}', 'server:', '  token: admin-secret', '  cache_tokens:', '    - {token: w, access: read-write}', ''].join('\n'));
  });
  after(() => server?.stop());

  test('--preflight --api --token --team: the request goes where the preflight says, with the token', async () => {
    const front = await preflightFront(server.url);
    try {
      const flags = ['--preflight', '--api', front.url, '--token', 'w', '--team', 'flags'];
      for (const [name, bin] of [['turbo', TURBO], ['buildnet', BUILDNET]]) {
        const before = await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo');
        const options = front.seen().options;
        const a = clone(origin, `preflight-${name}-a`);
        must(tool(bin, a, flags), `${name} run in clone a`);
        assert.deepEqual(ran(a), ['p0', 'p1', 'p2', 'p3']);
        assert.ok(front.seen().options > options, `${name} sent no preflight`);
        assert.ok(await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo') > before, `${name} stored nothing through the preflight's Location`);
        const b = clone(origin, `preflight-${name}-b`);
        const r = must(tool(bin, b, flags), `${name} run in clone b`);
        assert.match(r.out, /FULL TURBO/, r.out);
        assert.deepEqual(ran(b), [], `${name} ran a command in the fresh clone`);
        assert.deepEqual(outputs(b), outputs(a));
      }
      // Neither client sent a request anywhere but the Location, and both sent the token on the
      // preflight itself, as turbo does.
      assert.equal(front.seen().other, 0);
      assert.equal(front.seen().authorized, front.seen().options);
      // buildnet serve answers the preflight itself: turbo straight at it still sends its
      // token (without `Authorization` in the answer's allowed headers it would not).
      const d = clone(origin, 'preflight-turbo-direct');
      const direct = must(tool(TURBO, d, ['--preflight', '--api', server.url, '--token', 'w', '--team', 'flags']), 'turbo --preflight against buildnet serve');
      assert.match(direct.out, /FULL TURBO/, direct.out);
      assert.deepEqual(ran(d), []);
      // Without --preflight the front's 502s are misses: buildnet runs everything, and succeeds.
      const c = clone(origin, 'preflight-buildnet-c');
      must(tool(BUILDNET, c, ['--api', front.url, '--token', 'w', '--team', 'flags']), 'buildnet run without --preflight');
      assert.deepEqual(ran(c), ['p0', 'p1', 'p2', 'p3']);
      assert.ok(front.seen().other > 0);
    } finally {
      front.stop();
    }
  });

  test('.turbo/config.json (as turbo link writes it) and the user\'s login file, no TURBO_* at all', async () => {
    const home = path.join(WORK, 'sources-home');
    fs.mkdirSync(path.join(home, '.config/turborepo'), { recursive: true });
    fs.writeFileSync(path.join(home, '.config/turborepo/config.json'), JSON.stringify({ token: 'w' }));
    const env = { HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') };
    const link = (dir) => {
      fs.mkdirSync(path.join(dir, '.turbo'), { recursive: true });
      fs.writeFileSync(path.join(dir, '.turbo/config.json'), JSON.stringify({ apiurl: server.url, teamslug: 'linked' }));
    };
    for (const [name, bin] of [['turbo', TURBO], ['buildnet', BUILDNET]]) {
      const before = await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo');
      const a = clone(origin, `linked-${name}-a`);
      link(a);
      must(tool(bin, a, [], env), `${name} run in a linked clone`);
      assert.deepEqual(ran(a), ['p0', 'p1', 'p2', 'p3']);
      assert.ok(await server.metric('buildnet_remote_cache_bytes_in_total', 'turbo') > before, `${name} did not use .turbo/config.json and the login`);
      const b = clone(origin, `linked-${name}-b`);
      link(b);
      const r = must(tool(bin, b, [], env), `${name} run in a second linked clone`);
      assert.match(r.out, /FULL TURBO/, r.out);
      assert.deepEqual(ran(b), []);
      // An unlinked clone with the same login has no team, so no remote cache (turbo's rule).
      const c = clone(origin, `linked-${name}-c`);
      must(tool(bin, c, [], env), `${name} run in an unlinked clone`);
      assert.deepEqual(ran(c), ['p0', 'p1', 'p2', 'p3']);
    }
    // A malformed .turbo/config.json is an error that names it (turbo errors too).
    const d = clone(origin, 'linked-bad');
    fs.mkdirSync(path.join(d, '.turbo'));
    fs.writeFileSync(path.join(d, '.turbo/config.json'), '{"apiurl": ');
    const bad = tool(BUILDNET, d, [], env);
    assert.notEqual(bad.status, 0);
    assert.match(bad.out, /\.turbo\/config\.json/, bad.out);
    assert.deepEqual(ran(d), []);
  });
});

// ---------------------------------------------------------------------------------------------
// nx

describe('nx 24.0.6 self-hosted remote cache against buildnet serve', { skip: skip('nx') }, () => {
  const NX_JSON = { targetDefaults: { build: { cache: true, dependsOn: ['^build'], outputs: ['{projectRoot}/dist'] } } };
  let server;
  const origin = path.join(WORK, 'nx-origin');
  const nx = (dir, token) => run(path.join(dir, 'node_modules/.bin/nx'), ['run-many', '-t', 'build'], {
    cwd: dir,
    env: cleanEnv({
      RUNLOG: runlog(dir),
      NX_CACHE_DIRECTORY: path.join(dir, '.nx/cache'),
      NX_WORKSPACE_DATA_DIRECTORY: path.join(dir, '.nx/workspace-data'),
      NX_SELF_HOSTED_REMOTE_CACHE_SERVER: server.url,
      NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token,
    }),
  });
  const withModules = (dir) => { fs.symlinkSync(NX_MODULES, path.join(dir, 'node_modules')); return dir; };

  before(async () => {
    workspace(origin, { nxJson: NX_JSON });
    server = await serve('nx', [
      'targets: {}',
      'server:',
      '  token: admin-secret',
      '  cache_tokens:',
      '    - {token: nx-write, access: read-write}',
      '    - {token: nx-read, access: read}',
      '',
    ].join('\n'));
  });
  after(() => server?.stop());

  test('a fresh clone gets every task from the remote cache, outputs identical', async () => {
    const a = withModules(clone(origin, 'nx-a'));
    const first = must(nx(a, 'nx-write'), 'nx run-many in clone a');
    assert.deepEqual(ran(a), ['p0', 'p1', 'p2', 'p3'], first.out);
    assert.equal(await server.metric('buildnet_remote_cache_refusals_total', 'nx'), 0);

    const b = withModules(clone(origin, 'nx-b'));
    const second = must(nx(b, 'nx-read'), 'nx run-many in clone b');
    assert.deepEqual(ran(b), [], second.out);
    assert.equal((second.out.match(/\[remote cache\]/g) || []).length, 4, second.out);
    assert.deepEqual(outputs(b), outputs(a));
  });

  test('a read-only token never fails the run: its uploads get 403 and nx goes on', async () => {
    const c = withModules(clone(origin, 'nx-c'));
    fs.appendFileSync(path.join(c, 'packages/p3/src/index.js'), 'export const edited = 1;\n');
    const before = await server.metric('buildnet_remote_cache_bytes_in_total', 'nx');
    const r = must(nx(c, 'nx-read'), 'nx run-many with a read-only token');
    assert.deepEqual(ran(c), ['p3'], r.out);
    assert.equal(await server.metric('buildnet_remote_cache_bytes_in_total', 'nx'), before);
    assert.ok(await server.metric('buildnet_remote_cache_refusals_total', 'nx') >= 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Bazel

describe('Bazel (bazel-bootstrap) HTTP remote cache against buildnet serve', { skip: skip('bazel') }, () => {
  let server;
  const ws = path.join(WORK, 'bazel-ws');
  const root = path.join(WORK, 'bazel-root');
  const bazel = (args) => run('bazel', [`--output_user_root=${root}`, '--max_idle_secs=60', '--batch', ...args], {
    cwd: ws,
    env: cleanEnv({ HOME: path.join(WORK, 'bazel-home') }),
    timeout: 300_000,
  });

  before(async () => {
    fs.mkdirSync(ws, { recursive: true });
    fs.mkdirSync(path.join(WORK, 'bazel-home'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'WORKSPACE'), '');
    fs.writeFileSync(path.join(ws, 'in.txt'), `hello from bazel ${process.pid}\n`);
    fs.writeFileSync(path.join(ws, 'BUILD'), 'genrule(name = "hello", srcs = ["in.txt"], outs = ["hello.txt"], cmd = "tr a-z A-Z < $< > $@")\n');
    server = await serve('bazel', ['targets: {}', 'server:', '  token: admin-secret', '  cache_tokens:', '    - {token: bazel-rw, access: read-write}', ''].join('\n'));
  });
  after(() => server?.stop());

  test('an action built once is a remote cache hit after bazel clean', async () => {
    const flags = [`--remote_cache=${server.url}`, '--remote_header=Authorization=Bearer bazel-rw', '--spawn_strategy=local'];
    const first = must(bazel(['build', '//:hello', ...flags]), 'bazel build');
    assert.doesNotMatch(first.out, /remote cache hit/, first.out);
    assert.ok(await server.metric('buildnet_remote_cache_bytes_in_total', 'bazel-cas') > 0, first.out);
    assert.ok(await server.metric('buildnet_remote_cache_bytes_in_total', 'bazel-ac') > 0, first.out);
    const built = fs.readFileSync(path.join(ws, 'bazel-bin/hello.txt'), 'utf8');
    must(bazel(['clean']), 'bazel clean');
    const second = must(bazel(['build', '//:hello', ...flags]), 'bazel build after clean');
    assert.match(second.out, /1 remote cache hit/, second.out);
    assert.equal(fs.readFileSync(path.join(ws, 'bazel-bin/hello.txt'), 'utf8'), built);
    assert.equal(built, `HELLO FROM BAZEL ${process.pid}\n`);
  });

  test('a wrong token fails the upload, not the build', async () => {
    fs.writeFileSync(path.join(ws, 'in.txt'), `changed ${process.pid}\n`);
    const refusals = await server.metric('buildnet_remote_cache_refusals_total', 'bazel-ac');
    const r = bazel(['build', '//:hello', `--remote_cache=${server.url}`, '--remote_header=Authorization=Bearer wrong', '--spawn_strategy=local']);
    assert.equal(r.status, 0, r.out);
    assert.ok(await server.metric('buildnet_remote_cache_refusals_total', 'bazel-ac') > refusals, r.out);
    bazel(['shutdown']);
  });
});
