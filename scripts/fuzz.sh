#!/usr/bin/env bash
# `make fuzz` (and the end of `make test`): builds the parsers' libFuzzer targets (CMake preset
# `fuzz`: clang, ASan + UBSan) and runs each for SECONDS (default 30) from its seed corpus,
# tests/fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ (kept between runs),
# findings to build-fuzz/crashes/<target>/ with the command that replays them.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a whole number of seconds, got '$seconds'" >&2; exit 2; }
command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang++-14 is not installed: run scripts/setup.sh" >&2; exit 1; }
cd "$here"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${JOBS:-$(nproc)}"
out=$here/build-fuzz
failed=()
for bin in "$out"/tests/fuzz/fuzz_*; do
  name=${bin##*/}
  seeds=$here/tests/fuzz/corpus/$name
  [[ -d $seeds ]] || { echo "fuzz.sh: $seeds: no seed corpus for $name" >&2; exit 1; }
  work=$out/corpus/$name
  crashes=$out/crashes/$name
  log=$out/$name.log
  mkdir -p "$work" "$crashes"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "$seeds" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "[fuzz] $name: ${runs:-?} inputs in ${seconds} s, no finding ($(find "$work" -type f | wc -l) in its corpus)"
  else
    failed+=("$name")
    echo "[fuzz] $name: FINDING; replay with: $bin $crashes/<file>; the end of $log:" >&2
    tail -n 40 "$log" >&2
  fi
done
if ((${#failed[@]} > 0)); then
  echo "[fuzz] findings in: ${failed[*]}" >&2
  exit 1
fi
