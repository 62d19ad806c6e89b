"""Plots the cached-build and HTTP rows of a bench run next to bench/RESULTS.md.

    python bench/bench-plot.py OUT_DIR bench/results.png   (matplotlib; scripts/bench.sh
                                                           installs it into a venv)
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out, dest = sys.argv[1], sys.argv[2]


def hyper(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return {}
    return {r["command"]: r["median"] * 1000 for r in json.load(open(path))["results"]}


panels = []
for n in (100, 1000):
    cached = hyper(f"mono{n}-cached.json") | hyper(f"mono{n}-cached-nx-daemon.json") | hyper(f"mono{n}-cached-daemon.json")
    if cached:
        panels.append((f"Fully cached build, {n} packages (ms, lower is better)", cached))
http_path = os.path.join(out, "http.json")
http = json.load(open(http_path)) if os.path.exists(http_path) else {}

fig, axes = plt.subplots(1, len(panels) + (2 if http else 0), figsize=(5.2 * (len(panels) + (2 if http else 0)), 4.2))
axes = list(axes) if hasattr(axes, "__len__") else [axes]
ours = "#2a7ae2"
peer = "#9aa5b1"


def bars(ax, title, data, fmt):
    names = list(data)
    values = [data[k] for k in names]
    colors = [ours if k.startswith("buildnet") else peer for k in names]
    ax.barh(names, values, color=colors)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt(v), va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.25)
    ax.tick_params(labelsize=8)


for ax, (title, data) in zip(axes, panels):
    bars(ax, title, dict(sorted(data.items(), key=lambda kv: kv[1])), lambda v: f"{v:.0f}")
if http:
    bars(axes[len(panels)], "GET /health: server user CPU per request (µs, lower is better)",
         {k: r["user_us_per_req"] for k, r in http.items()}, lambda v: f"{v:.2f}")
    bars(axes[len(panels) + 1], "GET /health: requests/s, thousands (higher is better)",
         {k: r["rps"] / 1000 for k, r in http.items()}, lambda v: f"{v:.0f}k")
fig.tight_layout()
fig.savefig(dest, dpi=110)
print(f"wrote {dest}")
