"""Better Auth's cookieCache (`<prefix>.session_data`) read by the gateway with
`auth.trust_cookie_cache`: a session cookie that comes with a valid cache is accepted with no
get-session, as Better Auth itself does; a cache that does not verify, belongs to another
session or is missing costs the usual lookup; a revoked session stays usable until the cache
expires (the documented lag).

A real auth server with `session.cookieCache` on (strategies compact and jwt), on the suite's
database and secret."""

from __future__ import annotations

import pytest
import requests

from conftest import AuthServer, free_port
from helpers import unique_email

TIMEOUT = 15
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", params=["compact", "jwt"])
def cache_auth_server(request, auth_server, postgres, tmp_path_factory):
    server = AuthServer(
        free_port(),
        auth_server.secret,
        postgres.dsn,
        ["http://127.0.0.1:*"],
        tmp_path_factory.mktemp("cookie_cache_auth_server"),
    )
    server.extra_args = ["--cookie-cache", request.param]
    server.strategy = request.param
    server.start()
    yield server
    server.stop()


def sign_in_with_cache(server: AuthServer, tag: str) -> tuple[str, str, str]:
    """(the session cookie header pair, the session_data pair, the user id)."""
    email = unique_email(tag)
    up = requests.post(
        f"{server.url}/api/auth/sign-up/email",
        json={"name": tag, "email": email, "password": PASSWORD},
        headers={"Origin": server.url},
        timeout=TIMEOUT,
    )
    assert up.status_code == 200, up.text
    answer = requests.post(
        f"{server.url}/api/auth/sign-in/email",
        json={"email": email, "password": PASSWORD},
        headers={"Origin": server.url},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    session = answer.cookies.get("better-auth.session_token")
    data = answer.cookies.get("better-auth.session_data")
    assert session and data, answer.headers
    return f"better-auth.session_token={session}", f"better-auth.session_data={data}", answer.json()["user"]["id"]


def config(gateway_auth_config: dict, server: AuthServer, trust: bool) -> dict:
    config = gateway_auth_config
    config["auth"]["auth_server_url"] = server.url
    config["auth"]["trust_cookie_cache"] = trust
    config["auth"]["cookie_cache_strategy"] = server.strategy
    config["auth"]["jwks_enabled"] = False
    return config


def test_a_valid_cache_needs_no_lookup_and_anything_else_gets_one(authgate, gateway_auth_config, cache_auth_server):
    session, data, user_id = sign_in_with_cache(cache_auth_server, "cache")
    gateway = authgate(config(gateway_auth_config, cache_auth_server, trust=True))
    url = f"{gateway.url}/api/orders"
    cache_auth_server.reset_stats()

    response = requests.get(url, headers={"Cookie": f"{session}; {data}"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["headers"]["x-auth-user-id"] == user_id
    assert cache_auth_server.count() == 0, "a valid cookie cache still cost a get-session"

    # A cache that does not verify: the lookup runs, and the session is still good.
    name, value = data.split("=", 1)
    tampered = f"{name}={value[:-4]}{'AAAA' if value[-4:] != 'AAAA' else 'BBBB'}"
    other_session, other_data, other_user = sign_in_with_cache(cache_auth_server, "cache-other")
    cache_auth_server.reset_stats()
    fresh = authgate(config(gateway_auth_config, cache_auth_server, trust=True))
    furl = f"{fresh.url}/api/orders"
    assert requests.get(furl, headers={"Cookie": f"{session}; {tampered}"}, timeout=TIMEOUT).json()["headers"]["x-auth-user-id"] == user_id
    assert cache_auth_server.count() == 1
    # Another session's cache with this session cookie: not this session's word either.
    assert requests.get(furl, headers={"Cookie": f"{other_session}; {data}"}, timeout=TIMEOUT).json()["headers"]["x-auth-user-id"] == other_user
    assert cache_auth_server.count() == 2
    # A cache without its session cookie is no credential.
    alone = requests.get(furl, headers={"Cookie": data}, timeout=TIMEOUT)
    assert alone.status_code == 401 and alone.json()["error"] == "missing_credential", alone.text


def test_revocation_waits_for_the_cache_to_expire(authgate, gateway_auth_config, cache_auth_server, postgres):
    session, data, user_id = sign_in_with_cache(cache_auth_server, "cache-revoked")
    token = session.split("=", 1)[1].split(".", 1)[0]
    postgres.sql('DELETE FROM "session" WHERE token = %s', token)
    trusting = authgate(config(gateway_auth_config, cache_auth_server, trust=True))
    lag = requests.get(f"{trusting.url}/api/orders", headers={"Cookie": f"{session}; {data}"}, timeout=TIMEOUT)
    assert lag.status_code == 200, "the cache vouches for the session until its maxAge, as in Better Auth"
    checking = authgate(config(gateway_auth_config, cache_auth_server, trust=False))
    refused = requests.get(f"{checking.url}/api/orders", headers={"Cookie": f"{session}; {data}"}, timeout=TIMEOUT)
    assert refused.status_code == 401 and refused.json()["error"] == "session_not_found", refused.text
