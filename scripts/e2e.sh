#!/usr/bin/env bash
# Runs the browser and PM2 end-to-end tests (tests/e2e/) against an already built `buildnet`,
# after installing what they need: Debian's chromium, and playwright-core and pm2 (`npm ci`).
#
#   scripts/e2e.sh                          # uses target/debug/buildnet (built by `cargo test`)
#   BUILDNET_BIN=target/release/buildnet scripts/e2e.sh
#   scripts/e2e.sh tests/e2e/pm2.test.mjs   # some of the test files only
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${BUILDNET_BIN:-target/debug/buildnet}"
if [ ! -x "$bin" ]; then
  echo "e2e: no buildnet executable at $bin: build it first (cargo build, or cargo test), or set BUILDNET_BIN" >&2
  exit 1
fi
BUILDNET_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export BUILDNET_BIN

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

if ! command -v npm >/dev/null 2>&1; then
  echo "e2e: installing nodejs and npm from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

if [ -z "${CHROMIUM_BIN:-}" ] && [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing chromium from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

e2e_dir=tests/e2e
if [ ! -d "$e2e_dir/node_modules/playwright-core" ] || [ ! -x "$e2e_dir/node_modules/.bin/pm2" ] \
   || [ "$e2e_dir/package-lock.json" -nt "$e2e_dir/node_modules/.package-lock.json" ]; then
  echo "e2e: installing playwright-core and pm2 (npm ci)"
  (cd "$e2e_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== end-to-end tests ($BUILDNET_BIN)"
if [ "$#" -eq 0 ]; then
  set -- "$e2e_dir/"
fi
node --test --test-concurrency=1 "$@"
