#!/usr/bin/env python3
"""Python's statsmodels on exactly the splits and origins of `umbra bench forecast`.

Reads the series the C++ benchmark evaluated (--export-series CSV) and its JSON report, fits
statsmodels' ExponentialSmoothing (additive trend and daily season) and ARIMA on each series'
training part, forecasts from the same rolling origins, scores them the same way (MASE scaled by
the in-sample seasonal-naive MAE, sMAPE, MAE, p90 coverage from in-sample h-step errors, forecasts
clamped to [0, 1]) and prints one table with every method. Optionally plots forecast vs actual.

  forecast_peers.py --series series.csv --report forecast.json [--forecasts forecasts.csv]
                    [--plot out.png] [--markdown out.md] [--arima-fit-points 1000] [--jobs 2]
"""
import argparse
import json
import multiprocessing
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def mase_scale(train, observed, period):
    def scale(lag):
        a, b = train[lag:], train[:-lag]
        ok = observed[lag:] & observed[:-lag]
        return float(np.mean(np.abs(a[ok] - b[ok]))) if ok.any() else 0.0
    s = scale(period)
    return s if s > 1e-12 else scale(1)


def residual_margin(forecast_at, train, observed, horizon, first):
    """90th percentile of in-sample h-step errors (actual - p50), per step, floored at 0."""
    n = len(train)
    origins = np.arange(first, n - horizon)
    if len(origins) > 1500:
        origins = origins[:: len(origins) // 1500 + 1]
    if len(origins) == 0:
        return np.zeros(horizon)
    f = forecast_at(origins)  # [len(origins), horizon]
    idx = origins[:, None] + 1 + np.arange(horizon)[None, :]
    err = np.where(observed[idx], train[idx] - f, np.nan)
    return np.maximum(0.0, np.nan_to_num(np.nanquantile(err, 0.9, axis=0)))


def holt_winters(values, split, period, horizon):
    """statsmodels ExponentialSmoothing fitted on the training part; its smoothing parameters and
    initial states then run over the whole series, so every origin has its filtered state."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    # "heuristic" initial states (statsmodels' classical decomposition of the first seasons):
    # estimating 288 initial seasonal states by likelihood takes minutes per series.
    fit = ExponentialSmoothing(values[:split], trend="add", seasonal="add",
                               seasonal_periods=period,
                               initialization_method="heuristic").fit()
    p = fit.params
    full = ExponentialSmoothing(values, trend="add", seasonal="add", seasonal_periods=period,
                                initialization_method="known",
                                initial_level=p["initial_level"],
                                initial_trend=p["initial_trend"],
                                initial_seasonal=p["initial_seasons"]).fit(
        smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"],
        smoothing_seasonal=p["smoothing_seasonal"], optimized=False)
    level, trend, season = np.asarray(full.level), np.asarray(full.trend), np.asarray(full.season)

    def at(origins):
        h = np.arange(1, horizon + 1)[None, :]
        o = origins[:, None]
        s_idx = np.clip(o + h - period, 0, len(values) - 1)
        return level[o] + h * trend[o] + season[s_idx]
    return at


def arima(values, split, horizon, fit_points, order=(2, 0, 1)):
    """statsmodels ARIMA(2,0,1) with a constant, fitted on the newest `fit_points` of the training
    part; the fitted parameters then filter the whole series (no refit), and h-step forecasts from
    every origin come from the state-space recursion."""
    from statsmodels.tsa.arima.model import ARIMA
    start = max(0, split - fit_points)
    res = ARIMA(values[start:split], order=order, trend="c").fit()
    full = res.apply(values)
    fr = full.filter_results
    Z = np.asarray(fr.design)[:, :, 0]
    T = np.asarray(fr.transition)[:, :, 0]
    c = np.asarray(fr.state_intercept)[:, 0]
    d = float(np.asarray(fr.obs_intercept)[0, 0])
    pred = np.asarray(fr.predicted_state)  # [k, n+1]: a_{t+1|t} at column t+1

    def at(origins):
        a = pred[:, origins + 1]
        out = np.empty((len(origins), horizon))
        for h in range(horizon):
            out[:, h] = (Z @ a)[0] + d
            a = T @ a + c[:, None]
        return out
    return at

_DATA = None


def _load(path):
    global _DATA
    frame = pd.read_csv(path)
    _DATA = {key: g.sort_values("index") for key, g in frame.groupby(["target", "series_id"])}


PEERS = {"statsmodels ExponentialSmoothing": "hw", "statsmodels ARIMA(2,0,1)": "arima"}


def _score_series(job):
    """Fits and scores both statsmodels methods on one series (in a worker process)."""
    target, sid, horizon, period, frac, stride, arima_points, _ = job
    warnings.simplefilter("ignore")
    s = _DATA[(target, sid)]
    y = s.value.to_numpy(dtype=float)
    obs = s.observed.to_numpy(dtype=int).astype(bool)
    split = int(frac * len(y))
    scale = mase_scale(y[:split], obs[:split], period)
    origins = np.arange(max(split, 1) - 1, len(y) - horizon, stride)
    out = {}
    for name, kind in PEERS.items():
        r = {"mase": [], "smape": [], "mae": [], "cov": [0, 0], "train": 0.0, "infer": 0.0,
             "windows": 0, "failed": 0}
        t0 = time.perf_counter()
        try:
            at = holt_winters(y, split, period, horizon) if kind == "hw" else \
                arima(y, split, horizon, arima_points)
            margin = residual_margin(at, y[:split], obs[:split], horizon,
                                     2 * period if kind == "hw" else 1)
        except Exception as e:  # a fit that does not converge counts as last value
            print(f"[peers] {name} on {sid}: {str(e).splitlines()[0]}", file=sys.stderr)
            r["failed"] = 1
            at = lambda o: np.repeat(y[o][:, None], horizon, axis=1)  # noqa: E731
            margin = np.zeros(horizon)
        r["train"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        p50 = np.clip(at(origins), 0, 1)
        r["infer"] = time.perf_counter() - t0
        r["windows"] = len(origins)
        p90 = np.clip(p50 + margin[None, :], 0, 1)
        idx = origins[:, None] + 1 + np.arange(horizon)[None, :]
        ok = obs[idx]
        a = y[idx][ok]
        f50, f90 = p50[ok], p90[ok]
        if len(a):
            mae = float(np.mean(np.abs(a - f50)))
            denom = np.abs(a) + np.abs(f50)
            r["mae"].append(mae)
            r["smape"].append(float(np.mean(np.where(denom > 0, 2 * np.abs(a - f50) /
                                                     np.where(denom > 0, denom, 1), 0))))
            if scale > 1e-12:
                r["mase"].append(mae / scale)
            r["cov"] = [int(np.sum(a <= f90 + 1e-12)), len(a)]
        out[name] = r
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--forecasts")
    ap.add_argument("--plot")
    ap.add_argument("--markdown")
    ap.add_argument("--arima-fit-points", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2, help="series fitted in parallel")
    ap.add_argument("--cache", help="statsmodels scores from an earlier run on the same series and "
                    "settings are reused from (and written to) this JSON file")
    args = ap.parse_args()

    report = json.load(open(args.report))
    horizon, period = report["horizonSteps"], report["period"]
    frac, stride = report["trainFraction"], report["originStride"]
    import hashlib
    key = hashlib.sha256(open(args.series, "rb").read()).hexdigest() + json.dumps(
        [horizon, period, frac, stride, args.arima_fit_points])
    cache = {}
    if args.cache:
        try:
            cache = json.load(open(args.cache))
        except (OSError, ValueError):
            cache = {}
        if cache.get("key") != key:
            cache = {}
    rows = []
    for target, section in report["targets"].items():
        if target in cache.get("targets", {}):
            for m in section["methods"]:
                name = m["method"]
                rows.append((target, name, m["mase"], m["smape"], m["mae"], m["p90Coverage"],
                             m["trainSeconds"], m["inferenceMicrosPerWindow"], m["seriesScored"], ""))
            rows.extend(tuple(r) for r in cache["targets"][target])
            print(f"[peers] {target}: statsmodels scores reused from {args.cache}", file=sys.stderr)
            continue
        methods = {m["method"]: m for m in section["methods"]}
        scores = {name: {"mase": [], "smape": [], "mae": [], "cov": [0, 0], "train": 0.0,
                         "infer": 0.0, "windows": 0, "failed": 0} for name in PEERS}
        jobs = [(target, sid, horizon, period, frac, stride, args.arima_fit_points, args.series)
                for sid in section["ids"]]
        started = time.perf_counter()
        with multiprocessing.Pool(max(1, args.jobs), initializer=_load, initargs=(args.series,)) as pool:
            for n, result in enumerate(pool.imap(_score_series, jobs, chunksize=4)):
                if n and n % 50 == 0:
                    print(f"[peers] {target}: {n}/{len(jobs)} series, "
                          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
                for name, r in result.items():
                    sc = scores[name]
                    for k in ("mase", "smape", "mae"):
                        sc[k].extend(r[k])
                    sc["cov"][0] += r["cov"][0]
                    sc["cov"][1] += r["cov"][1]
                    for k in ("train", "infer", "windows", "failed"):
                        sc[k] += r[k]
        for name, m in methods.items():
            rows.append((target, name, m["mase"], m["smape"], m["mae"], m["p90Coverage"],
                         m["trainSeconds"], m["inferenceMicrosPerWindow"], m["seriesScored"], ""))
        peer_rows = []
        for name, sc in scores.items():
            peer_rows.append((target, name, float(np.mean(sc["mase"])), float(np.mean(sc["smape"])),
                              float(np.mean(sc["mae"])), sc["cov"][0] / max(1, sc["cov"][1]),
                              sc["train"], sc["infer"] * 1e6 / max(1, sc["windows"]),
                              len(sc["mase"]), f"{sc['failed']} fits failed" if sc["failed"] else ""))
        rows.extend(peer_rows)
        cache.setdefault("targets", {})[target] = peer_rows
        cache["key"] = key
        if args.cache:
            json.dump(cache, open(args.cache, "w"))

    header = "| target | method | MASE | sMAPE | MAE | p90 coverage | train s | inference µs/window | series | note |"
    lines = [header, "|" + " --- |" * 10]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.3f} | "
                     f"{r[6]:.1f} | {r[7]:.1f} | {r[8]} | {r[9]} |")
    # The targets, LSTM against each yardstick (mean of per-series MASE).
    for target in report["targets"]:
        by = {r[1]: r for r in rows if r[0] == target}
        if "lstm" not in by:
            continue
        lstm = by["lstm"][2]
        best_sm = min(by[k][2] for k in by if k.startswith("statsmodels"))
        checks = [("≤ 0.85 × seasonal naive", lstm <= 0.85 * by["seasonal-naive"][2]),
                  ("≤ 0.95 × last value", lstm <= 0.95 * by["last-value"][2]),
                  ("< linear AR", lstm < by["linear-ar"][2]),
                  ("≤ 0.95 × best statsmodels", lstm <= 0.95 * best_sm),
                  ("p90 coverage in [0.85, 0.95]", 0.85 <= by["lstm"][5] <= 0.95)]
        lines.append("")
        lines.append(f"{target}: LSTM MASE {lstm:.4f}; " + "; ".join(
            f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks))
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        open(args.markdown, "w").write(text + "\n")

    if args.plot and args.forecasts:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        f = pd.read_csv(args.forecasts)
        f = f[f.target == "cpu"]
        ids = list(dict.fromkeys(f.series_id))[:3]
        fig, axes = plt.subplots(len(ids), 1, figsize=(11, 3.2 * len(ids)), sharex=False)
        for ax, sid in zip(np.atleast_1d(axes), ids):
            s = f[f.series_id == sid]
            lstm = s[s.method == "lstm"]
            hours = (lstm.origin - lstm.origin.min() + horizon) * 300 / 3600
            ax.plot(hours, lstm.actual, color="black", lw=1, label="actual")
            ax.plot(hours, lstm.p50, color="tab:blue", lw=1, label="LSTM p50")
            ax.fill_between(hours, lstm.p50, lstm.p90, color="tab:blue", alpha=0.2, label="LSTM p50–p90")
            for m, colour in (("linear-ar", "tab:orange"), ("seasonal-naive", "tab:green")):
                mm = s[s.method == m]
                ax.plot(hours, mm.p50, color=colour, lw=0.8, alpha=0.8, label=m)
            ax.set_title(f"{sid}: CPU utilisation, forecast {horizon * 5} min ahead")
            ax.set_xlabel("hours into the evaluation part")
            ax.set_ylabel("utilisation")
        np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=90)
        print(f"wrote {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
