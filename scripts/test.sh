#!/usr/bin/env bash
# Runs every test suite the repository has, after installing what they need.
# Used by CI (.ci/run) and by hand: `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --demo

echo "== formatting"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== benchmark harness (each benchmark run once, untimed)"
cargo test --workspace --benches --quiet

echo "== tests"
cargo test --workspace --lib --bins --tests

echo "== buildnet run beside the real turbo (npm, pnpm, yarn 1, berry, bun fixtures)"
BUILDNET_BIN="$PWD/target/debug/buildnet" tests/turbo/run.sh

echo "== buildnet serve as the remote cache of the real turbo, nx and Bazel"
BUILDNET_BIN="$PWD/target/debug/buildnet" tests/remote-cache/run.sh

echo "== remote execution through BuildGrid 0.4.4 (PostgreSQL) with buildnet workers"
tests/reapi/run.sh

echo "== include/buildnet.h is what the source generates"
scripts/gen-header.sh --check

echo "== the bindings' record types are what schema/buildnet.schema.json generates"
python3 scripts/gen-types.py --check

echo "== C ABI: the scenario linked shared, static and under ASan; the header as C and C++"
tests/c/run.sh

echo "== Bun and Deno modules over the C ABI"
scripts/test-ffi.sh

echo "== @buildnet/node, packed and installed"
scripts/test-node.sh

echo "== buildnet for Python, wheel installed into a fresh venv"
scripts/test-python.sh

echo "== browser and PM2 tests"
scripts/e2e.sh
