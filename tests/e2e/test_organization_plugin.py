"""Better Auth's organization plugin (`auth.organization_plugin`): the session's active
organization and the user's role in it reach the backend as `X-Auth-Organization-Id` and
`X-Auth-Organization-Role`, through get-session (+ get-active-member) and through the session
table, cached with the identity; client-sent copies never do.

A real auth server with `OrganizationPlugin()` on a database of its own; organizations are
created and made active through its routes."""

from __future__ import annotations

import secrets

import pytest
import requests

from helpers import sign_in, sign_up, unique_email
from plugin_servers import plugin_auth_server, plugin_database, plugin_gateway_config, sql

TIMEOUT = 15
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def org_database(postgres):
    with plugin_database(postgres, "org") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def org_auth_server(org_database, tmp_path_factory):
    with plugin_auth_server(org_database, tmp_path_factory.mktemp("org_auth_server"), "--organization-plugin") as server:
        yield server


def gateway_config(server, dsn: str, resolver: str) -> dict:
    return plugin_gateway_config(server, dsn, resolver, organization_plugin=True)


def seen(gateway, credential: dict, extra: dict | None = None) -> dict[str, str]:
    response = requests.get(f"{gateway.url}/api/orders", headers={**credential, **(extra or {})}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()["headers"]


@pytest.mark.parametrize("resolver", ["http", "postgres"])
def test_active_organization_and_role_reach_the_backend(authgate, org_auth_server, org_database, resolver):
    email = unique_email("org-owner")
    sign_up(org_auth_server, email, PASSWORD, "owner")
    owner = sign_in(org_auth_server, email, PASSWORD)
    cookie = {"Cookie": owner.cookie}
    spoofed = {"X-Auth-Organization-Id": "org-of-someone-else", "X-Auth-Organization-Role": "owner"}

    # No active organization yet: no organization headers, and the spoofed ones are removed.
    before = seen(authgate(gateway_config(org_auth_server, org_database, resolver)), cookie, spoofed)
    assert "x-auth-organization-id" not in before and "x-auth-organization-role" not in before

    slug = "acme-" + secrets.token_hex(4)
    created = requests.post(
        f"{org_auth_server.url}/api/auth/organization/create",
        json={"name": "Acme", "slug": slug},
        headers={**cookie, "Origin": org_auth_server.url},
        timeout=TIMEOUT,
    )
    assert created.status_code == 200, created.text
    organization_id = created.json()["id"]
    active = requests.post(
        f"{org_auth_server.url}/api/auth/organization/set-active",
        json={"organizationId": organization_id},
        headers={**cookie, "Origin": org_auth_server.url},
        timeout=TIMEOUT,
    )
    assert active.status_code == 200, active.text

    gateway = authgate(gateway_config(org_auth_server, org_database, resolver))
    headers = seen(gateway, cookie, spoofed)
    assert headers["x-auth-organization-id"] == organization_id
    assert headers["x-auth-organization-role"] == "owner"
    assert headers["x-auth-user-id"] == owner.user_id

    # Cached with the identity: a role change shows once the entry is gone (a fresh gateway
    # here), not on the next request served from the cache.
    sql(org_database, """UPDATE member SET role = 'admin' WHERE "organizationId" = %s""", organization_id)
    assert seen(gateway, cookie)["x-auth-organization-role"] == "owner"
    assert seen(authgate(gateway_config(org_auth_server, org_database, resolver)), cookie)["x-auth-organization-role"] == "admin"
