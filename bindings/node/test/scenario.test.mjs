// The cross-runtime scenario (tests/scenario/README.md) in Node: the same steps and values as
// tests/c/scenario.c and the other faces. Each test copies the fixture workspace to a fresh
// temporary folder. Promise methods are awaited; state and lock methods are synchronous.
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import {
  copyFixture,
  expectBuildNetError,
  expectThrows,
  loadPackage,
  vectorsFile,
  waitUntil,
} from './helpers.mjs'

const { BuildNetClient, blake3Hash, xxhash } = await loadPackage()

const APP_TXT = 'alpha\nbeta\nmain\n'

/** Builds `app`, checks the record as the scenario states it; the build id. */
async function buildApp(client, ws, cached) {
  const id = await client.requestBuild(['app'])
  assert.equal(typeof id, 'string')
  assert.ok(id.length > 0, 'empty build id')
  const record = await client.waitBuild(id, 60_000)
  assert.equal(record.id, id)
  assert.equal(record.status, 'succeeded', JSON.stringify(record))
  assert.deepEqual(record.requested, ['app'])
  assert.deepEqual(
    record.targets.map((t) => [t.target, t.status, t.cached]),
    [
      ['lib', 'succeeded', cached],
      ['app', 'succeeded', cached],
    ],
  )
  assert.equal(readFileSync(join(ws, 'out', 'app.txt'), 'utf8'), APP_TXT)
  const again = await client.getBuild(id)
  assert.equal(again.status, 'succeeded')
  return id
}

test('1. create and start: running, bound to 127.0.0.1 on a real port', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    await client.start()
    const first = client.address
    await client.start() // a second start is a no-op: same address
    assert.equal(client.address, first)
    const status = await client.getStatus()
    assert.equal(status.running, true)
    const port = Number(/^127\.0\.0\.1:(\d+)$/.exec(status.address)?.[1])
    assert.ok(port > 0 && port < 65536, `address ${status.address}`)
    assert.equal(client.address, status.address)
    assert.equal(status.pid, process.pid, 'the daemon runs in this process')
    assert.equal(status.config_file, join(ws, 'buildnet.yaml'))
  } finally {
    await client.close()
  }
})

test('2. cold build: lib then app, nothing cached, out/app.txt written', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    await client.start()
    await buildApp(client, ws, false)
  } finally {
    await client.close()
  }
})

test('3. cached build: both targets from the cache, out/ restored', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    await client.start()
    await buildApp(client, ws, false)
    rmSync(join(ws, 'out'), { recursive: true })
    assert.equal(existsSync(join(ws, 'out', 'app.txt')), false)
    await buildApp(client, ws, true)
  } finally {
    await client.close()
  }
})

test('4. events: build_started, target_finished (lib, app), build_finished', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  const events = []
  const subscription = client.onEvent((e) => events.push(e))
  try {
    await client.start()
    const id = await buildApp(client, ws, false)
    const finished = (e) => e.type === 'build_finished' && e.build_id === id
    // Events reach JS through a queue: the record may be ready before the last one arrives.
    await waitUntil(() => events.some(finished), 5000, 'build_finished')
    for (const e of events) {
      assert.equal(typeof e.type, 'string', JSON.stringify(e))
      assert.ok(Number.isInteger(e.seq) && e.seq > 0, JSON.stringify(e))
      assert.ok(Number.isInteger(e.at_ms) && e.at_ms > 0, JSON.stringify(e))
    }
    const seqs = events.map((e) => e.seq)
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'events arrive in order')
    const ofBuild = events.filter((e) => e.build_id === id)
    const types = ofBuild.map((e) => e.type)
    assert.equal(types.filter((x) => x === 'build_started').length, 1, types.join(' '))
    assert.equal(types.filter((x) => x === 'build_finished').length, 1, types.join(' '))
    assert.ok(types.indexOf('build_started') < types.indexOf('build_finished'))
    const targetsFinished = ofBuild.filter((e) => e.type === 'target_finished')
    assert.deepEqual(
      targetsFinished.map((e) => [e.target, e.status, e.cached]),
      [
        ['lib', 'succeeded', false],
        ['app', 'succeeded', false],
      ],
    )
    assert.equal(ofBuild.find(finished).status, 'succeeded')
  } finally {
    subscription.unsubscribe()
    await client.close()
  }
})

test('5. state: get, set, 10,000-char value, TTL expiry, delete', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    assert.equal(client.getState('scenario/missing'), null)
    client.setState('scenario/k', 'v1')
    assert.equal(client.getState('scenario/k'), 'v1')
    const big = 'x'.repeat(10_000)
    client.setState('scenario/big', big)
    const back = client.getState('scenario/big')
    assert.equal(back.length, 10_000)
    assert.equal(back, big)
    client.setState('scenario/ttl', 'soon', 150)
    assert.equal(client.getState('scenario/ttl'), 'soon')
    await new Promise((r) => setTimeout(r, 400))
    assert.equal(client.getState('scenario/ttl'), null)
    assert.equal(client.deleteState('scenario/k'), true)
    assert.equal(client.deleteState('scenario/k'), false)
    assert.equal(client.getState('scenario/k'), null)
  } finally {
    await client.close()
  }
})

test('6. locks: contention, wrong token, release, acquire again', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    const token = client.acquireLock('scenario/res', 5000)
    assert.match(token, /^[0-9a-f]{32}$/)
    assert.equal(client.acquireLock('scenario/res', 5000), null, 'a held lock is not granted')
    assert.equal(client.releaseLock('scenario/res', '0123456789abcdef0123456789abcdef'), false)
    assert.equal(client.releaseLock('scenario/res', token), true)
    const other = client.acquireLock('scenario/res', 5000)
    assert.match(other, /^[0-9a-f]{32}$/)
    assert.notEqual(other, token)
    assert.equal(client.releaseLock('scenario/res', other), true)
  } finally {
    await client.close()
  }
})

test('7. hashes: xxhash and blake3Hash equal tests/vectors/hashes.json', () => {
  const { vectors } = JSON.parse(readFileSync(vectorsFile, 'utf8'))
  assert.ok(vectors.length >= 5, `only ${vectors.length} vectors`)
  for (const v of vectors) {
    let data
    if ('utf8' in v) {
      data = Buffer.from(v.utf8, 'utf8')
    } else {
      assert.equal(v.generate.pattern, 'byte i = i % 251')
      data = Buffer.alloc(v.generate.length)
      for (let i = 0; i < data.length; i++) data[i] = i % 251
    }
    assert.equal(xxhash(data), v.xxh3_64, `xxhash(${v.name})`)
    assert.equal(blake3Hash(data), v.blake3, `blake3Hash(${v.name})`)
    assert.match(xxhash(data), /^[0-9a-f]{16}$/)
    assert.match(blake3Hash(data), /^[0-9a-f]{64}$/)
    // Any Uint8Array, not only a Buffer.
    assert.equal(blake3Hash(new Uint8Array(data)), v.blake3, `blake3Hash(Uint8Array ${v.name})`)
    assert.equal(xxhash(new Uint8Array(data)), v.xxh3_64, `xxhash(Uint8Array ${v.name})`)
  }
})

test('8. errors: stable codes, messages naming the input', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    await expectBuildNetError(() => client.requestBuild(['nope']), 'BUILDNET_NOT_FOUND', ['"nope"'])
    await expectBuildNetError(() => client.waitBuild('no-such-build', 100), 'BUILDNET_NOT_FOUND', [
      'no-such-build',
    ])
    expectThrows(() => client.setState('', 'v'), 'BUILDNET_INVALID_ARGUMENT', ['key'])
    expectThrows(() => client.getState(''), 'BUILDNET_INVALID_ARGUMENT', ['key'])
  } finally {
    await client.close()
  }

  const cycleWs = copyFixture(t, 'cycle')
  const cycle = new BuildNetClient(join(cycleWs, 'buildnet.yaml'))
  try {
    await expectBuildNetError(() => cycle.requestBuild(['a']), 'BUILDNET_CYCLE', ['a', 'b'])
  } finally {
    await cycle.close()
  }

  const missing = join(ws, 'no-such.yaml')
  expectThrows(() => new BuildNetClient(missing), 'BUILDNET_NOT_FOUND', [missing])
  const bad = join(cycleWs, 'bad.yaml')
  writeFileSync(bad, 'targets: [this is not a map\n')
  expectThrows(() => new BuildNetClient(bad), 'BUILDNET_CONFIG', [bad, 'targets'])
})

test('9. close: twice resolves; every later call fails with BUILDNET_INVALID_STATE', async (t) => {
  const ws = copyFixture(t)
  const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
  await client.start()
  const id = await buildApp(client, ws, false)
  client.setState('scenario/kept', 'yes')
  await client.close()
  await client.close() // a second close resolves too and does nothing
  assert.equal(client.address, null)

  const closed = ['closed']
  await expectBuildNetError(() => client.start(), 'BUILDNET_INVALID_STATE', closed)
  await expectBuildNetError(() => client.getStatus(), 'BUILDNET_INVALID_STATE', closed)
  await expectBuildNetError(() => client.requestBuild(['app']), 'BUILDNET_INVALID_STATE', closed)
  await expectBuildNetError(() => client.waitBuild(id, 100), 'BUILDNET_INVALID_STATE', closed)
  await expectBuildNetError(() => client.getBuild(id), 'BUILDNET_INVALID_STATE', closed)
  await expectBuildNetError(() => client.cancelBuild(id), 'BUILDNET_INVALID_STATE', closed)
  expectThrows(() => client.getState('scenario/kept'), 'BUILDNET_INVALID_STATE', closed)
  expectThrows(() => client.setState('scenario/k', 'v'), 'BUILDNET_INVALID_STATE', closed)
  expectThrows(() => client.deleteState('scenario/kept'), 'BUILDNET_INVALID_STATE', closed)
  expectThrows(() => client.acquireLock('scenario/res', 100), 'BUILDNET_INVALID_STATE', closed)
  expectThrows(() => client.releaseLock('scenario/res', 'x'), 'BUILDNET_INVALID_STATE', closed)
  expectThrows(() => client.onEvent(() => {}), 'BUILDNET_INVALID_STATE', closed)

  // The state survived: a new client over the same workspace reads it.
  const again = new BuildNetClient(join(ws, 'buildnet.yaml'))
  try {
    assert.equal(again.getState('scenario/kept'), 'yes')
  } finally {
    await again.close()
  }
})

test(
  '9b. close: a later stop() rejects with BUILDNET_INVALID_STATE',
  async (t) => {
    const ws = copyFixture(t)
    const client = new BuildNetClient(join(ws, 'buildnet.yaml'))
    await client.close()
    await expectBuildNetError(() => client.stop(), 'BUILDNET_INVALID_STATE', ['closed'])
  },
)
