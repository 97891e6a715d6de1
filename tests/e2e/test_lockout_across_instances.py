"""``lockout.store: postgres``: the per-account failure count shared by several gateways.

Two gateway processes with one config and one PostgreSQL, in front of the real Better Auth
server (``/api/auth/sign-in/email``), the table created by ``authgate db migrate``. Wrong
passwords for one account alternate between the two gateways:

- with ``store: postgres`` the account is locked after exactly ``max_failures`` failures in
  total, on both gateways (429 ``locked_out``), and the table holds a hash, not the email;
- with ``store: memory`` (the default) each gateway allows its own ``max_failures``;
- with the store's database stopped, or a "database" that accepts connections and never
  answers, logins still work (fail open to the in-memory count, which still locks), every
  failed query is counted in ``authgate_lockout_store_failures_total``, and no login waits
  longer than the query timeout allows.
"""

from __future__ import annotations

import copy
import hashlib
import os
import secrets
import socket
import subprocess
import threading
import time

import psycopg
import pytest
import requests

from conftest import authgate_binary
from helpers import PASSWORD, sign_up, unique_email

TIMEOUT = 15
MAX_FAILURES = 5
WRONG = "wrong password!"
LOGIN = "/api/auth/sign-in/email"
STORE_FAILURES = "authgate_lockout_store_failures_total"
USERS_DDL = "CREATE TABLE IF NOT EXISTS users (id integer PRIMARY KEY, email text NOT NULL)"


# --- helpers ------------------------------------------------------------------------------------


def migrate(dsn: str) -> None:
    """``authgate db migrate`` against ``dsn`` (no DATABASE_URL or AUTHGATE_* from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_") and k != "DATABASE_URL"}
    result = subprocess.run(
        [str(authgate_binary()), "db", "migrate", "--database-url", dsn],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"db migrate: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "004_lockout_failures.sql" in result.stdout, result.stdout


def config_for(base: dict, database_url: str, store: str | None, timeout_ms: int = 500) -> dict:
    out = copy.deepcopy(base)
    out["auth"]["database_url"] = database_url
    out["lockout"] = {"enabled": True, "max_failures": MAX_FAILURES, "window_ms": 60000}
    if store is not None:
        out["lockout"]["store"] = store
        out["lockout"]["store_timeout_ms"] = timeout_ms
    out["routes"] = [
        {"path": "/api/public/", "access": "public"},
        {"path": "/api/auth/", "access": "public", "upstream": "auth_server"},
    ]
    return out


_ip_counter = iter(range(1, 1_000_000))


def fresh_ip() -> str:
    """A client address of its own per attempt, so only the per-account count can lock."""
    n = next(_ip_counter)
    return f"10.77.{n // 250}.{n % 250 + 1}"


def sign_in(gateway, email: str, password: str) -> requests.Response:
    return requests.post(
        f"{gateway.url}{LOGIN}",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": fresh_ip()},
        timeout=TIMEOUT,
    )


def assert_locked(response: requests.Response, where: str) -> None:
    assert response.status_code == 429, f"{where}: want 429 locked_out, got {response.status_code} {response.text[:300]}"
    assert response.json()["error"] == "locked_out", response.text
    retry_after = response.headers.get("Retry-After")
    assert retry_after and retry_after.isdigit() and 1 <= int(retry_after) <= 60, f"Retry-After: {retry_after!r}"


def store_failures(gateway) -> float:
    return gateway.metrics().get(STORE_FAILURES, 0)


def account_key(email: str) -> str:
    return hashlib.sha256(b"authgate-lockout-account\x00" + email.encode()).hexdigest()


def sql(dsn: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def lockout_db(postgres):
    """A fresh database in the session's cluster, migrated by ``authgate db migrate``."""
    name = "lockout_" + secrets.token_hex(6)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgres://postgres@127.0.0.1:{postgres.port}/{name}"
    sql(dsn, USERS_DDL)  # migration 003 needs the legacy users table
    migrate(dsn)
    yield dsn
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class SilentServer:
    """Accepts TCP connections on loopback and never answers: a database that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()


# --- the shared count ---------------------------------------------------------------------------


def test_postgres_store_locks_after_max_failures_in_total(authgate, gateway_auth_config, auth_server, lockout_db):
    config = config_for(gateway_auth_config, lockout_db, "postgres")
    first, second = authgate(config), authgate(config)
    email, other = unique_email("shared-lock"), unique_email("shared-free")
    sign_up(auth_server, email, PASSWORD, "shared")
    sign_up(auth_server, other, PASSWORD, "free")
    gateways = [first, second]

    for attempt in range(MAX_FAILURES):
        gateway = gateways[attempt % 2]
        wrong = sign_in(gateway, email, WRONG)
        assert wrong.status_code == 401, f"failure {attempt + 1} (gateway {attempt % 2}): {wrong.status_code} {wrong.text[:300]}"
        # Counted in PostgreSQL before the 401 went back: the next attempt sees it on either gateway.
        assert sql(lockout_db, "SELECT failures FROM authgate_lockout_failures WHERE account_key = %s", account_key(email)) == [
            (attempt + 1,)
        ]

    # 3 failures on one gateway, 2 on the other: 5 in total lock the account on both, even
    # with the right password.
    assert_locked(sign_in(first, email, PASSWORD), "first gateway after 5 failures in total")
    assert_locked(sign_in(second, email, PASSWORD), "second gateway after 5 failures in total")
    # Another account is not affected.
    assert sign_in(first, other, PASSWORD).status_code == 200
    assert sign_in(second, other, PASSWORD).status_code == 200

    # The table holds the hash of the account, never the email.
    rows = sql(lockout_db, "SELECT account_key, failures FROM authgate_lockout_failures")
    assert (account_key(email), MAX_FAILURES) in rows, rows
    assert all(email not in key and other not in key for key, _ in rows), rows
    assert store_failures(first) == 0 and store_failures(second) == 0


def test_postgres_store_window_restarts_and_expired_rows_go(authgate, gateway_auth_config, auth_server, lockout_db):
    config = config_for(gateway_auth_config, lockout_db, "postgres")
    first, second = authgate(config), authgate(config)
    email = unique_email("shared-window")
    sign_up(auth_server, email, PASSWORD, "window")
    # A window that has passed counts as none: the next failure starts again at 1.
    sql(
        lockout_db,
        "INSERT INTO authgate_lockout_failures VALUES (%s, 50, now() - interval '1 second')",
        account_key(email),
    )
    stale = "0" * 64
    sql(lockout_db, "INSERT INTO authgate_lockout_failures VALUES (%s, 3, now() - interval '1 hour')", stale)
    assert sign_in(second, email, PASSWORD).status_code == 200, "a passed window must not lock"
    assert sign_in(first, email, WRONG).status_code == 401
    assert sql(lockout_db, "SELECT failures FROM authgate_lockout_failures WHERE account_key = %s", account_key(email)) == [(1,)]
    # The first recorded failure also deletes the rows whose window has passed (after the answer).
    deadline = time.monotonic() + 10
    while sql(lockout_db, "SELECT 1 FROM authgate_lockout_failures WHERE account_key = %s", stale):
        assert time.monotonic() < deadline, "the expired row was not swept"
        time.sleep(0.1)


def test_memory_store_counts_per_instance(authgate, gateway_auth_config, auth_server, postgres):
    """The default (and the only store before ``lockout.store``): each gateway counts alone, so
    two allow twice max_failures per account."""
    config = config_for(gateway_auth_config, postgres.dsn, None)
    first, second = authgate(config), authgate(config)
    email = unique_email("memory-lock")
    sign_up(auth_server, email, PASSWORD, "memory")
    for attempt in range(2 * MAX_FAILURES):
        gateway = [first, second][attempt % 2]
        wrong = sign_in(gateway, email, WRONG)
        assert wrong.status_code == 401, f"memory store, failure {attempt + 1}: {wrong.status_code} {wrong.text[:200]}"
    assert_locked(sign_in(first, email, PASSWORD), "first gateway after its own 5")
    assert_locked(sign_in(second, email, PASSWORD), "second gateway after its own 5")


# --- the database away --------------------------------------------------------------------------


def test_store_stopped_fails_open_to_the_memory_count(authgate, gateway_auth_config, auth_server, password_postgres):
    pg = password_postgres
    sql(pg.dsn, USERS_DDL)
    migrate(pg.dsn)
    config = config_for(gateway_auth_config, pg.role_dsn, "postgres", timeout_ms=300)
    first, second = authgate(config), authgate(config)
    email, other = unique_email("outage-lock"), unique_email("outage-free")
    sign_up(auth_server, email, PASSWORD, "outage")
    sign_up(auth_server, other, PASSWORD, "free")
    assert sign_in(first, email, WRONG).status_code == 401
    assert sql(pg.dsn, "SELECT failures FROM authgate_lockout_failures") == [(1,)]
    assert store_failures(first) == 0

    pg.stop()
    offset = len(first.log)
    started = time.monotonic()
    ok = sign_in(first, other, PASSWORD)
    assert ok.status_code == 200, f"database stopped: logins must still work, got {ok.status_code} {ok.text[:300]}"
    assert ok.json()["user"]["email"] == other
    assert time.monotonic() - started < TIMEOUT
    assert store_failures(first) >= 1
    first.wait_for_log(r"lockout store unavailable", start=offset)

    # Fail open to the in-memory count, not to nothing: the first gateway has seen 1 failure
    # before the outage; 4 more lock the account there.
    for attempt in range(MAX_FAILURES - 1):
        wrong = sign_in(first, email, WRONG)
        assert wrong.status_code == 401, f"outage, failure {attempt + 2}: {wrong.status_code} {wrong.text[:200]}"
    assert_locked(sign_in(first, email, PASSWORD), "the in-memory count during the outage")
    # The second gateway never saw a failure of this account: it lets the right password in.
    assert sign_in(second, email, PASSWORD).status_code == 200
    assert store_failures(second) >= 1
    assert first.running and second.running


def test_store_that_never_answers_is_bounded(authgate, gateway_auth_config, auth_server):
    silent = SilentServer()
    try:
        config = config_for(
            gateway_auth_config, f"postgres://authgate@127.0.0.1:{silent.port}/authgate", "postgres", timeout_ms=300
        )
        gateway = authgate(config)
        email = unique_email("silent-db")
        sign_up(auth_server, email, PASSWORD, "silent")
        before = store_failures(gateway)
        for password, status in ((PASSWORD, 200), (WRONG, 401), (PASSWORD, 200)):
            started = time.monotonic()
            response = sign_in(gateway, email, password)  # requests' timeout: a hang fails here
            elapsed = time.monotonic() - started
            assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
            assert elapsed < TIMEOUT / 2, f"a login took {elapsed:.1f} s with store_timeout_ms 300"
        # Three lookups and one failure record, each given up after 300 ms.
        assert store_failures(gateway) - before >= 4
        assert gateway.running
    finally:
        silent.close()


def test_postgres_store_needs_a_database_url(authgate, gateway_auth_config):
    config = config_for(gateway_auth_config, "x", "postgres")
    config["auth"].pop("database_url")
    gateway = authgate(config, start=False)
    result = subprocess.run(
        [str(authgate_binary()), "check-config", str(gateway.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=gateway.env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result
    assert "lockout.store" in result.stdout + result.stderr
    assert "auth.database_url" in result.stdout + result.stderr
