#!/usr/bin/env bash
# Quick start: installs the demo monorepo's tools, builds BuildNet, builds the demo monorepo
# cold and then again fully cached, then runs the daemon on it in the foreground (Ctrl-C stops
# it). State lives in SQLite under examples/monorepo/.buildnet/; no other service is needed.
#
#   scripts/quickstart.sh [WORKSPACE]     (default: examples/monorepo)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
workspace="${1:-$repo/examples/monorepo}"
port="${BUILDNET_PORT:-7890}"

"$repo/scripts/setup.sh" --demo
cargo build --release --quiet -p buildnet-daemon --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/buildnet"
cd "$workspace"

echo "== buildnet build (first run: every command runs)"
"$bin" build
echo "== buildnet build (again: everything comes from the cache)"
"$bin" build

cat <<MSG
== buildnet serve --watch: dashboard at http://127.0.0.1:$port/ (edit a file under packages/ to see it rebuild)
Try, from another terminal:
  curl -s http://127.0.0.1:$port/health
  curl -s http://127.0.0.1:$port/api/v1/status
  (cd $workspace && $bin builds && $bin build --dry-run && $bin graph)
MSG
exec "$bin" serve --watch --port "$port"
