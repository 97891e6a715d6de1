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


# --- raw HTTP (no client-side path normalisation) -------------------------------------------


@dataclass
class RawResponse:
    status: int
    reason: str
    #: header names lower-cased; repeated headers joined with ", "
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def raw_request(
    base_url: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> RawResponse:
    """One request over a fresh connection with ``target`` sent byte for byte (no path
    normalisation, no header merging: ``headers`` may repeat a name in several spellings)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for name, value in items:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        out: dict[str, str] = {}
        for name, value in response.getheaders():
            key = name.lower()
            out[key] = f"{out[key]}, {value}" if key in out else value
        return RawResponse(response.status, response.reason, out, data)
    finally:
        conn.close()


# --- Prometheus text ------------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """``{"name": value, 'name{label="x"}': value}`` from the Prometheus text format."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            continue
    return out


# --- rollout cohorts --------------------------------------------------------------------------


def rollout_bucket(user_id: str) -> int:
    """The gateway's stable bucket of a user: first 8 hex digits of SHA-256(id), mod 100."""
    return int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16) % 100


# --- a minimal RFC 6455 client ----------------------------------------------------------------


class WebSocketClient:
    """A blocking WebSocket client over a plain socket: the handshake is sent as given, so
    tests control every header (subprotocols, cookies, query). ``status``/``headers`` are the
    handshake answer; after a 101 :meth:`recv` and :meth:`send_text` speak frames."""

    def __init__(
        self,
        base_url: str,
        target: str,
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        import os
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key}",
            "Sec-WebSocket-Version: 13",
        ]
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        lines += [f"{name}: {value}" for name, value in items]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        self.headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
        self.body = b""
        if self.status != 101:
            length = int(self.headers.get("content-length", "0"))
            while len(self._buffer) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self._buffer += chunk
            self.body = self._buffer[:length]

    def expected_accept(self) -> str:
        magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        return base64.b64encode(hashlib.sha1((self.key + magic).encode()).digest()).decode()

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before {marker!r}: {self._buffer[:500]!r}")
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def send_frame(self, opcode: int, payload: bytes) -> None:
        import os

        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + length.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(0x1, text.encode())

    def recv(self, timeout: float = HTTP_TIMEOUT) -> tuple[int, bytes]:
        """The next frame as ``(opcode, payload)``; raises ConnectionError at EOF."""
        self.sock.settimeout(timeout)
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._read_exact(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read_exact(8), "big")
        mask = self._read_exact(4) if second & 0x80 else None
        payload = self._read_exact(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return first & 0x0F, payload

    def recv_json(self, timeout: float = HTTP_TIMEOUT) -> Any:
        opcode, payload = self.recv(timeout)
        assert opcode == 0x1, f"expected a text frame, got opcode {opcode}: {payload!r}"
        return json.loads(payload)

    def wait_closed(self, timeout: float) -> float | None:
        """Seconds until the peer closed the connection (close frame or EOF), None if it was
        still open after ``timeout``. Data frames in between are discarded."""
        import socket

        start = time.monotonic()
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                opcode, _ = self.recv(timeout=left)
            except (socket.timeout, TimeoutError):
                return None
            except (ConnectionError, OSError):
                return time.monotonic() - start
            if opcode == 0x8:
                return time.monotonic() - start

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "WebSocketClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --- users ----------------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def unique_email(tag: str) -> str:
    import uuid

    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def make_user(auth_server: Any, tag: str) -> AuthResult:
    """A fresh Better Auth user (signed up and signed in directly at the auth server)."""
    email = unique_email(tag)
    sign_up(auth_server, email, PASSWORD, tag)
    return sign_in(auth_server, email, PASSWORD)
