#!/usr/bin/env bash
# The project's test command: installs what the suites need where it is missing
# (scripts/install-test-deps.sh: PostgreSQL 15, nginx, wrk, promtool, chromium, the Python
# packages; idempotent, needs root only for what is missing), builds the gateway, runs the Swift
# suites (unit, handler and loopback integration), then the end-to-end suite against real
# PostgreSQL and a real Better Auth server. Nothing is skipped; the exit status is non-zero if
# either run failed. Extra arguments go to `swift test`.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh || { echo "test.sh: installing the test dependencies failed" >&2; exit 1; }
swift build --build-tests || exit 1
AUTHGATE_BIN="$(swift build --show-bin-path)/authgate"
export AUTHGATE_BIN

# Pure logic in parallel; the loopback and process tests (AuthGateTests) one at a time: they
# assert timeouts of a second or two, and on 2 cores a hundred tests starting at once stretch
# a client's gap between two sends past them.
swift test --skip-build --skip AuthGateTests "$@"
core_status=$?
swift test --skip-build --no-parallel --filter AuthGateTests "$@"
io_status=$?
swift_status=$(( core_status != 0 || io_status != 0 ))

scripts/e2e.sh
e2e_status=$?

# A short run of the request parser's libFuzzer target (Fuzz/; scripts/fuzz.sh SECONDS for longer).
scripts/fuzz.sh 30
fuzz_status=$?

echo "test.sh: swift test exit ${swift_status}, e2e exit ${e2e_status}, fuzz exit ${fuzz_status}"
[ "$swift_status" -eq 0 ] && [ "$e2e_status" -eq 0 ] && [ "$fuzz_status" -eq 0 ]
