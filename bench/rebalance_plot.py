#!/usr/bin/env python3
"""Plot of `umbra bench rebalance`: for each load level, every rebalancer's run as a point of
migrations a day (x) against VM-minutes over the steal SLO (y), both on log scales (zero drawn at
the axis' floor), one marker per seed; lower left is better.

  bench/rebalance_plot.py --report rebalance-15.json --report rebalance-25.json --plot rebalance.png
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def family(name: str) -> str:
    for prefix in ("relieve", "low-node", "umbra-without", "umbra", "oracle", "none"):
        if name.startswith(prefix):
            return prefix
    return name


COLOURS = {"none": "grey", "low-node": "tab:green", "relieve": "tab:orange", "umbra": "tab:blue",
           "umbra-without": "lightsteelblue", "oracle": "black"}
LABELS = {"none": "none", "low-node": "LowNodeUtilization (requests)",
          "relieve": "RelieveAndMigrate-style (6 settings)", "umbra": "Umbra",
          "umbra-without": "Umbra without companions", "oracle": "oracle (greedy, clairvoyant)"}
MARKERS = ["o", "s", "^", "D", "v"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", action="append", required=True)
    ap.add_argument("--plot", required=True)
    a = ap.parse_args()
    reports = []
    try:
        for path in a.report:
            with open(path) as f:
                reports.append(json.load(f))
    except (OSError, ValueError) as e:
        print(f"rebalance_plot: {e}", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, len(reports), figsize=(6.5 * len(reports), 5), squeeze=False)
    for ax, report in zip(axes[0], reports):
        seen = set()
        for k, run in enumerate(report["runs"]):
            for r in run["rebalancers"]:
                fam = family(r["rebalancer"])
                label = LABELS[fam] if fam not in seen else None
                seen.add(fam)
                hollow = fam == "none"  # a ring: LowNodeUtilization often sits on it
                ax.scatter(max(r["migrations"], 0.5), max(r["vmMinutesOverSlo"], 0.5),
                           facecolors="none" if hollow else COLOURS[fam],
                           edgecolors=COLOURS[fam], marker=MARKERS[k % len(MARKERS)],
                           s=110 if hollow else 40, label=label, alpha=0.85)
        load = round(100 * sum(r["utilisation"] for r in report["runs"]) / len(report["runs"]))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("migrations in 24 h (0 drawn at 0.5)")
        ax.set_ylabel("VM-minutes over the steal SLO")
        ax.set_title(f"mean node CPU {load} %, seeds as markers")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
