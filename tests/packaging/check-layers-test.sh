#!/usr/bin/env bash
# scripts/check-layers.py passes on this tree, and fails on a tree with an upward include, an
# upward CMake dependency or a folder with no place in the layers.
set -euo pipefail
repo=$1
check=$repo/scripts/check-layers.py
python3 "$check" "$repo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/model" "$tmp/src/controller" "$tmp/operator"
echo '#include "controller/shadow_placement_reconciler.h"' >"$tmp/src/model/forecaster.h"
if python3 "$check" "$tmp" 2>"$tmp/err"; then
  echo "check-layers-test: an upward include passed" >&2
  exit 1
fi
grep -q 'src/model/forecaster.h:1: model includes controller' "$tmp/err"
: >"$tmp/src/model/forecaster.h"
echo 'umbra_library(model DEPS umbra::controller)' >"$tmp/src/model/CMakeLists.txt"
if python3 "$check" "$tmp" 2>"$tmp/err"; then
  echo "check-layers-test: an upward CMake dependency passed" >&2
  exit 1
fi
grep -q 'model links controller' "$tmp/err"
rm "$tmp/src/model/CMakeLists.txt"
mkdir "$tmp/src/misc"
if python3 "$check" "$tmp" 2>"$tmp/err"; then
  echo "check-layers-test: a folder with no layer passed" >&2
  exit 1
fi
grep -q 'src/misc: a folder with no place in the layers' "$tmp/err"
echo "check-layers-test: 3 of 3 bad trees refused"
