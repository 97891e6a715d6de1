"""Better Auth's admin plugin (`auth.admin_plugin`): banned users are refused when the gateway
looks their session up, through get-session and through the session table, and a session an
admin opened as another user reaches the backend with `X-Auth-Impersonated-By`, refused on routes
with `allow_impersonation: false`.

A real auth server with `AdminPlugin()`, on a database of its own (the plugin's columns exist
only in tables it creates), and real sessions made through its routes."""

from __future__ import annotations

import pytest
import requests

from conftest import AuthServer
from helpers import sign_in, sign_up, unique_email
from plugin_servers import plugin_auth_server, plugin_database, plugin_gateway_config, sql

TIMEOUT = 15
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def admin_database(postgres):
    with plugin_database(postgres, "admin") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def admin_auth_server(admin_database, tmp_path_factory):
    with plugin_auth_server(admin_database, tmp_path_factory.mktemp("admin_auth_server"), "--admin-plugin") as server:
        yield server


def gateway_config(server: AuthServer, dsn: str, resolver: str) -> dict:
    config = plugin_gateway_config(server, dsn, resolver, admin_plugin=True)
    config["session_store"] = {"user_role_column": "role"}
    config["routes"].append({"path": "/api/account/", "access": "authenticated", "allow_impersonation": False})
    return config


def headers_seen(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return response.json()["headers"]


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_a_banned_user_is_refused_and_an_expired_ban_is_not(authgate, admin_auth_server, admin_database, resolver):
    user = sign_in(admin_auth_server, *_new_account(admin_auth_server, "banned"))
    before = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    url = f"{before.url}/api/orders"
    assert headers_seen(requests.get(url, headers={"Cookie": user.cookie}, timeout=TIMEOUT))["x-auth-user-id"] == user.user_id

    # Banned in the table (as an admin tool or a migration writes it); the session stays.
    sql(admin_database, 'UPDATE "user" SET banned = true, "banExpires" = NULL WHERE id = %s', user.user_id)
    gateway = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    url = f"{gateway.url}/api/orders"
    for credential in ({"Cookie": user.cookie}, {"Authorization": f"Bearer {user.bearer}"}):
        response = requests.get(url, headers=credential, timeout=TIMEOUT)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "user_banned", response.text
    assert gateway.metrics()['better_auth_failures_total{auth_method="better-auth",reason="user_banned"}'] == 2

    # A ban whose end has passed is over.
    sql(admin_database, """UPDATE "user" SET "banExpires" = now() - interval '1 minute' WHERE id = %s""", user.user_id)
    fresh = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    response = requests.get(f"{fresh.url}/api/orders", headers={"Cookie": user.cookie}, timeout=TIMEOUT)
    assert headers_seen(response)["x-auth-user-id"] == user.user_id

    # A ban that ends in the future still holds.
    sql(admin_database, """UPDATE "user" SET "banExpires" = now() + interval '1 hour' WHERE id = %s""", user.user_id)
    later = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    response = requests.get(f"{later.url}/api/orders", headers={"Cookie": user.cookie}, timeout=TIMEOUT)
    assert response.status_code == 401 and response.json()["error"] == "user_banned", response.text


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_a_banned_users_jwts_are_refused_before_their_exp(authgate, admin_auth_server, admin_database, resolver):
    user = sign_in(admin_auth_server, *_new_account(admin_auth_server, "banned-jwt"))
    answer = requests.get(f"{admin_auth_server.url}/api/auth/token", headers={"Cookie": user.cookie}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    gateway = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    gateway.wait_for_log("JWKS fetched")  # the plugin's key, created by /api/auth/token above
    seen = headers_seen(requests.get(f"{gateway.url}/api/orders", headers=bearer, timeout=TIMEOUT))
    assert seen["x-auth-user-id"] == user.user_id

    sql(admin_database, 'UPDATE "user" SET banned = true WHERE id = %s', user.user_id)
    fresh = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    fresh.wait_for_log("JWKS fetched")
    for _ in range(2):  # the refusal is cached as such
        response = requests.get(f"{fresh.url}/api/orders", headers=bearer, timeout=TIMEOUT)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "user_banned"


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_an_impersonated_session_is_marked_and_refused_where_the_route_says(
    authgate, admin_auth_server, admin_database, resolver
):
    admin_email, password = _new_account(admin_auth_server, "admin")
    admin_id = sql(admin_database, 'SELECT id FROM "user" WHERE email = %s', admin_email)[0][0]
    sql(admin_database, """UPDATE "user" SET role = 'admin' WHERE id = %s""", admin_id)
    admin = sign_in(admin_auth_server, admin_email, password)
    target = sign_in(admin_auth_server, *_new_account(admin_auth_server, "target"))

    answer = requests.post(
        f"{admin_auth_server.url}/api/auth/admin/impersonate-user",
        json={"userId": target.user_id},
        headers={"Cookie": admin.cookie, "Origin": admin_auth_server.url},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    impersonation = answer.headers["set-auth-token"]

    gateway = authgate(gateway_config(admin_auth_server, admin_database, resolver))
    seen = headers_seen(
        requests.get(
            f"{gateway.url}/api/orders",
            # A client-sent X-Auth-Impersonated-By never reaches the backend.
            headers={"Authorization": f"Bearer {impersonation}", "X-Auth-Impersonated-By": "nobody"},
            timeout=TIMEOUT,
        )
    )
    assert seen["x-auth-user-id"] == target.user_id
    assert seen["x-auth-impersonated-by"] == admin_id
    # The user's own session is not marked, and a forged header from it is removed.
    own = headers_seen(
        requests.get(
            f"{gateway.url}/api/orders",
            headers={"Cookie": target.cookie, "X-Auth-Impersonated-By": admin_id},
            timeout=TIMEOUT,
        )
    )
    assert "x-auth-impersonated-by" not in own
    # A route with allow_impersonation: false refuses the impersonated session only.
    refused = requests.get(
        f"{gateway.url}/api/account/password", headers={"Authorization": f"Bearer {impersonation}"}, timeout=TIMEOUT
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "impersonation_not_allowed"
    allowed = requests.get(f"{gateway.url}/api/account/password", headers={"Cookie": target.cookie}, timeout=TIMEOUT)
    assert headers_seen(allowed)["x-auth-user-id"] == target.user_id


def _new_account(server: AuthServer, tag: str) -> tuple[str, str]:
    email = unique_email(tag)
    sign_up(server, email, PASSWORD, tag)
    return email, PASSWORD
