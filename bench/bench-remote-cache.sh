#!/usr/bin/env bash
# The remote cache served by `buildnet serve` beside ducktors' turborepo-remote-cache (npm, the
# server turbo users run themselves), one run, same machine:
#   - GET of a 64 KiB artifact over 64 connections (`wrk -t1 -c64`, the server on core 0, wrk on
#     core 1): requests/s, the server's CPU per request (utime + stime from /proc/PID/stat over
#     the run ÷ requests) and its peak RSS during the load (sampled every 50 ms);
#   - PUT then GET of a 256 MiB artifact with curl (streamed from a file, to /dev/null; the
#     server not pinned, so it may use both cores as it would): MB/s each, the server's RSS
#     before, at its peak during, and after, and one more GET compared byte for byte;
#   - a fresh clone of the 100-package monorepo (bench/work/mono-100-turbo, which
#     bench/bench-monorepo.sh makes) restored by turbo from each server, and by `buildnet run`
#     from buildnet serve, every cache filled once beforehand; rounds alternate the three, each
#     run in a new clone (node_modules linked as after an install, `sync` before the clock
#     starts, so one run's writeback does not fall on the next); medians of the rounds. No
#     clone is removed until the end: ext4 makes creating files slow right after many were
#     deleted (`recently_deleted` in its inode allocator), which would fall on whichever tool
#     runs next.
#
#   bench/bench-remote-cache.sh OUT_DIR [--quick]      (writes OUT_DIR/remote-cache.json)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bench/bench-remote-cache.sh OUT_DIR [--quick]}"
quick=0
[ "${2:-}" = "--quick" ] && quick=1
mkdir -p "$out"
command -v wrk >/dev/null || { echo "bench-remote-cache: wrk is missing (scripts/setup.sh --bench)" >&2; exit 1; }
(cd tests/remote-cache && [ -d node_modules/turborepo-remote-cache ] || npm ci --no-audit --no-fund --loglevel=error)
cargo build --release --quiet -p buildnet-daemon

python3 - "$out/remote-cache.json" "$quick" <<'PY'
import json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request
dest, quick = sys.argv[1], sys.argv[2] == "1"
repo = os.getcwd()
tck = os.sysconf("SC_CLK_TCK")
bin_ = os.path.join(repo, "target/release/buildnet")
work = tempfile.mkdtemp(prefix="bench-remote-cache-")
TOKEN = "bench-token"
seconds = 3 if quick else 10
big_runs = 1 if quick else 3
clone_runs = 3 if quick else 10
env0 = {k: v for k, v in os.environ.items() if not k.startswith(("TURBO_", "BUILDNET_", "npm_"))}
env0.pop("NODE_EXTRA_CA_CERTS", None)
env0.update(TURBO_TELEMETRY_DISABLED="1", DO_NOT_TRACK="1", TURBO_NO_UPDATE_NOTIFIER="1")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tck

def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

class Peak:
    """The highest RSS of `pid` while the block runs (sampled every 50 ms)."""
    def __init__(self, pid): self.pid, self.peak, self.stop = pid, 0.0, False
    def __enter__(self):
        def loop():
            while not self.stop:
                self.peak = max(self.peak, rss_mib(self.pid)); time.sleep(0.05)
        self.t = threading.Thread(target=loop); self.t.start(); return self
    def __exit__(self, *a):
        self.stop = True; self.t.join(); self.peak = max(self.peak, rss_mib(self.pid))

def wait_up(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"}), timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"no answer from {url}")

def start_buildnet(name, pin=True):
    ws = os.path.join(work, name); os.makedirs(ws)
    with open(os.path.join(ws, "buildnet.yaml"), "w") as f:
        f.write(f"targets: {{}}\nserver:\n  token: {TOKEN}\n")
    port = free_port()
    p = subprocess.Popen((["taskset", "-c", "0"] if pin else []) + [bin_, "serve", "--port", str(port)], cwd=ws, env=env0,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"; wait_up(url + "/v8/artifacts/status"); return p, url

def start_ducktors(name, pin=True):
    store = os.path.join(work, name); os.makedirs(store)
    port = free_port()
    env = dict(env0, HOST="127.0.0.1", PORT=str(port), STORAGE_PROVIDER="local", STORAGE_PATH=store,
               STORAGE_PATH_USE_TMP_FOLDER="false", TURBO_TOKEN=TOKEN, LOG_LEVEL="error",
               BODY_LIMIT=str(512 * 1024 * 1024))
    cli = os.path.join(repo, "tests/remote-cache/node_modules/turborepo-remote-cache/dist/cli.js")
    p = subprocess.Popen((["taskset", "-c", "0"] if pin else []) + ["node", cli], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"; wait_up(url + "/v8/artifacts/status"); return p, url

def curl(*args):
    r = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {TOKEN}", *args], capture_output=True, text=True, check=True)
    return r.stdout

def wrk(url):
    r = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency",
                        "-H", f"Authorization: Bearer {TOKEN}", url], capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", r):
        raise SystemExit(f"wrk saw errors from {url}:\n{r}")
    return int(re.search(r"(\d+) requests in", r).group(1)), float(re.search(r"Requests/sec:\s+([\d.]+)", r).group(1))

results = {}
small = os.path.join(work, "small.bin"); open(small, "wb").write(os.urandom(64 * 1024))
big = os.path.join(work, "big.bin")
with open(big, "wb") as f:
    for _ in range(256):
        f.write(os.urandom(1024 * 1024))
big_mb = os.path.getsize(big) / 1e6
for name, start in (("buildnet serve", start_buildnet), ("turborepo-remote-cache", start_ducktors)):
    p, url = start(name.replace(" ", "-"))
    try:
        art = f"{url}/v8/artifacts/0123456789abcdef?slug=bench"
        assert curl("-o", "/dev/null", "-w", "%{http_code}", "-T", small, "-H", "Content-Type: application/octet-stream", art) == "200"
        wrk(art)  # warm-up
        c0 = cpu(p.pid)
        with Peak(p.pid) as peak:
            reqs, rps = wrk(art)
        used = cpu(p.pid) - c0
        r = {"rps": rps, "requests": reqs, "cpu_us_per_req": used / reqs * 1e6, "rss_peak_mib": peak.peak}
    finally:
        p.send_signal(signal.SIGTERM); p.wait(timeout=30)
    p, url = start(name.replace(" ", "-") + "-big", pin=False)
    try:
        puts, gets = [], []
        rss_before = rss_mib(p.pid)
        with Peak(p.pid) as bigpeak:
            for i in range(big_runs):
                bart = f"{url}/v8/artifacts/fedcba98765432{i:02d}?slug=bench"
                t = curl("-o", "/dev/null", "-w", "%{time_total} %{http_code}", "-T", big, "-H", "Content-Type: application/octet-stream", bart).split()
                assert t[1] == "200", t
                puts.append(big_mb / float(t[0]))
                t = curl("-o", "/dev/null", "-w", "%{time_total} %{http_code} %{size_download}", bart).split()
                assert t[1] == "200" and int(t[2]) == os.path.getsize(big), t
                gets.append(big_mb / float(t[0]))
        r.update(put_mbps=statistics.median(puts), get_mbps=statistics.median(gets),
                 big_rss_before_mib=rss_before, big_rss_peak_mib=bigpeak.peak, big_rss_after_mib=rss_mib(p.pid))
        curl("-o", os.path.join(work, "got.bin"), bart)
        if subprocess.run(["cmp", "-s", big, os.path.join(work, "got.bin")]).returncode != 0:
            raise SystemExit(f"{name} returned a different 256 MiB artifact")
        os.remove(os.path.join(work, "got.bin"))
        results[name] = r
    finally:
        p.send_signal(signal.SIGTERM); p.wait(timeout=30)
    print(f"{name}: {r['rps']:,.0f} GET/s, {r['cpu_us_per_req']:.1f} µs CPU/req, peak {r['rss_peak_mib']:.1f} MiB; "
          f"256 MiB PUT {r['put_mbps']:,.0f} MB/s, GET {r['get_mbps']:,.0f} MB/s, RSS {r['big_rss_before_mib']:.0f}/{r['big_rss_peak_mib']:.0f}/{r['big_rss_after_mib']:.0f} MiB", flush=True)

# Fresh clones of the 100-package monorepo restored from a filled cache.
mono = os.path.join(repo, "bench/work/mono-100-turbo")
if os.path.isdir(os.path.join(mono, ".git")):
    turbo = next(os.path.join(mono, "node_modules/@turbo", d, "bin/turbo") for d in os.listdir(os.path.join(mono, "node_modules/@turbo")))
    nm = os.path.realpath(os.path.join(mono, "node_modules"))
    bp, burl = start_buildnet("clone-buildnet", pin=False)
    dp, durl = start_ducktors("clone-ducktors", pin=False)
    try:
        def fresh(name):
            d = os.path.join(work, "clones", name)
            subprocess.run(["git", "clone", "-q", mono, d], check=True)
            os.symlink(nm, os.path.join(d, "node_modules"))
            subprocess.run(["sync"], check=True)
            return d
        cases = {
            "turbo from turborepo-remote-cache": (f"{turbo} run build --concurrency=2", durl),
            "turbo from buildnet serve": (f"{turbo} run build --concurrency=2", burl),
            "buildnet run from buildnet serve": (f"{bin_} run build --concurrency=2", burl),
        }
        envs = {label: dict(env0, TURBO_API=url, TURBO_TOKEN=TOKEN, TURBO_TEAM="bench") for label, (_, url) in cases.items()}
        for label, (cmd, _) in cases.items():
            subprocess.run(cmd, shell=True, cwd=fresh(f"fill-{list(cases).index(label)}"), env=envs[label], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = {label: [] for label in cases}
        for round_ in range(clone_runs + 1):
            for label, (cmd, _) in cases.items():
                d = fresh(f"measured-{round_}-{list(cases).index(label)}")
                start = time.perf_counter()
                shown = subprocess.run(cmd, shell=True, cwd=d, env=envs[label], check=True, capture_output=True, text=True).stdout
                took = (time.perf_counter() - start) * 1000
                if "FULL TURBO" not in shown:
                    raise SystemExit(f"{label}: a fresh clone was not restored whole:\n{shown[-2000:]}")
                if round_ > 0:  # the first round warms up
                    times[label].append(took)
        results["clone"] = {label: statistics.median(t) for label, t in times.items()}
        results["clone_runs"] = clone_runs
        print("fresh clones (ms):", {k: round(v) for k, v in results["clone"].items()}, flush=True)
    finally:
        for p in (bp, dp):
            p.send_signal(signal.SIGTERM); p.wait(timeout=30)
json.dump(results, open(dest, "w"), indent=1)
shutil.rmtree(work, ignore_errors=True)
PY
