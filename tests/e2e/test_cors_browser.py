"""CORS in a real browser: headless Chromium loads a page from one loopback origin whose script
calls the gateway on another origin with ``fetch(..., {credentials: "include"})``.

The page servers are tiny Python HTTP servers on their own ports (a different port is a
different origin); the gateway runs with ``cors.allowed_origins`` naming one of them. Chromium
runs headless (``--headless=new --no-sandbox``, as root in CI) with ``--dump-dom`` and a
virtual-time budget, so it prints the DOM once the page's fetches have settled; the script
writes what it could read into ``<pre id="results">`` and the test parses it.

What is shown: from the allowed origin, a 401 the script can read (status, JSON error,
exposed ``X-Request-Id``), an authenticated call (a legacy bearer token, so the browser sends a
preflight the gateway answers) that reaches the backend, a PUT with a JSON body, and a request
with a header the config does not allow, which the browser blocks after the preflight. From an
origin not on the list, the browser blocks both a simple request (which the backend did get:
it is the missing ``Access-Control-Allow-Origin`` that keeps the answer from the page) and a
credentialed one (its preflight is refused with 401, without CORS headers).
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from helpers import legacy_token

CHROMIUM_TIMEOUT = 120
#: Virtual time the page may use; Chromium stops earlier once the page is idle and the
#: budget has run, and pending network fetches hold virtual time back.
VIRTUAL_TIME_BUDGET_MS = 20000

# The page: runs each case in order and writes {case: outcome} into <pre id="results">.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cors</title></head>
<body><pre id="results">pending</pre>
<script>
const GATEWAY = __GATEWAY__;
const CASES = __CASES__;
async function run(spec) {
  const init = {method: spec.method || "GET", credentials: "include", headers: spec.headers || {}};
  if (spec.body !== undefined) init.body = JSON.stringify(spec.body);
  try {
    const response = await fetch(GATEWAY + spec.path, init);
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) {}
    return {
      outcome: "response",
      status: response.status,
      json: json,
      request_id: response.headers.get("X-Request-Id"),
      www_authenticate: response.headers.get("WWW-Authenticate"),
    };
  } catch (error) {
    return {outcome: "blocked", error: String(error)};
  }
}
(async () => {
  const results = {};
  for (const spec of CASES) results[spec.name] = await run(spec);
  results.done = true;
  document.getElementById("results").textContent = JSON.stringify(results);
})();
</script></body></html>
"""


class PageServer:
    """Serves one HTML page (``html``, set once the gateway's address is known) at ``/`` on
    127.0.0.1 with a port of its own: its own origin."""

    def __init__(self) -> None:
        self.html = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path != "/":
                    self.send_error(404)
                    return
                body = owner.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "chromium not found: run scripts/install-test-deps.sh (Debian package chromium)", pytrace=False
    )


def page_results(url: str, profile: Path) -> dict:
    """Loads ``url`` in headless Chromium and returns what the page wrote into #results."""
    command = [
        chromium_binary(),
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        "--dump-dom",
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT)
    dom = result.stdout
    start = dom.find('<pre id="results">')
    end = dom.find("</pre>", start)
    assert result.returncode == 0 and start >= 0 and end > start, (
        f"chromium exited {result.returncode}; DOM:\n{dom[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    text = dom[start + len('<pre id="results">') : end]
    assert text != "pending", f"the page's script did not finish; stderr:\n{result.stderr[-3000:]}"
    results = json.loads(html.unescape(text))
    assert results.get("done") is True, results
    return results


def page(gateway_url: str, cases: list[dict]) -> str:
    return PAGE.replace("__GATEWAY__", json.dumps(gateway_url)).replace("__CASES__", json.dumps(cases))


@pytest.fixture
def pages():
    servers: list[PageServer] = []

    def factory() -> PageServer:
        server = PageServer()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


TOKEN_SUB = "user-cors-1"


def browser_cases(token: str) -> list[dict]:
    bearer = {"Authorization": f"Bearer {token}"}
    return [
        # No credential: 401, and the script can read it to send the user to sign in.
        {"name": "anonymous", "path": "/api/private/profile"},
        # Authorization is not CORS-safelisted: the browser sends a preflight first.
        {"name": "authenticated", "path": "/api/private/profile?q=1", "headers": bearer},
        {
            "name": "put_json",
            "path": "/api/private/profile",
            "method": "PUT",
            "headers": {**bearer, "Content-Type": "application/json"},
            "body": {"name": "Ada"},
        },
        # A header the config does not list: the preflight answer lacks it, the browser refuses.
        {"name": "header_not_allowed", "path": "/api/private/profile", "headers": {**bearer, "X-Debug": "1"}},
        # A simple request (no preflight) to a public route.
        {"name": "public", "path": "/api/public/hello"},
    ]


@pytest.fixture
def cors_site(authgate, legacy_secret, pages):
    """A gateway allowing the origin of page ``allowed`` (not that of page ``other``), and the
    same page served on both."""
    allowed = pages()
    other = pages()
    gateway = authgate(
        {
            "auth": {"legacy_jwt_secret": legacy_secret},
            "routes": [{"path": "/api/public/", "access": "public"}],
            "audit": {"enabled": False},
            "cors": {
                "allowed_origins": [allowed.origin],
                "allow_credentials": True,
                "allowed_methods": ["GET", "POST", "PUT", "DELETE"],
                "allowed_headers": ["Authorization", "Content-Type"],
                "exposed_headers": ["X-Request-Id", "WWW-Authenticate"],
                "max_age_seconds": 600,
            },
        }
    )
    token = legacy_token(TOKEN_SUB, "cors@example.com", "user", secret=legacy_secret)
    allowed.html = other.html = page(gateway.url, browser_cases(token))
    return gateway, allowed, other


def test_page_on_an_allowed_origin_reads_the_401_and_reaches_the_backend(cors_site, backend, tmp_path):
    gateway, allowed, _ = cors_site
    backend.reset()
    results = page_results(allowed.origin + "/", tmp_path / "profile")

    anonymous = results["anonymous"]
    assert anonymous["outcome"] == "response", anonymous
    assert anonymous["status"] == 401
    assert anonymous["json"]["error"] == "missing_credential"
    # X-Request-Id and WWW-Authenticate are readable because they are exposed.
    assert anonymous["request_id"] and anonymous["json"]["request_id"] == anonymous["request_id"]
    assert anonymous["www_authenticate"] == 'Bearer error="invalid_token"'

    authenticated = results["authenticated"]
    assert authenticated["outcome"] == "response", authenticated
    assert authenticated["status"] == 200
    assert authenticated["json"]["method"] == "GET"
    assert authenticated["json"]["path"] == "/api/private/profile?q=1"
    assert authenticated["json"]["headers"]["x-auth-user-id"] == TOKEN_SUB
    assert authenticated["json"]["headers"]["origin"] == allowed.origin

    put = results["put_json"]
    assert put["outcome"] == "response", put
    assert put["status"] == 200
    assert put["json"]["method"] == "PUT"
    assert put["json"]["body_bytes"] == len('{"name":"Ada"}')

    assert results["header_not_allowed"]["outcome"] == "blocked", results["header_not_allowed"]
    assert results["public"]["outcome"] == "response" and results["public"]["status"] == 200, results["public"]

    # The backend got the real requests and no preflight (the gateway answered those), and
    # nothing of the refused one.
    methods = sorted((r["method"], r["path"]) for r in backend.requests())
    assert methods == sorted(
        [("GET", "/api/private/profile?q=1"), ("PUT", "/api/private/profile"), ("GET", "/api/public/hello")]
    ), methods

    # The preflight the browser got, as a raw answer.
    preflight = requests.options(
        gateway.url + "/api/private/profile",
        headers={
            "Origin": allowed.origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == allowed.origin
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE"
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"


def test_page_on_another_origin_is_blocked_by_the_browser(cors_site, backend, tmp_path):
    gateway, _, other = cors_site
    backend.reset()
    results = page_results(other.origin + "/", tmp_path / "profile")
    for name in ("anonymous", "authenticated", "put_json", "header_not_allowed", "public"):
        assert results[name]["outcome"] == "blocked", (name, results[name])
    # The simple GET to the public route went out (browsers send it, then keep the answer from
    # the page); the preflighted ones stopped at their preflight, refused with 401.
    methods = sorted((r["method"], r["path"]) for r in backend.requests())
    assert methods == [("GET", "/api/public/hello")], methods

    refused = requests.options(
        gateway.url + "/api/private/profile",
        headers={"Origin": other.origin, "Access-Control-Request-Method": "PUT"},
        timeout=10,
    )
    assert refused.status_code == 401
    assert not any(name.lower().startswith("access-control-") for name in refused.headers), refused.headers
    public = requests.get(gateway.url + "/api/public/hello", headers={"Origin": other.origin}, timeout=10)
    assert public.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in public.headers), public.headers
