// Shared by the test files: where the package under test and the repository's fixtures are,
// temporary workspaces, and assertions on BuildNet's errors.
//
// BUILDNET_NODE_PKG names the package to test: a directory (default: bindings/node, this
// folder's parent) or a package name resolved from this folder (`@buildnet/node`, as
// scripts/test-node.sh installs it). BUILDNET_REPO is the repository root holding
// tests/scenario and tests/vectors (default: three levels up from this file).
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const testDir = dirname(fileURLToPath(import.meta.url))
export const repoRoot = process.env.BUILDNET_REPO
  ? resolve(process.env.BUILDNET_REPO)
  : resolve(testDir, '..', '..', '..')
export const scenarioDir = join(repoRoot, 'tests', 'scenario')
export const vectorsFile = join(repoRoot, 'tests', 'vectors', 'hashes.json')

const spec = process.env.BUILDNET_NODE_PKG || resolve(testDir, '..')
/** Whether the package is named by a path (true) or by its package name (false). */
export const pkgIsPath = isAbsolute(spec) || spec.startsWith('.')
/** What `require()` and `import()` are given: an absolute directory, or the package name. */
export const pkgSpecifier = pkgIsPath ? resolve(spec) : spec

/** `require` as seen from this folder (finds the temp project's node_modules). */
export const requireHere = createRequire(import.meta.url)
/** The package's entry file (its `main`, the generated loader). */
export const pkgMain = requireHere.resolve(pkgSpecifier)
/** What `import` takes for the package: its name, or the entry file as a URL. */
export const pkgImportSpecifier = pkgIsPath ? pathToFileURL(pkgMain).href : pkgSpecifier

/** The package through ESM, as users `import` it. */
export function loadPackage() {
  return import(pkgImportSpecifier)
}

/** A fresh temporary folder, removed after the test `t`. */
export function tempDir(t, prefix = 'buildnet-node-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  // Retried: a test whose script exits with a build in flight leaves its commands (in their
  // own process groups) finishing their writes for a moment.
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }))
  return dir
}

/** Copies tests/scenario/`name` into a fresh temporary folder; its path. */
export function copyFixture(t, name = 'workspace') {
  const dir = tempDir(t)
  cpSync(join(scenarioDir, name), dir, { recursive: true })
  return dir
}

/** A temporary workspace whose buildnet.yaml is `yaml`; the config file's path. */
export function writeWorkspace(t, yaml) {
  const dir = tempDir(t)
  const config = join(dir, 'buildnet.yaml')
  writeFileSync(config, yaml)
  return config
}

/**
 * Asserts that `run` (a function; sync or returning a Promise) fails with a BuildNet error:
 * an `Error` whose `code` is `code` and whose message contains every string of `mentions`.
 * Returns the error.
 */
export async function expectBuildNetError(run, code, mentions = []) {
  let error
  try {
    await run()
  } catch (e) {
    error = e
  }
  assert.ok(error !== undefined, `expected ${code}, but the call succeeded`)
  assert.ok(error instanceof Error, `not an Error: ${error}`)
  assert.equal(error.code, code, `code of "${error.message}"`)
  for (const m of mentions) {
    assert.ok(error.message.includes(m), `message "${error.message}" does not name ${m}`)
  }
  return error
}

/** Asserts that the sync `run` throws (not rejects) a BuildNet error with `code`. */
export function expectThrows(run, code, mentions = []) {
  let error
  try {
    run()
  } catch (e) {
    error = e
  }
  assert.ok(error !== undefined, `expected ${code} to be thrown, but the call returned`)
  assert.ok(error instanceof Error, `not an Error: ${error}`)
  assert.equal(error.code, code, `code of "${error.message}"`)
  for (const m of mentions) {
    assert.ok(error.message.includes(m), `message "${error.message}" does not name ${m}`)
  }
  return error
}

/** Resolves once `predicate()` is true; fails after `ms` milliseconds. */
export async function waitUntil(predicate, ms, what) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
