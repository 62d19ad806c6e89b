#!/usr/bin/env bash
# The HTTP benchmark: GET /health on loopback with `wrk -t1 -c64`, the server pinned to core 0
# and wrk to core 1 (taskset), the same JSON body from every server, all in one run:
# `buildnet serve` (every middleware on), a bare axum server, Node's http, Bun.serve and
# Deno.serve, three rounds round-robin. Reports the median requests/s and p99 latency, and the
# server's *user* CPU per request (utime from /proc/PID/stat over the runs ÷ requests: the
# kernel's loopback TCP costs every server the same; its system time is reported beside). Then
# every server's RSS idle and after at least 1 M requests, and the p99 of buildnet's
# GET /api/v1/state/{key}.
#
#   bench/bench-http.sh OUT_DIR [--quick]      (writes OUT_DIR/http.json)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bench/bench-http.sh OUT_DIR [--quick]}"
seconds=10
[ "${2:-}" = "--quick" ] && seconds=3
mkdir -p "$out"

command -v wrk >/dev/null || { echo "bench-http: wrk is missing (scripts/setup.sh --bench)" >&2; exit 1; }
(cd bench/http && npm ci --no-audit --no-fund --loglevel=error)
cargo build --release --quiet -p buildnet-daemon
cargo build --release --quiet -p buildnet-core --example bare_axum

python3 - "$out/http.json" "$seconds" <<'PY'
import json, os, re, signal, subprocess, sys, tempfile, time, urllib.request
dest, seconds = sys.argv[1], int(sys.argv[2])
# The memory row's load: 1 M requests per server (--quick: what the rounds served).
loaded = 1_000_000 if seconds >= 10 else 0
repo = os.getcwd()
tck = os.sysconf("SC_CLK_TCK")
bin_ = os.path.join(repo, "target/release/buildnet")
http_dir = os.path.join(repo, "bench/http")
ws = tempfile.mkdtemp(prefix="bench-http-")
servers = {
    "buildnet serve": [bin_, "serve", "--port", "{port}"],
    "bare axum": [os.path.join(repo, "target/release/examples/bare_axum"), "{port}"],
    "node http": ["node", os.path.join(http_dir, "node-server.mjs"), "{port}"],
    "Bun.serve": [os.path.join(http_dir, "node_modules/.bin/bun"), "run", os.path.join(http_dir, "bun-server.ts"), "{port}"],
    "Deno.serve": [os.path.join(http_dir, "node_modules/.bin/deno"), "run", "--allow-net", os.path.join(http_dir, "deno-server.ts"), "{port}"],
}

def cpu(pid):
    # utime and stime of the process and every thread it has (fields 14, 15), in seconds.
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / tck, int(fields[12]) / tck

def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

def wrk(url, secs):
    r = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{secs}s", "--latency", url],
                       capture_output=True, text=True, check=True).stdout
    reqs = int(re.search(r"(\d+) requests in", r).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", r)
    p99_ms = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", r)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses")
    return reqs, rps, p99_ms

def start(cmd, port):
    env = dict(os.environ, RUST_LOG="warn", NO_COLOR="1")
    env.pop("BUILDNET_TOKEN", None)
    p = subprocess.Popen(["taskset", "-c", "0"] + [c.replace("{port}", str(port)) for c in cmd],
                         cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return p
        except Exception:
            time.sleep(0.05)
    p.kill()
    raise SystemExit(f"{cmd[0]} did not answer on port {port}")

only = [s for s in os.environ.get("BENCH_HTTP_ONLY", "").split(",") if s]
# Every server runs at once on core 0 (an idle one costs nothing), and the rounds go round-robin
# across them, so a slow spell of the machine falls on all of them alike; medians are reported.
rounds = 3
procs, urls, idle_rss = {}, {}, {}
port = 17890
for name, cmd in servers.items():
    port += 1
    if only and name not in only:
        continue
    procs[name] = start(cmd, port)
    urls[name] = f"http://127.0.0.1:{port}/health"
    time.sleep(0.5)
    idle_rss[name] = rss_mib(procs[name].pid)  # after one /health, before any load
    wrk(urls[name], 2)  # warm-up (JITs, allocators)
runs = {name: [] for name in procs}
for _ in range(rounds):
    for name, p in procs.items():
        (u0, s0) = cpu(p.pid)
        reqs, rps, p99 = wrk(urls[name], seconds)
        (u1, s1) = cpu(p.pid)
        runs[name].append((reqs, rps, p99, u1 - u0, s1 - s0))
median = lambda xs: sorted(xs)[len(xs) // 2]
results = {}
for name, rs in runs.items():
    reqs = sum(r[0] for r in rs)
    r = {"rps": median([x[1] for x in rs]), "p99_ms": median([x[2] for x in rs]),
         "rps_range": [min(x[1] for x in rs), max(x[1] for x in rs)],
         "user_us_per_req": sum(x[3] for x in rs) / reqs * 1e6,
         "sys_us_per_req": sum(x[4] for x in rs) / reqs * 1e6, "requests": reqs}
    results[name] = r
    print(f"{name:16} {r['rps']:>10,.0f} req/s (runs {r['rps_range'][0]:,.0f}-{r['rps_range'][1]:,.0f})"
          f"  p99 {r['p99_ms']:6.2f} ms  user {r['user_us_per_req']:.2f} µs/req  sys {r['sys_us_per_req']:.2f} µs/req",
          flush=True)
# Memory: every server's RSS idle and after at least 1 M requests.
for name, p in procs.items():
    r = results[name]
    total = r["requests"]
    while total < loaded:
        total += wrk(urls[name], 3)[0]
    r["idle_rss_mib"] = idle_rss[name]
    r["rss_after_mib"] = rss_mib(p.pid)
    r["requests_total"] = total
if "buildnet serve" in procs:
    url = urls["buildnet serve"]
    r = results["buildnet serve"]
    base = url.rsplit("/", 1)[0]
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/api/v1/state/bench-key", data=b'{"value":"hello"}', method="PUT")).read()
    _, srps, sp99 = wrk(f"{base}/api/v1/state/bench-key", max(3, seconds // 2))
    r["state_get_rps"], r["state_get_p99_ms"] = srps, sp99
for p in procs.values():
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
b = results.get("buildnet serve")
if b: print(f"buildnet RSS after {b['requests_total']:,} requests: {b['rss_after_mib']:.1f} MiB; "
      f"GET /api/v1/state/{{key}} p99 {b['state_get_p99_ms']:.2f} ms at {b['state_get_rps']:,.0f} req/s")
json.dump(results, open(dest, "w"), indent=1)
PY
