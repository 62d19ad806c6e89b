#!/usr/bin/env bash
# The bindings' hot paths beside each runtime's own SQLite, on release builds, in one run:
#   Bun (bun:sqlite) and Deno (node:sqlite) over libbuildnet, Node (@buildnet/node beside
#   better-sqlite3, blake3Hash beside node:crypto sha256), Python (beside the stdlib sqlite3).
# usage: bench/bench-bindings.sh OUT_DIR     (writes OUT_DIR/bindings-<runtime>.json)
# Called by scripts/bench.sh; the Rust figure for blake3 of 1 MiB comes from its criterion run
# (group hash_in_memory_1mib).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=${1:?usage: bench/bench-bindings.sh OUT_DIR}
mkdir -p "$out"

echo "== release builds: libbuildnet, the Node addon, the Python wheel"
cargo build --release --quiet -p buildnet-cabi
# npm ci only when the lock file changed since the last install (better-sqlite3 compiles).
npm_ci() { [ "$1/node_modules/.package-lock.json" -nt "$1/package-lock.json" ] \
  || (cd "$1" && npm ci --no-audit --no-fund --loglevel=error); }
npm_ci bindings
npm_ci bindings/node
(cd bindings/node && npx napi build --platform --release --manifest-path ../../buildnet-napi/Cargo.toml \
       --output-dir . --dts index.d.ts --js index.js >/dev/null)
venv=$repo/target/py-bench
[ -x "$venv/bin/maturin" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q maturin==1.16.0; }
rm -rf target/wheels-release
(cd bindings/python && "$venv/bin/maturin" build --release --quiet -o ../../target/wheels-release)
"$venv/bin/pip" install -q --force-reinstall --no-deps target/wheels-release/buildnet-*.whl

case "$(uname -s)" in Darwin) suffix=dylib ;; *) suffix=so ;; esac
export BUILDNET_LIB=$repo/target/release/libbuildnet.$suffix
bun=$repo/bindings/node_modules/.bin/bun
deno=$(realpath bindings/node_modules/.bin/deno)
export DENO_DIR=$repo/target/deno DENO_NO_UPDATE_CHECK=1

bindings/ffi-common/sync.sh
echo "== Bun: getState vs bun:sqlite, blake3 of 1 MiB"
"$bun" bench/ffi/bun-kv.ts | tail -1 | tee "$out/bindings-bun.json"
echo "== Deno: getState vs node:sqlite, blake3 of 1 MiB"
"$deno" run --allow-ffi --allow-read --allow-write --allow-env bench/ffi/deno-kv.ts | tail -1 | tee "$out/bindings-deno.json"
echo "== Node: getState/setState vs better-sqlite3, blake3Hash vs sha256 of 64 MiB"
node bench/node/kv.mjs | tail -1 | tee "$out/bindings-node.json"
echo "== Python: get_state/set_state vs sqlite3, blake3_hash vs sha256 of 64 MiB"
"$venv/bin/python" bench/python/kv.py | tail -1 | tee "$out/bindings-python.json"
