"""Key and token interop (issue 11): the __Secure- session cookie through the http resolver,
legacy JWTs with a kid and the legacy_keys list, binary secret files and non-UTF-8
environment secrets, JWT headers with whitespace, the JWKS under a random-kid flood with a
key rotation, and a refused auth server connection. Real better-auth-server, real gateway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import AuthServer, free_port
from helpers import legacy_rsa_key, legacy_token, sign_up

TIMEOUT = 15


def backend_headers(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return response.json()["headers"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- __Secure- cookie through the http resolver ----------------------------------------------


@pytest.fixture
def secure_auth_server(postgres, auth_server, tmp_path):
    """The same better-auth-server (same database and secret), configured with secure cookies
    as over HTTPS: it issues and reads only ``__Secure-better-auth.session_token``."""
    server = AuthServer(free_port(), auth_server.secret, postgres.dsn, [], tmp_path)
    _start_with_flag(server)
    yield server
    server.stop()


def _start_with_flag(server: AuthServer) -> None:
    """Start ``auth_server.py --secure-cookies`` with the fixture's process bookkeeping."""
    import conftest

    log = open(server.logfile, "ab")
    cmd = [
        sys.executable, str(conftest.E2E_DIR / "auth_server.py"), "--port", str(server.port),
        "--database-url", server.database_url, "--secret", server.secret,
        "--base-url", server.url, "--trusted-origin", "http://127.0.0.1:*", "--secure-cookies",
    ]  # fmt: skip
    server.proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=conftest.E2E_DIR
    )
    log.close()
    conftest._live_processes.append(server.proc)
    conftest.wait_until(
        lambda: requests.get(f"{server.url}/api/auth/ok", timeout=2).status_code == 200,
        90,
        "secure-cookie auth server",
        proc=server.proc,
        log=lambda: server.log,
    )


def test_secure_cookie_session_resolves_through_the_http_resolver(
    authgate, gateway_auth_config, secure_auth_server
):
    user = sign_up(
        secure_auth_server, f"secure-{uuid.uuid4().hex[:10]}@example.com", "correct horse battery staple", "s"
    )
    assert user.cookie_name == "__Secure-better-auth.session_token", user.cookie_name
    # The server reads only its own name: the plain name is "no session" there.
    plain = requests.get(
        f"{secure_auth_server.url}/api/auth/get-session",
        headers={"Cookie": f"better-auth.session_token={user.cookie_value}"},
        timeout=TIMEOUT,
    )
    assert plain.json() is None

    config = json.loads(json.dumps(gateway_auth_config))
    config["auth"]["auth_server_url"] = secure_auth_server.url
    gateway = authgate(config)
    secure_auth_server.reset_stats()
    response = requests.get(f"{gateway.url}/api/orders", headers={"Cookie": user.cookie}, timeout=TIMEOUT)
    headers = backend_headers(response)
    assert headers["x-auth-user-id"] == user.user_id
    assert headers["x-auth-method"] == "better-auth"
    assert secure_auth_server.count() == 1


# --- legacy JWTs with a kid ------------------------------------------------------------------


def test_legacy_jwt_with_kid_is_accepted_by_a_key_without_kid(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(gateway_auth_config)
    token = legacy_token("legacy-kid-1", "kid@example.com", "user", secret=legacy_secret, headers={"kid": "k-2024"})
    response = requests.get(f"{gateway.url}/api/orders", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    headers = backend_headers(response)
    assert headers["x-auth-user-id"] == "legacy-kid-1"
    assert headers["x-auth-method"] == "legacy"


def test_legacy_keys_list_rotation_with_kids(authgate, gateway_auth_config, tmp_path):
    old_secret = "old-legacy-secret-" + "o" * 30
    new_rsa = legacy_rsa_key("rotation-2026")
    pem = tmp_path / "legacy-2026.pem"
    pem.write_text(new_rsa.public_pem if isinstance(new_rsa.public_pem, str) else new_rsa.public_pem.decode())
    config = json.loads(json.dumps(gateway_auth_config))
    del config["auth"]["legacy_jwt_secret"]
    config["auth"]["legacy_keys"] = [
        {"kid": "2025", "alg": "HS256", "secret": old_secret},
        {"kid": "2026", "alg": "RS256", "public_key_file": str(pem)},
    ]
    gateway = authgate(config)

    def call(token: str) -> requests.Response:
        return requests.get(f"{gateway.url}/api/orders", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)

    old = legacy_token("u-old", "old@example.com", "user", secret=old_secret, headers={"kid": "2025"})
    assert backend_headers(call(old))["x-auth-user-id"] == "u-old"
    new = legacy_token(
        "u-new", "new@example.com", "user", secret=new_rsa.private_pem, alg="RS256", headers={"kid": "2026"}
    )
    assert backend_headers(call(new))["x-auth-user-id"] == "u-new"
    # A kid names exactly its key: no other key is tried, and a key of another kid refuses.
    for token in (
        legacy_token("u", "u@example.com", "user", secret=old_secret, headers={"kid": "2026"}),
        legacy_token("u", "u@example.com", "user", secret=old_secret, headers={"kid": "1999"}),
        legacy_token("u", "u@example.com", "user", secret=old_secret),
    ):
        assert call(token).status_code == 401


# --- secrets are bytes -----------------------------------------------------------------------


def test_binary_secret_file_verifies_tokens_signed_with_those_bytes(authgate, gateway_auth_config, tmp_path):
    secret = bytes((i * 37 + 0x80) % 256 for i in range(48)) + b"\n"
    with pytest.raises(UnicodeDecodeError):
        secret.decode()
    path = tmp_path / "legacy.key"
    path.write_bytes(secret)
    config = json.loads(json.dumps(gateway_auth_config))
    del config["auth"]["legacy_jwt_secret"]
    config["auth"]["legacy_jwt_secret_file"] = str(path)
    gateway = authgate(config)
    token = jwt.encode(
        {"sub": "binary-1", "email": "b@example.com", "role": "user", "exp": int(time.time()) + 600},
        secret,
        algorithm="HS256",
    )
    response = requests.get(f"{gateway.url}/api/orders", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert backend_headers(response)["x-auth-user-id"] == "binary-1"


def test_environment_secret_that_is_not_utf8_is_a_config_error(authgate_binary_path, tmp_path):
    conf = tmp_path / "gateway.conf"
    conf.write_text(yaml.safe_dump({"auth": {"better_auth_secret": "b" * 40}}))
    env = {k.encode(): v.encode() for k, v in os.environ.items() if not k.startswith(("LEGACY_", "AUTHGATE_"))}
    env[b"LEGACY_JWT_SECRET"] = b"\xc3\x28" + b"0123456789abcdef0123456789abcdef"
    result = subprocess.run(
        [str(authgate_binary_path), "check-config", str(conf)], env=env, capture_output=True, timeout=60
    )
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 1, output
    assert "LEGACY_JWT_SECRET" in output and "not valid UTF-8" in output, output
    assert "0123456789abcdef" not in output
    # The same config with a valid secret is fine.
    env[b"LEGACY_JWT_SECRET"] = b"0123456789abcdef0123456789abcdef"
    ok = subprocess.run([str(authgate_binary_path), "check-config", str(conf)], env=env, capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.fixture
def authgate_binary_path():
    from conftest import authgate_binary

    return authgate_binary()


# --- JWT header with whitespace --------------------------------------------------------------


def test_jwt_whose_header_json_has_whitespace_is_verified_as_a_jwt(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(gateway_auth_config)
    header = b'{ "alg": "HS256", "typ": "JWT" }'
    payload = json.dumps({"sub": "ws-1", "email": "ws@example.com", "role": "user", "exp": int(time.time()) + 600})
    signing_input = _b64url(header) + "." + _b64url(payload.encode())
    signature = hmac.new(legacy_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64url(signature)}"
    assert token.startswith("eyAi")
    jwt.decode(token, legacy_secret, algorithms=["HS256"])  # PyJWT agrees it is a valid JWT
    response = requests.get(f"{gateway.url}/api/orders", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    headers = backend_headers(response)
    assert headers["x-auth-user-id"] == "ws-1"
    assert headers["x-auth-method"] == "legacy"


# --- JWKS: rotation under a random-kid flood -------------------------------------------------


class JWKSServer:
    """A stand-in for the auth server's ``GET /api/auth/jwks`` whose keys the test rotates."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.fetches = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/api/auth/jwks"):
                    with outer.lock:
                        outer.fetches += 1
                        body = json.dumps({"keys": [outer.jwk(kid, key) for kid, key in outer.keys.items()]})
                else:
                    body = "null"
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def jwk(kid: str, key: Ed25519PrivateKey) -> dict:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": _b64url(raw)}

    def token(self, kid: str, key: Ed25519PrivateKey, sub: str = "jwks-user") -> str:
        now = int(time.time())
        claims = {"sub": sub, "email": "j@example.com", "iat": now, "exp": now + 900, "iss": self.url, "aud": self.url}
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# The cooldown of the flood test; E2E_JWKS_COOLDOWN_MS=30000 measures the default.
FLOOD_COOLDOWNS_MS = [int(v) for v in os.environ.get("E2E_JWKS_COOLDOWN_MS", "5000").split(",")]


@pytest.mark.parametrize("cooldown_ms", FLOOD_COOLDOWNS_MS)
def test_rotated_jwks_key_is_accepted_under_a_random_kid_flood(authgate, gateway_auth_config, cooldown_ms):
    jwks = JWKSServer()
    try:
        jwks.keys["k-old"] = Ed25519PrivateKey.generate()
        config = json.loads(json.dumps(gateway_auth_config))
        config["auth"].update(
            {
                "auth_server_url": jwks.url,
                "enable_dual_auth": False,
                "prefer_better_auth": True,
                "jwks_refresh_cooldown_ms": cooldown_ms,
                "jwks_refresh_interval_ms": 300000,
                "auth_server_timeout_ms": 2000,
            }
        )
        config["lockout"] = {"enabled": False}
        gateway = authgate(config)
        url = f"{gateway.url}/api/orders"
        old = jwks.token("k-old", jwks.keys["k-old"])
        assert backend_headers(requests.get(url, headers={"Authorization": f"Bearer {old}"}, timeout=TIMEOUT))

        stop = threading.Event()
        flood_answers: list[int] = []
        attacker = Ed25519PrivateKey.generate()

        def flood() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    token = jwks.token(uuid.uuid4().hex, attacker, sub="attacker")
                    try:
                        flood_answers.append(
                            session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code
                        )
                    except requests.RequestException:
                        flood_answers.append(0)

        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)  # the flood holds the cooldown
            fetches_before = jwks.fetches
            new_key = Ed25519PrivateKey.generate()
            with jwks.lock:
                jwks.keys["k-new"] = new_key  # the rotation
            rotated = time.monotonic()
            token = jwks.token("k-new", new_key, sub="rotated-user")
            response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            delay = time.monotonic() - rotated
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        # The first request with the rotated key is accepted (it waited for the scheduled
        # refetch instead of being refused), and the flood did not buy extra fetches.
        assert backend_headers(response)["x-auth-user-id"] == "rotated-user"
        assert set(flood_answers) <= {401}, set(flood_answers)
        elapsed_fetches = jwks.fetches - fetches_before
        print(
            f"\nJWKS rotation under a random-kid flood: accepted after {delay:.2f} s "
            f"(cooldown {cooldown_ms} ms, {len(flood_answers)} flood requests, "
            f"{elapsed_fetches} JWKS fetches since the rotation)"
        )
        assert elapsed_fetches <= 2
    finally:
        jwks.close()


# --- refused connections ---------------------------------------------------------------------


def test_refused_auth_server_connection_answers_503_without_waiting_for_the_timeout(
    authgate, gateway_auth_config, auth_server
):
    from helpers import encode_cookie_value, sign_cookie_value

    port = free_port()  # nothing listens there
    config = json.loads(json.dumps(gateway_auth_config))
    config["auth"]["auth_server_url"] = f"http://127.0.0.1:{port}"
    config["auth"]["auth_server_timeout_ms"] = 20000
    gateway = authgate(config)
    cookie = encode_cookie_value(sign_cookie_value(auth_server.secret, "R" * 32))
    started = time.monotonic()
    response = requests.get(
        f"{gateway.url}/api/orders", headers={"Cookie": f"better-auth.session_token={cookie}"}, timeout=30
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.json()["error"]
    # Far below the 20 s timeout: the refusal itself ended the lookup.
    assert elapsed < 5, elapsed
