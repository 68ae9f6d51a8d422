"""Revocation that never gives up (issue 13, item 4): a disconnect whose revocation Google could not
take leaves a tombstone; the sweep retries it with backoff until Google accepts (then
`connection.revocation_completed`) or the limit is reached (then a final
`connection.revocation_failed`). GET /v1/revocations lists the pending ones, with no token material.
"""

from __future__ import annotations

import json
import time

from brokertest.connect import b64_forms, table_dump
from brokertest.google import seed_oauth_client
from brokertest.tokens import FakeClock
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.store.audit import AuditFilter, AuditStore
from oauth_broker.store.tombstones import RETENTION_SECONDS, TombstoneStore
from oauth_broker.tokens.revocation_retries import BACKOFF_SECONDS, MAX_ATTEMPTS, RevocationRetrier
from oauth_broker.tokens.sweep import RefreshSweep
from oauth_broker_dev import lambda_runtime
from oauth_broker_dev.template import REPO_ROOT


def delete(tw, rec, *, user="alice", admin=False, tenant="acme"):
    return tw.world.request(
        "DELETE", f"/v1/connections/{rec.id}", token=tw.world.token(tenant, user, admin=admin)
    )


def list_revocations(tw, *, tenant="acme", user="root", admin=True, query=""):
    return tw.world.request("GET", f"/v1/revocations{query}", token=tw.world.token(tenant, user, admin=admin))


def failed_disconnect(tw, **seed):
    """A connection deleted while Google's revocation endpoint answers 503: (record, tokens)."""
    rec, tokens = tw.seed(**seed)
    tw.fake.fail_next("revoke", status=503, count=4)  # every attempt of the disconnect
    resp = delete(tw, rec)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.json["revocation"] == "pending_retry"
    return rec, tokens


def clock_after(seconds: float) -> FakeClock:
    return FakeClock(start=time.time() + seconds)


def sweep(tw, clock: FakeClock):
    return RefreshSweep(tw.services, tw.refresher(), clock=clock, in_process=True).run(
        deadline=clock.monotonic() + 120
    )


def system_records(tw, action: str) -> list[dict]:
    records, _ = AuditStore(tw.services.table).list("acme", AuditFilter(action=action), limit=100)
    return records


# -- the disconnect leaves a tombstone -------------------------------------------------------------------
def test_given_google_failing_when_deleting_then_pending_retry_and_a_tombstone_with_the_encrypted_token(tw):
    rec, tokens = tw.seed()
    tw.fake.fail_next("revoke", status=503, count=4)

    resp = delete(tw, rec)

    assert resp.status_code == 200
    body = resp.json
    assert (body["deleted"], body["revoked"], body["revocation"]) == (True, False, "pending_retry")
    assert body["error"] == "http_503" and "retrying" in body["detail"]
    assert tw.world.services.connections.get(rec.id) is None
    tombstone = TombstoneStore(tw.services.table).get("acme", rec.id)
    assert tombstone is not None
    assert (tombstone.provider, tombstone.oauth_client_id) == ("google-mail", rec.oauth_client_id)
    assert tombstone.provider_client_id == rec.provider_client_id and tombstone.attempts == 1
    assert tombstone.last_error == "http_503"
    assert tombstone.next_attempt_at - tombstone.created_epoch == BACKOFF_SECONDS[0]
    # the connection's own envelope blob, decryptable under the connection's context only
    ctx = EncryptionContext("acme", rec.id, "refresh_token")
    assert tombstone.enc_token == rec.enc_refresh_token
    assert tw.services.envelope.decrypt(tombstone.enc_token, ctx).decode() == tokens["refresh_token"]
    item = tw.services.table.get(*TombstoneStore.key("acme", rec.id))
    assert item["ttl"] == tombstone.created_epoch + RETENTION_SECONDS
    assert (item["due_pk"], item["due_at"]) == ("REVOKE", tombstone.next_attempt_at)
    assert tw.event_types() == ["connection.revoked", "connection.revocation_failed", "connection.deleted"]
    (failed,) = tw.events_of("connection.revocation_failed")
    assert (failed["outcome"], failed["final"], failed["error"]) == ("pending_retry", False, "http_503")
    assert tw.events_of("connection.deleted")[0]["provider_revocation"] == "pending_retry"
    assert tw.fake.token_info(tokens["refresh_token"])["active"] is True  # still alive at Google


def test_given_a_tombstone_then_no_plaintext_token_is_anywhere_in_the_table(tw):
    _, tokens = failed_disconnect(tw)
    dump = table_dump(tw.world)
    for secret in (tokens["refresh_token"], tokens["access_token"]):
        for form in b64_forms(secret):
            assert form not in dump
    assert "REVOKE#acme" in dump  # the tombstone is there: the scan looked at it


# -- the sweep retries ----------------------------------------------------------------------------------
def test_given_google_recovered_when_the_sweep_runs_then_it_revokes_deletes_the_tombstone_and_says_so(tw):
    rec, tokens = failed_disconnect(tw)
    tw.events.clear()

    report = sweep(tw, clock_after(BACKOFF_SECONDS[0] + 1))

    assert (report.revocations_due, report.revocations_completed) == (1, 1)
    last = tw.fake.revocations[-1]
    assert last.token == tokens["refresh_token"] and last.outcome == "revoked"
    assert tw.fake.token_info(tokens["refresh_token"])["active"] is False
    assert TombstoneStore(tw.services.table).get("acme", rec.id) is None
    (completed,) = tw.events_of("connection.revocation_completed")
    assert completed["connection"]["connection_id"] == rec.id and completed["tenant"] == "acme"
    assert (completed["outcome"], completed["revoked"], completed["attempts"]) == ("revoked", True, 2)
    assert tokens["refresh_token"] not in json.dumps(tw.events)
    (record,) = system_records(tw, "connection.revocation_completed")
    assert record["actor"]["type"] == "system" and record["resource"]["id"] == rec.id
    assert record["details"] == {"provider": "google-mail", "revocation": "revoked", "attempts": 2}
    # nothing left for the next run
    assert sweep(tw, clock_after(10 * 86400)).revocations_due == 0


def test_given_the_refresh_function_unavailable_at_the_disconnect_then_the_sweep_revokes_later(tw):
    rec, tokens = tw.seed()

    def unavailable(payload):
        raise RuntimeError("Lambda service unavailable")

    tw.world.services._invoke_refresh = unavailable
    resp = delete(tw, rec)
    assert resp.json["revocation"] == "pending_retry" and tw.fake.revocations == []

    report = sweep(tw, clock_after(BACKOFF_SECONDS[0] + 1))

    assert report.revocations_completed == 1
    assert [r.token for r in tw.fake.revocations] == [tokens["refresh_token"]]
    assert tw.fake.token_info(tokens["refresh_token"])["active"] is False
    assert TombstoneStore(tw.services.table).get("acme", rec.id) is None


def test_given_a_due_tombstone_when_the_refresh_functions_schedule_fires_then_it_is_revoked_there(tw):
    # through the refresh function itself (the scheduled sweep): what its IAM policy must allow
    rec, tokens = failed_disconnect(tw)
    store = TombstoneStore(tw.services.table)
    past = int(time.time()) - 1
    pk, sk = TombstoneStore.key("acme", rec.id)
    tw.services.table.update(
        pk, sk, "SET next_attempt_at = :t, due_at = :t", values={":t": past}, return_values="NONE"
    )
    event = json.loads((REPO_ROOT / "events" / "refresh.json").read_text())

    result = lambda_runtime.invoke("refresh", event)

    assert result["revocations_completed"] == 1, result
    assert store.get("acme", rec.id) is None
    assert tw.fake.token_info(tokens["refresh_token"])["active"] is False
    assert len(tw.events_of("connection.revocation_completed")) == 1


def test_given_a_tombstone_not_due_yet_when_the_sweep_runs_then_google_is_not_called(tw):
    rec, _ = failed_disconnect(tw)
    calls = len(tw.fake.revocations)

    report = sweep(tw, clock_after(BACKOFF_SECONDS[0] - 10))

    assert report.revocations_due == 0 and len(tw.fake.revocations) == calls
    assert TombstoneStore(tw.services.table).get("acme", rec.id).attempts == 1


def test_given_google_still_failing_then_attempts_back_off_1_5_30_minutes_2_and_6_hours_then_12_hours(tw):
    rec, _ = failed_disconnect(tw)
    store = TombstoneStore(tw.services.table)
    tw.fake.fail_next("revoke", status=503, count=100)
    clock = clock_after(0)
    gaps = []
    for _ in range(7):
        before = store.get("acme", rec.id)
        clock.advance(before.next_attempt_at - clock.time() + 1)
        retrier = RevocationRetrier(tw.services, tw.refresher(), clock=clock)
        report = retrier.run(stop_at=clock.monotonic() + 60)
        assert report.rescheduled == 1, report
        after = store.get("acme", rec.id)
        assert after.attempts == before.attempts + 1 and after.last_error == "http_503"
        gaps.append(after.next_attempt_at - int(clock.time()))
    assert gaps == [300, 1800, 7200, 21600, 43200, 43200, 43200]
    assert tw.events_of("connection.revocation_completed") == []


def test_given_google_failing_until_the_limit_then_a_final_revocation_failed_and_the_tombstone_goes(tw):
    rec, tokens = failed_disconnect(tw)
    store = TombstoneStore(tw.services.table)
    tw.fake.fail_next("revoke", status=503, count=500)
    tw.events.clear()
    clock = clock_after(0)
    runs = 0
    while store.get("acme", rec.id) is not None and runs < MAX_ATTEMPTS + 5:
        clock.advance(store.get("acme", rec.id).next_attempt_at - clock.time() + 1)
        RevocationRetrier(tw.services, tw.refresher(), clock=clock).run(stop_at=clock.monotonic() + 60)
        runs += 1

    assert store.get("acme", rec.id) is None
    (final,) = tw.events_of("connection.revocation_failed")
    assert (final["final"], final["outcome"], final["error"]) == (True, "failed", "http_503")
    # given up at the limit or when the 30 days would run out, whichever first
    assert final["attempts"] <= MAX_ATTEMPTS and runs == final["attempts"] - 1
    assert clock.time() - time.time() < RETENTION_SECONDS
    assert tw.events_of("connection.revocation_completed") == []
    (record,) = system_records(tw, "connection.revocation_failed")
    assert record["outcome"] == "failed" and record["actor"]["type"] == "system"
    assert record["details"]["revocation_error"] == "http_503"
    assert tokens["refresh_token"] not in json.dumps(tw.events)
    assert tw.fake.token_info(tokens["refresh_token"])["active"] is True


def test_given_google_saying_the_token_is_already_dead_when_retried_then_it_counts_as_done(tw):
    rec, _ = failed_disconnect(tw)
    tw.fake.revoke_all_for("alice@example.com")  # the user removed the app meanwhile

    report = sweep(tw, clock_after(BACKOFF_SECONDS[0] + 1))

    assert report.revocations_completed == 1
    assert TombstoneStore(tw.services.table).get("acme", rec.id) is None
    (completed,) = tw.events_of("connection.revocation_completed")
    assert completed["outcome"] == "already_invalid" and completed["revoked"] is True


def test_given_the_account_connected_again_meanwhile_when_retried_then_the_new_grant_is_kept(tw):
    # Google revokes a whole (client, account) grant: revoking the old token now would cut the
    # connection the user just made again.
    rec, _ = failed_disconnect(tw)
    again, _ = tw.seed()
    calls = len(tw.fake.revocations)

    report = sweep(tw, clock_after(BACKOFF_SECONDS[0] + 1))

    assert report.revocations_completed == 1 and len(tw.fake.revocations) == calls
    assert TombstoneStore(tw.services.table).get("acme", rec.id) is None
    (completed,) = tw.events_of("connection.revocation_completed")
    assert (completed["outcome"], completed["revoked"]) == ("kept_shared_grant", False)
    assert tw.stored(again.id).status.value == "active"


def test_given_two_sweeps_at_once_then_a_tombstone_is_tried_once(tw):
    rec, _ = failed_disconnect(tw)
    store = TombstoneStore(tw.services.table)
    seen = store.get("acme", rec.id)

    first = store.claim(seen, next_attempt_at=seen.next_attempt_at + 300)
    second = store.claim(seen, next_attempt_at=seen.next_attempt_at + 300)

    assert first is not None and first.attempts == 2 and second is None


# -- GET /v1/revocations --------------------------------------------------------------------------------
def test_given_pending_revocations_when_an_admin_lists_them_then_each_without_token_material(tw):
    rec, tokens = failed_disconnect(tw)

    resp = list_revocations(tw)

    assert resp.status_code == 200, resp.get_data(as_text=True)
    (entry,) = resp.json["data"]
    assert entry["connection_id"] == rec.id and entry["provider"] == "google-mail"
    assert entry["oauth_client_id"] == rec.oauth_client_id and entry["owner"] == "alice"
    assert entry["attempts"] == 1 and entry["last_error"] == "http_503"
    assert entry["next_attempt_at"].endswith("Z") and entry["created_at"].endswith("Z")
    assert set(entry) == {
        "connection_id",
        "provider",
        "oauth_client_id",
        "owner",
        "account_email",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "expires_at",
    }
    text = resp.get_data(as_text=True)
    assert rec.enc_refresh_token not in text
    for form in b64_forms(tokens["refresh_token"]):
        assert form not in text
    assert resp.json["next_cursor"] is None


def test_given_a_user_or_another_tenants_admin_when_listing_revocations_then_403_or_nothing(tw):
    failed_disconnect(tw)
    seed_oauth_client(tw.world, tenant="globex")

    assert list_revocations(tw, user="alice", admin=False).status_code == 403
    other = list_revocations(tw, tenant="globex")
    assert other.status_code == 200 and other.json["data"] == []


def test_given_more_pending_revocations_than_a_page_then_the_cursor_pages_through_them(tw):
    first, _ = failed_disconnect(tw)
    second, _ = failed_disconnect(tw, email="bob@example.com")

    page = list_revocations(tw, query="?limit=1")
    rest = list_revocations(tw, query=f"?limit=1&cursor={page.json['next_cursor']}")

    assert page.status_code == rest.status_code == 200
    ids = [e["connection_id"] for e in page.json["data"] + rest.json["data"]]
    assert sorted(ids) == sorted([first.id, second.id])
    foreign = list_revocations(tw, tenant="globex", query=f"?cursor={page.json['next_cursor']}")
    assert foreign.status_code == 422  # a cursor is bound to its tenant's partition
