"""Phase flips under load: wrk keeps 16 keep-alive connections busy with requests that carry
BOTH a legacy token and a Better Auth session cookie while the config is reloaded 20 times,
alternating phase 1 (legacy first → forwarded as legacy) and phase 2 (Better Auth first →
better-auth). No request may fail, and every access-log line's auth_method must match the
phase of the config generation that accepted it."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import threading
import time

import pytest

from helpers import legacy_token, make_user

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

RELOADS = 20


def phase_config(config: dict, phase: int) -> dict:
    out = copy.deepcopy(config)
    out["auth"]["enable_dual_auth"] = True
    out["auth"]["prefer_better_auth"] = phase == 2
    return out


@pytest.mark.timeout(120)
def test_twenty_phase_flips_under_wrk_load(authgate, gateway_auth_config, auth_server, legacy_secret, tmp_path):
    wrk = shutil.which("wrk")
    assert wrk, "wrk is not installed: run scripts/install-test-deps.sh (apt-get install -y wrk)"
    config = copy.deepcopy(gateway_auth_config)
    config["logging"] = {"level": "info", "format": "json", "access_log": True}
    config["rate_limits"] = {"enabled": False}  # one user, one IP, thousands of requests
    config["reload"] = {"watch_file": False}  # only the admin reloads below, counted exactly
    gateway = authgate(phase_config(config, 1))

    user = make_user(auth_server, "load")
    token = legacy_token("load-legacy", "load@example.com", "user", secret=legacy_secret)
    # Warm the identity cache for both credentials, and learn the current generation.
    phase_of = {gateway.apply(phase_config(config, 1)): 1}
    reloads_before = gateway.metrics().get("authgate_config_reloads_total", 0)
    log_start = len(gateway.log)

    script = tmp_path / "report.lua"
    script.write_text(WRK_SCRIPT)
    cmd = [
        wrk, "-t2", "-c16", "-d15s", "--timeout", "10s", "-s", str(script),
        "-H", f"Authorization: Bearer {token}",
        "-H", f"Cookie: {user.cookie}",
        f"{gateway.url}/api/load",
    ]  # fmt: skip
    result: dict = {}

    def run_wrk() -> None:
        result["proc"] = subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    runner = threading.Thread(target=run_wrk)
    runner.start()
    time.sleep(1.5)  # let the load settle
    reload_errors = []
    for i in range(RELOADS):
        phase = 2 if i % 2 == 0 else 1
        gateway.write_config(phase_config(config, phase))
        response = gateway.admin_reload()
        if response.status_code != 200:
            reload_errors.append(f"reload {i}: {response.status_code} {response.text}")
        else:
            phase_of[int(response.json()["generation"])] = phase
        time.sleep(0.55)
    runner.join(timeout=60)
    assert not reload_errors, reload_errors

    proc = result["proc"]
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"wrk failed ({proc.returncode}):\n{output}"
    lines = [line for line in output.splitlines() if line.startswith("WRK_RESULT ")]
    assert lines, f"no WRK_RESULT line in the wrk output:\n{output}"
    wrk_result = json.loads(lines[-1][len("WRK_RESULT "):])
    assert wrk_result["requests"] > 500, f"too little load to mean anything: {wrk_result}\n{output}"
    socket_errors = {k: wrk_result[k] for k in ("connect", "read", "write", "timeout")}
    assert wrk_result["status"] == 0, f"{wrk_result['status']} non-2xx/3xx responses during reloads:\n{output}"
    assert not any(socket_errors.values()), f"socket errors during reloads: {socket_errors}\n{output}"

    reloads = gateway.metrics().get("authgate_config_reloads_total", 0) - reloads_before
    assert reloads == RELOADS, f"authgate_config_reloads_total rose by {reloads}, want {RELOADS}"
    assert len(phase_of) == RELOADS + 1, f"generations not distinct: {phase_of}"

    # Every access line: the method its generation's phase prescribes.
    want = {1: "legacy", 2: "better-auth"}
    seen_methods: dict[str, int] = {}
    mismatches, unknown_generation, non_200, parsed = [], [], [], 0
    for raw in gateway.log[log_start:].splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if entry.get("msg") != "request" or entry.get("path") != "/api/load":
            continue
        parsed += 1
        for key in ("request_id", "status", "auth_method", "config_generation"):
            assert key in entry, f"access log line without {key}: {raw}"
        generation = int(entry["config_generation"])
        method = entry["auth_method"]
        seen_methods[method] = seen_methods.get(method, 0) + 1
        if str(entry["status"]) != "200":
            non_200.append(raw)
        if generation not in phase_of:
            unknown_generation.append(raw)
        elif method != want[phase_of[generation]]:
            mismatches.append(f"generation {generation} (phase {phase_of[generation]}): {raw}")
    assert parsed >= wrk_result["requests"] * 0.9, (
        f"only {parsed} access lines for {wrk_result['requests']} requests (logging.access_log: true)"
    )
    assert not non_200, f"{len(non_200)} access lines not 200, e.g. {non_200[:3]}"
    assert not unknown_generation, f"{len(unknown_generation)} lines of an unknown generation, e.g. {unknown_generation[:3]}"
    assert not mismatches, f"{len(mismatches)} of {parsed} requests used the other phase's method, e.g.:\n" + "\n".join(mismatches[:5])
    print(f"wrk {wrk_result}, access lines {parsed}, methods {seen_methods}, generations {len(phase_of)}")
    assert set(seen_methods) == {"legacy", "better-auth"}, f"both methods must be seen: {seen_methods}"
