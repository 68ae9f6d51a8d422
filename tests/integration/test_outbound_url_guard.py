"""The outbound URL guard through the API: a custom provider or a webhook URL that would lead the
broker into its own network (loopback, private, link-local/metadata, CGNAT, unique-local...) is a
422 naming the field, and a webhook host that rebinds to such an address later is never called.

Names resolve through the world's FakeDns (`world.dns`); nothing reaches a real resolver.
"""

from __future__ import annotations

import httpcore
import httpx
import pytest

from oauth_broker.clients import http_client
from oauth_broker.outbound import GuardedTransport
from oauth_broker.services import Services, configure
from oauth_broker_dev import lambda_runtime

SECRET = "whsec-outbound-0123456789"

# a URL (host resolving per `world.dns`) and the kind of address it leads to
REFUSED_TARGETS = [
    ("https://10.0.0.5/x", None),
    ("https://169.254.169.254/latest/meta-data/", None),
    ("https://[::ffff:127.0.0.1]/x", None),
    ("http://127.0.0.1:9000/x", None),
    ("https://internal.example.com/x", "10.1.2.3"),
    ("https://metadata.example.com/x", "169.254.169.254"),
    ("https://cgnat.example.com/x", "100.64.0.9"),
    ("https://ula.example.com/x", "fd00::1"),
    ("https://mapped.example.com/x", "::ffff:192.168.0.1"),
    ("https://zero.example.com/x", "0.0.0.0"),
]


def resolve(world, url: str, address: str | None) -> None:
    if address is not None:
        world.dns[httpx.URL(url).host] = address


def provider(key: str = "acme-idp", **auth: str) -> dict:
    return {
        "key": key,
        "display_name": "Acme IdP",
        "auth": {
            "authorization_url": "https://login.acme.example.com/authorize",
            "token_url": "https://login.acme.example.com/token",
            **auth,
        },
        "scopes": ["read"],
    }


def listed(world) -> set[str]:
    resp = world.request("GET", "/v1/providers", token=world.token(admin=True))
    return {p["key"] for p in resp.json["data"]}


def field_locs(resp) -> list[list[str]]:
    return [e["loc"] for e in resp.json["errors"]]


# -- POST /v1/providers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "address"), REFUSED_TARGETS)
@pytest.mark.parametrize("field", ["token_url", "revocation_url", "userinfo_url", "jwks_url"])
def test_given_a_custom_provider_endpoint_leading_into_the_network_when_registered_then_422_names_the_field(
    world, field, url, address
):
    resolve(world, url, address)
    resp = world.request(
        "POST", "/v1/providers", token=world.token(admin=True), json_body=provider(**{field: url})
    )
    assert resp.status_code == 422, resp.json
    assert resp.json["code"] == "validation_error"
    assert ["body", "auth", field] in field_locs(resp)
    assert "acme-idp" not in listed(world)


@pytest.mark.parametrize(("url", "address"), REFUSED_TARGETS)
def test_given_an_api_base_url_leading_into_the_network_when_registered_then_422_names_the_field(
    world, url, address
):
    resolve(world, url, address)
    body = {**provider(), "api": {"base_url": url.rsplit("/", 1)[0] + "/"}}
    resp = world.request("POST", "/v1/providers", token=world.token(admin=True), json_body=body)
    assert resp.status_code == 422, resp.json
    assert ["body", "api", "base_url"] in field_locs(resp)
    assert "acme-idp" not in listed(world)


def test_given_an_oidc_issuer_resolving_to_the_metadata_address_when_registered_then_nothing_is_fetched(
    world,
):
    fetched: list[str] = []
    world.transport.mount(
        "https://sso.acme.example.com",
        httpx.MockTransport(lambda r: fetched.append(str(r.url)) or httpx.Response(200, json={})),
    )
    world.dns["sso.acme.example.com"] = "169.254.169.254"
    body = {
        "key": "acme-sso",
        "display_name": "Acme SSO",
        "auth": {"issuer": "https://sso.acme.example.com", "oidc": True},
        "scopes": ["openid"],
    }
    resp = world.request("POST", "/v1/providers", token=world.token(admin=True), json_body=body)
    assert resp.status_code == 422, resp.json
    assert ["body", "auth", "issuer"] in field_locs(resp)
    assert "link-local" in str(resp.json["errors"])
    assert fetched == []


def test_given_endpoints_on_public_hosts_when_registered_then_the_provider_is_created(world):
    body = {
        **provider(revocation_url="https://login.acme.example.com/revoke"),
        "api": {"base_url": "https://api.acme.example.com/v1/"},
    }
    resp = world.request("POST", "/v1/providers", token=world.token(admin=True), json_body=body)
    assert resp.status_code == 201, resp.json
    assert {"login.acme.example.com", "api.acme.example.com"} <= set(world.dns.lookups)


# -- PATCH /v1/settings webhook_url --------------------------------------------------------------------


@pytest.mark.parametrize(("url", "address"), REFUSED_TARGETS)
def test_given_a_webhook_url_leading_into_the_network_when_patched_then_422_names_webhook_url(
    world, url, address
):
    resolve(world, url, address)
    resp = world.request(
        "PATCH", "/v1/settings", token=world.token(admin=True), json_body={"webhook_url": url}
    )
    assert resp.status_code == 422, resp.json
    assert resp.json["code"] == "validation_error"
    assert ["body", "webhook_url"] in [e["loc"][:2] for e in resp.json["errors"]]
    assert world.services.settings.get("acme").webhook_url is None


def test_given_a_non_admin_when_patching_a_webhook_url_then_it_is_refused_before_any_lookup(world):
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=world.token(user="mallory"),
        json_body={"webhook_url": "https://probe.example.com/hook"},
    )
    assert resp.status_code == 403
    assert "probe.example.com" not in world.dns.lookups


class Connector(httpcore.MockBackend):
    """Where the webhook function's sockets would open: records every address dialled."""

    def __init__(self) -> None:
        super().__init__([b"HTTP/1.1 204 No Content\r\n\r\n"])
        self.dialled: list[str] = []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.dialled.append(host)
        return super().connect_tcp(host, port, timeout, local_address, socket_options)


def test_given_a_webhook_host_that_rebinds_to_a_private_address_when_delivering_then_nothing_is_sent(world):
    world.dns.sequence("hooks.acme.example.com", ["93.184.215.14", "10.0.0.9"])
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=world.token(admin=True),
        json_body={"webhook_url": "https://hooks.acme.example.com/broker", "webhook_secret": SECRET},
    )
    assert resp.status_code == 200, resp.json  # public when it was set
    # the webhook function's services: the production client, its sockets replaced by a recorder
    connector = Connector()
    services = Services(
        world.services.config,
        dynamodb=world.aws.dynamodb,
        kms=world.aws.kms,
        events=world.aws.events,
        http=http_client(transport=GuardedTransport(world.services.outbound, backend=connector)),
        resolver=world.dns,
    )
    event = {
        "detail-type": "connection.created",
        "detail": {"tenant": "acme", "event_id": "evt_1", "type": "connection.created"},
    }
    configure(services)
    try:
        result = lambda_runtime.invoke("webhook", event)
    finally:
        configure(world.services)
    assert (result["status"], result["reason"]) == ("skipped", "webhook_address_not_allowed")
    assert connector.dialled == []
    assert world.dns.lookups.count("hooks.acme.example.com") == 2  # at PATCH, then at the connect
