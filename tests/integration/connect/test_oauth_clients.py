"""/v1/oauth-clients: the secret is write-only and encrypted; deletion waits for the connections."""

from __future__ import annotations

from brokertest.connect import b64_forms, create_oauth_client, table_dump
from brokertest.google import CLIENT_SECRET, seed_connection
from oauth_broker.crypto.envelope import EncryptionContext

ROTATED = "GOCSPX-rotated-secret-0000-9999"


def admin(cw, tenant: str = "acme") -> str:
    return cw.world.token(tenant, "root", admin=True)


def test_given_an_admin_when_an_oauth_client_is_created_then_201_location_hint_and_callback_url_no_secret(
    cw,
):
    resp = cw.world.request(
        "POST",
        "/v1/oauth-clients",
        token=admin(cw),
        json_body={
            "name": "Gmail app",
            "provider": "google-mail",
            "client_id": "cid-2",
            "client_secret": CLIENT_SECRET,
        },
    )
    assert resp.status_code == 201
    body = resp.json
    assert resp.headers["Location"] == f"/v1/oauth-clients/{body['id']}"
    assert body["id"].startswith("ocl_") and len(body["id"]) >= 4 + 24
    assert body["secret_hint"] == "…" + CLIENT_SECRET[-4:]
    assert body["callback_url"] == "https://broker.test/v1/oauth/callback"
    assert set(body) == {
        "id",
        "name",
        "provider",
        "client_id",
        "secret_hint",
        "callback_url",
        "created_at",
        "updated_at",
    }
    assert CLIENT_SECRET not in resp.get_data(as_text=True)


def test_given_a_stored_oauth_client_when_the_table_is_read_then_the_secret_is_only_an_envelope_blob(cw):
    dump = table_dump(cw.world)
    assert not any(form in dump for form in b64_forms(CLIENT_SECRET))
    rec = cw.world.services.oauth_clients.get("acme", cw.ocl)
    ctx = EncryptionContext("acme", cw.ocl, "client_secret")
    assert cw.world.services.envelope.decrypt(rec.enc_client_secret, ctx).decode() == CLIENT_SECRET


def test_given_a_user_when_reading_oauth_clients_then_they_see_them_without_secrets(cw):
    user = cw.world.token()
    listing = cw.world.request("GET", "/v1/oauth-clients", token=user)
    assert listing.status_code == 200 and [c["id"] for c in listing.json["data"]] == [cw.ocl]
    assert listing.json["next_cursor"] is None
    one = cw.world.request("GET", f"/v1/oauth-clients/{cw.ocl}", token=user)
    assert one.status_code == 200 and one.json["client_id"] == cw.client["client_id"]
    for resp in (listing, one):
        text = resp.get_data(as_text=True)
        assert CLIENT_SECRET not in text and "enc_client_secret" not in text


def test_given_a_non_admin_when_changing_oauth_clients_then_it_is_forbidden(cw):
    user = cw.world.token()
    body = {"name": "x", "provider": "google-mail", "client_id": "c", "client_secret": "s"}
    assert cw.world.request("POST", "/v1/oauth-clients", token=user, json_body=body).status_code == 403
    assert (
        cw.world.request(
            "PATCH", f"/v1/oauth-clients/{cw.ocl}", token=user, json_body={"name": "x"}
        ).status_code
        == 403
    )
    assert cw.world.request("DELETE", f"/v1/oauth-clients/{cw.ocl}", token=user).status_code == 403


def test_given_another_tenant_when_it_asks_for_an_oauth_client_then_it_is_not_found(cw):
    for token in (cw.world.token("globex", "gina"), admin(cw, "globex")):
        assert cw.world.request("GET", f"/v1/oauth-clients/{cw.ocl}", token=token).status_code == 404
        assert cw.world.request("GET", "/v1/oauth-clients", token=token).json["data"] == []
    resp = cw.world.request("DELETE", f"/v1/oauth-clients/{cw.ocl}", token=admin(cw, "globex"))
    assert resp.status_code == 404
    resp = cw.world.request(
        "PATCH", f"/v1/oauth-clients/{cw.ocl}", token=admin(cw, "globex"), json_body={"name": "x"}
    )
    assert resp.status_code == 404


def test_given_an_admin_when_the_secret_is_rotated_then_the_id_stays_and_the_new_secret_is_stored_encrypted(
    cw,
):
    resp = cw.world.request(
        "PATCH",
        f"/v1/oauth-clients/{cw.ocl}",
        token=admin(cw),
        json_body={"client_secret": ROTATED, "name": "Renamed"},
    )
    assert resp.status_code == 200
    assert resp.json["id"] == cw.ocl and resp.json["name"] == "Renamed"
    assert resp.json["secret_hint"] == "…" + ROTATED[-4:]
    assert ROTATED not in resp.get_data(as_text=True)
    rec = cw.world.services.oauth_clients.get("acme", cw.ocl)
    ctx = EncryptionContext("acme", cw.ocl, "client_secret")
    assert cw.world.services.envelope.decrypt(rec.enc_client_secret, ctx).decode() == ROTATED
    assert not any(form in table_dump(cw.world) for form in b64_forms(ROTATED))


def test_given_an_unknown_provider_or_bad_fields_when_an_oauth_client_is_created_then_422(cw):
    for body in (
        {"name": "x", "provider": "nope", "client_id": "c", "client_secret": "s"},
        {"name": "x", "provider": "google", "client_id": "c", "client_secret": "s"},  # abstract base
        {"name": "x", "provider": "google-mail", "client_id": "c"},
        {"name": "", "provider": "google-mail", "client_id": "c", "client_secret": "s"},
    ):
        resp = cw.world.request("POST", "/v1/oauth-clients", token=admin(cw), json_body=body)
        assert resp.status_code == 422, (body, resp.json)
        assert resp.json["code"] == "validation_error"


def test_given_a_client_used_by_a_connection_when_deleted_then_409_until_the_connection_is_gone(cw):
    client = cw.world.services.oauth_clients.get("acme", cw.ocl)
    rec, _ = seed_connection(cw.world, cw.fake, oauth_client=client)
    resp = cw.world.request("DELETE", f"/v1/oauth-clients/{cw.ocl}", token=admin(cw))
    assert resp.status_code == 409 and resp.json["code"] == "conflict"
    assert cw.world.services.oauth_clients.get("acme", cw.ocl).id == cw.ocl
    cw.world.services.connections.delete(rec.id)
    assert cw.world.request("DELETE", f"/v1/oauth-clients/{cw.ocl}", token=admin(cw)).status_code == 204
    assert cw.world.request("GET", f"/v1/oauth-clients/{cw.ocl}", token=admin(cw)).status_code == 404


def test_given_another_tenants_connections_when_this_tenants_client_is_deleted_then_they_do_not_block_it(
    cw,
):
    other = create_oauth_client(cw.world, tenant="globex")
    seed_connection(
        cw.world,
        cw.fake,
        tenant="globex",
        oauth_client=cw.world.services.oauth_clients.get("globex", other["id"]),
    )
    assert cw.world.request("DELETE", f"/v1/oauth-clients/{cw.ocl}", token=admin(cw)).status_code == 204
