#!/usr/bin/env bash
# Benchmarks BuildNet side by side with what a user would use instead, in one run, and writes
# bench/RESULTS.md. Release builds; medians of repeated runs.
#
#   scripts/bench.sh           full run (about 20 minutes on 2 cores, after the release builds)
#   scripts/bench.sh --large   also the 1,000-package rows: three cold builds of 1,000 packages
#                              through npm take about 20 minutes more on 2 cores
#   scripts/bench.sh --quick   smoke run (fewer repetitions, a smaller file; about 6 minutes)
#   scripts/bench.sh --monorepo-only   only the 100-package monorepo rows again, the other
#                              figures kept from the last run in bench/work/results
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

quick=0; large=0; mono_only=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --large) large=1 ;;
    --monorepo-only) mono_only=1 ;;
    *) echo "usage: scripts/bench.sh [--quick | --large | --monorepo-only]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --bench
cargo build --release --quiet -p buildnet-daemon
bin="$repo/target/release/buildnet"
work="$repo/bench/work"
out="$work/results"
if [ "$mono_only" -eq 1 ] && [ ! -f "$out/hash.json" ]; then
  echo "bench: --monorepo-only needs the figures of a full run in $out" >&2; exit 2
fi
[ "$mono_only" -eq 1 ] || rm -rf "$work"
mkdir -p "$out"

if [ "$quick" -eq 1 ]; then
  size_mib=256; runs=5; startup_runs=50; crit_time=1
else
  size_mib=1024; runs=15; startup_runs=300; crit_time=4
fi

if [ "$mono_only" -eq 0 ]; then
echo "== state store and tree hashing (criterion)"
cargo bench --quiet -p buildnet-core --bench core -- \
  --noplot --measurement-time "$crit_time" --warm-up-time 1 2>&1 | grep -E '^[a-z_]+/|time:' || true

echo "== hashing a ${size_mib} MiB file (page-cached)"
big="$work/big.bin"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$big"
cat "$big" > /dev/null
hyperfine -N --warmup 2 --runs "$runs" --export-json "$out/hash.json" \
  -n b3sum "b3sum $big" \
  -n "buildnet hash" "$bin hash $big" \
  -n "xxhsum -H3" "xxhsum -H3 $big" \
  -n "buildnet hash --xxh3" "$bin hash --xxh3 $big"

echo "== start-up"
(cd bench/http && npm ci --no-audit --no-fund --loglevel=error)   # bun and deno, also for the HTTP rows
hyperfine -N --warmup 20 --runs "$startup_runs" --export-json "$out/startup.json" \
  -n "buildnet --version" "$bin --version" \
  -n "b3sum --version" "b3sum --version" \
  -n "node -e 0" "node -e 0" \
  -n "bun -e 0" "$repo/bench/http/node_modules/.bin/bun -e 0"

echo "== serve: time to first /health answer, idle memory"
python3 - "$bin" "$out/serve.json" "$runs" <<'PY'
import json, os, statistics, subprocess, sys, tempfile, time, urllib.request
bin_, dest, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ready, rss = [], []
for _ in range(runs):
    with tempfile.TemporaryDirectory() as ws:
        start = time.perf_counter()
        p = subprocess.Popen([bin_, "serve", "--port", "0"], cwd=ws,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        address = line.strip().rsplit("http://", 1)[1]
        urllib.request.urlopen(f"http://{address}/health").read()
        ready.append((time.perf_counter() - start) * 1000)
        time.sleep(1.0)
        with open(f"/proc/{p.pid}/status") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        rss.append(kb / 1024)
        p.terminate(); p.wait()
json.dump({"ready_ms": statistics.median(ready), "idle_rss_mib": statistics.median(rss)}, open(dest, "w"))
PY

echo "== HTTP: GET /health beside a bare axum, Node, Bun and Deno"
if [ "$quick" -eq 1 ]; then
  bench/bench-http.sh "$out" --quick
else
  bench/bench-http.sh "$out"
fi

echo "== workspace hashing, 20,000 files, beside b3sum -P2 and turbo --dry=json"
if [ "$quick" -eq 1 ]; then bench/bench-hash-tree.sh "$out" --quick; else bench/bench-hash-tree.sh "$out"; fi
fi

echo "== monorepo builds beside turbo and nx"
if [ "$quick" -eq 1 ]; then
  bench/bench-monorepo.sh "$out" --quick --packages 100
else
  bench/bench-monorepo.sh "$out" --packages 100
  if [ "$large" -eq 1 ]; then
    # 1,000 packages: one cold build per tool (6–8 minutes each here), five rounds of the rest.
    bench/bench-monorepo.sh "$out" --quick --packages 1000 --files 10 --cold-runs 1
  fi
fi

echo "== remote cache beside ducktors' turborepo-remote-cache"
if [ "$quick" -eq 1 ]; then bench/bench-remote-cache.sh "$out" --quick; else bench/bench-remote-cache.sh "$out"; fi

if [ "$quick" -eq 0 ] && [ "$mono_only" -eq 0 ]; then
  echo "== remote execution through BuildGrid 0.4.4 beside local execution"
  BGD_POLL=0.05 bench/bench-reapi.sh "$out"
fi

if [ "$mono_only" -eq 0 ]; then
echo "== bindings beside each runtime's SQLite"
BUILDNET_BENCH_QUICK=$quick bench/bench-bindings.sh "$out"
fi

echo "== writing bench/RESULTS.md"
python3 - "$repo" "$out" "$size_mib" "$quick" "$large" <<'PY'
import json, os, platform, subprocess, sys, time
repo, out, size_mib, quick, large = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
def crit(group, name):
    p = os.path.join(repo, "target/criterion", group, name, "new/estimates.json")
    return json.load(open(p))["median"]["point_estimate"]
def hyper(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}
def ver(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stdout.strip() or r.stderr.strip()).splitlines()[0]
    except Exception: return "?"
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
hash_ = hyper(os.path.join(out, "hash.json"))
start = hyper(os.path.join(out, "startup.json"))
serve = json.load(open(os.path.join(out, "serve.json")))
gib = size_mib / 1024
def gbps(name): return gib * 1.073741824 / hash_[name]["median"]
rows = []
def row(what, ours, peer, ratio, goal, met):
    rows.append(f"| {what} | {ours} | {peer} | {ratio} | {goal} | {'yes' if met else '**no**'} |")
get_c, get_u, get_raw = crit("kv_get","buildnet_cached"), crit("kv_get","buildnet_uncached"), crit("kv_get","rusqlite_point_read")
row("KV get, present key (Rust API)", f"{get_c/1000:.3f} µs (cache), {get_u/1000:.2f} µs (no cache)", f"rusqlite point read {get_raw/1000:.2f} µs",
    f"{get_c/get_raw:.2f}×", "≤ 2 µs", get_c <= 2000)
set_b, set_raw = crit("kv_set","buildnet"), crit("kv_set","rusqlite_autocommit_upsert")
row("KV set, one writer (durability normal)", f"{set_b/1000:.2f} µs", f"rusqlite autocommit upsert {set_raw/1000:.2f} µs",
    f"{set_b/set_raw:.2f}×", "≤ 1.0× rusqlite", set_b <= set_raw * 1.05)
for mode in ["normal", "full"]:
    one, eight = crit("kv_set", f"{mode}_1_threads_per_write"), crit("kv_set", f"{mode}_8_threads_per_write")
    row(f"KV set throughput, 8 threads vs 1 (durability {mode})", f"{1e9/eight:,.0f} writes/s vs {1e9/one:,.0f}", "-",
        f"{one/eight:.2f}× one thread", "≥ 3×", one / eight >= 3)
th_cold, th_warm = crit("tree_hash_2000_files","cold"), crit("tree_hash_2000_files","warm_stat_cache")
row("Tree hash, 2,000 files of 1–8 KiB", f"cold {th_cold/1e6:.1f} ms, warm {th_warm/1e6:.1f} ms", "-", f"warm {th_warm/th_cold:.2f}× cold", "(issue 7: warm ≤ 0.1× cold)", th_warm <= 0.1*th_cold)
row(f"Hash a {size_mib} MiB file, blake3", f"{gbps('buildnet hash'):.2f} GB/s", f"b3sum {gbps('b3sum'):.2f} GB/s",
    f"{gbps('buildnet hash')/gbps('b3sum'):.2f}×", "≥ 0.95× b3sum", gbps('buildnet hash') >= 0.95*gbps('b3sum'))
row(f"Hash a {size_mib} MiB file, xxh3", f"{gbps('buildnet hash --xxh3'):.2f} GB/s", f"xxhsum -H3 {gbps('xxhsum -H3'):.2f} GB/s",
    f"{gbps('buildnet hash --xxh3')/gbps('xxhsum -H3'):.2f}×", "-", True)
v = start["buildnet --version"]["median"]*1000
sm = lambda k: start[k]["median"] * 1000 if k in start else float("nan")
row("`buildnet --version`, start to exit", f"{v:.2f} ms", f"node -e 0 {sm('node -e 0'):.1f} ms, bun -e 0 {sm('bun -e 0'):.1f} ms, b3sum --version {sm('b3sum --version'):.2f} ms",
    f"{v/sm('node -e 0'):.2f}× node, {v/sm('bun -e 0'):.2f}× bun", "≤ 2 ms", v <= 2)
row("`buildnet serve`: start until /health answers", f"{serve['ready_ms']:.1f} ms", f"node -e 0 {sm('node -e 0'):.1f} ms (does nothing)", "-", "≤ 20 ms", serve['ready_ms'] <= 20)
row("`buildnet serve` idle RSS", f"{serve['idle_rss_mib']:.1f} MiB", "see the HTTP memory row", "-", "≤ 10 MB", serve['idle_rss_mib'] <= 10)
tree_path = os.path.join(out, "hash-tree.json")
if os.path.exists(tree_path):
    tr = hyper(tree_path) | hyper(os.path.join(out, "hash-tree-warm.json"))
    nfiles = open(os.path.join(out, "hash-tree.files")).read().strip()
    tm = lambda k: tr[k]["median"] * 1000
    cold, warm, b3, tdry = tm("buildnet (cold)"), tm("buildnet (warm stat cache)"), tm("b3sum -P2"), tm("turbo --dry=json")
    row(f"Workspace hashing, {int(nfiles):,} files of 1–8 KiB, cold (`buildnet hash --workspace`)", f"{cold:.0f} ms", f"b3sum -P2 {b3:.0f} ms, turbo --dry=json {tdry:.0f} ms",
        f"{cold/b3:.2f}× b3sum -P2", "≤ 1× b3sum -P2", cold <= b3)
    row("Workspace hashing, warm stat cache (one-shot process)", f"{warm:.0f} ms", f"cold {cold:.0f} ms", f"{warm/cold:.2f}× cold", "≤ 0.1× cold", warm <= 0.1 * cold)
http_path = os.path.join(out, "http.json")
if os.path.exists(http_path):
    h = json.load(open(http_path))
    b, n, bun, deno, ax = (h[k] for k in ["buildnet serve", "node http", "Bun.serve", "Deno.serve", "bare axum"])
    u = lambda r: r["user_us_per_req"]
    row("`GET /health`, server user CPU per request (wrk -t1 -c64, server and wrk on their own core)",
        f"{u(b):.2f} µs", f"Node http {u(n):.2f}, Bun.serve {u(bun):.2f}, Deno.serve {u(deno):.2f}, bare axum {u(ax):.2f} µs",
        f"{u(b)/u(n):.2f}× Node, {u(b)/u(bun):.2f}× Bun", "≤ 0.3× Node and ≤ 0.7× Bun", u(b) <= 0.3*u(n) and u(b) <= 0.7*u(bun))
    row("`GET /health`, requests/s, median of 3 rounds (p99)", f"{b['rps']:,.0f} ({b['p99_ms']:.2f} ms; rounds {b['rps_range'][0]:,.0f}–{b['rps_range'][1]:,.0f})",
        ", ".join(f"{k} {r['rps']:,.0f} ({r['p99_ms']:.2f} ms)" for k, r in h.items() if k != "buildnet serve"),
        f"{b['rps']/bun['rps']:.2f}× Bun", "≥ Bun", b["rps"] >= bun["rps"])
    peers_mem = ", ".join(f"{k} {r['idle_rss_mib']:.0f} → {r['rss_after_mib']:.0f} MiB" for k, r in h.items() if k != "buildnet serve" and "idle_rss_mib" in r)
    row(f"Memory: RSS idle → after {b['requests_total']:,} requests", f"{b.get('idle_rss_mib', float('nan')):.1f} → {b['rss_after_mib']:.1f} MiB", peers_mem or "-",
        f"{b['rss_after_mib']/h['node http']['rss_after_mib']:.2f}× Node" if "rss_after_mib" in h.get("node http", {}) else "-", "≤ 10 MB idle, ≤ 20 MB loaded", b["rss_after_mib"] <= 20 and b.get("idle_rss_mib", 0) <= 10)
    row("`GET /api/v1/state/{key}`, 64 connections, p99", f"{b['state_get_p99_ms']:.2f} ms ({b['state_get_rps']:,.0f} req/s)", "-", "-", "≤ 2 ms", b["state_get_p99_ms"] <= 2)
def binding(name):
    p = os.path.join(out, f"bindings-{name}.json")
    return json.load(open(p)) if os.path.exists(p) else None
rust_b3 = crit("hash_in_memory_1mib", "blake3")  # ns per 1 MiB
rust_mbps = 1048576 / rust_b3 * 1e3
for name, peer, goal in [("bun", "bun:sqlite", 2.0), ("deno", "node:sqlite", 2.0)]:
    r = binding(name)
    if r:
        row(f"KV get from {name.capitalize()} (`getState`, present key)", f"{r['get_ns']/1000:.2f} µs", f"{peer} prepared `.get()` {r['sqlite_get_ns']/1000:.2f} µs",
            f"{r['ratio']:.2f}×", f"≤ {goal:.0f}× {peer}", r["ratio"] <= goal)
        row(f"blake3 of 1 MiB from {name.capitalize()}", f"{r['blake3_1mib_mbps']:,.0f} MB/s", f"Rust API {rust_mbps:,.0f} MB/s",
            f"{r['blake3_1mib_mbps']/rust_mbps:.2f}×", "within 10% of Rust" if name == "bun" else "-", r["blake3_1mib_mbps"] >= 0.9 * rust_mbps or name != "bun")
r = binding("node")
if r:
    row("KV get from Node (`getState`)", f"{r['get_ns']/1000:.2f} µs", f"better-sqlite3 `.pluck().get()` {r['better_sqlite3_get_ns']/1000:.2f} µs", f"{r['ratio']:.2f}×", "≤ 1× better-sqlite3", r["ratio"] <= 1)
    row("KV set from Node (`setState`)", f"{r['set_ns']/1000:.2f} µs", f"better-sqlite3 upsert {r['better_sqlite3_set_ns']/1000:.2f} µs", f"{r['set_ratio']:.2f}×", "≤ 1× better-sqlite3 (issue 7)", r["set_ratio"] <= 1)
    row("`blake3Hash` of 64 MiB from Node", f"{r['blake3_64mib_mbps']:,.0f} MB/s", f"node:crypto sha256 {r['sha256_64mib_mbps']:,.0f} MB/s", f"{r['blake3_vs_sha256']:.2f}×", "≥ 3× sha256", r["blake3_vs_sha256"] >= 3)
r = binding("python")
if r:
    row("KV get from Python (`get_state`)", f"{r['get_ns']/1000:.2f} µs", f"stdlib sqlite3 `execute().fetchone()` {r['sqlite3_get_ns']/1000:.2f} µs", f"{r['ratio']:.2f}×", "≤ 1× sqlite3", r["ratio"] <= 1)
    row("KV set from Python (`set_state`)", f"{r['set_ns']/1000:.2f} µs", f"stdlib sqlite3 upsert + commit {r['sqlite3_set_ns']/1000:.2f} µs", f"{r['set_ns']/r['sqlite3_set_ns']:.2f}×", "≤ 1× sqlite3 (issue 7)", r["set_ns"] <= r["sqlite3_set_ns"])
    row("`blake3_hash` of 64 MiB from Python", f"{r['blake3_64mib_mbps']:,.0f} MB/s", f"hashlib sha256 {r['sha256_64mib_mbps']:,.0f} MB/s", f"{r['blake3_64mib_mbps']/r['sha256_64mib_mbps']:.2f}×", "-", True)
mono_note = ""
for n in (100, 1000):
    pre = os.path.join(out, f"mono{n}-")
    if not os.path.exists(pre + "cached.json"):
        continue
    shape = open(pre.rstrip("-") + ".shape").read().strip()
    cached = hyper(pre + "cached.json") | hyper(pre + "cached-nx-daemon.json")
    leaf = hyper(pre + "leaf.json") | hyper(pre + "leaf-nx-daemon.json")
    cold = hyper(pre + "cold.json")
    ms = lambda r: r["median"] * 1000
    alone = ms(hyper(pre + "leaf.json")["command alone"])
    peers = lambda d: ", ".join(f"{k} {ms(v):.0f} ms" for k, v in d.items() if k not in ("buildnet", "command alone"))
    b, t = ms(cached["buildnet"]), ms(cached["turbo"])
    row(f"Fully cached build, {shape} (CLI, one-shot)", f"{b:.0f} ms", peers(cached), f"{b/t:.2f}× turbo", "≤ 0.5× turbo", b <= 0.5 * t)
    dc = ms(hyper(pre + "cached-daemon.json")["buildnet (daemon)"])
    row(f"Fully cached build, {shape}, through a running daemon", f"{dc:.0f} ms", f"turbo {t:.0f} ms", f"{dc/t:.2f}× turbo", "≤ 0.2× turbo", dc <= 0.2 * t)
    bo, to = ms(leaf["buildnet"]) - alone, ms(leaf["turbo"]) - alone
    row(f"One leaf file changed, {shape}: time beyond the rebuilt command", f"{bo:.0f} ms (total {ms(leaf['buildnet']):.0f})",
        peers(leaf) + f"; the command alone {alone:.0f} ms (same rounds)", f"{bo/to:.2f}× turbo's overhead", "≤ 0.2× turbo", bo <= 0.2 * to)
    dl_all = hyper(pre + "leaf-daemon.json")
    dl = ms(dl_all["buildnet (daemon)"]) - ms(dl_all["command alone"])
    row(f"One leaf file changed, {shape}, through the daemon: time beyond the rebuilt command", f"{dl:.0f} ms", f"turbo {to:.0f} ms", f"{dl/to:.2f}× turbo's overhead", "≤ 0.2× turbo", dl <= 0.2 * to)
    bc, tc = ms(cold["buildnet"]), ms(cold["turbo"])
    row(f"Cold build, {shape}, concurrency 2 ({len(cold['buildnet']['times'])} run(s))", f"{bc/1000:.2f} s", ", ".join(f"{k} {ms(v)/1000:.2f} s" for k, v in cold.items() if k != "buildnet"),
        f"{bc/tc:.2f}× turbo", "≤ 1.0× turbo", bc <= tc)
    if os.path.exists(pre + "run-cached.json"):
        rc, rd, rx, rk = (hyper(pre + f) for f in ("run-cached.json", "run-cached-daemon.json", "run-dry.json", "run-cold.json"))
        b, t = ms(rc["buildnet run"]), ms(rc["turbo"])
        row(f"`buildnet run build`, fully cached, {shape}, turbo.json alone (CLI, one-shot)", f"{b:.0f} ms", f"turbo run {t:.0f} ms", f"{b/t:.2f}× turbo", "≤ 0.3× turbo", b <= 0.3 * t)
        d, t2 = ms(rd["buildnet run (daemon)"]), ms(rd["turbo"])
        row(f"`buildnet run build`, fully cached, {shape}, through a running daemon", f"{d:.0f} ms", f"turbo run {t2:.0f} ms (same run)", f"{d/t2:.2f}× turbo", "≤ 0.15× turbo", d <= 0.15 * t2)
        b, t = ms(rk["buildnet run"]), ms(rk["turbo"])
        row(f"`buildnet run build`, cold, {shape}, concurrency 2 ({len(rk['turbo']['times'])} run(s))", f"{b/1000:.2f} s", f"turbo run {t/1000:.2f} s", f"{b/t:.2f}× turbo", "≤ 0.6× turbo", b <= 0.6 * t)
        b, t = ms(rx["buildnet run --dry=json"]), ms(rx["turbo --dry=json"])
        row(f"`buildnet run build --dry=json`, {shape}", f"{b:.0f} ms", f"turbo run --dry=json {t:.0f} ms", f"{b/t:.2f}× turbo", "≤ 0.3× turbo", b <= 0.3 * t)
rc_path = os.path.join(out, "remote-cache.json")
if os.path.exists(rc_path):
    rc = json.load(open(rc_path))
    b, d = rc["buildnet serve"], rc["turborepo-remote-cache"]
    peer = "turborepo-remote-cache"
    row("Remote cache: GET of a 64 KiB turbo artifact, 64 connections (requests/s)", f"{b['rps']:,.0f}", f"{peer} {d['rps']:,.0f}",
        f"{b['rps']/d['rps']:.2f}×", "≥ 3×", b["rps"] >= 3 * d["rps"])
    row("Remote cache: the server's CPU per GET (user + system)", f"{b['cpu_us_per_req']:.0f} µs", f"{peer} {d['cpu_us_per_req']:.0f} µs",
        f"{b['cpu_us_per_req']/d['cpu_us_per_req']:.2f}×", "≤ 0.3×", b["cpu_us_per_req"] <= 0.3 * d["cpu_us_per_req"])
    row("Remote cache: the server's peak RSS under that load", f"{b['rss_peak_mib']:.1f} MiB", f"{peer} {d['rss_peak_mib']:.0f} MiB",
        "-", "≤ 32 MiB", b["rss_peak_mib"] <= 32)
    flat = lambda r: f"RSS {r['big_rss_before_mib']:.0f} → peak {r['big_rss_peak_mib']:.0f} MiB"
    for way, key in (("PUT", "put_mbps"), ("GET", "get_mbps")):
        row(f"Remote cache: {way} of a 256 MiB artifact (curl, loopback)", f"{b[key]:,.0f} MB/s ({flat(b)})", f"{peer} {d[key]:,.0f} MB/s ({flat(d)})",
            f"{b[key]/d[key]:.2f}×", "≥ 1,000 MB/s, memory flat", b[key] >= 1000 and b["big_rss_peak_mib"] - b["big_rss_before_mib"] <= 16)
    if "clone" in rc:
        c = rc["clone"]
        tb, td, bb = c["turbo from buildnet serve"], c["turbo from turborepo-remote-cache"], c["buildnet run from buildnet serve"]
        row(f"Fresh clone of the 100-package monorepo restored by turbo ({rc['clone_runs']} rounds)", f"{tb:.0f} ms from buildnet serve", f"{td:.0f} ms from {peer}",
            f"{tb/td:.2f}×", "≤ 0.8×", tb <= 0.8 * td)
        row("Fresh clone of the 100-package monorepo restored by `buildnet run` from buildnet serve", f"{bb:.0f} ms", f"turbo from {peer} {td:.0f} ms",
            f"{bb/td:.2f}×", "≤ 0.5×", bb <= 0.5 * td)
rx_path = os.path.join(out, "reapi-poll0.05.json")
if os.path.exists(rx_path):
    rx = json.load(open(rx_path))
    n = rx["packages"]
    row(f"Remote execution: {n}-package build through BuildGrid 0.4.4 (intervals 0.05 s), 2 `buildnet worker`s, concurrency 2", f"{rx['remote_ms']/1000:.1f} s",
        f"the same build locally {rx['local_ms']/1000:.2f} s", f"{rx['remote_ms']/rx['local_ms']:.0f}×", "report (no figure set)", True)
    row("Remote execution: overhead per executed target (upload, schedule, run, download; wall time per slot)", f"{(rx['remote_ms']-rx['local_ms'])*2/n:.0f} ms",
        f"engine queue median {rx['first']['queued_ms']} ms, worker median {rx['first']['worker_ms']} ms", "-", "report", True)
    row(f"Remote execution: a fresh clone, all {n} targets from the action cache", f"{rx['action_cache_ms']} ms ({(rx['action_cache_ms']-rx['local_hit_ms'])/n:.1f} ms per hit over a local hit)",
        f"all local hits {rx['local_hit_ms']} ms", f"{rx['action_cache_ms']/rx['local_hit_ms']:.1f}×", "report", True)
    row("Remote execution: bytes uploaded, first build / after one leaf edit", f"{rx['first']['uploaded']:,} B / {rx['second']['uploaded']:,} B",
        f"{rx['second']['targets']} target executed again", "-", "only what changed", rx["second"]["uploaded"] < rx["first"]["uploaded"] / 50)
if os.path.exists(os.path.join(out, "turbo.version")):
    tv = open(os.path.join(out, "turbo.version")).read().strip()
    nv = open(os.path.join(out, "nx.version")).read().strip()
    mono_note = f"\nMonorepo rows: `bench/gen-monorepo` (chained 10 deep), every tool running the packages' `build` script through npm at concurrency 2; turbo {tv} (native binary), nx {nv}; NODE_EXTRA_CA_CERTS unset for all (see bench/bench-monorepo.sh). Leaf rows alternate the tools and the command alone in the same rounds.\n"
text = f"""# BuildNet benchmark results

Written by `scripts/bench.sh{' --quick' if quick else ''}{' --large' if large else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.
Machine: {os.cpu_count()} cores, {cpu}; {platform.system()} {platform.release()}.
Versions: buildnet {ver([os.path.join(repo,'target/release/buildnet'),'--version']).split()[-1]}, {ver(['b3sum','--version'])}, {ver(['xxhsum','--version'])}, {ver(['hyperfine','--version'])}, node {ver(['node','--version'])}, bun {ver([os.path.join(repo,'bench/http/node_modules/.bin/bun'),'--version'])}, {ver([os.path.join(repo,'bench/http/node_modules/.bin/deno'),'--version'])}, {ver(['wrk','--version'])}.
Medians of repeated runs (criterion for the Rust API, hyperfine for commands). {'Quick mode: few repetitions, numbers are noisy (a smoke check of the harness).' if quick else ''}
Noisy rows: requests/s (±20% between rounds on this machine; user CPU per request is the steadier figure) and the leaf rows (a difference of two timings).

![cached builds and HTTP](results.png)

| what | BuildNet | peer, same run | ratio | goal | met |
|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n" + mono_note
os.makedirs(os.path.join(repo, "bench"), exist_ok=True)
open(os.path.join(repo, "bench/RESULTS.md"), "w").write(text)
print(text)
PY

echo "== plotting bench/results.png"
venv="$repo/target/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q matplotlib==3.10.7
"$venv/bin/python" bench/bench-plot.py "$out" bench/results.png
