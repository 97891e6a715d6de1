"""Issue 11, trust boundary: upgrades other than WebSocket, path parameters, the case of paths,
forwarding headers from untrusted peers, and 414 for an oversized target — against the real
gateway binary and echo backend, and through the deploy kit's nginx where nginx matters.
Requests go over raw sockets so that neither the target nor header spellings are touched."""

from __future__ import annotations

import json
import socket

import pytest

from conftest import free_ports
from helpers import legacy_token, raw_request
from test_nginx_deploy import CLIENT_IP, Nginx, render_site, write_certificate

ROUTES = [
    {"path": "/api/public/", "access": "public"},
    {"path": "/api/v2/", "access": "better_auth_only"},
]

FORWARDING = {
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-Port": "1",
    "X-Forwarded-Server": "evil",
    "X-Forwarded-Uri": "/admin",
    "X-Original-URL": "/admin",
    "X-Rewrite-URL": "/admin",
    "X-Original-Method": "DELETE",
    "True-Client-IP": "6.6.6.6",
    "CF-Connecting-IP": "6.6.6.6",
    "X-Client-IP": "6.6.6.6",
    "X-Cluster-Client-IP": "6.6.6.6",
    "X-HTTP-Method-Override": "DELETE",
}


@pytest.fixture
def routed(authgate, gateway_auth_config):
    config = dict(gateway_auth_config)
    config["routes"] = ROUTES
    return config


def raw_exchange(gateway, data: bytes) -> bytes:
    """Sends ``data`` on a fresh connection and reads until the gateway closes it."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=15) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway may answer and close before the whole request is written
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body or b"{}")


# --- upgrades -----------------------------------------------------------------------------


def test_h2c_upgrade_reaches_the_backend_as_a_plain_request(authgate, routed, backend):
    gateway = authgate(routed)
    response = raw_request(
        gateway.url,
        "GET",
        "/api/public/h2c",
        [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")],
    )
    assert response.status == 200, f"{response.status} {response.text[:300]}"
    seen = response.json()["headers"]
    assert "upgrade" not in seen and "http2-settings" not in seen, seen
    assert "upgrade" not in seen.get("connection", "").lower(), seen


# --- path parameters and case -------------------------------------------------------------


@pytest.mark.parametrize("target", ["/api/public/..;/v2/x", "/api/public/..%3B/v2/x", "/api/public/..;x=1/v2/x", "/api/public/x;a=b"])
def test_path_parameters_are_refused_by_default(authgate, routed, backend, target):
    gateway = authgate(routed)
    backend.reset()
    response = raw_request(gateway.url, "GET", target)
    assert response.status == 400, f"{target!r}: {response.status} {response.text[:300]}"
    assert response.json()["error"] == "bad_request"
    assert [r for r in backend.requests() if r["path"].startswith("/api/")] == []


def test_path_parameters_allowed_route_like_tomcat(authgate, routed, backend, legacy_secret):
    config = dict(routed)
    config["server"] = {"path_parameters": "allow"}
    gateway = authgate(config)
    token = legacy_token("params-1", "p@example.com", "user", secret=legacy_secret)
    for target in ("/api/public/..;/v2/x", "/api/public/..%3B/v2/x", "/api/public/..;x=1/v2/x"):
        anonymous = raw_request(gateway.url, "GET", target)
        assert anonymous.status == 401, f"{target!r} is /api/v2/x to Tomcat: {anonymous.status} {anonymous.text[:200]}"
        # better_auth_only: a legacy token does not pass either.
        legacy = raw_request(gateway.url, "GET", target, {"Authorization": f"Bearer {token}"})
        assert legacy.status == 401, f"{target!r} with a legacy token: {legacy.status}"
    public = raw_request(gateway.url, "GET", "/api/public/page;jsessionid=ABC")
    assert public.status == 200, public.text[:300]
    assert public.json()["path"] == "/api/public/page;jsessionid=ABC"


@pytest.mark.parametrize("target", ["/API/v2/x", "/api/V2/x", "/Api/v2/", "/%41PI/v2/x"])
def test_a_stricter_rule_is_not_bypassed_by_case(authgate, routed, legacy_secret, target):
    gateway = authgate(routed)
    token = legacy_token("case-1", "c@example.com", "user", secret=legacy_secret)
    response = raw_request(gateway.url, "GET", target, {"Authorization": f"Bearer {token}"})
    assert response.status == 401, f"{target!r}: a legacy token passed a better_auth_only route ({response.status})"
    # The default route still takes the legacy token.
    assert raw_request(gateway.url, "GET", "/api/other", {"Authorization": f"Bearer {token}"}).status == 200


def test_a_public_rule_matches_exactly(authgate, routed):
    gateway = authgate(routed)
    assert raw_request(gateway.url, "GET", "/api/public/x").status == 200
    assert raw_request(gateway.url, "GET", "/API/public/x").status == 401
    assert raw_request(gateway.url, "GET", "/api/Public/x").status == 401


# --- 414 ------------------------------------------------------------------------------------


def test_a_100_kb_target_is_414_and_100_kb_of_headers_431(authgate, routed):
    gateway = authgate(routed)
    target = "/api/public/" + "a" * (100 * 1024)
    status, body = status_and_json(raw_exchange(gateway, f"GET {target} HTTP/1.1\r\nHost: g\r\n\r\n".encode()))
    assert (status, body.get("error")) == (414, "uri_too_long"), (status, body)
    big = "X-Big: " + "b" * (100 * 1024)
    status, body = status_and_json(raw_exchange(gateway, f"GET /api/public/x HTTP/1.1\r\nHost: g\r\n{big}\r\n\r\n".encode()))
    assert (status, body.get("error")) == (431, "request_header_fields_too_large"), (status, body)


# --- the deploy kit's nginx -------------------------------------------------------------------


@pytest.fixture
def nginx_stack(authgate, routed, auth_server, backend, tmp_path, monkeypatch):
    gateway = authgate(routed)
    https_port, http_port = free_ports(2)
    workdir = tmp_path / "nginx"
    workdir.mkdir()
    write_certificate(workdir)
    site = render_site(
        authgate_port=gateway.port, auth_port=auth_server.port, http_port=http_port, https_port=https_port, workdir=workdir
    )
    nginx = Nginx(workdir, site, https_port, http_port)
    nginx.start()
    backend.reset()
    yield nginx, gateway
    nginx.stop()


def test_through_nginx_forwarding_headers_path_parameters_and_case(nginx_stack, backend, legacy_secret):
    """nginx is a trusted proxy: the gateway keeps what it sends, so the deploy kit's site
    clears the forwarding headers a client sends; path parameters and case tricks pass nginx
    untouched and are refused by the gateway."""
    nginx, _gateway = nginx_stack
    host = ("Host", f"127.0.0.1:{nginx.https_port}")
    status, _headers, body = nginx.request_from(CLIENT_IP, "GET", "/api/public/fwd", [host, *FORWARDING.items()])
    assert status == 200, body[:300]
    seen = json.loads(body)["headers"]
    leaked = {name: seen[name.lower()] for name in FORWARDING if name.lower() in seen}
    assert leaked == {}, f"client-sent forwarding headers reached the backend through nginx: {leaked}"

    for target in ("/api/public/..;/v2/x", "/api/public/..%3B/v2/x"):
        status, _headers, body = nginx.request_from(CLIENT_IP, "GET", target, [host])
        assert status == 400, f"{target!r} through nginx: {status} {body[:200]!r}"

    token = legacy_token("nginx-case", "n@example.com", "user", secret=legacy_secret)
    status, _headers, body = nginx.request_from(
        CLIENT_IP, "GET", "/api/V2/x", [host, ("Authorization", f"Bearer {token}")]
    )
    assert status == 401, f"/api/V2/x through nginx with a legacy token: {status} {body[:200]!r}"
    assert not [r for r in backend.requests() if "/v2/" in r["path"].lower()], backend.requests()
