"""Properties of the messages the typed send route builds: whatever strings a caller puts in any
field (addresses, subject, reply ids, attachment names and types, bodies), the message Gmail gets
has exactly the headers and parts the request asked for, each holding what was given; or the
request is refused with a validation error (a pydantic `ValidationError`, or the `ValueError` of
`build_message` that `GmailService` answers with 422 `validation_error`).

The built bytes are parsed back with the standard library's default policy, as a mail reader would.
"""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from oauth_broker.gmail.mime import build_message, encode_raw
from oauth_broker.gmail.models import SendMessageRequest, normalize_message_id, parse_mailbox

PROFILE = settings.get_profile("broker-properties")
SENDER = "Account Owner <owner@example.com>"

# -- strategies -------------------------------------------------------------------------------------

# Strings that have broken mail software: line breaks of every kind, RFC 2047 encoded words that
# decode to line breaks, header-looking text, MIME boundaries, quoting and address specials.
_INJECTIONS = [
    *("\r\n", "\n", "\r", "\r\nBcc: evil@attacker.example", "\nX-Injected: 1", "\r\n\r\n", "\t", " "),
    *("\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028", "\u2029", "\x00", "\x7f", "\x1b"),
    "=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=",
    "=?utf-8?b?DQpYLUluamVjdGVkOiAx?=",  # "\r\nX-Injected: 1"
    "=?utf-8?q?caf=C3=A9?=",
    "=?iso-8859-1?q?=0A?=",
    *("=?", "?=", "=?utf-8?q?", "=?x?y?z?="),
    *("--", "--==boundary==", "\r\n--", "\r\n.\r\n", "Content-Type: text/html", "MIME-Version: 1.0"),
    *('"', "\\", "<", ">", ",", ";", ":", "@", "(", ")", "[", "]", "'", "%", "*", "=", "?"),
    *("é", "日本語", "\U0001f600", "\u200b", "\ufeff", "\u202e", "Ω", "ß"),
]
_junk = st.lists(st.one_of(st.sampled_from(_INJECTIONS), st.text(max_size=5)), max_size=3).map("".join)
_plain = st.text(alphabet="Ada Lovelace-é", max_size=10)
# Most fields plain, some hostile: a request with every field hostile is refused for the first one.
_text = st.one_of(_plain, _plain, _plain, _junk, st.text(max_size=12))
_names = _text
_local = st.builds(
    "".join,
    st.lists(st.sampled_from(["a", "X", "0", "_", "+", "-", "%", "o.k", "#", "'"]), min_size=1, max_size=4),
)
_domain = st.one_of(
    st.sampled_from(["example.com", "mail.example.org", "bücher.example", "xn--bcher-kva.example"]),
    st.builds("{}.{}".format, st.text("ab0-", min_size=1, max_size=6), st.sampled_from(["io", "de", "co"])),
)


_benign_mailboxes = st.builds(
    lambda name, local, domain: f"{name} <{local}@{domain}>" if name.strip() else f"{local}@{domain}",
    _plain,
    _local,
    _domain,
)


@st.composite
def _hostile_mailboxes(draw: st.DrawFn) -> str:
    """Valid-looking mailboxes with hostile display names, and hostile text outright."""
    name, addr = draw(_names), f"{draw(_local)}@{draw(_domain)}"
    shape = draw(st.sampled_from(["bare", "angle", "plain", "quoted", "quoted", "junk"]))
    if shape == "bare":
        return addr
    if shape == "angle":
        return f"<{addr}>"
    if shape == "plain":
        return f"{name} <{addr}>"
    if shape == "quoted":
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{addr}>'
    return draw(_junk) + addr + draw(_junk)


def mailboxes(hostile: bool) -> st.SearchStrategy[str]:
    return _hostile_mailboxes() if hostile else _benign_mailboxes


_benign_message_ids = st.builds(lambda a, b: f"<{a}@{b}>", _local, _domain)
_message_ids = st.one_of(
    _benign_message_ids, st.builds(lambda a, b, j: f"<{a}{j}@{b}>", _local, _domain, _text), _junk
)
_content_types = st.one_of(
    st.sampled_from(["application/pdf", "text/plain", "image/png", "message/rfc822", "TEXT/Calendar"]),
    st.builds(lambda t, j: t + j, st.sampled_from(["text/plain", "application/x-a"]), _junk),
)


@st.composite
def attachments(draw: st.DrawFn, hostile: bool) -> dict[str, object]:
    content = draw(st.binary(max_size=64))
    item: dict[str, object] = {
        "filename": draw((_text if hostile else _plain).map(lambda name: name + ".txt")),
        "content_type": draw(_content_types if hostile else st.just("application/pdf")),
        "content_base64": base64.b64encode(content).decode(),
    }
    if draw(st.booleans()):
        item["content_id"] = draw(st.one_of(_local, _junk) if hostile else _local)
    return item


_FIELDS = ("to", "cc", "bcc", "from", "reply_to", "subject", "in_reply_to", "text", "html", "attachments")


@st.composite
def send_requests(draw: st.DrawFn) -> dict[str, object]:
    """A send request whose fields are hostile in one or two places (a request hostile everywhere
    is refused at its first field, and would test little else)."""
    hostile = set(draw(st.lists(st.sampled_from(_FIELDS), min_size=1, max_size=2)))
    body: dict[str, object] = {
        "to": draw(st.lists(mailboxes("to" in hostile), max_size=2)),
        "subject": draw(_text if "subject" in hostile else _plain),
    }
    for field in ("cc", "bcc"):
        if field in hostile or draw(st.booleans()):
            body[field] = draw(st.lists(mailboxes(field in hostile), min_size=1, max_size=2))
    if not any(body.get(field) for field in ("to", "cc", "bcc")):
        body["to"] = [draw(mailboxes(hostile=False))]
    for field in ("from", "reply_to"):
        if field in hostile or draw(st.booleans()):
            body[field] = draw(mailboxes(field in hostile))
    if "in_reply_to" in hostile or draw(st.booleans()):
        body["in_reply_to"] = draw(_message_ids if "in_reply_to" in hostile else _benign_message_ids)
    for field, start in (("text", "x"), ("html", "<p>")):
        if field in hostile:
            body[field] = start + draw(st.one_of(st.text(max_size=40), _junk))
        elif draw(st.booleans()):
            body[field] = start + draw(_plain)
    if "text" not in body and "html" not in body:
        body["text"] = "x"
    body["attachments"] = draw(st.lists(attachments("attachments" in hostile), max_size=2))
    return body


# -- the property -----------------------------------------------------------------------------------


def _mailboxes(header: object) -> list[tuple[str, str]]:
    return [(a.display_name, a.addr_spec) for a in header.addresses]  # type: ignore[attr-defined]


def _given_mailbox(value: str) -> tuple[str, str]:
    """The mailbox as the API validated it, as a reader shows it (encoded words decoded)."""
    name, addr = parse_mailbox(value)
    if "=?" in name:
        name = " ".join(_readable(name).split())
    return name, addr


def _readable(given: str) -> str:
    """What a mail reader shows for header text: RFC 2047 encoded words in it are decoded (that is
    what they mean); whitespace right after the header's colon is not part of the value."""
    if "=?" not in given:
        return given.lstrip(" \t")
    return str(policy.default.header_factory("subject", given)).lstrip(" \t")


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def _expected_headers(req: SendMessageRequest, *, multipart: bool) -> list[str]:
    # References: always, as the test passes the replied-to message's References to build_message.
    names = ["from", "subject", "date", "message-id", "mime-version", "content-type", "references"]
    names += [name for name, on in (("to", req.to), ("cc", req.cc), ("bcc", req.bcc)) if on]
    names += ["reply-to"] if req.reply_to else []
    names += ["in-reply-to"] if req.in_reply_to else []
    names += [] if multipart else ["content-transfer-encoding"]
    return sorted(names)


def _leaf_parts(message: EmailMessage) -> list[EmailMessage]:
    """The parts under the multiparts; an attached message/rfc822 is one part (not walked into)."""
    if message.get_content_maintype() != "multipart":
        return [message]
    return [leaf for part in message.iter_parts() for leaf in _leaf_parts(part)]  # type: ignore[arg-type]


@settings(PROFILE, max_examples=500)
@given(body=send_requests())
@example(
    body={"to": ["a@example.com"], "subject": "=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=", "text": "x"}
)
@example(
    body={
        "to": ["a@example.com"],
        "subject": "s",
        "text": "x",
        "attachments": [
            {
                "filename": "=?utf-8?q?a=0D=0AX-Injected:_1?=.txt",
                "content_type": "text/plain",
                "content_base64": "aGk=",
            }
        ],
    }
)
@example(
    body={
        "to": ['"=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=" <a@example.com>'],
        "subject": "s",
        "text": "x",
    }
)
@example(body={"to": ["a@example.com"], "subject": "line\u2028break", "text": "x"})
@example(body={"to": ["a@example.com"], "subject": "s", "text": "x\r\n\r\n--boundary\r\nX-Injected: 1\r\n"})
def test_given_any_strings_in_any_field_when_built_then_the_message_has_just_the_headers_and_parts_asked_for(
    body: dict[str, object],
):
    try:
        req = SendMessageRequest.model_validate(body)
        built = build_message(req, sender=SENDER, references="<earlier@example.com>")
    except ValidationError as refused:
        event(f"refused by the request model: {refused.errors()[0]['loc'][0]} {refused.errors()[0]['type']}")
        return
    except ValueError:
        event("refused by build_message")
        return
    event("built")

    # What Gmail receives (users.messages.send `raw`), read back as a mail reader reads it.
    raw = base64.urlsafe_b64decode(encode_raw(built))
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)

    multipart = message.get_content_maintype() == "multipart"
    assert sorted(name.lower() for name in message) == _expected_headers(req, multipart=multipart)

    assert _mailboxes(message["From"]) == [_given_mailbox(req.from_ or SENDER)]
    for name, values in (("To", req.to), ("Cc", req.cc), ("Bcc", req.bcc)):
        if values:
            assert _mailboxes(message[name]) == [_given_mailbox(item) for item in values]
    if req.reply_to:
        assert _mailboxes(message["Reply-To"]) == [_given_mailbox(req.reply_to)]
    assert str(message["Subject"]) == _readable(req.subject)
    if req.in_reply_to:
        assert str(message["In-Reply-To"]) == normalize_message_id(req.in_reply_to)
        assert str(message["References"]).split()[-1] == normalize_message_id(req.in_reply_to)

    leaves = _leaf_parts(message)
    bodies = [part for part in leaves if part.get_content_disposition() is None]
    files = [part for part in leaves if part.get_content_disposition() is not None]
    has_text, has_html = bool(req.text and req.text.strip()), bool(req.html and req.html.strip())
    assert [part.get_content_type() for part in bodies] == (["text/plain"] if has_text else []) + (
        ["text/html"] if has_html else []
    )
    for part, given_text in zip(bodies, [t for t in (req.text, req.html) if t and t.strip()], strict=True):
        assert _lines(part.get_content()) == _lines(given_text)
    # Inline attachments (a content ID, and an html body to refer to them) sit next to the html part.
    inline = [item for item in req.attachments if item.content_id and has_html]
    assert len(files) == len(req.attachments)
    for part, attachment in zip(files, inline + [a for a in req.attachments if a not in inline], strict=True):
        # The wire holds the name as given; the reader strips the spaces around a parameter value.
        assert part.get_filename() == _readable(attachment.filename).strip()
        assert part.get_content_disposition() == ("inline" if attachment.content_id else "attachment")
        allowed = {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
        allowed |= {"content-id"} if attachment.content_id else set()
        assert {name.lower() for name in part} <= allowed
        if part.get_content_type() == "message/rfc822":  # a 7-bit message, sent verbatim and read as one
            assert attachment.content_type == "message/rfc822"
            assert attachment.content.isascii()
        elif part.get_content_type() == attachment.content_type:
            assert bytes(part.get_payload(decode=True) or b"") == attachment.content
        else:  # an 8-bit message/rfc822 travels as application/octet-stream (see mime._attach)
            assert attachment.content_type == "message/rfc822"
            assert part.get_content_type() == "application/octet-stream"
        if attachment.content_id:
            assert str(part["Content-ID"]) == f"<{attachment.content_id}>"


# -- regressions found by the properties -----------------------------------------------------------


def _refusal(body: dict[str, object]) -> tuple[tuple[str | int, ...], str]:
    with pytest.raises(ValidationError) as refused:
        SendMessageRequest.model_validate({"to": ["a@example.com"], "subject": "s", "text": "x", **body})
    error = refused.value.errors()[0]
    return tuple(error["loc"]), error["type"]


def test_given_a_subject_with_an_encoded_word_decoding_to_a_line_break_when_validated_then_it_is_refused():
    # Built, it was `Subject: ` then a header of its own: `Bcc: evil@attacker.example`.
    assert _refusal({"subject": "=?utf-8?q?=0D=0ABcc:_evil@attacker.example?="}) == (
        ("subject",),
        "header_injection",
    )


def test_given_a_display_name_with_an_encoded_line_break_when_validated_then_it_is_refused():
    body = {"to": ['"=?utf-8?b?DQpYLUluamVjdGVkOiAx?=" <a@example.com>']}

    assert _refusal(body) == (("to", 0), "header_injection")


def test_given_a_filename_with_an_encoded_line_break_when_validated_then_it_is_refused():
    attachment = {
        "filename": "=?utf-8?q?a=0D=0AX-Injected:_1?=.txt",
        "content_type": "text/plain",
        "content_base64": "aGk=",
    }

    assert _refusal({"attachments": [attachment]}) == (("attachments", 0, "filename"), "header_injection")


def test_given_a_unicode_line_separator_in_a_subject_when_validated_then_it_is_refused_as_a_line_break():
    assert _refusal({"subject": "line\u2028break"}) == (("subject",), "header_injection")


def test_given_an_encoded_word_without_line_breaks_when_built_then_the_subject_shows_its_text():
    req = SendMessageRequest.model_validate(
        {"to": ["a@example.com"], "subject": "=?utf-8?q?caf=C3=A9?=", "text": "x"}
    )

    message = message_from_bytes(build_message(req, sender=SENDER).as_bytes(), policy=policy.default)

    assert str(message["Subject"]) == "café"


def test_given_a_quoted_display_name_of_spaces_when_validated_then_it_is_the_bare_address_that_arrives():
    req = SendMessageRequest.model_validate(
        {"to": ['" \t " <a@example.com>', '"  Ada   L " <b@example.com>'], "subject": "s", "text": "x"}
    )

    assert req.to == ["a@example.com", "Ada L <b@example.com>"]
