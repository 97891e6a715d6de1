"""`authgate demo`, the README's first quick-start command: it starts, prints its sample
credentials, answers with them, and stops on Ctrl-C, with no warning on the way (it has no auth
server, so it must not ask one for a JWKS)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time

import requests

from conftest import authgate_binary, free_ports, wait_until

TIMEOUT = 10


def header(echo: requests.Response, name: str) -> str | None:
    """A header the demo's echo backend received (it answers `"headers": [[name, value], …]`)."""
    return next((value for key, value in echo.json()["headers"] if key.lower() == name), None)


def test_demo_starts_answers_and_stops_without_a_warning():
    port, admin, backend = free_ports(3)
    proc = subprocess.Popen(
        [str(authgate_binary()), "demo", "--port", str(port), "--admin-port", str(admin), "--backend-port", str(backend)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def collect() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("Press Ctrl-C to stop." in line for line in lines), 30, "the demo's banner", log=lambda: "".join(lines))
        output = "".join(lines)
        legacy = re.search(r"LEGACY=(\S+)", output).group(1)
        better_auth = re.search(r"BETTER_AUTH=(\S+)", output).group(1)
        url = f"http://127.0.0.1:{port}/api/hello"
        assert requests.get(url, timeout=TIMEOUT).status_code == 401
        echo = requests.get(url, headers={"Authorization": f"Bearer {legacy}"}, timeout=TIMEOUT)
        assert echo.status_code == 200, echo.text
        assert header(echo, "x-auth-method") == "legacy"
        echo = requests.get(url, headers={"Authorization": f"Bearer {better_auth}"}, timeout=TIMEOUT)
        assert echo.status_code == 200, echo.text
        assert header(echo, "x-auth-method") == "better-auth"
        # Ready: nothing the demo's config needs is missing, and no JWKS is expected.
        ready = requests.get(f"http://127.0.0.1:{admin}/ready", timeout=TIMEOUT)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["jwks"]["status"] == "not_configured", ready.text
        time.sleep(1.0)  # a periodic or retried JWKS fetch would have failed by now
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        reader.join(timeout=5)
    output = "".join(lines)
    assert code == 0, output
    noisy = [line for line in lines if re.search(r"\b(warning|error|critical)\b", line, re.IGNORECASE)]
    assert noisy == [], "the demo printed:\n" + "".join(noisy)
