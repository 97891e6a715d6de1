"""Across restarts: what a PostgreSQL restart and a gateway stop must not lose.

- A sign-out whose ``NOTIFY`` fell in the gap while the cache-eviction listener was
  disconnected must not be missed: once ``LISTEN`` is back, the identity cache is purged.
- Audit events queued when SIGTERM arrives are written to PostgreSQL before the pool closes,
  never to the spill file.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from pathlib import Path

import requests

from conftest import start_private_auth_server, wait_until
from helpers import legacy_token, make_user, sign_out
from test_audit import AUDIT_DDL, USERS_TABLE, audit_config

TIMEOUT = 10
NOTIFY_SQL = (Path(__file__).resolve().parents[2] / "deploy" / "sql" / "authgate_notify.sql").read_text()


def test_a_sign_out_while_the_listener_is_reconnecting_is_not_missed(authgate, password_postgres, tmp_path):
    pg = password_postgres
    auth = start_private_auth_server(pg, tmp_path)
    try:
        pg.sql(NOTIFY_SQL)  # the auth server has created the session table
        gateway = authgate(
            {
                "auth": {
                    "enable_dual_auth": True,
                    "auth_server_url": auth.url,
                    "better_auth_secret": auth.secret,
                    "legacy_jwt_secret": "restart-legacy-secret-" + uuid.uuid4().hex,
                    # The listener logs in as the password role, which the test locks out.
                    "database_url": pg.role_dsn,
                    "session_resolver": "http",
                    "cookie_prefix": "better-auth",
                },
                # 60 s: within this test only a notification or a purge can end a cached session.
                "cache": {"positive_ttl_ms": 60000, "negative_ttl_ms": 5000, "stale_if_error_ms": 0},
                "rate_limits": {"ip_burst": 10000, "user_burst": 10000},
                "audit": {"enabled": False},
            }
        )
        gateway.wait_for_log("listening for cache evictions")
        user = make_user(auth, "restart")
        me = f"{gateway.url}/api/me"
        assert requests.get(me, headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200

        # PostgreSQL restarts; the gateway's role cannot log in until the test lets it, so the
        # sign-out below certainly happens while the listener is reconnecting.
        pg.set_login(False)
        offset = len(gateway.log)
        pg.stop()
        pg.start()
        gateway.wait_for_log("cache eviction listener disconnected", start=offset, timeout=15)
        assert sign_out(auth, user.cookie, origin=gateway.origin).status_code == 200
        assert pg.sql('SELECT count(*) FROM "session" WHERE "token" = %s', user.token) == [(0,)]
        # The NOTIFY reached nobody: the cached answer still stands (this is the gap).
        assert requests.get(me, headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200

        offset = len(gateway.log)
        allowed_at = time.monotonic()
        pg.set_login(True)
        gateway.wait_for_log(r"listening for cache evictions", start=offset, timeout=15)
        listening_after = time.monotonic() - allowed_at
        response = requests.get(me, headers={"Cookie": user.cookie}, timeout=TIMEOUT)
        refused_after = time.monotonic() - allowed_at
        print(
            f"\nlistener back {listening_after:.2f} s after the role could log in again; "
            f"session refused {refused_after:.2f} s after (positive TTL 60 s)"
        )
        assert response.status_code == 401, (
            f"a session signed out while the listener was down is still accepted: {response.status_code}"
        )
        assert response.json().get("error"), response.text
        # A live session still works after the purge (one lookup again).
        other = make_user(auth, "restart-other")
        assert requests.get(me, headers={"Cookie": other.cookie}, timeout=TIMEOUT).status_code == 200
    finally:
        auth.stop()


def test_audit_events_queued_at_sigterm_reach_postgres_not_the_spill_file(
    authgate, postgres, legacy_secret, tmp_path
):
    table = "auth_audit_log_sigterm"
    for statement in filter(str.strip, AUDIT_DDL.replace("auth_audit_log", table).split(";")):
        postgres.sql(statement)
    postgres.sql(f"CREATE TABLE IF NOT EXISTS {USERS_TABLE} (id bigint PRIMARY KEY, email text, last_auth_method text)")
    spill = tmp_path / "audit-spill.jsonl"
    # One batch of 5000 and a 60 s flush interval: nothing is written before SIGTERM, every
    # event is still queued when it arrives.
    config = audit_config(postgres, legacy_secret, spill, table=table, batch_size=5000, flush_interval_ms=60000)
    gateway = authgate(config)

    valid = legacy_token("9100", "sigterm@example.com", "user", secret=legacy_secret)
    forged = legacy_token("9100", "sigterm@example.com", "user", secret="not-the-secret-" + "z" * 20)

    def call(i: int) -> int:
        token = forged if i % 5 == 4 else valid
        return requests.get(
            f"{gateway.url}/api/sigterm?i={i}", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        ).status_code

    count = 300
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(count)))
    assert statuses.count(200) == count * 4 // 5 and statuses.count(401) == count // 5, statuses
    assert postgres.sql(f"SELECT count(*) FROM {table}") == [(0,)], "written before SIGTERM: the test proves nothing"

    started = time.monotonic()
    code = gateway.stop()
    stopped_after = time.monotonic() - started
    print(f"\nSIGTERM with {count} audit events queued: stopped in {stopped_after:.2f} s")
    assert code == 0, gateway.log[-3000:]
    rows = postgres.sql(f"SELECT count(*), count(DISTINCT event_id) FROM {table}")[0]
    assert rows == (count, count), f"{rows[0]} rows in PostgreSQL for {count} events\n{gateway.log[-3000:]}"
    assert not spill.exists() or spill.stat().st_size == 0, f"spilled {spill.stat().st_size} bytes on a clean stop"
    assert "spilling" not in gateway.log
    assert "audit writer stopped" in gateway.log
    wait_until(lambda: not gateway.running, 5, "gateway stopped")
