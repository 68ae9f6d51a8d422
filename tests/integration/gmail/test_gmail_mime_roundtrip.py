"""A message sent through the broker is the message the caller described: a non-ASCII subject, text
and html alternatives and a binary attachment come back identical through the standard library,
and through the broker's own read route."""

from __future__ import annotations

import base64
import hashlib
from email import message_from_bytes, policy

from brokertest.proxy import ALICE, BOB

SUBJECT = "Grüße aus Köln – 東京からのご挨拶 ✉"  # noqa: RUF001 - non-ASCII on purpose
TEXT = "Hallo Bob,\nschöne Grüße!\n— Alice"
HTML = "<p>Hallo <b>Bob</b>,</p><p>schöne Grüße! 東京</p>"
ATTACHMENT = hashlib.sha512(b"report").digest() * 64 + bytes(range(256))


def send_rich_message(pw):
    rec = pw.connect(["mail.google.com"])
    resp = pw.call(
        "POST",
        f"/v1/connections/{rec.id}/gmail/messages",
        json_body={
            "to": ["Bob Builder <bob@example.com>"],
            "cc": ["Zoë <zoe@example.com>"],
            "subject": SUBJECT,
            "text": TEXT,
            "html": HTML,
            "attachments": [
                {
                    "filename": "Bericht Übersicht.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(ATTACHMENT).decode(),
                }
            ],
        },
    )
    assert resp.status_code == 201, resp.get_data()[:500]
    return rec, resp.get_json()


def test_given_a_rich_message_when_sent_then_the_standard_library_parses_back_the_same_parts(pw):
    _, sent = send_rich_message(pw)

    raw = pw.fake.mailbox(ALICE).messages[sent["id"]].raw
    parsed = message_from_bytes(raw, policy=policy.default)

    assert str(parsed["Subject"]) == SUBJECT
    assert (
        str(parsed["To"]) == "Bob Builder <bob@example.com>" and str(parsed["Cc"]) == "Zoë <zoe@example.com>"
    )
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == TEXT
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n").rstrip("\n") == HTML
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "Bericht Übersicht.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == ATTACHMENT
    assert all(byte < 0x80 for byte in raw), "the message on the wire is 7-bit clean"


def test_given_a_rich_message_when_sent_then_the_recipient_account_receives_it_intact(pw):
    send_rich_message(pw)

    received = [m for m in pw.fake.mailbox(BOB).search() if m.header("Subject") == SUBJECT]

    assert len(received) == 1
    parsed = message_from_bytes(received[0].raw, policy=policy.default)
    assert next(parsed.iter_attachments()).get_content() == ATTACHMENT


def test_given_a_rich_message_when_read_back_through_the_broker_then_the_parts_match(pw):
    rec, sent = send_rich_message(pw)

    detail = pw.call("GET", f"/v1/connections/{rec.id}/gmail/messages/{sent['id']}").get_json()

    assert detail["headers"]["subject"] == SUBJECT
    assert detail["text"].rstrip("\n") == TEXT and detail["html"].rstrip("\n") == HTML
    (info,) = detail["attachments"]
    assert info["filename"] == "Bericht Übersicht.pdf" and info["mime_type"] == "application/pdf"
    assert info["size"] == len(ATTACHMENT)
    fetched = pw.proxy(rec, f"gmail/v1/users/me/messages/{sent['id']}/attachments/{info['attachment_id']}")
    data = fetched.get_json()["data"]
    assert base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)) == ATTACHMENT
