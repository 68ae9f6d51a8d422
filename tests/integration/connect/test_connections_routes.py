"""/v1/connections: list, read, change. Owner or tenant admin; anybody else gets 404."""

from __future__ import annotations

from brokertest.google import seed_connection

KEYS = {
    "id",
    "name",
    "provider",
    "oauth_client_id",
    "owner",
    "account",
    "scopes_requested",
    "scopes_granted",
    "status",
    "status_reason",
    "concurrency_level",
    "borrow_concurrency_from",
    "metadata",
    "created_at",
    "updated_at",
    "last_refreshed_at",
    "expires_at",
}


def seed(cw, owner: str = "alice", tenant: str = "acme", **fields):
    rec, _ = seed_connection(cw.world, cw.fake, owner=owner, tenant=tenant, **fields)
    return rec


def get(cw, con_id: str, token: str):
    return cw.world.request("GET", f"/v1/connections/{con_id}", token=token)


def patch(cw, con_id: str, body, token: str | None = None):
    return cw.world.request(
        "PATCH", f"/v1/connections/{con_id}", token=token or cw.world.token(), json_body=body
    )


def test_given_a_connection_when_its_owner_reads_it_then_the_documented_shape_comes_back_without_secrets(cw):
    rec = seed(cw)
    resp = get(cw, rec.id, cw.world.token())
    assert resp.status_code == 200
    assert set(resp.json) == KEYS
    assert resp.json["account"] == {"email": "alice@example.com", "sub": "sub-alice@example.com"}
    assert resp.json["expires_at"].endswith("Z") and resp.json["metadata"] == {}
    assert "enc_" not in resp.get_data(as_text=True) and "version" not in resp.json


def test_given_connections_of_several_users_when_listed_then_users_see_their_own_and_admins_the_tenants(cw):
    mine, theirs = seed(cw, "alice"), seed(cw, "bob", email="bob@example.com")
    seed(cw, "alice", tenant="globex")
    ids = lambda resp: {c["id"] for c in resp.json["data"]}  # noqa: E731
    assert ids(cw.world.request("GET", "/v1/connections", token=cw.world.token())) == {mine.id}
    admin = cw.world.token("acme", "root", admin=True)
    assert ids(cw.world.request("GET", "/v1/connections", token=admin)) == {mine.id, theirs.id}
    assert ids(cw.world.request("GET", "/v1/connections?user=bob", token=admin)) == {theirs.id}
    assert ids(cw.world.request("GET", "/v1/connections?user=bob", token=cw.world.token())) == set()


def test_given_more_connections_than_the_limit_when_listed_then_the_cursor_pages_through_all_of_them(cw):
    created = {seed(cw).id for _ in range(5)}
    seen, cursor, pages = set(), None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        resp = cw.world.request("GET", "/v1/connections" + query, token=cw.world.token())
        assert resp.status_code == 200 and len(resp.json["data"]) <= 2
        seen |= {c["id"] for c in resp.json["data"]}
        pages += 1
        cursor = resp.json["next_cursor"]
        if not cursor:
            break
    assert seen == created and pages >= 3


def test_given_a_bad_limit_or_cursor_when_listed_then_it_is_a_validation_problem(cw):
    for query in ("?limit=0", "?limit=101", "?limit=x", "?cursor=not-a-cursor"):
        resp = cw.world.request("GET", "/v1/connections" + query, token=cw.world.token())
        assert resp.status_code == 422, query
        assert resp.json["code"] == "validation_error"


def test_given_a_cursor_of_another_users_listing_when_used_then_it_is_refused(cw):
    for _ in range(3):
        seed(cw, "bob", email="bob@example.com")
    admin = cw.world.token("acme", "root", admin=True)
    cursor = cw.world.request("GET", "/v1/connections?user=bob&limit=1", token=admin).json["next_cursor"]
    resp = cw.world.request("GET", f"/v1/connections?cursor={cursor}", token=cw.world.token())
    assert resp.status_code == 422


def test_given_someone_who_may_not_see_a_connection_when_they_use_any_connection_route_then_404(cw):
    rec = seed(cw)
    outsiders = [
        cw.world.token("acme", "bob"),
        cw.world.token("globex", "alice"),
        cw.world.token("globex", "root", admin=True),
    ]
    for token in outsiders:
        assert get(cw, rec.id, token).status_code == 404
        resp = patch(cw, rec.id, {"name": "hijacked"}, token)
        assert resp.status_code == 404 and resp.json["code"] == "not_found"
        listing = cw.world.request("GET", "/v1/connections", token=token)
        assert rec.id not in {c["id"] for c in listing.json["data"]}
    assert cw.world.services.connections.get(rec.id).name == rec.name


def test_given_a_tenant_admin_when_reading_and_changing_a_users_connection_then_it_is_allowed(cw):
    rec = seed(cw, "bob", email="bob@example.com")
    admin = cw.world.token("acme", "root", admin=True)
    assert get(cw, rec.id, admin).status_code == 200
    assert patch(cw, rec.id, {"name": "Bob's mail"}, admin).json["name"] == "Bob's mail"


def test_given_an_owner_when_patching_name_concurrency_and_metadata_then_they_change_and_the_version_moves(
    cw,
):
    rec = seed(cw, metadata={"crm": "1", "drop": True})
    resp = patch(
        cw, rec.id, {"name": "Inbox", "concurrency_level": 5, "metadata": {"team": "sales", "drop": None}}
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["name"] == "Inbox" and resp.json["concurrency_level"] == 5
    assert resp.json["metadata"] == {"crm": "1", "team": "sales"}
    stored = cw.world.services.connections.get(rec.id)
    assert stored.version == rec.version + 1 and stored.metadata == {"crm": "1", "team": "sales"}
    cleared = patch(cw, rec.id, {"concurrency_level": None, "metadata": None})
    assert cleared.json["concurrency_level"] is None and cleared.json["metadata"] == {}


def test_given_invalid_changes_when_patched_then_each_is_a_validation_problem_and_nothing_changes(cw):
    rec = seed(cw)
    for body in (
        {"concurrency_level": 0},
        {"concurrency_level": 26},
        {"concurrency_level": "5"},
        {"metadata": ["not", "an", "object"]},
        {"metadata": {"blob": "x" * 4100}},
        {"name": ""},
        {"status": "active"},
        {"owner": "mallory"},
    ):
        resp = patch(cw, rec.id, body)
        assert resp.status_code == 422, (body, resp.json)
    assert cw.world.services.connections.get(rec.id).version == rec.version


def test_given_borrowing_rules_when_borrow_concurrency_from_is_patched_then_only_a_one_level_loan_is_allowed(
    cw,
):
    lender, borrower, third = seed(cw), seed(cw), seed(cw)
    others = seed(cw, "bob", email="bob@example.com")
    assert patch(cw, borrower.id, {"borrow_concurrency_from": borrower.id}).status_code == 422  # itself
    assert patch(cw, borrower.id, {"borrow_concurrency_from": others.id}).status_code == 422  # not visible
    assert patch(cw, borrower.id, {"borrow_concurrency_from": "con_" + "0" * 32}).status_code == 422
    ok = patch(cw, borrower.id, {"borrow_concurrency_from": lender.id})
    assert ok.status_code == 200 and ok.json["borrow_concurrency_from"] == lender.id
    assert (
        patch(cw, third.id, {"borrow_concurrency_from": borrower.id}).status_code == 422
    )  # a borrower lends
    assert patch(cw, lender.id, {"borrow_concurrency_from": third.id}).status_code == 422  # a lender borrows
    assert patch(cw, borrower.id, {"borrow_concurrency_from": None}).json["borrow_concurrency_from"] is None
    assert patch(cw, lender.id, {"borrow_concurrency_from": third.id}).status_code == 200


def test_given_an_admin_when_a_users_connection_borrows_from_another_users_then_it_is_allowed(cw):
    mine, theirs = seed(cw), seed(cw, "bob", email="bob@example.com")
    admin = cw.world.token("acme", "root", admin=True)
    assert patch(cw, mine.id, {"borrow_concurrency_from": theirs.id}, admin).status_code == 200


class RacingConnections:
    """The connection store, with another writer sneaking in between the read and the write."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get_visible(self, principal, connection_id):
        rec = self.inner.get_visible(principal, connection_id)
        self.inner.save(rec.model_copy(update={"name": "the other writer"}), expected_version=rec.version)
        return rec


def test_given_a_concurrent_change_when_a_patch_saves_then_it_is_a_409_conflict_and_the_other_write_stands(
    cw,
):
    rec = seed(cw)
    cw.world.services.__dict__["connections"] = RacingConnections(cw.world.services.connections)
    resp = patch(cw, rec.id, {"name": "mine"})
    assert resp.status_code == 409 and resp.json["code"] == "conflict"
    assert cw.world.services.connections.inner.get(rec.id).name == "the other writer"
