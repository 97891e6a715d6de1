#!/usr/bin/env python3
"""Echo backend for the end-to-end tests: the "legacy backend" behind the gateway.

    python3 tests/e2e/backend.py --port P --legacy-secret S [--host 127.0.0.1]

HTTP/1.1 with keep-alive (ThreadingHTTPServer, one thread per connection). Every request is
answered 200 with JSON

    {"method": "GET", "path": "/raw/target?q=1", "headers": {"lowercased-name": "value", ...},
     "header_list": [["As-Sent", "value"], ...], "body_bytes": 0, "body_sha256": "...",
     "client": "127.0.0.1:port"}

(``path`` is the request target exactly as received, query included; repeated headers are
joined with ", " in ``headers`` and kept apart, in order and original case, in
``header_list``) and recorded in memory. Request bodies are read by Content-Length or
chunked transfer coding.

Control endpoints (never recorded):
- ``GET /__requests``        → the recorded requests, oldest first (a JSON list);
- ``POST /__requests/reset`` → forget them.

WebSocket (RFC 6455) on any path starting with ``/ws``: an ``Upgrade: websocket`` request is
recorded, answered 101 (``Sec-WebSocket-Accept``; the first offered ``Sec-WebSocket-Protocol``
is selected), then the server sends one text frame ``{"path": ..., "headers": {...}}`` (the
handshake request as received, header names lower-cased) and echoes every text/binary frame
(unmasked), answers pings, and closes on a close frame.

``POST /api/auth/refresh`` (recorded) issues a new legacy token, ``{"token": "<HS256 JWT>"}``,
signed with ``--legacy-secret``. The old token is taken from the JSON body (``token`` or
``refresh_token``) or from ``Authorization: Bearer``; its signature must verify with the legacy
secret (expiry is not checked: refreshing an expired token is the point); the new token keeps
its claims except ``iat``/``exp``/``nbf``/``jti`` and lives ``--token-ttl`` seconds (default
3600). Without a valid token the answer is 401 ``{"error": "invalid_token", ...}``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[dict] = []

    def add(self, record: dict) -> None:
        with self.lock:
            self.items.append(record)

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.items)

    def reset(self) -> None:
        with self.lock:
            self.items.clear()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says close
    # Head and body go out in separate writes: without TCP_NODELAY the body waits for the
    # peer's delayed ACK (~40 ms per response on a keep-alive connection).
    disable_nagle_algorithm = True
    server_version = "e2e-backend/1"
    # Set on the class by main().
    recorder: Recorder
    legacy_secret: str
    token_ttl: int

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet by default
        pass

    # --- body -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers up to the empty line
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # --- responses --------------------------------------------------------------------

    def _send_json(self, status: int, payload, extra_headers: list[tuple[str, str]] = ()) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self, body: bytes) -> dict:
        header_list = [[name, value] for name, value in self.headers.items()]
        headers: dict[str, str] = {}
        for name, value in header_list:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        record = {
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "header_list": header_list,
            "body_bytes": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "client": f"{self.client_address[0]}:{self.client_address[1]}",
            "time": time.time(),
        }
        return record

    # --- dispatch ---------------------------------------------------------------------

    def _handle(self) -> None:
        path_only = self.path.split("?", 1)[0]
        if path_only.startswith("/ws") and (self.headers.get("Upgrade") or "").lower() == "websocket":
            self._websocket()
            return
        body = self._read_body()
        if path_only == "/__requests" and self.command == "GET":
            self._send_json(200, self.recorder.snapshot())
            return
        if path_only == "/__requests/reset" and self.command == "POST":
            self.recorder.reset()
            self._send_json(200, {"ok": True})
            return
        record = self._record(body)
        self.recorder.add(record)
        if path_only == "/api/auth/refresh" and self.command == "POST":
            self._refresh(body, record)
            return
        if path_only == "/oauth/introspect" and self.command == "POST":
            self._introspect(body)
            return
        self._send_json(200, {k: v for k, v in record.items() if k != "time"})

    # --- WebSocket --------------------------------------------------------------------

    WS_MAGIC = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def _websocket(self) -> None:
        record = self._record(b"")
        record["websocket"] = True
        self.recorder.add(record)
        self.close_connection = True
        key = self.headers.get("Sec-WebSocket-Key") or ""
        accept = base64.b64encode(hashlib.sha1((key + self.WS_MAGIC).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        if offered:
            self.send_header("Sec-WebSocket-Protocol", offered[0])
        self.end_headers()
        self.wfile.flush()
        hello = {"path": self.path, "headers": record["headers"], "header_list": record["header_list"]}
        try:
            self._ws_send(0x1, json.dumps(hello).encode())
            while True:
                frame = self._ws_recv()
                if frame is None:
                    return
                opcode, payload = frame
                if opcode in (0x1, 0x2):
                    self._ws_send(opcode, payload)
                elif opcode == 0x9:
                    self._ws_send(0xA, payload)
                elif opcode == 0x8:
                    self._ws_send(0x8, payload[:2])
                    return
        except (OSError, ValueError):
            return

    def _ws_send(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([length])
        elif length < 65536:
            header += bytes([126]) + length.to_bytes(2, "big")
        else:
            header += bytes([127]) + length.to_bytes(8, "big")
        self.wfile.write(header + payload)
        self.wfile.flush()

    def _ws_recv(self) -> tuple[int, bytes] | None:
        head = self.rfile.read(2)
        if len(head) < 2:
            return None
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(self.rfile.read(2), "big")
        elif length == 127:
            length = int.from_bytes(self.rfile.read(8), "big")
        mask = self.rfile.read(4) if head[1] & 0x80 else b""
        payload = self.rfile.read(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head[0] & 0x0F, payload

    def _introspect(self, body: bytes) -> None:
        """RFC 7662 for opaque legacy tokens: ``opaque-<sub>`` is active for an hour, anything
        else is inactive."""
        from urllib.parse import parse_qs

        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
        if token.startswith("opaque-") and len(token) > len("opaque-"):
            sub = token[len("opaque-"):]
            self._send_json(
                200,
                {"active": True, "sub": sub, "email": f"{sub}@legacy.example", "role": "user", "exp": int(time.time()) + 3600},
            )
        else:
            self._send_json(200, {"active": False})

    def _refresh(self, body: bytes, record: dict) -> None:
        old = None
        try:
            data = json.loads(body) if body else {}
            if isinstance(data, dict):
                old = data.get("token") or data.get("refresh_token")
        except ValueError:
            pass
        if not old:
            auth = self.headers.get("Authorization") or ""
            if auth[:7].lower() == "bearer ":
                old = auth[7:].strip()
        if not old:
            self._send_json(400, {"error": "invalid_request", "message": "no token to refresh"})
            return
        try:
            claims = jwt.decode(
                old,
                self.legacy_secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iss": False},
            )
        except jwt.PyJWTError as error:
            self._send_json(
                401,
                {"error": "invalid_token", "message": f"cannot refresh: {error}"},
                [("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
            return
        now = int(time.time())
        for claim in ("iat", "exp", "nbf", "jti"):
            claims.pop(claim, None)
        claims.update(iat=now, exp=now + self.token_ttl, jti=secrets.token_hex(8))
        token = jwt.encode(claims, self.legacy_secret, algorithm="HS256")
        self._send_json(200, {"token": token, "expires_in": self.token_ttl})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle
    do_TRACE = do_CONNECT = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="echo backend for the e2e tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--legacy-secret", required=True)
    parser.add_argument("--token-ttl", type=int, default=3600)
    args = parser.parse_args(argv)

    Handler.recorder = Recorder()
    Handler.legacy_secret = args.legacy_secret
    Handler.token_ttl = args.token_ttl
    server = Server((args.host, args.port), Handler)
    print(f"backend listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
