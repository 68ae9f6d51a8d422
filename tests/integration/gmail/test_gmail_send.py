"""POST /v1/connections/{id}/gmail/messages: validation, the sender, replies, Idempotency-Key."""

from __future__ import annotations

import base64

import pytest

from brokertest.proxy import ALICE, problem
from oauth_broker.gmail.models import DEFAULT_MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES

MESSAGE = {"to": ["Bob <bob@example.com>"], "subject": "Hello", "text": "Hi Bob"}


def send(pw, rec, body=None, *, key=None, **kwargs):
    headers = {"Idempotency-Key": key} if key else {}
    return pw.call(
        "POST",
        f"/v1/connections/{rec.id}/gmail/messages",
        json_body=body or MESSAGE,
        headers=headers,
        **kwargs,
    )


def sends(pw) -> list:
    return [r for r in pw.api_requests() if r.path.endswith("/messages/send")]


def test_given_a_valid_message_when_sent_then_it_is_201_with_gmails_ids_and_a_location(pw):
    rec = pw.connect(["gmail.send"])

    resp = send(pw, rec)

    assert resp.status_code == 201
    body = resp.get_json()
    stored = pw.fake.mailbox(ALICE).messages[body["id"]]
    assert body == {"id": stored.id, "thread_id": stored.thread_id}
    assert resp.headers["Location"] == f"/v1/connections/{rec.id}/gmail/messages/{body['id']}"
    sent = pw.fake.sent_messages(ALICE)[-1]
    assert str(sent["To"]) == "Bob <bob@example.com>" and str(sent["From"]) == ALICE
    assert sent.get_content().strip() == "Hi Bob"


def test_given_a_send_as_alias_when_sent_from_it_then_the_message_is_from_the_alias(pw):
    rec = pw.connect(["gmail.readonly", "gmail.send"])

    resp = send(pw, rec, {**MESSAGE, "from": "Alice Support <support@example.com>"})

    assert resp.status_code == 201
    assert str(pw.fake.sent_messages(ALICE)[-1]["From"]) == "Alice Support <support@example.com>"


def test_given_send_as_addresses_when_two_messages_are_sent_from_an_alias_then_they_are_listed_once(pw):
    rec = pw.connect(["gmail.readonly", "gmail.send"])

    for _ in range(2):
        assert send(pw, rec, {**MESSAGE, "from": "support@example.com"}).status_code == 201

    assert len([r for r in pw.api_requests() if r.path.endswith("/settings/sendAs")]) == 1


def test_given_a_from_that_is_not_a_send_as_address_when_sent_then_it_is_422_and_nothing_is_sent(pw):
    rec = pw.connect(["gmail.readonly", "gmail.send"])

    resp = send(pw, rec, {**MESSAGE, "from": "ceo@example.com"})

    assert resp.status_code == 422
    assert problem(resp)["errors"][0]["loc"] == ["body", "from"]
    assert sends(pw) == []


def test_given_send_only_scopes_and_an_alias_when_sent_then_it_is_422_as_the_alias_cannot_be_checked(pw):
    rec = pw.connect(["gmail.send"])

    resp = send(pw, rec, {**MESSAGE, "from": "support@example.com"})

    assert resp.status_code == 422
    body = problem(resp)
    assert body["errors"][0]["loc"] == ["body", "from"] and "gmail.readonly" in body["detail"]
    assert pw.api_requests() == []


def test_given_send_only_scopes_and_the_accounts_own_address_when_sent_then_it_is_sent(pw):
    rec = pw.connect(["gmail.send"])

    resp = send(pw, rec, {**MESSAGE, "from": "Alice <ALICE@example.com>"})

    assert resp.status_code == 201
    assert [r.path for r in pw.api_requests()] == ["/gmail/v1/users/me/messages/send"]


def test_given_in_reply_to_and_a_thread_when_sent_then_the_reply_is_threaded(pw):
    rec = pw.connect(["gmail.readonly", "gmail.send"])
    original = pw.fake.mailbox(ALICE).search()[0]
    message_id = original.header("Message-ID")

    resp = send(
        pw,
        rec,
        {
            **MESSAGE,
            "subject": "Re: " + original.header("Subject"),
            "in_reply_to": message_id,
            "thread_id": original.thread_id,
        },
    )

    assert resp.status_code == 201 and resp.get_json()["thread_id"] == original.thread_id
    sent = pw.fake.sent_messages(ALICE)[-1]
    assert str(sent["In-Reply-To"]) == message_id
    assert message_id in str(sent["References"])
    assert sends(pw)[-1].json()["threadId"] == original.thread_id


def test_given_invalid_messages_when_sent_then_each_is_422_naming_the_field(pw):
    rec = pw.connect(["gmail.send"])
    cases = {
        "to": {**MESSAGE, "to": ["not an address"]},
        "text": {**MESSAGE, "text": "   "},
        "subject": {**MESSAGE, "subject": "Hi\r\nBcc: everyone@example.com"},
    }

    for field, body in cases.items():
        resp = send(pw, rec, body)
        assert resp.status_code == 422, field
        errors = problem(resp)["errors"]
        assert any(field in e["loc"] for e in errors), (field, errors)
    assert pw.api_requests() == []


def big_attachment(size: int) -> dict[str, str]:
    return {
        "filename": "big.bin",
        "content_type": "application/octet-stream",
        "content_base64": base64.b64encode(b"\0" * size).decode(),
    }


@pytest.mark.parametrize(
    ("field", "body"),
    [
        pytest.param(
            "attachments",
            {**MESSAGE, "attachments": [big_attachment(DEFAULT_MAX_MESSAGE_BYTES + 1)]},
            id="one attachment over 5 MiB",
        ),
        pytest.param(
            "attachments",
            {**MESSAGE, "text": "x" * DEFAULT_MAX_MESSAGE_BYTES, "attachments": [big_attachment(1)]},
            id="text and attachment adding up to over 5 MiB",
        ),
        pytest.param(
            "attachments",
            {**MESSAGE, "text": "x" * (DEFAULT_MAX_MESSAGE_BYTES + 1)},
            id="a text body over 5 MiB, the request under 6 MB",
        ),
    ],
)
def test_given_a_message_over_the_size_limit_when_sent_then_it_is_413_message_too_large(pw, field, body):
    rec = pw.connect(["gmail.send"])

    resp = send(pw, rec, body)

    assert resp.status_code == 413, resp.get_data(as_text=True)[:300]
    doc = problem(resp)
    assert doc["code"] == "message_too_large" and doc["status"] == 413
    assert doc["title"] == "Payload too large" and "bytes" in doc["detail"]
    assert any(field in e["loc"] and e["type"] == "message_too_large" for e in doc["errors"]), doc
    assert pw.api_requests() == []


def test_given_a_message_too_large_and_an_invalid_address_when_sent_then_413_lists_both_fields(pw):
    rec = pw.connect(["gmail.send"])
    body = {
        **MESSAGE,
        "to": ["not an address"],
        "attachments": [big_attachment(DEFAULT_MAX_MESSAGE_BYTES + 1)],
    }

    resp = send(pw, rec, body)

    assert resp.status_code == 413
    assert {e["loc"][1] for e in problem(resp)["errors"]} == {"to", "attachments"}


def test_given_a_body_over_the_request_limit_when_sent_then_it_is_413(pw):
    rec = pw.connect(["gmail.send"])
    # a valid message (4.9 MB of attachment), but larger than a Lambda request once base64-encoded
    attachment = base64.b64encode(b"\1" * 4_900_000).decode()
    assert len(attachment) > MAX_REQUEST_BYTES

    resp = send(
        pw,
        rec,
        {
            **MESSAGE,
            "attachments": [
                {
                    "filename": "a.bin",
                    "content_type": "application/octet-stream",
                    "content_base64": attachment,
                }
            ],
        },
    )

    assert resp.status_code == 413 and problem(resp)["code"] == "payload_too_large"
    assert pw.api_requests() == []


def test_given_a_readonly_connection_when_sending_then_it_is_403_scope_not_granted(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = send(pw, rec)

    assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted"
    assert sends(pw) == []


def test_given_an_idempotency_key_when_the_send_is_retried_then_gmail_sends_once_and_the_answer_repeats(pw):
    rec = pw.connect(["gmail.send"])
    before = len(pw.fake.sent_messages(ALICE))

    first = send(pw, rec, key="order-42-confirmation")
    again = send(pw, rec, key="order-42-confirmation")

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(sends(pw)) == 1
    assert len(pw.fake.sent_messages(ALICE)) == before + 1


def test_given_a_reused_key_with_another_body_when_sent_then_it_is_422_and_nothing_is_sent(pw):
    rec = pw.connect(["gmail.send"])
    send(pw, rec, key="k-1")

    resp = send(pw, rec, {**MESSAGE, "subject": "Different"}, key="k-1")

    assert resp.status_code == 422 and problem(resp)["code"] == "idempotency_key_reused"
    assert len(sends(pw)) == 1


def test_given_the_same_key_on_two_connections_when_sent_then_each_connection_sends(pw):
    first, second = pw.connect(["gmail.send"]), pw.connect(["gmail.send"])

    a = send(pw, first, key="shared-key")
    b = send(pw, second, key="shared-key")

    assert a.status_code == b.status_code == 201 and a.get_json() != b.get_json()
    assert len(sends(pw)) == 2


def test_given_a_failed_send_when_retried_with_the_same_key_then_it_is_sent(pw):
    rec = pw.connect(["gmail.send"])
    pw.fake.fail_next("gmail", status=400, error="invalidArgument")

    failed = send(pw, rec, key="retry-me")
    retried = send(pw, rec, key="retry-me")

    assert failed.status_code == 400 and problem(failed)["upstream_status"] == 400
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_given_an_invalid_idempotency_key_when_sent_then_it_is_422(pw):
    rec = pw.connect(["gmail.send"])

    resp = send(pw, rec, key="has spaces")

    assert resp.status_code == 422 and problem(resp)["errors"][0]["loc"] == ["header", "idempotency-key"]
    assert pw.api_requests() == []


def test_given_idempotency_records_when_stored_then_they_hold_no_message_content_and_expire(pw):
    rec = pw.connect(["gmail.send"])
    send(pw, rec, {**MESSAGE, "text": "secret body text"}, key="k-store")

    items = pw.services.dynamodb.scan(TableName=pw.services.config.table_name)["Items"]
    records = [i for i in items if i["pk"]["S"].startswith("IDEM#")]

    assert len(records) == 1 and records[0]["sk"]["S"] == "IDEM"
    assert "secret body text" not in str(records[0]) and "k-store" not in str(records[0])
    assert int(records[0]["ttl"]["N"]) > 0
