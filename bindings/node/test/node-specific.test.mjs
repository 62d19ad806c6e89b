// What only the Node face promises: event callbacks and unsubscribe, subscriptions that do not
// keep the process alive, blocking work off the JS thread, Workers that end with live clients,
// `require` and `import`, the `address` getter, and argument checks of the sync methods.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'

import {
  copyFixture,
  expectThrows,
  loadPackage,
  pkgImportSpecifier,
  pkgMain,
  pkgSpecifier,
  requireHere,
  scenarioDir,
  testDir,
  waitUntil,
  writeWorkspace,
} from './helpers.mjs'

const { BuildNetClient } = await loadPackage()

/** Runs node with `args`; resolves with its code, signal, output and time (never rejects). */
function runNode(args, { timeout, cwd = testDir } = {}) {
  const begun = Date.now()
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout, cwd }, (error, stdout, stderr) => {
      resolve({
        code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
        signal: error ? error.signal : null,
        timedOut: Boolean(error && error.killed),
        stdout,
        stderr,
        ms: Date.now() - begun,
      })
    })
  })
}

test('onEvent: build_started and build_finished carry the build id; unsubscribe stops them', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  const seen = []
  const control = []
  const subscription = client.onEvent((e) => seen.push(e))
  const controlSubscription = client.onEvent((e) => control.push(e))
  try {
    const first = await client.requestBuild(['app'])
    assert.equal((await client.waitBuild(first, 60_000)).status, 'succeeded')
    const finishedOf = (id) => (e) => e.type === 'build_finished' && e.build_id === id
    await waitUntil(() => seen.some(finishedOf(first)), 5000, 'build_finished of the first build')
    const started = seen.filter((e) => e.type === 'build_started')
    assert.deepEqual(started.map((e) => e.build_id), [first])
    assert.deepEqual(started[0].targets, ['lib', 'app'])
    assert.equal(seen.find(finishedOf(first)).status, 'succeeded')

    assert.equal(subscription.unsubscribe(), undefined)
    subscription.unsubscribe() // a second unsubscribe does nothing
    const countAtUnsubscribe = seen.length

    const second = await client.requestBuild(['app'])
    assert.notEqual(second, first)
    assert.equal((await client.waitBuild(second, 60_000)).status, 'succeeded')
    // The control subscription proves the second build's events were published and delivered.
    await waitUntil(() => control.some(finishedOf(second)), 5000, 'control sees the second build')
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(seen.length, countAtUnsubscribe, 'no callback after unsubscribe()')
    assert.equal(seen.filter((e) => e.build_id === second).length, 0)
  } finally {
    subscription.unsubscribe()
    controlSubscription.unsubscribe()
    await client.close()
  }
})

test(
  'onEvent: no callback runs after unsubscribe() returns, even for events already queued',
  async (t) => {
    const ws = copyFixture(t)
    const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
    let unsubscribed = false
    let late = 0
    const subscription = client.onEvent(() => {
      if (unsubscribed) late++
    })
    try {
      // The JS thread is busy here, so the events queue up for it.
      for (let i = 0; i < 500; i++) client.setState(`flood/${i}`, 'v')
      subscription.unsubscribe()
      unsubscribed = true
      await new Promise((r) => setTimeout(r, 300))
      assert.equal(late, 0, `${late} callbacks after unsubscribe()`)
    } finally {
      await client.close()
    }
  },
)

test('an exception thrown by an onEvent callback is uncaught, and the next event still comes', async (t) => {
  const ws = copyFixture(t)
  const code = `const { BuildNetClient } = require(${JSON.stringify(pkgMain)});
    const seen = [];
    process.on('uncaughtException', (e) => seen.push(e.message));
    const client = new BuildNetClient(${JSON.stringify(join(ws, 'buildnet.yaml'))});
    client.onEvent((e) => { throw new Error('thrown for ' + e.key); });
    client.setState('first', '1');
    client.setState('second', '2');
    setTimeout(async () => { await client.close(); console.log(JSON.stringify(seen)); }, 500);`
  const run = await runNode(['-e', code], { timeout: 10_000 })
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(JSON.parse(run.stdout), ['thrown for first', 'thrown for second'])
})

test('a subscription does not keep the process alive', async (t) => {
  const ws = copyFixture(t)
  const config = JSON.stringify(join(ws, 'buildnet.yaml'))
  const load = `const { BuildNetClient } = require(${JSON.stringify(pkgMain)});`
  // As users write it: subscribe, never unsubscribe nor close.
  const idle = `${load}
    const client = new BuildNetClient(${config});
    client.onEvent(() => {});
    client.setState('alive/k', 'v');
    console.log('subscribed');`
  // The same with the server started and a build in flight when the script ends.
  const busy = `${load}
    (async () => {
      const client = new BuildNetClient(${config});
      await client.start();
      client.onEvent(() => {});
      console.log('requested', await client.requestBuild(['app']));
    })();`
  for (const [name, code, printed] of [
    ['idle', idle, /^subscribed$/m],
    ['busy', busy, /^requested \S+$/m],
  ]) {
    const run = await runNode(['-e', code], { timeout: 10_000 })
    assert.equal(run.timedOut, false, `${name}: still running after 10 s`)
    assert.equal(run.signal, null, `${name}: ${run.stderr}`)
    assert.equal(run.code, 0, `${name}: ${run.stderr}`)
    assert.match(run.stdout, printed, name)
    assert.ok(run.ms < 10_000, `${name}: took ${run.ms} ms`)
  }
})

test('waitBuild runs off the JS thread: timers tick while a 1 s command runs', async (t) => {
  const config = writeWorkspace(
    t,
    'server: {port: 0}\ntargets:\n  slow: {command: "sleep 1", cache: false}\n',
  )
  const client = new BuildNetClient(config)
  let ticks = 0
  const timer = setInterval(() => ticks++, 50)
  try {
    const id = await client.requestBuild(['slow'])
    const begun = Date.now()
    ticks = 0
    const record = await client.waitBuild(id, 30_000)
    const waited = Date.now() - begun
    assert.equal(record.status, 'succeeded')
    assert.deepEqual(
      record.targets.map((r) => [r.target, r.status, r.cached]),
      [['slow', 'succeeded', false]],
    )
    assert.ok(waited >= 800, `waitBuild resolved after ${waited} ms, before sleep 1 ended`)
    assert.ok(ticks >= 5, `only ${ticks} ticks of 50 ms during a ${waited} ms wait`)
  } finally {
    clearInterval(timer)
    await client.close()
  }
})

test('Workers ended with live clients neither crash the process nor break the addon', async () => {
  const script = join(testDir, 'fixtures', 'worker-churn.mjs')
  const run = await runNode([script, pkgMain, join(scenarioDir, 'workspace')], {
    timeout: 120_000,
  })
  assert.equal(run.timedOut, false, `timed out: ${run.stderr}`)
  assert.equal(run.signal, null, `killed by a signal: ${run.stderr}`)
  assert.equal(run.code, 0, run.stderr)
  const summary = JSON.parse(run.stdout.trim().split('\n').pop())
  assert.equal(summary.workers, 20)
  assert.ok(summary.startedSeen >= 6, `only ${summary.startedSeen} workers posted 'started'`)
  assert.equal(summary.exitCodes.length, 20)
  assert.equal(summary.fresh, 'succeeded')
})

test('works with require and with import (named exports)', async () => {
  const required = requireHere(pkgSpecifier)
  const imported = await import(pkgImportSpecifier)
  for (const name of ['BuildNetClient', 'EventSubscription', 'xxhash', 'blake3Hash', 'version']) {
    assert.equal(typeof required[name], 'function', `require: ${name}`)
    assert.equal(imported[name], required[name], `import and require share ${name}`)
  }
  assert.equal(imported.default, required)
  assert.equal(required.xxhash(Buffer.from('abc')), '78af5f94892f3950')
  assert.match(required.version(), /^\d+\.\d+\.\d+/)
  assert.equal(imported.__napiBindingTarget, 'native')

  // A static `import { ... }` as users write it, in ESM, from the package's own folder layout.
  const esm = `import { BuildNetClient, xxhash, blake3Hash } from ${JSON.stringify(pkgImportSpecifier)};
    console.log(typeof BuildNetClient, xxhash(Buffer.from('abc')), blake3Hash(Buffer.from('abc')));`
  const run = await runNode(['--input-type=module', '-e', esm], {
    timeout: 30_000,
    cwd: dirname(testDir),
  })
  assert.equal(run.code, 0, run.stderr)
  assert.equal(
    run.stdout.trim(),
    'function 78af5f94892f3950 6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
  )
  const pkg = JSON.parse(readFileSync(join(dirname(pkgMain), 'package.json'), 'utf8'))
  assert.equal(pkg.name, '@buildnet/node')
  assert.equal(required.version(), pkg.version)
})

test('address: null before start, 127.0.0.1:<port> while started, null after stop', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    assert.equal(client.address, null)
    await client.start()
    const address = client.address
    const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(address)?.[1])
    assert.ok(port > 0 && port < 65536, `address ${address}`)
    assert.equal((await client.getStatus()).address, address)
    await client.stop()
    assert.equal(client.address, null)
    const status = await client.getStatus()
    assert.equal(status.running, false)
    assert.equal(status.address, null)
  } finally {
    await client.close()
  }
})

test('ttlMs must be a positive whole number: setState and acquireLock throw', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    for (const ttl of [0, -1, 1.5, Number.NaN]) {
      expectThrows(() => client.setState('ttl/k', 'v', ttl), 'BUILDNET_INVALID_ARGUMENT', [
        'ttlMs',
        `got ${ttl}`,
      ])
    }
    // Rust spells it `inf` in the message.
    expectThrows(() => client.setState('ttl/k', 'v', Infinity), 'BUILDNET_INVALID_ARGUMENT', [
      'ttlMs',
    ])
    assert.equal(client.getState('ttl/k'), null, 'a refused setState wrote nothing')
    expectThrows(() => client.acquireLock('ttl/res', 0), 'BUILDNET_INVALID_ARGUMENT', ['ttlMs'])
    const token = client.acquireLock('ttl/res', 1000)
    assert.match(token, /^[0-9a-f]{32}$/, 'a refused acquireLock took no lock')
    client.setState('ttl/k', 'v', 1)
    client.setState('ttl/k2', 'v2', undefined)
    client.setState('ttl/k3', 'v3', null)
    assert.equal(client.getState('ttl/k2'), 'v2')
    assert.equal(client.getState('ttl/k3'), 'v3')
  } finally {
    await client.close()
  }
})

test(
  'Promise<void> methods resolve with undefined, as index.d.ts declares',
  async (t) => {
    const ws = copyFixture(t)
    const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
    try {
      assert.equal(await client.start(), undefined)
      assert.equal(await client.stop(), undefined)
    } finally {
      assert.equal(await client.close(), undefined)
    }
  },
)

test('a collected client lets its running build finish (it closes once idle, off the JS thread)', async (t) => {
  const config = JSON.stringify(
    writeWorkspace(
      t,
      'server:\n  port: 0\ntargets:\n  slow:\n    command: "sleep 1"\n    cache: false\n',
    ),
  )
  // The client becomes garbage right after the build is requested; a second client reads the
  // build's record once the command had time to end.
  const script = `const { BuildNetClient } = require(${JSON.stringify(pkgMain)});
    const registry = new FinalizationRegistry(() => console.log('collected'));
    async function start() {
      const client = new BuildNetClient(${config});
      registry.register(client, 0);
      return client.requestBuild(['slow']);
    }
    (async () => {
      const id = await start();
      for (let i = 0; i < 20; i++) {
        global.gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 2000));
      const other = new BuildNetClient(${config});
      console.log(JSON.stringify({ status: (await other.getBuild(id)).status }));
    })();`
  const run = await runNode(['--expose-gc', '-e', script], { timeout: 30_000 })
  assert.equal(run.timedOut, false, 'the process hung')
  assert.equal(run.code, 0, run.stderr)
  const lines = run.stdout.trim().split('\n')
  assert.ok(lines.includes('collected'), `the client was not collected: ${run.stdout}`)
  assert.deepEqual(JSON.parse(lines.pop()), { status: 'succeeded' })
})
