#!/usr/bin/env bash
# Runs the helm that scripts/setup.sh fetched (pinned in scripts/versions.env), with its state in
# a throwaway directory unless HELM_* variables say otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
source "$here/scripts/versions.env"
helm=${UMBRA_CACHE:-$HOME/.cache/umbra}/helm-$HELM_NPM_VERSION/bin/helm
[[ -x $helm ]] || { echo "helm.sh: $helm is missing: run scripts/setup.sh" >&2; exit 1; }
exec "$helm" "$@"
