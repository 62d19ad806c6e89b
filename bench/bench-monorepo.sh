#!/usr/bin/env bash
# BuildNet beside Turborepo and Nx on a generated monorepo (bench/gen-monorepo), same files,
# same commands, same concurrency, one run. Writes hyperfine JSON into OUT.
#
#   bench/bench-monorepo.sh OUT [--quick] [--packages N] [--files F] [--cold-runs R]
#
# Results go to OUT/mono<N>-*.json (hyperfine's format). The leaf rows are measured
# round-robin: each round touches the leaf and runs every tool, and the rebuilt command alone,
# so a slow spell of the machine falls on all of them alike (medians of the rounds).
#
# Every tool runs the packages' `build` script through npm. NODE_EXTRA_CA_CERTS is unset for
# all of them: Node loads that file at every start (about 60 ms here), and turbo's strict
# environment mode drops it for its tasks, which would otherwise skew the cold numbers.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"
out="$(cd "$1" && pwd)"; shift
quick=0; packages=100; files=20; cold_runs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --packages) packages="$2"; shift ;;
    --files) files="$2"; shift ;;
    --cold-runs) cold_runs="$2"; shift ;;
    *) echo "usage: bench/bench-monorepo.sh OUT [--quick] [--packages N] [--files F] [--cold-runs R]" >&2; exit 2 ;;
  esac
  shift
done
bin="$repo/target/release/buildnet"
[ -x "$bin" ] || cargo build --release --quiet -p buildnet-daemon --manifest-path "$repo/Cargo.toml"

if [ "$quick" -eq 1 ]; then runs=5; else runs=15; fi
[ -n "$cold_runs" ] || { [ "$quick" -eq 1 ] && cold_runs=1 || cold_runs=3; }
p=mono$packages
mono="$repo/bench/work/mono-$packages"
rm -rf "$mono"
"$repo/bench/gen-monorepo" "$mono" --packages "$packages" --files "$files" --depth 10
cd "$mono"
git init -q && git add -A && git -c user.email=bench@buildnet -c user.name=bench commit -qm generated
npm install --no-audit --no-fund --loglevel=error >/dev/null

unset NODE_EXTRA_CA_CERTS
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 NX_NO_CLOUD=true NX_TUI=false
turbo="$(ls "$mono"/node_modules/@turbo/*/bin/turbo | head -1)"
nx="$mono/node_modules/.bin/nx"
"$turbo" --version > "$out/turbo.version"
echo "$packages packages × $files files" > "$out/$p.shape"
"$nx" --version 2>/dev/null | grep -m1 -oE '[0-9]+\.[0-9]+\.[0-9]+' > "$out/nx.version" || echo "?" > "$out/nx.version"

bn_build="$bin build --concurrency 2"
turbo_build="$turbo run build --concurrency=2"
nx_build="$nx run-many -t build --parallel=2"
clean_dist="rm -rf packages/*/dist"

echo "== cold build, $packages packages (every command runs)"
hyperfine --runs "$cold_runs" --export-json "$out/$p-cold.json" \
  --prepare "rm -rf .buildnet; $clean_dist" -n buildnet "$bn_build" \
  --prepare "rm -rf .turbo packages/*/.turbo node_modules/.cache/turbo; $clean_dist" -n turbo "$turbo_build" \
  --prepare "NX_DAEMON=false $nx reset >/dev/null 2>&1; rm -rf .nx; $clean_dist" -n "nx (no daemon)" "NX_DAEMON=false $nx_build"

echo "== fully cached build"
stop_nx_daemon() { NX_DAEMON=true "$nx" daemon --stop >/dev/null 2>&1 || true; }
$bn_build >/dev/null; $turbo_build >/dev/null; NX_DAEMON=false $nx_build >/dev/null
stop_nx_daemon
# The nx daemon watches the files and would take CPU from the others: it runs only for its own row.
hyperfine --warmup 2 --runs "$runs" --export-json "$out/$p-cached.json" \
  -n buildnet "$bn_build" \
  -n turbo "$turbo_build" \
  -n "nx (no daemon)" "NX_DAEMON=false $nx_build"
NX_DAEMON=true $nx_build >/dev/null
hyperfine --warmup 2 --runs "$runs" --export-json "$out/$p-cached-nx-daemon.json" \
  -n "nx (daemon)" "NX_DAEMON=true $nx_build"
stop_nx_daemon

echo "== one leaf file changed (one command reruns), round-robin with the command alone"
leaf="packages/pkg-$(printf %04d $((packages - 1)))"
touch_leaf="echo \"// \$(date +%s%N)\" >> $leaf/src/file00.ts"
# Each round: touch the leaf, run one tool; the command alone runs in the same rounds.
# A watching daemon's own rebuild (after its 100 ms debounce) would queue the next request
# behind it; in these rows every change is built by the `buildnet build` that follows it.
interleave() { # OUT_JSON NAME=COMMAND...
  python3 - "$runs" "$touch_leaf" "$@" <<'PY'
import json, statistics, subprocess, sys, time
runs, touch, dest, pairs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
entries = [p.split("=", 1) for p in pairs]
times = {name: [] for name, _ in entries}
for r in range(runs + 1):  # the first round warms up
    for name, cmd in entries:
        # The command alone rebuilds without being asked: no touch, so a watching daemon is
        # not sent a change it would rebuild on its own while the next tool runs.
        if name != "command alone":
            subprocess.run(touch, shell=True, check=True)
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r:
            times[name].append(time.perf_counter() - t)
json.dump({"results": [{"command": n, "median": statistics.median(v), "times": v} for n, v in times.items()]},
          open(dest, "w"), indent=1)
for n, v in times.items():
    print(f"  {n:40} {statistics.median(v)*1000:8.1f} ms (median of {len(v)})")
PY
}
alone="command alone=cd $leaf && npm run build"
interleave "$out/$p-leaf.json" "buildnet=$bn_build" "turbo=$turbo_build" \
  "nx (no daemon)=NX_DAEMON=false $nx_build" "$alone"
NX_DAEMON=true $nx_build >/dev/null
interleave "$out/$p-leaf-nx-daemon.json" "nx (daemon)=NX_DAEMON=true $nx_build" "$alone"
stop_nx_daemon

echo "== the same through a running daemon (buildnet serve --watch; buildnet build hands off)"
"$bin" serve --watch --port 0 > "$out/daemon.out" 2> "$out/daemon.err" &
daemon_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$out/daemon.out" 2>/dev/null && break; sleep 0.05; done
"$bin" build --concurrency 2 > /dev/null
hyperfine --warmup 2 --runs "$runs" --export-json "$out/$p-cached-daemon.json" \
  -n "buildnet (daemon)" "$bn_build"
interleave "$out/$p-leaf-daemon.json" "buildnet (daemon)=$bn_build" "$alone"
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true

echo "== the Turborepo drop-in: buildnet run in a copy without buildnet.yaml (turbo.json alone)"
# Same files, same turbo.json, same concurrency. buildnet run starts each package's script
# directly (turbo runs it through npm, as it always does).
drop="$mono-turbo"
rm -rf "$drop"
git clone -q "$mono" "$drop"
(cd "$drop" && git rm -q buildnet.yaml && git -c user.email=bench@buildnet -c user.name=bench commit -qm "turbo.json alone")
ln -s "$mono/node_modules" "$drop/node_modules"
cd "$drop"
run_build="$bin run build --concurrency=2"
turbo_run="$turbo run build --concurrency=2"
clean_drop="rm -rf packages/*/dist packages/*/.turbo"
hyperfine --runs "$cold_runs" --export-json "$out/$p-run-cold.json" \
  --prepare "rm -rf .buildnet; $clean_drop" -n "buildnet run" "$run_build" \
  --prepare "rm -rf .turbo node_modules/.cache/turbo; $clean_drop" -n turbo "$turbo_run"
$run_build >/dev/null; $turbo_run >/dev/null
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/$p-run-cached.json" \
  -n "buildnet run" "$run_build" -n turbo "$turbo_run"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/$p-run-dry.json" \
  -n "buildnet run --dry=json" "$bin run build --dry=json" -n "turbo --dry=json" "$turbo run build --dry=json"
"$bin" serve --watch --port 0 > "$out/run-daemon.out" 2> "$out/run-daemon.err" &
run_daemon=$!
for _ in $(seq 100); do grep -q "listening on" "$out/run-daemon.out" 2>/dev/null && break; sleep 0.05; done
$run_build >/dev/null
hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/$p-run-cached-daemon.json" \
  -n "buildnet run (daemon)" "$run_build" -n turbo "$turbo_run"
kill -TERM "$run_daemon"; wait "$run_daemon" || true
