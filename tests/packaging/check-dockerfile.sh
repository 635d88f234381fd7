#!/usr/bin/env bash
# operator/Dockerfile stays consistent with scripts/setup.sh and with the binary:
#  1. its build stage installs exactly setup.sh's package list;
#  2. every shared library the binaries link (umbra-operator, and umbra, which it runs to retrain)
#     comes from a package of its runtime stage, from the base image, or from a dependency of a
#     listed package;
#  3. the runtime stage copies every binary in.
# Usage: check-dockerfile.sh SOURCE_DIR BINARY...
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

runtime=$(stage_packages 2)
base="libc6 libgcc-s1 libstdc++6 zlib1g"
# Everything the runtime packages pull in, transitively (apt installs the whole closure).
deps_of() {
  dpkg-query -W -f='${Depends},${Pre-Depends}\n' "$@" 2>/dev/null | tr ',|' '\n' |
    sed 's/(.*//; s/:any//; s/ //g' | sed '/^$/d' | sort -u
}
depends=""
frontier=$runtime
# shellcheck disable=SC2086  # package lists are split on purpose
while [[ -n $frontier ]]; do
  next=$(deps_of $frontier | grep -vxF -f <(printf '%s\n' $runtime $depends) || true)
  depends=$(printf '%s\n' $depends $next | sed '/^$/d' | sort -u)
  frontier=$next
done
status=0
for binary in "${binaries[@]}"; do
  name=$(basename "$binary")
  if ! grep -q "^COPY --from=build .*/$name /usr/local/bin/$name\$" "$dockerfile"; then
    echo "operator/Dockerfile: the runtime stage does not copy $name to /usr/local/bin" >&2
    status=1
  fi
done
for lib in $(ldd "${binaries[@]}" | awk '/=>/ {print $3}' | sort -u); do
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || true
  if [[ -z $pkg ]]; then
    pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
  fi
  if [[ -z $pkg ]]; then
    echo "operator/Dockerfile: $lib belongs to no Debian package" >&2
    status=1
  elif ! grep -qx "$pkg" <<<"$runtime" && ! grep -qw "$pkg" <<<"$base" && ! grep -qx "$pkg" <<<"$depends"; then
    echo "operator/Dockerfile: the runtime stage lacks $pkg (for $(basename "$lib"))" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "operator/Dockerfile agrees with scripts/setup.sh and with the libraries of: ${binaries[*]##*/}"
exit $status
