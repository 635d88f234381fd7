#!/usr/bin/env python3
"""The Python peers on exactly the splits and origins of `umbra bench forecast`.

Reads the series the C++ benchmark evaluated (--export-series CSV) and its JSON report, fits on each
series' training part, forecasts from the same rolling origins (every horizon of the report, from
one forecast of the longest), scores them the same way (MASE scaled by the in-sample seasonal-naive
MAE, sMAPE, MAE, p90 coverage, forecasts clamped to [0, 1]) and prints one table per horizon with
every method, and the issue's targets for Umbra's engine (guarded-ensemble). Peers:

  statsmodels  ExponentialSmoothing (additive trend, daily season), ARIMA(2,0,1)
  statsforecast AutoETS, AutoTheta and MSTL (daily season; MSTL's trend by AutoETS)
  mlforecast   LightGBM, one global model over every series (lags 1-12, one day, one week)

AutoETS and AutoTheta are fitted once on the newest two weeks of the training part and then filter
the newest three days before every origin with those parameters (their `forward`; AutoTheta's
re-decomposes its history each time, 60 ms per origin on 30 days); MSTL keeps the training part's
decomposition (its seasonal components continue as MSTL forecasts them) and filters the
deseasonalised history with its trend model. Their p90 is the p50 plus the 90th percentile of their own h-step errors on the
newest 15 % of the training part, as the engine's; the statsmodels rows keep in-sample errors.
Optionally plots forecast vs actual.

  forecast_peers.py --series series.csv --report forecast.json [--forecasts forecasts.csv]
                    [--plot out.png] [--markdown out.md] [--arima-fit-points 1000] [--jobs 2]
                    [--cache peers.json]
"""
import argparse
import json
import multiprocessing
import os
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
    return error_quantile(forecast_at(origins), origins, train, observed, horizon)


def error_quantile(forecasts, origins, train, observed, horizon):
    """Per step, the 90th percentile of observed h-step errors (actual - p50) of `forecasts`
    ([len(origins), horizon]) made at `origins` of `train`, floored at 0."""
    idx = origins[:, None] + 1 + np.arange(horizon)[None, :]
    err = np.where(observed[idx], train[idx] - forecasts, np.nan)
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

def calibration_origins(n, horizon, fraction=0.15, stride=6):
    """Origins every `stride` steps in the newest `fraction` of a training part of n values."""
    return np.arange(max(1, int((1 - fraction) * n)) - 1, n - horizon, stride)


def calibration_margin(forecast_at, train, observed, horizon):
    """90th percentile of h-step errors (actual - p50) at the calibration origins (the newest 15 %
    of the training part), per step, floored at 0 (split conformal, as the engine's guard)."""
    origins = calibration_origins(len(train), horizon)
    if len(origins) == 0:
        return np.zeros(horizon)
    return error_quantile(forecast_at(origins), origins, train, observed, horizon)


def sf_local(kind, values, split, period, horizon, history_cap):
    """statsforecast AutoETS / AutoTheta fitted on the training part; every origin's forecast is the
    fitted model's `forward` over the newest `history_cap` values up to the origin."""
    from statsforecast.models import AutoETS, AutoTheta
    # AutoETS: statsforecast (as R's forecast::ets) fits no seasonal ETS for a season above 24
    # steps, so it is non-seasonal here whatever season it is given. Both are fitted on the newest
    # two weeks of the training part, which keeps their model search to seconds per series.
    if kind == "ets":
        model = AutoETS(season_length=1).fit(values[max(0, split - 4032):split])
    else:
        model = AutoTheta(season_length=period).fit(values[max(0, split - 4032):split])

    def at(origins):
        out = np.empty((len(origins), horizon))
        for k, o in enumerate(origins):
            out[k] = model.forward(y=values[max(0, o + 1 - history_cap):o + 1], h=horizon)["mean"]
        return out
    return at


def sf_mstl(values, split, period, horizon):
    """statsforecast MSTL (daily season, AutoETS trend) decomposed on the training part;
    its seasonal components continue as MSTL forecasts them, and the trend model filters the
    deseasonalised history up to every origin."""
    from statsforecast.models import MSTL, AutoETS
    from statsforecast.models import _predict_mstl_seas
    # The daily season only: the weekly one's LOESS takes ~24 s per 21-day series here (3.5 CPU
    # hours for the shared set); the weekly pattern is in LightGBM's lags and the engine's inputs.
    seasons = [period]
    model = MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN")).fit(values[:split])
    fitted = model.model_.filter(regex="seasonal").sum(axis=1).to_numpy()
    ahead = _predict_mstl_seas(model.model_, h=len(values) - split + horizon, season_length=seasons)
    seasonal = np.concatenate([fitted, np.asarray(ahead)])
    deseasoned = values - seasonal[:len(values)]
    trend = model.trend_forecaster

    def at(origins):
        out = np.empty((len(origins), horizon))
        for k, o in enumerate(origins):
            out[k] = trend.forward(y=deseasoned[:o + 1], h=horizon)["mean"] + \
                seasonal[o + 1:o + 1 + horizon]
        return out
    return at


_DATA = None


def _load(path):
    global _DATA
    frame = pd.read_csv(path)
    _DATA = {key: g.sort_values("index") for key, g in frame.groupby(["target", "series_id"])}


LOCAL_PEERS = {"statsmodels ExponentialSmoothing": "hw", "statsmodels ARIMA(2,0,1)": "arima",
               "statsforecast AutoETS": "ets", "statsforecast AutoTheta": "theta",
               "statsforecast MSTL": "mstl"}
LGBM = "mlforecast LightGBM"
ENGINES = ("guarded-ensemble", "guarded-ensemble-shrunk")  # the engine, and a candidate beside it
STATISTICAL = list(LOCAL_PEERS)


def _empty():
    return {"mase": [], "smape": [], "mae": [], "cov": [0, 0], "train": 0.0, "infer": 0.0,
            "windows": 0, "failed": 0, "ids": []}


def score(y, obs, split, scale, p50, margin, origins, horizon, r, sid):
    """Adds one series' scores at `origins` (p50: [origins, >= horizon]) to the accumulator r."""
    p50 = np.clip(p50[:, :horizon], 0, 1)
    p90 = np.clip(p50 + margin[None, :horizon], 0, 1)
    idx = origins[:, None] + 1 + np.arange(horizon)[None, :]
    ok = obs[idx]
    a = y[idx][ok]
    f50, f90 = p50[ok], p90[ok]
    if not len(a):
        return
    mae = float(np.mean(np.abs(a - f50)))
    denom = np.abs(a) + np.abs(f50)
    r["mae"].append(mae)
    r["smape"].append(float(np.mean(np.where(denom > 0, 2 * np.abs(a - f50) /
                                             np.where(denom > 0, denom, 1), 0))))
    if scale > 1e-12:
        r["mase"].append(mae / scale)
        r["ids"].append(sid)
    r["cov"][0] += int(np.sum(a <= f90 + 1e-12))
    r["cov"][1] += len(a)


def _score_series(job):
    """Fits and scores every local peer on one series (in a worker process), every horizon."""
    target, sid, horizons, period, frac, stride, arima_points = job
    warnings.simplefilter("ignore")
    s = _DATA[(target, sid)]
    y = s.value.to_numpy(dtype=float)
    obs = s.observed.to_numpy(dtype=int).astype(bool)
    split = int(frac * len(y))
    scale = mase_scale(y[:split], obs[:split], period)
    hmax = max(horizons)
    ypad = np.concatenate([y, np.full(hmax, y[-1])])
    obspad = np.concatenate([obs, np.zeros(hmax, dtype=bool)])
    origins = {h: np.arange(max(split, 1) - 1, len(y) - h, stride) for h in horizons}
    widest = origins[min(horizons)]
    out = {}
    for name, kind in LOCAL_PEERS.items():
        rs = {h: _empty() for h in horizons}
        t0 = time.perf_counter()
        try:
            if kind == "hw":
                at = holt_winters(y, split, period, hmax)
            elif kind == "arima":
                at = arima(y, split, hmax, arima_points)
            elif kind == "mstl":
                at = sf_mstl(y, split, period, hmax)
            else:
                # AutoTheta's forward re-tests and re-decomposes the season over the history it is
                # given (60 ms per origin on 30 days): it reads the newest three days.
                at = sf_local(kind, y, split, period, hmax, 3 * period)
            if kind in ("hw", "arima"):
                margin = residual_margin(at, y[:split], obs[:split], hmax,
                                         2 * period if kind == "hw" else 1)
            else:
                margin = calibration_margin(at, y[:split], obs[:split], hmax)
        except Exception as e:  # a fit that does not converge counts as last value
            print(f"[peers] {name} on {sid}: {str(e).splitlines()[0]}", file=sys.stderr)
            for h in horizons:
                rs[h]["failed"] = 1
            at = lambda o: np.repeat(y[o][:, None], hmax, axis=1)  # noqa: E731
            margin = np.zeros(hmax)
        train = time.perf_counter() - t0
        t0 = time.perf_counter()
        p50 = at(widest)
        infer = time.perf_counter() - t0
        for h in horizons:
            rows = np.isin(widest, origins[h])
            rs[h]["train"], rs[h]["infer"], rs[h]["windows"] = train, infer, len(widest)
            score(ypad, obspad, split, scale, p50[rows], margin, origins[h], h, rs[h], sid)
        out[name] = rs
    return out


def lightgbm_peer(series, horizons, period, frac, stride, jobs):
    """mlforecast's LightGBM: one global model over every series' training part (each series
    standardised by its training part's mean and deviation), lags 1-12, one day and one week, L1
    objective (the median, as MASE wants). Forecasts are recursive (mlforecast's own strategy),
    computed for every origin of every series at once; the first origin is checked against
    mlforecast's predict."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    lags = list(range(1, 13)) + [period, 7 * period]
    hmax = max(horizons)
    frames, stats = [], {}
    for sid, (y, obs) in series.items():
        split = int(frac * len(y))
        mu, sd = float(np.mean(y[:split])), float(np.std(y[:split])) or 1.0
        stats[sid] = (mu, sd)
        frames.append(pd.DataFrame({"unique_id": sid, "ds": np.arange(split),
                                    "y": (y[:split] - mu) / sd}))
    train_df = pd.concat(frames, ignore_index=True)
    model = lgb.LGBMRegressor(objective="l1", n_estimators=300, learning_rate=0.05, num_leaves=63,
                              n_jobs=jobs, verbose=-1, random_state=1)
    t0 = time.perf_counter()
    mlf = MLForecast(models={"lgbm": model}, freq=1, lags=lags)
    # Rows whose weekly lag is before the series start stay (LightGBM treats it as missing):
    # the shorter series would otherwise not train at all.
    mlf.fit(train_df, static_features=[], dropna=False)
    train_seconds = time.perf_counter() - t0
    booster = mlf.models_["lgbm"]
    order = mlf.ts.features_order_
    assert order == [f"lag{k}" for k in lags], order

    def forecast(origins_of):
        """Recursive forecasts at the given origins of every series: {sid: [origins, hmax]}."""
        keys, hist = [], []
        maxlag = max(lags)
        for sid_, origins in origins_of.items():
            y, _ = series[sid_]
            mu, sd = stats[sid_]
            z = (y - mu) / sd
            for o in origins:
                window = z[max(0, o + 1 - maxlag):o + 1]
                if len(window) < maxlag:  # lags before the series' start are unknown (NaN)
                    window = np.concatenate([np.full(maxlag - len(window), np.nan), window])
                keys.append((sid_, o))
                hist.append(window)
        buf = np.array(hist)  # [rows, maxlag + steps]
        buf = np.concatenate([buf, np.zeros((len(buf), hmax))], axis=1)
        for h in range(hmax):
            end = maxlag + h  # values buf[:, :end] are known (actual or predicted)
            x = np.stack([buf[:, end - k] for k in lags], axis=1)
            buf[:, end] = booster.predict(pd.DataFrame(x, columns=order))
        out = {}
        for (sid_, o), row in zip(keys, buf[:, maxlag:]):
            mu, sd = stats[sid_]
            out.setdefault(sid_, []).append(row * sd + mu)
        return {k: np.array(v) for k, v in out.items()}

    # The recursion must be mlforecast's own: check one origin per series against its predict.
    first = {sid: np.array([int(frac * len(y)) - 1]) for sid, (y, _) in list(series.items())[:5]}
    mine = forecast(first)
    check = mlf.predict(h=hmax, new_df=pd.concat(
        [pd.DataFrame({"unique_id": sid, "ds": np.arange(o[0] + 1),
                       "y": (series[sid][0][:o[0] + 1] - stats[sid][0]) / stats[sid][1]})
         for sid, o in first.items()], ignore_index=True))
    for sid in first:
        theirs = check[check.unique_id == sid].lgbm.to_numpy() * stats[sid][1] + stats[sid][0]
        if not np.allclose(mine[sid][0], theirs, atol=1e-6):
            raise SystemExit(f"[peers] LightGBM: the recursion differs from mlforecast's on {sid}")

    rs = {h: _empty() for h in horizons}
    calib, evalo = {}, {}
    for sid, (y, obs) in series.items():
        split = int(frac * len(y))
        calib[sid] = calibration_origins(split, hmax)
        evalo[sid] = np.arange(max(split, 1) - 1, len(y) - min(horizons), stride)
    fc_cal = forecast(calib)
    t0 = time.perf_counter()
    fc = forecast(evalo)
    infer = time.perf_counter() - t0
    windows = sum(len(v) for v in evalo.values())
    for sid, (y, obs) in series.items():
        split = int(frac * len(y))
        scale = mase_scale(y[:split], obs[:split], period)
        margin = calibration_margin(lambda _, s=sid: fc_cal[s], y[:split], obs[:split], hmax)
        ypad = np.concatenate([y, np.full(hmax, y[-1])])
        obspad = np.concatenate([obs, np.zeros(hmax, dtype=bool)])
        for h in horizons:
            o = np.arange(max(split, 1) - 1, len(y) - h, stride)
            rows = np.isin(evalo[sid], o)
            score(ypad, obspad, split, scale, fc[sid][rows], margin, o, h, rs[h], sid)
    for h in horizons:
        rs[h].update(train=train_seconds, infer=infer, windows=windows)
    return rs


def summarise(target, name, sc, note=""):
    return (target, name, float(np.mean(sc["mase"])), float(np.mean(sc["smape"])),
            float(np.mean(sc["mae"])), sc["cov"][0] / max(1, sc["cov"][1]), sc["train"],
            sc["infer"] * 1e6 / max(1, sc["windows"]), len(sc["mase"]),
            note or (f"{sc['failed']} fits failed" if sc["failed"] else ""))


def peer_scores(args, horizons, period, frac, stride):
    """{horizon: {target: [(row), ...]}} and per-series MASE {horizon: {target: {method: {id: m}}}}
    for every peer, from the cache when the series and settings are unchanged."""
    import hashlib
    key = hashlib.sha256(open(args.series, "rb").read()).hexdigest() + json.dumps(
        [horizons, period, frac, stride, args.arima_fit_points, "peers/2"])
    cache = {}
    if args.cache:
        try:
            cache = json.load(open(args.cache))
        except (OSError, ValueError):
            cache = {}
        if cache.get("key") != key:
            cache = {"key": key}
    frame = pd.read_csv(args.series)
    for target in dict.fromkeys(frame.target):
        if target in cache.get("targets", {}):
            print(f"[peers] {target}: peer scores reused from {args.cache}", file=sys.stderr)
            continue
        ids = list(dict.fromkeys(frame[frame.target == target].series_id))
        scores = {h: {name: _empty() for name in LOCAL_PEERS} for h in horizons}
        jobs = [(target, sid, horizons, period, frac, stride, args.arima_fit_points) for sid in ids]
        started = time.perf_counter()
        with multiprocessing.Pool(max(1, args.jobs), initializer=_load,
                                  initargs=(args.series,)) as pool:
            for n, result in enumerate(pool.imap(_score_series, jobs, chunksize=2)):
                if n and n % 25 == 0:
                    print(f"[peers] {target}: {n}/{len(jobs)} series, "
                          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
                for name, by_h in result.items():
                    for h, r in by_h.items():
                        sc = scores[h][name]
                        for k in ("mase", "smape", "mae", "ids"):
                            sc[k].extend(r[k])
                        sc["cov"][0] += r["cov"][0]
                        sc["cov"][1] += r["cov"][1]
                        for k in ("train", "infer", "windows", "failed"):
                            sc[k] += r[k]
        sub = frame[frame.target == target]
        series = {sid: (g.sort_values("index").value.to_numpy(dtype=float),
                        g.sort_values("index").observed.to_numpy(dtype=int).astype(bool))
                  for sid, g in sub.groupby("series_id")}
        series = {sid: series[sid] for sid in ids}
        t0 = time.perf_counter()
        lgbm = lightgbm_peer(series, horizons, period, frac, stride, args.jobs)
        print(f"[peers] {target}: LightGBM {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        out = {}
        for h in horizons:
            scores[h][LGBM] = lgbm[h]
            out[str(h)] = {"rows": [summarise(target, name, sc) for name, sc in scores[h].items()],
                           "perSeries": {name: dict(zip(sc["ids"], sc["mase"]))
                                         for name, sc in scores[h].items()}}
        cache.setdefault("targets", {})[target] = out
        if args.cache:
            tmp = args.cache + ".tmp"
            json.dump(cache, open(tmp, "w"))
            os.replace(tmp, args.cache)
    return cache["targets"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--forecasts")
    ap.add_argument("--plot")
    ap.add_argument("--markdown")
    ap.add_argument("--arima-fit-points", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2, help="series fitted in parallel")
    ap.add_argument("--cache", help="peer scores from an earlier run on the same series and "
                    "settings are reused from (and written to) this JSON file")
    args = ap.parse_args()

    try:
        report = json.load(open(args.report))
        horizons = [h["horizonSteps"] for h in report["horizons"]]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"forecast_peers: {args.report}: not a report of `umbra bench forecast` "
                         f"({e})")
    period, frac, stride = report["period"], report["trainFraction"], report["originStride"]
    peers = peer_scores(args, horizons, period, frac, stride)

    header = ("| target | method | MASE | sMAPE | MAE | p90 coverage | train s | "
              "inference µs/window | series | worst / last value | note |")
    lines = []
    for section in report["horizons"]:
        h = section["horizonSteps"]
        lines += ["", f"### {h} steps ({h * 5} minutes) ahead", "", header, "|" + " --- |" * 11]
        verdicts = []
        for target, sec in section["targets"].items():
            rows = []
            lv = dict(zip(sec["ids"], sec["methods"][0]["perSeriesMase"]))
            for m in sec["methods"]:
                rows.append((target, m["method"], m["mase"], m["smape"], m["mae"], m["p90Coverage"],
                             m["trainSeconds"], m["inferenceMicrosPerWindow"], m["seriesScored"],
                             f"{m['worstToLastValue']:.2f} ({m['seriesAbove1_5xLastValue']} > 1.5)"))
            for r in peers.get(target, {}).get(str(h), {}).get("rows", []):
                per = peers[target][str(h)]["perSeries"][r[1]]
                ratios = [v / lv[k] for k, v in per.items() if lv.get(k)]
                worst = f"{max(ratios):.2f} ({sum(x > 1.5 for x in ratios)} > 1.5)" if ratios else ""
                rows.append(tuple(r[:9]) + (worst + (f"; {r[9]}" if r[9] else ""),))
            for r in rows:
                lines.append(f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]:.4f} | "
                             f"{r[5]:.3f} | {r[6]:.1f} | {r[7]:.1f} | {r[8]} | {r[9]} |")
            for engine in ENGINES:
                if engine in {r[1] for r in rows}:
                    verdicts.append(targets_line(target, h, {r[1]: r for r in rows}, sec, engine))
        lines += [""] + verdicts
    text = "\n".join(lines).lstrip("\n")
    print(text)
    if args.markdown:
        open(args.markdown, "w").write(text + "\n")
    if args.plot and args.forecasts:
        plot(args.forecasts, args.plot)


def targets_line(target, h, by, sec, engine):
    """The issue's targets for an engine row at this horizon, each met or not, with the figures."""
    e = by[engine][2]
    stats = {k: by[k][2] for k in by if k in STATISTICAL or k == "holt-winters"}
    best_stat = min(stats, key=stats.get) if stats else None
    sf = {k: by[k][2] for k in ("statsforecast AutoETS", "statsforecast AutoTheta",
                                "statsforecast MSTL") if k in by}
    best_sf = min(sf, key=sf.get) if sf else None
    checks = [("< linear AR", e < by["linear-ar"][2], f"{e:.4f} vs {by['linear-ar'][2]:.4f}")]
    if best_stat:
        checks.append((f"< best statistical peer ({best_stat})", e < stats[best_stat],
                       f"{e:.4f} vs {stats[best_stat]:.4f}"))
    if h <= 6:
        checks.append(("≤ 0.85 × last value", e <= 0.85 * by["last-value"][2],
                       f"{e / by['last-value'][2]:.3f} ×"))
        if best_sf:
            checks.append((f"≤ 0.9 × best of AutoETS/AutoTheta/MSTL ({best_sf})",
                           e <= 0.9 * sf[best_sf], f"{e / sf[best_sf]:.3f} ×"))
        if LGBM in by:
            checks.append(("≤ 0.95 × LightGBM", e <= 0.95 * by[LGBM][2],
                           f"{e / by[LGBM][2]:.3f} ×"))
        cov = by[engine][5]
        checks.append(("p90 coverage in [0.88, 0.92]", 0.88 <= cov <= 0.92, f"{cov:.3f}"))
    m = next(x for x in sec["methods"] if x["method"] == engine)
    checks.append(("no series above 1.5 × its last-value MASE", m["seriesAbove1_5xLastValue"] == 0,
                   f"worst {m['worstToLastValue']:.2f} ({m['worstSeries']})"))
    return f"- {target}, {h} steps: {engine} MASE {e:.4f}; " + "; ".join(
        f"{name}: {'met' if ok else 'NOT met'} ({fig})" for name, ok, fig in checks)


def plot(forecasts, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    f = pd.read_csv(forecasts)
    f = f[f.target == "cpu"]
    ids = list(dict.fromkeys(f.series_id))[:3]
    steps = sorted(set(f.step))
    fig, axes = plt.subplots(len(ids), len(steps), figsize=(7 * len(steps), 3.2 * len(ids)),
                             squeeze=False)
    for row, sid in enumerate(ids):
        for col, step in enumerate(steps):
            ax = axes[row][col]
            s = f[(f.series_id == sid) & (f.step == step)]
            e = s[s.method == "guarded-ensemble"]
            hours = (e.origin - e.origin.min() + step) * 300 / 3600
            ax.plot(hours, e.actual, color="black", lw=1, label="actual")
            ax.plot(hours, e.p50, color="tab:blue", lw=1, label="engine p50")
            ax.fill_between(hours, e.p50, e.p90, color="tab:blue", alpha=0.2,
                            label="engine p50–p90")
            for m, colour in (("linear-ar", "tab:orange"), ("lstm", "tab:green")):
                mm = s[s.method == m]
                ax.plot(hours, mm.p50, color=colour, lw=0.8, alpha=0.8, label=m)
            ax.set_title(f"{sid}: CPU, {step * 5} min ahead", fontsize=9)
            ax.set_xlabel("hours into the evaluation part")
            ax.set_ylabel("utilisation")
    axes[0][0].legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
