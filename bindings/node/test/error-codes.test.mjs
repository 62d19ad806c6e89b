// The Node face's error codes against tests/vectors/error_codes.json (made from the engine's
// ErrorCode enum): the BuildNetErrorCode type of the package's index.d.ts, and of
// dts-header.d.ts that napi-rs copies it from, names exactly the vector's codes (Node has no
// BUFFER_TOO_SMALL: that one is the C ABI's own). The package exports no table of codes.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'

import { pkgMain, repoRoot } from './helpers.mjs'

const vectorFile = join(repoRoot, 'tests', 'vectors', 'error_codes.json')

/** The vector's codes, checked for shape: `BUILDNET_*` strings, distinct, numbers distinct. */
function vectorCodes() {
  const { codes } = JSON.parse(readFileSync(vectorFile, 'utf8'))
  assert.ok(Array.isArray(codes) && codes.length > 0, `no codes in ${vectorFile}`)
  for (const c of codes) {
    assert.match(c.code, /^BUILDNET_[A-Z_]+$/, JSON.stringify(c))
    assert.ok(Number.isInteger(c.number) && c.number > 0, JSON.stringify(c))
  }
  assert.equal(new Set(codes.map((c) => c.code)).size, codes.length, 'distinct codes')
  assert.equal(new Set(codes.map((c) => c.number)).size, codes.length, 'distinct numbers')
  return codes.map((c) => c.code)
}

/** The members of `export type BuildNetErrorCode = ...` in the declaration file `file`. */
function unionMembers(file) {
  const text = readFileSync(file, 'utf8')
  const union = /export type BuildNetErrorCode\s*=([^;]*?)(?:;|\n\s*\n|$)/.exec(text)?.[1]
  assert.ok(union !== undefined, `no BuildNetErrorCode type in ${file}`)
  const members = [...union.matchAll(/'([^']*)'|"([^"]*)"/g)].map((m) => m[1] ?? m[2])
  // Nothing but string literals joined by `|` (a `string` member would accept any code).
  const rest = union.replace(/'[^']*'|"[^"]*"/g, '').replace(/[|\s]/g, '')
  assert.equal(rest, '', `BuildNetErrorCode of ${file} has members other than string literals`)
  return members
}

const sorted = (list) => [...list].sort()

test('BuildNetErrorCode of index.d.ts is exactly the codes of tests/vectors/error_codes.json', () => {
  const file = join(dirname(pkgMain), 'index.d.ts')
  const members = unionMembers(file)
  assert.equal(new Set(members).size, members.length, `a code listed twice in ${file}`)
  assert.deepEqual(sorted(members), sorted(vectorCodes()))
})

test('BuildNetErrorCode of dts-header.d.ts (what napi-rs copies) is the same list', (t) => {
  const header = join(repoRoot, 'bindings', 'node', 'dts-header.d.ts')
  if (!existsSync(header)) {
    t.skip(`no ${header}: not a source tree`)
    return
  }
  assert.deepEqual(sorted(unionMembers(header)), sorted(vectorCodes()))
})
