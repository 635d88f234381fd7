#!/usr/bin/env python3
"""How much each group of the contention map's inputs helps to choose a node (a diagnostic).

Reads simulated outcomes written by `umbra train-contention --save-outcomes FILE` (JSON lines, one
per candidate; consecutive lines of one arrival and decision time are one decision) and reports,
for linear least-squares fits of the CPU outcome on the map's node terms alone and with the
shadow's terms added, the decision regret in 5-fold cross-validation over decisions: for each
held-out decision, the outcome of the candidate with the lowest prediction less the best
candidate's. The features are those of the map's CPU head (src/model/contention_map.cc), fitted by
least squares instead of the map's pinball loss, so the figures rank the inputs; they are not the
map's own. Also prints, within decisions, the correlation of the probe's loss with the outcome and
with the node's p50 load forecast.

  bench/contention_regret.py OUTCOMES.jsonl [OUTCOMES.jsonl ...]
"""
import json
import sys

import numpy as np


def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not a JSON line ({e.msg})")
    if not rows:
        sys.exit(f"{path}: no outcomes")
    return rows


def decisions(rows):
    out, key = [], None
    for i, r in enumerate(rows):
        k = (r["time"], r["target"].split("@")[0])
        if k != key:
            out.append([])
            key = k
        out[-1].append(i)
    return [np.array(d) for d in out if len(d) >= 2]


def report(path):
    rows = load(path)
    try:
        col = lambda k: np.array([r["inputs"][k] for r in rows], dtype=float)
        y = np.array([r["actual"]["cpuContention"] for r in rows], dtype=float)
        share, p50, p90, now = col("cpuShare"), col("nodeUtilP50"), col("nodeUtilP90"), col("nodeUtilNow")
        peak = col("nodeUtilDayP95") + share
        swing = np.sqrt(np.maximum(col("nodeUtilHourSd"), 0))
        steal, steal_sd = col("shadowSteal"), col("shadowStealSd")
        probe, probe_sd = col("probeLoss"), col("probeLossSd")
    except KeyError as e:
        sys.exit(f"{path}: an outcome has no input {e}")
    hinge = lambda x: np.maximum(0, x)
    rho50, rho90 = p50 + share, p90 + share
    node = [now, p50, p90, share, hinge(rho50 - 0.6), hinge(rho50 - 0.8), hinge(rho90 - 0.9),
            peak, hinge(peak - 0.8), swing]
    sets = {
        "node terms": node,
        "+ probe loss": node + [probe],
        "+ shadow steal": node + [steal],
        "+ all shadow terms": node + [steal, steal_sd, steal * rho50, probe, probe_sd],
    }
    dec = decisions(rows)
    folds = np.array_split(np.random.default_rng(0).permutation(len(dec)), 5)
    print(f"{path}: {len(rows)} outcomes, {len(dec)} decisions")
    for name, features in sets.items():
        x = np.column_stack([np.ones(len(y))] + features)
        regrets = []
        for fold in folds:
            held = set(fold.tolist())
            train = np.concatenate([d for j, d in enumerate(dec) if j not in held])
            w, *_ = np.linalg.lstsq(x[train], y[train], rcond=None)
            for j in fold:
                d = dec[j]
                regrets.append(y[d][np.argmin(x[d] @ w)] - y[d].min())
        regrets = np.array(regrets)
        print(f"  {name:20s} regret {regrets.mean():.4f} ± {regrets.std() / np.sqrt(len(regrets)):.4f}")

    def within(a, b):
        da = np.concatenate([a[d] - a[d].mean() for d in dec])
        db = np.concatenate([b[d] - b[d].mean() for d in dec])
        return np.corrcoef(da, db)[0, 1]

    print(f"  within decisions: corr(probe loss, outcome) {within(probe, y):.2f}, "
          f"corr(probe loss, p50 forecast) {within(probe, p50):.2f}, "
          f"corr(p50 forecast, outcome) {within(p50, y):.2f}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    for path in sys.argv[1:]:
        try:
            report(path)
        except OSError as e:
            sys.exit(f"{path}: {e.strerror}")


if __name__ == "__main__":
    main()
