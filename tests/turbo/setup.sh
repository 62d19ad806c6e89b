#!/usr/bin/env bash
# Installs the real turbo and the package managers (package.json, package-lock.json) into
# tests/turbo/node_modules with `npm ci` when node_modules is missing or older than the lockfile.
# Quiet: prints nothing on success. Bun's binary comes from its postinstall (do not pass
# --ignore-scripts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  log="$(mktemp)"
  if ! npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  # Check that every tool starts (bun's binary is put in place by its postinstall).
  for t in "node_modules/.bin/turbo --version" "node_modules/.bin/pnpm --version" \
           "node node_modules/yarn/bin/yarn.js --version" \
           "node node_modules/@yarnpkg/cli-dist/bin/yarn.js --version" "node_modules/.bin/bun --version"; do
    $t >/dev/null 2>&1 || { echo "setup.sh: '$t' does not run" >&2; exit 1; }
  done
  touch "$stamp"
fi
