"""Fixtures of the end-to-end suite: real PostgreSQL, real Better Auth server, echo backend,
and the gateway binary, all on loopback.

- ``postgres``   (session): a throw-away PostgreSQL cluster (trust auth on 127.0.0.1).
- ``auth_server`` (session): ``auth_server.py`` (better-auth-server + FastAPI + SQLAlchemy on
  ``postgres``, JWT + bearer plugins) with request counters.
- ``legacy_secret`` (session): the legacy backend's HS256 secret.
- ``backend``    (session): ``backend.py``, the echo "legacy backend".
- ``authgate``   (function): factory ``authgate(config) -> Gateway`` running ``$AUTHGATE_BIN``.
- ``gateway_auth_config`` (function): the ``auth``/``cache`` config sections wired to the
  components above, to merge into an ``authgate(...)`` config.

Nothing is skipped: a missing binary or tool fails the test with what to do.
"""

from __future__ import annotations

import atexit
import copy
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
import requests
import yaml

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
DEFAULT_AUTHGATE_BIN = ".build/debug/authgate"
DB_NAME = "authgate_test"

# Loopback only: never let a proxy from the environment see the test traffic.
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var), "127.0.0.1", "localhost"]))

#: Environment variables that override gateway.conf; removed from the gateway's environment
#: so that the written config is what runs (pass ``env=`` to ``authgate`` to set them).
GATEWAY_ENV_OVERRIDES = (
    "ENABLE_DUAL_AUTH",
    "PREFER_BETTER_AUTH",
    "AUTH_SERVER_URL",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_SECRETS",
    "BETTER_AUTH_JWT_SECRET",
    "DATABASE_URL",
    "LEGACY_JWT_SECRET",
    "BETTER_AUTH_ROLLOUT_PERCENT",
)

_live_processes: list[subprocess.Popen] = []
_cleanups: list[Callable[[], None]] = []


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if pytest dies before fixture teardown: end only what we started."""
    for proc in _live_processes:
        if proc.poll() is None:
            proc.kill()
    for cleanup in reversed(_cleanups):
        try:
            cleanup()
        except Exception:
            pass


# --- small utilities ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return list(ports)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    log: Callable[[], str] | None = None,
    interval: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            tail = log()[-4000:] if log else ""
            pytest.fail(f"{what}: process exited with {proc.returncode} while starting\n{tail}")
        try:
            if predicate():
                return
        except (requests.RequestException, OSError, psycopg.Error):
            pass
        if time.monotonic() > deadline:
            tail = log()[-4000:] if log else ""
            pytest.fail(f"{what}: not ready after {timeout:.0f} s\n{tail}")
        time.sleep(interval)


def terminate(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc in _live_processes:
        _live_processes.remove(proc)
    return proc.returncode


def deep_merge(base: dict, override: dict | None) -> dict:
    """``override`` over ``base``: dicts merge key by key, anything else replaces, and a
    ``None`` value removes the key."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_bindir() -> Path:
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    candidates.append(Path("/usr/lib/postgresql/15/bin"))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/install-test-deps.sh "
        "(Debian package postgresql-15) or set PG_BINDIR"
    )


class Postgres:
    """A private cluster on 127.0.0.1:``port`` with database ``authgate_test``."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.logfile = root / "postgres.log"
        self.port = port
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.dbname = DB_NAME
        self.dsn = f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"
        self.admin_dsn = f"postgres://postgres@127.0.0.1:{port}/postgres"
        self._as_postgres = os.geteuid() == 0  # the server refuses to run as root

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stdout}{result.stderr}"
                f"\n{_read(self.logfile)[-3000:]}"
            )
        return result

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        wait_until(lambda: self._can_connect(), 30, "postgres", log=lambda: _read(self.logfile))

    def _can_connect(self) -> bool:
        with psycopg.connect(self.admin_dsn, connect_timeout=2):
            return True

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    @property
    def running(self) -> bool:
        try:
            return self._can_connect()
        except psycopg.Error:
            return False

    def create_database(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def sql(self, query: str, *params: Any) -> list[tuple]:
        """Run one statement in its own autocommitted connection; the rows (if any)."""
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    @property
    def log(self) -> str:
        return _read(self.logfile)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    yield from _cluster(Postgres, "authgate-e2e-pg-")


def _cluster(kind: type, prefix: str):
    """A cluster of `kind` in a fresh directory, initialised, started and with the test
    database; destroyed afterwards (also at exit if the run is interrupted)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    pg = kind(_pg_bindir(), root, free_port())
    _cleanups.append(pg.destroy)
    try:
        pg.init()
        pg.start()
        pg.create_database()
        yield pg
    finally:
        pg.destroy()
        _cleanups.remove(pg.destroy)


class PasswordPostgres(Postgres):
    """A private cluster whose role ``role`` logs in over TCP with a SCRAM password (every
    other role, the harness's ``postgres`` included, keeps trust). ``role_dsn`` is the URL the
    gateway gets, the password percent-encoded; ``password`` is the plain one."""

    role = "authgate_gw"

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        super().__init__(bindir, root, port)
        # Characters that URL-encoding changes, so that both spellings can be looked for.
        self.password = "Pg+Pw/" + secrets.token_hex(12) + "=:@"
        from urllib.parse import quote

        self.role_dsn = f"postgres://{self.role}:{quote(self.password, safe='')}@127.0.0.1:{port}/{DB_NAME}"

    def init(self) -> None:
        super().init()
        hba = self.data / "pg_hba.conf"
        rule = f"host all {self.role} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())

    def create_database(self) -> None:
        super().create_database()
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            literal = self.password.replace("'", "''")
            conn.execute(f"CREATE ROLE {self.role} LOGIN SUPERUSER PASSWORD '{literal}'")

    def set_login(self, allowed: bool) -> None:
        """``ALTER ROLE … [NO]LOGIN``: lets the gateway's connections in or keeps them out
        while PostgreSQL serves everyone else."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {self.role} {'LOGIN' if allowed else 'NOLOGIN'}")


@pytest.fixture
def password_postgres():
    """A function-scoped :class:`PasswordPostgres` of its own: for tests that restart
    PostgreSQL or need a real password, without disturbing the session's cluster."""
    yield from _cluster(PasswordPostgres, "authgate-e2e-pgpw-")


def start_private_auth_server(postgres: Postgres, workdir: Path, secret: str | None = None) -> "AuthServer":
    """An ``auth_server.py`` of its own on ``postgres`` (stop it when done)."""
    trusted = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    server = AuthServer(
        free_port(), secret or "e2e-private-auth-secret-" + secrets.token_hex(16), postgres.dsn, trusted, workdir
    )
    server.start()
    return server


# --- Better Auth server -------------------------------------------------------------------


class AuthServer:
    """``auth_server.py`` on 127.0.0.1:``port``."""

    def __init__(
        self, port: int, secret: str, database_url: str, trusted_origins: list[str], workdir: Path
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.origin = self.url
        self.secret = secret
        self.database_url = database_url
        self.trusted_origins = trusted_origins
        self.logfile = workdir / "auth_server.log"
        self.proc: subprocess.Popen | None = None
        #: more arguments of auth_server.py, e.g. ["--no-jwt-plugin"]
        self.extra_args: list[str] = []

    def start(self, timeout: float = 90) -> None:
        if self.running:
            return
        cmd = [
            sys.executable, str(E2E_DIR / "auth_server.py"), "--port", str(self.port),
            "--database-url", self.database_url, "--secret", self.secret,
            "--base-url", self.url,
        ]  # fmt: skip
        for origin in self.trusted_origins:
            cmd += ["--trusted-origin", origin]
        cmd += self.extra_args
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=E2E_DIR
        )
        log.close()
        _live_processes.append(self.proc)
        wait_until(
            lambda: requests.get(f"{self.url}/api/auth/ok", timeout=2).status_code == 200,
            timeout,
            "auth server",
            proc=self.proc,
            log=lambda: self.log,
        )
        self.reset_stats()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stats(self) -> dict[str, int]:
        """Requests per path since the last reset, e.g. ``{"/api/auth/get-session": 3}``."""
        response = requests.get(f"{self.url}/__stats", timeout=5)
        response.raise_for_status()
        return response.json()

    def count(self, path: str = "/api/auth/get-session") -> int:
        return self.stats().get(path, 0)

    def reset_stats(self) -> None:
        requests.post(f"{self.url}/__stats/reset", timeout=5).raise_for_status()

    @property
    def log(self) -> str:
        return _read(self.logfile)


@pytest.fixture(scope="session")
def auth_server(postgres, tmp_path_factory):
    secret = "e2e-better-auth-secret-" + secrets.token_hex(16)
    # Gateways get fresh ports per test, so every loopback origin is trusted (Better Auth
    # matches "*" in trusted origins); tests of an untrusted origin use another host.
    trusted = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    server = AuthServer(
        free_port(), secret, postgres.dsn, trusted, tmp_path_factory.mktemp("auth_server")
    )
    server.start()
    yield server
    server.stop()


# --- echo backend -------------------------------------------------------------------------


class Backend:
    def __init__(self, port: int, legacy_secret: str, workdir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.legacy_secret = legacy_secret
        self.logfile = workdir / "backend.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if self.running:
            return
        cmd = [
            sys.executable, str(E2E_DIR / "backend.py"), "--port", str(self.port),
            "--legacy-secret", self.legacy_secret,
        ]  # fmt: skip
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=E2E_DIR
        )
        log.close()
        _live_processes.append(self.proc)
        wait_until(
            lambda: requests.get(f"{self.url}/__requests", timeout=2).status_code == 200,
            30,
            "backend",
            proc=self.proc,
            log=lambda: _read(self.logfile),
        )

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def requests(self) -> list[dict]:
        """Requests the backend received since the last reset, oldest first."""
        response = requests.get(f"{self.url}/__requests", timeout=5)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        requests.post(f"{self.url}/__requests/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="session")
def legacy_secret() -> str:
    return "e2e-legacy-jwt-secret-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def backend(legacy_secret, tmp_path_factory):
    server = Backend(free_port(), legacy_secret, tmp_path_factory.mktemp("backend"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _restart_stopped_components(request):
    """A test may stop PostgreSQL, the auth server or the backend (outage tests); whatever
    it left stopped is started again afterwards, so later tests find them up."""
    yield
    for name in ("postgres", "auth_server", "backend"):
        if name not in request.fixturenames:
            continue
        component = request.getfixturevalue(name)
        if not component.running:
            component.start()


# --- the gateway --------------------------------------------------------------------------


def authgate_binary() -> Path:
    raw = os.environ.get("AUTHGATE_BIN") or DEFAULT_AUTHGATE_BIN
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"gateway binary not found or not executable: {path}\n"
            "Build it first (`swift build --product authgate`, or with --scratch-path DIR) and "
            "point AUTHGATE_BIN at it (default .build/debug/authgate, relative to the repo root).",
            pytrace=False,
        )
    return path


class Gateway:
    """One ``authgate serve`` process with its own config file and log."""

    def __init__(
        self, binary: Path, workdir: Path, base: dict, config: dict | None, env: dict | None
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.base = base
        self.config_path = workdir / "gateway.conf"
        self.logfile = workdir / "authgate.log"
        self.port = int(base["server"]["listen"].rsplit(":", 1)[1])
        self.admin_port = int(base["admin"]["listen"].rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.origin = self.url
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AUTHGATE_")
            and not any(k == n or k == n + "_FILE" for n in GATEWAY_ENV_OVERRIDES)
        }
        self.env.update(env or {})
        self.config: dict = {}
        self.proc: subprocess.Popen | None = None
        self.write_config(config or {})

    def write_config(self, config: dict) -> dict:
        """Write ``config`` merged over the base (same listeners) atomically; returns the
        merged dict. Call :meth:`reload` (or wait for the file watcher) to apply it."""
        merged = deep_merge(self.base, config)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(merged, sort_keys=False, default_flow_style=False))
        os.replace(tmp, self.config_path)
        self.config = merged
        return merged

    def start(self, timeout: float = 30) -> None:
        if self.running:
            return
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env=self.env,
        )
        log.close()
        _live_processes.append(self.proc)
        wait_until(
            lambda: requests.get(f"{self.url}/health", timeout=2).status_code == 200,
            timeout,
            f"authgate ({self.config_path})",
            proc=self.proc,
            log=lambda: self.log,
        )

    def admin_reload(self) -> requests.Response:
        """``POST /admin/reload`` on the admin listener (synchronous): 200
        ``{"status":"reloaded","generation":N}`` or 422 ``{"error":"invalid_config",...}``."""
        return requests.post(f"{self.admin_url}/admin/reload", timeout=15)

    def apply(self, config: dict) -> int:
        """Write ``config`` (merged over the base) and reload through the admin listener;
        fails unless the reload is accepted. Returns the new config generation."""
        self.write_config(config)
        response = self.admin_reload()
        assert response.status_code == 200, f"reload refused: {response.status_code} {response.text}"
        body = response.json()
        assert body["status"] == "reloaded", body
        return int(body["generation"])

    def metrics(self) -> dict[str, float]:
        """``/metrics`` of the admin listener, parsed: ``{'name{labels}': value}``."""
        from helpers import parse_metrics

        response = requests.get(f"{self.admin_url}/metrics", timeout=15)
        response.raise_for_status()
        return parse_metrics(response.text)

    def rss_kb(self) -> int:
        """Resident set size of the gateway process (``VmRSS`` in /proc), in KiB."""
        assert self.running, "gateway is not running"
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))

    def reload(self) -> None:
        """SIGHUP: re-read the config file (asynchronous; poll for the effect)."""
        assert self.running, "gateway is not running"
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait; the exit code (None if it was not running)."""
        if self.proc is None:
            return None
        code = terminate(self.proc, signal.SIGTERM, timeout)
        return code

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def log(self) -> str:
        return _read(self.logfile)

    def wait_for_log(self, pattern: str, timeout: float = 10, start: int = 0) -> re.Match:
        """Wait until ``pattern`` (a regex) appears in the log after offset ``start``."""
        found: list[re.Match] = []

        def check() -> bool:
            match = re.search(pattern, self.log[start:])
            if match:
                found.append(match)
            return bool(match)

        wait_until(check, timeout, f"log line {pattern!r}", log=lambda: self.log)
        return found[0]


@pytest.fixture
def authgate(backend, tmp_path_factory):
    """Factory: ``authgate(config=None, env=None, start=True) -> Gateway``.

    ``config`` is merged over a base (``server.listen``/``admin.listen`` on free loopback
    ports, ``upstream.url`` = the echo backend, ``logging.level: info``, ``trusted_proxies:
    [127.0.0.1/32]``); a ``None`` value removes a base key. Gateways are stopped at teardown.
    """
    binary = authgate_binary()
    gateways: list[Gateway] = []

    def factory(config: dict | None = None, env: dict | None = None, start: bool = True):
        port, admin_port = free_ports(2)
        base = {
            "server": {"listen": f"127.0.0.1:{port}"},
            "admin": {"listen": f"127.0.0.1:{admin_port}"},
            "upstream": {"url": backend.url},
            "logging": {"level": "info"},
            "trusted_proxies": ["127.0.0.1/32"],
        }
        gateway = Gateway(binary, tmp_path_factory.mktemp("authgate"), base, config, env)
        gateways.append(gateway)
        if start:
            gateway.start()
        return gateway

    yield factory
    for gateway in gateways:
        gateway.stop()


@pytest.fixture
def gateway_auth_config(auth_server, postgres, legacy_secret) -> dict:
    """``auth``/``cache``/``routes``/``rate_limits`` sections for dual auth against the real components
    (phase 1 flags, HTTP session resolver); merge your own changes over it."""
    return {
        "auth": {
            "enable_dual_auth": True,
            "prefer_better_auth": False,
            "auth_server_url": auth_server.url,
            "better_auth_secret": auth_server.secret,
            "legacy_jwt_secret": legacy_secret,
            "database_url": postgres.dsn,
            "session_resolver": "http",
            "cookie_prefix": "better-auth",
            "accept_raw_bearer": False,
        },
        "cache": {"positive_ttl_ms": 60000, "negative_ttl_ms": 5000, "stale_if_error_ms": 0},
        "routes": [{"path": "/api/public/", "access": "public"}],
        # Functional tests send bursts from one IP and one user (e.g. 200 concurrent requests
        # with one session) that the default limits (ip_burst 200, user_burst 100) would
        # refuse; test_rate_limits.py replaces this section with the limits it tests.
        "rate_limits": {"ip_burst": 10000, "user_burst": 10000},
        # These tests do not create auth_audit_log; test_audit.py and test_observability.py
        # switch the audit trail on with a table and a spill file of their own.
        "audit": {"enabled": False},
    }
