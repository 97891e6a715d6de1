"""Helpers for the end-to-end tests: talk to the real Better Auth server, mint legacy tokens.

Cookie values are kept exactly as the server sent them (URI-encoded: ``%2B``, ``%2F``, ``%3D``)
and sent back as a raw ``Cookie`` header, never through a cookie jar that could re-quote them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import jwt
import requests

SESSION_COOKIE = "better-auth.session_token"
HTTP_TIMEOUT = 15


# --- Better Auth --------------------------------------------------------------------------


@dataclass
class AuthResult:
    """What sign-up / sign-in answered."""

    #: cookie name as received, e.g. ``better-auth.session_token``
    cookie_name: str
    #: cookie value exactly as received (URI-encoded ``token.sig``)
    cookie_value: str
    #: the ``set-auth-token`` response header exactly as received (the bearer plugin copies
    #: the cookie value into it, so it is URI-encoded too)
    set_auth_token: str | None
    #: the raw session token from the JSON body (32 chars, no signature)
    token: str
    user_id: str
    user: dict[str, Any]
    body: dict[str, Any]
    headers: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def cookie(self) -> str:
        """``name=value`` for a ``Cookie`` header."""
        return f"{self.cookie_name}={self.cookie_value}"

    @property
    def signed_token(self) -> str:
        """The URI-decoded cookie value, ``token.base64sig``."""
        return unquote(self.cookie_value)

    @property
    def bearer(self) -> str:
        """What an API client sends back: ``Authorization: Bearer <set-auth-token>``."""
        return self.set_auth_token or self.cookie_value


def sign_cookie_value(secret: str, token: str) -> str:
    """``token.base64(HMAC-SHA256(secret, token))`` (not URI-encoded)."""
    digest = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return f"{token}.{base64.b64encode(digest).decode()}"


def encode_cookie_value(signed: str) -> str:
    """``encodeURIComponent`` of ``token.sig`` — the form Better Auth puts on the wire."""
    return quote(signed, safe="")


def forge_cookie_value(cookie_value: str, secret: str = "forged-" + "x" * 40) -> str:
    """The same token with a well-formed but wrong signature (44 chars, signed with another
    secret), URI-encoded like the original: passes every format check, fails the HMAC."""
    token = unquote(cookie_value).rpartition(".")[0]
    return encode_cookie_value(sign_cookie_value(secret, token))


def _url(auth_server: Any) -> str:
    return (auth_server if isinstance(auth_server, str) else auth_server.url).rstrip("/")


def cookie_header(cookie: Any) -> str:
    """An :class:`AuthResult`, a ``name=value`` string, or a bare (encoded) value → header."""
    if isinstance(cookie, AuthResult):
        return cookie.cookie
    name, eq, _ = cookie.partition("=")
    if eq and ("." not in name or name.endswith(("session_token", "session_data"))):
        return cookie  # already name=value[; name=value...]
    return f"{SESSION_COOKIE}={cookie}"


def set_cookies(response: requests.Response) -> list[tuple[str, str, str]]:
    """Every ``Set-Cookie`` header as ``(name, raw value, attributes)``, undecoded."""
    raw_headers = response.raw.headers.getlist("set-cookie") if response.raw else []
    out = []
    for raw in raw_headers:
        pair, _, attrs = raw.partition(";")
        name, _, value = pair.partition("=")
        out.append((name.strip(), value.strip(), attrs.strip()))
    return out


def _auth_result(response: requests.Response, what: str) -> AuthResult:
    if response.status_code != 200:
        raise AssertionError(f"{what} failed: {response.status_code} {response.text}")
    body = response.json()
    session = [c for c in set_cookies(response) if c[0].endswith(".session_token") and c[1]]
    if not session:
        raise AssertionError(f"{what}: no session cookie in {set_cookies(response)}")
    name, value, _attrs = session[0]
    return AuthResult(
        cookie_name=name,
        cookie_value=value,
        set_auth_token=response.headers.get("set-auth-token"),
        token=body["token"],
        user_id=body["user"]["id"],
        user=body["user"],
        body=body,
        headers=dict(response.headers),
    )


def sign_up(auth_server: Any, email: str, password: str, name: str) -> AuthResult:
    response = requests.post(
        f"{_url(auth_server)}/api/auth/sign-up/email",
        json={"name": name, "email": email, "password": password},
        timeout=HTTP_TIMEOUT,
    )
    return _auth_result(response, "sign-up")


def sign_in(auth_server: Any, email: str, password: str) -> AuthResult:
    response = requests.post(
        f"{_url(auth_server)}/api/auth/sign-in/email",
        json={"email": email, "password": password},
        timeout=HTTP_TIMEOUT,
    )
    return _auth_result(response, "sign-in")


def get_session_response(auth_server: Any, cookie: Any = None, **headers: str) -> requests.Response:
    hdrs = dict(headers)
    if cookie is not None:
        hdrs["Cookie"] = cookie_header(cookie)
    return requests.get(
        f"{_url(auth_server)}/api/auth/get-session", headers=hdrs, timeout=HTTP_TIMEOUT
    )


def get_session(auth_server: Any, cookie: Any) -> dict[str, Any] | None:
    """``{"session": …, "user": …}`` or None (the server's ``200 null``)."""
    response = get_session_response(auth_server, cookie)
    assert response.status_code == 200, response.text
    return response.json()


def get_jwt(auth_server: Any, cookie: Any) -> str:
    """A JWT plugin token via ``GET /api/auth/token`` (needs a live session)."""
    response = requests.get(
        f"{_url(auth_server)}/api/auth/token",
        headers={"Cookie": cookie_header(cookie)},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, f"/token: {response.status_code} {response.text}"
    return response.json()["token"]


def jwks(auth_server: Any) -> dict[str, Any]:
    response = requests.get(f"{_url(auth_server)}/api/auth/jwks", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def sign_out(auth_server: Any, cookie: Any, origin: str | None = None) -> requests.Response:
    """``POST /api/auth/sign-out``; Better Auth's CSRF check wants a trusted ``Origin`` on a
    POST that carries a cookie: the auth server's own origin by default."""
    response = requests.post(
        f"{_url(auth_server)}/api/auth/sign-out",
        headers={"Cookie": cookie_header(cookie), "Origin": origin or _url(auth_server)},
        json={},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, f"sign-out: {response.status_code} {response.text}"
    return response


# --- legacy tokens ------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_jwt(
    claims: dict[str, Any], key: bytes | str, alg: str = "HS256", headers: dict | None = None
) -> str:
    """An HMAC-signed JWT built by hand, for attacks PyJWT refuses to produce, e.g. algorithm
    confusion: ``hmac_jwt(claims, legacy_rsa_key().public_pem)`` signs HS256 with the RSA
    public key PEM as the secret (PyJWT raises InvalidKeyError for that)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = {"alg": alg, "typ": "JWT", **(headers or {})}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    key_bytes = key.encode() if isinstance(key, str) else key
    signature = hmac.new(key_bytes, signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64url(signature)}"



@dataclass(frozen=True)
class RSAKeyPair:
    private_pem: str
    public_pem: str


@functools.lru_cache(maxsize=None)
def legacy_rsa_key(name: str = "default") -> RSAKeyPair:
    """A 2048-bit RSA key pair generated once per test run (per ``name``); hand
    ``public_pem`` to the gateway and sign with ``legacy_token(..., alg="RS256")``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return RSAKeyPair(private_pem, public_pem)


def legacy_token(
    sub: str,
    email: str,
    role: str,
    secret: str | None = None,
    alg: str = "HS256",
    exp_in: int | None = 3600,
    headers: dict[str, Any] | None = None,
    **extra_claims: Any,
) -> str:
    """A legacy backend token: claims ``sub``, ``email``, ``role``, ``iat``, ``exp``
    (``exp_in`` seconds from now; negative = already expired; None = no ``exp``) plus
    ``extra_claims`` (which may override any of them).

    HS256/HS384/HS512: ``secret`` is the shared secret. RS256/RS384/RS512/PS256: ``secret`` is a
    private key PEM, default :func:`legacy_rsa_key()`'s. ``alg="none"`` makes an unsigned token.
    """
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "email": email, "role": role, "iat": now}
    if exp_in is not None:
        claims["exp"] = now + exp_in
    claims.update(extra_claims)
    if alg.startswith(("RS", "PS")):
        key: Any = secret or legacy_rsa_key().private_pem
    elif alg == "none":
        key = None
    else:
        if not secret:
            raise ValueError(f"{alg} needs a secret")
        key = secret
    return jwt.encode(claims, key, algorithm=alg, headers=headers)
