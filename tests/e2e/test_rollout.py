"""Rollout policy end to end: the four phases and rollback on one running gateway (admin
reload and file watching), per-route overrides, the flags endpoint's cohorts, and the
migration_status policy. Real Better Auth server, real PostgreSQL, PyJWT legacy tokens."""

from __future__ import annotations

import copy
import subprocess
import time
import uuid

import pytest
import requests
import yaml

from conftest import authgate_binary

from helpers import get_jwt, legacy_token, make_user, rollout_bucket

TIMEOUT = 15

#: name → (enable_dual_auth, prefer_better_auth, flags endpoint "phase")
PHASES = {
    "phase1": (True, False, "infrastructure"),
    "phase2": (True, True, "beta"),
    "phase3": (True, True, "beta"),
    "phase4": (False, True, "complete"),
    "rollback": (False, False, "rollback"),
}

#: what each credential kind is forwarded as (None = 401), per phase
EXPECTED = {
    "phase1": {"legacy": "legacy", "cookie": "better-auth", "ba_jwt": "better-auth", "both": "legacy"},
    "phase2": {"legacy": "legacy", "cookie": "better-auth", "ba_jwt": "better-auth", "both": "better-auth"},
    "phase3": {"legacy": "legacy", "cookie": "better-auth", "ba_jwt": "better-auth", "both": "better-auth"},
    "phase4": {"legacy": None, "cookie": "better-auth", "ba_jwt": "better-auth", "both": "better-auth"},
    "rollback": {"legacy": "legacy", "cookie": None, "ba_jwt": None, "both": "legacy"},
}


def with_phase(config: dict, phase: str, **rollout) -> dict:
    """``config`` in ``phase``. The lockout is off: these tests send credentials that the
    phase refuses, over and over, from one IP (test_rate_limits.py covers the lockout)."""
    out = copy.deepcopy(config)
    out["lockout"] = {"enabled": False}
    dual, prefer, _ = PHASES[phase]
    out["auth"]["enable_dual_auth"] = dual
    out["auth"]["prefer_better_auth"] = prefer
    if rollout:
        out["rollout"] = {**out.get("rollout", {}), **rollout}
    return out


def get(gateway, path: str, headers: dict | None = None) -> requests.Response:
    return requests.get(f"{gateway.url}{path}", headers=headers or {}, timeout=TIMEOUT)


def flags(gateway, headers: dict | None = None) -> dict:
    response = get(gateway, "/api/auth-proxy/flags", headers)
    assert response.status_code == 200, f"flags: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert "rollout_percent" in body, f"not the gateway's flags answer (forwarded to the backend?): {response.text[:300]}"
    return body


# --- phases on one running gateway ------------------------------------------------------------


@pytest.mark.timeout(120)
def test_phase_matrix_on_one_gateway_flipped_by_admin_reload(authgate, gateway_auth_config, auth_server, legacy_secret):
    user = make_user(auth_server, "matrix")
    ba_jwt = get_jwt(auth_server, user.cookie)
    legacy = legacy_token("legacy-matrix", "lm@example.com", "user", secret=legacy_secret)
    credentials = {
        "legacy": ({"Authorization": f"Bearer {legacy}"}, "legacy-matrix"),
        "cookie": ({"Cookie": user.cookie}, user.user_id),
        "ba_jwt": ({"Authorization": f"Bearer {ba_jwt}"}, user.user_id),
        "both": ({"Authorization": f"Bearer {legacy}", "Cookie": user.cookie}, None),
    }
    gateway = authgate(with_phase(gateway_auth_config, "phase1"))
    generations = []
    failures = []
    # Each phase twice (there and back) so a cached identity from another phase is exercised.
    for phase in ["phase1", "phase2", "phase3", "phase4", "rollback", "phase1", "phase4", "phase2", "rollback"]:
        extra = {"better_auth_rollout_percent": 50} if phase == "phase3" else {}
        generations.append(gateway.apply(with_phase(gateway_auth_config, phase, **extra)))
        answer = get(gateway, "/api/auth-proxy/flags")
        if answer.status_code != 200 or "phase" not in answer.json():
            failures.append(f"{phase}: flags endpoint: {answer.status_code} {answer.text[:120]}")
        elif answer.json()["phase"] != PHASES[phase][2]:
            failures.append(f"{phase}: flags phase {answer.json()['phase']!r}, want {PHASES[phase][2]!r}")
        for kind, (headers, expected_user) in credentials.items():
            response = get(gateway, "/api/matrix", headers)
            want = EXPECTED[phase][kind]
            if want is None:
                if response.status_code != 401:
                    failures.append(f"{phase}/{kind}: want 401, got {response.status_code} {response.text[:200]}")
                continue
            if response.status_code != 200:
                failures.append(f"{phase}/{kind}: want 200 ({want}), got {response.status_code} {response.text[:200]}")
                continue
            seen = response.json()["headers"]
            if seen.get("x-auth-method") != want:
                failures.append(f"{phase}/{kind}: X-Auth-Method {seen.get('x-auth-method')!r}, want {want!r}")
            want_user = expected_user or ("legacy-matrix" if want == "legacy" else user.user_id)
            if seen.get("x-auth-user-id") != want_user:
                failures.append(f"{phase}/{kind}: X-Auth-User-Id {seen.get('x-auth-user-id')!r}, want {want_user!r}")
    assert not failures, "phase matrix mismatches:\n" + "\n".join(failures)
    assert generations == sorted(generations) and len(set(generations)) == len(generations), (
        f"generations must strictly increase: {generations}"
    )


def test_broken_config_is_refused_by_admin_reload_and_the_old_one_stays(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(with_phase(gateway_auth_config, "phase1"))
    token = legacy_token("keep-1", "k@example.com", "user", secret=legacy_secret)
    assert get(gateway, "/api/x", {"Authorization": f"Bearer {token}"}).status_code == 200
    failures_before = gateway.metrics().get("authgate_config_reload_failures_total", 0)
    reloads_before = gateway.metrics().get("authgate_config_reloads_total", 0)

    # Phase 4 (would refuse the legacy token), but with a bad value next to it.
    broken = with_phase(gateway_auth_config, "phase4")
    broken["rate_limits"] = {"ip_burst": -3}
    gateway.write_config(broken)
    response = gateway.admin_reload()
    assert response.status_code == 422, f"broken config: want 422, got {response.status_code} {response.text}"
    body = response.json()
    assert body["error"] == "invalid_config", body
    assert body["issues"] and all({"key", "reason"} <= set(i) for i in body["issues"]), body
    assert any("ip_burst" in issue["key"] for issue in body["issues"]), f"issue should name rate_limits.ip_burst: {body}"

    # Not YAML at all.
    gateway.config_path.write_text("auth: [unterminated\n")
    response = gateway.admin_reload()
    assert response.status_code == 422, f"unparsable config: want 422, got {response.status_code} {response.text}"

    # The old config (phase 1) is still in force.
    assert get(gateway, "/api/x", {"Authorization": f"Bearer {token}"}).status_code == 200, "old config not kept"
    assert flags(gateway)["phase"] == "infrastructure"
    metrics = gateway.metrics()
    assert metrics.get("authgate_config_reload_failures_total", 0) == failures_before + 2, metrics.get("authgate_config_reload_failures_total")
    assert metrics.get("authgate_config_reloads_total", 0) == reloads_before


@pytest.mark.timeout(60)
def test_file_change_reload_without_signal_or_admin_call(authgate, gateway_auth_config, legacy_secret):
    config = with_phase(gateway_auth_config, "phase1")
    config["reload"] = {"watch_file": True, "watch_interval_ms": 200}
    gateway = authgate(config)
    token = legacy_token("watch-1", "w@example.com", "user", secret=legacy_secret)
    assert get(gateway, "/api/x", {"Authorization": f"Bearer {token}"}).status_code == 200
    reloads_before = gateway.metrics().get("authgate_config_reloads_total", 0)

    time.sleep(0.3)  # a different mtime second is not needed, but keep the write clearly later
    phase4 = with_phase(gateway_auth_config, "phase4")
    phase4["reload"] = config["reload"]
    gateway.write_config(phase4)
    start = time.monotonic()
    status = 200
    while time.monotonic() - start < 2.0:
        status = get(gateway, "/api/x", {"Authorization": f"Bearer {token}"}).status_code
        if status == 401:
            break
        time.sleep(0.05)
    assert status == 401, "phase 4 written to the file was not applied within 2 s (legacy token still accepted)"
    assert gateway.metrics().get("authgate_config_reloads_total", 0) >= reloads_before + 1


def test_file_watching_off_keeps_the_running_config(authgate, gateway_auth_config, legacy_secret):
    config = with_phase(gateway_auth_config, "phase1")
    config["reload"] = {"watch_file": False, "watch_interval_ms": 200}
    gateway = authgate(config)
    token = legacy_token("nowatch-1", "w@example.com", "user", secret=legacy_secret)
    phase4 = with_phase(gateway_auth_config, "phase4")
    phase4["reload"] = config["reload"]
    gateway.write_config(phase4)
    time.sleep(1.0)
    assert get(gateway, "/api/x", {"Authorization": f"Bearer {token}"}).status_code == 200, (
        "reload.watch_file false: a file change alone must not reload"
    )
    assert gateway.admin_reload().status_code == 200
    assert get(gateway, "/api/x", {"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.timeout(60)
def test_credentials_refused_by_the_phase_do_not_lock_out_the_ip(authgate, gateway_auth_config, auth_server, legacy_secret):
    """Assumption (not in the spec): the lockout is for forged/invalid credentials. A valid
    legacy token that phase 4 no longer accepts is not an attack; if it counted, a flip to
    phase 4 would lock every client with a stale legacy token (and everyone behind the same
    NAT) out for lockout.window_ms, Better Auth session included."""
    config = with_phase(gateway_auth_config, "phase4")
    config["lockout"] = {"enabled": True, "max_failures": 5, "window_ms": 60000}
    gateway = authgate(config)
    user = make_user(auth_server, "stale")
    stale = {"Authorization": f"Bearer {legacy_token('stale-1', 's@example.com', 'user', secret=legacy_secret)}"}
    statuses = [get(gateway, "/api/x", stale).status_code for _ in range(8)]
    assert statuses == [401] * 8, f"a valid legacy token in phase 4: want 401 every time (not locked_out): {statuses}"
    after = get(gateway, "/api/x", {"Cookie": user.cookie})
    assert after.status_code == 200, f"the user's Better Auth session after stale legacy attempts: {after.status_code} {after.text}"


# --- route overrides --------------------------------------------------------------------------


def test_route_flag_overrides_and_better_auth_only(authgate, gateway_auth_config, auth_server, legacy_secret):
    config = with_phase(gateway_auth_config, "phase1")
    config["routes"] = [
        {"path": "/api/public/", "access": "public"},
        {"path": "/api/v2/", "access": "authenticated", "enable_dual_auth": False, "prefer_better_auth": True},
        {"path": "/api/admin/", "access": "better_auth_only"},
        {"path": "/api/legacy-only", "enable_dual_auth": False, "prefer_better_auth": False},
    ]
    gateway = authgate(config)
    user = make_user(auth_server, "override")
    legacy = {"Authorization": f"Bearer {legacy_token('ovr-1', 'o@example.com', 'user', secret=legacy_secret)}"}
    cookie = {"Cookie": user.cookie}

    assert get(gateway, "/api/orders", legacy).status_code == 200, "phase 1 default route accepts legacy"
    for path in ("/api/v2/orders", "/api/admin/users"):
        response = get(gateway, path, legacy)
        assert response.status_code == 401, f"{path} must refuse a legacy token: {response.status_code} {response.text}"
        ok = get(gateway, path, cookie)
        assert ok.status_code == 200, f"{path} with a Better Auth cookie: {ok.status_code} {ok.text}"
        assert ok.json()["headers"]["x-auth-method"] == "better-auth"
    assert get(gateway, "/api/legacy-only", legacy).status_code == 200
    assert get(gateway, "/api/legacy-only", cookie).status_code == 401, "route in rollback mode must refuse Better Auth"

    # better_auth_only holds whatever the global flags say, rollback included.
    rollback = with_phase(config, "rollback")
    gateway.apply(rollback)
    assert get(gateway, "/api/admin/users", legacy).status_code == 401
    assert get(gateway, "/api/admin/users", cookie).status_code == 200
    assert get(gateway, "/api/orders", cookie).status_code == 401


# --- flags endpoint and cohorts ---------------------------------------------------------------


@pytest.mark.timeout(120)
def test_flags_cohorts_follow_the_stable_hash(authgate, gateway_auth_config, legacy_secret):
    config = with_phase(gateway_auth_config, "phase2", better_auth_rollout_percent=30)
    config["rate_limits"] = {"enabled": False}
    gateway = authgate(config)
    session = requests.Session()
    mismatches = []
    in_cohort = 0
    for i in range(200):
        sub = f"user-{i}"
        token = legacy_token(sub, f"{sub}@example.com", "user", secret=legacy_secret)
        answer = session.get(
            f"{gateway.url}/api/auth-proxy/flags", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        ).json()
        assert "rollout_percent" in answer, f"not the gateway's flags answer: {str(answer)[:300]}"
        bucket = rollout_bucket(sub)
        cohort = "better-auth" if bucket < 30 else "legacy"
        in_cohort += cohort == "better-auth"
        got = (answer.get("authenticated"), answer.get("bucket"), answer.get("cohort"), answer.get("enable_better_auth"))
        want = (True, bucket, cohort, cohort == "better-auth")
        if got != want:
            mismatches.append(f"{sub}: (authenticated, bucket, cohort, enable_better_auth) = {got}, want {want}")
    assert not mismatches, f"{len(mismatches)} of 200 differ:\n" + "\n".join(mismatches[:20])
    assert 40 <= in_cohort <= 80, f"{in_cohort}/200 in the cohort at 30 %"
    anonymous = flags(gateway)
    assert anonymous["rollout_percent"] == 30
    assert anonymous["authenticated"] is False
    assert anonymous["cohort"] is None and anonymous["bucket"] is None, anonymous
    assert anonymous["enable_better_auth"] is False, anonymous
    assert anonymous["phase"] == "beta"
    assert anonymous["enable_dual_auth"] is True and anonymous["prefer_better_auth"] is True

    # 100 %: everybody, anonymous included.
    gateway.apply(with_phase(gateway_auth_config, "phase2", better_auth_rollout_percent=100))
    assert flags(gateway)["enable_better_auth"] is True
    # Rollback: nobody, whatever the percentage.
    gateway.apply(with_phase(gateway_auth_config, "rollback", better_auth_rollout_percent=100))
    token = legacy_token("user-0", "u0@example.com", "user", secret=legacy_secret)
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        answer = flags(gateway, headers)
        assert answer["phase"] == "rollback"
        assert answer["enable_better_auth"] is False, f"rollback must disable Better Auth for everybody: {answer}"


def test_flags_never_point_a_client_at_a_system_the_phase_refuses(
    authgate, gateway_auth_config, auth_server, legacy_secret, tmp_path
):
    # Phase 4 below 100 %: legacy is refused, so every client is told Better Auth.
    gateway = authgate(with_phase(gateway_auth_config, "phase4", better_auth_rollout_percent=30))
    out_sub = next(f"user-{i}" for i in range(1000) if rollout_bucket(f"user-{i}") >= 30)
    legacy = legacy_token(out_sub, f"{out_sub}@example.com", "user", secret=legacy_secret)
    assert get(gateway, "/api/orders", {"Authorization": f"Bearer {legacy}"}).status_code == 401
    for headers in ({}, {"Authorization": f"Bearer {legacy}"}):
        answer = flags(gateway, headers)
        assert answer["phase"] == "complete"
        assert answer["enable_better_auth"] is True, f"phase 4 refuses legacy; the flags said legacy: {answer}"
    user = make_user(auth_server, "phase4-flags")
    assert flags(gateway, {"Cookie": user.cookie})["enable_better_auth"] is True

    # Phase 1 at the default 100 %: Better Auth is only infrastructure; nobody is sent to it.
    phase1 = with_phase(gateway_auth_config, "phase1")
    phase1.get("rollout", {}).pop("better_auth_rollout_percent", None)
    gateway.apply(phase1)
    in_sub = next(f"user-{i}" for i in range(1000) if rollout_bucket(f"user-{i}") < 30)
    token = legacy_token(in_sub, f"{in_sub}@example.com", "user", secret=legacy_secret)
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        answer = flags(gateway, headers)
        assert answer["phase"] == "infrastructure"
        assert answer["rollout_percent"] == 100
        assert answer["enable_better_auth"] is False, f"phase 1 sends nobody to Better Auth: {answer}"

    # check-config says so, and still accepts the file.
    contradictory = tmp_path / "phase4-at-30.conf"
    contradictory.write_text(yaml.safe_dump(with_phase(gateway_auth_config, "phase4", better_auth_rollout_percent=30)))
    checked = subprocess.run(
        [str(authgate_binary()), "check-config", str(contradictory)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "warning: rollout.better_auth_rollout_percent is 30" in checked.stderr, checked.stderr
    assert "phase 4" in checked.stderr
    consistent = tmp_path / "phase2-at-30.conf"
    consistent.write_text(yaml.safe_dump(with_phase(gateway_auth_config, "phase2", better_auth_rollout_percent=30)))
    checked = subprocess.run(
        [str(authgate_binary()), "check-config", str(consistent)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and "warning" not in checked.stderr, checked.stdout + checked.stderr


def test_flags_oauth_and_migration_banner(authgate, gateway_auth_config, auth_server, legacy_secret):
    in_sub = next(f"user-{i}" for i in range(1000) if rollout_bucket(f"user-{i}") < 30)
    out_sub = next(f"user-{i}" for i in range(1000) if rollout_bucket(f"user-{i}") >= 30)
    rollout = {"better_auth_rollout_percent": 30, "enable_oauth": True, "show_migration_banner": True}
    gateway = authgate(with_phase(gateway_auth_config, "phase2", **rollout))

    def legacy_flags(sub: str) -> dict:
        token = legacy_token(sub, f"{sub}@example.com", "user", secret=legacy_secret)
        return flags(gateway, {"Authorization": f"Bearer {token}"})

    inside = legacy_flags(in_sub)
    assert (inside["enable_better_auth"], inside["enable_oauth"], inside["show_migration_banner"]) == (True, True, True), inside
    outside = legacy_flags(out_sub)
    assert (outside["enable_better_auth"], outside["enable_oauth"], outside["show_migration_banner"]) == (False, False, False), outside

    # A Better Auth user (100 %: surely in the cohort) needs no banner any more.
    gateway.apply(with_phase(gateway_auth_config, "phase2", **{**rollout, "better_auth_rollout_percent": 100}))
    user = make_user(auth_server, "banner")
    ba = flags(gateway, {"Cookie": user.cookie})
    assert ba["authenticated"] is True and ba["cohort"] == "better-auth", ba
    assert ba["bucket"] == rollout_bucket(user.user_id), ba
    assert ba["enable_oauth"] is True
    assert ba["show_migration_banner"] is False, f"already on Better Auth: no banner: {ba}"

    # Switched off in the file: off in the answer.
    gateway.apply(with_phase(gateway_auth_config, "phase2", better_auth_rollout_percent=100))
    off = legacy_flags(in_sub)
    assert off["enable_oauth"] is False and off["show_migration_banner"] is False, off


def test_rollout_percent_from_the_environment(authgate, gateway_auth_config):
    gateway = authgate(
        with_phase(gateway_auth_config, "phase2", better_auth_rollout_percent=100),
        env={"BETTER_AUTH_ROLLOUT_PERCENT": "30"},
    )
    answer = flags(gateway)
    assert answer["rollout_percent"] == 30, f"BETTER_AUTH_ROLLOUT_PERCENT overrides the file: {answer}"
    assert answer["enable_better_auth"] is False


# --- migration_status -------------------------------------------------------------------------


@pytest.fixture
def legacy_users(postgres):
    postgres.sql("CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY, migration_status text)")
    tag = uuid.uuid4().hex[:8]
    migrated, pending = f"migrated-{tag}", f"pending-{tag}"
    postgres.sql("INSERT INTO users (id, migration_status) VALUES (%s, 'migrated'), (%s, 'pending')", migrated, pending)
    return migrated, pending


def test_migrated_users_legacy_tokens_refused_or_recorded(authgate, gateway_auth_config, legacy_users, legacy_secret, postgres):
    migrated, pending = legacy_users

    def call(gateway, sub: str) -> requests.Response:
        token = legacy_token(sub, f"{sub}@example.com", "user", secret=legacy_secret)
        return get(gateway, "/api/me", {"Authorization": f"Bearer {token}"})

    refuse = authgate(with_phase(gateway_auth_config, "phase2", migration_policy="refuse", migration_status_ttl_ms=0))
    response = call(refuse, migrated)
    assert response.status_code == 401, f"refuse: migrated user's legacy token: {response.status_code} {response.text}"
    body = response.json()
    assert "user_migrated" in (body.get("error"), body.get("reason"), body.get("code")), body
    ok = call(refuse, pending)
    assert ok.status_code == 200, f"refuse: pending user: {ok.status_code} {ok.text}"
    assert refuse.metrics().get('authgate_migrated_legacy_tokens_total{action="refused"}', 0) >= 1
    # migration_status_ttl_ms 0: the batch tool migrating a user takes effect at once.
    postgres.sql("UPDATE users SET migration_status = 'migrated' WHERE id = %s", pending)
    late = call(refuse, pending)
    assert late.status_code == 401, f"user migrated while the gateway runs (ttl 0): {late.status_code} {late.text[:200]}"
    postgres.sql("UPDATE users SET migration_status = 'pending' WHERE id = %s", pending)

    record = authgate(with_phase(gateway_auth_config, "phase2", migration_policy="record"))
    before = record.metrics().get('authgate_migrated_legacy_tokens_total{action="recorded"}', 0)
    passed = call(record, migrated)
    assert passed.status_code == 200, f"record: migrated user passes: {passed.status_code} {passed.text}"
    assert passed.json()["headers"]["x-auth-user-id"] == migrated
    assert call(record, pending).status_code == 200
    after = record.metrics().get('authgate_migrated_legacy_tokens_total{action="recorded"}', 0)
    assert after >= before + 1, f"recorded counter {before} -> {after}"
