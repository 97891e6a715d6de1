"""WebSocket upgrades through the gateway: authenticated like any request (cookie, bearer
subprotocol, optional query parameter), the token never forwarded, and open tunnels closed
when their credential is revoked. The echo backend speaks RFC 6455 on /ws*; the client is
helpers.WebSocketClient over a plain socket."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
import requests

from helpers import WebSocketClient, get_jwt, legacy_token, make_user, sign_out

TIMEOUT = 15


def ws_config(config: dict, **websocket) -> dict:
    out = copy.deepcopy(config)
    out["websocket"] = websocket
    out["routes"] = [
        {"path": "/api/public/", "access": "public"},
        {"path": "/api/auth/", "access": "public", "upstream": "auth_server"},
    ]
    return out


def ws_path() -> str:
    return f"/ws/{uuid.uuid4().hex[:12]}"


def open_tunnel(
    gateway, target: str, headers: dict | list | None = None, server_first: bool = False
) -> tuple[WebSocketClient, dict]:
    """Upgrade and read the backend's hello frame. ``server_first``: the hello must arrive
    unprompted (the backend sends it right after its 101); otherwise the client sends a frame
    first, so that tests of other features do not depend on that."""
    client = WebSocketClient(gateway.url, target, headers)
    assert client.status == 101, f"upgrade {target}: want 101, got {client.status} {client.body[:300]!r}"
    assert client.headers.get("sec-websocket-accept") == client.expected_accept(), client.headers
    if server_first:
        try:
            hello = client.recv_json(timeout=5)
        except TimeoutError:
            client.close()
            pytest.fail(
                "the backend's first frame (sent right after its 101) did not reach the client within 5 s "
                "while the client sent nothing (bytes the backend sends first must be relayed at once)"
            )
        return client, hello
    client.send_text("nudge")
    hello = client.recv_json()
    assert client.recv() == (0x1, b"nudge")
    return client, hello


def assert_echo(client: WebSocketClient, text: str = "ping") -> None:
    client.send_text(text)
    opcode, payload = client.recv()
    assert (opcode, payload) == (0x1, text.encode()), f"echo: {(opcode, payload)}"


def backend_saw(backend, path: str) -> list[dict]:
    return [r for r in backend.requests() if r["path"].split("?")[0] == path]


def test_upgrade_without_credentials_is_401_and_never_reaches_the_backend(authgate, gateway_auth_config, backend):
    gateway = authgate(ws_config(gateway_auth_config))
    path = ws_path()
    with WebSocketClient(gateway.url, path) as client:
        assert client.status == 401, f"want 401, got {client.status} {client.body!r}"
        assert json.loads(client.body)["error"] == "missing_credential"
    with WebSocketClient(gateway.url, path, {"Cookie": "better-auth.session_token=forged.value"}) as client:
        assert client.status == 401
    assert backend_saw(backend, path) == [], "an unauthenticated upgrade reached the backend"


def test_upgrade_with_the_session_cookie(authgate, gateway_auth_config, auth_server):
    gateway = authgate(ws_config(gateway_auth_config))
    user = make_user(auth_server, "ws-cookie")
    client, hello = open_tunnel(gateway, ws_path(), {"Cookie": user.cookie, "X-Auth-User-Id": "spoofed"}, server_first=True)
    with client:
        headers = hello["headers"]
        assert headers["x-auth-method"] == "better-auth", headers
        assert headers["x-auth-user-id"] == user.user_id, headers
        assert_echo(client, "hello through the tunnel")
        assert_echo(client, "x" * 70000)  # a 64-bit length frame, both ways


def test_token_in_the_bearer_subprotocol_is_not_forwarded(authgate, gateway_auth_config, auth_server, legacy_secret):
    gateway = authgate(ws_config(gateway_auth_config))
    user = make_user(auth_server, "ws-proto")
    tokens = {
        "legacy": (legacy_token("ws-legacy", "w@example.com", "user", secret=legacy_secret), "ws-legacy"),
        "better-auth": (get_jwt(auth_server, user.cookie), user.user_id),
    }
    for method, (token, user_id) in tokens.items():
        client, hello = open_tunnel(gateway, ws_path(), {"Sec-WebSocket-Protocol": f"bearer, {token}"})
        with client:
            headers = hello["headers"]
            assert headers["x-auth-method"] == method and headers["x-auth-user-id"] == user_id, headers
            assert headers.get("sec-websocket-protocol") == "bearer", (
                f"{method}: backend must see only the 'bearer' subprotocol, got {headers.get('sec-websocket-protocol')!r}"
            )
            assert token not in json.dumps(hello), f"{method}: the token reached the backend: {hello}"
            assert client.headers.get("sec-websocket-protocol") == "bearer", client.headers
            assert_echo(client)
    # The subprotocol announcement without a token, or with a bad one: 401.
    for protocols in ("bearer", "bearer, not-a-token"):
        with WebSocketClient(gateway.url, ws_path(), {"Sec-WebSocket-Protocol": protocols}) as client:
            assert client.status == 401, f"{protocols!r}: {client.status} {client.body!r}"


def test_token_in_the_query_only_when_configured(authgate, gateway_auth_config, legacy_secret, backend):
    token = legacy_token("ws-query", "q@example.com", "user", secret=legacy_secret)
    off = authgate(ws_config(gateway_auth_config))
    path = ws_path()
    with WebSocketClient(off.url, f"{path}?access_token={token}") as client:
        assert client.status == 401, f"token_query_parameter unset: the query must not authenticate ({client.status})"

    on = authgate(ws_config(gateway_auth_config, token_query_parameter="access_token"))
    client, hello = open_tunnel(on, f"{path}?room=7&access_token={token}&lang=en")
    with client:
        assert hello["headers"]["x-auth-user-id"] == "ws-query"
        assert hello["path"] == f"{path}?room=7&lang=en", f"the token parameter must be removed: {hello['path']!r}"
        assert token not in json.dumps(hello)
        assert_echo(client)


@pytest.mark.timeout(60)
def test_sign_out_through_the_gateway_closes_the_tunnel(authgate, gateway_auth_config, auth_server):
    gateway = authgate(ws_config(gateway_auth_config, revalidate_interval_ms=500))  # positive TTL 60 s
    leaving, staying = make_user(auth_server, "ws-leave"), make_user(auth_server, "ws-stay")
    tunnel, _ = open_tunnel(gateway, ws_path(), {"Cookie": leaving.cookie})
    other, _ = open_tunnel(gateway, ws_path(), {"Cookie": staying.cookie})
    with tunnel, other:
        assert_echo(tunnel)
        response = requests.post(
            f"{gateway.url}/api/auth/sign-out",
            headers={"Cookie": leaving.cookie, "Origin": gateway.origin},
            json={},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, f"sign-out through the gateway: {response.status_code} {response.text}"
        assert response.json().get("success") is True, f"not the auth server's answer: {response.text[:300]}"
        closed_after = tunnel.wait_closed(timeout=5)
        assert closed_after is not None, "the tunnel of a signed-out session is still open after 5 s"
        assert_echo(other, "still here")
    metrics = gateway.metrics()
    assert metrics.get("authgate_tunnels_revoked_total", 0) >= 1, metrics.get("authgate_tunnels_revoked_total")


@pytest.mark.timeout(60)
def test_periodic_revalidation_closes_a_tunnel_revoked_elsewhere(authgate, gateway_auth_config, auth_server):
    config = ws_config(gateway_auth_config, revalidate_interval_ms=500)
    config["cache"]["positive_ttl_ms"] = 300
    gateway = authgate(config)
    leaving, staying = make_user(auth_server, "ws-reval"), make_user(auth_server, "ws-reval-stay")
    tunnel, _ = open_tunnel(gateway, ws_path(), {"Cookie": leaving.cookie})
    other, _ = open_tunnel(gateway, ws_path(), {"Cookie": staying.cookie})
    with tunnel, other:
        assert_echo(tunnel)
        sign_out(auth_server, leaving.cookie)  # straight at the auth server: the gateway never sees it
        closed_after = tunnel.wait_closed(timeout=5)
        assert closed_after is not None, "revalidate_interval_ms 500: the revoked tunnel is still open after 5 s"
        assert other.wait_closed(timeout=1.5) is None, "a tunnel with a valid session was closed"
        assert_echo(other)
