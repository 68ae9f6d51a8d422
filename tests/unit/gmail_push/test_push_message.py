"""A Pub/Sub push's body and Authorization header (oauth_broker.gmail_push.receiver): what Gmail
publishes is decoded; anything else is a 400 or 401 problem before anything is read."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from oauth_broker.errors import InvalidPushMessage, InvalidPushToken
from oauth_broker.gmail_push.receiver import Notification, bearer_token, label_match, parse_notification
from oauth_broker.store.models import GmailWatchRecord


def push_body(data: Any, **message: Any) -> str:
    encoded = base64.b64encode(json.dumps(data).encode()).decode() if not isinstance(data, str) else data
    return json.dumps(
        {
            "message": {"data": encoded, "messageId": "2070443601311540", **message},
            "subscription": "projects/p/subscriptions/s",
        }
    )


def test_given_gmails_notification_when_parsed_then_the_mailbox_is_lowercased_and_the_history_id_read():
    parsed = parse_notification(push_body({"emailAddress": "Ann@Example.com", "historyId": 9876543210}))

    assert parsed == Notification("ann@example.com", 9876543210, "2070443601311540")


def test_given_a_history_id_sent_as_a_string_when_parsed_then_it_is_read_as_a_number():
    assert parse_notification(push_body({"emailAddress": "a@b.c", "historyId": "1234"})).history_id == 1234


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"subscription": "s"}),
        push_body("!!!not base64 json!!!"),
        push_body({"emailAddress": "a@b.c"}),
        push_body({"historyId": 5}),
        push_body({"emailAddress": "no-at-sign", "historyId": 5}),
        push_body({"emailAddress": "a@b.c", "historyId": "twelve"}),
        push_body({"emailAddress": "a@b.c", "historyId": 0}),
        push_body(["a", "list"]),
    ],
)
def test_given_a_body_that_is_not_gmails_push_when_parsed_then_it_is_invalid_push_message(body: str):
    with pytest.raises(InvalidPushMessage) as caught:
        parse_notification(body)
    assert caught.value.status == 400 and caught.value.code == "invalid_push_message"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc", "token-without-scheme"])
def test_given_no_bearer_token_when_read_then_it_is_invalid_push_token(header: str | None):
    with pytest.raises(InvalidPushToken) as caught:
        bearer_token(header)
    assert caught.value.status == 401 and caught.value.code == "invalid_push_token"


def test_given_a_bearer_token_when_read_then_the_scheme_is_case_insensitive():
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


def watch(labels: list[str], behavior: str = "include") -> GmailWatchRecord:
    return GmailWatchRecord(
        tenant="acme",
        connection_id="con_1",
        owner="ann",
        mailbox="ann@example.com",
        topic="projects/acme-prod/topics/gmail",
        label_ids=labels,
        label_filter_behavior=behavior,
        history_id=1,
        expires_at=2,
        renewed_at=1,
        created_at="2026-12-06T00:00:00Z",
        updated_at="2026-12-06T00:00:00Z",
    )


def test_given_a_watch_without_labels_when_filtering_then_every_message_counts():
    assert label_match(["SENT"], watch([]))
    assert label_match([], watch([]))


def test_given_an_include_filter_when_filtering_then_only_messages_with_one_of_its_labels_count():
    assert label_match(["INBOX", "UNREAD"], watch(["INBOX"]))
    assert not label_match(["SENT"], watch(["INBOX"]))


def test_given_an_exclude_filter_when_filtering_then_messages_with_its_labels_do_not_count():
    assert not label_match(["SPAM"], watch(["SPAM", "TRASH"], "exclude"))
    assert label_match(["INBOX"], watch(["SPAM", "TRASH"], "exclude"))
