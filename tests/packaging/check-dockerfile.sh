#!/usr/bin/env bash
# operator/Dockerfile stays consistent with scripts/setup.sh and with the binaries:
#  1. its build stage installs exactly setup.sh's package list;
#  2. every shared library a binary links comes from a package of its own runtime stage (the
#     operator's: the last; the trainer's: `trainer`), from the base image, or from a dependency
#     of a listed package;
#  3. each runtime stage copies its binary in, and the operator's carries no LibTorch.
# Usage: check-dockerfile.sh SOURCE_DIR OPERATOR_BINARY UMBRA_BINARY
set -euo pipefail
src=$1
shift
binaries=("$@")
dockerfile=$src/operator/Dockerfile

setup_packages=$(sed -n '/^packages=(/,/^)/p' "$src/scripts/setup.sh" | sed '1d;$d' | tr -s ' \n' '\n' | sed '/^$/d' | sort)
# The build stage: the first apt-get install's continuation lines up to the '&&'.
stage_packages() {  # $1: 1 for the build stage, 2 for the runtime stage
  awk -v want="$1" '
    /apt-get install/ { n++; on = (n == want); next }
    on && /&&/ { on = 0 }
    on { gsub(/\\/, ""); print }
  ' "$dockerfile" | tr -s ' \n' '\n' | sed '/^$/d' | sort
}
build_packages=$(stage_packages 1)
if [[ $setup_packages != "$build_packages" ]]; then
  echo "operator/Dockerfile: the build stage's packages differ from scripts/setup.sh's:" >&2
  diff <(echo "$setup_packages") <(echo "$build_packages") >&2 || true
  exit 1
fi

base="libc6 libgcc-s1 libstdc++6 zlib1g"
# Everything the packages pull in, transitively (apt installs the whole closure).
deps_of() {
  dpkg-query -W -f='${Depends},${Pre-Depends}\n' "$@" 2>/dev/null | tr ',|' '\n' |
    sed 's/(.*//; s/:any//; s/ //g' | sed '/^$/d' | sort -u
}
closure() {  # $@: packages -> their dependencies, transitively
  local depends="" frontier="$*" next
  # shellcheck disable=SC2086  # package lists are split on purpose
  while [[ -n $frontier ]]; do
    next=$(deps_of $frontier | grep -vxF -f <(printf '%s\n' "$@" $depends) || true)
    depends=$(printf '%s\n' $depends $next | sed '/^$/d' | sort -u)
    frontier=$next
  done
  echo "$depends"
}
status=0
check_stage() {  # $1: stage number (apt-get install order), $2: its name, $3: the binary
  local runtime depends name lib pkg
  runtime=$(stage_packages "$1")
  # shellcheck disable=SC2086
  depends=$(closure $runtime)
  name=$(basename "$3")
  if ! grep -q "^COPY --from=build .*/$name /usr/local/bin/$name\$" "$dockerfile"; then
    echo "operator/Dockerfile: the $2 stage does not copy $name to /usr/local/bin" >&2
    status=1
  fi
  for lib in $(ldd "$3" | awk '/=>/ {print $3}' | sort -u); do
    pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || true
    if [[ -z $pkg ]]; then
      pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
    fi
    if [[ -z $pkg ]]; then
      echo "operator/Dockerfile: $lib belongs to no Debian package" >&2
      status=1
    elif ! grep -qx "$pkg" <<<"$runtime" && ! grep -qw "$pkg" <<<"$base" && ! grep -qx "$pkg" <<<"$depends"; then
      echo "operator/Dockerfile: the $2 stage lacks $pkg (for $(basename "$lib"))" >&2
      status=1
    fi
  done
  if [[ $2 == operator ]] && grep -q 'libtorch' <<<"$runtime $depends"; then
    echo "operator/Dockerfile: the operator stage pulls in LibTorch (training belongs in the trainer)" >&2
    status=1
  fi
}
[[ $(grep -c '^FROM' "$dockerfile") == 3 ]] || { echo "operator/Dockerfile: expected the stages build, trainer, operator" >&2; exit 1; }
check_stage 2 trainer "${binaries[1]}"
check_stage 3 operator "${binaries[0]}"
[[ $status == 0 ]] && echo "operator/Dockerfile agrees with scripts/setup.sh; the trainer stage holds $(basename "${binaries[1]}")'s libraries, the operator stage $(basename "${binaries[0]}")'s and no LibTorch"
exit $status
