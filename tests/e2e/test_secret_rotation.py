"""Better Auth secret rotation (`BETTER_AUTH_SECRETS`) without signing everyone out.

Two real auth servers on one PostgreSQL: the suite's, with the old secret, and one started here
with the new one, as the auth server is after its restart. Better Auth alone refuses a cookie
signed with the old secret once it runs with the new one; the gateway, given the list, accepts
it and asks get-session with the value signed by the current secret."""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import jwt
import pytest
import requests
import yaml

from conftest import AuthServer, authgate_binary, free_port
from helpers import sign_in, sign_up, unique_email

TIMEOUT = 15
PASSWORD = "correct horse battery staple"


@pytest.fixture
def rotated_auth_server(auth_server, postgres, tmp_path):
    server = AuthServer(
        free_port(),
        "e2e-rotated-better-auth-secret-" + secrets.token_hex(16),
        postgres.dsn,
        ["http://127.0.0.1:*"],
        tmp_path,
    )
    # Without the JWT plugin: its private key in the shared jwks table is encrypted with the
    # old secret, which a server started with only the new one cannot decrypt (get-session
    # answers 500 then, as Better Auth does; its advice is to clean up the JWKS).
    server.extra_args = ["--no-jwt-plugin"]
    server.start()
    yield server
    server.stop()


def user_id(response: requests.Response) -> str | None:
    assert response.status_code == 200, response.text
    return dict(response.json()["headers"]).get("x-auth-user-id")


def test_session_secret_rotation_signs_no_one_out(authgate, gateway_auth_config, auth_server, rotated_auth_server):
    old_secret, new_secret = auth_server.secret, rotated_auth_server.secret
    email = unique_email("rotation-old")
    sign_up(auth_server, email, PASSWORD, "rotation")
    before = sign_in(auth_server, email, PASSWORD)  # signed with the old secret
    after_email = unique_email("rotation-new")
    sign_up(rotated_auth_server, after_email, PASSWORD, "rotation")
    after = sign_in(rotated_auth_server, after_email, PASSWORD)  # signed with the new one

    # Better Auth alone, after the restart: the old cookie is no session any more.
    alone = requests.get(
        f"{rotated_auth_server.url}/api/auth/get-session", headers={"Cookie": before.cookie}, timeout=TIMEOUT
    )
    assert alone.status_code == 200 and alone.json() is None, alone.text

    config = gateway_auth_config
    config["auth"]["auth_server_url"] = rotated_auth_server.url
    del config["auth"]["better_auth_secret"]
    config["auth"]["better_auth_secrets"] = f"2:{new_secret},1:{old_secret}"
    # A freshly started auth server on a loaded 2-core machine can take more than the default 2 s.
    config["auth"]["auth_server_timeout_ms"] = 10000
    config["auth"]["jwks_enabled"] = False
    gateway = authgate(config)
    url = f"{gateway.url}/api/orders"
    first = requests.get(url, headers={"Cookie": before.cookie}, timeout=TIMEOUT)
    assert first.status_code == 200, first.text + "\n" + gateway.log[-2000:]
    assert user_id(first) == before.user_id
    assert user_id(requests.get(url, headers={"Authorization": f"Bearer {before.bearer}"}, timeout=TIMEOUT)) == before.user_id
    assert user_id(requests.get(url, headers={"Cookie": after.cookie}, timeout=TIMEOUT)) == after.user_id
    # A secret that is not listed is still a forgery.
    forged = before.cookie.split("=", 1)[0] + "=" + before.token + ".%2B" + "A" * 42 + "%3D"
    response = requests.get(url, headers={"Cookie": forged}, timeout=TIMEOUT)
    assert response.status_code == 401 and response.json()["error"] in {"bad_signature", "malformed"}, response.text

    # With only the new secret, the same old cookie signs its user out: the list is what keeps it.
    single = gateway_auth_config
    single["auth"]["better_auth_secret"] = new_secret
    del single["auth"]["better_auth_secrets"]
    only_new = authgate(single)
    response = requests.get(f"{only_new.url}/api/orders", headers={"Cookie": before.cookie}, timeout=TIMEOUT)
    assert response.status_code == 401, response.text


def test_hs256_jwt_secret_rotation(authgate, gateway_auth_config, auth_server):
    old, new, other = (f"{name}-jwt-secret-" + secrets.token_hex(16) for name in ("old", "new", "other"))
    config = gateway_auth_config
    config["auth"]["better_auth_jwt_secrets"] = f"5:{new},4:{old}"
    config["auth"]["enable_dual_auth"] = False
    config["auth"]["prefer_better_auth"] = True
    gateway = authgate(config)
    url = f"{gateway.url}/api/orders"
    now = int(time.time())

    def token(secret: str, sub: str) -> str:
        claims = {"sub": sub, "iat": now, "exp": now + 600, "iss": auth_server.url, "aud": auth_server.url}
        return jwt.encode(claims, secret, algorithm="HS256")

    for secret, sub in ((old, "jwt-old"), (new, "jwt-new")):
        response = requests.get(url, headers={"Authorization": f"Bearer {token(secret, sub)}"}, timeout=TIMEOUT)
        assert user_id(response) == sub
    response = requests.get(url, headers={"Authorization": f"Bearer {token(other, 'jwt-other')}"}, timeout=TIMEOUT)
    assert response.status_code == 401, response.text


def test_a_malformed_secret_list_is_a_config_error_without_the_secret(tmp_path):
    conf = tmp_path / "gateway.conf"
    conf.write_text(yaml.safe_dump({"auth": {"better_auth_secret": "b" * 40}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BETTER_AUTH_", "AUTHGATE_"))}
    for value, expected in (
        ("2:short-secret", "at least 32 bytes"),
        ("two:a-secret-that-is-long-enough-for-hmac-0001", "non-negative integer"),
        ("1:a-secret-that-is-long-enough-for-hmac-0001,1:a-secret-that-is-long-enough-for-hmac-0002", "twice"),
    ):
        env["BETTER_AUTH_SECRETS"] = value
        result = subprocess.run(
            [str(authgate_binary()), "check-config", str(conf)], env=env, capture_output=True, text=True, timeout=60
        )
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "auth.better_auth_secrets" in output and expected in output, output
        assert "short-secret" not in output and "long-enough" not in output, output
    env["BETTER_AUTH_SECRETS"] = "2:a-secret-that-is-long-enough-for-hmac-0002,1:a-secret-that-is-long-enough-for-hmac-0001"
    ok = subprocess.run([str(authgate_binary()), "check-config", str(conf)], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
