#!/usr/bin/env bash
# The project's test command: builds the gateway and runs every suite (unit and integration).
# Integration suites start their own servers on loopback; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
export AUTHGATE_BIN="${AUTHGATE_BIN:-$(swift build --show-bin-path)/authgate}"
swift test --skip-build "$@"
