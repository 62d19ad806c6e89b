#!/usr/bin/env bash
# Benchmarks BuildNet side by side with what a user would use instead, in one run, and writes
# bench/RESULTS.md. Release builds; medians of repeated runs.
#
#   scripts/bench.sh           full run
#   scripts/bench.sh --quick   smoke run (fewer repetitions, a smaller file)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --bench
cargo build --release --quiet -p buildnet-daemon
bin="$repo/target/release/buildnet"
work="$repo/bench/work"
out="$work/results"
rm -rf "$work"
mkdir -p "$out"

if [ "$quick" -eq 1 ]; then
  size_mib=256; runs=5; startup_runs=50; crit_time=1
else
  size_mib=1024; runs=15; startup_runs=300; crit_time=4
fi

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
hyperfine -N --warmup 20 --runs "$startup_runs" --export-json "$out/startup.json" \
  -n "buildnet --version" "$bin --version" \
  -n "b3sum --version" "b3sum --version"

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
  scripts/bench-http.sh "$out" --quick
else
  scripts/bench-http.sh "$out"
fi

echo "== monorepo builds beside turbo and nx"
if [ "$quick" -eq 1 ]; then
  scripts/bench-monorepo.sh "$out" --quick --packages 100
else
  scripts/bench-monorepo.sh "$out" --packages 100
fi

echo "== bindings beside each runtime's SQLite"
scripts/bench-bindings.sh "$out"

echo "== writing bench/RESULTS.md"
python3 - "$repo" "$out" "$size_mib" "$quick" <<'PY'
import json, os, platform, subprocess, sys, time
repo, out, size_mib, quick = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
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
row("`buildnet --version`, start to exit", f"{v:.2f} ms", f"b3sum --version {start['b3sum --version']['median']*1000:.2f} ms", "-", "≤ 2 ms", v <= 2)
row("`buildnet serve`: start until /health answers", f"{serve['ready_ms']:.1f} ms", "-", "-", "≤ 20 ms (issue 7)", serve['ready_ms'] <= 20)
row("`buildnet serve` idle RSS", f"{serve['idle_rss_mib']:.1f} MiB", "bare axum ≈ 3 MB (issue note)", "-", "≤ 10 MB", serve['idle_rss_mib'] <= 10)
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
    row(f"`buildnet serve` RSS after {b['requests_total']:,} requests", f"{b['rss_after_mib']:.1f} MiB", "-", "-", "≤ 20 MB", b["rss_after_mib"] <= 20)
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
if os.path.exists(os.path.join(out, "mono-cached.json")):
    cached = hyper(os.path.join(out, "mono-cached.json")) | hyper(os.path.join(out, "mono-cached-nx-daemon.json"))
    leaf = hyper(os.path.join(out, "mono-leaf.json")) | hyper(os.path.join(out, "mono-leaf-nx-daemon.json"))
    cold = hyper(os.path.join(out, "mono-cold.json"))
    cmd = list(hyper(os.path.join(out, "mono-command.json")).values())[0]["median"]
    ms = lambda r: r["median"] * 1000
    peers = lambda d: ", ".join(f"{k} {ms(v):.0f} ms" for k, v in d.items() if k != "buildnet")
    b, t = ms(cached["buildnet"]), ms(cached["turbo"])
    row("Fully cached build, 100 packages × 20 files (CLI, one-shot)", f"{b:.0f} ms", peers(cached), f"{b/t:.2f}× turbo", "≤ 0.5× turbo", b <= 0.5 * t)
    bo, to = ms(leaf["buildnet"]) - cmd*1000, ms(leaf["turbo"]) - cmd*1000
    row("One leaf file changed: time beyond the rebuilt command", f"{bo:.0f} ms (total {ms(leaf['buildnet']):.0f})",
        peers(leaf) + f"; the command alone {cmd*1000:.0f} ms", f"{bo/to:.2f}× turbo's overhead", "≤ 0.2× turbo", bo <= 0.2 * to)
    if os.path.exists(os.path.join(out, "mono-cached-daemon.json")):
        dc = ms(hyper(os.path.join(out, "mono-cached-daemon.json"))["buildnet (daemon)"])
        dl = ms(hyper(os.path.join(out, "mono-leaf-daemon.json"))["buildnet (daemon)"]) - cmd*1000
        row("Fully cached build through the daemon (`serve --watch`, `buildnet build` hands off)", f"{dc:.0f} ms", f"turbo {t:.0f} ms", f"{dc/t:.2f}× turbo", "≤ 0.5× turbo", dc <= 0.5 * t)
        row("One leaf file changed, through the daemon: time beyond the rebuilt command", f"{dl:.0f} ms", f"turbo {to:.0f} ms", f"{dl/to:.2f}× turbo's overhead", "≤ 0.2× turbo", dl <= 0.2 * to)
    bc, tc = ms(cold["buildnet"]), ms(cold["turbo"])
    row("Cold build, concurrency 2", f"{bc/1000:.2f} s", ", ".join(f"{k} {ms(v)/1000:.2f} s" for k, v in cold.items() if k != "buildnet"),
        f"{bc/tc:.2f}× turbo", "≤ 1.0× turbo", bc <= tc)
    tv = open(os.path.join(out, "turbo.version")).read().strip()
    nv = open(os.path.join(out, "nx.version")).read().strip()
    mono_note = f"\nMonorepo rows: `scripts/gen-monorepo` (100 packages × 20 files, chained 10 deep), every tool running the packages' `build` script through npm at concurrency 2; turbo {tv} (native binary), nx {nv}; NODE_EXTRA_CA_CERTS unset for all (see scripts/bench-monorepo.sh).\n"
text = f"""# BuildNet benchmark results

Written by `scripts/bench.sh{' --quick' if quick else ''}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.
Machine: {os.cpu_count()} cores, {cpu}; {platform.system()} {platform.release()}.
Versions: buildnet {ver([os.path.join(repo,'target/release/buildnet'),'--version']).split()[-1]}, {ver(['b3sum','--version'])}, {ver(['xxhsum','--version'])}, {ver(['hyperfine','--version'])}.
Medians of repeated runs (criterion for the Rust API, hyperfine for commands). {'Quick mode: few repetitions, numbers are noisy.' if quick else ''}

| what | BuildNet | peer, same run | ratio | goal | met |
|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n" + mono_note
os.makedirs(os.path.join(repo, "bench"), exist_ok=True)
open(os.path.join(repo, "bench/RESULTS.md"), "w").write(text)
print(text)
PY
