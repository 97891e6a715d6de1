#!/usr/bin/env bash
# End-to-end suite: real PostgreSQL, Better Auth server, echo backend and the gateway binary.
# Needs scripts/install-test-deps.sh once, and a built gateway:
#   swift build --product authgate                      (AUTHGATE_BIN defaults to .build/debug/authgate)
#   AUTHGATE_BIN=.build-e2e/debug/authgate scripts/e2e.sh   (another scratch path)
# Extra arguments go to pytest (e.g. -k name, -x). The exit code is pytest's.
set -uo pipefail
cd "$(dirname "$0")/.."
export AUTHGATE_BIN="${AUTHGATE_BIN:-.build/debug/authgate}"
exec python3 -m pytest tests/e2e -q -p no:cacheprovider "$@"
