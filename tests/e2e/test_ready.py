"""``GET /ready`` on the admin listener against the real dependencies: the backend, the Better
Auth server (``/api/auth/ok``, its JWKS) and PostgreSQL, each reported on its own, and 503 when
one that the configuration needs is down. ``/health`` stays liveness."""

from __future__ import annotations

import copy

import requests

from conftest import free_port

TIMEOUT = 15


def ready(gateway) -> tuple[int, dict]:
    response = requests.get(f"{gateway.admin_url}/ready", timeout=TIMEOUT)
    return response.status_code, response.json()


def test_ready_reports_every_dependency_of_the_running_config(authgate, gateway_auth_config):
    gateway = authgate(gateway_auth_config)
    status, body = ready(gateway)
    assert status == 200, body
    assert body["status"] == "ready"
    checks = body["checks"]
    assert checks["backend"] == {"status": "up", "required": True}, checks
    # Cookies are checked through the auth server's get-session: it is required.
    assert checks["auth_server"] == {"status": "up", "required": True}, checks
    # The database serves the audit trail and eviction here, not sessions: reported, optional.
    assert checks["postgres"] == {"status": "up", "required": False}, checks
    # The real auth server runs the JWT plugin: its key set is loaded.
    assert checks["jwks"]["status"] == "up", checks
    assert "failing" not in body
    assert requests.get(f"{gateway.admin_url}/health", timeout=TIMEOUT).status_code == 200


def test_ready_is_503_naming_the_required_dependency_that_is_down(authgate, gateway_auth_config, postgres):
    # The auth server is unreachable: sessions cannot be checked.
    config = copy.deepcopy(gateway_auth_config)
    config["auth"]["auth_server_url"] = f"http://127.0.0.1:{free_port()}"
    gateway = authgate(config)
    status, body = ready(gateway)
    assert status == 503, body
    assert body["status"] == "not_ready"
    assert body["failing"] == ["auth_server"], body
    assert body["checks"]["auth_server"]["status"] == "down"
    assert "reason" in body["checks"]["auth_server"]
    assert body["checks"]["backend"]["status"] == "up"
    # Liveness is unaffected.
    assert requests.get(f"{gateway.admin_url}/health", timeout=TIMEOUT).status_code == 200

    # Sessions resolved from PostgreSQL: the database is required, the auth server is not.
    config = copy.deepcopy(gateway_auth_config)
    config["auth"]["session_resolver"] = "postgres"
    closed = free_port()
    config["auth"]["database_url"] = f"postgres://postgres:s3cret-pa55@127.0.0.1:{closed}/authgate_test"
    gateway.apply(config)
    status, body = ready(gateway)
    assert status == 503, body
    assert body["failing"] == ["postgres"], body
    assert body["checks"]["auth_server"]["required"] is False
    assert "s3cret-pa55" not in str(body), "the database password leaked into /ready"

    # Back to the working database: ready again, with no restart.
    config["auth"]["database_url"] = postgres.dsn
    gateway.apply(config)
    status, body = ready(gateway)
    assert status == 200, body
    assert body["checks"]["postgres"] == {"status": "up", "required": True}, body


def test_ready_in_the_rollback_needs_only_the_backend(authgate, gateway_auth_config, backend):
    config = copy.deepcopy(gateway_auth_config)
    config["auth"]["enable_dual_auth"] = False
    config["auth"]["prefer_better_auth"] = False
    config["auth"]["auth_server_url"] = f"http://127.0.0.1:{free_port()}"
    gateway = authgate(config)
    status, body = ready(gateway)
    assert status == 200, body
    assert body["checks"]["auth_server"]["status"] == "not_configured"
    # The backend going away makes it unready.
    gateway.apply({**config, "upstream": {"url": f"http://127.0.0.1:{free_port()}"}})
    status, body = ready(gateway)
    assert status == 503 and body["failing"] == ["backend"], body
