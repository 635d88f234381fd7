#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd/etcdctl from the pinned Go modules
# in tools/ into a cache outside the repository, keyed by version and go.sum hash:
#   ${UMBRA_CACHE:-~/.cache/umbra}/k8s-<version>-<hash>/bin
#   ${UMBRA_CACHE:-~/.cache/umbra}/etcd-<version>-<hash>/bin
# A stamp file marks a finished build; a matching stamp makes this a no-op.
# Prints the two bin directories on the last two lines of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.env"
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOMODCACHE=$cache/go/mod GOCACHE=$cache/go/build
mkdir -p "$cache"

log() { echo "[control-plane] $*" >&2; }

# The key hashes the files' contents only, so that every clone (CI's fresh one included) shares it.
sum_hash() { cat "$1/go.sum" "$1/go.mod" | sha256sum | cut -c1-12; }

download() {
  local dir=$1 name=$2
  log "$name: go mod download (modules into $GOMODCACHE)"
  # go mod download prints nothing per module; -x would be too loud. Fail on the first error.
  if ! (cd "$dir" && go mod download 2>&1 | sed "s/^/[control-plane] $name: /" >&2; exit "${PIPESTATUS[0]}"); then
    log "$name: go mod download failed (see the error above); the Go module proxy must be reachable"
    exit 1
  fi
}

# build DIR OUT NAME LDFLAGS BIN=PKG...: go build each package into OUT/bin.tmp/BIN, then rename the
# directory to OUT/bin and write a stamp. Packages compiled once are reused from GOCACHE.
build() {
  local dir=$1 out=$2 name=$3 ldflags=$4
  shift 4
  if [[ -f $out/stamp ]]; then
    log "$name: cached at $out"
    return
  fi
  download "$dir" "$name"
  rm -rf "$out/bin.tmp"
  mkdir -p "$out/bin.tmp"
  log "$name: building ${*%%=*} (cold builds take many minutes on 2 cores)"
  local start=$SECONDS
  (
    cd "$dir"
    # A heartbeat so that CI logs show progress during the long compile.
    while sleep 60; do log "$name: still compiling ($((SECONDS - start)) s)"; done &
    hb=$!
    # Under errexit a failing command in the trap fails the build: either may find nothing to kill
    # (the heartbeat between two sleeps, or already gone), which is fine.
    trap 'pkill -P $hb 2>/dev/null || true; kill $hb 2>/dev/null || true' EXIT
    for binpkg in "$@"; do
      log "$name: go build ${binpkg#*=}"
      go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$out/bin.tmp/${binpkg%%=*}" "${binpkg#*=}"
    done
  )
  rm -rf "${out:?}/bin"
  mv "$out/bin.tmp" "$out/bin"
  echo "built in $((SECONDS - start)) s on $(date -u +%FT%TZ)" >"$out/stamp"
  log "$name: built in $((SECONDS - start)) s"
}

k8s_out=$cache/k8s-$K8S_VERSION-$(sum_hash "$here/tools/k8s")
etcd_out=$cache/etcd-$ETCD_VERSION-$(sum_hash "$here/tools/etcd")

major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
vflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  vflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  vflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

build "$here/tools/k8s" "$k8s_out" kubernetes "-s -w$vflags" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kubectl=k8s.io/kubernetes/cmd/kubectl
build "$here/tools/etcd" "$etcd_out" etcd \
  "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
  etcd=go.etcd.io/etcd/server/v3 etcdctl=go.etcd.io/etcd/etcdctl/v3
echo "$k8s_out/bin"
echo "$etcd_out/bin"
