"""build_message / encode_raw: the raw RFC 5322 message handed to users.messages.send."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import Any

import pytest

from oauth_broker.gmail.mime import build_message, build_send_body, encode_raw
from oauth_broker.gmail.models import SendMessageRequest

SUBJECT = "Grüße — 東京"
TEXT = "Hallo Jürgen,\nanbei der Bericht. ✓\n"
HTML = "<p>Hallo <b>Jürgen</b>, anbei der Bericht. ✓</p>\n"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(range(256))


def request(**overrides: Any) -> SendMessageRequest:
    payload: dict[str, Any] = {"to": ["ada@example.com"], "subject": "Hello", "text": "Hi Ada\n"}
    payload.update(overrides)
    return SendMessageRequest.model_validate(payload)


def pdf_attachment(**overrides: Any) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "filename": "Bericht März.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(PDF).decode("ascii"),
    }
    attachment.update(overrides)
    return attachment


def round_trip(req: SendMessageRequest, sender: str = "me@example.org", **kwargs: Any) -> EmailMessage:
    """Build, encode as Gmail's raw, decode and parse back with the standard library alone."""
    raw = encode_raw(build_message(req, sender=sender, **kwargs))
    parsed = message_from_bytes(base64.urlsafe_b64decode(raw), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def raw_bytes(req: SendMessageRequest, sender: str = "me@example.org", **kwargs: Any) -> bytes:
    return base64.urlsafe_b64decode(encode_raw(build_message(req, sender=sender, **kwargs)))


def structure(part: Message) -> Any:
    """The MIME tree as nested (multipart type, [children]) tuples and leaf content types."""
    children = part.get_payload()
    if part.get_content_maintype() == "multipart" and isinstance(children, list):
        return (part.get_content_type(), [structure(c) for c in children if isinstance(c, Message)])
    return part.get_content_type()


@pytest.fixture
def full_request() -> SendMessageRequest:
    return request(
        to=["Jürgen Müller <juergen@example.de>"],
        cc=['"Lovelace, Ada" <ada@example.com>'],
        subject=SUBJECT,
        text=TEXT,
        html=HTML,
        attachments=[pdf_attachment()],
    )


# --- the full message round trip -----------------------------------------------------------------


def test_given_a_non_ascii_subject_when_built_encoded_and_parsed_then_the_subject_is_the_same(
    full_request: SendMessageRequest,
) -> None:
    assert round_trip(full_request)["Subject"] == SUBJECT


def test_given_a_non_ascii_subject_when_encoded_then_the_raw_header_is_rfc2047_encoded(
    full_request: SendMessageRequest,
) -> None:
    raw = raw_bytes(full_request)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii()
    assert b"Subject: =?utf-8?" in headers
    assert b"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>" in headers


def test_given_non_ascii_and_quoted_display_names_when_round_tripped_then_the_names_are_the_same(
    full_request: SendMessageRequest,
) -> None:
    parsed = round_trip(full_request)
    (to,) = parsed["To"].addresses
    (cc,) = parsed["Cc"].addresses
    assert (to.display_name, to.addr_spec) == ("Jürgen Müller", "juergen@example.de")
    assert (cc.display_name, cc.addr_spec) == ("Lovelace, Ada", "ada@example.com")


def test_given_text_html_and_a_pdf_when_round_tripped_then_the_structure_is_mixed_around_alternative(
    full_request: SendMessageRequest,
) -> None:
    assert structure(round_trip(full_request)) == (
        "multipart/mixed",
        [("multipart/alternative", ["text/plain", "text/html"]), "application/pdf"],
    )


def test_given_text_and_html_when_round_tripped_then_both_bodies_are_the_same(
    full_request: SendMessageRequest,
) -> None:
    parsed = round_trip(full_request)
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert isinstance(text_part, EmailMessage)
    assert isinstance(html_part, EmailMessage)
    assert text_part.get_content().replace("\r\n", "\n") == TEXT
    assert html_part.get_content().replace("\r\n", "\n") == HTML


def test_given_a_pdf_when_round_tripped_then_its_bytes_filename_and_type_are_the_same(
    full_request: SendMessageRequest,
) -> None:
    (attachment,) = list(round_trip(full_request).iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "Bericht März.pdf"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content() == PDF


def test_given_any_message_when_encoded_then_raw_is_base64url_of_a_7bit_crlf_message(
    full_request: SendMessageRequest,
) -> None:
    raw = encode_raw(build_message(full_request, sender="me@example.org"))
    assert "+" not in raw and "/" not in raw
    data = base64.urlsafe_b64decode(raw)
    assert data.isascii()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_given_a_sender_when_built_then_from_date_and_a_message_id_in_its_domain_are_set() -> None:
    now = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    msg = build_message(request(), sender="Me <me@example.org>", now=now)
    assert msg["From"] == "Me <me@example.org>"
    assert msg["Date"].datetime == now
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.org>")


def test_given_two_messages_when_built_then_their_message_ids_differ() -> None:
    first = build_message(request(), sender="me@example.org")
    second = build_message(request(), sender="me@example.org")
    assert first["Message-ID"] != second["Message-ID"]


def test_given_a_from_alias_when_built_then_it_is_the_from_header_and_message_id_domain() -> None:
    msg = build_message(request(**{"from": "Sales <sales@alias.example>"}), sender="me@example.org")
    assert msg["From"] == "Sales <sales@alias.example>"
    assert msg["Message-ID"].endswith("@alias.example>")


def test_given_a_bad_sender_when_built_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid email address"):
        build_message(request(), sender="me")


# --- shapes --------------------------------------------------------------------------------------


def test_given_text_only_when_built_then_the_message_is_a_single_text_plain_part() -> None:
    parsed = round_trip(request(text="Just text\n"))
    assert not parsed.is_multipart()
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().replace("\r\n", "\n") == "Just text\n"


def test_given_html_only_when_built_then_the_message_is_a_single_text_html_part() -> None:
    parsed = round_trip(request(text=None, html="<p>Only html</p>\n"))
    assert not parsed.is_multipart()
    assert parsed.get_content_type() == "text/html"


def test_given_text_only_with_an_attachment_when_built_then_mixed_wraps_the_text_part() -> None:
    parsed = round_trip(request(attachments=[pdf_attachment()]))
    assert structure(parsed) == ("multipart/mixed", ["text/plain", "application/pdf"])


def test_given_an_inline_image_with_a_content_id_when_built_then_it_is_related_to_the_html() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    image = {
        "filename": "logo.png",
        "content_type": "image/png",
        "content_base64": base64.b64encode(png).decode("ascii"),
        "content_id": "logo@example.org",
    }
    parsed = round_trip(
        request(
            text="Hi\n",
            html='<p><img src="cid:logo@example.org"></p>\n',
            attachments=[image, pdf_attachment()],
        )
    )
    assert structure(parsed) == (
        "multipart/mixed",
        [
            ("multipart/alternative", ["text/plain", ("multipart/related", ["text/html", "image/png"])]),
            "application/pdf",
        ],
    )
    inline = next(part for part in parsed.walk() if part.get_content_type() == "image/png")
    assert inline["Content-ID"] == "<logo@example.org>"
    assert inline.get_content_disposition() == "inline"
    assert inline.get_payload(decode=True) == png


def test_given_a_7bit_forwarded_message_when_built_then_it_is_message_rfc822_verbatim_not_base64() -> None:
    eml = b"From: bob@example.com\r\nSubject: Fwd me\r\n\r\nhello\r\n"
    forwarded = {
        "filename": "original.eml",
        "content_type": "message/rfc822",
        "content_base64": base64.b64encode(eml).decode("ascii"),
    }
    parsed = round_trip(request(attachments=[forwarded]))
    (part,) = list(parsed.iter_attachments())
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert part.get_filename() == "original.eml"
    inner = part.get_content()
    assert inner["Subject"] == "Fwd me"
    assert inner.get_content().replace("\r\n", "\n") == "hello\n"


def test_given_an_8bit_forwarded_message_when_built_then_its_bytes_travel_as_octet_stream() -> None:
    eml = "From: bob@example.com\r\nSubject: Fwd me\r\n\r\nhällo\r\n".encode()
    forwarded = {
        "filename": "original.eml",
        "content_type": "message/rfc822",
        "content_base64": base64.b64encode(eml).decode("ascii"),
    }
    (part,) = list(round_trip(request(attachments=[forwarded])).iter_attachments())
    assert (part.get_content_type(), part.get_filename()) == ("application/octet-stream", "original.eml")
    assert part.get_payload(decode=True) == eml


# --- headers -------------------------------------------------------------------------------------


def test_given_in_reply_to_when_built_then_in_reply_to_and_references_name_that_message() -> None:
    msg = build_message(request(in_reply_to="orig@mail.example.com"), sender="me@example.org")
    assert msg["In-Reply-To"] == "<orig@mail.example.com>"
    assert msg["References"] == "<orig@mail.example.com>"


def test_given_in_reply_to_and_the_parent_references_when_built_then_references_end_with_the_parent() -> None:
    msg = build_message(
        request(in_reply_to="<parent@x>"), sender="me@example.org", references="<root@x> <middle@x>"
    )
    assert msg["References"] == "<root@x> <middle@x> <parent@x>"


def test_given_no_in_reply_to_when_built_then_there_are_no_reply_headers() -> None:
    msg = build_message(request(), sender="me@example.org")
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_given_references_with_a_line_break_when_built_then_they_are_refused() -> None:
    with pytest.raises(ValueError):
        build_message(
            request(in_reply_to="<p@x>"), sender="me@example.org", references="<a@x>\r\nBcc: e@v.il"
        )


def test_given_bcc_recipients_when_built_then_the_raw_message_carries_a_bcc_header_for_gmail() -> None:
    parsed = round_trip(request(to=[], bcc=["Hidden <hidden@example.com>", "other@example.com"]))
    assert [address.addr_spec for address in parsed["Bcc"].addresses] == [
        "hidden@example.com",
        "other@example.com",
    ]
    assert parsed["To"] is None


def test_given_reply_to_when_built_then_the_reply_to_header_is_set() -> None:
    parsed = round_trip(request(reply_to="Support <support@example.com>"))
    assert parsed["Reply-To"] == "Support <support@example.com>"


def test_given_a_thread_id_when_the_send_body_is_built_then_it_carries_raw_and_thread_id() -> None:
    req = request(in_reply_to="<p@x>", thread_id="18c2f0a1b2c3d4e5")
    send_body = build_send_body(req, sender="me@example.org")
    assert send_body["threadId"] == "18c2f0a1b2c3d4e5"
    parsed = message_from_bytes(base64.urlsafe_b64decode(send_body["raw"]), policy=policy.default)
    assert parsed["In-Reply-To"] == "<p@x>"


def test_given_no_thread_id_when_the_send_body_is_built_then_it_has_only_raw() -> None:
    assert set(build_send_body(request(), sender="me@example.org")) == {"raw"}
