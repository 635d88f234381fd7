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

# Each rule: the candidate with the least of this (what re-decides a recorded decision).
RULES = {
    "shadow": lambda k: k["shadowSteal"],  # what Umbra decides on
    "node telemetry": lambda k: k["nodeSteal"],  # what forecast-only ranks by
    "½ each": lambda k: 0.5 * k["shadowSteal"] + 0.5 * k["nodeSteal"],
    "load-risk": lambda k: k["loadRisk"],  # Trimaran LoadVariationRiskBalancing's score
    "node's day p95": lambda k: k["nodeDayP95"],
}
# Within-decision correlations with the future (and between the two predictions).
SIGNALS = {"shadow": "shadowSteal", "node": "nodeSteal", "load-risk": "loadRisk",
           "day p95": "nodeDayP95"}


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
    print("| background, interference | decisions | " + " | ".join(
        f"corr({n}, future)" for n in SIGNALS) + " | corr(shadow, node) | " + " | ".join(
        f"by {r}: future / regret / right" for r in RULES) + " |")
    print("|" + " --- |" * (3 + len(SIGNALS) + len(RULES)))
    for (util, on), decisions in sorted(conditions.items()):
        centred = {field: [] for field in list(SIGNALS.values()) + ["future"]}
        for ks in decisions:
            for field, values in centred.items():
                v = np.array([k[field] for k in ks])
                values.extend(v - v.mean())
        corr = {f: np.corrcoef(centred[f], centred["future"])[0, 1] for f in SIGNALS.values()}
        cells = []
        for rule in RULES.values():
            chosen, regret, right = [], [], 0
            for ks in decisions:
                futures = [k["future"] for k in ks]
                pick = min(range(len(ks)), key=lambda i: rule(ks[i]))
                chosen.append(futures[pick])
                regret.append(futures[pick] - min(futures))
                right += futures[pick] <= min(futures) + 0.01
            cells.append(f"{np.mean(chosen):.4f} / {np.mean(regret):.4f} / "
                         f"{right / len(decisions):.2f}")
        print(f"| {util} %, {'on' if on else 'off'} | {len(decisions)} | " + " | ".join(
            f"{corr[f]:.2f}" for f in SIGNALS.values()) + " | "
            f"{np.corrcoef(centred['shadowSteal'], centred['nodeSteal'])[0, 1]:.2f} | "
            + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
