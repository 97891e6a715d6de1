"""Tests of the harness itself against the real components: what the gateway's auth tests rely
on about Better Auth (better-auth-server 1.1.0), PostgreSQL, the echo backend and the binary."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

import jwt
import pytest
import requests

from helpers import (
    SESSION_COOKIE,
    forge_cookie_value,
    get_jwt,
    get_session,
    get_session_response,
    hmac_jwt,
    jwks,
    legacy_rsa_key,
    legacy_token,
    set_cookies,
    sign_cookie_value,
    sign_in,
    sign_out,
    sign_up,
)

PASSWORD = "correct-horse-battery-staple"


def new_user(auth_server, name: str = "Ada"):
    email = f"{name.lower()}-{uuid.uuid4().hex[:12]}@example.com"
    return email, sign_up(auth_server, email, PASSWORD, name)


def hmac_b64(secret: str, message: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


# --- Better Auth cookies and sessions -----------------------------------------------------


def test_sign_up_then_sign_in_sets_signed_session_cookie(auth_server):
    email, signed_up = new_user(auth_server)
    assert signed_up.cookie_name == SESSION_COOKIE
    result = sign_in(auth_server, email, PASSWORD)
    assert result.user_id == signed_up.user_id
    assert result.cookie_name == "better-auth.session_token"

    # The raw session token: 32 chars of [A-Za-z0-9], returned as JSON "token".
    assert re.fullmatch(r"[A-Za-z0-9]{32}", result.token)
    assert result.token != signed_up.token

    # Cookie value on the wire = encodeURIComponent(token + "." + base64(HMAC-SHA256)).
    decoded = unquote(result.cookie_value)
    token, _, sig = decoded.rpartition(".")
    assert token == result.token
    assert len(sig) == 44 and sig.endswith("=")
    assert sig == hmac_b64(auth_server.secret, token)
    assert decoded == sign_cookie_value(auth_server.secret, token)
    assert "=" not in result.cookie_value  # '=' (and '+', '/') travel percent-encoded
    assert "%3D" in result.cookie_value

    # set-auth-token (bearer plugin) carries the signed value. better-auth-server copies the
    # Set-Cookie value verbatim, so the header is URI-encoded exactly like the cookie.
    assert result.set_auth_token is not None
    assert unquote(result.set_auth_token) == decoded
    assert result.set_auth_token == result.cookie_value

    # Cookie attributes over plain http: no Secure, no __Secure- prefix.
    response = requests.post(
        f"{auth_server.url}/api/auth/sign-in/email",
        json={"email": email, "password": PASSWORD},
        timeout=15,
    )
    attrs = {name: a for name, _v, a in set_cookies(response)}[SESSION_COOKIE]
    assert "Max-Age=604800" in attrs and "HttpOnly" in attrs and "SameSite=Lax" in attrs
    assert "Path=/" in attrs and "Secure" not in attrs

    # Wrong password: 401 INVALID_EMAIL_OR_PASSWORD; existing email: 422.
    bad = requests.post(
        f"{auth_server.url}/api/auth/sign-in/email",
        json={"email": email, "password": "wrong-password"},
        timeout=15,
    )
    assert bad.status_code == 401 and bad.json()["code"] == "INVALID_EMAIL_OR_PASSWORD"
    again = requests.post(
        f"{auth_server.url}/api/auth/sign-up/email",
        json={"email": email, "password": PASSWORD, "name": "Ada"},
        timeout=15,
    )
    assert again.status_code == 422


def test_get_session_with_cookie_and_with_forged_cookie(auth_server):
    email, result = new_user(auth_server, "Grace")

    answer = get_session(auth_server, result)
    assert set(answer) >= {"session", "user"}
    session, user = answer["session"], answer["user"]
    assert session["token"] == result.token
    assert session["userId"] == result.user_id == user["id"]
    assert user["email"] == email and user["name"] == "Grace"
    assert {"id", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"} <= set(session)
    assert {"emailVerified", "image", "createdAt", "updatedAt"} <= set(user)
    response = get_session_response(auth_server, result)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers.get("set-auth-jwt", "").count(".") == 2  # JWT plugin's header

    # Forged signature, signature of another secret, raw token as cookie, no cookie:
    # all "no session" = 200 with body null (never 401).
    # The signature's last characters replaced, on the decoded value: cutting the encoded one
    # could split a %2B or %2F and send the server a malformed escape instead of a bad signature.
    signed = unquote(result.cookie_value)
    tail = "AAAA=" if not signed.endswith("AAAA=") else "BBBB="
    forged_sig = quote(signed[:-5] + tail, safe="")
    assert forged_sig != result.cookie_value and len(unquote(forged_sig)) == len(signed)
    other_secret = sign_cookie_value("x" * 40, result.token).replace("=", "%3D")
    forged = forge_cookie_value(result.cookie_value)
    assert len(unquote(forged).rpartition(".")[2]) == 44 and forged != result.cookie_value
    for cookie in (
        f"{SESSION_COOKIE}={forged}",
        f"{SESSION_COOKIE}={forged_sig}",
        f"{SESSION_COOKIE}={other_secret}",
        f"{SESSION_COOKIE}={result.token}",
        f"{SESSION_COOKIE}=" + sign_cookie_value(auth_server.secret, "A" * 32).replace("=", "%3D"),
    ):
        response = get_session_response(auth_server, cookie)
        assert response.status_code == 200, cookie
        assert response.text == "null", cookie
    none = get_session_response(auth_server)
    assert none.status_code == 200 and none.json() is None


def test_bearer_forms_accepted_by_the_auth_server(auth_server):
    _email, result = new_user(auth_server, "Bea")
    for value in (result.set_auth_token, unquote(result.set_auth_token), result.token):
        response = get_session_response(auth_server, Authorization=f"Bearer {value}")
        assert response.status_code == 200
        body = response.json()
        assert body is not None and body["user"]["id"] == result.user_id, value
    forged = get_session_response(auth_server, Authorization=f"Bearer {result.token}.{'A' * 43}=")
    assert forged.status_code == 200 and forged.json() is None


def test_jwt_from_token_endpoint_verifies_against_jwks(auth_server):
    email, result = new_user(auth_server, "Linus")
    token = get_jwt(auth_server, result)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header.get("typ") == "JWT"  # the Python port sets typ; the TS original does not

    keys = jwks(auth_server)["keys"]
    key = next(k for k in keys if k["kid"] == header["kid"])
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA"

    claims = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience=auth_server.url,
        issuer=auth_server.url,
    )
    assert claims["iss"] == claims["aud"] == auth_server.origin == auth_server.url
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] == claims["id"] == result.user_id
    assert claims["email"] == email
    assert "sessionId" not in claims and "sid" not in claims

    # Tampering breaks it.
    with pytest.raises(jwt.InvalidSignatureError):
        head, payload, sig = token.split(".")
        jwt.decode(
            f"{head}.{payload}.{sig[:-4]}AAAA",
            jwt.PyJWK(key).key,
            algorithms=["EdDSA"],
            audience=auth_server.url,
        )


def test_session_row_in_postgres_and_sign_out_deletes_it(auth_server, postgres):
    _email, result = new_user(auth_server, "Edsger")
    # Table "session", camelCase columns (quoted); timestamps are `timestamp without time
    # zone` holding UTC.
    rows = postgres.sql('SELECT "userId", "expiresAt" FROM session WHERE token = %s', result.token)
    assert len(rows) == 1
    user_id, expires_at = rows[0]
    assert user_id == result.user_id
    assert expires_at.tzinfo is None
    expected = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=7)
    assert abs((expires_at - expected).total_seconds()) < 120
    assert postgres.sql('SELECT email FROM "user" WHERE id = %s', result.user_id)
    account = postgres.sql(
        'SELECT "providerId", password FROM account WHERE "userId" = %s', result.user_id
    )
    assert account[0][0] == "credential" and re.fullmatch(r"[0-9a-f]{32}:[0-9a-f]{128}", account[0][1])
    columns = {
        r[0]
        for r in postgres.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'session'"
        )
    }
    assert columns == {
        "id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"
    }  # fmt: skip
    tables = {r[0] for r in postgres.sql("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert {"user", "session", "account", "verification", "jwks"} <= tables

    # Better Auth's CSRF check: a POST carrying a cookie needs a trusted Origin.
    for origin, code in (("http://evil.example", "INVALID_ORIGIN"), (None, "MISSING_OR_NULL_ORIGIN")):
        headers = {"Cookie": result.cookie}
        if origin:
            headers["Origin"] = origin
        denied = requests.post(f"{auth_server.url}/api/auth/sign-out", headers=headers, json={}, timeout=15)
        assert denied.status_code == 403 and denied.json()["code"] == code
    assert postgres.sql("SELECT 1 FROM session WHERE token = %s", result.token)

    # Any loopback origin is trusted (a gateway's, on whatever port it got).
    response = sign_out(auth_server, result, origin="http://127.0.0.1:1")
    assert response.json() == {"success": True}
    assert postgres.sql("SELECT 1 FROM session WHERE token = %s", result.token) == []
    assert get_session(auth_server, result) is None


def test_stats_count_get_session_calls(auth_server):
    _email, result = new_user(auth_server, "Barbara")
    auth_server.reset_stats()
    assert auth_server.stats() == {}
    for _ in range(3):
        get_session(auth_server, result)
    get_session_response(auth_server, f"{SESSION_COOKIE}=forged.value")
    requests.get(f"{auth_server.url}/api/auth/get-session?disableRefresh=true", timeout=15)
    stats = auth_server.stats()
    assert stats["/api/auth/get-session"] == 5
    assert auth_server.count() == 5
    assert "/__stats" not in stats
    auth_server.reset_stats()
    assert auth_server.count() == 0


# --- backend and legacy tokens ------------------------------------------------------------


def test_backend_echoes_records_and_refreshes(backend, legacy_secret):
    backend.reset()
    with requests.Session() as session:  # keep-alive
        for i in range(3):
            response = session.post(
                f"{backend.url}/some/path?i={i}",
                data=b"x" * (10 + i),
                headers={"X-Custom": "v", "X-Auth-User-Id": "a"},
            )
            assert response.status_code == 200
            echo = response.json()
            assert echo["method"] == "POST" and echo["path"] == f"/some/path?i={i}"
            assert echo["headers"]["x-custom"] == "v" and echo["body_bytes"] == 10 + i
    recorded = backend.requests()
    assert [r["path"] for r in recorded] == [f"/some/path?i={i}" for i in range(3)]
    assert len({r["client"] for r in recorded}) == 1  # one connection, kept alive

    old = legacy_token("user-42", "u42@example.com", "admin", legacy_secret, exp_in=-60, team="t1")
    refreshed = requests.post(f"{backend.url}/api/auth/refresh", json={"token": old}, timeout=15)
    assert refreshed.status_code == 200
    claims = jwt.decode(refreshed.json()["token"], legacy_secret, algorithms=["HS256"])
    assert claims["sub"] == "user-42" and claims["role"] == "admin" and claims["team"] == "t1"
    assert claims["exp"] > claims["iat"]
    by_header = requests.post(
        f"{backend.url}/api/auth/refresh", headers={"Authorization": f"Bearer {old}"}, timeout=15
    )
    assert by_header.status_code == 200
    wrong = legacy_token("user-42", "u42@example.com", "admin", "y" * 40)
    denied = requests.post(f"{backend.url}/api/auth/refresh", json={"token": wrong}, timeout=15)
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_token"
    backend.reset()
    assert backend.requests() == []


def test_legacy_tokens_hs256_and_rs256(legacy_secret):
    token = legacy_token("u1", "u1@example.com", "user", legacy_secret)
    claims = jwt.decode(token, legacy_secret, algorithms=["HS256"])
    assert (claims["sub"], claims["email"], claims["role"]) == ("u1", "u1@example.com", "user")
    assert claims["exp"] - claims["iat"] == 3600
    rsa = legacy_rsa_key()
    assert rsa.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    token = legacy_token("u2", "u2@example.com", "admin", alg="RS256", headers={"kid": "k1"})
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert jwt.decode(token, rsa.public_pem, algorithms=["RS256"])["sub"] == "u2"
    # Algorithm confusion (HS256 keyed with the RSA public PEM), which PyJWT won't sign.
    confused = hmac_jwt({"sub": "evil"}, rsa.public_pem)
    assert jwt.get_unverified_header(confused)["alg"] == "HS256"
    assert jwt.decode(hmac_jwt({"sub": "s"}, legacy_secret), legacy_secret, algorithms=["HS256"]) == {"sub": "s"}
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(legacy_token("u3", "e", "r", legacy_secret, exp_in=-5), legacy_secret, algorithms=["HS256"])


# --- the gateway binary -------------------------------------------------------------------


def test_gateway_proxies_plain_request_to_backend(authgate, backend):
    backend.reset()
    # No auth keys; only a public route (the gateway authenticates every other path).
    gateway = authgate({"routes": [{"path": "/api/public/", "access": "public"}]})
    assert requests.get(f"{gateway.url}/health", timeout=5).json()["status"] == "ok"

    response = requests.get(
        f"{gateway.url}/api/public/hello?x=1", headers={"X-Custom": "kept"}, timeout=15
    )
    assert response.status_code == 200, response.text
    echo = response.json()
    assert echo["method"] == "GET" and echo["path"] == "/api/public/hello?x=1"
    headers = echo["headers"]
    assert headers.get("x-request-id"), headers
    assert headers.get("x-forwarded-for") == "127.0.0.1", headers
    assert headers.get("x-custom") == "kept"
    recorded = [r for r in backend.requests() if r["path"] == "/api/public/hello?x=1"]
    assert len(recorded) == 1
    assert recorded[0]["headers"]["x-request-id"] == headers["x-request-id"]

    assert gateway.stop() == 0, gateway.log[-3000:]


# --- restarts -----------------------------------------------------------------------------


def test_auth_server_stop_and_start_keeps_sessions(auth_server):
    _email, result = new_user(auth_server, "Ken")
    auth_server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{auth_server.url}/api/auth/ok", timeout=5)
    auth_server.start()
    assert get_session(auth_server, result)["user"]["id"] == result.user_id


def test_postgres_stop_and_start_keeps_data(auth_server, postgres):
    _email, result = new_user(auth_server, "Dennis")
    postgres.stop()
    assert not postgres.running
    failed = get_session_response(auth_server, result)
    assert failed.status_code >= 500  # the auth server cannot reach its database
    postgres.start()
    assert postgres.running
    assert get_session(auth_server, result)["user"]["id"] == result.user_id
