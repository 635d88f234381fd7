#!/usr/bin/env bash
# The forecaster benchmark: `umbra bench forecast` (the engine, its members and the C++ baselines)
# on a traces folder at 30 minutes and 2 hours ahead, then the Python peers (statsmodels,
# statsforecast's AutoETS/AutoTheta/MSTL, mlforecast's LightGBM) on the same splits and origins
# (bench/forecast_peers.py), one table per horizon with the issue's targets, and a plot of forecast
# vs actual.
#   scripts/bench-forecast.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
# HORIZON_STEPS (24) is the longer horizon; the 6-step one is always reported.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-forecast.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-forecast.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
if [[ ! -d $traces ]]; then
  echo "bench-forecast: traces folder $traces does not exist" >&2
  exit 2
fi
venv=$("$here/scripts/bench-venv.sh")
mkdir -p "$out"
# The exported series and forecasts stay in the cache: the peers' scores are reused from there
# when the series and settings are unchanged (they take about an hour to recompute on 2 cores).
work=$cache/bench-forecast
mkdir -p "$work"
"$umbra" bench forecast --traces "$traces" --horizon-steps "${HORIZON_STEPS:-24}" \
  --json "$out/forecast.json" \
  --export-series "$work/series.csv" --forecasts "$work/forecasts.csv"
"$venv/bin/python" "$here/bench/forecast_peers.py" --series "$work/series.csv" \
  --report "$out/forecast.json" --forecasts "$work/forecasts.csv" \
  --plot "$out/forecast_vs_actual.png" --markdown "$out/forecast_table.md" \
  --cache "$work/peers-cache.json"
