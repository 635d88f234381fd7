#!/usr/bin/env bash
# Informer sync benchmark against a fresh local control plane: creates N ConfigMaps (one process),
# then measures a new process's informer sync time and peak RSS. Prints figures.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10000}
bin=${BENCH_BIN:-$here/build/bench/bench_informer_sync}
dir=$(mktemp -d /tmp/umbra-bench-cp.XXXXXX)
trap '"$here/scripts/local-cluster.sh" down --dir "$dir" >/dev/null 2>&1 || true' EXIT
kubeconfig=$("$here/scripts/local-cluster.sh" up --dir "$dir" --owner-pid $$)
"$bin" --kubeconfig "$kubeconfig" --create "$n"
"$bin" --kubeconfig "$kubeconfig" --sync "$n"
