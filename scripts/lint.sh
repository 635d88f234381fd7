#!/usr/bin/env bash
# clang-format on every C++ file, clang-tidy on the C++ files changed against the merge base with
# origin/main (or the last commit), shellcheck on every script.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

mapfile -t cxx < <(git ls-files '*.h' '*.cc')
if ! clang-format --dry-run -Werror "${cxx[@]}"; then
  echo "lint: clang-format found differences (run: make format)" >&2
  status=1
fi

base=$(git merge-base HEAD origin/main 2>/dev/null || git rev-parse HEAD~1 2>/dev/null || true)
mapfile -t changed < <(
  { [[ -n $base ]] && git diff --name-only "$base" -- '*.cc'; git ls-files -m -o --exclude-standard -- '*.cc'; } |
    sort -u | while read -r f; do [[ -f $f ]] && echo "$f"; done |
    # clang-tidy 14 cannot parse LibTorch 1.13's c10::IValue headers with libstdc++ 12; the
    # LibTorch users are compiled with -Werror by GCC instead.
    grep -v -e '^src/training/lstm\.cc$'
)
if ((${#changed[@]} > 0)); then
  if [[ ! -f build/compile_commands.json ]]; then
    cmake --preset default >/dev/null
  fi
  echo "lint: clang-tidy on ${#changed[@]} changed file(s)" >&2
  if ! clang-tidy -p build --quiet "${changed[@]}" 2>/dev/null; then
    status=1
  fi
fi

mapfile -t shells < <(git ls-files '*.sh' .ci/run)
if ! shellcheck -x "${shells[@]}"; then
  status=1
fi
exit $status
