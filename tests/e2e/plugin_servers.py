"""A Better Auth server with plugins (admin, organization), on a database of its own: the
plugins' columns and tables exist only in tables the server creates, so it cannot share the
suite's database. Used by test_admin_plugin.py and test_organization_plugin.py."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg

from conftest import AuthServer, free_port


@contextlib.contextmanager
def plugin_database(postgres, prefix: str) -> Iterator[str]:
    """A fresh database in the suite's PostgreSQL cluster; its DSN. Dropped afterwards."""
    name = f"{prefix}_" + secrets.token_hex(6)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def plugin_auth_server(dsn: str, workdir: Path, *flags: str) -> Iterator[AuthServer]:
    """auth_server.py on `dsn` with `flags` (e.g. "--admin-plugin"), started and stopped."""
    server = AuthServer(
        free_port(), "e2e-plugin-secret-" + secrets.token_hex(16), dsn, ["http://127.0.0.1:*"], workdir
    )
    server.extra_args = list(flags)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sql(dsn: str, query: str, *params) -> list[tuple]:
    """One statement in its own autocommitted connection; the rows (if any)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


def plugin_gateway_config(server: AuthServer, dsn: str, resolver: str, **auth: object) -> dict:
    """Better Auth only, against `server`, with `resolver` and the `auth` settings given."""
    return {
        "auth": {
            "enable_dual_auth": False,
            "prefer_better_auth": True,
            "auth_server_url": server.url,
            "better_auth_secret": server.secret,
            "database_url": dsn,
            "session_resolver": resolver,
            "auth_server_timeout_ms": 10000,
            **auth,
        },
        "routes": [{"path": "/api/public/", "access": "public"}],
        "rate_limits": {"ip_burst": 10000, "user_burst": 10000},
        "audit": {"enabled": False},
    }
