import json

from oauth_broker.crypto.envelope import EncryptionContext

WEBHOOK_SECRET = "whsec-0123456789abcdef-SECRET"


def dump_table(world) -> str:
    items = world.aws.dynamodb.scan(TableName=world.aws.resources.table_name)["Items"]
    return json.dumps(items)


def test_given_an_admin_jwt_when_settings_are_read_then_the_defaults_come_back(world):
    resp = world.request("GET", "/v1/settings", token=world.token(admin=True))
    assert resp.status_code == 200
    assert resp.json == {
        "allowed_return_origins": [],
        "webhook_url": None,
        "webhook_secret_hint": None,
        "expose_access_tokens": False,
        "gmail_push": None,
        "updated_at": None,
    }


def test_given_an_admin_when_settings_are_patched_then_the_secret_is_write_only_and_encrypted(world):
    admin = world.token(admin=True)
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=admin,
        json_body={
            "allowed_return_origins": ["https://App.Example.com"],
            "webhook_url": "https://hooks.example.com/broker",
            "webhook_secret": WEBHOOK_SECRET,
        },
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["allowed_return_origins"] == ["https://app.example.com"]
    assert resp.json["webhook_secret_hint"] == "…CRET"
    assert WEBHOOK_SECRET not in resp.get_data(as_text=True)
    assert WEBHOOK_SECRET not in dump_table(world)
    stored = world.services.settings.get("acme")
    ctx = EncryptionContext("acme", "settings", "webhook_secret")
    assert world.services.envelope.decrypt(stored.enc_webhook_secret, ctx).decode() == WEBHOOK_SECRET


def test_given_a_path_in_an_allowed_origin_when_patched_then_it_is_a_validation_problem(world):
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=world.token(admin=True),
        json_body={"allowed_return_origins": ["https://app.example.com/callback"]},
    )
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["code"] == "validation_error"
    assert resp.json["errors"][0]["loc"][:2] == ["body", "allowed_return_origins"]


def test_given_a_plain_http_webhook_when_patched_then_it_is_refused(world):
    resp = world.request(
        "PATCH",
        "/v1/settings",
        token=world.token(admin=True),
        json_body={"webhook_url": "http://hooks.example.com"},
    )
    assert resp.status_code == 422


def test_given_a_non_admin_user_when_reading_settings_then_it_is_forbidden(world):
    resp = world.request("GET", "/v1/settings", token=world.token(user="bob"))
    assert resp.status_code == 403
    assert resp.json["code"] == "forbidden"


def test_given_a_new_api_key_when_created_then_it_is_shown_once_and_stored_only_as_a_hash(world):
    admin = world.token(admin=True)
    resp = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"})
    assert resp.status_code == 201
    key = resp.json["key"]
    assert key.startswith("obk_") and resp.headers["Location"] == f"/v1/api-keys/{resp.json['id']}"
    assert key not in dump_table(world)
    listed = world.request("GET", "/v1/api-keys", token=admin).json
    assert [k["id"] for k in listed["data"]] == [resp.json["id"]]
    assert "key" not in listed["data"][0]


def test_given_an_api_key_when_used_then_it_acts_as_admin_of_its_tenant(world):
    admin = world.token(admin=True)
    world.request("PATCH", "/v1/settings", token=admin, json_body={"expose_access_tokens": True})
    key = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"}).json["key"]
    resp = world.request("GET", "/v1/settings", token=key)
    assert resp.status_code == 200 and resp.json["expose_access_tokens"] is True


def test_given_an_api_key_of_another_tenant_when_used_then_it_sees_only_its_own_tenant(world):
    world.request(
        "PATCH", "/v1/settings", token=world.token(admin=True), json_body={"expose_access_tokens": True}
    )
    other = world.request(
        "POST",
        "/v1/api-keys",
        token=world.token(tenant="globex", user="gina", admin=True),
        json_body={"name": "g"},
    ).json["key"]
    assert world.request("GET", "/v1/settings", token=other).json["expose_access_tokens"] is False


def test_given_a_deleted_api_key_when_used_then_the_authorizer_denies_it(world):
    admin = world.token(admin=True)
    created = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"}).json
    assert world.request("DELETE", f"/v1/api-keys/{created['id']}", token=admin).status_code == 204
    world.api._auth_cache.clear()  # API Gateway's cache would expire after its TTL
    resp = world.request("GET", "/v1/settings", token=created["key"])
    assert resp.status_code == 403 and resp.json == {"message": "Forbidden"}


def test_given_an_api_key_when_it_tries_to_create_an_api_key_then_it_is_403_forbidden(world):
    admin = world.token(admin=True)
    key = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"}).json["key"]

    resp = world.request("POST", "/v1/api-keys", token=key, json_body={"name": "successor"})

    assert resp.status_code == 403 and resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["code"] == "forbidden" and "key" not in resp.json
    assert [k["name"] for k in world.request("GET", "/v1/api-keys", token=admin).json["data"]] == ["backend"]


def test_given_a_jwt_admin_when_an_api_key_is_created_then_it_is_201(world):
    resp = world.request("POST", "/v1/api-keys", token=world.token(admin=True), json_body={"name": "b"})

    assert resp.status_code == 201 and resp.json["key"].startswith("obk_")
    assert resp.json["created_by"] == "alice"


def test_given_a_live_api_key_when_it_makes_admin_writes_then_they_succeed(world):
    admin = world.token(admin=True)
    key = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"}).json["key"]
    other = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "other"}).json

    patched = world.request("PATCH", "/v1/settings", token=key, json_body={"expose_access_tokens": True})
    deleted = world.request("DELETE", f"/v1/api-keys/{other['id']}", token=key)

    assert patched.status_code == 200 and patched.json["expose_access_tokens"] is True
    assert deleted.status_code == 204


def _every_admin_write(client_id: str, surviving_key_id: str) -> dict[str, tuple[str, str, dict | None]]:
    return {
        "settings": ("PATCH", "/v1/settings", {"expose_access_tokens": True}),
        "api_key_create": ("POST", "/v1/api-keys", {"name": "successor"}),
        "api_key_delete": ("DELETE", f"/v1/api-keys/{surviving_key_id}", None),
        "oauth_client_create": (
            "POST",
            "/v1/oauth-clients",
            {"name": "Gmail app", "provider": "google-mail", "client_id": "cid-2", "client_secret": "s3cr3t"},
        ),
        "oauth_client_patch": ("PATCH", f"/v1/oauth-clients/{client_id}", {"name": "renamed"}),
        "oauth_client_delete": ("DELETE", f"/v1/oauth-clients/{client_id}", None),
        "provider_create": (
            "POST",
            "/v1/providers",
            {
                "key": "plain-oauth",
                "display_name": "Plain OAuth",
                "auth": {
                    "authorization_url": "https://auth.plain.example/authorize",
                    "token_url": "https://auth.plain.example/token",
                },
                "api": {"base_url": "https://api.plain.example/"},
                "scopes": ["read"],
                "enabled": False,
            },
        ),
        "provider_switch": ("PATCH", "/v1/providers/google-mail", {"enabled": False}),
    }


def test_given_a_deleted_key_the_authorizer_still_caches_when_it_makes_admin_writes_then_each_is_refused(
    world,
):
    admin = world.token(admin=True)
    created = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "backend"}).json
    survivor = world.request("POST", "/v1/api-keys", token=admin, json_body={"name": "survivor"}).json
    client = world.request(
        "POST",
        "/v1/oauth-clients",
        token=admin,
        json_body={"name": "app", "provider": "google-mail", "client_id": "cid-1", "client_secret": "s3cr3t"},
    ).json
    assert world.request("GET", "/v1/settings", token=created["key"]).status_code == 200  # decision cached
    assert world.request("DELETE", f"/v1/api-keys/{created['id']}", token=admin).status_code == 204
    calls_before = world.api.authorizer_calls

    refused = {
        name: world.request(method, path, token=created["key"], json_body=body)
        for name, (method, path, body) in _every_admin_write(client["id"], survivor["id"]).items()
    }
    read = world.request("GET", "/v1/settings", token=created["key"])

    for name, resp in refused.items():
        assert resp.status_code == 403, (name, resp.json)
        assert resp.headers["Content-Type"] == "application/problem+json", name
        assert resp.json["code"] == "api_key_revoked", (name, resp.json)
    # The authorizer was not asked again: its cached decision let every request through, and the
    # read still answers inside the cache window; only the writes' re-check stopped the key.
    assert world.api.authorizer_calls == calls_before
    assert read.status_code == 200 and read.json["expose_access_tokens"] is False
    clients = world.request("GET", "/v1/oauth-clients", token=admin).json["data"]
    assert [(c["id"], c["name"]) for c in clients] == [(client["id"], "app")]
    providers = {p["key"]: p for p in world.request("GET", "/v1/providers", token=admin).json["data"]}
    assert "plain-oauth" not in providers and providers["google-mail"]["enabled"] is True
    keys = world.request("GET", "/v1/api-keys", token=admin).json["data"]
    assert [k["id"] for k in keys] == [survivor["id"]]


def test_given_another_tenants_api_key_id_when_deleted_then_it_is_not_found(world):
    created = world.request(
        "POST", "/v1/api-keys", token=world.token(tenant="globex", admin=True), json_body={"name": "g"}
    ).json
    resp = world.request("DELETE", f"/v1/api-keys/{created['id']}", token=world.token(admin=True))
    assert resp.status_code == 404 and resp.json["code"] == "not_found"


def test_given_no_credentials_when_calling_a_protected_route_then_api_gateway_answers_401(world):
    resp = world.request("GET", "/v1/settings")
    assert resp.status_code == 401 and resp.json == {"message": "Unauthorized"}


def test_given_an_unknown_route_when_called_then_a_404_problem_comes_back(world):
    resp = world.request("GET", "/v1/nothing-here", token=world.token())
    assert resp.status_code == 404
    assert resp.json["code"] == "not_found" and resp.headers["Content-Type"] == "application/problem+json"


def test_given_the_openapi_route_when_fetched_without_credentials_then_it_lists_the_routes(world):
    resp = world.request("GET", "/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    assert doc["openapi"].startswith("3.1")
    assert "/v1/settings" in doc["paths"] and "/v1/api-keys/{key_id}" in doc["paths"]
