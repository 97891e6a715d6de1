"""Better Auth's API key plugin (`auth.api_key_plugin`): a key in `x-api-key` reaches the backend
as its owner with `X-Auth-Method: api-key`, checked against the `apikey` table (postgres
resolver) or by the auth server's get-session (http resolver); disabled, expired, spent keys and
banned owners are refused, and every use is counted as Better Auth counts it.

A real auth server with `ApiKeyPlugin` (and the admin plugin, for bans), on a database of its
own; keys are created through its own `/api/auth/api-key/create` route. The settings only the
server may set (`remaining`, the key's window) are written in the table, as a server-side
`createApiKey` would."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import AuthServer
from helpers import raw_request, sign_in, sign_up, unique_email
from plugin_servers import plugin_auth_server, plugin_database, plugin_gateway_config, sql

TIMEOUT = 15
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def key_database(postgres):
    with plugin_database(postgres, "apikey") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def key_auth_server(key_database, tmp_path_factory):
    with plugin_auth_server(
        key_database, tmp_path_factory.mktemp("apikey_auth_server"), "--api-key-plugin", "--admin-plugin"
    ) as server:
        yield server


def gateway_config(server: AuthServer, dsn: str, resolver: str, **auth: object) -> dict:
    config = plugin_gateway_config(server, dsn, resolver, api_key_plugin=True, admin_plugin=True, **auth)
    config["session_store"] = {"user_role_column": "role"}
    return config


def new_owner(server: AuthServer, label: str):
    email = unique_email(f"apikey-{label}")
    sign_up(server, email, PASSWORD, f"API key {label}")
    return sign_in(server, email, PASSWORD)


def create_key(server: AuthServer, dsn: str, owner, *, counted: bool = False) -> tuple[str, str]:
    """A key made by the auth server's own route; `(key, id)`. Better Auth gives every key a
    window of 10 requests a day; unless `counted`, it is switched off here."""
    response = requests.post(
        f"{server.url}/api/auth/api-key/create",
        json={"name": "ci"},
        headers={"Cookie": owner.cookie, "Origin": server.url},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if not counted:
        sql(dsn, 'UPDATE apikey SET "rateLimitEnabled" = false WHERE id = %s', body["id"])
    return body["key"], body["id"]


def call(gateway, key: str | None, **headers: str) -> requests.Response:
    if key is not None:
        headers["x-api-key"] = key
    return requests.get(f"{gateway.url}/api/orders", headers=headers, timeout=TIMEOUT)


def refused(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert body["request_id"], body


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_a_key_reaches_the_backend_as_its_owner(authgate, key_auth_server, key_database, resolver):
    owner = new_owner(key_auth_server, f"owner-{resolver}")
    key, key_id = create_key(key_auth_server, key_database, owner)
    gateway = authgate(gateway_config(key_auth_server, key_database, resolver))

    # A client's own identity headers are dropped; the key never reaches the backend.
    response = call(gateway, key, **{"X-Auth-Method": "legacy", "X-Auth-User-Id": "someone-else"})
    assert response.status_code == 200, response.text
    seen = response.json()["headers"]
    assert seen["x-auth-user-id"] == owner.user_id
    assert seen["x-auth-method"] == "api-key"
    assert seen["x-auth-session-id"] == key_id
    assert seen["x-auth-user-email"] == owner.user["email"]
    assert "x-api-key" not in seen

    refused(call(gateway, key[:-1] + ("A" if key[-1] != "A" else "B")), 401, "api_key_invalid")
    refused(call(gateway, "not-a-key-at-all"), 401, "api_key_invalid")
    # Two keys: which one a server would read is anyone's guess.
    two = raw_request(gateway.url, "GET", "/api/orders", [("x-api-key", key), ("X-Api-Key", key)])
    assert two.status == 401, two.body
    assert json.loads(two.body)["error"] == "malformed_token"


def test_without_the_plugin_a_key_is_no_credential(authgate, key_auth_server, key_database):
    owner = new_owner(key_auth_server, "off")
    key, _ = create_key(key_auth_server, key_database, owner)
    config = plugin_gateway_config(key_auth_server, key_database, "postgres")
    gateway = authgate(config)
    refused(call(gateway, key), 401, "missing_credential")


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_disabled_and_expired_keys_and_banned_owners_are_refused(authgate, key_auth_server, key_database, resolver):
    cases = [
        ("disabled", 'UPDATE apikey SET enabled = false WHERE id = %s', "api_key_disabled"),
        ("expired", "UPDATE apikey SET \"expiresAt\" = now() AT TIME ZONE 'UTC' - interval '1 minute' WHERE id = %s",
         "api_key_expired"),
        ("banned", 'UPDATE "user" SET banned = true WHERE id = (SELECT "referenceId" FROM apikey WHERE id = %s)',
         "user_banned"),
    ]
    for label, statement, code in cases:
        owner = new_owner(key_auth_server, f"{label}-{resolver}")
        key, key_id = create_key(key_auth_server, key_database, owner)
        gateway = authgate(gateway_config(key_auth_server, key_database, resolver))
        assert call(gateway, key).status_code == 200
        sql(key_database, statement, key_id)
        # A new gateway: the first one may hold the key's identity for cache.positive_ttl_ms.
        gateway = authgate(gateway_config(key_auth_server, key_database, resolver))
        refused(call(gateway, key), 401, code)
        # A session of the same user is unaffected by the key's state, not by the ban.
        session = call(gateway, None, Cookie=owner.cookie)
        assert session.status_code == (401 if label == "banned" else 200), session.text


def _window(dsn: str, key_id: str, max_requests: int) -> None:
    sql(
        dsn,
        'UPDATE apikey SET "rateLimitEnabled" = true, "rateLimitMax" = %s, "rateLimitTimeWindow" = 600000, '
        '"requestCount" = 0, "lastRequest" = NULL WHERE id = %s',
        max_requests,
        key_id,
    )


def _row(dsn: str, key_id: str) -> tuple:
    return sql(dsn, 'SELECT remaining, "requestCount" FROM apikey WHERE id = %s', key_id)[0]


def test_the_postgres_resolver_counts_a_keys_window_as_better_auth_does(authgate, key_auth_server, key_database):
    owner = new_owner(key_auth_server, "window")
    key, key_id = create_key(key_auth_server, key_database, owner, counted=True)
    _window(key_database, key_id, 3)
    gateway = authgate(gateway_config(key_auth_server, key_database, "postgres"))
    assert [call(gateway, key).status_code for _ in range(3)] == [200, 200, 200]
    refused(call(gateway, key), 429, "api_key_rate_limited")
    assert _row(key_database, key_id) == (None, 3)
    # The auth server reads the same counters: its own check refuses the key too.
    answer = requests.get(f"{key_auth_server.url}/api/auth/get-session", headers={"x-api-key": key}, timeout=TIMEOUT)
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == "RATE_LIMITED"

    # With the plugin's rateLimit off (auth.api_key_rate_limit: false) the window is not enforced.
    free = authgate(gateway_config(key_auth_server, key_database, "postgres", api_key_rate_limit=False))
    assert call(free, key).status_code == 200


def test_the_postgres_resolver_spends_remaining_uses_exactly_under_concurrency(authgate, key_auth_server, key_database):
    owner = new_owner(key_auth_server, "remaining")
    key, key_id = create_key(key_auth_server, key_database, owner)
    sql(key_database, "UPDATE apikey SET remaining = 5 WHERE id = %s", key_id)
    gateway = authgate(gateway_config(key_auth_server, key_database, "postgres"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: call(gateway, key).status_code, range(12)))
    assert sorted(statuses) == [200] * 5 + [429] * 7, statuses
    assert _row(key_database, key_id) == (0, 0)
    refused(call(gateway, key), 429, "api_key_usage_exceeded")


def test_the_auth_server_counts_uses_with_the_http_resolver(authgate, key_auth_server, key_database):
    owner = new_owner(key_auth_server, "http-count")
    key, key_id = create_key(key_auth_server, key_database, owner, counted=True)
    _window(key_database, key_id, 2)
    gateway = authgate(gateway_config(key_auth_server, key_database, "http"))
    before = key_auth_server.count()
    assert [call(gateway, key).status_code for _ in range(2)] == [200, 200]
    refused(call(gateway, key), 429, "api_key_rate_limited")
    # Nothing cached: every use was one get-session, counted by Better Auth in its table.
    assert key_auth_server.count() - before == 3
    assert _row(key_database, key_id) == (None, 2)
