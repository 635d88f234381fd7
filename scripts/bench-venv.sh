#!/usr/bin/env bash
# Prints the benchmark scripts' Python virtualenv (statsmodels, statsforecast, mlforecast, LightGBM,
# pandas, matplotlib from PyPI, as pinned in bench/requirements.txt), creating it in the cache first
# when needed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${UMBRA_CACHE:-$HOME/.cache/umbra}
venv=$cache/bench-venv-$(sha256sum "$here/bench/requirements.txt" | cut -c1-12)
if [[ ! -x $venv/bin/python ]]; then
  echo "[bench] creating $venv (statsmodels, statsforecast, mlforecast, LightGBM, pandas, matplotlib from PyPI)" >&2
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp"
  "$venv.tmp/bin/pip" install -q -r "$here/bench/requirements.txt" >&2
  mv "$venv.tmp" "$venv"
fi
echo "$venv"
