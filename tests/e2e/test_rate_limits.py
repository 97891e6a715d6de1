"""Rate limits and lockout end to end: per client IP (X-Forwarded-For only from trusted
proxies), per user, per route class, the introspect endpoint, the bound on tracked keys, and
the failed-login / rejected-token lockout with Better Auth's real sign-in behind the gateway."""

from __future__ import annotations

import concurrent.futures
import copy
import http.client
import itertools
import time

import pytest
import requests

from helpers import PASSWORD, legacy_token, sign_up, unique_email

TIMEOUT = 15


def limited(config: dict, **rate_limits) -> dict:
    out = copy.deepcopy(config)
    out["rate_limits"] = rate_limits
    return out


def get(gateway, path: str, headers: dict | None = None) -> requests.Response:
    return requests.get(f"{gateway.url}{path}", headers=headers or {}, timeout=TIMEOUT)


def from_ip(ip: str, **headers: str) -> dict:
    return {"X-Forwarded-For": ip, **headers}


def assert_429(response: requests.Response, error: str = "rate_limited") -> dict:
    assert response.status_code == 429, f"want 429 {error}, got {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["error"] == error, body
    retry_after = response.headers.get("Retry-After")
    assert retry_after and retry_after.isdigit() and int(retry_after) >= 1, f"Retry-After: {retry_after!r}"
    return body


def assert_ratelimit_headers(response: requests.Response) -> None:
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        value = response.headers.get(name)
        assert value is not None and value.strip().isdigit(), f"{name}: {value!r} in {dict(response.headers)}"
    assert response.headers["RateLimit-Remaining"] == "0"


def cause(gateway, name: str) -> float:
    return gateway.metrics().get(f'authgate_rate_limited_requests_total{{cause="{name}"}}', 0)


# --- per client IP ------------------------------------------------------------------------------


def test_ip_burst_then_429_and_other_ips_unaffected(authgate, gateway_auth_config):
    gateway = authgate(limited(gateway_auth_config, ip_burst=5, ip_requests_per_minute=6))
    # A fresh client IP (X-Forwarded-For from the trusted 127.0.0.1): the harness's own
    # readiness probes from 127.0.0.1 do not count against it.
    client = from_ip("10.9.0.1")
    statuses = [get(gateway, "/api/public/ping", client).status_code for _ in range(5)]
    assert statuses == [200] * 5, f"the burst of 5 must pass: {statuses}"
    sixth = get(gateway, "/api/public/ping", client)
    assert_429(sixth)
    assert_ratelimit_headers(sixth)
    assert get(gateway, "/api/public/ping", from_ip("10.9.0.2")).status_code == 200, (
        "another client IP has its own bucket"
    )
    # Checked before any credential is looked at: a token does not help.
    assert get(gateway, "/api/private", {**client, "Authorization": "Bearer x.y.z"}).status_code == 429
    assert cause(gateway, "ip") >= 2


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(authgate, gateway_auth_config):
    rate_limits = {"ip_burst": 5, "ip_requests_per_minute": 6}
    trusted = authgate(limited(gateway_auth_config, **rate_limits))
    statuses = [get(trusted, "/api/public/ping", from_ip(f"10.0.0.{i}")).status_code for i in range(1, 11)]
    assert statuses == [200] * 10, f"trusted 127.0.0.1: ten X-Forwarded-For addresses, ten buckets: {statuses}"

    config = limited(gateway_auth_config, **rate_limits)
    config["trusted_proxies"] = []
    untrusted = authgate(config)
    statuses = [get(untrusted, "/api/public/ping", from_ip(f"10.0.0.{i}")).status_code for i in range(1, 11)]
    # One shared bucket of 5 (the harness's readiness probe from 127.0.0.1 may have used one).
    assert statuses.count(200) in (4, 5) and statuses[-5:] == [429] * 5, (
        f"trusted_proxies []: every request from 127.0.0.1 shares one bucket whatever its X-Forwarded-For: {statuses}"
    )


# --- per user and per route class ---------------------------------------------------------------


def test_user_burst_limits_one_user_not_the_next(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(limited(gateway_auth_config, user_burst=3, user_requests_per_minute=6))
    alice = {"Authorization": f"Bearer {legacy_token('rl-alice', 'a@example.com', 'user', secret=legacy_secret)}"}
    bob = {"Authorization": f"Bearer {legacy_token('rl-bob', 'b@example.com', 'user', secret=legacy_secret)}"}
    statuses = [get(gateway, "/api/things", alice).status_code for _ in range(3)]
    assert statuses == [200] * 3, statuses
    fourth = get(gateway, "/api/things", alice)
    assert_429(fourth)
    assert_ratelimit_headers(fourth)
    # Another IP does not help the same user; another user on the same IP is fine.
    assert get(gateway, "/api/things", {**alice, "X-Forwarded-For": "10.3.3.3"}).status_code == 429
    assert get(gateway, "/api/things", bob).status_code == 200
    assert cause(gateway, "user") >= 2


def test_route_class_limit(authgate, gateway_auth_config, legacy_secret):
    config = limited(gateway_auth_config)
    config["rate_limit_classes"] = [{"name": "reports", "requests_per_minute": 6, "burst": 2}]
    config["routes"] = [
        {"path": "/api/public/", "access": "public"},
        {"path": "/api/reports/", "access": "authenticated", "rate_limit_class": "reports"},
    ]
    gateway = authgate(config)
    carol = {"Authorization": f"Bearer {legacy_token('rl-carol', 'c@example.com', 'user', secret=legacy_secret)}"}
    dave = {"Authorization": f"Bearer {legacy_token('rl-dave', 'd@example.com', 'user', secret=legacy_secret)}"}
    first = get(gateway, "/api/reports/monthly", carol)
    assert first.status_code == 200
    assert get(gateway, "/api/reports/monthly", carol).status_code == 200
    third = get(gateway, "/api/reports/daily", carol)
    assert_429(third)
    assert get(gateway, "/api/orders", carol).status_code == 200, "the class limits only its routes"
    assert get(gateway, "/api/reports/monthly", dave).status_code == 200, "the class limit is per user"
    assert cause(gateway, "route_class") >= 1


def test_introspect_endpoint_limit(authgate, gateway_auth_config):
    gateway = authgate(limited(gateway_auth_config, introspect_burst=3, introspect_requests_per_minute=6))
    url = f"{gateway.url}/api/auth-proxy/introspect"
    answers = [requests.post(url, json={"token": "garbage"}, timeout=TIMEOUT) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
    assert_429(requests.post(url, json={"token": "garbage"}, timeout=TIMEOUT))
    other = requests.post(url, json={"token": "garbage"}, headers=from_ip("10.4.4.4"), timeout=TIMEOUT)
    assert other.status_code == 200, "the introspect class is per client IP"


@pytest.mark.timeout(150)
def test_distinct_ips_cannot_grow_memory(authgate, gateway_auth_config):
    # One request a minute per IP: every IP's state stays live for a minute, so only eviction
    # can keep the table at max_tracked_keys.
    gateway = authgate(limited(gateway_auth_config, max_tracked_keys=1000, ip_requests_per_minute=1))
    host, port = "127.0.0.1", gateway.port
    counter = itertools.count()

    def worker(count: int) -> list[int]:
        statuses = []
        conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        try:
            for _ in range(count):
                n = next(counter)
                ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
                conn.request("GET", "/api/public/flood", headers={"X-Forwarded-For": ip})
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
        finally:
            conn.close()
        return statuses

    def flood(total: int, threads: int = 8) -> list[int]:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return [s for chunk in pool.map(worker, [total // threads] * threads) for s in chunk]

    warm = flood(2000)
    assert set(warm) == {200}, f"warm-up: {sorted(set(warm))}"
    rss_before = gateway.rss_kb()
    statuses = flood(20000)
    rss_after = gateway.rss_kb()
    assert statuses.count(200) == len(statuses), f"every distinct IP is within its burst: {sorted(set(statuses))}"
    keys = gateway.metrics().get("authgate_rate_limiter_keys")
    assert keys is not None, "authgate_rate_limiter_keys missing from /metrics"
    assert 0 < keys <= 1000, f"authgate_rate_limiter_keys {keys}: want 1..1000 (max_tracked_keys 1000)"
    grown_mb = (rss_after - rss_before) / 1024
    print(f"rate limiter keys {keys}, RSS {rss_before} -> {rss_after} KiB")
    assert grown_mb < 30, f"RSS grew {grown_mb:.1f} MB over 20,000 distinct client IPs ({rss_before} → {rss_after} KiB)"


# --- lockout -------------------------------------------------------------------------------------


def lockout_config(config: dict) -> dict:
    out = copy.deepcopy(config)
    out["lockout"] = {"enabled": True, "max_failures": 5, "window_ms": 60000}
    out["routes"] = [
        {"path": "/api/public/", "access": "public"},
        {"path": "/api/auth/", "access": "public", "upstream": "auth_server"},
    ]
    return out


def test_failed_logins_lock_the_ip_and_the_account(authgate, gateway_auth_config, auth_server):
    gateway = authgate(lockout_config(gateway_auth_config))
    email, other_email = unique_email("locked"), unique_email("free")
    sign_up(auth_server, email, PASSWORD, "locked")
    sign_up(auth_server, other_email, PASSWORD, "free")

    def sign_in(address: str, password: str, ip: str) -> requests.Response:
        return requests.post(
            f"{gateway.url}/api/auth/sign-in/email",
            json={"email": address, "password": password},
            headers=from_ip(ip),
            timeout=TIMEOUT,
        )

    ok = sign_in(email, PASSWORD, "10.20.0.9")
    assert ok.status_code == 200, f"sign-in through the gateway to the auth server: {ok.status_code} {ok.text}"
    assert "user" in ok.json(), f"not the auth server's answer (route upstream auth_server ignored?): {ok.text[:300]}"
    assert ok.json()["user"]["email"] == email
    for attempt in range(5):
        wrong = sign_in(email, "wrong password!", "10.20.0.1")
        assert wrong.status_code == 401, f"attempt {attempt + 1}: the auth server's answer: {wrong.status_code} {wrong.text}"
    sixth = sign_in(email, PASSWORD, "10.20.0.1")
    assert_429(sixth, "locked_out")
    assert_429(sign_in(email, PASSWORD, "10.20.0.2"), "locked_out")  # the account, from a fresh IP
    fresh = sign_in(other_email, PASSWORD, "10.20.0.3")
    assert fresh.status_code == 200, f"another account from another IP: {fresh.status_code} {fresh.text}"
    assert cause(gateway, "lockout") >= 2


def test_rejected_tokens_lock_the_ip(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(lockout_config(gateway_auth_config))
    valid = {"Authorization": f"Bearer {legacy_token('lock-ok', 'ok@example.com', 'user', secret=legacy_secret)}"}
    for i in range(5):
        forged = legacy_token(f"forged-{i}", "f@example.com", "admin", secret=legacy_secret + "-wrong")
        response = get(gateway, "/api/data", from_ip("10.30.0.1", Authorization=f"Bearer {forged}"))
        assert response.status_code == 401, response.text
    assert_429(get(gateway, "/api/data", {**valid, "X-Forwarded-For": "10.30.0.1"}), "locked_out")
    assert get(gateway, "/api/data", {**valid, "X-Forwarded-For": "10.30.0.2"}).status_code == 200
    assert cause(gateway, "lockout") >= 1


def test_lockout_ends_with_its_window(authgate, gateway_auth_config, legacy_secret):
    config = lockout_config(gateway_auth_config)
    config["lockout"] = {"enabled": True, "max_failures": 2, "window_ms": 1500}
    gateway = authgate(config)
    valid = from_ip("10.40.0.1", Authorization=f"Bearer {legacy_token('window-ok', 'w@example.com', 'user', secret=legacy_secret)}")
    for i in range(2):
        forged = legacy_token(f"window-forged-{i}", "f@example.com", "user", secret=legacy_secret + "-wrong")
        assert get(gateway, "/api/data", from_ip("10.40.0.1", Authorization=f"Bearer {forged}")).status_code == 401
    locked = get(gateway, "/api/data", valid)
    body = assert_429(locked, "locked_out")
    assert int(locked.headers["Retry-After"]) <= 2, f"Retry-After beyond the 1.5 s window: {locked.headers['Retry-After']} {body}"
    time.sleep(1.7)
    after = get(gateway, "/api/data", valid)
    assert after.status_code == 200, f"lockout.window_ms 1500 passed, still {after.status_code} {after.text[:200]}"
