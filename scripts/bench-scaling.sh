#!/usr/bin/env bash
# The scaling benchmark (issue 20): `umbra bench scaling` replays the traces' demand against
# static sizing, an HPA-style reactive scaler, a VPA-style recommender, Autopilot's moving-window
# recommender, Umbra and a clairvoyant oracle (vertical vCPUs and memory, horizontal pools; natural
# traces and traces with labelled surges), every scaler at several settings of its main knob; then
# bench/scaling_plot.py draws allocation against demand and each scaler's trade-off curve.
# About 10 minutes on 2 cores, and about 4 more the first time (the two 6-step LSTMs, cached by
# the checksums of the traces, src/training and the network file format).
#   scripts/bench-scaling.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-scaling.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-scaling.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
if [[ ! -d $traces ]]; then
  echo "bench-scaling: traces folder $traces does not exist" >&2
  exit 2
fi
venv=$("$here/scripts/bench-venv.sh")
key=$( (find "$here/src/training" "$here/src/model/lstm_net.cc" "$traces" -type f | sort | xargs cat) | sha256sum | cut -c1-16)
nets=$cache/bench-scaling/nets-$key
mkdir -p "$out" "$nets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$umbra" bench scaling --traces "$traces" --networks "$nets" --json "$work/scaling.json" \
  --plot-series "$work/allocations.csv" >"$work/scaling.txt"
"$venv/bin/python" "$here/bench/scaling_plot.py" --report "$work/scaling.json" \
  --allocations "$work/allocations.csv" --plot "$out/scaling.png"
mv "$work/scaling.json" "$out/scaling.json"
mv "$work/scaling.txt" "$out/scaling.txt"
cat "$out/scaling.txt"
