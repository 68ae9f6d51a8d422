"""SendMessageRequest: what a send body must be before a message is built from it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from oauth_broker.gmail.models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES_CONTEXT_KEY,
    SendMessageRequest,
)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"to": ["ada@example.com"], "subject": "Hello", "text": "Hi Ada"}
    base.update(overrides)
    return base


def attachment(content: bytes = b"%PDF-1.4", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "filename": "report.pdf",
        "content_type": "application/pdf",
        "content_base64": base64.b64encode(content).decode("ascii"),
    }
    base.update(overrides)
    return base


def errors_of(payload: dict[str, Any], **kwargs: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        SendMessageRequest.model_validate(payload, **kwargs)
    return [(tuple(error["loc"]), error["type"]) for error in caught.value.errors()]


# --- accepted ------------------------------------------------------------------------------------


def test_given_a_minimal_body_when_validated_then_it_is_accepted_with_empty_cc_bcc_and_attachments() -> None:
    req = SendMessageRequest.model_validate(body())
    assert (req.to, req.cc, req.bcc, req.attachments) == (["ada@example.com"], [], [], [])


def test_given_the_json_name_from_when_validated_then_it_fills_from_() -> None:
    req = SendMessageRequest.model_validate(body(**{"from": "Me <me@example.com>"}))
    assert req.from_ == "Me <me@example.com>"


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("ada@example.com", "ada@example.com"),
        ("<ada@example.com>", "ada@example.com"),
        ("Ada Lovelace <ada@example.com>", "Ada Lovelace <ada@example.com>"),
        ("  Ada   Lovelace   <ada@example.com> ", "Ada Lovelace <ada@example.com>"),
        ('"Lovelace, Ada" <ada@example.com>', '"Lovelace, Ada" <ada@example.com>'),
        ('"Ada \\"The Countess\\"" <ada@example.com>', '"Ada \\"The Countess\\"" <ada@example.com>'),
        ("Jürgen Müller <j.mueller+tag@example.de>", "Jürgen Müller <j.mueller+tag@example.de>"),
        ("Dr. Ada Lovelace <ada@example.com>", '"Dr. Ada Lovelace" <ada@example.com>'),
        ("O'Brien <ob@example.com>", "O'Brien <ob@example.com>"),
        ("kontakt@bücher.de", "kontakt@xn--bcher-kva.de"),
    ],
)
def test_given_a_valid_address_when_validated_then_it_is_kept_in_canonical_form(
    given: str, normalized: str
) -> None:
    assert SendMessageRequest.model_validate(body(to=[given])).to == [normalized]


def test_given_only_bcc_recipients_when_validated_then_it_is_accepted() -> None:
    req = SendMessageRequest.model_validate(body(to=[], bcc=["hidden@example.com"]))
    assert req.recipients == ["hidden@example.com"]


def test_given_an_empty_subject_when_validated_then_it_is_accepted() -> None:
    assert SendMessageRequest.model_validate(body(subject="")).subject == ""


def test_given_html_only_when_validated_then_it_is_accepted() -> None:
    req = SendMessageRequest.model_validate(body(text=None, html="<p>Hi</p>"))
    assert (req.text, req.html) == (None, "<p>Hi</p>")


def test_given_in_reply_to_without_brackets_when_validated_then_it_gets_angle_brackets() -> None:
    req = SendMessageRequest.model_validate(body(in_reply_to="CAF123@mail.gmail.com"))
    assert req.in_reply_to == "<CAF123@mail.gmail.com>"


def test_given_mime_wrapped_base64_when_validated_then_the_whitespace_is_ignored_and_bytes_decoded() -> None:
    content = bytes(range(256)) * 4
    encoded = base64.encodebytes(content).decode("ascii")  # 76-char lines
    req = SendMessageRequest.model_validate(body(attachments=[attachment(content_base64=encoded)]))
    assert req.attachments[0].content == content


def test_given_a_mixed_case_content_type_when_validated_then_it_is_lower_cased() -> None:
    req = SendMessageRequest.model_validate(body(attachments=[attachment(content_type="Application/PDF")]))
    assert req.attachments[0].content_type == "application/pdf"


def test_given_a_content_id_in_brackets_when_validated_then_the_brackets_are_dropped() -> None:
    req = SendMessageRequest.model_validate(body(attachments=[attachment(content_id="<logo@x>")]))
    assert req.attachments[0].content_id == "logo@x"


# --- header injection ------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@example.com", "Hi\nX-Evil: 1", "Hi\rthere"])
def test_given_cr_or_lf_in_the_subject_when_validated_then_it_is_refused_as_header_injection(
    subject: str,
) -> None:
    assert errors_of(body(subject=subject)) == [(("subject",), "header_injection")]


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
def test_given_cr_lf_in_a_display_name_when_validated_then_it_is_refused_as_header_injection(
    field: str,
) -> None:
    payload = body(**{field: ["Ada\r\nBcc: victim@example.com <ada@example.com>"]})
    assert ((field, 0), "header_injection") in errors_of(payload)


@pytest.mark.parametrize("field", ["from", "reply_to"])
def test_given_lf_in_a_single_address_field_when_validated_then_it_is_refused(field: str) -> None:
    field_loc = "from" if field == "from" else field
    assert errors_of(body(**{field: "me@example.com\nBcc: x@example.com"})) == [
        ((field_loc,), "header_injection")
    ]


def test_given_lf_in_in_reply_to_when_validated_then_it_is_refused() -> None:
    assert errors_of(body(in_reply_to="<a@b>\nBcc: x@example.com")) == [
        (("in_reply_to",), "header_injection")
    ]


def test_given_crlf_in_an_attachment_filename_when_validated_then_it_is_refused() -> None:
    loc = ("attachments", 0, "filename")
    assert errors_of(body(attachments=[attachment(filename="a.pdf\r\nX: y")])) == [(loc, "header_injection")]


def test_given_a_control_character_in_the_subject_when_validated_then_it_is_refused() -> None:
    assert errors_of(body(subject="Hi\x00there")) == [(("subject",), "control_character")]


# --- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "",
        "not-an-address",
        "ada@localhost",
        "ada@@example.com",
        "ada@exa mple.com",
        "ada lovelace@example.com",
        "ada@-example.com",
        "ada@example.123",
        ".ada@example.com",
        "ada@[127.0.0.1]",
        "Ada <ada@example.com> junk",
        "Ada <ada@example.com",
        "ada@example.com, bob@example.com",
        "Lovelace, Ada <ada@example.com>",
        "Ada <ada@example.com>>",
        "Ada@example.com <ada@example.com>",
    ],
)
def test_given_a_bad_address_when_validated_then_it_is_refused(address: str) -> None:
    assert errors_of(body(to=[address])) == [(("to", 0), "invalid_email_address")]


def test_given_a_bad_from_address_when_validated_then_it_is_refused_at_from() -> None:
    assert errors_of(body(**{"from": "me"})) == [(("from",), "invalid_email_address")]


def test_given_no_recipient_at_all_when_validated_then_it_is_refused_at_to() -> None:
    assert errors_of(body(to=[], cc=[], bcc=[])) == [(("to",), "no_recipients")]


# --- bodies and required fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bodies",
    [{"text": None, "html": None}, {"text": "", "html": ""}, {"text": "  \n ", "html": None}],
)
def test_given_no_non_empty_body_when_validated_then_it_is_refused(bodies: dict[str, Any]) -> None:
    assert errors_of(body(**bodies)) == [(("text",), "empty_body")]


def test_given_no_subject_when_validated_then_it_is_refused_as_missing() -> None:
    payload = body()
    del payload["subject"]
    assert errors_of(payload) == [(("subject",), "missing")]


def test_given_an_unknown_field_when_validated_then_it_is_refused() -> None:
    assert errors_of(body(attachements=[])) == [(("attachements",), "extra_forbidden")]


def test_given_a_bad_thread_id_when_validated_then_it_is_refused() -> None:
    assert errors_of(body(thread_id="../../x")) == [(("thread_id",), "invalid_gmail_id")]


def test_given_a_message_id_with_spaces_when_validated_then_it_is_refused() -> None:
    assert errors_of(body(in_reply_to="<a b@c>")) == [(("in_reply_to",), "invalid_message_id")]


# --- attachments ---------------------------------------------------------------------------------


def test_given_attachments_over_the_default_limit_when_validated_then_they_are_refused() -> None:
    big = attachment(b"\0" * (DEFAULT_MAX_MESSAGE_BYTES + 1))
    assert errors_of(body(attachments=[big])) == [(("attachments",), "message_too_large")]


def test_given_attachments_that_fit_the_default_limit_when_validated_then_they_are_accepted() -> None:
    half = DEFAULT_MAX_MESSAGE_BYTES // 2 - 100
    req = SendMessageRequest.model_validate(body(attachments=[attachment(b"\0" * half)] * 2))
    assert sum(len(item.content) for item in req.attachments) == 2 * half


def test_given_a_smaller_limit_in_the_context_when_validated_then_it_applies() -> None:
    payload = body(attachments=[attachment(b"\0" * 2000)])
    context = {MAX_MESSAGE_BYTES_CONTEXT_KEY: 1000}
    assert errors_of(payload, context=context) == [(("attachments",), "message_too_large")]
    SendMessageRequest.model_validate(payload)  # the default allows it


def test_given_a_large_text_body_and_no_attachment_when_validated_then_the_limit_still_applies() -> None:
    context = {MAX_MESSAGE_BYTES_CONTEXT_KEY: 100}
    assert errors_of(body(text="x" * 101), context=context) == [(("attachments",), "message_too_large")]


@pytest.mark.parametrize(
    "content_base64", ["not base64!", "QUJD=", "QUJDRA", "QUJ$RA==", "QUJD====", "QU=JD"]
)
def test_given_invalid_base64_when_validated_then_it_is_refused(content_base64: str) -> None:
    loc = ("attachments", 0, "content_base64")
    assert errors_of(body(attachments=[attachment(content_base64=content_base64)])) == [
        (loc, "invalid_base64")
    ]


def test_given_base64url_instead_of_base64_when_validated_then_it_is_refused() -> None:
    encoded = base64.urlsafe_b64encode(b"\xfb\xff\xfe").decode("ascii")  # '-' and '_'
    loc = ("attachments", 0, "content_base64")
    assert errors_of(body(attachments=[attachment(content_base64=encoded)])) == [(loc, "invalid_base64")]


@pytest.mark.parametrize("filename", ["../etc/passwd", "dir/report.pdf", "C:\\temp\\report.pdf", "..", "."])
def test_given_a_filename_with_a_path_when_validated_then_it_is_refused(filename: str) -> None:
    loc = ("attachments", 0, "filename")
    assert errors_of(body(attachments=[attachment(filename=filename)])) == [(loc, "invalid_filename")]


@pytest.mark.parametrize(
    "content_type", ["pdf", "application/", "/pdf", "application/pdf; x=1", "multipart/mixed", "text /plain"]
)
def test_given_an_invalid_content_type_when_validated_then_it_is_refused(content_type: str) -> None:
    loc = ("attachments", 0, "content_type")
    assert errors_of(body(attachments=[attachment(content_type=content_type)])) == [
        (loc, "invalid_content_type")
    ]
