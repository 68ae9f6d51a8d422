"""POST /v1/google/gmail-push end to end in-process: the fake Google's Pub/Sub pushes Gmail's
notification with a signed OIDC token when mail arrives in a watched mailbox; the broker reads the
history and announces the new message ids, once."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from brokertest.gmail_push import AUDIENCE, SERVICE_ACCOUNT, PushWorld
from brokertest.logs import captured_logs
from brokertest.proxy import ALICE, BOB, problem
from brokertest.webhooks import WebhookReceiver, attach_webhook_delivery, configure_webhook
from oauth_broker.store.models import ConnectionStatus
from oauth_broker.tokens.refresher import token_refresher
from oauth_broker_dev.fake_google.testing import other_key, push_token

WEBHOOK_SECRET = "whsec-gmail-push-0123456789"


def history_calls(gp: PushWorld) -> list[Any]:
    return [r for r in gp.pw.api_requests() if r.path.endswith("/history")]


def notification(mailbox: str, history_id: int) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"emailAddress": mailbox, "historyId": history_id}).encode()).decode()
    return {
        "message": {"data": data, "messageId": "1234567890"},
        "subscription": "projects/acme-prod/subscriptions/x",
    }


def test_given_a_watched_mailbox_when_a_message_arrives_then_the_webhook_gets_exactly_one_event_with_its_id(
    gp: PushWorld,
):
    receiver = WebhookReceiver().start()
    gp.pw.world.transport.mount(receiver.url.split("/hooks", 1)[0], httpx.HTTPTransport())
    try:
        configure_webhook(gp.pw.world, receiver.url, WEBHOOK_SECRET)
        bridge = attach_webhook_delivery(gp.pw.world)
        rec = gp.watched()

        message_id = gp.deliver_mail(ALICE, "Quarterly numbers")

        assert bridge.drain(10)
        deliveries = receiver.wait_for(1)
        time.sleep(0.2)  # a second delivery would have arrived by now
        gmail = [
            json.loads(d.body)
            for d in receiver.deliveries
            if json.loads(d.body)["type"] == "gmail.messages_added"
        ]
        assert len(gmail) == 1, [json.loads(d.body)["type"] for d in deliveries]
        (event,) = gmail
        stored = gp.fake.mailbox(ALICE).get(message_id)
        assert event["connection_id"] == rec.id and event["tenant"] == "acme"
        assert event["messages"] == [
            {"id": message_id, "thread_id": stored.thread_id, "label_ids": ["INBOX", "UNREAD"]}
        ]
        assert event["history_id"] == str(gp.fake.mailbox(ALICE).history_id)
        assert [d.status for d in gp.fake.pubsub.deliveries] == [204]
        watch = gp.stored_watch(rec)
        assert watch is not None and watch.history_id == gp.fake.mailbox(ALICE).history_id
        assert watch.last_notification_at is not None
    finally:
        receiver.stop()


def test_given_several_messages_when_they_arrive_then_each_id_is_announced_once(gp: PushWorld):
    rec = gp.watched()

    ids = [gp.deliver_mail(ALICE, f"message {i}") for i in range(3)]

    announced = [m["id"] for e in gp.gmail_events() for m in e["messages"]]
    assert sorted(announced) == sorted(ids)
    assert {e["connection_id"] for e in gp.gmail_events()} == {rec.id}


def test_given_a_label_filter_when_mail_arrives_elsewhere_then_nothing_is_announced(gp: PushWorld):
    rec = gp.pw.connect(["gmail.readonly"])
    assert gp.watch(rec, {"label_ids": ["INBOX"]}).status_code == 200

    gp.fake.deliver_message(ALICE, "carol@example.org", "filed", "text", label_ids=["SPAM"])
    assert gp.fake.pubsub.drain(10)
    inbox = gp.deliver_mail(ALICE, "to the inbox")

    assert [m["id"] for e in gp.gmail_events() for m in e["messages"]] == [inbox]


def test_given_a_redelivered_push_when_it_arrives_again_then_nothing_is_announced_twice(gp: PushWorld):
    gp.watched()
    gp.deliver_mail(ALICE)
    (first,) = gp.fake.pubsub.deliveries
    reads = len(history_calls(gp))

    gp.fake.pubsub.redeliver(first.message_id)
    assert gp.fake.pubsub.drain(10)

    assert len(gp.gmail_events()) == 1
    assert [d.status for d in gp.fake.pubsub.deliveries] == [204, 204]
    assert len(history_calls(gp)) == reads  # behind the watch's history id: not even read


def test_given_two_pushes_out_of_order_when_they_arrive_then_every_message_is_announced_once(gp: PushWorld):
    gp.watched()
    gp.fake.pubsub.pause()
    first = gp.fake.deliver_message(ALICE, "carol@example.org", "one", "text")
    second = gp.fake.deliver_message(ALICE, "carol@example.org", "two", "text")

    assert gp.fake.pubsub.resume(order="reverse") == 2
    assert gp.fake.pubsub.drain(10)

    announced = [m["id"] for e in gp.gmail_events() for m in e["messages"]]
    assert sorted(announced) == sorted([first.id, second.id])
    assert len(gp.gmail_events()) == 1  # the newer push read both; the older one was behind it


def test_given_a_history_id_too_old_for_google_when_pushed_then_history_reset_is_announced(gp: PushWorld):
    rec = gp.watched()
    start = gp.stored_watch(rec)
    assert start is not None
    gp.fake.pubsub.pause()
    gp.fake.deliver_message(ALICE, "carol@example.org", "lost", "text")
    gp.fake.expire_history(ALICE, gp.fake.mailbox(ALICE).history_id + 1)
    gp.fake.pubsub.resume()
    assert gp.fake.pubsub.drain(10)

    (reset,) = gp.gmail_events("gmail.history_reset")
    current = gp.fake.mailbox(ALICE).history_id
    assert reset["connection_id"] == rec.id
    assert reset["previous_history_id"] == str(start.history_id) and reset["history_id"] == str(current)
    assert gp.gmail_events() == []
    watch = gp.stored_watch(rec)
    assert watch is not None and watch.history_id == current
    # re-baselined: the next message is announced normally
    later = gp.deliver_mail(ALICE, "after the reset")
    assert [m["id"] for e in gp.gmail_events() for m in e["messages"]] == [later]


def test_given_a_push_function_with_nothing_cached_when_mail_arrives_then_it_reads_the_token_itself(
    gp: PushWorld,
):
    # its own process in AWS: the connection's access token is decrypted there, not found in a
    # cache another function filled (what its IAM policy must allow)
    rec = gp.watched()
    token_refresher(gp.services).forget(rec.id)

    message_id = gp.deliver_mail(ALICE)

    assert [m["id"] for e in gp.gmail_events() for m in e["messages"]] == [message_id]


def test_given_an_expired_access_token_when_mail_arrives_then_the_push_refreshes_it_and_announces(
    gp: PushWorld,
):
    rec = gp.watched()
    stale = gp.pw.update(rec, expires_at=int(time.time()) - 10)
    token_refresher(gp.services).forget(rec.id)

    message_id = gp.deliver_mail(ALICE)

    assert [m["id"] for e in gp.gmail_events() for m in e["messages"]] == [message_id]
    refreshed = gp.services.connections.get(rec.id)
    assert refreshed is not None and refreshed.version > stale.version
    assert (refreshed.expires_at or 0) > time.time()


def test_given_an_idle_watched_connection_when_mail_arrives_then_the_push_is_not_recorded_as_its_use(
    gp: PushWorld,
):
    # the broker's own reads do not make a connection busy (hourly refreshes ahead): its use stays
    # as the tenant's app left it
    rec = gp.watched()
    idle_since = int(time.time()) - 7200
    # its last use two hours ago (a save never moves last_used_at back: written directly)
    gp.services.table.update(
        *gp.services.connections.key(rec.id),
        "SET last_used_at = :u",
        values={":u": idle_since},
        return_values="NONE",
    )
    token_refresher(gp.services)._use_memo.clear()  # the push function's own process remembers nothing

    gp.deliver_mail(ALICE)

    assert len(gp.gmail_events()) == 1
    stored = gp.services.connections.get(rec.id)
    assert stored is not None and stored.last_used_at == idle_since
    # while the tenant's own call is recorded
    assert gp.pw.proxy(rec, "gmail/v1/users/me/profile").status_code == 200
    used = gp.services.connections.get(rec.id)
    assert used is not None and (used.last_used_at or 0) > idle_since


def test_given_a_connection_limited_to_one_request_when_mail_arrives_then_the_push_frees_its_slot(
    gp: PushWorld,
):
    rec = gp.watched(concurrency_level=1)

    message_id = gp.deliver_mail(ALICE)

    assert [m["id"] for e in gp.gmail_events() for m in e["messages"]] == [message_id]
    assert gp.services.table.get(f"SEM#{rec.id}", "SLOT#0") is None  # released, not left to expire
    assert gp.pw.proxy(rec, "gmail/v1/users/me/profile").status_code == 200  # the one slot is free


class RefusingBus:
    """EventBridge refusing the first `refusals` gmail.* entries (FailedEntryCount), as a
    throttled or failing bus does; every other call goes through."""

    def __init__(self, client: Any, refusals: int):
        self.client, self.refusals = client, refusals

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.refusals and Entries[0]["DetailType"].startswith("gmail."):
            self.refusals -= 1
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}
        return dict(self.client.put_events(Entries=Entries))


def test_given_the_bus_refusing_the_event_when_pushed_then_pubsubs_redelivery_announces_it_once(
    gp: PushWorld,
):
    rec = gp.watched()
    start = gp.stored_watch(rec)
    publisher = gp.services.publisher
    publisher.client = RefusingBus(publisher.client, refusals=3)  # every attempt of the first push

    message_id = gp.deliver_mail(ALICE)

    assert [d.status for d in gp.fake.pubsub.deliveries] == [503, 204]
    assert [m["id"] for e in gp.gmail_events() for m in e["messages"]] == [message_id]
    watch = gp.stored_watch(rec)
    assert start is not None and watch is not None and watch.history_id > start.history_id


# -- refusals: nothing is read ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("claims", "status", "code"),
    [
        ({"audience": "https://someone-else.example/push"}, 403, "push_not_authorized"),
        ({"email": "attacker@evil-project.iam.gserviceaccount.com"}, 403, "push_not_authorized"),
        ({"email_verified": False}, 403, "push_not_authorized"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, 401, "invalid_push_token"),
        ({"key": "forged"}, 401, "invalid_push_token"),
        ({"iss": "https://evil.example"}, 401, "invalid_push_token"),
    ],
)
def test_given_a_push_whose_token_fails_a_check_when_received_then_it_is_refused_and_nothing_is_read(
    gp: PushWorld, claims: dict[str, Any], status: int, code: str
):
    gp.watched()
    before = len(gp.pw.api_requests())
    args: dict[str, Any] = {"audience": AUDIENCE, "email": SERVICE_ACCOUNT, **claims}
    if args.pop("key", None):
        args["key"] = other_key()
    token = push_token(gp.fake, args.pop("audience"), args.pop("email"), **args)

    resp = gp.push(notification(ALICE, gp.fake.mailbox(ALICE).history_id + 5), token)

    assert resp.status_code == status and problem(resp)["code"] == code
    assert len(gp.pw.api_requests()) == before and gp.gmail_events() == []
    assert token not in resp.get_data(as_text=True)


def test_given_a_push_without_a_token_when_received_then_it_is_401(gp: PushWorld):
    gp.watched()

    resp = gp.push(notification(ALICE, 99_999), None)

    assert resp.status_code == 401 and problem(resp)["code"] == "invalid_push_token"


def test_given_another_tenants_valid_token_when_it_pushes_for_this_tenants_mailbox_then_it_is_403(
    gp: PushWorld,
):
    gp.watched()  # acme watches alice's mailbox
    other = {
        "topic": "projects/globex-prod/topics/gmail",
        "push_audience": "https://globex/push",
        "push_service_account": "push@globex-prod.iam.gserviceaccount.com",
    }
    gp.configure("globex", other)
    token = push_token(gp.fake, other["push_audience"], other["push_service_account"])

    resp = gp.push(notification(ALICE, gp.fake.mailbox(ALICE).history_id + 5), token)

    assert resp.status_code == 403 and gp.gmail_events() == []


def test_given_a_body_that_is_not_a_push_when_received_with_a_good_token_then_it_is_400(gp: PushWorld):
    token = push_token(gp.fake, AUDIENCE, SERVICE_ACCOUNT)

    resp = gp.push(b'{"message": {"data": "not base64 json"}}', token)

    assert resp.status_code == 400 and problem(resp)["code"] == "invalid_push_message"


def test_given_a_mailbox_nobody_watches_when_pushed_then_it_is_204_and_nothing_is_read(gp: PushWorld):
    token = push_token(gp.fake, AUDIENCE, SERVICE_ACCOUNT)

    resp = gp.push(notification(BOB, 12345), token)

    assert resp.status_code == 204 and gp.pw.api_requests() == []


# -- stopping ----------------------------------------------------------------------------------------
def test_given_a_watched_connection_when_it_is_deleted_then_googles_watch_is_stopped_first(gp: PushWorld):
    rec = gp.watched()

    resp = gp.pw.call("DELETE", f"/v1/connections/{rec.id}")

    assert resp.status_code == 204, resp.get_data(as_text=True)
    assert gp.fake.watches == {} and gp.stored_watch(rec) is None
    gp.fake.deliver_message(ALICE, "carol@example.org", "after", "text")
    assert gp.fake.pubsub.drain(5)
    assert gp.gmail_events() == [] and gp.fake.pubsub.deliveries == []


@pytest.mark.parametrize(
    ("status", "reason"),
    [(ConnectionStatus.REVOKED, "provider_tokens_revoked"), (ConnectionStatus.NEEDS_REAUTH, "invalid_grant")],
)
def test_given_a_watched_connection_that_lost_access_when_mail_arrives_then_the_watch_ends_unannounced(
    gp: PushWorld, status: ConnectionStatus, reason: str
):
    rec = gp.watched()
    gp.pw.update(rec, status=status, status_reason=reason)

    gp.deliver_mail(ALICE, "after access ended")

    assert gp.gmail_events() == [] and history_calls(gp) == []
    assert gp.stored_watch(rec) is None
    assert gp.pw.call("GET", f"/v1/connections/{rec.id}/gmail/watch").get_json()["active"] is False


def test_given_a_watched_connection_that_lost_its_read_scope_when_mail_arrives_then_the_watch_stops(
    gp: PushWorld,
):
    rec = gp.watched()
    gp.pw.update(rec, scopes_granted=["https://www.googleapis.com/auth/gmail.send"])

    gp.deliver_mail(ALICE, "after the scope went")

    assert gp.gmail_events() == [] and gp.stored_watch(rec) is None


def test_given_a_watched_connection_revoked_at_google_when_mail_arrives_then_the_watch_ends(gp: PushWorld):
    rec = gp.watched()
    gp.fake.revoke_all_for(ALICE)  # the user removed the app: the refresh is refused
    gp.pw.update(rec, expires_at=int(time.time()) - 10)  # the broker must refresh to read

    gp.deliver_mail(ALICE, "after removal")

    assert gp.gmail_events() == [] and gp.stored_watch(rec) is None
    stored = gp.services.connections.get(rec.id)
    assert stored is not None and stored.status == ConnectionStatus.NEEDS_REAUTH


# -- nothing of a message's content is kept or told ----------------------------------------------
def test_given_announced_mail_when_events_logs_and_items_are_searched_then_no_content_is_anywhere(
    gp: PushWorld,
):
    subject, body = "Subject-Canary-7f3a", "Body-Canary-91bc confidential"
    with captured_logs() as logs:
        gp.watched()
        gp.deliver_mail(ALICE, subject, text=body)

    assert len(gp.gmail_events()) == 1
    events = json.dumps(gp.events)
    items = json.dumps(gp.services.dynamodb.scan(TableName=gp.services.table.name)["Items"])
    for canary in ("Subject-Canary", "Body-Canary", "carol@example.org"):
        assert canary not in events
        assert canary not in logs.getvalue()
        assert canary not in items
    assert gp.gmail_events()[0]["messages"][0].keys() == {"id", "thread_id", "label_ids"}
