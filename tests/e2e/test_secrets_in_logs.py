"""No secret and no credential in the gateway's output, at any log level, from any source.

The gateway runs at ``trace`` (everything swift-service-lifecycle, postgres-nio and the gateway
log) three times: with its secrets inline in the config file, in ``_file`` files (config keys
and ``*_FILE`` variables), and in the environment as the systemd unit supplies them. The
database URL carries a real password (a SCRAM role of a private cluster), the audit trail and
the cache-eviction listener use it, one run resolves sessions from PostgreSQL. Each run serves
a legacy token, a session cookie, a bearer session token, a Better Auth JWT and forged ones,
reloads twice (SIGHUP, ``POST /admin/reload``) and stops on SIGTERM; then all of its stdout
and stderr is searched for every secret and every credential sent, in the spellings a log line
could carry them (plain, URL-encoded, URL-decoded, hex).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote, unquote

import requests

from conftest import deep_merge, start_private_auth_server
from helpers import forge_cookie_value, get_jwt, legacy_token, make_user
from test_audit import AUDIT_DDL

TIMEOUT = 10


def spellings(value: str) -> set[str]:
    """The forms a value could take in a log line."""
    forms = {value, quote(value, safe=""), unquote(value), value.encode().hex()}
    # A byte dump (`ByteBuffer` descriptions): "61 62 63".
    forms.add(" ".join(f"{b:02x}" for b in value.encode()))
    return {form for form in forms if len(form) >= 8}


def drive(gateway, auth, legacy_secret: str) -> list[str]:
    """Requests with every kind of credential, two reloads; the credentials sent."""
    user = make_user(auth, "secrets")
    jwt_token = get_jwt(auth, user.cookie)
    legacy = legacy_token("secret-user-1", "s@example.com", "user", secret=legacy_secret)
    forged_legacy = legacy_token("secret-user-1", "s@example.com", "user", secret="forged-" + "q" * 32)
    forged_cookie = forge_cookie_value(user.cookie_value)
    url = f"{gateway.url}/api/secret-check"
    sent = [
        ({"Authorization": f"Bearer {legacy}"}, 200),
        ({"Cookie": user.cookie}, 200),
        ({"Authorization": f"Bearer {user.bearer}"}, 200),
        ({"Authorization": f"Bearer {jwt_token}"}, 200),
        ({"Authorization": f"Bearer {forged_legacy}"}, 401),
        ({"Cookie": f"{user.cookie_name}={forged_cookie}"}, 401),
        ({"Authorization": "Basic " + secrets.token_hex(16)}, 401),
    ]
    # A token in the query string (as WebSocket clients send one) must not reach the access log.
    response = requests.get(f"{url}?access_token={legacy}", headers={"Authorization": f"Bearer {legacy}"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    for headers, want in sent:
        response = requests.get(url, headers={**headers, "X-Probe": "1"}, timeout=TIMEOUT)
        assert response.status_code == want, f"{headers}: {response.status_code} {response.text}"
    # The same credentials again: cache hits.
    for headers, want in sent:
        assert requests.get(url, headers=headers, timeout=TIMEOUT).status_code == want

    offset = len(gateway.log)
    gateway.reload()  # SIGHUP
    gateway.wait_for_log("configuration reloaded", start=offset)
    response = gateway.admin_reload()
    assert response.status_code == 200, response.text
    return [
        legacy,
        forged_legacy,
        jwt_token,
        user.cookie_value,
        user.signed_token,
        user.token,
        user.bearer,
        forged_cookie,
    ]


def test_no_secret_or_credential_in_any_log_line_at_trace(authgate, password_postgres, tmp_path):
    pg = password_postgres
    better_auth_secret = "ba-secret-" + secrets.token_hex(20)
    auth = start_private_auth_server(pg, tmp_path, secret=better_auth_secret)
    try:
        for statement in filter(str.strip, AUDIT_DDL.split(";")):
            pg.sql(statement)
        legacy_secret = "legacy-secret-" + secrets.token_hex(20)
        jwt_secret = "ba-jwt-secret-" + secrets.token_hex(20)
        unrelated = "unrelated-env-secret-" + secrets.token_hex(16)
        values = {
            "better_auth_secret": better_auth_secret,
            "better_auth_jwt_secret": jwt_secret,
            "legacy_jwt_secret": legacy_secret,
            "database_url": pg.role_dsn,
        }
        env_names = {
            "better_auth_secret": "BETTER_AUTH_SECRET",
            "better_auth_jwt_secret": "BETTER_AUTH_JWT_SECRET",
            "legacy_jwt_secret": "LEGACY_JWT_SECRET",
            "database_url": "DATABASE_URL",
        }
        files = tmp_path / "secrets"
        files.mkdir()
        for key, value in values.items():
            (files / key).write_text(value)

        base = {
            "auth": {
                "enable_dual_auth": True,
                "auth_server_url": auth.url,
                "cookie_prefix": "better-auth",
                "accept_raw_bearer": True,
            },
            "logging": {"level": "trace", "access_log": True},
            "rate_limits": {"ip_burst": 10000, "user_burst": 10000},
            "audit": {"enabled": True, "table": "auth_audit_log", "spill_file": str(tmp_path / "spill.jsonl")},
        }
        runs = {
            # Inline in the file, sessions from PostgreSQL (the token is a query parameter).
            "inline": ({"auth": {**values, "session_resolver": "postgres"}}, {}),
            # Half as `_file` config keys, half as `*_FILE` variables.
            "files": (
                {
                    "auth": {
                        "better_auth_secret_file": str(files / "better_auth_secret"),
                        "database_url_file": str(files / "database_url"),
                        "session_resolver": "http",
                    }
                },
                {
                    "LEGACY_JWT_SECRET_FILE": str(files / "legacy_jwt_secret"),
                    "BETTER_AUTH_JWT_SECRET_FILE": str(files / "better_auth_jwt_secret"),
                },
            ),
            # The environment, as the systemd unit's EnvironmentFile supplies it; text logs.
            "environment": (
                {"auth": {"session_resolver": "http"}, "logging": {"format": "text"}},
                {env_names[key]: value for key, value in values.items()},
            ),
        }
        needles: dict[str, str] = {}
        for name, value in {**values, "database password": pg.password, "unrelated": unrelated}.items():
            for form in spellings(value):
                needles[form] = name

        for run, (config, env) in runs.items():
            gateway = authgate(
                deep_merge(base, config),
                env={**env, "UNRELATED_API_KEY": unrelated},
            )
            gateway.wait_for_log("listening for cache evictions")
            credentials = drive(gateway, auth, legacy_secret)
            assert gateway.stop() == 0
            output = gateway.log
            assert re.search(r"trace", output, re.I), f"{run}: no trace lines: the test proves nothing"
            assert len(output.splitlines()) > 50, f"{run}: too little output to mean anything"
            found = [f"{needles[form]} ({form[:12]}…)" for form in needles if form in output]
            for credential in credentials:
                found += [f"credential {form[:12]}…" for form in spellings(credential) if form in output]
            assert not found, f"{run}: secrets in the log at trace: {found}\n" + "\n".join(
                line[:400] for line in output.splitlines() if any(form in line for form in needles)
            )[:6000]
            rows = pg.sql("SELECT count(*) FROM auth_audit_log")[0][0]
            assert rows > 0, f"{run}: the audit trail wrote nothing: the database password was not used"
    finally:
        auth.stop()
