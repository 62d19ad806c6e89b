#!/usr/bin/env bash
# Runs the Bun and Deno bindings' tests (bindings/bun, bindings/deno) against an already built
# libbuildnet, with the Bun and Deno that bindings/package-lock.json pins (`npm ci`), after
# copying the TypeScript they share (bindings/ffi-common) into each package.
#
#   scripts/test-ffi.sh                                   # target/debug/libbuildnet.so
#   BUILDNET_LIB=/path/to/libbuildnet.so scripts/test-ffi.sh
set -euo pipefail
export NO_COLOR=1
cd "$(dirname "$0")/.."

case "$(uname -s)" in
  Darwin) suffix=dylib ;;
  *) suffix=so ;;
esac
export BUILDNET_LIB=${BUILDNET_LIB:-$PWD/target/debug/libbuildnet.$suffix}
if [ ! -f "$BUILDNET_LIB" ]; then
  echo "test-ffi: no library at $BUILDNET_LIB: build it first (cargo build -p buildnet-cabi)," \
    "or set BUILDNET_LIB" >&2
  exit 1
fi
BUILDNET_LIB="$(cd "$(dirname "$BUILDNET_LIB")" && pwd)/$(basename "$BUILDNET_LIB")"

echo "== npm ci (bindings/: bun and deno)"
(cd bindings && npm ci --no-audit --no-fund)
bun="$PWD/bindings/node_modules/.bin/bun"
deno="$(realpath bindings/node_modules/.bin/deno)"

echo "== bindings/ffi-common/sync.sh (the shared TypeScript of ffi-common, into bun/ and deno/)"
bindings/ffi-common/sync.sh

echo "== bun test (bindings/bun, $("$bun" --version))"
(cd bindings/bun && "$bun" test)

echo "== deno test (bindings/deno, $("$deno" --version | head -1))"
# Deno's cache stays in target/; nothing is fetched (no remote or npm imports, no update check).
export DENO_DIR="$PWD/target/deno" DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
mkdir -p "$DENO_DIR"
# --allow-run only for the test that starts a second deno without a library.
(cd bindings/deno && "$deno" test --no-remote --no-npm \
  --allow-ffi --allow-read --allow-write --allow-env=BUILDNET_LIB --allow-run="$deno" \
  scenario_test.ts)
