"""Connections that share one grant at Google: Google revokes every token of an (OAuth client,
account) pair when any one of them is revoked (the fake does too: `revoke_whole_client_grant`).
Deleting one of two such connections must not revoke, or the other one dies silently; deleting the
last one revokes."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from brokertest.google import GOOGLE_BASE, seed_connection, seed_oauth_client
from brokertest.tokens import AwsCallCounter
from oauth_broker.errors import NotFound
from oauth_broker.ids import new_id
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.tombstones import TombstoneStore
from oauth_broker.timeutil import rfc3339
from oauth_broker.tokens.grants import shared_grant_siblings
from oauth_broker.tokens.revocation import ConnectionRevoker


def delete(tw, rec, *, user="alice", admin=False, tenant="acme"):
    return tw.world.request(
        "DELETE", f"/v1/connections/{rec.id}", token=tw.world.token(tenant, user, admin=admin)
    )


def refreshed_token(tw, rec: ConnectionRecord) -> str:
    """A forced refresh of `rec` through the refresher: a new access token from the fake."""
    token = tw.refresher().get_fresh_token(tw.stored(rec.id), force=True, deadline=time.monotonic() + 10)
    return token.token


def assert_works(tw, rec: ConnectionRecord) -> None:
    """`rec`'s grant is alive at the fake: its refresh token refreshes, the access token is accepted."""
    before = tw.token_requests()
    token = refreshed_token(tw, rec)
    assert tw.token_requests() == before + 1
    assert tw.fake.token_info(token)["active"] is True
    assert tw.fake.token_info(tw.decrypt(tw.stored(rec.id), "refresh_token"))["active"] is True
    assert tw.stored(rec.id).status == ConnectionStatus.ACTIVE


# -- siblings keep the grant --------------------------------------------------------------------------
def test_given_two_connections_of_one_client_and_account_when_one_is_deleted_then_the_other_keeps_working(
    tw,
):
    first, first_tokens = tw.seed()
    second, _ = tw.seed()

    resp = delete(tw, first)

    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.json
    assert body["deleted"] is True and body["revoked"] is False
    assert body["revocation"] == "kept_shared_grant" and body["error"] is None
    assert body["shared_with"] == [second.id] and second.id in body["detail"]
    assert first_tokens["refresh_token"] not in resp.get_data(as_text=True)
    assert tw.fake.revocations == []
    assert tw.world.services.connections.get(first.id) is None
    assert tw.event_types() == ["connection.revoked", "connection.deleted"]  # no revocation_failed
    assert tw.events_of("connection.deleted")[0]["provider_revocation"] == "kept_shared_grant"
    assert_works(tw, second)
    refresh = tw.world.request(
        "POST", f"/v1/connections/{second.id}/refresh", token=tw.world.token("acme", "alice")
    )
    assert refresh.status_code == 200 and refresh.json["status"] == "active"


def test_given_the_last_connection_of_a_grant_when_deleted_then_the_grant_is_revoked(tw):
    first, _ = tw.seed()
    second, second_tokens = tw.seed()
    assert delete(tw, first).status_code == 200

    resp = delete(tw, second)

    assert resp.status_code == 204
    (revocation,) = tw.fake.revocations
    assert revocation.token == second_tokens["refresh_token"] and revocation.outcome == "revoked"
    assert tw.fake.token_info(second_tokens["refresh_token"])["active"] is False
    assert tw.world.services.connections.get(second.id) is None
    assert tw.events_of("connection.deleted")[-1]["provider_revocation"] == "revoked"


def test_given_mail_and_contacts_connections_through_two_records_of_one_google_client_then_they_share_it(tw):
    # an OAuth client record serves one provider; both records hold the same Google client id,
    # so Google sees one (client, account) grant
    mail, _ = tw.seed(provider="google-mail")
    contacts_client = seed_oauth_client(tw.world, provider="google-contacts")
    contacts, _ = seed_connection(
        tw.world,
        tw.fake,
        provider="google-contacts",
        scopes=["contacts.readonly"],
        oauth_client=contacts_client,
    )
    assert mail.oauth_client_id != contacts.oauth_client_id

    resp = delete(tw, mail)

    assert resp.status_code == 200 and resp.json["revocation"] == "kept_shared_grant"
    assert resp.json["shared_with"] == [contacts.id]
    assert tw.fake.revocations == []
    assert_works(tw, contacts)


def test_given_a_sibling_of_another_user_when_the_owner_deletes_then_its_id_is_not_shown(tw):
    # bob connected the same Google account (a shared mailbox) through the tenant's client
    mine, _ = tw.seed(owner="alice")
    theirs, _ = tw.seed(owner="bob")

    resp = delete(tw, mine, user="alice")

    assert resp.status_code == 200 and resp.json["revocation"] == "kept_shared_grant"
    assert resp.json["shared_with"] == [] and theirs.id not in resp.get_data(as_text=True)
    assert "1 connection(s) of other users" in resp.json["detail"]
    assert tw.fake.revocations == []
    assert_works(tw, theirs)


def test_given_a_sibling_of_a_disabled_provider_when_deleting_then_the_grant_is_kept_for_its_return(tw):
    first, _ = tw.seed()
    paused, _ = tw.seed(
        status=ConnectionStatus.REVOKED,
        status_reason="provider_disabled",
        status_before_disable=ConnectionStatus.ACTIVE,
    )
    resp = delete(tw, first)
    assert resp.status_code == 200 and resp.json["shared_with"] == [paused.id]
    assert tw.fake.revocations == []
    assert tw.fake.token_info(tw.decrypt(paused, "refresh_token"))["active"] is True


# -- what is not a sibling ------------------------------------------------------------------------------
def other_client_id(tw) -> Any:
    """A record of another Google client (another Google Cloud project) in the same tenant."""
    record = seed_oauth_client(tw.world)
    other = record.model_copy(
        update={"id": new_id("ocl"), "client_id": "other-project.apps.googleusercontent.com"}
    )
    return tw.world.services.oauth_clients.create(other)


@pytest.mark.parametrize(
    "other",
    [
        {"tenant": "globex"},
        {"email": "bob@example.com"},
        {"status": ConnectionStatus.REVOKED, "status_reason": "deleted"},
        {"oauth_client": "other Google client"},
    ],
    ids=["another-tenant", "another-account", "being-deleted", "another-google-client"],
)
def test_given_a_connection_that_does_not_share_the_grant_when_deleting_then_the_grant_is_revoked(tw, other):
    rec, tokens = tw.seed()
    fields = dict(other)
    if fields.get("oauth_client"):
        fields["oauth_client"] = other_client_id(tw)
    elif "tenant" in fields:
        fields["oauth_client"] = seed_oauth_client(tw.world, tenant=fields["tenant"])
    seed_connection(tw.world, tw.fake, **fields)

    resp = delete(tw, rec)

    assert resp.status_code == 204, resp.get_data(as_text=True)
    assert [r.token for r in tw.fake.revocations] == [tokens["refresh_token"]]
    assert tw.events_of("connection.deleted")[0]["provider_revocation"] == "revoked"


def test_given_a_provider_that_revokes_single_tokens_when_deleting_then_siblings_are_not_looked_up(tw):
    rec, tokens = tw.seed()
    tw.seed()
    provider = tw.services.catalog.get("google-mail")
    single = provider.model_copy(
        update={"auth": provider.auth.model_copy(update={"revocation_revokes_grant": False})}
    )
    refresher = tw.refresher(provider_for=lambda conn: single)

    report = ConnectionRevoker(tw.services, refresher).revoke_and_delete(
        "acme", rec.id, deadline=time.monotonic() + 10
    )

    assert report.revoked is True and report.outcome == "revoked" and report.shared_with == ()
    assert [r.token for r in tw.fake.revocations] == [tokens["refresh_token"]]


UNRELATED = 40


def test_given_a_tenant_with_many_connections_when_siblings_are_looked_up_then_one_index_query_and_reads(tw):
    # Two connections of alice's account hold the grant; 40 others of the tenant (other accounts,
    # same Google client) and one of another tenant (same account) do not. The lookup reads the
    # ByProviderClient index (client id at Google + account + tenant prefix), never the tenant's
    # connection list: its reads do not grow with the tenant.
    rec, _ = tw.seed()
    sibling, _ = tw.seed()
    now = rfc3339()
    for i in range(UNRELATED):
        tw.services.connections.create(
            rec.model_copy(
                update={
                    "id": new_id("con"),
                    "account_sub": f"sub-other-{i}@example.com",
                    "account_email": f"other-{i}@example.com",
                    "created_at": now,
                    "enc_refresh_token": None,
                    "enc_access_token": None,
                }
            )
        )
    globex_client = seed_oauth_client(tw.world, tenant="globex")
    seed_connection(tw.world, tw.fake, tenant="globex", oauth_client=globex_client)
    provider = tw.services.catalog.get("google-mail")
    ddb = AwsCallCounter(tw.world.aws.dynamodb)

    siblings = shared_grant_siblings(tw.services, rec, provider)

    calls, params = dict(ddb.calls), list(ddb.params)
    ddb.detach()
    assert [s.id for s in siblings] == [sibling.id]
    queries = [json.loads(p["body"]) for name, p in params if name == "Query"]  # the sent requests
    index_queries = [q for q in queries if q.get("IndexName")]
    assert [q["IndexName"] for q in index_queries] == ["ByProviderClient"]
    assert index_queries[0]["ExpressionAttributeValues"][":s"] == {"S": f"CON#{rec.account_sub}#acme#"}
    # + the tenant's OAuth client records (which share the Google client id), one table Query
    assert calls["Query"] == 2 and "Scan" not in calls
    # a consistent read of each index match: the connection itself and its sibling, no other
    assert calls["GetItem"] == 2
    assert sum(calls.values()) == 4


def test_given_the_sibling_lookup_failing_when_deleting_then_nothing_is_revoked_and_a_retry_is_left(
    tw, monkeypatch
):
    rec, _ = tw.seed()

    def unavailable(self, rec, **_):
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(type(tw.services.connections), "grant_siblings", unavailable)

    resp = delete(tw, rec)

    # not knowing whether another connection holds the grant, nothing is revoked now; the sweep's
    # retry reads the siblings again before it revokes (tokens.revocation_retries)
    assert resp.status_code == 200 and resp.json["revocation"] == "pending_retry"
    assert resp.json["error"] == "shared_grant_check_failed"
    assert tw.fake.revocations == [] and tw.world.services.connections.get(rec.id) is None
    assert TombstoneStore(tw.services.table).get(rec.tenant, rec.id) is not None
    failed = tw.events_of("connection.revocation_failed")[0]
    assert failed["error"] == "shared_grant_check_failed" and failed["final"] is False


# -- a refresh that loses the race with a delete ----------------------------------------------------------
class DeleteDuringRefresh(httpx.BaseTransport):
    """Deletes a connection while the token endpoint is answering its refresh (a disconnect that did
    not wait for the lease): the refresher's write then finds it gone."""

    def __init__(self, inner: httpx.BaseTransport, tw: Any, connection_id: str):
        self.inner, self.tw, self.connection_id = inner, tw, connection_id

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            self.tw.services.connections.delete(self.connection_id)
        return self.inner.handle_request(request)


@pytest.mark.parametrize("with_sibling", [True, False], ids=["sibling", "alone"])
def test_given_a_connection_deleted_during_its_refresh_then_the_new_token_is_revoked_unless_shared(
    tw, with_sibling
):
    rec, _ = tw.seed()
    sibling = tw.seed()[0] if with_sibling else None
    tw.world.transport.mount(
        GOOGLE_BASE, DeleteDuringRefresh(tw.world.transport.routes[GOOGLE_BASE], tw, rec.id)
    )

    with pytest.raises(NotFound):
        refreshed_token(tw, rec)

    if sibling is not None:
        assert tw.fake.revocations == []
        tw.world.transport.mount(GOOGLE_BASE, tw.faults)
        assert_works(tw, sibling)
    else:
        (revocation,) = tw.fake.revocations
        assert revocation.token_type_hint == "access_token" and revocation.outcome == "revoked"
