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

echo "== browser and PM2 tests"
scripts/e2e.sh
