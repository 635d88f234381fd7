#!/usr/bin/env bash
# Regenerates tools/k8s and tools/etcd: small Go modules of our own that pin the control-plane
# binaries (kube-apiserver, kube-controller-manager, kubectl, etcd) used by tests, the demo and
# benchmarks. Never imported by the product. Run once per version bump; commit go.mod and go.sum.
#
# Why: k8s.io/kubernetes requires its staging modules at v0.0.0 with replaces to ./staging, which a
# dependent module ignores, so every staging module is replaced here with its published v0.Y.Z tag.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

gen_k8s() {
  local dir=$here/tools/k8s staging_version
  staging_version="v0.${K8S_VERSION#v1.}"
  rm -f "$dir/go.mod" "$dir/go.sum"
  mkdir -p "$dir"
  local modfile
  modfile=$(mktemp)
  curl -fsS "$(go env GOPROXY | cut -d, -f1)/k8s.io/kubernetes/@v/${K8S_VERSION}.mod" -o "$modfile"
  (
    cd "$dir"
    go mod init umbra.io/tools/k8s
    go mod edit -go="$(awk '$1=="go"{print $2; exit}' "$modfile")"
    grep -E '^godebug ' "$modfile" | while read -r _ kv; do go mod edit -godebug="$kv"; done
    go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$modfile" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
    for t in kube-apiserver kube-controller-manager kubectl; do
      go mod edit -tool="k8s.io/kubernetes/cmd/$t"
    done
    go mod tidy
  )
  rm -f "$modfile"
}

gen_etcd() {
  local dir=$here/tools/etcd
  rm -f "$dir/go.mod" "$dir/go.sum"
  mkdir -p "$dir"
  (
    cd "$dir"
    go mod init umbra.io/tools/etcd
    go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    go mod edit -require="go.etcd.io/etcd/etcdctl/v3@${ETCD_VERSION}"
    go mod edit -tool=go.etcd.io/etcd/server/v3 -tool=go.etcd.io/etcd/etcdctl/v3
    go mod tidy
  )
}

gen_k8s
gen_etcd
