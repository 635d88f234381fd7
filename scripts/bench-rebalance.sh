#!/usr/bin/env bash
# The rebalancing benchmark (issue 23): `umbra bench rebalance` runs a simulated day of the medium
# cluster, loaded with trace VMs where a past of placements left them, under no rebalancer, the
# descheduler's LowNodeUtilization, a KubeVirtRelieveAndMigrate-style rebalancer at the profile's
# deviations and two intervals, Umbra (with and without companion shadows) and a clairvoyant
# oracle; at two load levels, three seeds each; bench/rebalance_plot.py draws migrations against
# VM-minutes over the SLO. About 7 minutes on 2 cores (plus the bench venv the first time).
#   scripts/bench-rebalance.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-rebalance.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-rebalance.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
if [[ ! -d $traces ]]; then
  echo "bench-rebalance: traces folder $traces does not exist" >&2
  exit 2
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for load in 15 25; do
  "$umbra" bench rebalance --traces "$traces" --cluster "$here/examples/clusters/medium.yaml" \
    --utilisation "$load" --seeds 1,2,3 --json "$work/rebalance-$load.json" >"$work/rebalance-$load.txt"
done
venv=$("$here/scripts/bench-venv.sh")
"$venv/bin/python" "$here/bench/rebalance_plot.py" --report "$work/rebalance-15.json" \
  --report "$work/rebalance-25.json" --plot "$work/rebalance.png"
mv "$work/rebalance.png" "$out/rebalance.png"
for load in 15 25; do
  mv "$work/rebalance-$load.json" "$out/rebalance-$load.json"
  mv "$work/rebalance-$load.txt" "$out/rebalance-$load.txt"
  echo "## mean node CPU $load %"
  cat "$out/rebalance-$load.txt"
done
