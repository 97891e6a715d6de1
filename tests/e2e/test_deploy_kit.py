"""The deploy kit's monitoring and service files: Prometheus alert rules (promtool check and
unit tests), the example scrape config, the Grafana dashboard, and the systemd unit; every
metric the alerts and the dashboard use is checked against the spec and against a live
gateway's /metrics.

promtool is required (Debian package ``prometheus``, installed by
scripts/install-test-deps.sh): a missing promtool fails, it does not skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from conftest import REPO_ROOT, authgate_binary
from helpers import legacy_token

DEPLOY = REPO_ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "authgate-alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "authgate-alerts.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "authgate-dashboard.json"
UNIT = DEPLOY / "systemd" / "authgate.service"
README = REPO_ROOT / "README.md"

#: The metrics the gateway exposes on the admin listener (the contract the alerts and the
#: dashboard are written against): name -> (type, labels every sample carries).
SPEC_METRICS: dict[str, tuple[str, set[str]]] = {
    "better_auth_attempts_total": ("counter", {"auth_method"}),
    "better_auth_success_total": ("counter", {"auth_method"}),
    "better_auth_failures_total": ("counter", {"auth_method", "reason"}),
    "better_auth_token_validations_total": ("counter", {"auth_method", "outcome"}),
    "better_auth_token_cache_hits_total": ("counter", {"auth_method"}),
    "better_auth_active_sessions": ("gauge", set()),
    "better_auth_token_validation_seconds": ("histogram", set()),
    "authgate_http_requests_total": ("counter", {"route_class", "status_class"}),
    "authgate_upstream_latency_seconds": ("histogram", set()),
    "authgate_rate_limited_requests_total": ("counter", {"cause"}),
    "authgate_config_reloads_total": ("counter", set()),
    "authgate_config_reload_failures_total": ("counter", set()),
    "authgate_audit_queue_depth": ("gauge", set()),
    "authgate_audit_events_spilled_total": ("counter", set()),
    "authgate_audit_events_replayed_total": ("counter", set()),
    "authgate_audit_events_written_total": ("counter", set()),
    "authgate_open_connections": ("gauge", set()),
    "authgate_active_tunnels": ("gauge", set()),
}
#: Series Prometheus makes itself, not the gateway.
PROMETHEUS_SERIES = {"up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

EXPECTED_ALERTS = {
    "AuthGateAuthFailuresHigh",
    "AuthGateAuthSuccessRateLow",
    "AuthGateTokenValidationP95High",
    "AuthGateCacheHitRateLow",
    "AuthGateCacheHitRateCritical",
    "AuthGateErrorRateHigh",
    "AuthGateActiveSessionsDrop",
    "AuthGateConfigReloadFailed",
    "AuthGateAuditSpilling",
    "AuthGateDown",
}

#: The rollout guide's alert levels: alert -> (regex the squashed expr must match, `for`,
#: severity). The regexes end in (?![0-9]) so that 0.9 does not pass for 0.95.
GUIDE_ALERT_LEVELS: dict[str, tuple[str, str, str]] = {
    "AuthGateAuthFailuresHigh": (
        r"^sum by \(job, instance\) \(rate\(better_auth_failures_total\[5m\]\)\) > 0\.1(?![0-9])\s*$", "5m", "warning",
    ),
    "AuthGateAuthSuccessRateLow": (r"\) < 0\.9(?![0-9])", "5m", "critical"),
    "AuthGateTokenValidationP95High": (
        r"^histogram_quantile\(0\.95, sum by \(job, instance, le\) \(rate\(better_auth_token_validation_seconds_bucket\[5m\]\)\) \) > 0\.2(?![0-9])\s*$",
        "5m", "warning",
    ),
    "AuthGateCacheHitRateLow": (r"\) < 0\.8(?![0-9])", "10m", "warning"),
    "AuthGateCacheHitRateCritical": (r"\) < 0\.7(?![0-9])", "10m", "critical"),
    "AuthGateErrorRateHigh": (r"\) > 0\.05(?![0-9])", "5m", "critical"),
    "AuthGateActiveSessionsDrop": (
        r"better_auth_active_sessions < 0\.8 \* max_over_time\(better_auth_active_sessions\[1h\]\)", "10m", "warning",
    ),
}

#: The rollout guide's targets, shown as thresholds on the dashboard: (panel type, title) ->
#: (target, alert level, True when higher is better). The stat panels colour the value, the time
#: series draw the thresholds as lines.
DASHBOARD_TARGETS: dict[tuple[str, str], tuple[float, float, bool]] = {
    ("stat", "Auth success rate"): (0.95, 0.90, True),
    ("stat", "Token validation p95"): (0.1, 0.2, False),
    ("stat", "Cache hit rate"): (0.8, 0.7, True),
    ("stat", "5xx share"): (0.01, 0.05, False),
    ("timeseries", "Auth success rate by method"): (0.95, 0.90, True),
    ("timeseries", "Token validation latency"): (0.1, 0.2, False),
    ("timeseries", "Cache hit rate"): (0.8, 0.7, True),
}



# --- helpers ----------------------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool not found: run scripts/install-test-deps.sh (Debian package prometheus)")
    return path


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) for every query of every panel (rows' nested panels included)."""
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                out.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard()["panels"])
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers of our families (and ``up``) that are
    not label names (inside ``{…}`` or ``by (…)``)."""
    without_matchers = re.sub(r"\{[^}]*\}", "{}", expr)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_matchers)
    return set(re.findall(r"\b((?:better_auth|authgate|config)_[a-z0-9_]+|up)\b", without_groupings))


def base_name(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in SPEC_METRICS:
            if SPEC_METRICS[name[: -len(suffix)]][0] == "histogram":
                return name[: -len(suffix)]
    return name


def all_exprs() -> list[tuple[str, str]]:
    return [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()] + [
        (f"panel {title!r}", expr) for title, expr in dashboard_exprs()
    ] + [
        ("dashboard annotation", a["expr"]) for a in dashboard()["annotations"]["list"] if "expr" in a
    ]


def used_metric_names() -> set[str]:
    names: set[str] = set()
    for _where, expr in all_exprs():
        names |= metric_names(expr)
    return names


# --- Prometheus -------------------------------------------------------------------------------


def test_promtool_check_rules_accepts_the_alert_rules():
    result = run([promtool(), "check", "rules", str(ALERTS)])
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}{result.stderr}"
    assert f"{len(EXPECTED_ALERTS)} rules found" in result.stdout, result.stdout


def test_promtool_unit_tests_of_the_alert_rules_pass():
    result = run([promtool(), "test", "rules", str(ALERT_TESTS)], cwd=ALERT_TESTS.parent)
    assert result.returncode == 0, f"promtool test rules:\n{result.stdout}{result.stderr}"
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_is_unit_tested_firing_and_quiet():
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert EXPECTED_ALERTS <= firing, f"alerts never shown firing: {sorted(EXPECTED_ALERTS - firing)}"
    assert EXPECTED_ALERTS <= quiet, f"alerts never shown quiet: {sorted(EXPECTED_ALERTS - quiet)}"


def test_promtool_check_config_accepts_the_example_scrape_config():
    result = run([promtool(), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, f"promtool check config:\n{result.stdout}{result.stderr}"
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert "authgate" in jobs, f"no authgate job (AuthGateDown matches up{{job=\"authgate\"}}): {list(jobs)}"
    targets = [t for sc in jobs["authgate"]["static_configs"] for t in sc["targets"]]
    assert "127.0.0.1:9090" in targets, f"the admin listener's default address is not scraped: {targets}"
    assert jobs["authgate"].get("metrics_path", "/metrics") == "/metrics"


def test_alerts_carry_a_duration_severity_and_runbook():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == EXPECTED_ALERTS, f"alerts: {sorted(rules)}"
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert [g["name"] for g in groups] == ["authgate"], groups
    for name, rule in rules.items():
        assert "for" in rule, f"{name} has no `for:`"
        assert rule.get("labels", {}).get("severity") in {"critical", "warning"}, f"{name}: severity {rule.get('labels')}"
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key), f"{name} lacks annotation {key}"
        assert annotations["runbook_url"].endswith("#" + name.lower()), (
            f"{name}: runbook_url {annotations['runbook_url']!r} should end with #{name.lower()}"
        )
    squash = {name: re.sub(r"\s+", " ", rule["expr"]).strip() for name, rule in rules.items()}
    assert 'status_class="5xx"' in squash["AuthGateErrorRateHigh"]


@pytest.mark.parametrize("name", sorted(GUIDE_ALERT_LEVELS))
def test_alerts_fire_at_the_rollout_guides_alert_levels(name):
    """Each alert of the guide at the guide's level, duration and severity (not at its targets)."""
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert name in rules, f"no alert {name}: {sorted(rules)}"
    pattern, duration, severity = GUIDE_ALERT_LEVELS[name]
    squashed = re.sub(r"\s+", " ", rules[name]["expr"]).replace("( ", "(").strip()
    assert re.search(pattern, squashed), f"{name}: expr {squashed!r} does not match the guide's level {pattern!r}"
    assert rules[name]["for"] == duration, f"{name}: for {rules[name]['for']!r}, the guide says {duration}"
    assert rules[name]["labels"]["severity"] == severity, f"{name}: severity {rules[name]['labels']}"


def test_guards_of_the_rate_and_session_alerts_are_kept():
    rules = {rule["alert"]: re.sub(r"\s+", " ", rule["expr"]) for rule in alert_rules()}
    for name in ("AuthGateCacheHitRateLow", "AuthGateCacheHitRateCritical"):
        assert re.search(r"\) > 0\.5\s*$", rules[name]), f"{name} lost its volume floor: {rules[name]}"
    sessions = rules["AuthGateActiveSessionsDrop"]
    assert re.search(r"max_over_time\(better_auth_active_sessions\[1h\]\) >= [0-9]+", sessions), sessions
    assert "unless on (job, instance) sum by (job, instance) (resets(authgate_http_requests_total[1h])) > 0" in sessions, sessions
    assert "sum by (job, instance) (rate(better_auth_attempts_total" in rules["AuthGateAuthSuccessRateLow"]


def test_the_success_rate_is_a_ratio_of_same_labelled_sums():
    """successes / attempts with the same grouping and the same label matchers on both sides, so
    the ratio stays within 0-1 whatever auth_method means on the two counters."""
    expr = re.sub(r"\s+", " ", {r["alert"]: r["expr"] for r in alert_rules()}["AuthGateAuthSuccessRateLow"])
    selector = r"sum by \(([^)]*)\) \(rate\({}(\{{[^}}]*\}})?\[([0-9]+m)\]\)\)"
    successes = re.findall(selector.format("better_auth_success_total"), expr)
    attempts = re.findall(selector.format("better_auth_attempts_total"), expr)
    assert len(successes) == 1 and attempts, f"{expr!r}"
    assert successes[0] == attempts[0], f"numerator {successes[0]} and denominator {attempts[0]} differ"
    assert re.search(r"better_auth_success_total.*\) / sum by", expr), expr


def test_every_alert_has_a_runbook_entry_in_the_readme():
    """The runbook_url anchors must exist: a heading per alert in README.md's Operations."""
    headings = {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in README.read_text().splitlines()
        if line.startswith("#")
    }
    missing = sorted(a for a in EXPECTED_ALERTS if a.lower() not in headings)
    assert not missing, f"README.md has no runbook heading for: {missing}"


#: What each runbook entry must state: the guide's alert level of that alert.
README_ALERT_LEVELS = {
    "AuthGateAuthFailuresHigh": "0.1",
    "AuthGateAuthSuccessRateLow": "90 %",
    "AuthGateTokenValidationP95High": "200 ms",
    "AuthGateCacheHitRateLow": "80 %",
    "AuthGateCacheHitRateCritical": "70 %",
    "AuthGateErrorRateHigh": "5 %",
    "AuthGateActiveSessionsDrop": "20 %",
}


def test_the_readme_runbook_states_the_guides_alert_levels_and_the_dashboard_targets():
    text = README.read_text()
    sections = re.split(r"^#### ", text, flags=re.M)
    entries = {section.split("\n", 1)[0].strip(): section.split("\n", 1)[1].split("\n#", 1)[0] for section in sections[1:]}
    for name, level in README_ALERT_LEVELS.items():
        assert name in entries, f"README.md has no runbook entry #### {name}"
        body = re.sub(r"\s+", " ", entries[name])
        assert level in body, f"the runbook entry of {name} does not state the guide's alert level {level}: {body[:300]!r}"
    alerts = re.sub(r"\s+", " ", text.split("\n### Alerts\n", 1)[1].split("\n#### ", 1)[0])
    assert "alert levels" in alerts and "targets" in alerts, f"the Alerts intro does not tell levels from targets: {alerts!r}"
    for target in ("95 %", "100 ms", "80 %", "1 %"):
        assert target in alerts, f"the Alerts intro does not name the dashboard target {target}: {alerts!r}"


# --- the metric names ---------------------------------------------------------------------------


def test_alerts_and_dashboard_use_only_specified_metrics():
    unknown: dict[str, list[str]] = {}
    for where, expr in all_exprs():
        for name in metric_names(expr):
            base = base_name(name)
            if base in PROMETHEUS_SERIES:
                continue
            if base not in SPEC_METRICS:
                unknown.setdefault(name, []).append(where)
            elif name != base and SPEC_METRICS[base][0] != "histogram":
                unknown.setdefault(name, []).append(where)
    assert not unknown, f"metric names outside the gateway's metric list: {unknown}"


def test_promql_of_the_dashboard_parses():
    """Every dashboard query, with Grafana's variables filled in, as a recording rule through
    promtool's PromQL parser."""
    rules = []
    for index, (title, expr) in enumerate(dashboard_exprs()):
        concrete = expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
        rules.append({"record": f"dashboard:panel_{index}", "expr": concrete})
    path = Path(__import__("tempfile").mkdtemp()) / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool(), "check", "rules", str(path)])
    assert result.returncode == 0, f"dashboard PromQL does not parse:\n{result.stdout}{result.stderr}"


def _exposition(gateway) -> tuple[set[str], dict[str, list[set[str]]]]:
    """(metric family and sample names, labels of each sample by sample name)."""
    text = requests.get(f"{gateway.admin_url}/metrics", timeout=15).text
    names: set[str] = set()
    labels: dict[str, list[set[str]]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            names.add(parts[2])
            if len(parts) > 3 and parts[3] == "histogram":
                names |= {parts[2] + s for s in HISTOGRAM_SUFFIXES}
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
            if match:
                names.add(match.group(1))
                keys = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(3) or ""))
                labels.setdefault(match.group(1), []).append(keys)
    return names, labels


def test_a_live_gateway_exposes_every_metric_the_alerts_and_dashboard_use(authgate, gateway_auth_config, legacy_secret):
    gateway = authgate(gateway_auth_config)
    token = legacy_token("metrics-user", "m@example.com", "user", secret=legacy_secret)
    for _ in range(3):  # a validation, then cache hits
        assert requests.get(f"{gateway.url}/api/x", headers={"Authorization": f"Bearer {token}"}, timeout=15).status_code == 200
    assert requests.get(f"{gateway.url}/api/x", timeout=15).status_code == 401
    assert requests.get(f"{gateway.url}/api/x", headers={"Authorization": "Bearer nope.nope.nope"}, timeout=15).status_code == 401
    assert gateway.admin_reload().status_code == 200

    exposed, labels = _exposition(gateway)
    needed = {name for name in used_metric_names() if base_name(name) not in PROMETHEUS_SERIES}
    # Histograms: the dashboard and alerts use _bucket (and _sum/_count); all three must be there.
    for name in list(needed):
        base = base_name(name)
        if SPEC_METRICS.get(base, ("",))[0] == "histogram":
            needed |= {base + s for s in HISTOGRAM_SUFFIXES}
            needed.discard(base)
    missing = sorted(needed - exposed)
    assert not missing, f"/metrics of the gateway lacks metrics the alerts/dashboard use: {missing}"

    wrong_labels = {}
    for name, (kind, required) in SPEC_METRICS.items():
        if kind == "histogram" or not required:
            continue
        for keys in labels.get(name, []):
            if not required <= keys:
                wrong_labels[name] = f"sample labels {sorted(keys)}, expected {sorted(required)}"
                break
    assert not wrong_labels, f"metrics without the labels the alerts/dashboard group by: {wrong_labels}"
    for name in ("better_auth_attempts_total", "authgate_http_requests_total"):
        assert labels.get(name), f"{name} has no samples after authenticated requests"


# --- Grafana ------------------------------------------------------------------------------------


def test_the_dashboard_is_importable_and_covers_the_rollout_metrics():
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41, board["schemaVersion"]
    assert board["uid"] and board["title"], "dashboard needs uid and title"
    inputs = {i["name"] for i in board.get("__inputs", [])}
    assert "DS_PROMETHEUS" in inputs, f"no DS_PROMETHEUS input for import: {inputs}"
    panels = []

    def walk(items):
        for item in items:
            panels.append(item)
            walk(item.get("panels", []))

    walk(board["panels"])
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", f"panel {panel['title']!r}: {panel['datasource']}"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    used = {base_name(n) for n in used_metric_names() if n != "up"}
    dashboard_only = set()
    for _title, expr in dashboard_exprs():
        dashboard_only |= {base_name(n) for n in metric_names(expr)}
    missing = sorted(set(SPEC_METRICS) - dashboard_only)
    assert not missing, f"metrics without a dashboard panel: {missing}"
    assert used <= set(SPEC_METRICS)
    exprs = " ".join(expr for _t, expr in dashboard_exprs())
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(better_auth_token_validation_seconds_bucket" in exprs, quantile


def _color_at(steps: list[dict], value: float) -> str:
    """The colour Grafana gives `value` under absolute thresholds: the last step whose value it
    reaches (the first step, value null, is the base)."""
    color = steps[0]["color"]
    for step in steps[1:]:
        if value >= step["value"]:
            color = step["color"]
    return color


def _panels_by_kind_and_title() -> dict[tuple[str, str], list[dict]]:
    found: dict[tuple[str, str], list[dict]] = {}

    def walk(items):
        for item in items:
            found.setdefault((item["type"], item.get("title", "?")), []).append(item)
            walk(item.get("panels", []))

    walk(dashboard()["panels"])
    return found


@pytest.mark.parametrize("kind,title", sorted(DASHBOARD_TARGETS))
def test_dashboard_panels_carry_the_rollout_targets_as_thresholds(kind, title):
    """The guide's targets (success 95 %, validation p95 100 ms, cache hit 80 %, 5xx 1 %) are the
    green boundary of the matching panels; past the guide's alert level the panel is red."""
    target, alert_level, higher_is_better = DASHBOARD_TARGETS[(kind, title)]
    panels = _panels_by_kind_and_title().get((kind, title), [])
    assert len(panels) == 1, f"expected one {kind} panel {title!r}, found {len(panels)}"
    defaults = panels[0]["fieldConfig"]["defaults"]
    thresholds = defaults.get("thresholds")
    assert thresholds and thresholds.get("mode") == "absolute", f"{title!r}: thresholds {thresholds}"
    steps = thresholds["steps"]
    assert steps[0]["value"] is None, f"{title!r}: the first step must be the base (value null): {steps}"
    values = [s["value"] for s in steps[1:]]
    assert all(isinstance(v, (int, float)) for v in values) and values == sorted(values), f"{title!r}: {values}"
    assert any(abs(v - target) < 1e-12 for v in values), f"{title!r}: no threshold at the target {target}: {values}"
    epsilon = 1e-9
    meets, misses = (target, target - epsilon) if higher_is_better else (target - epsilon, target + epsilon)
    past_alert = alert_level - epsilon if higher_is_better else alert_level + epsilon
    assert _color_at(steps, meets) == "green", f"{title!r}: {meets} meets the target {target} but is {_color_at(steps, meets)}"
    assert _color_at(steps, misses) != "green", f"{title!r}: {misses} misses the target {target} but is green"
    assert _color_at(steps, past_alert) == "red", (
        f"{title!r}: {past_alert} is past the alert level {alert_level} but {_color_at(steps, past_alert)}"
    )
    if kind == "timeseries":
        assert defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode") in {"line", "dashed", "line+area", "dashed+area"}, (
            f"{title!r}: the thresholds are not drawn"
        )


# --- systemd ------------------------------------------------------------------------------------


def _unit_entries() -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        assert current, f"{UNIT.name}: {line!r} outside a section"
        sections[current].append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_reloads_with_sighup_and_is_hardened():
    sections = _unit_entries()
    service = sections.get("Service", [])
    values: dict[str, list[str]] = {}
    for key, value in service:
        values.setdefault(key, []).append(value)
    assert "/bin/kill -HUP $MAINPID" in values.get("ExecReload", []), f"ExecReload: {values.get('ExecReload')}"
    assert any("check-config" in v for v in values.get("ExecReload", [])), "reload should check the file first"
    assert any(v.endswith("serve --config /etc/authgate/gateway.conf") for v in values.get("ExecStart", [])), values.get("ExecStart")
    truthy = {"yes", "true", "1", "on"}
    for key in (
        "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID", "LockPersonality",
        "MemoryDenyWriteExecute", "RestrictRealtime",
    ):  # fmt: skip
        assert values.get(key, [""])[-1].lower() in truthy, f"{key} should be yes, is {values.get(key)}"
    assert values.get("ProtectSystem") == ["strict"], values.get("ProtectSystem")
    assert values.get("ProtectHome", [""])[-1] in truthy | {"read-only", "tmpfs"}, values.get("ProtectHome")
    assert values.get("CapabilityBoundingSet") == [""], "the gateway needs no capability"
    assert values.get("User") and values["User"] != ["root"], values.get("User")
    assert values.get("KillSignal", ["SIGTERM"]) == ["SIGTERM"], "SIGTERM drains in-flight requests"
    assert "multi-user.target" in dict(sections.get("Install", [])).get("WantedBy", "")


def test_systemd_analyze_verifies_the_unit_and_rates_it_safe(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed: the unit's keys are checked by the parsing test")
    binary = authgate_binary()
    unit = tmp_path / "authgate.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/authgate", str(binary)))
    result = run([analyze, "verify", "--man=no", str(unit)])
    assert result.returncode == 0 and not result.stderr.strip(), f"systemd-analyze verify:\n{result.stdout}{result.stderr}"
    security = run([analyze, "security", "--offline=yes", "--no-pager", str(unit)])
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout + security.stderr)
    if match is None:
        pytest.fail(f"systemd-analyze security gave no score:\n{security.stdout[-2000:]}{security.stderr}")
    assert float(match.group(1)) <= 2.0, f"the unit's exposure level is {match.group(1)} (> 2.0):\n{security.stdout[-3000:]}"
