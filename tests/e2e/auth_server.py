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
- with ``--secondary-storage redis://127.0.0.1:P/0``: Better Auth's ``secondaryStorage`` on that
  Redis (``RedisSecondaryStorage``), sessions kept there and not in the ``session`` table
  (``storeSessionInDatabase`` false, Better Auth's default with a secondary storage);
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


class RedisSecondaryStorage:
    """Better Auth's ``SecondaryStorage`` on Redis (``redis.asyncio``): string keys and values,
    ``ttl`` in seconds, plus the atomic ``get_and_delete`` and ``increment`` it prefers."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(url, decode_responses=True)

    async def get(self, key: str) -> str | None:
        return await self.client.get(key)

    async def set(self, key: str, value: str, ttl: int | None = None) -> None:
        if ttl is not None and ttl > 0:
            await self.client.set(key, value, ex=ttl)
        else:
            await self.client.set(key, value)

    async def delete(self, key: str) -> None:
        await self.client.delete(key)

    async def get_and_delete(self, key: str) -> str | None:
        return await self.client.getdel(key)

    async def increment(self, key: str, ttl: int | None = None) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            if ttl is not None and ttl > 0:
                pipe.expire(key, ttl, nx=True)
            results = await pipe.execute()
        return int(results[0])


def sessions_in_secondary_storage(engine, storage):
    """The SQLAlchemy adapter with the ``session`` model kept in ``storage`` only.

    The port's session routes (sign-in, get-session, sign-out, update) read and write the
    ``session`` model through the adapter; Better Auth (TS) routes them to the secondary
    storage when there is one and ``storeSessionInDatabase`` is false. This adapter does that
    with the port's own secondary-storage session code (``InternalAdapter.find_session`` etc.,
    the TS wire format: key = token, ``{"session","user"}``, ``active-sessions-<userId>``), so
    the ``session`` table gets no row. Other models go to PostgreSQL."""
    from better_auth.adapters.sqlalchemy import SQLAlchemyAdapter
    from better_auth.internal_adapter import InternalAdapter

    class SessionsInSecondaryStorage(SQLAlchemyAdapter):
        def __init__(self) -> None:
            super().__init__(engine)
            # store_session_in_database=False: its session paths never touch the table.
            self.kv = InternalAdapter(self, secondary_storage=storage)

        async def _sessions(self, where) -> list[dict]:
            """The stored sessions matching `where` (eq / ne / in on token, userId, id)."""
            where = list(where or [])
            candidates: list[dict] = []
            token = next((w.value for w in where if w.field == "token" and w.operator == "eq"), None)
            tokens = next((w.value for w in where if w.field == "token" and w.operator == "in"), None)
            user_id = next((w.value for w in where if w.field == "userId" and w.operator == "eq"), None)
            if token is not None:
                found = await self.kv.find_session(token)
                candidates = [found["session"]] if found else []
            elif tokens is not None:
                for one in tokens:
                    found = await self.kv.find_session(one)
                    if found:
                        candidates.append(found["session"])
            elif user_id is not None:
                candidates = await self.kv.list_sessions(user_id)

            def matches(session: dict, clause) -> bool:
                value = session.get(clause.field)
                if clause.operator == "eq":
                    return value == clause.value
                if clause.operator == "ne":
                    return value != clause.value
                if clause.operator == "in":
                    return value in clause.value
                if clause.operator == "not_in":
                    return value not in clause.value
                raise NotImplementedError(f"session where {clause.field} {clause.operator}")

            return [session for session in candidates if all(matches(session, w) for w in where)]

        async def create(self, model, data, select=None, force_allow_id=False):
            if model != "session":
                return await super().create(model, data, select=select, force_allow_id=force_allow_id)
            await self.kv._store_session_kv(data["userId"], data, data)
            return dict(data)

        async def find_one(self, model, where, *args, **kwargs):
            if model != "session":
                return await super().find_one(model, where, *args, **kwargs)
            sessions = await self._sessions(where)
            return sessions[0] if sessions else None

        async def find_many(self, model, where=None, *args, **kwargs):
            if model != "session":
                return await super().find_many(model, where, *args, **kwargs)
            return await self._sessions(where)

        async def update(self, model, where, data, *args, **kwargs):
            if model != "session":
                return await super().update(model, where, data, *args, **kwargs)
            sessions = await self._sessions(where)
            return await self.kv._update_session_kv(sessions[0]["token"], data) if sessions else None

        async def update_many(self, model, where, data):
            if model != "session":
                return await super().update_many(model, where, data)
            sessions = await self._sessions(where)
            for session in sessions:
                await self.kv._update_session_kv(session["token"], data)
            return len(sessions)

        async def delete(self, model, where):
            if model != "session":
                return await super().delete(model, where)
            await self.delete_many(model, where)

        async def delete_many(self, model, where):
            if model != "session":
                return await super().delete_many(model, where)
            sessions = await self._sessions(where)
            for session in sessions:
                await self.kv.delete_session(session["token"])
            return len(sessions)

        async def count(self, model, where=None):
            if model != "session":
                return await super().count(model, where)
            return len(await self._sessions(where))

    return SessionsInSecondaryStorage()


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
    secondary_storage: str | None = None,
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
    storage = RedisSecondaryStorage(secondary_storage) if secondary_storage else None
    adapter = sessions_in_secondary_storage(engine, storage) if storage else SQLAlchemyAdapter(engine)
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
        # Sessions in Redis only: the session table gets no row.
        secondary_storage=storage,
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
    parser.add_argument(
        "--secondary-storage",
        metavar="REDIS_URL",
        help="Better Auth's secondaryStorage on this Redis (redis://127.0.0.1:P/0): sessions live "
        "there, not in the session table",
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
        secondary_storage=args.secondary_storage,
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
