"""Better Auth's ``secondaryStorage``: with sessions in Redis and not in the ``session`` table,
the postgres resolver (``auth.session_resolver: postgres``) finds none of them. The gateway
confirms an empty lookup of an HMAC-verified value with the auth server's get-session (at most
one probe in flight, one per 10 s); when get-session finds a session the table lacks, it logs
that once, answers the request from get-session (the authority), and ``/ready`` reports the
``session_store`` down (503) until a lookup finds a session in the table again.

A real Redis (``redis-server`` on a free loopback port) and a real auth server with
``--secondary-storage``, on a database of its own; the control is the suite's auth server,
whose sessions are in PostgreSQL."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from conftest import _live_processes, free_port, terminate, wait_until
from helpers import encode_cookie_value, forge_cookie_value, sign_cookie_value, sign_in, sign_out, sign_up, unique_email
from plugin_servers import plugin_auth_server, plugin_database, plugin_gateway_config, sql

TIMEOUT = 15
PASSWORD = "correct horse battery staple"
DETECTED = "Better Auth keeps sessions in secondaryStorage, not in PostgreSQL: set auth.session_resolver: http"
CLEARED = "session store check cleared"
PROBE_INTERVAL_S = 10


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of its own on loopback (no persistence), stopped afterwards."""
    import redis

    port = free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    log = open(workdir / "redis.log", "ab")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    log.close()
    _live_processes.append(proc)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_until(answers, 30, "redis-server", proc=proc, log=lambda: (workdir / "redis.log").read_text())
    try:
        yield url
    finally:
        client.close()
        terminate(proc)


@pytest.fixture(scope="module")
def secondary_database(postgres):
    with plugin_database(postgres, "secondary") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def secondary_auth_server(secondary_database, redis_url, tmp_path_factory):
    with plugin_auth_server(
        secondary_database, tmp_path_factory.mktemp("secondary_auth_server"), "--secondary-storage", redis_url
    ) as server:
        yield server


def ready(gateway) -> tuple[int, dict]:
    response = requests.get(f"{gateway.admin_url}/ready", timeout=TIMEOUT)
    return response.status_code, response.json()


def detections(gateway) -> list[str]:
    return [line for line in gateway.log.splitlines() if DETECTED in line]


def test_sessions_in_secondary_storage_are_detected_and_reported(
    authgate, secondary_auth_server, secondary_database, redis_url
):
    import redis

    users = [sign_up(secondary_auth_server, unique_email("redis"), PASSWORD, "Redis User") for _ in range(4)]
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    for user in users:
        # The session lives in Redis only: the table has no row, get-session finds it.
        assert sql(secondary_database, "SELECT count(*) FROM session WHERE token = %s", user.token) == [(0,)]
        assert store.get(user.token) is not None
        answer = requests.get(
            f"{secondary_auth_server.url}/api/auth/get-session", headers={"Cookie": user.cookie}, timeout=TIMEOUT
        )
        assert answer.status_code == 200 and answer.json()["user"]["id"] == user.user_id, answer.text
    store.close()

    gateway = authgate(plugin_gateway_config(secondary_auth_server, secondary_database, "postgres"))
    status, body = ready(gateway)
    assert status == 200, body
    assert body["checks"]["session_store"] == {"status": "up", "required": True}, body
    secondary_auth_server.reset_stats()

    # The first empty lookup is confirmed with get-session, and the request is answered from it.
    started = time.monotonic()
    first = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": users[0].cookie}, timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    assert first.json()["headers"]["x-auth-user-id"] == users[0].user_id
    assert secondary_auth_server.count() == 1

    status, body = ready(gateway)
    assert status == 503, body
    assert body["status"] == "not_ready"
    assert body["failing"] == ["session_store"], body
    check = body["checks"]["session_store"]
    assert check["status"] == "down" and check["required"] is True, body
    assert "secondaryStorage" in check["reason"] and "auth.session_resolver: http" in check["reason"], body
    # PostgreSQL itself answers: it is the sessions that are elsewhere.
    assert body["checks"]["postgres"]["status"] == "up", body

    # The other sessions: at most one probe per 10 s; a request probed is answered from
    # get-session, the others stay 401 session_not_found.
    answers = [
        requests.get(f"{gateway.url}/api/orders", headers={"Cookie": user.cookie}, timeout=TIMEOUT) for user in users[1:]
    ]
    elapsed = time.monotonic() - started
    probed = [response for response in answers if response.status_code == 200]
    refused = [response for response in answers if response.status_code != 200]
    for response in refused:
        assert response.status_code == 401 and response.json()["error"] == "session_not_found", response.text
    metrics = gateway.metrics()
    probes = metrics['authgate_session_store_probes_total{result="found"}']
    assert probes == 1 + len(probed), metrics
    assert probes <= 1 + int(elapsed // PROBE_INTERVAL_S), (probes, elapsed)
    assert metrics['authgate_session_store_probes_total{result="not_found"}'] == 0
    assert secondary_auth_server.count() == probes
    # The first user's session was cached from get-session's answer: no further lookup.
    again = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": users[0].cookie}, timeout=TIMEOUT)
    assert again.status_code == 200, again.text
    assert secondary_auth_server.count() == probes

    # Logged once, at error level, with no credential in it.
    lines = detections(gateway)
    assert len(lines) == 1, lines
    assert '"error"' in lines[0], lines[0]
    for user in users:
        assert user.token not in gateway.log
        assert user.signed_token not in gateway.log and user.cookie_value not in gateway.log

    # A session the table does have (written as Better Auth does without secondaryStorage):
    # found by the postgres resolver, it clears the detection.
    token = uuid.uuid4().hex
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    sql(
        secondary_database,
        'INSERT INTO session (id, token, "userId", "expiresAt", "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s)',
        uuid.uuid4().hex, token, users[0].user_id, now + timedelta(hours=1), now, now,
    )  # fmt: skip
    cookie = f"{users[0].cookie_name}={encode_cookie_value(sign_cookie_value(secondary_auth_server.secret, token))}"
    response = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": cookie}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["headers"]["x-auth-user-id"] == users[0].user_id
    gateway.wait_for_log(CLEARED)
    status, body = ready(gateway)
    assert status == 200, body
    assert body["checks"]["session_store"] == {"status": "up", "required": True}, body
    assert len(detections(gateway)) == 1


def test_sessions_in_postgres_never_trigger_it(authgate, auth_server, gateway_auth_config):
    config = {**gateway_auth_config, "auth": {**gateway_auth_config["auth"], "session_resolver": "postgres"}}
    gateway = authgate(config)
    email = unique_email("tabled")
    sign_up(auth_server, email, PASSWORD, "Tabled User")
    user = sign_in(auth_server, email, PASSWORD)
    gone = sign_in(auth_server, email, PASSWORD)
    assert sign_out(auth_server, gone.cookie).status_code == 200
    auth_server.reset_stats()

    response = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": user.cookie}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["headers"]["x-auth-user-id"] == user.user_id
    # A signed-out session: the table has no row, and get-session agrees.
    response = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": gone.cookie}, timeout=TIMEOUT)
    assert response.status_code == 401 and response.json()["error"] == "session_not_found", response.text
    metrics = gateway.metrics()
    assert metrics['authgate_session_store_probes_total{result="found"}'] == 0, metrics
    assert metrics['authgate_session_store_probes_total{result="not_found"}'] == 1, metrics
    assert auth_server.count() == 1
    # A forged value is never probed.
    forged = f"{user.cookie_name}={forge_cookie_value(user.cookie_value)}"
    response = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": forged}, timeout=TIMEOUT)
    assert response.status_code == 401, response.text
    assert auth_server.count() == 1

    status, body = ready(gateway)
    assert status == 200, body
    assert body["checks"]["session_store"] == {"status": "up", "required": True}, body
    assert detections(gateway) == []
