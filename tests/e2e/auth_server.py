#!/usr/bin/env python3
"""A real Better Auth server for the end-to-end tests.

Runs the PyPI package ``better-auth-server`` (import name ``better_auth``; a Python port of
Better Auth with the same routes, JSON shapes, cookie signing, JWT plugin and schema) as a
FastAPI app under uvicorn on 127.0.0.1:

    python3 tests/e2e/auth_server.py --port P --database-url postgres://... --secret S \
        [--base-url http://127.0.0.1:P] [--trusted-origin http://127.0.0.1:G ...]

- email + password sign-up/sign-in enabled, no email verification;
- SQLAlchemy (async, psycopg 3 driver) adapter on PostgreSQL; the core tables ``user``,
  ``session``, ``account``, ``verification`` and the JWT plugin's ``jwks`` table are created
  at startup if missing (camelCase columns, timestamps ``timestamp without time zone`` in UTC);
- ``JWTPlugin()`` (EdDSA / Ed25519, 15 min, iss = aud = the base URL) and ``BearerPlugin()``
  (``set-auth-token`` response header; raw bearer tokens accepted);
- Better Auth's own rate limiter OFF;
- a counting middleware: every request path is counted (the ``/__stats`` paths excepted);
  ``GET /__stats`` answers ``{"/api/auth/get-session": N, ...}`` and ``POST /__stats/reset``
  zeroes the counters, so tests can prove how many lookups the gateway made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import threading
from collections import Counter
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit


def sqlalchemy_url(database_url: str) -> str:
    """``postgres://…`` / ``postgresql://…`` → ``postgresql+psycopg://…`` (async psycopg 3)."""
    parts = urlsplit(database_url)
    scheme = parts.scheme.lower()
    if scheme in ("postgres", "postgresql"):
        return urlunsplit(("postgresql+psycopg",) + tuple(parts)[1:])
    return database_url  # already a SQLAlchemy URL (e.g. postgresql+asyncpg://)


class RequestCounter:
    """Pure ASGI middleware counting requests per path (query string excluded)."""

    STATS = "/__stats"

    def __init__(self, app) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        if path == self.STATS and method == "GET":
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            await _send_json(send, 200, body)
            return
        if path == self.STATS + "/reset" and method == "POST":
            with self.lock:
                self.counts.clear()
            await _send_json(send, 200, b'{"ok":true}')
            return
        with self.lock:
            self.counts[path] += 1
        await self.app(scope, receive, send)


async def _send_json(send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def build_app(
    database_url: str,
    secret: str,
    base_url: str,
    trusted_origins: list[str],
    secure_cookies: bool | None = None,
    jwt_plugin: bool = True,
    admin_plugin: bool = False,
    organization_plugin: bool = False,
    cookie_cache: str | None = None,
    api_key_plugin: bool = False,
):
    from better_auth import BetterAuth, EmailAndPassword, RateLimit
    from better_auth.config import CookieCache, SessionOptions
    from better_auth.adapters.sqlalchemy import SQLAlchemyAdapter
    from better_auth.integrations.fastapi import BetterAuthFastAPI
    from better_auth.plugins_ext import BearerPlugin, JWTPlugin
    from better_auth.plugins_ext.admin import AdminPlugin
    from better_auth.plugins_ext.api_key import ApiKeyPlugin
    from better_auth.plugins_ext.organization import OrganizationPlugin
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(sqlalchemy_url(database_url), pool_pre_ping=True)
    adapter = SQLAlchemyAdapter(engine)
    auth = BetterAuth(
        secret=secret,
        base_url=base_url,
        adapter=adapter,
        email_and_password=EmailAndPassword(enabled=True, auto_sign_in=True),
        rate_limit=RateLimit(enabled=False),
        trusted_origins=trusted_origins,
        plugins=([JWTPlugin()] if jwt_plugin else [])
        + [BearerPlugin()]
        + ([AdminPlugin()] if admin_plugin else [])
        + ([OrganizationPlugin()] if organization_plugin else [])
        # Keys in x-api-key open a session (get-session answers their owner), as a gateway
        # with the http resolver needs.
        + ([ApiKeyPlugin({"enable_session_for_api_keys": True})] if api_key_plugin else []),
        # cookie_cache "compact" or "jwt": Better Auth's session.cookieCache, 5 minutes.
        session=SessionOptions(cookie_cache=CookieCache(enabled=True, strategy=cookie_cache)) if cookie_cache else None,
        # True: cookies are named "__Secure-better-auth.*", as over HTTPS, even on http://.
        use_secure_cookies=secure_cookies,
    )

    @asynccontextmanager
    async def lifespan(_app):
        # Creates user, session, account, verification and jwks (missing ones only).
        await adapter.create_tables()
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(BetterAuthFastAPI(auth).router)

    @app.get("/__health")
    async def health() -> dict:
        return {"ok": True}

    return RequestCounter(app)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", required=True, help="postgres://user@host:port/db")
    parser.add_argument("--secret", required=True, help="BETTER_AUTH_SECRET (>= 32 chars)")
    parser.add_argument("--base-url", help="default http://127.0.0.1:PORT")
    parser.add_argument(
        "--trusted-origin",
        action="append",
        default=[],
        help="extra trusted origin (CSRF / callbackURL), repeatable",
    )
    parser.add_argument(
        "--secure-cookies",
        action="store_true",
        help="name cookies __Secure-… as an HTTPS deployment does (and read only those)",
    )
    parser.add_argument(
        "--no-jwt-plugin",
        action="store_true",
        help="without the JWT plugin (no /api/auth/jwks, no set-auth-jwt): for a second server on "
        "the same database with another secret, which could not decrypt the first one's JWKS key",
    )
    parser.add_argument(
        "--admin-plugin",
        action="store_true",
        help="with Better Auth's admin plugin (role, banned, banExpires, impersonatedBy columns); "
        "on a database of its own, since the tables are created only if missing",
    )
    parser.add_argument(
        "--organization-plugin",
        action="store_true",
        help="with Better Auth's organization plugin (organization and member tables, "
        "session.activeOrganizationId); on a database of its own",
    )
    parser.add_argument(
        "--api-key-plugin",
        action="store_true",
        help="with Better Auth's API key plugin (apikey table, x-api-key sessions); "
        "on a database of its own",
    )
    parser.add_argument(
        "--cookie-cache",
        choices=["compact", "jwt"],
        help="Better Auth's session.cookieCache with this strategy (a session_data cookie)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    base_url = (args.base_url or f"http://127.0.0.1:{args.port}").rstrip("/")
    app = build_app(
        args.database_url,
        args.secret,
        base_url,
        args.trusted_origin,
        secure_cookies=True if args.secure_cookies else None,
        jwt_plugin=not args.no_jwt_plugin,
        admin_plugin=args.admin_plugin,
        organization_plugin=args.organization_plugin,
        cookie_cache=args.cookie_cache,
        api_key_plugin=args.api_key_plugin,
    )

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    import uvicorn

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    asyncio.run(server.serve())
    # uvicorn returns normally when the lifespan startup (schema creation) failed.
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
