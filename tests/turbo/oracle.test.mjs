// The real turbo (2.11.11, from tests/turbo/node_modules) is the oracle for `buildnet run`.
//
// For every fixture in fixtures/ (one per package manager) the fixture is copied to a temp dir,
// committed to a fresh git repo and installed with its own package manager (the tools come from
// tests/turbo/node_modules, see setup.sh). Then:
//   - graph cases: `turbo run <args> --dry=json` vs `buildnet run <args> --dry=json`: the set of
//     real tasks (command != <NONEXISTENT>), each one's transitive dependencies restricted to real
//     tasks, and its package/task/directory/command;
//   - cache cases: both tools run for real (both must succeed, neither may leave files that git
//     sees), then a dry run of each must show every cacheable task as HIT; then an edit is applied
//     (a file, an env var value, pass-through args) and the set of real tasks with
//     cache.status == MISS must be the same for both tools;
//   - error cases: both tools must fail with the same exit code.
//
// Environment knobs:
//   BUILDNET_BIN   the buildnet executable (default /work/main/target/debug/buildnet); a missing
//                  binary fails every comparison test (nothing is skipped)
//   TURBO_ONLY=1   run only turbo's half and print what turbo found (to check fixtures and cases)
//   FIXTURES=a,b   only these fixtures
//   KEEP=1         keep the temp dirs (their path is printed)
//
// Run it with tests/turbo/run.sh (setup + `node --test --test-concurrency=1`).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NM = path.join(HERE, 'node_modules');
const TURBO_ONLY = process.env.TURBO_ONLY === '1';
const BUILDNET = process.env.BUILDNET_BIN || '/work/main/target/debug/buildnet';
const KEEP = process.env.KEEP === '1';
const ONLY_FIXTURES = process.env.FIXTURES ? process.env.FIXTURES.split(',') : null;

const T_DRY = 60_000;
const T_RUN = 120_000;
const T_INSTALL = 180_000;

// ---------------------------------------------------------------------------------------------
// fixtures

const FIXTURES = {
  npm: {
    scope: '',
    lockfile: 'package-lock.json',
    install: ['npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error']],
  },
  pnpm: {
    scope: '@acme/',
    lockfile: 'pnpm-lock.yaml',
    install: ['pnpm', ['install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent']],
  },
  yarn1: {
    scope: '',
    lockfile: 'yarn.lock',
    install: ['yarn', ['install', '--frozen-lockfile', '--prefer-offline', '--non-interactive', '--silent']],
  },
  berry: {
    scope: '@acme/',
    lockfile: 'yarn.lock',
    install: ['yarn', ['install', '--immutable']],
  },
  bun: {
    scope: '',
    lockfile: 'bun.lock',
    install: ['bun', ['install', '--frozen-lockfile']],
  },
};

// Where each manager's binary comes from (a dir per manager is put first on PATH, so that
// `yarn` is yarn 1 in one fixture and berry in another). npm is the machine's own npm.
const TOOL_LINKS = {
  npm: {},
  pnpm: { pnpm: 'pnpm/bin/pnpm.cjs' },
  yarn1: { yarn: 'yarn/bin/yarn.js' },
  berry: { yarn: '@yarnpkg/cli-dist/bin/yarn.js' },
  bun: { bun: 'bun/bin/bun.exe' },
};
const TURBO = path.join(NM, '@turbo/linux-64/bin/turbo');

// Values every child sees; the edits below change some of them.
const BASE_VARS = {
  GLOBAL_FLAG: 'global-1', // globalEnv
  BUILD_MODE: 'production', // build.env (root)
  WEB_URL: 'https://one.example', // web#build env via $TURBO_EXTENDS$
  TEST_VALUE: 'value-1', // test.env; web's test script prints it
  SECRET_TOKEN: 'secret-1', // declared nowhere: web's test prints it, `unset` unless envMode is loose
};
// what web#test printed (its script echoes both variables)
const printedEnv = (out) => (out.match(/TEST_VALUE=[^\s$"]+ SECRET_TOKEN=[^\s$"]+/) ?? ['(web#test output not found)'])[0];

// ---------------------------------------------------------------------------------------------
// cases. `n` maps a short package name to the fixture's name ('web' -> '@acme/web').

const GRAPH_CASES = [
  { name: 'build (^build through a transit package)', args: () => ['build'] },
  { name: 'test (same-package dependsOn build)', args: () => ['test'] },
  { name: 'build test lint', args: () => ['build', 'test', 'lint'] },
  { name: 'deploy (pkg#task dep + same-package test, cache:false)', args: () => ['deploy'] },
  { name: 'check (root task //#check)', args: () => ['check'] },
  { name: 'check build (root and package tasks)', args: () => ['check', 'build'] },
  { name: '--filter=<name>', args: (n) => ['build', `--filter=${n('web')}`] },
  { name: '--filter=<name>...', args: (n) => ['build', `--filter=${n('web')}...`] },
  { name: '--filter=...<name>', args: (n) => ['build', `--filter=...${n('lib')}`] },
  { name: '--filter=<name>^...', args: (n) => ['build', `--filter=${n('web')}^...`] },
  { name: '--filter=./apps/*', args: () => ['build', '--filter=./apps/*'] },
  { name: '--filter=...<name> --filter=!<name>', args: (n) => ['build', `--filter=...${n('lib')}`, `--filter=!${n('ui')}`] },
  { name: '--filter=...<name> --filter=!<leaf app>', args: (n) => ['build', `--filter=...${n('lib')}`, `--filter=!${n('web')}`] },
  { name: '--filter=<name glob>', args: (n) => ['build', `--filter=${n('w*')}`] },
  { name: '--filter=./packages/*...', args: () => ['build', '--filter=./packages/*...'] },
  { name: '--filter=!<name> alone', args: (n) => ['build', `--filter=!${n('docs')}`] },
  { name: '-F <name> test (filtered, same-package dep)', args: (n) => ['test', '-F', n('web')] },
  { name: '<pkg>#<task> as task arg', args: (n) => [`${n('web')}#build`] },
  { name: '<pkg>#<task> plus a task', args: (n) => [`${n('ui')}#build`, 'test'] },
  { name: '//#check as task arg', args: () => ['//#check'] },
  { name: 'build --only', args: (n) => ['build', '--only', `--filter=${n('web')}`] },
  { name: 'cwd apps/web: test (package scoping)', cwd: 'apps/web', args: () => ['test'] },
  { name: 'cwd packages/ui: build (package scoping)', cwd: 'packages/ui', args: () => ['build'] },
];

// Each edit returns what changes for the second dry run: files are edited in place, and it may
// return { env, args } (env values to override, args to append).
const append = (d, f, s) => fs.appendFileSync(path.join(d, f), s);
const write = (d, f, s) => {
  fs.mkdirSync(path.dirname(path.join(d, f)), { recursive: true });
  fs.writeFileSync(path.join(d, f), s);
};
const editJson = (d, f, fn) => {
  const p = path.join(d, f);
  const j = JSON.parse(fs.readFileSync(p, 'utf8'));
  fn(j);
  fs.writeFileSync(p, JSON.stringify(j, null, 2) + '\n');
};
const CACHE_ARGS = () => ['build', 'test', 'check'];
const EDITS = [
  { name: 'nothing changed', edit: () => {} },
  { name: 'leaf lib source edited', edit: (d) => append(d, 'packages/lib/src/index.js', '// edited\n') },
  { name: 'transit package (no build script) source edited', edit: (d) => append(d, 'packages/mid/src/index.js', '// edited\n') },
  { name: 'gitignored file added in lib/src', edit: (d) => write(d, 'packages/lib/src/notes.log', 'ignored\n') },
  { name: 'file excluded by ! in inputs edited (lib/README.md)', edit: (d) => append(d, 'packages/lib/README.md', 'more\n') },
  { name: 'file outside replaced inputs edited (docs/README.md)', edit: (d) => append(d, 'apps/docs/README.md', 'more\n') },
  { name: 'untracked file added (ui/src/extra.js)', edit: (d) => write(d, 'packages/ui/src/extra.js', 'export const x = 1;\n') },
  { name: 'tracked file deleted (ui/src/index.js)', edit: (d) => fs.rmSync(path.join(d, 'packages/ui/src/index.js')) },
  { name: 'file in an excluded workspace edited', edit: (d) => append(d, 'packages/excluded/src/index.js', '// edited\n') },
  { name: 'root package.json edited (description)', edit: (d) => editJson(d, 'package.json', (j) => (j.description = 'edited')) },
  { name: 'root package.json edited (a root script)', edit: (d) => editJson(d, 'package.json', (j) => (j.scripts.build = 'echo other')) },
  { name: 'root package.json edited (engines added)', edit: (d) => editJson(d, 'package.json', (j) => (j.engines = { node: '>=18' })) },
  { name: 'leaf package.json edited (description)', edit: (d) => editJson(d, 'packages/lib/package.json', (j) => (j.description = 'edited')) },
  { name: 'root README.md edited', edit: (d) => append(d, 'README.md', 'more\n') },
  { name: 'globalEnv var value changed', edit: () => ({ env: { GLOBAL_FLAG: 'global-2' } }) },
  { name: 'root task env var value changed (BUILD_MODE)', edit: () => ({ env: { BUILD_MODE: 'development' } }) },
  { name: 'test env var value changed (TEST_VALUE)', edit: () => ({ env: { TEST_VALUE: 'value-2' } }) },
  { name: '$TURBO_EXTENDS$ env var value changed (WEB_URL)', edit: () => ({ env: { WEB_URL: 'https://two.example' } }) },
  { name: 'undeclared env var set', edit: () => ({ env: { SOME_UNDECLARED_VAR: 'x' } }) },
  { name: 'pass-through args added (-- --flag)', edit: () => ({ args: ['--', '--flag'] }) },
];

const ERROR_CASES = [
  { name: 'task defined nowhere', args: () => ['nosuchtask'] },
  { name: '--filter=nonexistent', args: () => ['build', '--filter=nonexistent'] },
];

// ---------------------------------------------------------------------------------------------
// process helpers

function childEnv(binDir, overrides = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    // nothing of an outer turbo/npm/yarn run, and no CI vendor detection
    if (/^(TURBO_|npm_|YARN_|BERRY_|PNPM_|BUN_)/.test(k)) delete env[k];
  }
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.CI;
  delete env.INIT_CWD;
  Object.assign(env, {
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    TURBO_NO_UPDATE_NOTIFIER: '1',
    YARN_ENABLE_TELEMETRY: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    PATH: `${binDir}:${process.env.PATH}`,
    ...BASE_VARS,
    ...overrides,
  });
  return env;
}

function run(cmd, args, { cwd, env, timeout = T_RUN }) {
  const r = spawnSync(cmd, args, { cwd, env, timeout, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) {
    if (r.error.code === 'ETIMEDOUT') throw new Error(`timed out after ${timeout} ms: ${cmd} ${args.join(' ')} (cwd ${cwd})`);
    throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  }
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, cmd: `${cmd} ${args.join(' ')}` };
}

function must(r, what) {
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status}${r.signal ? ', ' + r.signal : ''}): ${r.cmd}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`);
  }
  return r;
}
const tail = (s, n = 3000) => (s.length > n ? '…' + s.slice(-n) : s);

function git(dir, args, env) {
  return must(run('git', args, { cwd: dir, env, timeout: 30_000 }), 'git');
}

function cpa(from, to) {
  fs.rmSync(to, { recursive: true, force: true });
  must(run('cp', ['-a', from, to], { cwd: '/', env: process.env, timeout: 60_000 }), 'cp');
}

// The two tools, called the same way.
const TOOLS = TURBO_ONLY ? { turbo: TURBO } : { turbo: TURBO, buildnet: BUILDNET };

function withDry(args) {
  const i = args.indexOf('--');
  return i < 0 ? [...args, '--dry=json'] : [...args.slice(0, i), '--dry=json', ...args.slice(i)];
}

function dry(tool, dir, args, env) {
  const r = run(TOOLS[tool], ['run', ...withDry(args)], { cwd: dir, env, timeout: T_DRY });
  must(r, `${tool} dry run`);
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`${tool}: --dry=json output is not JSON (${e.message}): ${r.cmd}\n${tail(r.stdout, 1500)}`);
  }
  assert.ok(Array.isArray(j.tasks), `${tool}: --dry=json has no tasks[] array`);
  return j;
}

// ---------------------------------------------------------------------------------------------
// what is compared

const isReal = (t) => t.command !== '<NONEXISTENT>';

// { taskId: { deps: [sorted transitive real deps], package, task, directory, command } }
function graphOf(tool, j) {
  const byId = new Map(j.tasks.map((t) => [t.taskId, t]));
  for (const t of j.tasks) {
    for (const d of t.dependencies ?? []) {
      assert.ok(byId.has(d), `${tool}: ${t.taskId} depends on ${d}, which is not in tasks[]`);
    }
  }
  const memo = new Map();
  const closure = (id, stack = new Set()) => {
    if (memo.has(id)) return memo.get(id);
    assert.ok(!stack.has(id), `${tool}: dependency cycle through ${id}`);
    stack.add(id);
    const out = new Set();
    for (const d of byId.get(id).dependencies ?? []) {
      if (isReal(byId.get(d))) out.add(d);
      for (const x of closure(d, stack)) out.add(x);
    }
    stack.delete(id);
    memo.set(id, out);
    return out;
  };
  const g = {};
  for (const t of [...j.tasks].sort((a, b) => a.taskId.localeCompare(b.taskId))) {
    if (!isReal(t)) continue;
    g[t.taskId] = { deps: [...closure(t.taskId)].sort(), package: t.package, task: t.task, directory: t.directory, command: t.command };
  }
  return g;
}

const statusSet = (j, status) =>
  j.tasks.filter((t) => isReal(t) && t.cache?.status === status).map((t) => t.taskId).sort();

function describeGraph(g) {
  return Object.entries(g).map(([id, v]) => `${id}  <- [${v.deps.join(', ')}]  (${v.directory || '.'}: ${v.command})`);
}

// ---------------------------------------------------------------------------------------------
// setup

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'buildnet-turbo-oracle-'));

function makeBinDir(pm) {
  const dir = path.join(tmpRoot, 'bin', pm);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, rel] of Object.entries(TOOL_LINKS[pm])) {
    const target = path.join(NM, rel);
    assert.ok(fs.existsSync(target), `${target} missing: run tests/turbo/setup.sh`);
    fs.symlinkSync(target, path.join(dir, name));
  }
  fs.symlinkSync(TURBO, path.join(dir, 'turbo'));
  return dir;
}

// Copies the fixture, commits it and installs it; returns the installed template dir.
function prepareTemplate(fx) {
  const spec = FIXTURES[fx];
  const binDir = makeBinDir(fx);
  const env = childEnv(binDir);
  const dir = path.join(tmpRoot, fx, 'template');
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  cpa(path.join(HERE, 'fixtures', fx), dir);
  git(dir, ['init', '-q', '-b', 'main'], env);
  git(dir, ['add', '-A'], env);
  git(dir, ['-c', 'user.email=oracle@buildnet', '-c', 'user.name=oracle', 'commit', '-qm', 'fixture'], env);
  const [cmd, args] = spec.install;
  must(run(cmd, args, { cwd: dir, env, timeout: T_INSTALL }), `${fx} install`);
  const st = git(dir, ['status', '--porcelain'], env).stdout;
  assert.equal(st, '', `${fx}: the install changed or added files git sees (commit the new lockfile?):\n${st}`);
  return { dir, binDir, env };
}

function checkBuildnet() {
  if (TURBO_ONLY) return;
  let ok = false;
  try {
    ok = fs.statSync(BUILDNET).isFile();
  } catch {}
  assert.ok(ok, `buildnet executable not found at ${BUILDNET} (set BUILDNET_BIN, or TURBO_ONLY=1 to run turbo's half only)`);
}

if (KEEP) console.log(`# temp dirs kept under ${tmpRoot}`);
after(() => {
  if (!KEEP) fs.rmSync(tmpRoot, { recursive: true, force: true });
});

test('buildnet executable exists', { skip: TURBO_ONLY ? 'TURBO_ONLY=1: only turbo runs' : false }, () => {
  checkBuildnet();
});

// ---------------------------------------------------------------------------------------------
// the tests

for (const fx of Object.keys(FIXTURES)) {
  if (ONLY_FIXTURES && !ONLY_FIXTURES.includes(fx)) continue;
  const n = (short) => FIXTURES[fx].scope + short;

  describe(`fixture ${fx}`, () => {
    let tpl;
    let seq = 0;
    before(() => {
      tpl = prepareTemplate(fx);
    });
    const freshCopy = (label) => {
      const d = path.join(tmpRoot, fx, `case-${++seq}-${label}`);
      cpa(tpl.dir, d);
      return d;
    };

    describe('graph (--dry=json)', () => {
      for (const c of GRAPH_CASES) {
        test(c.name, (t) => {
          checkBuildnet();
          const d = freshCopy('graph');
          const cwd = path.join(d, c.cwd ?? '');
          const args = c.args(n);
          const graphs = {};
          for (const tool of Object.keys(TOOLS)) graphs[tool] = graphOf(tool, dry(tool, cwd, args, tpl.env));
          t.diagnostic(`turbo run ${args.join(' ')}${c.cwd ? `  (cwd ${c.cwd})` : ''}`);
          for (const line of describeGraph(graphs.turbo)) t.diagnostic('  ' + line);
          assert.ok(Object.keys(graphs.turbo).length > 0, 'turbo found no real task: the case is useless');
          if (TURBO_ONLY) return;
          const pick = (g, k) => Object.fromEntries(Object.entries(g).map(([id, v]) => [id, v[k]]));
          assert.deepEqual(Object.keys(graphs.buildnet), Object.keys(graphs.turbo), 'set of real tasks');
          assert.deepEqual(pick(graphs.buildnet, 'deps'), pick(graphs.turbo, 'deps'), 'transitive real dependencies');
          for (const k of ['package', 'task', 'directory', 'command']) {
            assert.deepEqual(pick(graphs.buildnet, k), pick(graphs.turbo, k), `field ${k} of the real tasks`);
          }
        });
      }
    });

    describe('cache (real runs, then an edit)', () => {
      // One repo at a fixed path is run for real by both tools and snapshotted; each edit starts
      // from that snapshot restored at the same path (a tool may key its cache by absolute path).
      let work, snap;
      const args = CACHE_ARGS();
      const baselineHits = {};
      const printed = {};
      before(() => {
        checkBuildnet();
        work = path.join(tmpRoot, fx, 'cache-work');
        snap = path.join(tmpRoot, fx, 'cache-snapshot');
        cpa(tpl.dir, work);
        const distDirs = () =>
          // (the packages whose build declares outputs: a cache hit restores these too)
          ['apps/web', 'apps/docs', 'packages/lib', 'packages/ui'].map((p) => path.join(work, p, 'dist'));
        for (const tool of Object.keys(TOOLS)) {
          // each tool must write the outputs itself: remove what the previous one wrote
          for (const dd of distDirs()) fs.rmSync(dd, { recursive: true, force: true });
          const r = must(run(TOOLS[tool], ['run', ...args], { cwd: work, env: tpl.env, timeout: T_RUN }), `${tool} run ${args.join(' ')}`);
          printed[tool] = printedEnv(r.stdout + r.stderr);
          for (const dd of distDirs()) assert.ok(fs.existsSync(dd), `${tool} run did not create ${path.relative(work, dd)}`);
          const st = git(work, ['status', '--porcelain'], tpl.env).stdout;
          assert.equal(st, '', `${tool} run left files that git sees (not gitignored):\n${st}`);
        }
        fs.rmSync(snap, { recursive: true, force: true });
        cpa(work, snap);
      });

      test('real runs: web#test sees the same environment', (t) => {
        t.diagnostic(`turbo: web#test printed ${printed.turbo}`);
        assert.match(printed.turbo, /^TEST_VALUE=value-1 /, 'turbo: web#test did not print TEST_VALUE');
        if (TURBO_ONLY) return;
        // The same variables reach the command; BuildNet then writes `***` for the value of a
        // variable whose name looks secret (redact_env), where turbo prints it.
        const redacted = printed.turbo.replace(/SECRET_TOKEN=(?!unset\b)\S+/, 'SECRET_TOKEN=***');
        assert.equal(printed.buildnet, redacted, 'what web#test printed (TEST_VALUE declared in env, SECRET_TOKEN declared nowhere; secret values redacted)');
      });

      test('after real runs of both: every cacheable task HITs', (t) => {
        let tj;
        for (const tool of Object.keys(TOOLS)) {
          const j = dry(tool, work, args, tpl.env);
          if (tool === 'turbo') tj = j;
          baselineHits[tool] = { hit: statusSet(j, 'HIT'), miss: statusSet(j, 'MISS') };
        }
        const uncached = tj.tasks.filter((x) => isReal(x) && x.resolvedTaskDefinition?.cache === false).map((x) => x.taskId).sort();
        t.diagnostic(`turbo run ${args.join(' ')}: HIT [${baselineHits.turbo.hit.join(', ')}] MISS [${baselineHits.turbo.miss.join(', ')}]`);
        assert.deepEqual(baselineHits.turbo.miss, uncached, 'turbo: only cache:false tasks may MISS after a run');
        if (TURBO_ONLY) return;
        assert.deepEqual(baselineHits.buildnet.miss, baselineHits.turbo.miss, 'MISS set after real runs');
        assert.deepEqual(baselineHits.buildnet.hit, baselineHits.turbo.hit, 'HIT set after real runs');
      });

      for (const e of EDITS) {
        test(`edit: ${e.name}`, (t) => {
          cpa(snap, work);
          const change = e.edit(work) ?? {};
          const env = change.env ? { ...tpl.env, ...change.env } : tpl.env;
          const a = [...args, ...(change.args ?? [])];
          const miss = {};
          for (const tool of Object.keys(TOOLS)) miss[tool] = statusSet(dry(tool, work, a, env), 'MISS');
          t.diagnostic(`turbo MISS [${miss.turbo.join(', ')}]`);
          if (TURBO_ONLY) return;
          assert.deepEqual(miss.buildnet, miss.turbo, 'real tasks with cache.status MISS');
        });
      }
    });

    describe('errors (same exit code)', () => {
      for (const c of ERROR_CASES) {
        test(c.name, (t) => {
          checkBuildnet();
          const d = freshCopy('error');
          const args = c.args(n);
          const codes = {};
          for (const tool of Object.keys(TOOLS)) {
            const r = run(TOOLS[tool], ['run', ...args], { cwd: d, env: tpl.env, timeout: T_DRY });
            codes[tool] = r.status;
            if (tool === 'turbo') t.diagnostic(`turbo exit ${r.status}: ${(r.stderr + r.stdout).trim().split('\n').filter((l) => !/WARNING.*locally installed/.test(l)).slice(0, 4).join(' | ')}`);
          }
          assert.notEqual(codes.turbo, 0, 'turbo was expected to fail');
          if (TURBO_ONLY) return;
          assert.equal(codes.buildnet, codes.turbo, 'exit code');
        });
      }
    });
  });
}
