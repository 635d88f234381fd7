#!/usr/bin/env bash
# The placement benchmark (issue 8): a contention mapping learned from simulated outcomes (its own
# seed, so it is not fitted on the benchmark's arrivals), then `umbra bench placement` on the
# medium cluster at two utilisations with the hidden interference on and off, a markdown table,
# JSON with every placed VM, and the CDF of each VM's p95 steal per placer.
#   scripts/bench-placement.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
# DEMAND_MODEL=model.pt uses a trained LSTM for the demand forecast (default: the last value).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-placement.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-placement.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
cluster=$here/examples/clusters/medium.yaml
if [[ ! -d $traces ]]; then
  echo "bench-placement: traces folder $traces does not exist" >&2
  exit 2
fi
venv=$("$here/scripts/bench-venv.sh")
mkdir -p "$out" "$cache/bench-placement"
demand=()
if [[ -n ${DEMAND_MODEL:-} ]]; then
  demand=(--demand-model "$DEMAND_MODEL")
fi
contention=$cache/bench-placement/contention.json
"$umbra" train-contention --traces "$traces" --cluster "$cluster" --utilisation 25 \
  --count 3000 --seed 7 "${demand[@]}" --out "$contention" >/dev/null
"$umbra" bench placement --traces "$traces" --cluster "$cluster" --utilisation 15,25 \
  --arrivals 48 --seed 1 "${demand[@]}" --contention-model "$contention" \
  --json "$out/placement.json" | tee "$out/placement_table.md"
"$venv/bin/python" "$here/bench/placement_cdf.py" --report "$out/placement.json" \
  --plot "$out/placement_cdf.png"
