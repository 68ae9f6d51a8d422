"""/v1/providers: the catalog per tenant, enabling/disabling (which cuts connections at once), and
custom OAuth 2.0 / OIDC providers."""

from __future__ import annotations

import pytest

from brokertest.connect import (
    RETURN_TO,
    authorize,
    callback,
    create_oauth_client,
    create_session,
    posted_message,
    provider_redirect,
    run_flow,
)
from brokertest.custom_idp import IDP_BASE, custom_oauth2, custom_oidc, mount_idp
from brokertest.google import GOOGLE_BASE, seed_connection
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.providers.registry import provider_registry
from oauth_broker.store.models import ConnectionStatus

AUTH = "https://www.googleapis.com/auth/"


def admin(cw, tenant: str = "acme") -> str:
    return cw.world.token(tenant, "root", admin=True)


def set_enabled(cw, key: str, enabled: bool, tenant: str = "acme"):
    return cw.world.request(
        "PATCH", f"/v1/providers/{key}", token=admin(cw, tenant), json_body={"enabled": enabled}
    )


def due_index(cw, con_id: str) -> bool:
    item = cw.world.aws.dynamodb.get_item(
        TableName=cw.world.aws.resources.table_name, Key={"pk": {"S": f"CON#{con_id}"}, "sk": {"S": "CON"}}
    )["Item"]
    return "due_pk" in item


def test_given_a_user_when_listing_providers_then_the_connectable_ones_come_with_scope_sensitivity_and_state(
    cw,
):
    resp = cw.world.request("GET", "/v1/providers", token=cw.world.token())
    assert resp.status_code == 200
    by_key = {p["key"]: p for p in resp.json["data"]}
    assert set(by_key) == {"google-mail", "google-contacts"}  # the abstract `google` base is not listed
    mail = by_key["google-mail"]
    assert mail["display_name"] == "Google Mail" and mail["enabled"] is True and mail["custom"] is False
    scopes = {s["scope"]: s for s in mail["scopes"]}
    assert scopes[AUTH + "gmail.readonly"]["sensitivity"] == "restricted"
    assert scopes[AUTH + "gmail.readonly"]["short_name"] == "gmail.readonly"
    assert scopes[AUTH + "gmail.send"]["sensitivity"] == "sensitive"
    assert scopes[AUTH + "gmail.labels"]["sensitivity"] == "non_sensitive"
    assert scopes["openid"]["base"] is True and scopes[AUTH + "gmail.send"]["base"] is False
    assert resp.json["next_cursor"] is None


def test_given_a_non_admin_when_patching_a_provider_then_it_is_forbidden(cw):
    resp = cw.world.request(
        "PATCH", "/v1/providers/google-mail", token=cw.world.token(), json_body={"enabled": False}
    )
    assert resp.status_code == 403


def test_given_an_unknown_or_abstract_provider_when_patched_then_404(cw):
    assert set_enabled(cw, "nope", False).status_code == 404
    assert set_enabled(cw, "google", False).status_code == 404


def test_given_connections_when_the_provider_is_disabled_then_every_one_is_revoked_at_once(cw):
    active, _ = seed_connection(cw.world, cw.fake)
    partial, _ = seed_connection(
        cw.world, cw.fake, owner="bob", email="bob@example.com", status=ConnectionStatus.PARTIAL
    )
    contacts, _ = seed_connection(cw.world, cw.fake, provider="google-contacts", scopes=["contacts.readonly"])
    other_tenant, _ = seed_connection(cw.world, cw.fake, tenant="globex")
    resp = set_enabled(cw, "google-mail", False)
    assert resp.status_code == 200 and resp.json["enabled"] is False
    store = cw.world.services.connections
    for rec in (active, partial):
        now = store.get(rec.id)
        assert now.status is ConnectionStatus.REVOKED and now.status_reason == "provider_disabled"
        assert not due_index(cw, rec.id)  # out of the refresh sweep
    assert store.get(contacts.id).status is ConnectionStatus.ACTIVE
    assert store.get(other_tenant.id).status is ConnectionStatus.ACTIVE
    revoked = [e["detail"] for e in cw.events if e["detail-type"] == "connection.revoked"]
    assert {d["connection"]["connection_id"] for d in revoked} == {active.id, partial.id}
    assert all(d["reason"] == "provider_disabled" for d in revoked)
    listing = cw.world.request("GET", "/v1/providers", token=cw.world.token())
    assert {p["key"]: p["enabled"] for p in listing.json["data"]}["google-mail"] is False


def test_given_a_disabled_provider_when_it_is_enabled_again_then_the_connections_get_their_status_back(cw):
    active, _ = seed_connection(cw.world, cw.fake)
    partial, _ = seed_connection(
        cw.world, cw.fake, status=ConnectionStatus.PARTIAL, status_reason="scopes_not_granted"
    )
    set_enabled(cw, "google-mail", False)
    assert set_enabled(cw, "google-mail", True).json["enabled"] is True
    store = cw.world.services.connections
    assert (
        store.get(active.id).status is ConnectionStatus.ACTIVE and store.get(active.id).status_reason is None
    )
    assert store.get(partial.id).status is ConnectionStatus.PARTIAL
    assert store.get(partial.id).status_reason == "scopes_not_granted"
    assert due_index(cw, active.id)
    assert [e["detail-type"] for e in cw.events].count("connection.updated") == 2


def test_given_a_disabled_provider_when_disabled_again_then_nothing_changes_twice(cw):
    rec, _ = seed_connection(cw.world, cw.fake)
    set_enabled(cw, "google-mail", False)
    version = cw.world.services.connections.get(rec.id).version
    assert set_enabled(cw, "google-mail", False).status_code == 200
    assert cw.world.services.connections.get(rec.id).version == version
    assert [e["detail-type"] for e in cw.events].count("connection.revoked") == 1


def test_given_a_disabled_provider_when_a_user_creates_a_connect_session_then_it_is_refused(cw):
    set_enabled(cw, "google-mail", False)
    resp = cw.world.request(
        "POST",
        "/v1/connect-sessions",
        token=cw.world.token(),
        json_body={"provider": "google-mail", "oauth_client_id": cw.ocl, "return_to": RETURN_TO},
    )
    assert resp.status_code == 403 and resp.json["code"] == "provider_disabled"


def test_given_a_flow_in_flight_when_the_provider_is_disabled_then_the_callback_refuses_it_and_writes_nothing(
    cw,
):
    session = create_session(cw.world, cw.ocl, return_to=RETURN_TO)
    back = cw.fake.complete_consent(provider_redirect(cw.world, session["authorize_url"]))
    set_enabled(cw, "google-mail", False)
    message, _ = posted_message(callback(cw.world, back).get_data(as_text=True))
    assert message["error"] == "provider_disabled"
    assert cw.connection_items() == []


def test_given_a_session_created_before_the_provider_was_disabled_when_authorize_is_opened_then_it_is_refused(
    cw,
):
    session = create_session(cw.world, cw.ocl, mode="redirect", return_to=RETURN_TO)
    set_enabled(cw, "google-mail", False)
    resp = authorize(cw.world, session["authorize_url"])
    assert resp.status_code == 303 and resp.headers["Location"] == RETURN_TO + "?error=provider_disabled"


# -- custom providers --------------------------------------------------------------------------
# They live on a second fake IdP: the fake Google is the built-in Google here, whose issuer and
# endpoints no custom provider may claim.


@pytest.fixture
def idp(cw):
    return mount_idp(cw.world)


def register(cw, body: dict, tenant: str = "acme"):
    return cw.world.request("POST", "/v1/providers", token=admin(cw, tenant), json_body=body)


def test_given_an_oidc_issuer_only_when_a_custom_provider_is_registered_then_discovery_fills_its_endpoints(
    cw, idp
):
    resp = register(cw, custom_oidc())
    assert resp.status_code == 201, resp.json
    assert resp.headers["Location"] == "/v1/providers/acme-idp"
    assert resp.json["custom"] is True and resp.json["enabled"] is True and resp.json["oidc"] is True
    definition = provider_registry(cw.world.services).get("acme", "acme-idp").definition
    assert definition.auth.token_url == f"{IDP_BASE}/token"
    assert definition.auth.jwks_url == f"{IDP_BASE}/jwks"
    assert definition.auth.authorization_url == f"{IDP_BASE}/o/oauth2/v2/auth"
    # its discovery document says authorization_response_iss_parameter_supported: true
    assert definition.auth.authorization_response_iss is True
    assert [r.path for r in idp.requests] == ["/.well-known/openid-configuration"]
    other = cw.world.request("GET", "/v1/providers", token=cw.world.token("globex", "gina"))
    assert "acme-idp" not in {p["key"] for p in other.json["data"]}


def test_given_a_registered_custom_provider_when_a_user_connects_then_the_whole_flow_works_with_it(cw, idp):
    assert register(cw, custom_oidc()).status_code == 201
    client = create_oauth_client(cw.world, provider="acme-idp", name="Acme app")
    flow = run_flow(cw.world, idp, client["id"], provider="acme-idp", return_to=RETURN_TO)
    assert flow.query["iss"] == IDP_BASE
    rec = cw.world.services.connections.get(flow.connection_id)
    assert rec.provider == "acme-idp" and rec.account_email == "alice@example.com"
    assert rec.status == ConnectionStatus.ACTIVE
    assert AUTH + "gmail.readonly" in rec.scopes_granted
    assert cw.fake.requests == []  # nothing went to the built-in Google


def test_given_explicit_endpoints_when_a_custom_oauth2_provider_is_registered_then_no_discovery_is_needed(cw):
    body = {
        "key": "plain-oauth",
        "display_name": "Plain OAuth",
        "auth": {
            "authorization_url": "https://auth.plain.example/authorize",
            "token_url": "https://auth.plain.example/token",
            "revocation_url": "https://auth.plain.example/revoke",
            "userinfo_url": "https://api.plain.example/me",
        },
        "api": {"base_url": "https://api.plain.example/"},
        "scopes": ["read", "write"],
        "enabled": False,
    }
    resp = cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=body)
    assert resp.status_code == 201, resp.json
    assert resp.json["enabled"] is False and resp.json["oidc"] is False
    assert [s["scope"] for s in resp.json["scopes"]] == ["read", "write"]


def test_given_a_plain_http_or_bad_definition_when_a_custom_provider_is_registered_then_422_lists_the_fields(
    cw, idp
):
    bad = custom_oidc(key="insecure")
    bad["auth"] = {"authorization_url": "http://auth.example/a", "token_url": "https://auth.example/t"}
    resp = cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=bad)
    assert resp.status_code == 422
    assert ["body", "auth", "authorization_url"] in [e["loc"] for e in resp.json["errors"]]
    builtin = register(cw, custom_oidc(key="google-mail"))
    assert builtin.status_code == 422
    down = register(cw, custom_oidc(key="nowhere", base_url="https://nowhere.test"))
    assert down.status_code == 422 and "discovery" in down.json["detail"] + str(down.json["errors"])


def test_given_a_custom_provider_key_in_use_when_registered_again_then_409(cw, idp):
    assert register(cw, custom_oidc()).status_code == 201
    again = register(cw, custom_oidc())
    assert again.status_code == 409 and again.json["code"] == "conflict"


def test_given_a_non_admin_when_registering_a_provider_then_it_is_forbidden(cw, idp):
    assert (
        cw.world.request("POST", "/v1/providers", token=cw.world.token(), json_body=custom_oidc()).status_code
        == 403
    )


# -- a custom provider may not claim another provider's authorization server (RFC 9207 mix-up) --


def assert_claim_refused(resp, field: str) -> None:
    assert resp.status_code == 422, resp.json
    assert resp.json["code"] == "validation_error"
    assert ["body", "auth", field] in [e["loc"] for e in resp.json["errors"]], resp.json


def no_custom_provider(cw, key: str, tenant: str = "acme") -> bool:
    listed = cw.world.request("GET", "/v1/providers", token=cw.world.token(tenant, "root"))
    return key not in {p["key"] for p in listed.json["data"]}


def test_given_a_custom_provider_claiming_googles_issuer_when_registered_then_422_before_any_discovery(cw):
    # GOOGLE_BASE is the built-in Google's issuer in these tests (the fake Google's override)
    resp = register(cw, custom_oidc(key="fake-google", base_url=GOOGLE_BASE))
    assert_claim_refused(resp, "issuer")
    assert "'google'" in str(resp.json["errors"])
    assert cw.fake.requests == []  # refused before its discovery document was fetched
    assert no_custom_provider(cw, "fake-google")


def test_given_a_custom_provider_claiming_googles_authorization_endpoint_when_registered_then_422(cw, idp):
    body = custom_oauth2(authorization_url=f"{GOOGLE_BASE}/o/oauth2/v2/auth")
    assert_claim_refused(register(cw, body), "authorization_url")
    assert no_custom_provider(cw, "acme-oauth")


def test_given_a_custom_provider_claiming_googles_token_endpoint_when_registered_then_422(cw, idp):
    body = custom_oauth2(token_url=f"{GOOGLE_BASE}/token")
    assert_claim_refused(register(cw, body), "token_url")
    assert no_custom_provider(cw, "acme-oauth")


def test_given_discovery_that_points_at_googles_token_endpoint_when_registered_then_422(cw, idp):
    # an issuer of its own, whose discovery document names Google's token endpoint
    body = custom_oidc(key="sly")
    original = idp.app.view_functions["fake_google_oauth.discovery"]

    def sly_discovery():
        answer = original()
        document = answer.get_json()
        document["token_endpoint"] = f"{GOOGLE_BASE}/token"
        return document

    idp.app.view_functions["fake_google_oauth.discovery"] = sly_discovery
    resp = register(cw, body)
    assert_claim_refused(resp, "token_url")
    assert no_custom_provider(cw, "sly")


def test_given_a_custom_provider_claiming_another_custom_providers_endpoints_when_registered_then_422(
    cw, idp
):
    assert register(cw, custom_oidc()).status_code == 201
    twin = custom_oauth2(key="acme-twin")
    resp = register(cw, twin)
    assert_claim_refused(resp, "authorization_url")
    assert_claim_refused(resp, "token_url")
    assert "'acme-idp'" in str(resp.json["errors"])
    same_issuer = custom_oidc(key="acme-idp-2")
    assert_claim_refused(register(cw, same_issuer), "issuer")
    assert no_custom_provider(cw, "acme-twin") and no_custom_provider(cw, "acme-idp-2")


def test_given_another_tenants_custom_provider_when_a_tenant_registers_the_same_endpoints_then_it_is_its_own(
    cw, idp
):
    assert register(cw, custom_oidc()).status_code == 201
    assert register(cw, custom_oidc(), tenant="globex").status_code == 201


def test_given_a_custom_provider_extending_google_unchanged_when_registered_then_it_is_accepted(cw):
    body = {
        "key": "google-files",
        "display_name": "Google Files",
        "extends": "google",
        "api": {"base_url": "https://www.googleapis.com/", "path_prefixes": ["drive/v3/"]},
        "scopes": [{"scope": AUTH + "drive.readonly", "short_name": "drive.readonly"}],
    }
    resp = register(cw, body)
    assert resp.status_code == 201, resp.json
    evil = {**body, "key": "google-evil", "auth": {"token_url": "https://evil.example/token"}}
    resp = register(cw, evil)
    assert_claim_refused(resp, "issuer")
    assert_claim_refused(resp, "authorization_url")


def test_given_a_non_google_provider_when_reauthorization_replaces_the_refresh_token_then_the_old_is_revoked(
    cw,
):
    idp = mount_idp(cw.world, revoke_whole_client_grant=False)  # RFC 7009 semantics
    assert register(cw, custom_oidc()).status_code == 201
    client = create_oauth_client(cw.world, provider="acme-idp")
    con_id = run_flow(cw.world, idp, client["id"], provider="acme-idp", return_to=RETURN_TO).connection_id

    def refresh_token() -> str:
        rec = cw.world.services.connections.get(con_id)
        ctx = EncryptionContext("acme", con_id, "refresh_token")
        return cw.world.services.envelope.decrypt(rec.enc_refresh_token, ctx).decode()

    old = refresh_token()
    run_flow(cw.world, idp, client["id"], provider="acme-idp", connection_id=con_id, prompt="consent")
    new = refresh_token()
    assert new != old
    assert [r.token for r in idp.revocations] == [old]
    assert idp.token_info(old)["revoked"] is True
    assert idp.token_info(new)["active"] is True


def test_given_a_provider_whose_revocation_revokes_the_grant_when_re_authorized_then_the_old_token_is_kept(
    cw, idp
):
    # the catalog's auth.revocation_revokes_grant decides, not the provider's key or issuer
    assert register(cw, custom_oidc(revocation_revokes_grant=True)).status_code == 201
    client = create_oauth_client(cw.world, provider="acme-idp")
    con_id = run_flow(cw.world, idp, client["id"], provider="acme-idp", return_to=RETURN_TO).connection_id

    def refresh_token() -> str:
        rec = cw.world.services.connections.get(con_id)
        ctx = EncryptionContext("acme", con_id, "refresh_token")
        return cw.world.services.envelope.decrypt(rec.enc_refresh_token, ctx).decode()

    old = refresh_token()
    run_flow(cw.world, idp, client["id"], provider="acme-idp", connection_id=con_id, prompt="consent")
    new = refresh_token()
    assert new != old
    assert idp.revocations == []
    assert idp.token_info(new)["active"] is True
