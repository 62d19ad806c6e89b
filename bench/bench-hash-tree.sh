#!/usr/bin/env bash
# Workspace hashing: 20,000 files of 1–8 KiB (bench/gen-monorepo, 200 packages × 100 files,
# page-cached, mtimes a minute old), in one run:
#   buildnet hash --workspace 'packages/**'   cold (no stat cache) and warm (persisted stat cache)
#   b3sum over the same files, two at a time  (find | xargs -0 -P2)
#   turbo run build --dry=json                (turbo hashes every package's files for its tasks)
# usage: bench/bench-hash-tree.sh OUT_DIR [--quick]      (writes OUT_DIR/hash-tree.json)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"
runs=15
[ "${2:-}" = "--quick" ] && runs=5
bin="$repo/target/release/buildnet"
[ -x "$bin" ] || cargo build --release --quiet -p buildnet-daemon --manifest-path "$repo/Cargo.toml"

ws="$repo/bench/work/hash-tree"
rm -rf "$ws"
"$repo/bench/gen-monorepo" "$ws" --packages 200 --files 100 --depth 10
cd "$ws"
find packages -type f -exec touch -d "1 minute ago" {} +
git init -q && git add -A && git -c user.email=bench@buildnet -c user.name=bench commit -qm generated
npm install --no-audit --no-fund --loglevel=error >/dev/null
unset NODE_EXTRA_CA_CERTS
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
turbo="$(ls "$ws"/node_modules/@turbo/*/bin/turbo | head -1)"
files=$(find packages -type f | wc -l)
echo "$files" > "$out/hash-tree.files"
find packages -type f -print0 | xargs -0 cat > /dev/null   # page-cached for everyone

"$bin" hash --workspace 'packages/**' > /dev/null            # the warm row's stat cache
hyperfine -N --warmup 2 --runs "$runs" --export-json "$out/hash-tree.json" \
  --prepare "rm -rf .buildnet" -n "buildnet (cold)" "$bin hash --workspace packages/**" \
  -n "b3sum -P2" "sh -c 'find packages -type f -print0 | xargs -0 -P2 -n 1000 b3sum > /dev/null'" \
  -n "turbo --dry=json" "sh -c '$turbo run build --dry=json > /dev/null'"
"$bin" hash --workspace 'packages/**' > /dev/null
hyperfine -N --warmup 2 --runs "$runs" --export-json "$out/hash-tree-warm.json" \
  -n "buildnet (warm stat cache)" "$bin hash --workspace packages/**"
