#!/usr/bin/env bash
# verify_sha256 FILE EXPECTED WHAT: succeeds when FILE's SHA-256 is EXPECTED, else says in one line
# what was fetched, what it should have been and what it is, and fails. Sourced by scripts/setup.sh.
verify_sha256() {
  local file=$1 expected=$2 what=$3 actual
  actual=$(sha256sum "$file" | cut -d' ' -f1)
  if [[ $actual != "$expected" ]]; then
    echo "setup.sh: $what: SHA-256 $actual, expected $expected (scripts/versions.env); not installed" >&2
    return 1
  fi
}
