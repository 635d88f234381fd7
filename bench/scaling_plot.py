#!/usr/bin/env python3
"""Plots of `umbra bench scaling`: each scaler's trade-off curve (slack against under-provisioned
minutes, one point per setting, the default ringed) per kind of target, and allocation against
demand over two days for the first target of each kind.

  bench/scaling_plot.py --report scaling.json --allocations allocations.csv --plot scaling.png
"""
import argparse
import csv
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCALERS = ["static", "reactive", "vpa", "autopilot", "umbra", "oracle"]
COLOURS = {"static": "grey", "reactive": "tab:orange", "vpa": "tab:green",
           "autopilot": "tab:purple", "umbra": "tab:blue", "oracle": "black"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--allocations", required=True)
    ap.add_argument("--plot", required=True)
    a = ap.parse_args()
    try:
        with open(a.report) as f:
            report = json.load(f)
        rows = defaultdict(list)
        with open(a.allocations) as f:
            for r in csv.DictReader(f):
                rows[(r["kind"], r["series_id"])].append(r)
    except (OSError, ValueError, KeyError) as e:
        print(f"scaling_plot: {e}", file=sys.stderr)
        return 1
    kinds = list(report["kinds"].keys())
    fig, axes = plt.subplots(2, len(kinds), figsize=(5 * len(kinds), 8.5), squeeze=False)
    for col, kind in enumerate(kinds):
        ax = axes[0][col]
        by = defaultdict(list)
        for s in report["kinds"][kind]["settings"]:
            by[s["scaler"]].append(s)
        for name in SCALERS:
            pts = sorted(by.get(name, []), key=lambda s: s["slackPercent"])
            if not pts:
                continue
            ax.plot([p["slackPercent"] for p in pts], [p["underMinutesPerDay"] for p in pts],
                    "o-", color=COLOURS[name], label=name, markersize=3)
            for p in pts:
                if p["default"]:
                    ax.plot(p["slackPercent"], p["underMinutesPerDay"], "o", markersize=9,
                            markerfacecolor="none", color=COLOURS[name])
        ax.set_title(f"{kind}: {report['kinds'][kind]['targets']} targets")
        ax.set_xlabel("slack, % of allocation")
        ax.set_ylabel("under-provisioned minutes per day")
        ax.set_yscale("symlog", linthresh=1)
        ax.grid(alpha=0.3)
        if col == 0:
            ax.legend(fontsize=8)
        ax = axes[1][col]
        first = next((k for k in rows if k[0] == kind), None)
        if first is None:
            ax.set_visible(False)
            continue
        rs = rows[first]
        steps = [int(r["step"]) for r in rs]
        ax.plot(steps, [float(r["demand"]) for r in rs], color="red", lw=0.8, label="demand")
        for name in ["reactive", "vpa", "autopilot", "umbra", "oracle"]:
            ax.step(steps, [float(r[name]) for r in rs], where="post", color=COLOURS[name],
                    lw=0.9, label=name)
        ax.set_title(f"{first[1]} ({kind}), first two evaluated days", fontsize=9)
        ax.set_xlabel("step (300 s)")
        ax.grid(alpha=0.3)
        if col == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.plot, dpi=110)
    print(f"scaling_plot: wrote {a.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
