"""CDF of each placed VM's p95 steal, per placer, one panel per condition (every seed pooled).

    placement_cdf.py --report bench/results/placement.json [--report more.json ...] \
        --plot bench/results/placement_cdf.png
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, action="append")
    parser.add_argument("--plot", required=True)
    args = parser.parse_args()
    conditions = {}  # (utilisation, interference) -> placer -> p95s
    titles = []
    for path in args.report:
        try:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            for run in report["runs"]:
                key = (run["utilisation"], run["interference"])
                for placer in run["placers"]:
                    conditions.setdefault(key, {}).setdefault(placer["placer"], []).extend(
                        vm["p95Steal"] for vm in placer["vms"])
            titles.append(f'{report["cluster"]}, seeds {report["seeds"]}, model {report["model"]}')
        except (OSError, ValueError, KeyError) as e:
            print(f"placement_cdf: {path}: {e}", file=sys.stderr)
            return 1
    runs = sorted(conditions.items(), key=lambda kv: (kv[0][0], not kv[0][1]))
    columns = 2
    rows = (len(runs) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), squeeze=False)
    for ax, ((utilisation, interference), placers) in zip(axes.flat, runs):
        for name, p95s in placers.items():
            values = sorted(p95s)
            n = len(values)
            if n == 0:
                continue
            ax.step(values, [(i + 1) / n for i in range(n)], where="post",
                    label=f'{name} (mean {sum(values) / n:.3f}, {n} VMs)')
        ax.set_title(f'background {utilisation} %, interference '
                     f'{"on" if interference else "off"}')
        ax.set_xlabel("p95 steal of a placed VM over its 24 h")
        ax.set_ylabel("share of placed VMs")
        ax.set_xscale("symlog", linthresh=0.01)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(runs):]:
        ax.set_visible(False)
    fig.suptitle("; ".join(sorted(set(titles))), fontsize=9)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
