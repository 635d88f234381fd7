#!/usr/bin/env bash
# The trainer sidecar: runs `umbra train` for the operator container of the same pod, which hands
# it requests through SPOOL, a folder both mount (src/model/spool_trainer.h describes the files).
# Only this container's image carries LibTorch, and it is loaded only while a training runs.
# Usage: trainer-sidecar.sh SPOOL   (UMBRA_BIN: the umbra binary, default `umbra` on PATH)
set -uo pipefail
spool=${1:?usage: trainer-sidecar.sh SPOOL}
umbra=${UMBRA_BIN:-umbra}
poll=${UMBRA_TRAINER_POLL:-1}
mkdir -p "$spool" || exit 1
command -v "$umbra" >/dev/null || { echo "trainer-sidecar: $umbra: not found" >&2; exit 1; }

answer() {  # $1: id, $2: exit code; written whole
  echo "$2" >"$1.exit.tmp" && mv "$1.exit.tmp" "$1.exit"
}
trainer=0
current=
stop() {
  if ((trainer > 0)); then
    kill -TERM "$trainer" 2>/dev/null
    wait "$trainer"
    answer "$current" 143
  fi
  exit 0
}
trap stop TERM INT

# A claim an earlier sidecar left unanswered (it was stopped mid-training): nothing runs it now.
for running in "$spool"/t-*.running; do
  [[ -e $running ]] || continue
  id=${running%.running}
  [[ -e $id.exit ]] || answer "$id" 143
done

echo "trainer-sidecar: serving $spool with $umbra" >&2
while :; do
  for request in "$spool"/t-*.request; do
    [[ -e $request ]] || continue
    id=${request%.request}
    current=$id
    mv "$request" "$id.running" 2>/dev/null || continue  # withdrawn meanwhile
    if [[ -e $id.cancel ]]; then
      rc=143
    else
      mapfile -d '' -t args <"$id.running"
      "$umbra" "${args[@]}" >"$id.log" 2>&1 &
      trainer=$!
      while kill -0 "$trainer" 2>/dev/null; do
        [[ -e $id.cancel ]] && kill -TERM "$trainer" 2>/dev/null
        sleep "$poll" &
        wait $!
      done
      wait "$trainer"
      rc=$?
      trainer=0
    fi
    answer "$id" "$rc"
  done
  sleep "$poll" &
  wait $!
done
