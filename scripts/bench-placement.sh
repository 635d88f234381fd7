#!/usr/bin/env bash
# The placement benchmark (issues 8 and 18): a contention mapping learned from simulated outcomes
# on another cluster (examples/clusters/training.yaml) at both background loads and one half of
# the VM traces, each outcome the placed VM's p95 slowdown over its next 24 hours (the headline's
# statistic), then `umbra bench placement` on the medium cluster with the other half, at two
# utilisations with the hidden interference on and off, 200 arrivals and 6 seeds per condition
# (the two interference modes run side by side, one per core): markdown tables per run and a
# summary against the best peer of each run with 95 % intervals (VMs resampled within each seed's
# run, and seeds resampled too), JSON with every placed VM, and the CDF of each VM's p95 slowdown
# per placer; then the same conditions in a common world (every placer deciding from one shared
# state, --common-world). About an hour and a half on 2 cores, and about 10 minutes more the first
# time (the LSTM).
#   scripts/bench-placement.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
# The demand model is the LSTM, trained here on half a of the traces (cached by the checksums of
# the traces, src/training and the network file format); DEMAND_MODEL=model.pt uses another model
# file, DEMAND_MODEL=last-value the last value.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-placement.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-placement.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
cluster=$here/examples/clusters/medium.yaml
training=$here/examples/clusters/training.yaml
arrivals=${ARRIVALS:-200}
seeds=${SEEDS:-1,2,3,4,5,6}
if [[ ! -d $traces ]]; then
  echo "bench-placement: traces folder $traces does not exist" >&2
  exit 2
fi
traces=$(cd "$traces" && pwd)  # absolute: the LSTM's cache key must not depend on how it was named
venv=$("$here/scripts/bench-venv.sh")
mkdir -p "$out" "$cache/bench-placement"
demand=()
if [[ ${DEMAND_MODEL:-} == last-value ]]; then
  :
elif [[ -n ${DEMAND_MODEL:-} ]]; then
  demand=(--demand-model "$DEMAND_MODEL")
else
  key=$( (find "$here/src/training" "$here/src/model/lstm_net.cc" "$traces" -type f | sort | xargs cat) | sha256sum | cut -c1-16)
  lstm=$cache/bench-placement/lstm-half-a-$key.pt
  if [[ ! -f $lstm ]]; then
    echo "[bench-placement] training the demand LSTM on half a of the traces (a few minutes)" >&2
    "$umbra" train --traces "$traces" --trace-half a --out "$lstm.tmp" >/dev/null
    mv "$lstm.tmp" "$lstm"
  fi
  demand=(--demand-model "$lstm")
fi
contention=$cache/bench-placement/contention.json
"$umbra" train-contention --traces "$traces" --cluster "$training" --trace-half a \
  --utilisation 15,25 --count 6000 --seed 7 --window-steps 288 --statistic p95 "${demand[@]}" \
  --out "$contention" >/dev/null
# `umbra bench placement` with the interference on and off side by side (one per core): $1 names
# the outputs ($1-on.json, $1_table-on.md, ...), the rest are more flags. A failed run stops both.
# Forecast-only and Umbra rank by CPU alone (spec.scoring.weights {cpu: 1}), the objective every
# peer and the headline use: in the simulation nothing but CPU slows a VM's work.
both_modes() {
  local name=$1
  shift
  local mode
  pids=()
  for mode in on off; do
    "$umbra" bench placement --traces "$traces" --cluster "$cluster" --trace-half b \
      --utilisation 15,25 --interference "$mode" --arrivals "$arrivals" --seeds "$seeds" \
      --scoring-weights 1,0,0,0 "${demand[@]}" --contention-model "$contention" "$@" \
      --json "$out/$name-$mode.json" \
      >"$out/${name}_table-$mode.md" &
    pids+=($!)
  done
  trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
  for pid in "${pids[@]}"; do
    wait "$pid"
  done
  trap - EXIT
  cat "$out/${name}_table-on.md" "$out/${name}_table-off.md"
}
both_modes placement
"$venv/bin/python" "$here/bench/placement_cdf.py" --report "$out/placement-on.json" \
  --report "$out/placement-off.json" --plot "$out/placement_cdf.png"
# What Umbra's recorded decisions would have cost under other rules (a diagnostic).
"$venv/bin/python" "$here/bench/placement_decisions.py" --report "$out/placement-on.json" \
  --report "$out/placement-off.json"
# The common world (COMMON_WORLD=0 skips it): every placer decides from one shared state, so that
# the decisions are compared without each placer's world drifting down its own path. About 30
# minutes more.
if [[ ${COMMON_WORLD:-1} != 0 ]]; then
  both_modes placement_common --common-world
fi
