"""What the backend may trust: identity headers only from the gateway, credentials forwarded
only where configured, one normalised path for routing and forwarding, and the signed
X-Auth-Assertion. Requests go over raw sockets (helpers.raw_request) so that neither the path
nor repeated header spellings are touched by a client library."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from helpers import legacy_token, make_user, raw_request

TIMEOUT = 15

IDENTITY = ("user-id", "user-email", "method", "session-id", "roles", "assertion")


def spoofed_headers() -> list[tuple[str, str]]:
    """Every identity header in several spellings, all with attacker values."""
    out = []
    for suffix in IDENTITY:
        canonical = "X-Auth-" + "-".join(part.capitalize() for part in suffix.split("-"))
        for name in {
            canonical,
            canonical.lower(),
            canonical.upper(),
            canonical.replace("-", "_"),
            canonical.lower().replace("-", "_"),
            "x-AUTH-" + suffix.upper().replace("-", "_"),
        }:
            out.append((name, f"spoofed-{suffix}"))
    return out


def identity_headers_seen(record: dict) -> list[tuple[str, str]]:
    """The X-Auth-* headers (any spelling) the backend received, as sent."""
    return [
        (name, value)
        for name, value in record["header_list"]
        if name.lower().replace("_", "-").startswith("x-auth-")
    ]


def echoed(response) -> dict:
    assert response.status == 200, f"{response.status} {response.text[:300]}"
    return response.json()


# --- client identity headers ----------------------------------------------------------------


def test_spoofed_identity_headers_never_reach_the_backend(authgate, gateway_auth_config, auth_server, legacy_secret):
    gateway = authgate(gateway_auth_config)
    spoofed = spoofed_headers()

    public = echoed(raw_request(gateway.url, "GET", "/api/public/page", spoofed))
    leaked = identity_headers_seen(public)
    assert leaked == [], f"public route: client identity headers reached the backend: {leaked}"

    token = legacy_token("trust-1", "t@example.com", "editor", secret=legacy_secret)
    legacy = echoed(raw_request(gateway.url, "GET", "/api/orders", [*spoofed, ("Authorization", f"Bearer {token}")]))
    seen = identity_headers_seen(legacy)
    assert all("spoofed" not in value for _, value in seen), f"legacy: spoofed value forwarded: {seen}"
    names = [name.lower() for name, _ in seen]
    assert len(names) == len(set(names)), f"legacy: identity header repeated: {seen}"
    assert dict((n.lower(), v) for n, v in seen) == {
        "x-auth-user-id": "trust-1",
        "x-auth-user-email": "t@example.com",
        "x-auth-method": "legacy",
        "x-auth-roles": "editor",
    }, seen

    user = make_user(auth_server, "trust")
    ba = echoed(raw_request(gateway.url, "GET", "/api/orders", [*spoofed, ("Cookie", user.cookie)]))
    seen = dict((n.lower(), v) for n, v in identity_headers_seen(ba))
    assert all("spoofed" not in value for value in seen.values()), f"better-auth: spoofed value forwarded: {seen}"
    assert seen["x-auth-user-id"] == user.user_id
    assert seen["x-auth-method"] == "better-auth"
    assert seen["x-auth-session-id"] and seen["x-auth-user-email"] == user.user["email"]


def test_forwarding_of_credentials_is_configurable(authgate, gateway_auth_config, auth_server, legacy_secret):
    user = make_user(auth_server, "fwd")
    token = legacy_token("fwd-1", "f@example.com", "user", secret=legacy_secret)
    cookie = f"theme=dark; {user.cookie}; csrf=abc123"

    default = authgate(gateway_auth_config)
    seen = echoed(raw_request(default.url, "GET", "/api/me", {"Authorization": f"Bearer {token}"}))["headers"]
    assert seen.get("authorization") == f"Bearer {token}", "forward_authorization defaults to true"
    seen = echoed(raw_request(default.url, "GET", "/api/me", {"Cookie": cookie}))["headers"]
    assert user.cookie_value in seen.get("cookie", ""), "forward_session_cookie defaults to true"

    config = dict(gateway_auth_config)
    config["forwarding"] = {"forward_authorization": False, "forward_session_cookie": False}
    strict = authgate(config)
    seen = echoed(raw_request(strict.url, "GET", "/api/me", {"Authorization": f"Bearer {token}"}))["headers"]
    assert "authorization" not in seen, f"forward_authorization false: backend got {seen.get('authorization')!r}"
    assert seen["x-auth-user-id"] == "fwd-1"
    seen = echoed(raw_request(strict.url, "GET", "/api/me", {"Cookie": cookie}))["headers"]
    assert seen["x-auth-user-id"] == user.user_id
    forwarded = [c.strip() for c in seen.get("cookie", "").split(";") if c.strip()]
    assert forwarded == ["theme=dark", "csrf=abc123"], f"session cookie must go, others stay unchanged: {forwarded}"


# --- path normalisation -------------------------------------------------------------------------

BYPASSES = [
    "//api//private",
    "/api/./private",
    "/api/public/../private",
    "/api/public/%2e%2e/private",
    "/api/public/%2E%2E/private",
    "/api/public%2F..%2Fprivate",
    "/api/public/..%5Cprivate",
    "/api/public/..\\private",
    "/api/public/./../private",
    "/api/%70rivate",
]


@pytest.fixture
def normalising_gateway(authgate, gateway_auth_config):
    config = dict(gateway_auth_config)
    config["routes"] = [
        {"path": "/api/public/", "access": "public"},
        {"path": "/api/private", "access": "authenticated"},
    ]
    return authgate(config)


@pytest.mark.parametrize("target", BYPASSES)
def test_path_tricks_are_routed_and_forwarded_as_the_normalised_path(normalising_gateway, backend, legacy_secret, target):
    gateway = normalising_gateway
    anonymous = raw_request(gateway.url, "GET", target)
    assert anonymous.status == 401, (
        f"{target!r} without a credential must be treated as /api/private (401), got {anonymous.status} {anonymous.text[:300]}"
    )
    token = legacy_token("path-1", "p@example.com", "user", secret=legacy_secret)
    forwarded = raw_request(gateway.url, "GET", target + "?q=1", {"Authorization": f"Bearer {token}"})
    assert forwarded.status == 200, f"{target!r} with a token: {forwarded.status} {forwarded.text[:300]}"
    assert forwarded.json()["path"] == "/api/private?q=1", f"{target!r}: backend saw {forwarded.json()['path']!r}"


@pytest.mark.parametrize("target", ["/..", "/api/../../x", "/api/public/../../../etc/passwd", "/%2e%2e/x"])
def test_paths_above_the_root_are_400(normalising_gateway, target):
    response = raw_request(normalising_gateway.url, "GET", target)
    assert response.status == 400, f"{target!r}: want 400, got {response.status} {response.text[:300]}"
    assert response.json()["error"], response.text


def test_escaped_slashes_can_be_rejected(authgate, gateway_auth_config, legacy_secret):
    config = dict(gateway_auth_config)
    config["server"] = {"escaped_slashes": "reject"}
    gateway = authgate(config)
    token = legacy_token("path-2", "p@example.com", "user", secret=legacy_secret)
    for target in ("/api/public%2F..%2Fprivate", "/api/a%2fb", "/api/public/..%5Cprivate"):
        response = raw_request(gateway.url, "GET", target, {"Authorization": f"Bearer {token}"})
        assert response.status == 400, f"escaped_slashes reject: {target!r} → {response.status} {response.text[:200]}"
    assert raw_request(gateway.url, "GET", "/api/./ok", {"Authorization": f"Bearer {token}"}).json()["path"] == "/api/ok"


# --- X-Auth-Assertion ---------------------------------------------------------------------------


def assertion_key(gateway, kid: str | None):
    response = requests.get(f"{gateway.admin_url}/.well-known/jwks.json", timeout=TIMEOUT)
    assert response.status_code == 200, f"JWKS on the admin listener: {response.status_code} {response.text}"
    keys = response.json()["keys"]
    assert keys, "empty JWKS"
    jwk = next((k for k in keys if kid is None or k.get("kid") == kid), None)
    assert jwk is not None, f"kid {kid!r} not in the JWKS {keys}"
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519", jwk
    assert "d" not in jwk, "the JWKS must not carry the private key"
    return jwt.PyJWK(jwk, algorithm="EdDSA").key


def test_eddsa_assertion_verifies_with_the_admin_jwks(authgate, gateway_auth_config, auth_server, legacy_secret):
    config = dict(gateway_auth_config)
    config["assertion"] = {"enabled": True}
    gateway = authgate(config)
    token = legacy_token("assert-1", "a@example.com", "admin", secret=legacy_secret)
    response = raw_request(
        gateway.url, "POST", "/api//orders/./7?x=1", {"Authorization": f"Bearer {token}"}, body=b"{}"
    )
    record = echoed(response)
    seen = record["headers"]
    assertion = seen.get("x-auth-assertion")
    assert assertion, f"no X-Auth-Assertion: {seen}"
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "EdDSA", header
    key = assertion_key(gateway, header.get("kid"))
    claims = jwt.decode(assertion, key, algorithms=["EdDSA"], audience="legacy-backend", issuer="authgate")
    assert claims["sub"] == seen["x-auth-user-id"] == "assert-1"
    assert claims["auth_method"] == "legacy"
    assert claims["htm"] == "POST"
    assert claims["htu"] == "/api/orders/7", f"htu must be the normalised path: {claims}"
    assert record["path"] == "/api/orders/7?x=1"
    assert claims["exp"] - claims["iat"] == 30, claims
    assert abs(claims["iat"] - time.time()) < 30, claims

    # A Better Auth identity, and a tampered assertion.
    user = make_user(auth_server, "assert")
    seen = echoed(raw_request(gateway.url, "GET", "/api/me", {"Cookie": user.cookie}))["headers"]
    claims = jwt.decode(seen["x-auth-assertion"], key, algorithms=["EdDSA"], audience="legacy-backend", issuer="authgate")
    assert claims["sub"] == user.user_id and claims["auth_method"] == "better-auth" and claims["htm"] == "GET"
    assert claims["htu"] == "/api/me"
    head, payload, signature = seen["x-auth-assertion"].split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(user.user_id.encode(), b"x" * len(user.user_id))
    ).decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged_payload}.{signature}", key, algorithms=["EdDSA"], audience="legacy-backend")

    # Public routes carry no assertion (and a client-sent one is dropped).
    public = echoed(raw_request(gateway.url, "GET", "/api/public/x", {"X-Auth-Assertion": seen["x-auth-assertion"]}))
    assert "x-auth-assertion" not in public["headers"]


def test_hs256_assertion_with_custom_audience_and_ttl(authgate, gateway_auth_config, legacy_secret):
    secret = "assertion-secret-" + "s" * 32
    config = dict(gateway_auth_config)
    config["assertion"] = {"enabled": True, "algorithm": "HS256", "secret": secret, "audience": "orders-api", "ttl_seconds": 12}
    gateway = authgate(config)
    token = legacy_token("assert-2", "b@example.com", "user", secret=legacy_secret)
    seen = echoed(raw_request(gateway.url, "DELETE", "/api/items/9", {"Authorization": f"Bearer {token}"}))["headers"]
    assertion = seen["x-auth-assertion"]
    claims = jwt.decode(assertion, secret, algorithms=["HS256"], audience="orders-api", issuer="authgate")
    assert (claims["sub"], claims["htm"], claims["htu"]) == ("assert-2", "DELETE", "/api/items/9"), claims
    assert claims["exp"] - claims["iat"] == 12
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(assertion, secret + "x", algorithms=["HS256"], audience="orders-api")
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(assertion, secret, algorithms=["HS256"], audience="legacy-backend")


# --- forwarding and override headers ------------------------------------------------------------

FORWARDING_HEADERS = (
    "X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Uri", "X-Original-URL",
    "X-Rewrite-URL", "X-Original-Method", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP",
    "X-Cluster-Client-IP", "X-HTTP-Method-Override",
)  # fmt: skip


def forwarding_spellings() -> list[tuple[str, str]]:
    """Every forwarding header as sent, lower, upper and with _ for -, with attacker values."""
    out = []
    for name in FORWARDING_HEADERS:
        for spelling in {name, name.lower(), name.upper(), name.replace("-", "_")}:
            out.append((spelling, "/admin"))
    return out


def forwarding_seen(record: dict) -> list[tuple[str, str]]:
    wanted = {name.lower() for name in FORWARDING_HEADERS}
    return [(n, v) for n, v in record["header_list"] if n.lower().replace("_", "-") in wanted]


def test_forwarding_headers_from_an_untrusted_peer_never_reach_the_backend(authgate, gateway_auth_config):
    config = dict(gateway_auth_config)
    config["trusted_proxies"] = []
    config["forwarding"] = {"strip_headers": ["X-Tenant-Override"]}
    gateway = authgate(config)
    record = echoed(
        raw_request(
            gateway.url, "GET", "/api/public/fwd", [*forwarding_spellings(), ("x_tenant_override", "7"), ("X-Kept", "1")]
        )
    )
    assert forwarding_seen(record) == [], f"untrusted peer: forwarding headers reached the backend: {forwarding_seen(record)}"
    assert "x_tenant_override" not in record["headers"] and "x-tenant-override" not in record["headers"]
    assert record["headers"].get("x-kept") == "1"


def test_forwarding_headers_from_a_trusted_proxy_are_kept(authgate, gateway_auth_config):
    # The test client connects from 127.0.0.1, which the default trusted_proxies hold (nginx's place).
    gateway = authgate(gateway_auth_config)
    sent = [(name, "from-nginx") for name in FORWARDING_HEADERS]
    record = echoed(raw_request(gateway.url, "GET", "/api/public/fwd", sent))
    seen = {n.lower(): v for n, v in forwarding_seen(record)}
    assert seen == {name.lower(): "from-nginx" for name in FORWARDING_HEADERS}, seen
