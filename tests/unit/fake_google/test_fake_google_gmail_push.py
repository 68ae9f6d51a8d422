"""The fake Google's Gmail push: mailbox history and `users.history.list`, `users.watch` and
`users.stop`, and its fake Cloud Pub/Sub pushing Gmail's notifications with a Google-shaped OIDC
token on a background worker (retries, redelivery, out-of-order delivery, drain, close)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from oauth_broker_dev.fake_google import FakeGoogle
from oauth_broker_dev.fake_google.local import (
    GMAIL_PUSH_SERVICE_ACCOUNT,
    GMAIL_SUBSCRIPTION,
    GMAIL_TOPIC,
    gmail_push_settings,
    providers_override,
    start_for_local,
)
from oauth_broker_dev.fake_google.pubsub import GMAIL_PUBLISHER, service_account_id
from oauth_broker_dev.fake_google.scopes import GMAIL_METADATA, GMAIL_MODIFY, GMAIL_READONLY, GMAIL_SEND
from oauth_broker_dev.fake_google.testing import other_key, push_body, push_token

ALICE = "alice@example.com"
TOPIC = "projects/test-project/topics/gmail"
SUBSCRIPTION = "projects/test-project/subscriptions/broker"
ENDPOINT = "https://broker.test/v1/google/gmail-push"
AUDIENCE = "https://broker.test/v1/google/gmail-push#aud"
SERVICE_ACCOUNT = "gmail-push@test-project.iam.gserviceaccount.com"
HISTORY = "/gmail/v1/users/me/history"

Headers = Callable[..., dict[str, str]]


class Endpoint:
    """A push endpoint behind an httpx MockTransport: records each push, answers the next queued
    status (then `default`)."""

    def __init__(self, default: int = 204) -> None:
        self.default = default
        self.statuses: list[int] = []
        self.pushes: list[httpx.Request] = []
        self.lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.pushes.append(request)
            status = self.statuses.pop(0) if self.statuses else self.default
        return httpx.Response(status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.pushes]

    def notifications(self) -> list[dict[str, Any]]:
        return [json.loads(base64.b64decode(b["message"]["data"])) for b in self.bodies()]


@pytest.fixture
def endpoint(fake: FakeGoogle) -> Iterator[Endpoint]:
    receiver = Endpoint()
    fake.pubsub.client = httpx.Client(transport=httpx.MockTransport(receiver.handle))
    fake.pubsub.backoff = 0.01
    fake.pubsub.create_topic(TOPIC)
    fake.pubsub.create_subscription(
        SUBSCRIPTION, TOPIC, ENDPOINT, audience=AUDIENCE, service_account_email=SERVICE_ACCOUNT
    )
    try:
        yield receiver
    finally:
        fake.close()
        fake.pubsub.client.close()
        assert not fake.pubsub.running


def watch(client: httpx.Client, headers: dict[str, str], **body: Any) -> httpx.Response:
    return client.post("/gmail/v1/users/me/watch", headers=headers, json={"topicName": TOPIC, **body})


def deliver(fake: FakeGoogle, subject: str = "Hello", labels: tuple[str, ...] = ("INBOX", "UNREAD")) -> str:
    return fake.deliver_message(ALICE, "Carol <carol@example.net>", subject, "Body text", labels).id


def history(client: httpx.Client, headers: dict[str, str], **params: Any) -> httpx.Response:
    return client.get(HISTORY, headers=headers, params=params)


# ---- history ----------------------------------------------------------------------------------
def test_given_a_delivered_message_when_history_is_listed_then_it_is_a_messages_added_record_at_the_new_id(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    headers = bearer()
    start = int(client.get("/gmail/v1/users/me/profile", headers=headers).json()["historyId"])
    message_id = deliver(fake)
    body = history(client, headers, startHistoryId=start).json()
    stored = fake.mailbox(ALICE).get(message_id)
    assert body["historyId"] == str(start + 1) == str(stored.history_id)
    assert body["history"] == [
        {
            "id": str(start + 1),
            "messages": [{"id": message_id, "threadId": stored.thread_id}],
            "messagesAdded": [
                {"message": {"id": message_id, "threadId": stored.thread_id, "labelIds": ["INBOX", "UNREAD"]}}
            ],
        }
    ]


def test_given_a_sent_message_when_history_is_listed_then_the_senders_mailbox_has_it_added_with_sent(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    headers = bearer(scopes=(GMAIL_MODIFY,))
    start = fake.mailbox(ALICE).history_id
    raw = base64.urlsafe_b64encode(b"To: bob@example.com\r\nSubject: Hi\r\n\r\nHello Bob\r\n").decode()
    sent = client.post("/gmail/v1/users/me/messages/send", headers=headers, json={"raw": raw}).json()
    body = history(client, headers, startHistoryId=start, historyTypes="messageAdded").json()
    assert [h["messagesAdded"][0]["message"]["id"] for h in body["history"]] == [sent["id"]]
    assert body["history"][0]["messagesAdded"][0]["message"]["labelIds"] == ["SENT"]


def test_given_nothing_new_when_history_is_listed_then_the_history_key_is_absent(
    client: httpx.Client, bearer: Headers, fake: FakeGoogle
) -> None:
    headers = bearer()
    current = fake.mailbox(ALICE).history_id
    body = history(client, headers, startHistoryId=current).json()
    assert body == {"historyId": str(current)}


def test_given_label_changes_when_history_types_filter_then_only_those_records_and_keys_come_back(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    headers = bearer(scopes=(GMAIL_MODIFY,))
    start = fake.mailbox(ALICE).history_id
    message_id = deliver(fake)
    client.post(
        f"/gmail/v1/users/me/messages/{message_id}/modify",
        headers=headers,
        json={"addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]},
    )
    added = history(client, headers, startHistoryId=start, historyTypes="labelAdded").json()["history"]
    assert added == [
        {
            "id": str(start + 2),
            "messages": [added[0]["messages"][0]],
            "labelsAdded": [
                {
                    "message": {"id": message_id, "threadId": message_id, "labelIds": ["INBOX", "STARRED"]},
                    "labelIds": ["STARRED"],
                }
            ],
        }
    ]
    both = history(client, headers, startHistoryId=start, historyTypes=["messageAdded", "labelRemoved"])
    records = both.json()["history"]
    assert [sorted(set(r) - {"id", "messages"}) for r in records] == [["messagesAdded"], ["labelsRemoved"]]
    bad = history(client, headers, startHistoryId=start, historyTypes="messageMoved")
    assert bad.status_code == 400


def test_given_messages_with_different_labels_when_label_id_filters_then_only_matching_records_come_back(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    headers = bearer()
    start = fake.mailbox(ALICE).history_id
    deliver(fake, labels=("INBOX",))
    spam = deliver(fake, labels=("SPAM",))
    body = history(client, headers, startHistoryId=start, labelId="SPAM").json()
    assert [h["messages"][0]["id"] for h in body["history"]] == [spam]


def test_given_more_records_than_max_results_when_paging_then_every_record_comes_once_in_order(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    headers = bearer()
    start = fake.mailbox(ALICE).history_id
    ids = [deliver(fake, subject=f"m{i}") for i in range(5)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"startHistoryId": start, "maxResults": 2}
        if token:
            params["pageToken"] = token
        body = history(client, headers, **params).json()
        pages += 1
        assert len(body["history"]) <= 2
        seen += [h["messages"][0]["id"] for h in body["history"]]
        token = body.get("nextPageToken")
        if token is None:
            break
    assert seen == ids
    assert pages == 3


def test_given_expired_history_when_listed_from_before_it_then_404_in_googles_shape_and_after_it_works(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    headers = bearer()
    start = fake.mailbox(ALICE).history_id
    deliver(fake)
    kept = deliver(fake)
    floor = fake.mailbox(ALICE).get(kept).history_id
    expired = client.post("/_control/gmail/expire-history", json={"email": ALICE, "before_history_id": floor})
    assert expired.json()["history_floor"] == floor
    gone = history(client, headers, startHistoryId=start)
    assert gone.status_code == 404
    error = gone.json()["error"]
    assert (error["code"], error["message"], error["status"]) == (
        404,
        "Requested entity was not found.",
        "NOT_FOUND",
    )
    still = history(client, headers, startHistoryId=floor - 1).json()
    assert [h["messages"][0]["id"] for h in still["history"]] == [kept]


def test_given_no_start_history_id_when_history_is_listed_then_400(
    client: httpx.Client, bearer: Headers
) -> None:
    assert history(client, bearer()).status_code == 400
    assert history(client, bearer(), startHistoryId="abc").status_code == 400


@pytest.mark.parametrize("path", ["history?startHistoryId=1", "watch", "stop"])
def test_given_a_token_without_a_gmail_read_scope_when_push_methods_are_called_then_403_insufficient(
    client: httpx.Client, bearer: Headers, path: str
) -> None:
    headers = bearer(scopes=(GMAIL_SEND,))
    url = f"/gmail/v1/users/me/{path}"
    response = (
        client.get(url, headers=headers)
        if path.startswith("history")
        else client.post(url, headers=headers, json={"topicName": TOPIC})
    )
    assert response.status_code == 403
    assert response.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


# ---- watch and stop ---------------------------------------------------------------------------
def test_given_a_publishable_topic_when_watching_then_the_current_history_id_and_a_seven_day_expiration(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    response = watch(client, bearer(scopes=(GMAIL_METADATA,)))
    assert response.status_code == 200
    body = response.json()
    assert body["historyId"] == str(fake.mailbox(ALICE).history_id)
    assert isinstance(body["expiration"], str)
    assert abs(int(body["expiration"]) - int((fake.now() + 7 * 86400) * 1000)) < 5000


@pytest.mark.parametrize(
    ("topic", "status", "message"),
    [
        ("gmail", 400, "Invalid topicName does not match projects/SOME_ANDROID_PROJECT/topics/*"),
        ("projects/test-project/topics/missing", 404, "Resource not found (resource=missing)."),
        (
            "projects/test-project/topics/private",
            403,
            "Error sending test message to Cloud PubSub projects/test-project/topics/private : "
            "User not authorized to perform this action.",
        ),
    ],
)
def test_given_a_bad_topic_when_watching_then_googles_error(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, topic: str, status: int, message: str
) -> None:
    fake.pubsub.create_topic("projects/test-project/topics/private", publishers=["someone@example.com"])
    response = client.post("/gmail/v1/users/me/watch", headers=bearer(), json={"topicName": topic})
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
    assert fake.watches == {}


def test_given_gmail_is_granted_publisher_later_when_watching_again_then_it_works(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    fake.pubsub.create_topic(TOPIC, publishers=[])
    assert watch(client, bearer()).status_code == 403
    fake.pubsub.grant_publisher(TOPIC, GMAIL_PUBLISHER)
    assert watch(client, bearer()).status_code == 200


def test_given_a_watch_when_a_message_arrives_then_one_push_with_googles_body_and_a_verifiable_token(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    message_id = deliver(fake)
    assert fake.pubsub.drain(5)
    [push] = endpoint.pushes
    assert str(push.url) == ENDPOINT
    body = json.loads(push.content)
    message = body["message"]
    assert body["subscription"] == SUBSCRIPTION
    assert message["messageId"] == message["message_id"] and message["messageId"].isdigit()
    assert message["publishTime"] == message["publish_time"] and message["publishTime"].endswith("Z")
    assert message["attributes"] == {}
    notification = json.loads(base64.b64decode(message["data"]))
    assert notification == {
        "emailAddress": ALICE,
        "historyId": fake.mailbox(ALICE).get(message_id).history_id,
    }
    scheme, _, token = push.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    keys = KeySet.import_key_set(client.get("/jwks").json())
    claims = jwt.decode(token, keys, algorithms=["RS256"]).claims
    sa_id = service_account_id(SERVICE_ACCOUNT)
    assert claims["iss"] == fake.issuer
    assert claims["aud"] == AUDIENCE
    assert claims["email"] == SERVICE_ACCOUNT and claims["email_verified"] is True
    assert claims["sub"] == claims["azp"] == sa_id and sa_id.isdigit() and len(sa_id) == 21
    assert claims["exp"] - claims["iat"] == 3600
    [delivery] = fake.pubsub.deliveries
    assert (delivery.status, delivery.attempt, delivery.message_id) == (204, 1, message["messageId"])
    assert delivery.sent_at <= (delivery.answered_at or 0)


def test_given_a_rotated_signing_key_when_pushing_then_the_token_carries_the_current_kid(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    kid = fake.rotate_signing_key()
    deliver(fake)
    assert fake.pubsub.drain(5)
    token = endpoint.pushes[0].headers["Authorization"].split(" ", 1)[1]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == kid
    jwt.decode(token, KeySet.import_key_set(client.get("/jwks").json()), algorithms=["RS256"])


def test_given_include_and_exclude_label_filters_when_messages_arrive_then_only_wanted_ones_are_pushed(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    headers = bearer()
    watch(client, headers, labelIds=["SPAM"], labelFilterBehavior="include")
    deliver(fake, labels=("INBOX",))
    spam = deliver(fake, labels=("SPAM",))
    assert fake.pubsub.drain(5)
    assert [n["historyId"] for n in endpoint.notifications()] == [fake.mailbox(ALICE).get(spam).history_id]
    watch(client, headers, labelIds=["SPAM"], labelFilterAction="exclude")  # the older field name
    inbox = deliver(fake, labels=("INBOX",))
    deliver(fake, labels=("SPAM",))
    assert fake.pubsub.drain(5)
    assert endpoint.notifications()[1:] == [
        {"emailAddress": ALICE, "historyId": fake.mailbox(ALICE).get(inbox).history_id}
    ]
    assert len(fake.watches) == 1  # watching again replaced the watch


def test_given_a_watch_when_stopped_then_204_and_nothing_more_is_pushed(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    headers = bearer()
    watch(client, headers)
    assert client.post("/gmail/v1/users/me/stop", headers=headers).status_code == 204
    deliver(fake)
    assert fake.pubsub.drain(5)
    assert endpoint.pushes == []
    assert fake.pubsub.deliveries == []


def test_given_an_expired_watch_when_a_message_arrives_then_nothing_is_pushed(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    fake.advance_clock(7 * 86400 + 1)
    deliver(fake)
    assert fake.pubsub.drain(5)
    assert endpoint.pushes == []


# ---- delivery: retries, redelivery, order, drain, close ---------------------------------------
def test_given_the_endpoint_answers_5xx_when_pushing_then_pubsub_retries_until_a_2xx(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    endpoint.statuses = [503, 500]
    watch(client, bearer())
    deliver(fake)
    assert fake.pubsub.drain(5)
    deliveries = fake.pubsub.deliveries
    assert [(d.attempt, d.status) for d in deliveries] == [(1, 503), (2, 500), (3, 204)]
    assert len({d.message_id for d in deliveries}) == 1
    assert len({json.dumps(b) for b in endpoint.bodies()}) == 1  # the same push each time


def test_given_the_endpoint_always_fails_when_pushing_then_retries_stop_after_max_attempts(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    endpoint.default = 500
    fake.pubsub.max_attempts = 3
    watch(client, bearer())
    deliver(fake)
    assert fake.pubsub.drain(5)
    assert [d.attempt for d in fake.pubsub.deliveries] == [1, 2, 3]


def test_given_a_delivered_push_when_redelivered_then_the_same_message_is_pushed_again_as_is(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    deliver(fake)
    assert fake.pubsub.drain(5)
    message_id = fake.pubsub.deliveries[0].message_id
    answer = client.post("/_control/pubsub/redeliver", json={"message_id": message_id})
    assert answer.json() == {"queued": 1}
    assert client.post("/_control/pubsub/drain", json={"timeout": 5}).json() == {"drained": True}
    first, again = endpoint.bodies()
    assert first == again
    assert [d.redelivery for d in fake.pubsub.deliveries] == [False, True]
    listed = client.get("/_control/pubsub/deliveries").json()["deliveries"]
    assert [d["message_id"] for d in listed] == [message_id, message_id]


def test_given_paused_pushes_when_resumed_in_reverse_then_they_arrive_newest_first(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    client.post("/_control/pubsub/pause")
    ids = [fake.mailbox(ALICE).get(deliver(fake, subject=s)).history_id for s in ("one", "two", "three")]
    assert not fake.pubsub.drain(0.2)  # held while paused
    assert endpoint.pushes == []
    assert client.post("/_control/pubsub/resume", json={"order": "reverse"}).json() == {"released": 3}
    assert fake.pubsub.drain(5)
    assert [n["historyId"] for n in endpoint.notifications()] == list(reversed(ids))


def test_given_a_running_worker_when_the_fake_is_closed_then_no_pubsub_thread_is_left(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    deliver(fake)
    assert fake.pubsub.drain(5)
    assert fake.pubsub.running
    fake.close()
    assert not fake.pubsub.running
    assert not [t for t in threading.enumerate() if t.name == "fake-google-pubsub" and t.is_alive()]


def test_given_a_receiver_that_raises_when_pushing_then_the_error_is_recorded_and_retried(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    assert fake.pubsub.client is not None
    fake.pubsub.client.close()
    fake.pubsub.client = httpx.Client(transport=httpx.MockTransport(broken))
    fake.pubsub.max_attempts = 2
    watch(client, bearer())
    deliver(fake)
    assert fake.pubsub.drain(5)
    assert [(d.status, (d.error or "").split(":")[0]) for d in fake.pubsub.deliveries] == [
        (None, "ConnectError"),
        (None, "ConnectError"),
    ]


# ---- controls and helpers ---------------------------------------------------------------------
def test_given_the_controls_when_a_topic_and_subscription_are_made_over_http_then_pushes_follow(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers
) -> None:
    receiver = Endpoint()
    fake.pubsub.client = httpx.Client(transport=httpx.MockTransport(receiver.handle))
    try:
        assert client.post("/_control/pubsub/topics", json={"name": TOPIC}).status_code == 200
        made = client.post(
            "/_control/pubsub/subscriptions",
            json={"name": SUBSCRIPTION, "topic": TOPIC, "push_endpoint": ENDPOINT},
        ).json()
        assert made["audience"] == ENDPOINT  # the default audience is the endpoint
        assert made["service_account_email"] == "pubsub-push@test-project.iam.gserviceaccount.com"
        bad = client.post(
            "/_control/pubsub/subscriptions", json={"name": "x", "topic": TOPIC, "push_endpoint": ENDPOINT}
        )
        assert bad.status_code == 400
        watch(client, bearer())
        delivered = client.post(
            "/_control/gmail/deliver",
            json={"email": ALICE, "from": "c@example.net", "subject": "Hi", "text": "t"},
        ).json()
        assert client.post("/_control/pubsub/drain").json() == {"drained": True}
        assert receiver.notifications() == [{"emailAddress": ALICE, "historyId": int(delivered["historyId"])}]
        assert fake.mailbox(ALICE).get(delivered["id"]).header("Subject") == "Hi"
        state = client.get("/_control/gmail/watches").json()["watches"]
        assert [(w["email"], w["topic"]) for w in state] == [(ALICE, TOPIC)]
    finally:
        fake.close()
        fake.pubsub.client.close()


def test_given_the_push_token_helper_when_claims_are_chosen_then_only_the_fakes_key_verifies(
    fake: FakeGoogle, client: httpx.Client
) -> None:
    keys = KeySet.import_key_set(client.get("/jwks").json())
    wrong = push_token(fake, "https://elsewhere.test", "someone@example.com", exp=1, email_verified=False)
    claims = jwt.decode(wrong, keys, algorithms=["RS256"]).claims
    assert (claims["aud"], claims["email"], claims["exp"], claims["email_verified"]) == (
        "https://elsewhere.test",
        "someone@example.com",
        1,
        False,
    )
    forged = push_token(fake, AUDIENCE, SERVICE_ACCOUNT, key=other_key())
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["RS256"])
    body = push_body(ALICE, 1234, message_id="42")
    assert json.loads(base64.b64decode(body["message"]["data"])) == {"emailAddress": ALICE, "historyId": 1234}
    assert body["message"]["messageId"] == body["message"]["message_id"] == "42"


def test_given_make_dev_wiring_then_gmail_may_publish_and_the_subscription_pushes_to_the_broker(
    tmp_path: Path,
) -> None:
    from oauth_broker.providers.catalog import ProviderCatalog

    base = "http://127.0.0.1:3000/fake-google"
    fake = start_for_local(base)
    try:
        subscription = fake.pubsub.subscriptions[GMAIL_SUBSCRIPTION]
        assert fake.pubsub.can_publish(GMAIL_TOPIC, GMAIL_PUBLISHER)
        assert (
            subscription.push_endpoint
            == subscription.audience
            == "http://127.0.0.1:3000/v1/google/gmail-push"
        )
        assert gmail_push_settings(fake) == {
            "topic": GMAIL_TOPIC,
            "push_audience": "http://127.0.0.1:3000/v1/google/gmail-push",
            "push_service_account": GMAIL_PUSH_SERVICE_ACCOUNT,
        }
        override = providers_override(base)
        assert override["providers"]["google"]["gmail_push"] == {
            "jwks_url": f"{base}/jwks",
            "issuers": [base],
        }
        path = tmp_path / "providers.json"
        path.write_text(json.dumps(override))
        google = ProviderCatalog.load(str(path), allow_loopback=True).get("google")
        assert google.gmail_push is not None
        assert str(google.gmail_push.jwks_url) == f"{base}/jwks"
        assert list(google.gmail_push.issuers) == [fake.issuer]
    finally:
        fake.close()


def test_given_a_reset_when_topics_exist_then_they_stay_and_watches_are_forgotten(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    watch(client, bearer())
    deliver(fake)
    assert fake.pubsub.drain(5)
    fake.reset()
    assert fake.watches == {}
    assert fake.pubsub.deliveries == []
    assert TOPIC in fake.pubsub.topics and SUBSCRIPTION in fake.pubsub.subscriptions


def test_given_a_readonly_token_of_another_user_when_watching_then_delegation_is_denied(
    client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    response = client.post(
        "/gmail/v1/users/bob@example.com/watch",
        headers=bearer(scopes=(GMAIL_READONLY,)),
        json={"topicName": TOPIC},
    )
    assert response.status_code == 403


def test_given_a_receiver_that_reads_history_during_the_push_then_it_sees_the_new_message_without_deadlock(
    fake: FakeGoogle, client: httpx.Client, bearer: Headers, endpoint: Endpoint
) -> None:
    headers = bearer()
    start = int(watch(client, headers).json()["historyId"])
    seen: list[list[str]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        # what the broker does: history.list from its last id, inside the push
        with fake.http_client() as google:
            body = google.get(HISTORY, headers=headers, params={"startHistoryId": start}).json()
        seen.append([h["messages"][0]["id"] for h in body.get("history", [])])
        return httpx.Response(204)

    assert fake.pubsub.client is not None
    fake.pubsub.client.close()
    fake.pubsub.client = httpx.Client(transport=httpx.MockTransport(receiver))
    message_id = deliver(fake)
    assert fake.pubsub.drain(5)
    assert seen == [[message_id]]
