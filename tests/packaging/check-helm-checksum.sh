#!/usr/bin/env bash
# The helm every chart test runs is the one scripts/versions.env pins by SHA-256, and the check
# scripts/setup.sh applies to what it fetches refuses anything else in one line.
#   tests/packaging/check-helm-checksum.sh SOURCE_DIR
set -euo pipefail
src=$1
source "$src/scripts/versions.env"
source "$src/scripts/verify-sha256.sh"
helm=${UMBRA_CACHE:-$HOME/.cache/umbra}/helm-$HELM_NPM_VERSION/bin/helm
[[ -x $helm ]] || { echo "$helm is missing: run scripts/setup.sh" >&2; exit 1; }
verify_sha256 "$helm" "$HELM_SHA256" "$helm" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$helm" "$tmp/helm" && printf 'x' >>"$tmp/helm"  # one byte more
if out=$(verify_sha256 "$tmp/helm" "$HELM_SHA256" "a tampered helm" 2>&1); then
  echo "a tampered helm passed the check" >&2
  exit 1
fi
[[ $out == "setup.sh: a tampered helm: SHA-256 "*", expected $HELM_SHA256 (scripts/versions.env); not installed" ]] || {
  echo "unexpected refusal: $out" >&2
  exit 1
}
echo "helm $HELM_SHA256 as pinned; a tampered copy refused: $out"
