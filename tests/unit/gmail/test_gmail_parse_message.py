"""parse_gmail_message: users.messages.get responses (full, metadata, minimal, raw) as MessageDetail."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from oauth_broker.gmail.mime import build_message, encode_raw, parse_gmail_message, parse_raw
from oauth_broker.gmail.models import MessageDetail, MessageList, SendMessageRequest, SendResult


def b64url(data: bytes) -> str:
    """Gmail's body encoding: base64url (Gmail's own values have no padding)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def header_list(**headers: str) -> list[dict[str, str]]:
    return [{"name": name.replace("_", "-"), "value": value} for name, value in headers.items()]


LATIN1_TEXT = "Grüße aus Köln - à bientôt ½\n"  # every character is in ISO-8859-1
HTML = "<p>Grüße aus <b>東京</b></p>"


def full_payload() -> dict[str, Any]:
    """A format=full response: mixed > (alternative > (latin-1 text, utf-8 html), pdf attachment)."""
    return {
        "id": "18c2f0a1b2c3d4e5",
        "threadId": "18c2f0a1b2c3d4e0",
        "labelIds": ["INBOX", "UNREAD"],
        "snippet": "Grüße aus Köln &amp; Tokyo",
        "historyId": "987654",
        "internalDate": "1700000000123",
        "sizeEstimate": 43210,
        "payload": {
            "partId": "",
            "mimeType": "multipart/mixed",
            "filename": "",
            "headers": [
                {"name": "From", "value": "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>"},
                {"name": "TO", "value": "ada@example.com"},
                {"name": "cc", "value": '"Lovelace, Ada" <ada@example.com>, bob@example.com'},
                {"name": "Subject", "value": "=?UTF-8?B?R3LDvMOfZSDigJQg5p2x5Lqs?="},
                {"name": "Date", "value": "Tue, 14 Nov 2023 22:13:20 +0000"},
                {"name": "Message-Id", "value": "<CAF123@mail.gmail.com>"},
                {"name": "X-Custom", "value": "one"},
                {"name": "X-Custom", "value": "two"},
                {"name": "Content-Type", "value": 'multipart/mixed; boundary="b1"'},
            ],
            "body": {"size": 0},
            "parts": [
                {
                    "partId": "0",
                    "mimeType": "multipart/alternative",
                    "filename": "",
                    "headers": header_list(Content_Type='multipart/alternative; boundary="b2"'),
                    "body": {"size": 0},
                    "parts": [
                        {
                            "partId": "0.0",
                            "mimeType": "text/plain",
                            "filename": "",
                            "headers": header_list(
                                Content_Type='text/plain; charset="ISO-8859-1"',
                                Content_Transfer_Encoding="quoted-printable",
                            ),
                            "body": {
                                "size": len(LATIN1_TEXT.encode("latin-1")),
                                "data": b64url(LATIN1_TEXT.encode("latin-1")),
                            },
                        },
                        {
                            "partId": "0.1",
                            "mimeType": "text/html",
                            "filename": "",
                            "headers": header_list(Content_Type="text/html; charset=UTF-8"),
                            "body": {"size": len(HTML.encode()), "data": b64url(HTML.encode())},
                        },
                    ],
                },
                {
                    "partId": "1",
                    "mimeType": "application/pdf",
                    "filename": "Bericht März.pdf",
                    "headers": header_list(
                        Content_Type='application/pdf; name="=?UTF-8?Q?Bericht_M=C3=A4rz.pdf?="',
                        Content_Disposition="attachment; filename*=UTF-8''Bericht%20M%C3%A4rz.pdf",
                        Content_Transfer_Encoding="base64",
                        Content_ID="<pdf-1@example.de>",
                    ),
                    "body": {"attachmentId": "ANGjdJ8-attachment-id", "size": 48213},
                },
            ],
        },
    }


@pytest.fixture
def detail() -> MessageDetail:
    return parse_gmail_message(full_payload(), fmt="full")


# --- format=full ---------------------------------------------------------------------------------


def test_given_a_latin1_text_part_when_parsed_then_the_text_is_decoded_with_its_charset(
    detail: MessageDetail,
) -> None:
    assert detail.text == LATIN1_TEXT


def test_given_a_utf8_html_part_when_parsed_then_the_html_is_decoded(detail: MessageDetail) -> None:
    assert detail.html == HTML


def test_given_an_attachment_with_an_attachment_id_when_parsed_then_it_is_listed_not_used_as_body(
    detail: MessageDetail,
) -> None:
    assert [attachment.model_dump() for attachment in detail.attachments] == [
        {
            "attachment_id": "ANGjdJ8-attachment-id",
            "filename": "Bericht März.pdf",
            "mime_type": "application/pdf",
            "size": 48213,
            "content_id": "pdf-1@example.de",
        }
    ]


def test_given_encoded_words_and_any_case_header_names_when_parsed_then_common_headers_are_decoded(
    detail: MessageDetail,
) -> None:
    headers = detail.headers
    assert headers.from_ == "Jürgen Müller <juergen@example.de>"
    assert headers.to == "ada@example.com"
    assert headers.cc == '"Lovelace, Ada" <ada@example.com>, bob@example.com'
    assert headers.subject == "Grüße — 東京"
    assert headers.date == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert headers.message_id == "<CAF123@mail.gmail.com>"
    assert headers.reply_to is None


def test_given_repeated_headers_when_parsed_then_all_headers_keeps_every_one_in_order(
    detail: MessageDetail,
) -> None:
    assert [(h.name, h.value) for h in detail.all_headers if h.name == "X-Custom"] == [
        ("X-Custom", "one"),
        ("X-Custom", "two"),
    ]


def test_given_gmail_metadata_when_parsed_then_ids_labels_snippet_and_dates_are_mapped(
    detail: MessageDetail,
) -> None:
    assert (detail.id, detail.thread_id) == ("18c2f0a1b2c3d4e5", "18c2f0a1b2c3d4e0")
    assert detail.label_ids == ["INBOX", "UNREAD"]
    assert detail.snippet == "Grüße aus Köln &amp; Tokyo"
    assert detail.history_id == "987654"
    assert detail.internal_date == "2023-11-14T22:13:20Z"
    assert detail.size_estimate == 43210
    assert detail.raw is None


def test_given_a_message_detail_when_serialized_then_the_from_header_is_named_from(
    detail: MessageDetail,
) -> None:
    dumped = detail.model_dump(mode="json")
    assert dumped["headers"]["from"] == "Jürgen Müller <juergen@example.de>"
    assert "from_" not in dumped["headers"]


def test_given_an_inline_text_part_with_a_filename_when_parsed_then_it_is_an_attachment_not_the_body() -> (
    None
):
    payload = {
        "id": "m",
        "threadId": "t",
        "payload": {
            "mimeType": "multipart/mixed",
            "headers": header_list(Subject="notes"),
            "parts": [
                {
                    "partId": "0",
                    "mimeType": "text/plain",
                    "filename": "",
                    "headers": [],
                    "body": {"data": b64url(b"the body"), "size": 8},
                },
                {
                    "partId": "1",
                    "mimeType": "text/plain",
                    "filename": "notes.txt",
                    "headers": header_list(Content_Disposition='inline; filename="notes.txt"'),
                    "body": {"data": b64url(b"attached notes"), "size": 14},
                },
            ],
        },
    }
    parsed = parse_gmail_message(payload, fmt="full")
    assert parsed.text == "the body"
    assert [(a.attachment_id, a.filename, a.size) for a in parsed.attachments] == [
        ("part:1", "notes.txt", 14)
    ]


def test_given_a_text_part_marked_attachment_without_filename_when_parsed_then_it_is_an_attachment() -> None:
    payload = {
        "id": "m",
        "threadId": "t",
        "payload": {
            "mimeType": "multipart/mixed",
            "parts": [
                {
                    "partId": "0",
                    "mimeType": "text/html",
                    "headers": [],
                    "body": {"data": b64url(b"<p>body</p>")},
                },
                {
                    "partId": "1",
                    "mimeType": "text/html",
                    "filename": "",
                    "headers": header_list(Content_Disposition="attachment"),
                    "body": {"data": b64url(b"<p>attached</p>"), "size": 15},
                },
            ],
        },
    }
    parsed = parse_gmail_message(payload, fmt="full")
    assert parsed.html == "<p>body</p>"
    assert [(a.attachment_id, a.filename, a.mime_type) for a in parsed.attachments] == [
        ("part:1", "", "text/html")
    ]


def test_given_a_single_part_text_message_when_parsed_then_the_root_body_is_the_text() -> None:
    payload = {
        "id": "m",
        "threadId": "t",
        "payload": {
            "partId": "",
            "mimeType": "text/plain",
            "filename": "",
            "headers": header_list(Content_Type="text/plain; charset=us-ascii"),
            "body": {"data": b64url(b"line one\r\nline two\r\n"), "size": 20},
        },
    }
    parsed = parse_gmail_message(payload, fmt="full")
    assert (parsed.text, parsed.html, parsed.attachments) == ("line one\nline two\n", None, [])


def test_given_an_unknown_or_wrong_charset_when_parsed_then_utf8_is_used() -> None:
    def text_payload(charset: str, data: bytes) -> dict[str, Any]:
        return {
            "id": "m",
            "threadId": "t",
            "payload": {
                "mimeType": "text/plain",
                "headers": header_list(Content_Type=f"text/plain; charset={charset}"),
                "body": {"data": b64url(data)},
            },
        }

    assert parse_gmail_message(text_payload("x-no-such-charset", "déjà".encode()), fmt="full").text == "déjà"
    assert parse_gmail_message(text_payload("us-ascii", "déjà".encode()), fmt="full").text == "déjà"
    assert parse_gmail_message(text_payload("utf-8", b"d\xe9j\xe0"), fmt="full").text == "d\ufffdj\ufffd"


# --- format=metadata / minimal -------------------------------------------------------------------


def test_given_a_metadata_response_when_parsed_then_headers_and_snippet_are_kept_and_bodies_are_none() -> (
    None
):
    payload = full_payload()
    payload["payload"] = {"mimeType": "multipart/mixed", "headers": payload["payload"]["headers"]}
    parsed = parse_gmail_message(payload, fmt="metadata")
    assert parsed.headers.subject == "Grüße — 東京"
    assert parsed.snippet == "Grüße aus Köln &amp; Tokyo"
    assert (parsed.text, parsed.html, parsed.attachments, parsed.raw) == (None, None, [], None)


def test_given_a_minimal_response_when_parsed_then_there_are_no_headers() -> None:
    payload = {"id": "m", "threadId": "t", "labelIds": ["SENT"], "snippet": "hi", "internalDate": "0"}
    parsed = parse_gmail_message(payload, fmt="minimal")
    assert (parsed.all_headers, parsed.headers.subject, parsed.internal_date) == (
        [],
        None,
        "1970-01-01T00:00:00Z",
    )


def test_given_an_unknown_format_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        parse_gmail_message(full_payload(), fmt="html")


# --- format=raw ----------------------------------------------------------------------------------


PDF = b"%PDF-1.4\n" + bytes(range(256))


def sent_raw() -> str:
    req = SendMessageRequest.model_validate(
        {
            "to": ["Jürgen Müller <juergen@example.de>"],
            "subject": "Grüße — 東京",
            "text": "Hallo Jürgen\n",
            "html": "<p>Hallo Jürgen</p>\n",
            "attachments": [
                {
                    "filename": "Bericht März.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode("ascii"),
                }
            ],
        }
    )
    return encode_raw(build_message(req, sender="Me <me@example.org>"))


def test_given_a_raw_response_when_parsed_then_headers_bodies_and_attachments_match_what_was_sent() -> None:
    raw = sent_raw()
    parsed = parse_gmail_message(
        {"id": "m", "threadId": "t", "snippet": "Hallo", "raw": raw, "internalDate": "1700000000000"},
        fmt="raw",
    )
    assert parsed.headers.subject == "Grüße — 東京"
    assert parsed.headers.to == "Jürgen Müller <juergen@example.de>"
    assert parsed.headers.from_ == "Me <me@example.org>"
    assert (parsed.text, parsed.html) == ("Hallo Jürgen\n", "<p>Hallo Jürgen</p>\n")
    assert [(a.attachment_id, a.filename, a.mime_type, a.size) for a in parsed.attachments] == [
        ("raw:1", "Bericht März.pdf", "application/pdf", len(PDF))
    ]
    assert parsed.raw == raw
    assert parsed.snippet == "Hallo"


def test_given_gmails_unpadded_raw_when_parsed_then_it_decodes() -> None:
    raw = sent_raw().rstrip("=")
    assert parse_raw(raw)["Subject"] == "Grüße — 東京"


def test_given_raw_that_is_not_base64url_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="base64url"):
        parse_raw("not base64url!")


def test_given_a_raw_response_without_raw_when_parsed_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="no raw field"):
        parse_gmail_message({"id": "m", "threadId": "t"}, fmt="raw")


def test_given_raw_with_folded_and_8bit_headers_when_parsed_then_they_are_unfolded_and_decoded() -> None:
    message = (
        "Subject: =?iso-8859-1?q?K=F6ln?=\r\n and more\r\n"
        "From: Jürgen <j@example.de>\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "K=F6ln\r\n"
    ).encode()
    parsed = parse_gmail_message({"id": "m", "threadId": "t", "raw": b64url(message)}, fmt="raw")
    assert parsed.headers.subject == "Köln and more"
    assert parsed.headers.from_ == "Jürgen <j@example.de>"
    assert parsed.text == "Köln\n"


def test_given_raw_text_parts_named_or_marked_attachment_when_parsed_then_they_are_attachments() -> None:
    message = (
        b"Subject: parts\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n'
        b"\r\n"
        b"--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"the body\r\n"
        b"--b\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Disposition: attachment\r\n"
        b"\r\n"
        b"no name\r\n"
        b"--b\r\n"
        b'Content-Type: text/plain; name="notes.txt"\r\n'
        b"Content-Disposition: inline\r\n"
        b"\r\n"
        b"named\r\n"
        b"--b--\r\n"
    )
    parsed = parse_gmail_message({"id": "m", "threadId": "t", "raw": b64url(message)}, fmt="raw")
    assert parsed.text == "the body"
    assert [(a.attachment_id, a.filename) for a in parsed.attachments] == [
        ("raw:1", ""),
        ("raw:2", "notes.txt"),
    ]


# --- list and send results -----------------------------------------------------------------------


def test_given_a_gmail_list_response_when_mapped_then_refs_cursor_and_estimate_are_kept() -> None:
    listed = MessageList.from_gmail(
        {"messages": [{"id": "a", "threadId": "t1"}], "nextPageToken": "tok", "resultSizeEstimate": 201}
    )
    assert listed.model_dump() == {
        "data": [{"id": "a", "thread_id": "t1"}],
        "next_cursor": "tok",
        "result_size_estimate": 201,
    }


def test_given_an_empty_gmail_list_response_when_mapped_then_data_is_empty_and_no_cursor() -> None:
    listed = MessageList.from_gmail({"resultSizeEstimate": 0})
    assert (listed.data, listed.next_cursor, listed.result_size_estimate) == ([], None, 0)


def test_given_a_gmail_send_response_when_mapped_then_id_and_thread_id_are_kept() -> None:
    result = SendResult.from_gmail({"id": "m1", "threadId": "t1", "labelIds": ["SENT"]})
    assert result.model_dump() == {"id": "m1", "thread_id": "t1"}
