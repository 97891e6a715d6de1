"""The audit trail against a real PostgreSQL: every authentication event is one row of
``auth_audit_log``, written in batches; while PostgreSQL is down the rows go to the spill file
and are replayed, once and in order, when it is back.

The table is created here with the DDL of ``deploy/sql/002_auth_audit_log.sql`` (``authgate db
migrate`` creates it in production). Legacy HS256 tokens are used throughout so that
authentication itself never needs the database: a PostgreSQL restart may only affect the audit
writer, never the answers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import wait_until
from helpers import legacy_token

AUDIT_DDL = """
DROP TABLE IF EXISTS auth_audit_log;
CREATE TABLE auth_audit_log (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    event_type text NOT NULL,
    auth_method text,
    success boolean NOT NULL,
    user_id text,
    session_id_hash text,
    client_ip text,
    user_agent text,
    route text,
    reason text,
    request_id text,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_audit_log_created_at_idx ON auth_audit_log (created_at);
CREATE INDEX auth_audit_log_user_id_idx ON auth_audit_log (user_id, created_at);
"""

USERS_TABLE = "audit_users"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def create_tables(postgres) -> None:
    for statement in filter(str.strip, AUDIT_DDL.split(";")):
        postgres.sql(statement)
    postgres.sql(f"DROP TABLE IF EXISTS {USERS_TABLE}")
    # A legacy users table with an integer id: the writer compares it as text.
    postgres.sql(f"CREATE TABLE {USERS_TABLE} (id bigint PRIMARY KEY, email text, last_auth_method text)")


def audit_config(postgres, legacy_secret: str, spill_file: Path, **audit) -> dict:
    return {
        "auth": {
            "enable_dual_auth": True,
            "prefer_better_auth": False,
            # Never reached: only legacy tokens are sent.
            "auth_server_url": "http://127.0.0.1:9",
            "legacy_jwt_secret": legacy_secret,
            "database_url": postgres.dsn,
            "session_resolver": "http",
        },
        "routes": [{"path": "/api/public/", "access": "public"}],
        "rate_limits": {"enabled": False},
        "lockout": {"enabled": False},
        "rollout": {"users_table": USERS_TABLE, "users_id_column": "id"},
        "audit": {
            "enabled": True,
            "table": "auth_audit_log",
            "spill_file": str(spill_file),
            "batch_size": 200,
            "flush_interval_ms": 50,
            "retry_interval_ms": 200,
            **audit,
        },
    }


def metric(gateway, name: str) -> float:
    return gateway.metrics().get(name, 0)


def wait_drained(gateway, spill_file: Path, timeout: float = 60) -> None:
    """Until nothing is queued or in flight and the spill file is empty."""

    def drained() -> bool:
        metrics = gateway.metrics()
        size = spill_file.stat().st_size if spill_file.exists() else 0
        return metrics.get("authgate_audit_queue_depth", -1) == 0 and size == 0

    wait_until(drained, timeout, "audit queue drained and spill file replayed", log=lambda: gateway.log)


def test_every_authentication_event_is_one_row(authgate, postgres, legacy_secret, tmp_path):
    create_tables(postgres)
    postgres.sql(f"INSERT INTO {USERS_TABLE} (id, email) VALUES (4242, 'audit@example.com'), (4343, 'other@example.com')")
    spill = tmp_path / "audit-spill.jsonl"
    gateway = authgate(audit_config(postgres, legacy_secret, spill))

    jti = "jti-" + uuid.uuid4().hex
    valid = legacy_token("4242", "audit@example.com", "user", secret=legacy_secret, jti=jti)
    forged = legacy_token("4242", "audit@example.com", "user", secret="not-the-secret-" + "x" * 20)
    expired = legacy_token("4343", "other@example.com", "user", secret=legacy_secret, exp_in=-3600)
    sent: list[tuple[str, int]] = []
    with requests.Session() as session:
        for i in range(40):
            token, want = (forged, 401) if i % 4 == 3 else (valid, 200)
            response = session.get(
                f"{gateway.url}/api/audit/item?i={i}",
                headers={"Authorization": f"Bearer {token}", "User-Agent": "audit-test/" + "u" * 600},
                timeout=10,
            )
            assert response.status_code == want, response.text
            sent.append((response.headers["X-Request-Id"], want))
        response = session.get(f"{gateway.url}/api/audit/expired", headers={"Authorization": f"Bearer {expired}"}, timeout=10)
        assert response.status_code == 401
        sent.append((response.headers["X-Request-Id"], 401))
        response = session.get(f"{gateway.url}/api/audit/none", timeout=10)
        assert response.status_code == 401
        sent.append((response.headers["X-Request-Id"], 401))
        # A public route is no authentication event.
        assert session.get(f"{gateway.url}/api/public/x", timeout=10).status_code == 200

    wait_drained(gateway, spill)
    rows = postgres.sql(
        "SELECT event_id, event_type, auth_method, success, user_id, session_id_hash, client_ip, user_agent, "
        "route, reason, request_id, extract(epoch from created_at) FROM auth_audit_log ORDER BY id"
    )
    assert len(rows) == len(sent), f"{len(rows)} rows for {len(sent)} authentication events"
    assert metric(gateway, "authgate_audit_events_written_total") == len(sent)
    assert metric(gateway, "authgate_audit_events_spilled_total") == 0
    by_request = {row[10]: row for row in rows}
    assert len({row[0] for row in rows}) == len(rows), "event ids are unique"
    now = time.time()
    for request_id, status in sent:
        row = by_request[request_id]
        event_id, event_type, method, success, user_id, session_hash, client_ip, agent, route, reason, _, created = row
        assert re.fullmatch(r"[0-9a-f]{32}", event_id), event_id
        assert client_ip == "127.0.0.1"
        assert abs(now - float(created)) < 120, f"created_at {created} is not now"
        if status == 200:
            assert (event_type, method, success, user_id) == ("auth_success", "legacy", True, "4242")
            assert session_hash == hashlib.sha256(jti.encode()).hexdigest()
            assert HEX64.match(session_hash)
            assert route == "/api/audit/item"
            assert reason is None
            assert agent.startswith("audit-test/") and len(agent.encode()) == 512, "user agent cut to 512 bytes"
        else:
            assert (event_type, success, session_hash, user_id) == ("auth_failure", False, None, None)
            assert reason in {"bad_signature", "token_expired", "missing_credential"}, reason
    reasons = sorted(row[9] for row in rows if row[9])
    assert reasons.count("bad_signature") == 10 and "token_expired" in reasons and "missing_credential" in reasons
    # Nothing secret anywhere in the table.
    dump = json.dumps([[str(value) for value in row] for row in rows])
    for secret in (valid, forged, expired, jti, legacy_secret):
        assert secret not in dump

    # users.last_auth_method: set for the user who succeeded, untouched for the one who failed.
    assert postgres.sql(f"SELECT id, last_auth_method FROM {USERS_TABLE} ORDER BY id") == [
        (4242, "legacy"),
        (4343, None),
    ]


WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end

local valid = "%(valid)s"
local forged = "%(forged)s"

function init(args)
  counts = {}
  n = 0
  auth_until = os.time() + %(auth_seconds)d
end

function request()
  n = n + 1
  if os.time() >= auth_until then
    -- The last seconds: no authentication at all, so that the requests wrk abandons when it
    -- stops are not authentication events.
    return wrk.format("GET", "/api/public/tail")
  end
  local token = valid
  if n %% 10 == 0 then token = forged end
  return wrk.format("GET", "/api/audit-load?n=" .. n, {["Authorization"] = "Bearer " .. token, ["User-Agent"] = "wrk-audit"})
end

function response(status, headers, body)
  local key = tostring(status)
  if status == 200 and body ~= nil and string.find(body, "/api/public/tail", 1, true) then key = "public" end
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, value in pairs(thread:get("counts")) do total[key] = (total[key] or 0) + value end
  end
  local parts = {}
  for key, value in pairs(total) do table.insert(parts, string.format('"%%s": %%d', key, value)) end
  io.write("WRK_COUNTS {" .. table.concat(parts, ", ") .. "}\\n")
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests": %%d, "connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}\\n',
    summary.requests, e.connect, e.read, e.write, e.timeout))
end
"""


@pytest.mark.timeout(240)
def test_a_postgres_restart_under_load_loses_and_duplicates_nothing(authgate, postgres, legacy_secret, tmp_path):
    wrk = shutil.which("wrk")
    assert wrk, "wrk is not installed: run scripts/install-test-deps.sh (apt-get install -y wrk)"
    create_tables(postgres)
    postgres.sql(f"INSERT INTO {USERS_TABLE} (id, email) VALUES (777, 'load@example.com')")
    spill = tmp_path / "audit-spill.jsonl"
    gateway = authgate(audit_config(postgres, legacy_secret, spill, batch_size=100, flush_interval_ms=100))

    jti = "load-jti-" + uuid.uuid4().hex
    valid = legacy_token("777", "load@example.com", "user", secret=legacy_secret, jti=jti, exp_in=3600)
    forged = legacy_token("777", "load@example.com", "user", secret="forged-secret-" + "y" * 20)
    script = tmp_path / "audit.lua"
    script.write_text(WRK_SCRIPT % {"valid": valid, "forged": forged, "auth_seconds": 10})
    cmd = [wrk, "-t2", "-c16", "-d13s", "--timeout", "10s", "-s", str(script), gateway.url]
    result: dict = {}

    def run_wrk() -> None:
        result["proc"] = subprocess.run(cmd, capture_output=True, text=True, timeout=90)

    runner = threading.Thread(target=run_wrk)
    runner.start()
    time.sleep(3)
    written_before_stop = metric(gateway, "authgate_audit_events_written_total")
    postgres.stop()  # pg_ctl stop -m fast: open connections are cut mid-batch
    time.sleep(3.5)
    spill_during_outage = spill.read_bytes() if spill.exists() else b""
    postgres.start()
    runner.join(timeout=90)
    proc = result["proc"]
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"wrk failed ({proc.returncode}):\n{output}"
    counts = json.loads(next(line for line in output.splitlines() if line.startswith("WRK_COUNTS "))[11:])
    summary = json.loads(next(line for line in output.splitlines() if line.startswith("WRK_RESULT "))[11:])

    wait_drained(gateway, spill, timeout=120)
    metrics = gateway.metrics()
    successes, failures = counts.get("200", 0), counts.get("401", 0)
    unexpected = {k: v for k, v in counts.items() if k not in {"200", "401", "public"}}
    events = successes + failures
    rows = postgres.sql("SELECT count(*) FROM auth_audit_log")[0][0]
    distinct = postgres.sql("SELECT count(DISTINCT event_id) FROM auth_audit_log")[0][0]
    by_type = dict(postgres.sql("SELECT event_type, count(*) FROM auth_audit_log GROUP BY event_type"))
    spilled = metrics.get("authgate_audit_events_spilled_total", 0)
    replayed = metrics.get("authgate_audit_events_replayed_total", 0)
    gateway_events = sum(
        value
        for name, value in metrics.items()
        if name.startswith(("better_auth_success_total{", "better_auth_failures_total{"))
    )
    print(
        f"\nwrk {summary} counts {counts}; rows {rows}, distinct {distinct}, by type {by_type}; "
        f"spilled {spilled}, replayed {replayed}, write failures {metrics.get('authgate_audit_write_failures_total')}, "
        f"written before the stop {written_before_stop}, spill file during the outage {len(spill_during_outage)} bytes"
    )
    assert not unexpected, f"unexpected statuses {unexpected} (auth must not need the database)"
    assert not any(summary[k] for k in ("connect", "read", "write", "timeout")), summary
    assert events > 1000, f"too little load to mean anything: {counts}"
    assert gateway_events == events, f"the gateway counted {gateway_events} authentications, wrk {events}"
    assert rows == events, f"{rows} rows for {events} authentication events"
    assert distinct == events
    assert by_type == {"auth_success": successes, "auth_failure": failures}
    assert spilled > 0, "the restart must have sent events to the spill file"
    assert replayed == spilled, f"replayed {replayed} != spilled {spilled}"
    assert metrics.get("authgate_audit_write_failures_total", 0) > 0
    # The spill file never holds a credential: hashes only.
    assert spill_during_outage, "the spill file was empty during the outage"
    text = spill_during_outage.decode()
    for secret in (valid, forged, jti):
        assert secret not in text
    # Complete lines only: the copy may have caught an append half-way.
    for line in text[: text.rfind("\n")].splitlines():
        record = json.loads(line)
        assert record["session_id_hash"] is None or HEX64.match(record["session_id_hash"])
    assert postgres.sql(f"SELECT last_auth_method FROM {USERS_TABLE} WHERE id = 777") == [("legacy",)]
