#!/usr/bin/env bash
# Installs what the end-to-end suite (tests/e2e) needs on a fresh Debian 12 machine, as root:
# PostgreSQL 15 server binaries (the tests start their own cluster; none is left running),
# wrk (load during reloads), nginx (the deploy kit's site in front of the gateway), promtool (the
# deploy kit's alert rules; Debian ships it in the prometheus package), Chromium (CORS in a real
# browser), redis-server (Better Auth's secondaryStorage) and the pinned Python packages.
# Idempotent: installed parts are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

apt_packages=()
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ ! -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
    apt_packages+=(postgresql-15)
fi
command -v runuser >/dev/null 2>&1 || apt_packages+=(util-linux)
command -v wrk >/dev/null 2>&1 || apt_packages+=(wrk)  # tests/e2e/test_reload_under_load.py
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
# tests/e2e/test_nginx_deploy.py runs its own nginx (non-daemon, private prefix and ports).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_packages+=(nginx)
command -v promtool >/dev/null 2>&1 || apt_packages+=(prometheus)  # tests/e2e/test_deploy_kit.py
# tests/e2e/test_cors_browser.py drives headless Chromium (--headless=new --no-sandbox).
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || apt_packages+=(chromium)
# tests/e2e/test_secondary_storage.py runs its own redis-server (loopback, free port, no persistence).
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
python3 -m pip --version >/dev/null 2>&1 || apt_packages+=(python3-pip)
if [ ${#apt_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-test-deps: need root to install: ${apt_packages[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
    # Only the binaries are wanted: where systemd runs, the packages' services (nginx on :80,
    # Prometheus on :9090, Redis on :6379) start on install; stop and disable the ones
    # installed just now.
    if [ -d /run/systemd/system ]; then
        for pkg in nginx prometheus redis-server; do
            if [[ " ${apt_packages[*]} " == *" $pkg "* ]]; then
                systemctl disable --now "$pkg.service" >/dev/null 2>&1 || true
            fi
        done
    fi
fi
# The Debian package creates and starts a default cluster on port 5432; the tests do not use
# it, and a plain `apt-get install` on a machine without systemd does not start it anyway.

# PEP 668 (Debian's own python3) refuses system-wide pip installs unless told otherwise.
pip_flags=(-q --disable-pip-version-check)
if python3 -m pip install --help 2>/dev/null | grep -q -- '--break-system-packages'; then
    if python3 -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")) else 1)'; then
        pip_flags+=(--break-system-packages)
    fi
fi
PIP_ROOT_USER_ACTION=ignore python3 -m pip install "${pip_flags[@]}" -r tests/e2e/requirements.txt
python3 -c 'import better_auth, fastapi, uvicorn, sqlalchemy, psycopg, jwt, pytest, pytest_timeout, requests, yaml, redis' \
    || { echo "install-test-deps: Python packages missing after install" >&2; exit 1; }
echo "install-test-deps: ok"
