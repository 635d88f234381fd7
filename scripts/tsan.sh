#!/usr/bin/env bash
# ThreadSanitizer over the threaded code: the runtime's queues and informers, the API client and
# its watches, leader election, the TLS servers, and the operator and umbra-sim binaries end to
# end (built with TSan too). A report fails the test that produced it (exit code 66); the canary,
# a deliberate race, must fail. Usage: scripts/tsan.sh   (build-tsan/, the preset `tsan`)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset tsan >/dev/null
cmake --build --preset tsan
ctest --preset tsan "$@"
