#!/usr/bin/env bash
# The real remote-cache clients against `buildnet serve` (clients.test.mjs): installs turbo
# (tests/turbo/setup.sh) and nx (this folder's package-lock.json) when missing; Bazel comes from
# scripts/setup.sh (Debian's bazel-bootstrap). BUILDNET_BIN picks the binary; ONLY=turbo,nx,bazel
# narrows.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../turbo/setup.sh"
cd "$here"
stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  log="$(mktemp)"
  if ! npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  node_modules/.bin/nx --version >/dev/null 2>&1 || { echo "run.sh: nx does not run" >&2; exit 1; }
  touch "$stamp"
fi
unset NODE_EXTRA_CA_CERTS
exec node --test --test-concurrency=1 --test-reporter=spec "$@" "$here/clients.test.mjs"
