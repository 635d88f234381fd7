"""CDF of each placed VM's p95 steal, per placer, one panel per benchmark run.

    placement_cdf.py --report bench/results/placement.json --plot bench/results/placement_cdf.png
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True)
    parser.add_argument("--plot", required=True)
    args = parser.parse_args()
    try:
        with open(args.report, encoding="utf-8") as f:
            report = json.load(f)
        runs = report["runs"]
    except (OSError, ValueError, KeyError) as e:
        print(f"placement_cdf: {args.report}: {e}", file=sys.stderr)
        return 1
    columns = 2
    rows = (len(runs) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), squeeze=False)
    for ax, run in zip(axes.flat, runs):
        for placer in run["placers"]:
            values = sorted(vm["p95Steal"] for vm in placer["vms"])
            n = len(values)
            ax.step(values, [(i + 1) / n for i in range(n)], where="post",
                    label=f'{placer["placer"]} (mean {placer["meanP95Steal"]:.3f})')
        ax.set_title(f'background {run["utilisation"]} %, interference '
                     f'{"on" if run["interference"] else "off"}')
        ax.set_xlabel("p95 steal of a placed VM over its 24 h")
        ax.set_ylabel("share of placed VMs")
        ax.set_xscale("symlog", linthresh=0.01)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(runs):]:
        ax.set_visible(False)
    fig.suptitle(f'{report["cluster"]}, seed {report["seed"]}, model {report["model"]}', fontsize=9)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
