"""The deploy kit's nginx site in front of the real stack: a real nginx running
``deploy/nginx/authgate-site.conf`` (TLS, self-signed certificate) before the gateway binary, the
real Better Auth server and the echo backend.

The site file is used as it is shipped, except for what its header comment lists as
deployment-specific: the two upstream ``server`` lines, the ``listen`` lines (bound to
127.0.0.1 on free ports; the ``[::]`` ones dropped), the certificate paths and the log paths.
Each substitution must match exactly once, so a reshaped site file fails here loudly.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, free_ports, terminate, wait_until, _live_processes
from helpers import WebSocketClient, legacy_token, sign_in, sign_up, unique_email, PASSWORD

SITE_FILE = REPO_ROOT / "deploy" / "nginx" / "authgate-site.conf"
TIMEOUT = 15
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
#: A second loopback address for "a client that is not nginx": the gateway trusts 127.0.0.1
#: (nginx) only, so the client must come from elsewhere for X-Forwarded-For spoofing to matter.
CLIENT_IP = "127.0.0.3"


def nginx_binary() -> str:
    path = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not path:
        pytest.fail("nginx not found: run scripts/install-test-deps.sh (Debian package nginx)")
    return path


def substitute(text: str, old: str, new: str) -> str:
    count = text.count(old)
    assert count == 1, (
        f"{SITE_FILE.name}: expected exactly one {old!r} to substitute, found {count}; "
        "keep the deployment-specific lines as the file's header comment documents"
    )
    return text.replace(old, new)


def render_site(
    *, authgate_port: int, auth_port: int, http_port: int, https_port: int, workdir: Path
) -> str:
    text = SITE_FILE.read_text()
    text = substitute(text, "server 127.0.0.1:8080;", f"server 127.0.0.1:{authgate_port};")
    text = substitute(text, "server 127.0.0.1:3001;", f"server 127.0.0.1:{auth_port};")
    text = substitute(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = substitute(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text, dropped = re.subn(r"(?m)^\s*listen \[::\]:\d+[^;]*;\n", "", text)
    assert dropped == 2, f"expected the two IPv6 listen lines, dropped {dropped}"
    text = substitute(
        text, "/etc/letsencrypt/live/auth.example.com/fullchain.pem", str(workdir / "cert.pem")
    )
    text = substitute(
        text, "/etc/letsencrypt/live/auth.example.com/privkey.pem", str(workdir / "key.pem")
    )
    text = substitute(text, "/var/log/nginx/authgate.access.log", str(workdir / "access.log"))
    text = substitute(text, "/var/log/nginx/authgate.error.log", str(workdir / "site-error.log"))
    return text


def write_certificate(workdir: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 / localhost; returns the PEM path (also the CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate-e2e")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (workdir / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (workdir / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return workdir / "cert.pem"


class Nginx:
    def __init__(self, workdir: Path, site: str, https_port: int, http_port: int) -> None:
        self.workdir = workdir
        self.https_port = https_port
        self.http_port = http_port
        self.url = f"https://127.0.0.1:{https_port}"
        self.http_url = f"http://127.0.0.1:{http_port}"
        self.ca = workdir / "cert.pem"
        self.error_log = workdir / "error.log"
        self.access_log = workdir / "access.log"
        (workdir / "authgate-site.conf").write_text(site)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        tmp = workdir / "tmp"
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(
            f"""{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir}/default-access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {workdir}/authgate-site.conf;
}}
"""
        )
        self.cmd = [nginx_binary(), "-p", str(workdir), "-c", str(self.conf), "-e", str(self.error_log)]
        self.proc: subprocess.Popen | None = None

    def check(self) -> None:
        result = subprocess.run([*self.cmd, "-t"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (
            f"nginx -t rejects the deploy kit's site file:\n{result.stderr}\n"
            f"--- rendered site ---\n{(self.workdir / 'authgate-site.conf').read_text()}"
        )

    def start(self) -> None:
        self.check()
        log = open(self.workdir / "nginx.stdout", "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        _live_processes.append(self.proc)
        wait_until(
            lambda: requests.get(f"{self.url}/health", verify=str(self.ca), timeout=2).status_code == 200,
            20,
            "nginx in front of authgate",
            proc=self.proc,
            log=lambda: self.log,
        )

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=10)  # SIGTERM: nginx's fast shutdown
            self.proc = None

    @property
    def log(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return requests.get(f"{self.url}{path}", verify=str(self.ca), **kwargs)

    def request_from(self, source_ip: str, method: str, path: str, headers: list[tuple[str, str]]):
        """One HTTPS request whose TCP connection comes from ``source_ip`` (a loopback alias),
        with headers sent exactly as given (repeats and spellings kept)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.https_port, timeout=TIMEOUT, context=context, source_address=(source_ip, 0)
        )
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@contextlib.contextmanager
def tls_sockets(ca: Path):
    """While active, ``socket.create_connection`` returns TLS sockets (verified against ``ca``),
    so helpers.WebSocketClient speaks wss:// through nginx."""
    original = socket.create_connection
    context = ssl.create_default_context(cafile=str(ca))

    def create_connection(address, *args, **kwargs):
        raw = original(address, *args, **kwargs)
        return context.wrap_socket(raw, server_hostname=address[0])

    socket.create_connection = create_connection
    try:
        yield
    finally:
        socket.create_connection = original


@pytest.fixture
def stack(authgate, gateway_auth_config, auth_server, backend, tmp_path, monkeypatch):
    """nginx (deploy kit site) → authgate → backend, and nginx → auth server."""
    gateway = authgate(gateway_auth_config)
    https_port, http_port = free_ports(2)
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    write_certificate(workdir)
    site = render_site(
        authgate_port=gateway.port,
        auth_port=auth_server.port,
        http_port=http_port,
        https_port=https_port,
        workdir=workdir,
    )
    nginx = Nginx(workdir, site, https_port, http_port)
    nginx.start()
    # helpers.sign_up/sign_in use plain requests calls: trust the test certificate there too.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(nginx.ca))
    backend.reset()
    yield nginx, gateway
    nginx.stop()


def last_backend_request(backend, path_prefix: str) -> dict:
    matching = [r for r in backend.requests() if r["path"].startswith(path_prefix)]
    assert matching, f"the backend received no request for {path_prefix}: {backend.requests()}"
    return matching[-1]


# --- tests ------------------------------------------------------------------------------------


def test_the_site_file_passes_nginx_t_and_serves_health(stack):
    nginx, _gateway = stack
    response = nginx.get("/health")
    assert response.status_code == 200, f"/health through nginx: {response.status_code} {response.text}"
    assert response.json()["status"] == "ok", response.text
    assert REQUEST_ID.match(response.headers.get("X-Request-Id", "")), response.headers


def test_plain_http_redirects_to_https(stack):
    nginx, _gateway = stack
    response = requests.get(f"{nginx.http_url}/api/orders?x=1", allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 301, f"port 80 should redirect: {response.status_code} {response.text[:200]}"
    assert response.headers["Location"] == "https://127.0.0.1/api/orders?x=1", response.headers


def test_sign_in_through_nginx_then_the_cookie_authenticates_api_calls(stack, backend, auth_server):
    nginx, _gateway = stack
    email = unique_email("nginx")
    # /api/auth/ goes to the Better Auth server through nginx.
    sign_up(nginx.url, email, PASSWORD, "nginx")
    user = sign_in(nginx.url, email, PASSWORD)
    assert user.cookie_name.endswith("session_token"), user
    assert "ok" in nginx.get("/api/auth/ok").text, "GET /api/auth/ok did not reach the auth server"

    response = nginx.get("/api/orders/7", headers={"Cookie": user.cookie})
    assert response.status_code == 200, f"cookie through nginx: {response.status_code} {response.text}"
    seen = response.json()["headers"]
    assert seen.get("x-auth-user-id") == user.user_id, f"backend saw {seen}"
    assert seen.get("x-auth-method") == "better-auth", f"backend saw {seen}"
    assert seen.get("x-forwarded-proto") == "https", f"nginx's X-Forwarded-Proto lost: {seen}"
    assert seen.get("x-forwarded-host") == "127.0.0.1", f"nginx's X-Forwarded-Host lost: {seen}"
    # One request id from nginx through the gateway to the backend, back to the client once,
    # and in nginx's access log.
    request_id = seen.get("x-request-id", "")
    assert REQUEST_ID.match(request_id), f"the backend got no nginx request id: {seen}"
    assert response.headers.get("X-Request-Id") == request_id, (
        f"client got X-Request-Id {response.headers.get('X-Request-Id')!r}, backend {request_id!r}"
    )
    wait_until(
        lambda: f"request_id={request_id}" in nginx.access_log.read_text(),
        5,
        "request id in nginx's access log",
    )

    # No credential: the gateway's 401 JSON passes through nginx unchanged.
    anonymous = nginx.get("/api/orders/7")
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"] == "missing_credential", anonymous.text
    assert anonymous.headers.get("WWW-Authenticate") == 'Bearer error="invalid_token"', anonymous.headers

    # The gateway's own endpoints under /api are reached through nginx as well.
    flags = nginx.get("/api/auth-proxy/flags", headers={"Cookie": user.cookie})
    assert flags.status_code == 200, flags.text
    assert flags.json()["authenticated"] is True, flags.text


def test_a_legacy_token_works_through_nginx(stack, legacy_secret):
    nginx, _gateway = stack
    token = legacy_token("legacy-nginx-1", "legacy@example.com", "user", secret=legacy_secret)
    response = nginx.get("/api/profile", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, f"legacy bearer through nginx: {response.status_code} {response.text}"
    seen = response.json()["headers"]
    assert seen.get("x-auth-user-id") == "legacy-nginx-1", seen
    assert seen.get("x-auth-method") == "legacy", seen


def test_client_ip_and_identity_headers_cannot_be_spoofed_through_nginx(stack, legacy_secret):
    """A client (127.0.0.3, not a trusted proxy) sends forged X-Forwarded-For, X-Real-IP and
    identity headers: nginx appends the real address, the gateway walks X-Forwarded-For from
    the right past its trusted proxies and stops at the client, and strips the identity
    headers. (A client on 127.0.0.1 would itself be a trusted proxy in this setup.)"""
    nginx, _gateway = stack
    token = legacy_token("legacy-nginx-2", "real@example.com", "user", secret=legacy_secret)
    status, headers, body = nginx.request_from(
        CLIENT_IP,
        "GET",
        "/api/whoami",
        [
            ("Host", f"127.0.0.1:{nginx.https_port}"),
            ("Authorization", f"Bearer {token}"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Real-IP", "203.0.113.10"),
            ("X-Auth-User-Id", "attacker"),
            ("X-Auth-Roles", "admin"),
            ("x_auth_method", "better-auth"),
        ],
    )
    assert status == 200, f"{status} {body[:300]!r}"
    seen = json.loads(body)["headers"]
    assert seen.get("x-real-ip") == CLIENT_IP, f"X-Real-IP should be the client's address: {seen}"
    forwarded = [hop.strip() for hop in seen.get("x-forwarded-for", "").split(",")]
    assert forwarded == ["203.0.113.9", CLIENT_IP, "127.0.0.1"], (
        f"X-Forwarded-For should be the client's value + nginx's client address + the gateway's "
        f"peer (nginx): {seen.get('x-forwarded-for')!r}"
    )
    assert seen.get("x-auth-user-id") == "legacy-nginx-2", f"identity spoofed: {seen}"
    assert seen.get("x-auth-roles") == "user", f"roles spoofed: {seen}"
    assert "x_auth_method" not in seen and seen.get("x-auth-method") == "legacy", seen

    # A public route: no identity at all reaches the backend, forged or not.
    status, _headers, body = nginx.request_from(
        CLIENT_IP,
        "GET",
        "/api/public/info",
        [("Host", f"127.0.0.1:{nginx.https_port}"), ("X-Auth-User-Id", "attacker")],
    )
    assert status == 200, f"{status} {body[:300]!r}"
    seen = json.loads(body)["headers"]
    assert "x-auth-user-id" not in seen, f"client-sent X-Auth-User-Id reached the backend: {seen}"
    assert seen.get("x-real-ip") == CLIENT_IP, seen


def test_websocket_upgrade_through_nginx(stack, auth_server):
    nginx, _gateway = stack
    email = unique_email("nginx-ws")
    sign_up(nginx.url, email, PASSWORD, "ws")
    user = sign_in(nginx.url, email, PASSWORD)

    with tls_sockets(nginx.ca):
        ws = WebSocketClient(nginx.url, "/ws/chat?room=1", headers={"Cookie": user.cookie})
    with ws:
        assert ws.status == 101, f"WebSocket through nginx: {ws.status} {ws.body[:300]!r}"
        assert ws.headers.get("sec-websocket-accept") == ws.expected_accept(), ws.headers
        hello = ws.recv_json()
        assert hello["path"] == "/ws/chat?room=1", hello
        assert hello["headers"].get("x-auth-user-id") == user.user_id, hello["headers"]
        assert hello["headers"].get("x-auth-method") == "better-auth", hello["headers"]
        assert hello["headers"].get("x-forwarded-proto") == "https", hello["headers"]
        ws.send_text("ping through nginx")
        opcode, payload = ws.recv()
        assert (opcode, payload) == (0x1, b"ping through nginx"), (opcode, payload)

    with tls_sockets(nginx.ca):
        anonymous = WebSocketClient(nginx.url, "/ws/chat")
    with anonymous:
        assert anonymous.status == 401, f"anonymous upgrade: {anonymous.status} {anonymous.body[:300]!r}"


def test_request_bodies_stream_through_nginx_and_the_gateway(stack, legacy_secret):
    nginx, _gateway = stack
    import hashlib

    token = legacy_token("legacy-nginx-3", "up@example.com", "user", secret=legacy_secret)
    body = os.urandom(3 * 1024 * 1024)
    response = requests.post(
        f"{nginx.url}/api/upload",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
        verify=str(nginx.ca),
        timeout=60,
    )
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    echoed = response.json()
    assert echoed["body_bytes"] == len(body), echoed
    assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest(), "body changed on the way"
