"""``authgate db migrate`` and ``authgate users migrate`` against a real PostgreSQL.

Every test gets a database of its own in the session's cluster (``postgres`` fixture), so the
tables other tests (and the shared auth server) create never meet these.

The user migration is proven end to end: legacy users whose ``password_hash`` is in Better
Auth's own scrypt format (computed with better-auth-server's ``hash_password``, as if the legacy
backend had used the same scheme) sign in through the real better-auth-server after the
migration. better-auth-server 1.1.0 names its tables after its models (``user``, ``session``,
…) and has no ``modelName`` option, so the test runs it with a small adapter subclass that maps
the models onto this deployment's tables (``better_auth_users``, ``better_auth_sessions``, …),
which is what TypeScript Better Auth's ``modelName`` does.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import requests
import yaml
from conftest import (
    E2E_DIR,
    REPO_ROOT,
    _live_processes,
    authgate_binary,
    free_port,
    terminate,
    wait_until,
)

SQL_DIR = REPO_ROOT / "deploy" / "sql"
MIGRATION_FILES = [
    "001_better_auth_compat.sql",
    "002_auth_audit_log.sql",
    "003_users_migration_status.sql",
    "004_lockout_failures.sql",
]
CREATED_TABLES = [
    "better_auth_users",
    "better_auth_sessions",
    "better_auth_accounts",
    "better_auth_verification_tokens",
    "jwks",
    "auth_audit_log",
    "authgate_lockout_failures",
    "authgate_schema_migrations",
]
CREATED_INDEXES = [
    "better_auth_sessions_user_id_idx",
    "better_auth_sessions_expires_at_idx",
    "better_auth_accounts_user_id_idx",
    "better_auth_verification_tokens_identifier_idx",
    "auth_audit_log_created_at_idx",
    "auth_audit_log_user_id_idx",
    "users_migration_status_id_idx",
    "users_last_auth_method_idx",
    "authgate_lockout_failures_window_ends_at_idx",
]
LEGACY_USERS_DDL = (
    "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, name text, password_hash text)"
)
DB_PASSWORD = "n0t-a-real-pa55word"


# --- fixtures -----------------------------------------------------------------------------


class Database:
    """A fresh database ``name`` in the session's cluster."""

    def __init__(self, postgres, name: str) -> None:
        self.postgres = postgres
        self.name = name
        self.dsn = f"postgres://postgres@127.0.0.1:{postgres.port}/{name}"

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    def scalar(self, query: str, *params):
        return self.sql(query, *params)[0][0]

    def tables(self) -> set[str]:
        rows = self.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}

    def indexes(self) -> set[str]:
        return {r[0] for r in self.sql("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}

    def status_counts(self) -> dict[str, int]:
        rows = self.sql("SELECT migration_status, COUNT(*) FROM users GROUP BY migration_status")
        return {status: count for status, count in rows}

    def better_auth_counts(self) -> tuple[int, int]:
        """(Better Auth users, credential accounts) in the migration's tables."""
        users = self.scalar("SELECT count(*) FROM better_auth_users")
        accounts = self.scalar(
            "SELECT count(*) FROM better_auth_accounts WHERE \"providerId\" = 'credential'"
        )
        return users, accounts

    def snapshot(self) -> dict:
        """Everything a failed run must leave alone."""
        tables = self.tables()
        state: dict = {"tables": tables, "indexes": self.indexes()}
        for table in sorted(tables):
            state[table] = sorted(map(repr, self.sql(f'SELECT * FROM "{table}"')))
        return state


@pytest.fixture
def database(postgres):
    name = "mig_" + secrets.token_hex(6)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield Database(postgres, name)
    with psycopg.connect(postgres.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def authgate(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the gateway binary with ``args``; no DATABASE_URL or AUTHGATE_* from outside."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUTHGATE_") and not k.startswith("DATABASE_URL")
    }
    clean.update(env or {})
    return subprocess.run(
        [str(authgate_binary()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean,
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def failed(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Asserts exit 1 with a one-line error naming ``fragments``; returns the line."""
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"not one line: {result.stderr!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def password_of(user_id: int) -> str:
    return f"legacy-password-{user_id}"


def seed_legacy_users(db: Database, count: int) -> dict[int, str]:
    """``users`` with ``count`` users whose hashes Better Auth verifies; their hashes by id."""
    from better_auth.crypto import hash_password

    db.sql(LEGACY_USERS_DDL)
    hashes = {i: hash_password(password_of(i)) for i in range(1, count + 1)}
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (id, email, name, password_hash) VALUES (%s, %s, %s, %s)",
                [(i, f"User{i}@Example.com", f"User {i}", h) for i, h in hashes.items()],
            )
    return hashes


RENAMED_AUTH_SERVER = '''
"""better-auth-server on the tables `authgate db migrate` creates."""
import argparse, asyncio, sys

TABLES = {
    "user": "better_auth_users",
    "session": "better_auth_sessions",
    "account": "better_auth_accounts",
    "verification": "better_auth_verification_tokens",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--e2e-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.e2e_dir)

    from auth_server import sqlalchemy_url
    from better_auth import BetterAuth, EmailAndPassword, RateLimit
    from better_auth.adapters.sqlalchemy import SQLAlchemyAdapter
    from better_auth.config import AdvancedDatabase
    from better_auth.integrations.fastapi import BetterAuthFastAPI
    from fastapi import FastAPI
    from sqlalchemy import MetaData
    from sqlalchemy.ext.asyncio import create_async_engine
    import uvicorn

    class RenamedTablesAdapter(SQLAlchemyAdapter):
        """Maps the models onto this deployment's table names (TS Better Auth's modelName)."""

        def init(self, schema):
            super().init(schema)
            renamed = MetaData()
            for model, name in TABLES.items():
                if model in self._tables and self._tables[model].name != name:
                    self._tables[model] = self._tables[model].to_metadata(renamed, name=name)

    engine = create_async_engine(sqlalchemy_url(args.database_url), pool_pre_ping=True)
    # Its schema check looks for tables named after the models; the migration owns the schema.
    adapter = RenamedTablesAdapter(engine, advanced=AdvancedDatabase(validate_schema=False))
    base_url = f"http://127.0.0.1:{args.port}"
    auth = BetterAuth(
        secret=args.secret,
        base_url=base_url,
        adapter=adapter,
        email_and_password=EmailAndPassword(enabled=True),
        rate_limit=RateLimit(enabled=False),
        trusted_origins=[base_url],
    )
    app = FastAPI()
    app.include_router(BetterAuthFastAPI(auth).router)

    @app.get("/__health")
    async def health() -> dict:
        return {"ok": True}

    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
'''


@pytest.fixture
def renamed_auth_server(tmp_path):
    """Factory: ``start(database) -> base URL`` of a better-auth-server on the migration's
    tables; stopped at teardown."""
    procs: list[subprocess.Popen] = []

    def start(db: Database) -> str:
        script = tmp_path / "renamed_auth_server.py"
        script.write_text(RENAMED_AUTH_SERVER)
        port = free_port()
        logfile = tmp_path / "renamed_auth_server.log"
        log = open(logfile, "ab")
        cmd = [
            sys.executable, str(script), "--e2e-dir", str(E2E_DIR), "--port", str(port),
            "--database-url", db.dsn, "--secret", "e2e-migration-secret-" + secrets.token_hex(16),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        procs.append(proc)
        _live_processes.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: requests.get(f"{url}/__health", timeout=2).status_code == 200,
            90,
            "renamed auth server",
            proc=proc,
            log=lambda: logfile.read_text(errors="replace"),
        )
        return url

    yield start
    for proc in procs:
        terminate(proc)


def sign_in(url: str, email: str, password: str) -> requests.Response:
    return requests.post(
        f"{url}/api/auth/sign-in/email",
        json={"email": email, "password": password},
        headers={"Origin": url},
        timeout=30,
    )


# --- db migrate ---------------------------------------------------------------------------


def test_db_migrate_twice_applies_once(database):
    database.sql(LEGACY_USERS_DDL)
    database.sql("INSERT INTO users (id, email) VALUES (1, 'a@example.com')")

    first = ok(authgate("db", "migrate", "--database-url", database.dsn))
    for name in MIGRATION_FILES:
        assert f"applied {name}" in first.stdout
    assert database.tables() >= set(CREATED_TABLES) | {"users"}
    assert database.indexes() >= set(CREATED_INDEXES)
    columns = {
        r[0]: r[1:]
        for r in database.sql(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_name = 'users'"
        )
    }
    assert columns["migration_status"][:2] == ("text", "NO")
    assert "pending" in columns["migration_status"][2]
    assert columns["last_auth_method"][:2] == ("text", "YES")
    assert database.status_counts() == {"pending": 1}
    # Better Auth's own column names, quoted camelCase.
    account_columns = {
        r[0]
        for r in database.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'better_auth_accounts'"
        )
    }
    assert {"accountId", "providerId", "userId", "password", "accessTokenExpiresAt"} <= account_columns

    recorded = database.sql(
        "SELECT version, name, checksum, applied_at FROM authgate_schema_migrations ORDER BY version"
    )
    expected = [
        (i + 1, name[4:-4], hashlib.sha256((SQL_DIR / name).read_bytes()).hexdigest())
        for i, name in enumerate(MIGRATION_FILES)
    ]
    assert [r[:3] for r in recorded] == expected

    before = database.snapshot()
    second = ok(authgate("db", "migrate", "--database-url", database.dsn))
    assert "nothing to apply" in second.stdout, second.stdout
    assert "applied 0" not in second.stdout
    assert database.snapshot() == before  # applied_at included: nothing was re-recorded


def test_db_migrate_dry_run_prints_sql_and_changes_nothing(database):
    database.sql(LEGACY_USERS_DDL)
    before = database.snapshot()
    result = ok(authgate("db", "migrate", "--dry-run", "--database-url", database.dsn))
    for name in MIGRATION_FILES:
        assert name in result.stdout
        assert (SQL_DIR / name).read_text() in result.stdout
    assert database.snapshot() == before

    ok(authgate("db", "migrate", "--database-url", database.dsn))
    again = ok(authgate("db", "migrate", "--dry-run", "--database-url", database.dsn))
    assert "up to date" in again.stdout
    assert "CREATE TABLE" not in again.stdout


def test_db_migrate_without_users_table_changes_nothing(database):
    before = database.snapshot()
    line = failed(authgate("db", "migrate", "--database-url", database.dsn), '"users" does not exist')
    assert "003_users_migration_status.sql" in line
    assert database.snapshot() == before
    assert database.tables() == set()


def test_db_migrate_refuses_a_changed_migration(database):
    database.sql(LEGACY_USERS_DDL)
    ok(authgate("db", "migrate", "--database-url", database.dsn))
    database.sql("UPDATE authgate_schema_migrations SET checksum = 'edited' WHERE version = 2")
    failed(authgate("db", "migrate", "--database-url", database.dsn), "migration 2", "checksum")
    failed(authgate("db", "migrate", "--dry-run", "--database-url", database.dsn), "checksum")


def test_db_migrate_reads_the_config_and_the_environment(database, tmp_path):
    database.sql(LEGACY_USERS_DDL)
    config = tmp_path / "gateway.conf"
    config.write_text(yaml.safe_dump({"auth": {"database_url": database.dsn}}))
    ok(authgate("db", "migrate", "--config", str(config)))
    assert "authgate_schema_migrations" in database.tables()
    env_run = ok(authgate("db", "migrate", env={"DATABASE_URL": database.dsn}))
    assert "nothing to apply" in env_run.stdout


def test_db_migrate_without_a_database_says_so(postgres):
    failed(authgate("db", "migrate"), "no database")
    failed(authgate("db", "migrate", "--database-url", "mysql://x@y/z"), "--database-url is not a postgres")
    port = free_port()
    url = f"postgres://authgate:{DB_PASSWORD}@127.0.0.1:{port}/authgate"
    result = authgate("db", "migrate", "--database-url", url)
    line = failed(result, "cannot connect to", f"127.0.0.1:{port}")
    assert DB_PASSWORD not in result.stdout + result.stderr, line
    users = authgate("users", "migrate", "--all", "--database-url", url)
    failed(users, "cannot connect to")
    assert DB_PASSWORD not in users.stdout + users.stderr


# --- users migrate ------------------------------------------------------------------------


def test_users_migrate_dry_run_crash_resume_rollback(database, renamed_auth_server):
    hashes = seed_legacy_users(database, 25)
    ok(authgate("db", "migrate", "--database-url", database.dsn))
    assert database.status_counts() == {"pending": 25}
    url = ["--database-url", database.dsn]

    # Dry run: counts and ids, nothing changed.
    before = database.snapshot()
    dry = ok(authgate("users", "migrate", "--dry-run", "--all", "--batch-size", "10", *url))
    assert "25 users are pending" in dry.stdout and "3 batch(es) of at most 10" in dry.stdout
    assert "first ids: 1, 2, 3" in dry.stdout
    assert database.snapshot() == before

    # A crash right after the first committed batch.
    crashed = authgate(
        "users", "migrate", "--all", "--batch-size", "10", *url, env={"AUTHGATE_TEST_CRASH_AFTER_BATCHES": "1"}
    )
    assert crashed.returncode == 70, crashed.stdout + crashed.stderr
    assert database.status_counts() == {"migrated": 10, "pending": 15}
    assert database.better_auth_counts() == (10, 10)
    migrated = [r[0] for r in database.sql("SELECT id FROM users WHERE migration_status = 'migrated' ORDER BY id")]
    assert migrated == list(range(1, 11))

    # Resume: the other 15, in two batches.
    resumed = ok(authgate("users", "migrate", "--all", "--batch-size", "10", *url))
    assert "batch 1: 10 users migrated (10/15)" in resumed.stdout, resumed.stdout
    assert "batch 2: 5 users migrated (15/15)" in resumed.stdout
    assert "migrated 15 users in 2 batch(es)" in resumed.stdout
    assert " migrated         |    25" in resumed.stdout  # the GROUP BY summary
    assert database.status_counts() == {"migrated": 25}
    assert database.better_auth_counts() == (25, 25)
    rows = database.sql(
        'SELECT u.id, u.email, u.name, a.id, a."accountId", a."providerId", a.password '
        'FROM better_auth_users u JOIN better_auth_accounts a ON a."userId" = u.id ORDER BY u.id::int'
    )
    assert rows == [
        (str(i), f"user{i}@example.com", f"User {i}", f"legacy-{i}", str(i), "credential", hashes[i])
        for i in range(1, 26)
    ]

    # Idempotent: a third run changes nothing.
    before = database.snapshot()
    third = ok(authgate("users", "migrate", "--all", "--batch-size", "10", *url))
    assert "migrated 0 users in 0 batch(es)" in third.stdout
    assert database.snapshot() == before

    # The old password works through the real auth server; a wrong one does not.
    auth_url = renamed_auth_server(database)
    response = sign_in(auth_url, "User7@Example.com", password_of(7))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == "7"
    assert sign_in(auth_url, "user8@example.com", "not-the-password").status_code == 401
    assert database.scalar("SELECT count(*) FROM better_auth_sessions WHERE \"userId\" = '7'") == 1
    # A user who signed up on Better Auth alone is not the migration's to undo.
    signed_up = requests.post(
        f"{auth_url}/api/auth/sign-up/email",
        json={"email": "new@example.com", "password": "a-new-password", "name": "New"},
        headers={"Origin": auth_url},
        timeout=30,
    )
    assert signed_up.status_code == 200, signed_up.text

    # Rollback: exactly what the migration created is gone.
    back = ok(authgate("users", "migrate", "--rollback", "--all", "--batch-size", "10", *url))
    assert "rolled back 25 users in 3 batch(es)" in back.stdout, back.stdout
    assert database.status_counts() == {"pending": 25}
    assert database.better_auth_counts() == (1, 1)
    assert database.scalar("SELECT email FROM better_auth_users") == "new@example.com"
    assert database.scalar("SELECT count(*) FROM better_auth_accounts WHERE id LIKE 'legacy-%'") == 0
    assert database.scalar("SELECT count(*) FROM better_auth_sessions WHERE \"userId\" = '7'") == 0
    assert sign_in(auth_url, "user7@example.com", password_of(7)).status_code == 401
    again = ok(authgate("users", "migrate", "--rollback", "--all", *url))
    assert "rolled back 0 users" in again.stdout

    # And forward again, in one batch.
    ok(authgate("users", "migrate", "--all", *url))
    assert database.status_counts() == {"migrated": 25}
    assert database.better_auth_counts() == (26, 26)


def test_users_migrate_half_migrated_user_changes_nothing(database):
    seed_legacy_users(database, 5)
    ok(authgate("db", "migrate", "--database-url", database.dsn))
    database.sql(
        "INSERT INTO better_auth_users (id, name, email) VALUES ('3', 'Someone', 'someone@example.com')"
    )
    before = database.snapshot()
    failed(
        authgate("users", "migrate", "--all", "--batch-size", "2", "--database-url", database.dsn),
        "legacy user 3 is half-migrated",
        "nothing was changed",
    )
    assert database.snapshot() == before
    assert database.status_counts() == {"pending": 5}

    # An email a Better Auth user already owns is refused the same way.
    database.sql("UPDATE better_auth_users SET id = 'ba-1', email = 'user4@example.com'")
    before = database.snapshot()
    failed(
        authgate("users", "migrate", "--batch-size", "10", "--database-url", database.dsn),
        "email User4@Example.com already belongs to Better Auth user ba-1",
    )
    assert database.snapshot() == before


def test_users_migrate_bad_input(database):
    failed(authgate("users", "migrate", "--all"), "no database")
    failed(
        authgate("users", "migrate", "--database-url", database.dsn),
        "say how many users: --batch-size N moves one batch of N",
    )
    failed(
        authgate("users", "migrate", "--all", "--database-url", database.dsn),
        'the legacy table "users" does not exist',
    )
    database.sql(LEGACY_USERS_DDL)
    failed(
        authgate("users", "migrate", "--batch-size", "5", "--database-url", database.dsn),
        '"migration_status"',
        "authgate db migrate",
    )
    failed(authgate("users", "migrate", "--batch-size", "0", "--database-url", database.dsn), "batch-size")
    assert database.tables() == {"users"}


def _status_table_row(stdout: str, status: str) -> int:
    """The count of ``status`` in the GROUP BY table the command ends with."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 2 and cells[0] == status and cells[1].isdigit():
            return int(cells[1])
    raise AssertionError(f"no row {status!r} in:\n{stdout}")


def test_users_migrate_canary_then_steps_as_the_rollout_guide_types_them(database):
    """The guide: a 10-user canary (`--batch-size=10`) leaves 990 of 1000 pending, then one
    step of 100 per run with monitoring between, `--all` for the rest, and the rollback the
    same way; soft-deleted users are never migrated and the dry run counts them."""
    database.sql(LEGACY_USERS_DDL)
    database.sql("ALTER TABLE users ADD COLUMN deleted_at timestamptz")
    database.sql(
        "INSERT INTO users (id, email, name, password_hash) "
        "SELECT i, 'user' || i || '@example.com', 'User ' || i, 'salt:key' FROM generate_series(1, 1000) i"
    )
    ok(authgate("db", "migrate", "--database-url", database.dsn))
    url = ["--database-url", database.dsn]

    dry = ok(authgate("users", "migrate", "--dry-run", "--batch-size=10", *url))
    assert "1000 users are pending; a run would migrate 10 of them in 1 batch of at most 10" in dry.stdout, dry.stdout
    assert database.status_counts() == {"pending": 1000}

    canary = ok(authgate("users", "migrate", "--batch-size=10", *url))
    assert database.status_counts() == {"pending": 990, "migrated": 10}
    assert "migrated 10 users in 1 batch(es)" in canary.stdout, canary.stdout
    assert _status_table_row(canary.stdout, "pending") == 990
    assert _status_table_row(canary.stdout, "migrated") == 10
    assert "`authgate users migrate --batch-size 10` (990 users still pending)" in canary.stdout, canary.stdout
    assert "locked by other transactions" not in canary.stdout

    step = ok(authgate("users", "migrate", "--batch-size=100", *url))
    assert database.status_counts() == {"pending": 890, "migrated": 110}
    assert _status_table_row(step.stdout, "migrated") == 110
    assert "(890 users still pending)" in step.stdout

    # Users soft-deleted meanwhile are skipped by every later run, and counted.
    database.sql("UPDATE users SET deleted_at = now() WHERE id IN (500, 501, 502)")
    dry = ok(authgate("users", "migrate", "--dry-run", "--all", "--batch-size", "500", *url))
    assert "887 users are pending; a run with --all would migrate them in 2 batch(es) of at most 500" in dry.stdout, (
        dry.stdout
    )
    assert "soft-deleted users (never migrated): 3 pending, 3 in all" in dry.stdout, dry.stdout
    rest = ok(authgate("users", "migrate", "--all", "--batch-size", "500", *url))
    assert database.status_counts() == {"pending": 3, "migrated": 997}
    assert database.sql("SELECT id FROM users WHERE migration_status = 'pending' ORDER BY id") == [(500,), (501,), (502,)]
    assert database.scalar("SELECT count(*) FROM better_auth_users WHERE id IN ('500', '501', '502')") == 0
    assert "every user is migrated" in rest.stdout, rest.stdout

    # Rollback, one batch of N per run, then --all.
    back = ok(authgate("users", "migrate", "--rollback", "--batch-size", "7", *url))
    assert "rolled back 7 users in 1 batch(es)" in back.stdout, back.stdout
    assert database.status_counts() == {"pending": 10, "migrated": 990}
    assert "(990 users still migrated)" in back.stdout
    ok(authgate("users", "migrate", "--rollback", "--all", *url))
    assert database.status_counts() == {"pending": 1000}
    assert database.scalar("SELECT count(*) FROM better_auth_users") == 0
