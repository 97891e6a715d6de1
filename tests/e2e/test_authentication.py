"""The introspection core end to end: real Better Auth server, real PostgreSQL, PyJWT legacy
tokens, the real gateway binary in front of an echo backend."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import time
import uuid

import jwt
import pytest
import requests

from helpers import (
    forge_cookie_value,
    get_jwt,
    hmac_jwt,
    legacy_rsa_key,
    legacy_token,
    sign_in,
    sign_out,
    sign_up,
)

TIMEOUT = 15


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def new_user(auth_server, tag: str):
    email = unique_email(tag)
    sign_up(auth_server, email, "correct horse battery staple", tag)
    return sign_in(auth_server, email, "correct horse battery staple")


def backend_headers(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return response.json()["headers"]


def assert_401(response: requests.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == code, body
    assert body["request_id"]
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


# --- legacy ---------------------------------------------------------------------------------


def test_legacy_hs256_token_reaches_the_backend_with_identity_headers(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(gateway_auth_config)
    token = legacy_token("legacy-7", "ada@example.com", "admin", secret=legacy_secret)
    response = requests.get(
        f"{gateway.url}/api/orders",
        headers={
            "Authorization": f"Bearer {token}",
            "X-Auth-User-Id": "attacker",
            "x_auth_roles": "root",
            "X-AUTH-METHOD": "better-auth",
        },
        timeout=TIMEOUT,
    )
    headers = backend_headers(response)
    assert headers["x-auth-user-id"] == "legacy-7"
    assert headers["x-auth-user-email"] == "ada@example.com"
    assert headers["x-auth-method"] == "legacy"
    assert headers["x-auth-roles"] == "admin"
    assert "x_auth_roles" not in headers
    assert headers["x-request-id"]


def test_legacy_rs256_token_with_a_configured_public_key(authgate, gateway_auth_config, tmp_path):
    key = legacy_rsa_key()
    pem = tmp_path / "legacy.pem"
    pem.write_text(key.public_pem)
    config = gateway_auth_config
    config["auth"]["legacy_public_key_file"] = str(pem)
    gateway = authgate(config)
    token = legacy_token("rsa-user", "rsa@example.com", "user", alg="RS256")
    headers = backend_headers(requests.get(f"{gateway.url}/api/x", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT))
    assert headers["x-auth-user-id"] == "rsa-user"
    # The public key used as an HMAC secret (algorithm confusion) is refused.
    forged = hmac_jwt({"sub": "evil", "exp": int(time.time()) + 60}, key.public_pem)
    response = requests.get(f"{gateway.url}/api/x", headers={"Authorization": f"Bearer {forged}"}, timeout=TIMEOUT)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda s: legacy_token("u", "u@example.com", "user", secret=s + "-wrong"), "bad_signature"),
        (lambda s: legacy_token("u", "u@example.com", "user", secret=s, exp_in=-3600), "token_expired"),
        (lambda s: legacy_token("u", "u@example.com", "user", alg="none"), "unsupported_algorithm"),
        (lambda s: legacy_token("u", "u@example.com", "user", secret=s, headers={"jku": "http://evil.test/k"}), "forbidden_header"),
        (lambda s: legacy_token("u", "u@example.com", "user", secret=s)[:-4] + "AAAA", "bad_signature"),
        (lambda s: "eyJhbGciOiJIUzI1NiJ9.!!!.sig", "malformed_token"),
    ],
)
def test_forged_expired_and_wrong_algorithm_tokens_are_rejected(authgate, gateway_auth_config, legacy_secret, make, code):
    gateway = authgate(gateway_auth_config)
    response = requests.get(
        f"{gateway.url}/api/secret", headers={"Authorization": f"Bearer {make(legacy_secret)}"}, timeout=TIMEOUT
    )
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # With both systems tried in phase 1 the first rejection (legacy's) is reported.
    assert response.json()["error"] in {code, "unknown_key"}, response.json()


def test_no_credential_is_401_and_public_routes_pass(authgate, gateway_auth_config):
    gateway = authgate(gateway_auth_config)
    assert_401(requests.get(f"{gateway.url}/api/private", timeout=TIMEOUT), "missing_credential")
    public = requests.get(f"{gateway.url}/api/public/info", headers={"X-Auth-User-Id": "spoof"}, timeout=TIMEOUT)
    assert public.status_code == 200
    assert "x-auth-user-id" not in public.json()["headers"]


# --- Better Auth sessions -------------------------------------------------------------------


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_better_auth_cookie_and_bearer_through_both_resolvers(authgate, gateway_auth_config, auth_server, resolver):
    config = gateway_auth_config
    config["auth"]["session_resolver"] = resolver
    gateway = authgate(config)
    user = new_user(auth_server, f"cookie-{resolver}")

    via_cookie = backend_headers(requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT))
    assert via_cookie["x-auth-user-id"] == user.user_id
    assert via_cookie["x-auth-method"] == "better-auth"
    assert via_cookie["x-auth-user-email"] == user.user["email"]
    assert via_cookie["x-auth-session-id"]

    via_bearer = backend_headers(
        requests.get(f"{gateway.url}/api/me", headers={"Authorization": f"Bearer {user.bearer}"}, timeout=TIMEOUT)
    )
    assert via_bearer["x-auth-user-id"] == user.user_id
    assert via_bearer["x-auth-session-id"] == via_cookie["x-auth-session-id"]

    # The __Secure- form of the cookie is accepted too.
    secure = backend_headers(
        requests.get(
            f"{gateway.url}/api/me",
            headers={"Cookie": f"__Secure-better-auth.session_token={user.cookie_value}"},
            timeout=TIMEOUT,
        )
    )
    assert secure["x-auth-user-id"] == user.user_id


def test_forged_session_cookie_never_costs_a_lookup(authgate, gateway_auth_config, auth_server):
    gateway = authgate(gateway_auth_config)
    user = new_user(auth_server, "forged")
    auth_server.reset_stats()
    forged = forge_cookie_value(user.cookie_value)
    for _ in range(5):
        response = requests.get(
            f"{gateway.url}/api/me", headers={"Cookie": f"better-auth.session_token={forged}"}, timeout=TIMEOUT
        )
        assert_401(response, "bad_signature")
    assert auth_server.count("/api/auth/get-session") == 0


def test_raw_bearer_token_only_where_configured(authgate, gateway_auth_config, auth_server):
    user = new_user(auth_server, "raw")
    strict = authgate(gateway_auth_config)
    response = requests.get(f"{strict.url}/api/me", headers={"Authorization": f"Bearer {user.token}"}, timeout=TIMEOUT)
    assert response.status_code == 401
    config = gateway_auth_config
    config["auth"]["accept_raw_bearer"] = True
    lenient = authgate(config)
    headers = backend_headers(
        requests.get(f"{lenient.url}/api/me", headers={"Authorization": f"Bearer {user.token}"}, timeout=TIMEOUT)
    )
    assert headers["x-auth-user-id"] == user.user_id


def test_sign_out_ends_the_session_at_the_gateway(authgate, gateway_auth_config, auth_server):
    config = gateway_auth_config
    config["cache"]["positive_ttl_ms"] = 1000
    gateway = authgate(config)
    user = new_user(auth_server, "signout")
    assert requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200
    assert sign_out(auth_server, user.cookie, origin=gateway.origin).status_code == 200
    time.sleep(1.2)
    assert_401(requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT), "session_not_found")


def test_two_hundred_concurrent_requests_with_one_fresh_session_cost_one_lookup(authgate, gateway_auth_config, auth_server):
    gateway = authgate(gateway_auth_config)
    user = new_user(auth_server, "flight")
    auth_server.reset_stats()
    barrier_session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=200)
    barrier_session.mount("http://", adapter)

    def call(_: int) -> int:
        return barrier_session.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(call, range(200)))
    assert statuses == [200] * 200
    assert auth_server.count("/api/auth/get-session") == 1


# --- Better Auth JWTs ------------------------------------------------------------------------


def test_better_auth_jwt_from_the_jwks(authgate, gateway_auth_config, auth_server):
    gateway = authgate(gateway_auth_config)
    user = new_user(auth_server, "jwt")
    token = get_jwt(auth_server, user.cookie)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    headers = backend_headers(requests.get(f"{gateway.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT))
    assert headers["x-auth-user-id"] == user.user_id
    assert headers["x-auth-method"] == "better-auth"
    # A tampered payload fails.
    header, payload, signature = token.split(".")
    tampered = ".".join([header, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], signature])
    assert requests.get(f"{gateway.url}/api/me", headers={"Authorization": f"Bearer {tampered}"}, timeout=TIMEOUT).status_code == 401


# --- the auth server down --------------------------------------------------------------------


def test_auth_server_down_is_503_or_the_cached_answer_with_grace(authgate, gateway_auth_config, auth_server):
    closed = authgate(gateway_auth_config)
    config = dict(gateway_auth_config)
    config["cache"] = {"positive_ttl_ms": 500, "negative_ttl_ms": 1000, "stale_if_error_ms": 60000}
    graceful = authgate(config)
    cached_user = new_user(auth_server, "grace")
    fresh_user = new_user(auth_server, "down")
    # Warm the graceful gateway's cache, then let the entry expire into its grace period.
    assert requests.get(f"{graceful.url}/api/me", headers={"Cookie": cached_user.cookie}, timeout=TIMEOUT).status_code == 200
    time.sleep(0.7)
    auth_server.stop()
    try:
        down = requests.get(f"{closed.url}/api/me", headers={"Cookie": fresh_user.cookie}, timeout=TIMEOUT)
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "auth_unavailable"
        assert down.headers["Retry-After"] == "1"
        served = requests.get(f"{graceful.url}/api/me", headers={"Cookie": cached_user.cookie}, timeout=TIMEOUT)
        assert backend_headers(served)["x-auth-user-id"] == cached_user.user_id
        # Grace never invents an identity it has not seen.
        unseen = requests.get(f"{graceful.url}/api/me", headers={"Cookie": fresh_user.cookie}, timeout=TIMEOUT)
        assert unseen.status_code == 503
    finally:
        auth_server.start()


# --- phases ----------------------------------------------------------------------------------


def test_rollback_and_complete_phases_accept_one_system(authgate, gateway_auth_config, auth_server, legacy_secret):
    user = new_user(auth_server, "phase")
    token = legacy_token("legacy-9", "l@example.com", "user", secret=legacy_secret)
    rollback = dict(gateway_auth_config)
    rollback["auth"] = {**gateway_auth_config["auth"], "enable_dual_auth": False, "prefer_better_auth": False}
    gateway = authgate(rollback)
    assert requests.get(f"{gateway.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 401
    complete = dict(gateway_auth_config)
    complete["auth"] = {**gateway_auth_config["auth"], "enable_dual_auth": False, "prefer_better_auth": True}
    gateway2 = authgate(complete)
    assert requests.get(f"{gateway2.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT).status_code == 401
    assert requests.get(f"{gateway2.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200


# --- gateway endpoints -----------------------------------------------------------------------


def test_introspect_endpoint_answers_in_rfc7662_shape(authgate, gateway_auth_config, auth_server, legacy_secret):
    gateway = authgate(gateway_auth_config)
    user = new_user(auth_server, "introspect")
    url = f"{gateway.url}/api/auth-proxy/introspect"
    session = requests.post(url, json={"token": user.bearer}, timeout=TIMEOUT).json()
    assert session["active"] is True
    assert session["sub"] == user.user_id
    assert session["auth_method"] == "better-auth"
    assert session["session_id"]
    assert isinstance(session["exp"], int)
    legacy = requests.post(
        url, json={"token": legacy_token("l-1", "l@example.com", "editor", secret=legacy_secret)}, timeout=TIMEOUT
    ).json()
    assert legacy["active"] is True and legacy["auth_method"] == "legacy" and legacy["roles"] == ["editor"]
    assert requests.post(url, json={"token": "garbage"}, timeout=TIMEOUT).json() == {"active": False}
    expired = legacy_token("l-1", "l@example.com", "editor", secret=legacy_secret, exp_in=-600)
    assert requests.post(url, json={"token": expired}, timeout=TIMEOUT).json() == {"active": False}
    bad = requests.post(url, data="not json", timeout=TIMEOUT)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    huge = requests.post(url, json={"token": "x" * 20000}, timeout=TIMEOUT)
    assert huge.status_code == 413


def test_admin_purge_evicts_a_signed_out_session_at_once(authgate, gateway_auth_config, auth_server):
    gateway = authgate(gateway_auth_config)  # positive TTL 60 s
    user = new_user(auth_server, "purge")
    assert requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200
    assert sign_out(auth_server, user.cookie, origin=gateway.origin).status_code == 200
    # Still cached: the gateway has not heard of the sign-out.
    assert requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200
    purged = requests.post(f"{gateway.admin_url}/admin/cache/purge?user={user.user_id}", timeout=TIMEOUT).json()
    assert purged["evicted"] >= 1
    assert_401(requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT), "session_not_found")


def test_refresh_goes_to_the_issuer_of_the_credential(authgate, gateway_auth_config, auth_server, backend, legacy_secret):
    gateway = authgate(gateway_auth_config)
    url = f"{gateway.url}/api/auth-proxy/refresh"
    # A legacy token (expired is fine: that is what gets refreshed) goes to the backend's
    # refresh path; the new token works at once.
    old = legacy_token("refresh-1", "r@example.com", "user", secret=legacy_secret, exp_in=-60)
    answer = requests.post(url, headers={"Authorization": f"Bearer {old}"}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    fresh = answer.json()["token"]
    assert fresh != old
    headers = backend_headers(requests.get(f"{gateway.url}/api/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=TIMEOUT))
    assert headers["x-auth-user-id"] == "refresh-1"
    # A forged legacy token never reaches the backend.
    forged = legacy_token("refresh-1", "r@example.com", "user", secret=legacy_secret + "-no")
    assert requests.post(url, headers={"Authorization": f"Bearer {forged}"}, timeout=TIMEOUT).status_code == 401
    # A Better Auth session is refreshed by the auth server, whose answer is relayed.
    user = new_user(auth_server, "refresh")
    session = requests.post(url, headers={"Cookie": user.cookie}, timeout=TIMEOUT)
    assert session.status_code == 200, session.text
    assert session.json()["user"]["id"] == user.user_id
    assert requests.post(url, timeout=TIMEOUT).status_code == 401


def test_refresh_with_the_rollout_guides_json_body(authgate, gateway_auth_config, auth_server, backend, legacy_secret):
    """The guide posts {"refresh_token": "…"}: a legacy token in it goes to the backend's refresh
    path with the body as sent, a Better Auth session value to the auth server; a body without
    that shape is 400 invalid_request and reaches nobody."""
    gateway = authgate(gateway_auth_config)
    url = f"{gateway.url}/api/auth-proxy/refresh"
    old = legacy_token("refresh-body-1", "rb@example.com", "user", secret=legacy_secret, exp_in=-60)
    body = json.dumps({"refresh_token": old}).encode()
    backend.reset()
    answer = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    fresh = answer.json()["token"]
    assert fresh != old
    headers = backend_headers(requests.get(f"{gateway.url}/api/me", headers={"Authorization": f"Bearer {fresh}"}, timeout=TIMEOUT))
    assert headers["x-auth-user-id"] == "refresh-body-1"
    refreshes = [r for r in backend.requests() if r["path"].startswith("/api/auth/refresh")]
    assert len(refreshes) == 1, refreshes
    assert refreshes[0]["method"] == "POST"
    assert refreshes[0]["body_sha256"] == hashlib.sha256(body).hexdigest(), "the body reached the backend as sent"
    assert "authorization" not in refreshes[0]["headers"]

    # Chunked works the same way.
    chunked = requests.post(url, data=iter([body[:10], body[10:]]), headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert chunked.status_code == 200, chunked.text

    # A forged legacy token in the body never reaches the backend.
    backend.reset()
    forged = legacy_token("refresh-body-1", "rb@example.com", "user", secret=legacy_secret + "-no")
    assert_401(requests.post(url, json={"refresh_token": forged}, timeout=TIMEOUT), "bad_signature")
    assert backend.requests() == []

    # A Better Auth session value in the body is refreshed by the auth server.
    user = new_user(auth_server, "refresh-body")
    session = requests.post(url, json={"refresh_token": user.bearer}, timeout=TIMEOUT)
    assert session.status_code == 200, session.text
    assert session.json()["user"]["id"] == user.user_id

    # Malformed bodies: 400 invalid_request with the JSON error body, on a connection that
    # stays usable.
    with requests.Session() as client:
        for bad in [b"refresh_token=abc", b"{}", b'{"refresh_token": 7}', b'["x"]', b'{"refresh_token":"a"']:
            response = client.post(url, data=bad, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
            assert response.status_code == 400, (bad, response.status_code, response.text)
            error = response.json()
            assert error["error"] == "invalid_request", error
            assert error["request_id"]
        assert client.post(url, json={"refresh_token": old}, timeout=TIMEOUT).status_code == 200
    assert [r for r in backend.requests() if r["path"].startswith("/api/auth/refresh")] != []
    # Neither a header nor a body: still 401 missing_credential.
    assert_401(requests.post(url, timeout=TIMEOUT), "missing_credential")


def test_sign_out_fans_out_through_listen_notify(authgate, gateway_auth_config, auth_server, postgres):
    from pathlib import Path

    sql = (Path(__file__).resolve().parents[2] / "deploy" / "sql" / "authgate_notify.sql").read_text()
    postgres.sql(sql)
    first = authgate(gateway_auth_config)  # positive TTL 60 s: only the notification can evict
    second = authgate(gateway_auth_config)
    first.wait_for_log("listening for cache evictions")
    second.wait_for_log("listening for cache evictions")
    user = new_user(auth_server, "notify")
    for gateway in (first, second):
        assert requests.get(f"{gateway.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200
    assert sign_out(auth_server, user.cookie, origin=first.origin).status_code == 200
    deadline = time.time() + 5
    statuses: list[int] = []
    while time.time() < deadline:
        statuses = [
            requests.get(f"{g.url}/api/me", headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code
            for g in (first, second)
        ]
        if statuses == [401, 401]:
            break
        time.sleep(0.1)
    assert statuses == [401, 401]
    metrics = requests.get(f"{second.admin_url}/metrics", timeout=TIMEOUT).text
    assert "authgate_cache_notifications_total 0" not in metrics


def test_opaque_legacy_tokens_through_rfc7662_introspection(authgate, gateway_auth_config, backend):
    config = gateway_auth_config
    config["auth"]["legacy_introspection_url"] = f"{backend.url}/oauth/introspect"
    gateway = authgate(config)
    headers = backend_headers(
        requests.get(f"{gateway.url}/api/me", headers={"Authorization": "Bearer opaque-carol"}, timeout=TIMEOUT)
    )
    assert headers["x-auth-user-id"] == "carol"
    assert headers["x-auth-method"] == "legacy"
    assert headers["x-auth-user-email"] == "carol@legacy.example"
    assert_401(
        requests.get(f"{gateway.url}/api/me", headers={"Authorization": "Bearer not-a-known-token"}, timeout=TIMEOUT),
        "token_inactive",
    )
    # Cached: the second request needs no introspection call.
    before = sum(1 for r in backend.requests() if r["path"] == "/oauth/introspect")
    requests.get(f"{gateway.url}/api/me", headers={"Authorization": "Bearer opaque-carol"}, timeout=TIMEOUT)
    after = sum(1 for r in backend.requests() if r["path"] == "/oauth/introspect")
    assert after == before
