#!/usr/bin/env bash
# `make demo`: the main job. Today it brings up what the foundation provides: a real local
# control plane (etcd + kube-apiserver + kube-controller-manager) with KubeVirt's CRDs installed,
# and keeps it running until Ctrl-C, then removes everything. The simulator, the operator and an
# example placement join it as their issues land (see README "Status").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${UMBRA_DEMO_DIR:-/tmp/umbra-demo}
shared=${UMBRA_SHARED:-$here/../shared}

cleanup() {
  echo
  echo "[demo] stopping the control plane and removing $dir"
  "$here/scripts/local-cluster.sh" down --dir "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/scripts/local-cluster.sh" down --dir "$dir" >/dev/null 2>&1 || true
echo "[demo] starting the local control plane (first run builds it: many minutes)"
kubeconfig=$("$here/scripts/local-cluster.sh" up --dir "$dir" --owner-pid $$)
# shellcheck disable=SC1091
source "$dir/cluster.env"
kubectl=("$KUBECTL" "--kubeconfig=$kubeconfig")

if [[ -d $shared/kubevirt/crds ]]; then
  echo "[demo] installing KubeVirt's CRDs from $shared/kubevirt/crds"
  "${kubectl[@]}" create -f "$shared/kubevirt/crds/" -f "$here/crds/" -o name | sed 's/^/[demo]   /'
  "${kubectl[@]}" wait --for condition=established --timeout=60s crd --all >/dev/null
else
  echo "[demo] $shared/kubevirt/crds not found; skipping KubeVirt's CRDs (set UMBRA_SHARED)"
fi

echo "[demo] server version: $("${kubectl[@]}" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
echo "[demo] readyz: $("${kubectl[@]}" get --raw /readyz)"
"${kubectl[@]}" get crd -o 'custom-columns=CRD:.metadata.name,ESTABLISHED:.status.conditions[?(@.type=="Established")].status'
cat <<MSG

[demo] The control plane is running. In another terminal:
         export KUBECONFIG=$kubeconfig
         $KUBECTL get --raw /readyz
         $KUBECTL api-resources --api-group=kubevirt.io
[demo] Press Ctrl-C to stop and clean up.
MSG
while true; do
  sleep 5
  if ! kill -0 "$(cat "$dir/kube-apiserver.pid" 2>/dev/null)" 2>/dev/null; then
    echo "[demo] kube-apiserver exited; see $dir/kube-apiserver.log" >&2
    exit 1
  fi
done
