#!/usr/bin/env bash
# Quick start: builds BuildNet and runs the daemon in the foreground (Ctrl-C stops it).
# State lives in SQLite under .buildnet/ of the workspace; no other service is needed.
#
#   scripts/quickstart.sh [WORKSPACE]     (default: this repository)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
workspace="${1:-$repo}"
port="${BUILDNET_PORT:-7890}"

cargo build --release --quiet -p buildnet-daemon --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/buildnet"

cat <<MSG
BuildNet $("$bin" --version | cut -d' ' -f2): serving $workspace on http://127.0.0.1:$port
Try, from another terminal:
  curl -s http://127.0.0.1:$port/health
  curl -s http://127.0.0.1:$port/api/v1/status
  curl -s -X PUT http://127.0.0.1:$port/api/v1/state/greeting -d '{"value":"hello","ttl_ms":60000}'
  (cd $workspace && $bin kv get greeting && $bin status)
MSG
cd "$workspace"
exec "$bin" serve --port "$port"
