#!/usr/bin/env bash
# The instance-type benchmark (issue 22): `umbra bench instancetypes` picks a KubeVirt common
# instancetype for each Bitbrains VM trace (a workload serving requests, with a hidden CPU cost per
# request and service variability, on a host whose steal follows an Alibaba machine trace) by the
# requested size, VPA-style rightsizers (four settings), Umbra's trial on mirrored requests (and
# without it) and a clairvoyant oracle; three seeds, on both halves of a fixed split of the traces
# (nothing is tuned on either). About 6 minutes on 2 cores. docs/instancetypes.md.
#   scripts/bench-instancetypes.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
umbra=${1:?usage: bench-instancetypes.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
traces=${2:?usage: bench-instancetypes.sh UMBRA_BINARY TRACES_DIR [OUT_DIR]}
out=${3:-$here/bench/results}
if [[ ! -d $traces ]]; then
  echo "bench-instancetypes: traces folder $traces does not exist" >&2
  exit 2
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for half in a b; do
  "$umbra" bench instancetypes --traces "$traces" --trace-half "$half" --seeds 1,2,3 \
    --json "$work/instancetypes-$half.json" >"$work/instancetypes-$half.txt"
done
for half in a b; do
  mv "$work/instancetypes-$half.json" "$out/instancetypes-$half.json"
  mv "$work/instancetypes-$half.txt" "$out/instancetypes-$half.txt"
  echo "## trace half $half"
  cat "$out/instancetypes-$half.txt"
done
