"""DELETE /v1/connections/{id} and POST /v1/connections/{id}/refresh through the gateway emulation:
the api function delegates to the refresh function, which revokes (RFC 7009) and refreshes."""

from __future__ import annotations

import time

import pytest

from oauth_broker.store.models import ConnectionStatus
from oauth_broker.store.tombstones import TombstoneStore
from oauth_broker.tokens.lease import LeaseStore
from oauth_broker_dev import lambda_runtime


def delete(tw, rec, *, user="alice", admin=False, tenant="acme"):
    return tw.world.request(
        "DELETE", f"/v1/connections/{rec.id}", token=tw.world.token(tenant, user, admin=admin)
    )


def refresh(tw, rec, *, user="alice", admin=False):
    return tw.world.request(
        "POST", f"/v1/connections/{rec.id}/refresh", token=tw.world.token("acme", user, admin=admin)
    )


# -- DELETE --------------------------------------------------------------------------------------------
def test_given_an_owner_when_deleting_a_connection_then_its_refresh_token_is_revoked_and_it_is_gone(tw):
    rec, tokens = tw.seed()

    resp = delete(tw, rec)

    assert resp.status_code == 204 and resp.get_data() == b""
    (revocation,) = tw.fake.revocations
    assert revocation.token == tokens["refresh_token"]
    assert revocation.token_type_hint == "refresh_token" and revocation.outcome == "revoked"
    assert tw.world.services.connections.get(rec.id) is None
    assert LeaseStore(tw.services.table).current(rec.id) is None
    assert tw.fake.token_info(tokens["access_token"])["active"] is False  # Google revokes the grant
    read = tw.world.request("GET", f"/v1/connections/{rec.id}", token=tw.world.token("acme", "alice"))
    assert read.status_code == 404
    assert tw.event_types() == ["connection.revoked", "connection.deleted"]
    revoked = tw.events_of("connection.revoked")[0]
    assert revoked["connection"]["status"] == "revoked" and revoked["reason"] == "deleted"


def test_given_a_connection_without_a_refresh_token_when_deleted_then_its_live_access_token_is_revoked(tw):
    # Connected without offline access: only the (unexpired) access token can be revoked, and the
    # refresh function decrypts it to do so.
    seeded, tokens = tw.seed()
    rec = tw.world.services.connections.save(
        seeded.model_copy(
            update={
                "enc_refresh_token": None,
                "status": ConnectionStatus.NEEDS_REAUTH,
                "status_reason": "no_refresh_token",
            }
        ),
        expected_version=seeded.version,
    )

    resp = delete(tw, rec)

    assert resp.status_code == 204, resp.get_data(as_text=True)
    (revocation,) = tw.fake.revocations
    assert revocation.token == tokens["access_token"] and revocation.token_type_hint == "access_token"
    assert revocation.outcome == "revoked"
    assert tw.world.services.connections.get(rec.id) is None


def test_given_a_tenant_admin_when_deleting_a_users_connection_then_it_is_revoked_and_deleted(tw):
    rec, _ = tw.seed(owner="bob")
    resp = delete(tw, rec, user="root", admin=True)
    assert resp.status_code == 204 and len(tw.fake.revocations) == 1
    assert tw.world.services.connections.get(rec.id) is None


@pytest.mark.parametrize(
    ("user", "admin", "tenant"),
    [("mallory", False, "acme"), ("root", True, "globex")],
    ids=["another-user", "admin-of-another-tenant"],
)
def test_given_someone_who_may_not_see_it_when_deleting_then_404_and_nothing_happens(tw, user, admin, tenant):
    rec, _ = tw.seed()
    resp = delete(tw, rec, user=user, admin=admin, tenant=tenant)
    assert resp.status_code == 404 and resp.json["code"] == "not_found"
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert tw.fake.revocations == [] and tw.world.services.connections.get(rec.id) is not None


def test_given_a_revocation_endpoint_that_keeps_failing_when_deleting_then_it_retries_deletes_and_reports(tw):
    rec, tokens = tw.seed()
    tw.fake.fail_next("revoke", status=503, count=20)

    resp = delete(tw, rec)

    assert resp.status_code == 200
    body = resp.json
    assert body["deleted"] is True and body["revoked"] is False
    # a transient failure: the sweep keeps trying (tests/integration/tokens/test_revocation_retries.py)
    assert body["revocation"] == "pending_retry" and body["error"] == "http_503" and body["id"] == rec.id
    assert len(tw.fake.revocations) == 4  # retried with backoff
    assert tw.world.services.connections.get(rec.id) is None
    (failed,) = tw.events_of("connection.revocation_failed")
    assert failed["error"] == "http_503" and failed["final"] is False
    assert tw.event_types()[-1] == "connection.deleted"
    assert tokens["refresh_token"] not in resp.get_data(as_text=True)


def test_given_a_revocation_refused_for_good_when_deleting_then_failed_and_no_retry_is_left(tw):
    rec, _ = tw.seed()
    tw.fake.fail_next("revoke", status=400, error="invalid_request", count=4)

    resp = delete(tw, rec)

    assert resp.status_code == 200
    assert (resp.json["revocation"], resp.json["error"]) == ("failed", "invalid_request")
    assert len(tw.fake.revocations) == 1  # not transient: not retried, not left for the sweep
    assert TombstoneStore(tw.services.table).get("acme", rec.id) is None
    (failed,) = tw.events_of("connection.revocation_failed")
    assert failed["final"] is True


def test_given_a_transient_revocation_failure_when_deleting_then_the_retry_revokes_and_it_answers_204(tw):
    rec, tokens = tw.seed()
    tw.fake.fail_next("revoke", status=500, count=1)
    resp = delete(tw, rec)
    assert resp.status_code == 204
    assert [r.outcome for r in tw.fake.revocations] == ["injected_failure", "revoked"]
    assert tw.fake.token_info(tokens["refresh_token"])["active"] is False


def test_given_a_grant_already_revoked_by_the_user_when_deleting_then_it_counts_as_revoked(tw):
    rec, _ = tw.seed()
    tw.fake.revoke_all_for("alice@example.com")
    resp = delete(tw, rec)
    assert resp.status_code == 204 and tw.fake.revocations[0].outcome == "invalid_token"
    assert tw.events_of("connection.revocation_failed") == []


def test_given_the_refresh_function_unavailable_when_deleting_then_the_connection_is_still_deleted(tw):
    rec, _ = tw.seed()

    def unavailable(payload):
        raise RuntimeError("Lambda service unavailable")

    tw.world.services._invoke_refresh = unavailable

    resp = delete(tw, rec)

    assert resp.status_code == 200 and resp.json["error"] == "refresh_function_unavailable"
    assert tw.world.services.connections.get(rec.id) is None
    assert tw.event_types() == ["connection.revoked", "connection.revocation_failed", "connection.deleted"]
    # the api function cannot decrypt, but it leaves the encrypted token for the sweep to revoke
    assert resp.json["revocation"] == "pending_retry"
    tombstone = TombstoneStore(tw.services.table).get("acme", rec.id)
    assert tombstone is not None and tombstone.enc_token == rec.enc_refresh_token


def test_given_a_refresh_in_flight_when_deleting_then_the_disconnect_waits_for_it_and_revokes_the_result(tw):
    rec, _ = tw.seed()
    LeaseStore(tw.services.table).acquire(rec.id, "lease_other_container", 1.0)

    started = time.monotonic()
    resp = delete(tw, rec)

    assert resp.status_code == 204 and time.monotonic() - started >= 0.9
    assert tw.world.services.connections.get(rec.id) is None


# -- POST .../refresh ----------------------------------------------------------------------------------
def test_given_a_fresh_connection_when_refresh_is_forced_then_a_new_token_is_stored_and_the_connection_shown(
    tw,
):
    rec, tokens = tw.seed()

    resp = refresh(tw, rec)

    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.json
    assert body["id"] == rec.id and body["status"] == "active"
    assert body["last_refreshed_at"] and body["expires_at"]
    assert tw.token_requests() == 1
    stored = tw.stored(rec.id)
    assert stored.version == rec.version + 1 and tw.decrypt(stored, "access_token") != tokens["access_token"]
    text = resp.get_data(as_text=True)
    assert "enc_" not in text and tokens["refresh_token"] not in text


def test_given_an_admin_when_forcing_a_refresh_of_a_users_connection_then_it_works(tw):
    rec, _ = tw.seed(owner="bob")
    assert refresh(tw, rec, user="root", admin=True).status_code == 200
    assert refresh(tw, rec, user="alice").status_code == 404
    assert tw.token_requests() == 1


def test_given_a_revoked_grant_when_refresh_is_forced_then_409_needs_reauth_with_a_hint(tw):
    rec, _ = tw.seed()
    tw.fake.revoke_all_for("alice@example.com")

    resp = refresh(tw, rec)

    assert resp.status_code == 409
    assert resp.headers["Content-Type"] == "application/problem+json"
    body = resp.json
    assert body["code"] == "needs_reauth" and body["connection_id"] == rec.id
    assert "connect-sessions" in body["hint"] and "Traceback" not in resp.get_data(as_text=True)
    assert tw.stored(rec.id).status == ConnectionStatus.NEEDS_REAUTH


def test_given_a_disabled_provider_when_refresh_is_forced_then_403_provider_disabled(tw):
    rec, _ = tw.seed(status=ConnectionStatus.REVOKED, status_reason="provider_disabled")
    resp = refresh(tw, rec)
    assert resp.status_code == 403 and resp.json["code"] == "provider_disabled"
    assert tw.token_requests() == 0


def test_given_a_failing_token_endpoint_when_refresh_is_forced_then_502_upstream_error_and_nothing_lost(tw):
    rec, _ = tw.seed()
    tw.fake.fail_next("token", status=503, count=50)

    resp = refresh(tw, rec)

    assert resp.status_code == 502 and resp.json["code"] == "upstream_error"
    assert resp.json["reason"] == "http_503"
    stored = tw.stored(rec.id)
    assert stored.status == ConnectionStatus.ACTIVE and stored.enc_refresh_token == rec.enc_refresh_token


# -- direct invocation contract ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"action": "explode", "tenant": "acme", "connection_id": "con_x"},
        {"action": "refresh", "tenant": "acme"},
        {"action": "revoke", "tenant": "acme", "connection_id": "../etc"},
        {"action": "refresh", "tenant": "acme", "connection_id": "con_x", "extra": 1},
    ],
)
def test_given_a_malformed_invocation_when_the_refresh_function_runs_then_it_answers_a_validation_error(
    tw, payload
):
    result = lambda_runtime.invoke("refresh", payload)
    assert result["error"]["code"] == "validation_error"
    assert set(result) == {"error"} and "Traceback" not in str(result)


def test_given_another_tenants_connection_when_invoked_directly_then_it_is_not_found(tw):
    rec, _ = tw.seed()
    result = lambda_runtime.invoke(
        "refresh", {"action": "revoke", "tenant": "globex", "connection_id": rec.id}
    )
    assert result == {"error": {"code": "not_found", "detail": f"connection {rec.id} not found"}}
    assert tw.world.services.connections.get(rec.id) is not None and tw.fake.revocations == []
