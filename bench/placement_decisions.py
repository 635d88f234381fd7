"""What Umbra's decisions could have been: its recorded candidates, re-decided by other rules.

    placement_decisions.py --report placement.json [--report more.json ...]

`umbra bench placement` records, for every decision of the "umbra" placer, each probed
candidate's predicted steal from its shadow's telemetry (what Umbra decides on), the same
forecaster's prediction from the node's telemetry alone (what the forecast-only placer ranks by)
and the VM's clairvoyant p95 slowdown there over its lookahead (`decisions` in the JSON). This
prints, per condition, how well each prediction ranks the candidates (correlation with the future
within each decision), and what choosing by each, or by a blend of the two, would have cost:
the chosen candidate's future, the regret against the best probed candidate, and the share of
choices within one point of it. Re-deciding ignores that a different choice changes the world for
later arrivals: read it as a diagnostic, and fit a rule only on a world other than the one it is
judged in (e.g. examples/clusters/training.yaml with --trace-half a).
"""
import argparse
import json
import sys

import numpy as np

BLENDS = (0.0, 0.25, 0.5, 0.75, 1.0)  # weight on the shadow's prediction; 0 = node telemetry only


def load(paths):
    conditions = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            for run in report["runs"]:
                key = (run["utilisation"], run["interference"])
                for placer in run["placers"]:
                    if placer["placer"] != "umbra":
                        continue
                    for d in placer.get("decisions", []):
                        ks = [k for k in d["candidates"]
                              if k["shadowSteal"] >= 0 and k["nodeSteal"] >= 0]
                        if len(ks) >= 2:
                            conditions.setdefault(key, []).append(ks)
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit(f"placement_decisions: {path}: not a report of `umbra bench "
                             f"placement` with decisions ({e})")
    return conditions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, action="append")
    args = parser.parse_args()
    conditions = load(args.report)
    if not conditions:
        print("placement_decisions: no recorded decisions in the reports", file=sys.stderr)
        return 1
    print("| background, interference | decisions | corr(shadow, future) | corr(node, future) | "
          "corr(shadow, node) | " + " | ".join(
              f"w={w}: future / regret / right" for w in BLENDS) + " |")
    print("|" + " --- |" * (5 + len(BLENDS)))
    for (util, on), decisions in sorted(conditions.items()):
        centred = {"s": [], "n": [], "y": []}
        for ks in decisions:
            for name, field in (("s", "shadowSteal"), ("n", "nodeSteal"), ("y", "future")):
                v = np.array([k[field] for k in ks])
                centred[name].extend(v - v.mean())
        s, n, y = (np.array(centred[k]) for k in "sny")
        cells = []
        for w in BLENDS:
            chosen, regret, right = [], [], 0
            for ks in decisions:
                futures = [k["future"] for k in ks]
                pick = min(range(len(ks)),
                           key=lambda i: w * ks[i]["shadowSteal"] + (1 - w) * ks[i]["nodeSteal"])
                chosen.append(futures[pick])
                regret.append(futures[pick] - min(futures))
                right += futures[pick] <= min(futures) + 0.01
            cells.append(f"{np.mean(chosen):.4f} / {np.mean(regret):.4f} / "
                         f"{right / len(decisions):.2f}")
        print(f"| {util} %, {'on' if on else 'off'} | {len(decisions)} | "
              f"{np.corrcoef(s, y)[0, 1]:.2f} | {np.corrcoef(n, y)[0, 1]:.2f} | "
              f"{np.corrcoef(s, n)[0, 1]:.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
