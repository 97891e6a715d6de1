"""Issue 5's observability: the operators' metrics move as the events happen (scrape, act,
scrape), with bounded labels; every log line is JSON, access lines carry the request id, and no
token, cookie, secret or password reaches the log."""

from __future__ import annotations

import json
import time
import uuid

import requests

from conftest import wait_until
from helpers import legacy_token, sign_in, sign_up

TIMEOUT = 15
PASSWORD = "correct horse battery staple"


def delta(after: dict[str, float], before: dict[str, float], series: str) -> float:
    return after.get(series, 0) - before.get(series, 0)


def total(metrics: dict[str, float], name: str) -> float:
    return sum(value for key, value in metrics.items() if key == name or key.startswith(name + "{"))


def observed_config(gateway_auth_config: dict) -> dict:
    config = gateway_auth_config
    config["logging"] = {"level": "debug", "format": "json", "access_log": True}
    config["metrics"] = {"active_sessions_interval_ms": 1000}
    return config


def test_metrics_move_as_the_events_happen(authgate, gateway_auth_config, auth_server, legacy_secret):
    gateway = authgate(observed_config(gateway_auth_config))
    email = f"metrics-{uuid.uuid4().hex[:10]}@example.com"
    sign_up(auth_server, email, PASSWORD, "metrics")
    user = sign_in(auth_server, email, PASSWORD)
    token = legacy_token("metrics-legacy-1", "legacy@example.com", "user", secret=legacy_secret)
    forged = legacy_token("metrics-legacy-1", "legacy@example.com", "user", secret="x" * 48)
    url = f"{gateway.url}/api/things"

    before = gateway.metrics()
    # A legacy token: verified once, then served from the cache.
    for _ in range(2):
        assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT).status_code == 200
    # A Better Auth cookie: one get-session lookup (a validation with its latency), then a hit.
    for _ in range(2):
        assert requests.get(url, headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200
    # A forged legacy token and no credential at all.
    assert requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=TIMEOUT).status_code == 401
    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    # A public route: no authentication metrics.
    assert requests.get(f"{gateway.url}/api/public/x", timeout=TIMEOUT).status_code == 200
    after = gateway.metrics()

    expected = {
        'better_auth_attempts_total{auth_method="legacy"}': 3,
        'better_auth_attempts_total{auth_method="better-auth"}': 2,
        'better_auth_attempts_total{auth_method="none"}': 1,
        'better_auth_success_total{auth_method="legacy"}': 2,
        'better_auth_success_total{auth_method="better-auth"}': 2,
        'better_auth_failures_total{auth_method="legacy",reason="bad_signature"}': 1,
        'better_auth_failures_total{auth_method="none",reason="missing_credential"}': 1,
        'better_auth_token_validations_total{auth_method="legacy",outcome="valid"}': 1,
        'better_auth_token_validations_total{auth_method="legacy",outcome="invalid"}': 1,
        'better_auth_token_validations_total{auth_method="better-auth",outcome="valid"}': 1,
        # The forged JWT is also offered to Better Auth (dual auth) and refused there.
        'better_auth_token_validations_total{auth_method="better-auth",outcome="invalid"}': 1,
        'better_auth_token_cache_hits_total{auth_method="legacy"}': 1,
        'better_auth_token_cache_hits_total{auth_method="better-auth"}': 1,
        'authgate_http_requests_total{route_class="authenticated",status_class="2xx"}': 4,
        'authgate_http_requests_total{route_class="authenticated",status_class="4xx"}': 2,
        'authgate_http_requests_total{route_class="public",status_class="2xx"}': 1,
        # Every validation not served from the cache is timed: the legacy JWT, the forged one
        # (twice: legacy, then Better Auth) and the get-session lookup — not only session
        # lookups, or a p95 alert is blind to JWTs.
        "better_auth_token_validation_seconds_count": 4,
    }
    moved = {series: delta(after, before, series) for series in expected}
    assert moved == expected, f"metric deltas {moved}, wanted {expected}"
    # The labels stay within their sets: no series outside them appeared.
    for key in after:
        if key.startswith(("better_auth_attempts_total{", "better_auth_success_total{")):
            assert key.split('"')[1] in {"legacy", "better-auth", "none"}, key

    # The live session shows in better_auth_active_sessions (the cache's count with the http
    # resolver), counted every second here.
    wait_until(
        lambda: gateway.metrics().get("better_auth_active_sessions", 0) >= 1,
        10,
        "better_auth_active_sessions counts the live session",
        log=lambda: gateway.log,
    )


def test_every_ratio_of_the_guide_stays_within_0_and_1(authgate, gateway_auth_config, auth_server, legacy_secret):
    """Attempts, successes and failures carry the same method label: the one that accepted, or
    for a failure the one tried first. With Better Auth preferred, a legacy token is offered to
    Better Auth first and accepted by legacy; it counts as a legacy attempt and a legacy success,
    so the guide's `success / attempts` per method is never above 1."""
    config = observed_config(gateway_auth_config)
    config["auth"]["prefer_better_auth"] = True
    gateway = authgate(config)
    url = f"{gateway.url}/api/things"
    email = f"ratio-{uuid.uuid4().hex[:10]}@example.com"
    sign_up(auth_server, email, PASSWORD, "ratio")
    user = sign_in(auth_server, email, PASSWORD)

    before = gateway.metrics()
    for index in range(5):
        token = legacy_token(f"ratio-legacy-{index}", "ratio@example.com", "user", secret=legacy_secret)
        assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT).status_code == 200
    assert requests.get(url, headers={"Cookie": user.cookie}, timeout=TIMEOUT).status_code == 200
    forged = legacy_token("ratio-forged", "ratio@example.com", "user", secret="y" * 48)
    assert requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=TIMEOUT).status_code == 401
    after = gateway.metrics()

    for method in ("legacy", "better-auth", "none"):
        attempts = delta(after, before, f'better_auth_attempts_total{{auth_method="{method}"}}')
        successes = delta(after, before, f'better_auth_success_total{{auth_method="{method}"}}')
        failures = sum(
            delta(after, before, key)
            for key in after
            if key.startswith(f'better_auth_failures_total{{auth_method="{method}",')
        )
        assert successes + failures == attempts, (method, successes, failures, attempts)
        if attempts:
            assert 0 <= successes / attempts <= 1, (method, successes, attempts)
    assert delta(after, before, 'better_auth_attempts_total{auth_method="legacy"}') == 5
    assert delta(after, before, 'better_auth_success_total{auth_method="legacy"}') == 5
    # The cookie is Better Auth's; the forged JWT was offered to Better Auth first.
    assert delta(after, before, 'better_auth_attempts_total{auth_method="better-auth"}') == 2
    assert delta(after, before, 'better_auth_success_total{auth_method="better-auth"}') == 1
    # Every validation that was not a cache hit (each JWT check, the get-session lookup) is
    # timed: the histogram counts exactly what better_auth_token_validations_total counts.
    validations = sum(
        delta(after, before, key) for key in after if key.startswith("better_auth_token_validations_total{")
    )
    assert validations >= 7
    assert delta(after, before, "better_auth_token_validation_seconds_count") == validations


def test_log_lines_are_json_with_request_ids_and_never_hold_a_credential(
    authgate, gateway_auth_config, auth_server, legacy_secret
):
    gateway = authgate(observed_config(gateway_auth_config))
    email = f"logs-{uuid.uuid4().hex[:10]}@example.com"
    sign_up(auth_server, email, PASSWORD, "logs")
    user = sign_in(auth_server, email, PASSWORD)
    token = legacy_token("logs-legacy-1", "legacy@example.com", "user", secret=legacy_secret)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    url = f"{gateway.url}/api/secret-things?q=1"
    start = len(gateway.log)

    request_ids = []
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {"Cookie": user.cookie},
        {"Authorization": f"Bearer {user.bearer}"},
        {"Authorization": f"Bearer {forged}"},
        {"Cookie": user.cookie + "tampered"},
    ):
        response = requests.get(url, headers=headers, timeout=TIMEOUT)
        request_ids.append(response.headers["X-Request-Id"])
    # A reload and a bad reload log too (they name keys, never values).
    gateway.admin_reload()
    time.sleep(0.5)

    log = gateway.log[start:]
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "the gateway logged nothing"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise AssertionError(f"a log line is not JSON: {line!r}") from error

    access = [record for record in records if record.get("msg") == "request"]
    logged_ids = {record.get("request_id") for record in access}
    for record in access:
        assert {"ts", "level", "request_id", "status", "auth_method", "config_generation"} <= record.keys(), record
    for request_id in request_ids:
        assert request_id in logged_ids, f"no access line for request {request_id}: {access[-3:]}"

    secrets = {
        "legacy token": token,
        "legacy token signature": token.rsplit(".", 1)[1],
        "forged token signature": forged.rsplit(".", 1)[1],
        "session cookie value": user.cookie_value,
        "session token": user.token,
        "bearer": user.bearer,
        "legacy secret": legacy_secret,
        "Better Auth secret": auth_server.secret,
        "password": PASSWORD,
    }
    for what, value in secrets.items():
        assert value not in log, f"the {what} appears in the gateway's log"
