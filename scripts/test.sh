#!/usr/bin/env bash
# The project's test command: builds the gateway, runs the Swift suites (unit, handler and
# loopback integration), then the end-to-end suite against real PostgreSQL and a real Better
# Auth server (scripts/install-test-deps.sh installs what it needs). Nothing is skipped; the
# exit status is non-zero if either run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests || exit 1
AUTHGATE_BIN="$(swift build --show-bin-path)/authgate"
export AUTHGATE_BIN

swift test --skip-build "$@"
swift_status=$?

scripts/e2e.sh
e2e_status=$?

echo "test.sh: swift test exit ${swift_status}, e2e exit ${e2e_status}"
[ "$swift_status" -eq 0 ] && [ "$e2e_status" -eq 0 ]
