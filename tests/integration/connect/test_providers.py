"""/v1/providers: the catalog per tenant, enabling/disabling (which cuts connections at once), and
custom OAuth 2.0 / OIDC providers."""

from __future__ import annotations

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
from brokertest.google import GOOGLE_BASE, seed_connection
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
        json_body={"provider": "google-mail", "oauth_client_id": cw.ocl},
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


def custom_oidc(key: str = "acme-idp", **auth) -> dict:
    return {
        "key": key,
        "display_name": "Acme IdP",
        "auth": {"issuer": GOOGLE_BASE, "oidc": True, "default_params": {"access_type": "offline"}, **auth},
        "api": {"base_url": f"{GOOGLE_BASE}/"},
        "base_scopes": [{"scope": "openid"}, {"scope": "email", "aliases": [AUTH + "userinfo.email"]}],
        "scopes": [
            {"scope": AUTH + "gmail.readonly", "short_name": "mail.read", "sensitivity": "restricted"}
        ],
        "default_scopes": ["mail.read"],
    }


def test_given_an_oidc_issuer_only_when_a_custom_provider_is_registered_then_discovery_fills_its_endpoints(
    cw,
):
    resp = cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=custom_oidc())
    assert resp.status_code == 201, resp.json
    assert resp.headers["Location"] == "/v1/providers/acme-idp"
    assert resp.json["custom"] is True and resp.json["enabled"] is True and resp.json["oidc"] is True
    definition = provider_registry(cw.world.services).get("acme", "acme-idp").definition
    assert definition.auth.token_url == f"{GOOGLE_BASE}/token"
    assert definition.auth.jwks_url == f"{GOOGLE_BASE}/jwks"
    assert definition.auth.authorization_url == f"{GOOGLE_BASE}/o/oauth2/v2/auth"
    assert [r.path for r in cw.fake.requests] == ["/.well-known/openid-configuration"]
    other = cw.world.request("GET", "/v1/providers", token=cw.world.token("globex", "gina"))
    assert "acme-idp" not in {p["key"] for p in other.json["data"]}


def test_given_a_registered_custom_provider_when_a_user_connects_then_the_whole_flow_works_with_it(cw):
    assert (
        cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=custom_oidc()).status_code == 201
    )
    client = create_oauth_client(cw.world, provider="acme-idp", name="Acme app")
    flow = run_flow(cw.world, cw.fake, client["id"], provider="acme-idp", return_to=RETURN_TO)
    message, _ = posted_message(flow.response.get_data(as_text=True))
    assert message["status"] == "active", message
    rec = cw.world.services.connections.get(message["connection_id"])
    assert rec.provider == "acme-idp" and rec.account_email == "alice@example.com"
    assert AUTH + "gmail.readonly" in rec.scopes_granted


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
    cw,
):
    bad = custom_oidc(key="insecure")
    bad["auth"] = {"authorization_url": "http://auth.example/a", "token_url": "https://auth.example/t"}
    resp = cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=bad)
    assert resp.status_code == 422
    assert ["body", "auth", "authorization_url"] in [e["loc"] for e in resp.json["errors"]]
    builtin = cw.world.request(
        "POST", "/v1/providers", token=admin(cw), json_body=custom_oidc(key="google-mail")
    )
    assert builtin.status_code == 422
    down = cw.world.request(
        "POST",
        "/v1/providers",
        token=admin(cw),
        json_body=custom_oidc(key="nowhere", issuer="https://nowhere.test"),
    )
    assert down.status_code == 422 and "discovery" in down.json["detail"] + str(down.json["errors"])


def test_given_a_custom_provider_key_in_use_when_registered_again_then_409(cw):
    assert (
        cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=custom_oidc()).status_code == 201
    )
    again = cw.world.request("POST", "/v1/providers", token=admin(cw), json_body=custom_oidc())
    assert again.status_code == 409 and again.json["code"] == "conflict"


def test_given_a_non_admin_when_registering_a_provider_then_it_is_forbidden(cw):
    assert (
        cw.world.request("POST", "/v1/providers", token=cw.world.token(), json_body=custom_oidc()).status_code
        == 403
    )


def test_given_a_non_google_provider_when_reauthorization_replaces_the_refresh_token_then_the_old_is_revoked(
    aws, tmp_path
):
    from brokertest.connect import allow_return_origins
    from brokertest.google import build_google_world
    from oauth_broker.crypto.envelope import EncryptionContext
    from oauth_broker.services import configure

    world, fake = build_google_world(aws, tmp_path, revoke_whole_client_grant=False)  # RFC 7009 semantics
    try:
        allow_return_origins(world)
        token = world.token("acme", "root", admin=True)
        assert world.request("POST", "/v1/providers", token=token, json_body=custom_oidc()).status_code == 201
        client = create_oauth_client(world, provider="acme-idp")
        first = posted_message(
            run_flow(world, fake, client["id"], provider="acme-idp", return_to=RETURN_TO).response.get_data(
                as_text=True
            )
        )[0]
        con_id = first["connection_id"]

        def refresh_token() -> str:
            rec = world.services.connections.get(con_id)
            ctx = EncryptionContext("acme", con_id, "refresh_token")
            return world.services.envelope.decrypt(rec.enc_refresh_token, ctx).decode()

        old = refresh_token()
        run_flow(world, fake, client["id"], provider="acme-idp", connection_id=con_id, prompt="consent")
        new = refresh_token()
        assert new != old
        assert [r.token for r in fake.revocations] == [old]
        assert fake.token_info(old)["revoked"] is True
        assert fake.token_info(new)["active"] is True
    finally:
        configure(None)


def test_given_a_provider_whose_revocation_revokes_the_grant_when_re_authorized_then_the_old_token_is_kept(
    aws, tmp_path
):
    # the catalog's auth.revocation_revokes_grant decides, not the provider's key or issuer
    from brokertest.connect import allow_return_origins
    from brokertest.google import build_google_world
    from oauth_broker.crypto.envelope import EncryptionContext
    from oauth_broker.services import configure

    world, fake = build_google_world(aws, tmp_path)  # Google's semantics: the whole grant goes
    try:
        allow_return_origins(world)
        token = world.token("acme", "root", admin=True)
        body = custom_oidc(revocation_revokes_grant=True)
        assert world.request("POST", "/v1/providers", token=token, json_body=body).status_code == 201
        client = create_oauth_client(world, provider="acme-idp")
        first = posted_message(
            run_flow(world, fake, client["id"], provider="acme-idp", return_to=RETURN_TO).response.get_data(
                as_text=True
            )
        )[0]
        con_id = first["connection_id"]

        def refresh_token() -> str:
            rec = world.services.connections.get(con_id)
            ctx = EncryptionContext("acme", con_id, "refresh_token")
            return world.services.envelope.decrypt(rec.enc_refresh_token, ctx).decode()

        old = refresh_token()
        run_flow(world, fake, client["id"], provider="acme-idp", connection_id=con_id, prompt="consent")
        new = refresh_token()
        assert new != old
        assert fake.revocations == []
        assert fake.token_info(new)["active"] is True
    finally:
        configure(None)
