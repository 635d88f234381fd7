#!/usr/bin/env bash
# The pre-provisioned pool benchmark (issue 21): `umbra bench pool` replays the traces' CPU demand,
# scaled to pools, with injected surges (half announced with a LoadNotice), against reactive cold
# starts, a static warm pool sized for the training peak, a fixed capacity buffer, Umbra's
# ShadowPool reserve (at several settings of spec.horizon and spec.minShadows) and a clairvoyant
# oracle. Under a minute on 2 cores.
#   scripts/bench-pool.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-pool.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-pool.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
if [[ ! -d $traces ]]; then
  echo "bench-pool: traces folder $traces does not exist" >&2
  exit 2
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$umbra" bench pool --traces "$traces" --json "$work/pool.json" >"$work/pool.txt"
mv "$work/pool.json" "$out/pool.json"
mv "$work/pool.txt" "$out/pool.txt"
cat "$out/pool.txt"
