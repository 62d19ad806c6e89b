#!/usr/bin/env bash
# Remote execution beside local execution, one run: a generated 100-package monorepo of shell
# targets (each package concatenates its sources and its dependencies' outputs, so every
# target has inputs, outputs and an input root with its dependencies' outputs), built
#   - locally (`buildnet build --local --concurrency 2`),
#   - through BuildGrid 0.4.4 with two `buildnet worker`s (`--concurrency 2`),
#   - from a fresh clone against the same engine (every target an action-cache hit),
#   - again through the engine after one leaf's source changed (what is uploaded the second time).
# Writes OUT/reapi.json. Needs tests/reapi/setup.sh's venv and PostgreSQL.
#
#   bench/bench-reapi.sh OUT [--packages N]
#
# BGD_POLL=SECONDS tunes BuildGrid's scheduling intervals (its defaults are 1 s), and names
# the result OUT/reapi-poll<SECONDS>.json.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"; out="$(cd "$1" && pwd)"; shift
packages=100
[ "${1:-}" = "--packages" ] && packages="$2"
bin="$repo/target/release/buildnet"
[ -x "$bin" ] || cargo build --release --quiet -p buildnet-daemon --manifest-path "$repo/Cargo.toml"
"$repo/tests/reapi/setup.sh"
work="$(mktemp -d /tmp/buildnet-bench-reapi.XXXXXX)"
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ -n "${bgd:-}" ] && kill -KILL -- "-$bgd" 2>/dev/null || true
  "$repo/tests/reapi/engine.sh" pg-stop "$work/pg"
  rm -rf "$work"
}
trap cleanup EXIT
"$repo/tests/reapi/engine.sh" pg-start "$work/pg" "$pgport"
bgd=$("$repo/tests/reapi/engine.sh" bgd-start "$work/bgd" "$pgport" "$port" 600)
for n in 1 2; do
  "$bin" worker --reapi "grpc://127.0.0.1:$port" --name "w$n" --dir "$work/w$n" 2>"$work/w$n.log" &
  pids+=($!)
done

python3 - "$work/ws" "$packages" "grpc://127.0.0.1:$port" <<'PY'
import os, sys
root, n, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(root)
lines = [f"remote_execution:\n  url: {url}\n", "targets:\n"]
for i in range(n):
    d = f"{root}/packages/p{i:03}/src"
    os.makedirs(d)
    for f in range(5):
        with open(f"{d}/f{f}.txt", "w") as fh:
            fh.write(f"package {i} file {f}\n" * 200)
    deps = [f"p{j:03}" for j in (i // 2, i // 3) if j < i] if i else []
    deps = sorted(set(deps))
    cat = " ".join(f"../{d}/dist/out.txt" for d in deps)
    lines.append(f"  p{i:03}:\n    cwd: packages/p{i:03}\n    command: \"mkdir -p dist && cat src/*.txt {cat} | sha256sum > dist/out.txt\"\n"
                 f"    inputs: [\"src/**\"]\n    outputs: [\"dist/**\"]\n")
    if deps:
        lines.append(f"    deps: [{', '.join(deps)}]\n")
with open(f"{root}/buildnet.yaml", "w") as fh:
    fh.write("".join(lines))
PY
cp -r "$work/ws" "$work/local"
cp -r "$work/ws" "$work/clone"

timed() { local s e; s=$(date +%s%N); "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
sum_bytes() {
  python3 - "$1" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(f"{sys.argv[1]}/.buildnet/state.db")
rows = db.execute("SELECT remote_execution FROM target_runs WHERE build_id = (SELECT id FROM builds ORDER BY started_at DESC LIMIT 1)").fetchall()
r = [json.loads(x[0]) for x in rows if x[0]]
print(json.dumps({"targets": len(r), "uploaded": sum(x["uploaded_bytes"] for x in r), "downloaded": sum(x["downloaded_bytes"] for x in r),
                  "action_cache": sum(1 for x in r if x["action_cache"]), "queued_ms": sorted(x.get("queued_ms") or 0 for x in r)[len(r)//2] if r else 0,
                  "worker_ms": sorted(x.get("worker_ms") or 0 for x in r)[len(r)//2] if r else 0}))
PY
}
local_ms=$(cd "$work/local" && timed "$bin" build --no-daemon --local --concurrency 2)
remote_ms=$(cd "$work/ws" && timed "$bin" build --no-daemon --concurrency 2)
remote_first=$(sum_bytes "$work/ws")
hit_ms=$(cd "$work/clone" && timed "$bin" build --no-daemon --concurrency 2)
hit=$(sum_bytes "$work/clone")
local_hit_ms=$(cd "$work/ws" && timed "$bin" build --no-daemon --concurrency 2)
echo "edited" >> "$work/ws/packages/p099/src/f0.txt"
edit_ms=$(cd "$work/ws" && timed "$bin" build --no-daemon --concurrency 2)
remote_second=$(sum_bytes "$work/ws")
name=reapi${BGD_POLL:+-poll$BGD_POLL}
python3 - "$out/$name.json" <<PY
import json, sys
json.dump({"packages": $packages, "local_ms": $local_ms, "remote_ms": $remote_ms, "action_cache_ms": $hit_ms,
           "local_hit_ms": $local_hit_ms, "edit_ms": $edit_ms, "first": $remote_first, "hits": $hit, "second": $remote_second},
          open(sys.argv[1], "w"), indent=1)
PY
cat "$out/$name.json"
