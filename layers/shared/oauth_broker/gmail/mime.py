"""MIME for the typed Gmail routes: build the raw message Gmail sends, read the messages it returns.

Only the standard library's ``email`` package is used. Outgoing messages are RFC 5322 with
CRLF line ends, RFC 2047 encoded non-ASCII headers and 7-bit clean bodies (quoted-printable
or base64), so that nothing between us and Gmail can mangle them.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import charset as email_charset
from email import message_from_bytes, policy
from email.errors import HeaderParseError, MessageError
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from typing import Any

from oauth_broker.gmail.models import (
    AttachmentIn,
    AttachmentInfo,
    HeaderField,
    MessageDetail,
    MessageHeaders,
    SendMessageRequest,
    normalize_message_id,
    parse_mailbox,
)

__all__ = [
    "FORMATS",
    "build_message",
    "build_send_body",
    "encode_raw",
    "parse_gmail_message",
    "parse_raw",
]

# The `format` values of users.messages.get.
FORMATS = frozenset({"full", "metadata", "minimal", "raw"})

# CRLF line ends, RFC 2047 headers (utf8=False), and 7-bit transfer encodings for every body.
_BUILD_POLICY = policy.SMTP.clone(cte_type="7bit")
_PARSE_POLICY = policy.default

_MAX_DEPTH = 64  # MIME nesting deeper than this is not walked
_MAX_REFERENCES = 20  # a long References header keeps its first and last IDs (RFC 5322 3.6.4)
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_BODY_TYPES = ("text/plain", "text/html")

# Where the common headers go in MessageHeaders (keys are lower-case header names).
_COMMON_HEADERS = {
    "from": "from_",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "reply-to": "reply_to",
    "subject": "subject",
    "date": "date",
    "message-id": "message_id",
    "in-reply-to": "in_reply_to",
    "references": "references",
}


# --- building -----------------------------------------------------------------------------------


def _address(value: str) -> Address:
    name, addr = parse_mailbox(value)
    return Address(display_name=name, addr_spec=addr)


def _references(references: str | None, in_reply_to: str | None) -> str | None:
    if references and ("\r" in references or "\n" in references):
        raise ValueError("references must not contain CR or LF characters")
    ids = [normalize_message_id(item) for item in (references or "").split()]
    if in_reply_to and (not ids or ids[-1] != in_reply_to):
        ids = [item for item in ids if item != in_reply_to] + [in_reply_to]
    if len(ids) > _MAX_REFERENCES:
        ids = [ids[0], *ids[-(_MAX_REFERENCES - 1) :]]
    return " ".join(ids) or None


def _has_content(body: str | None) -> bool:
    return body is not None and body.strip() != ""


def _attach(target: EmailMessage, attachment: AttachmentIn, *, related: bool) -> None:
    disposition = "inline" if attachment.content_id else "attachment"
    cid = f"<{attachment.content_id}>" if attachment.content_id else None
    maintype, subtype, cte = attachment.maintype, attachment.subtype, "base64"
    if attachment.content_type == "message/rfc822":
        # RFC 2046 5.2.1 allows only 7bit/8bit/binary for message/rfc822. A 7-bit message (the
        # usual .eml) goes verbatim; the stdlib generator cannot write an 8-bit one, so that one
        # travels byte for byte as application/octet-stream (its .eml filename still opens it).
        if attachment.content.isascii():
            cte = "7bit"
        else:
            maintype, subtype = "application", "octet-stream"
    add = target.add_related if related else target.add_attachment
    add(
        attachment.content,
        maintype,
        subtype,
        cte=cte,
        disposition=disposition,
        filename=attachment.filename,
        cid=cid,
    )


def build_message(
    req: SendMessageRequest,
    *,
    sender: str,
    references: str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The RFC 5322 message for a send request.

    ``sender`` is the connected account's mailbox (``"a@b"`` or ``"Name <a@b>"``); the From
    header is ``req.from_`` when given (the caller has checked it against the account's
    send-as aliases) and ``sender`` otherwise. The Message-ID is made with the From domain.
    ``references`` is the References header of the message replied to, if known; with
    ``req.in_reply_to`` the message gets ``In-Reply-To`` and ``References`` (which ends with
    the replied-to ID). Gmail threads a reply only when the send call also carries its
    ``threadId`` and the subjects match; the subject is used as given.

    Structure: text -> text/plain; html -> text/html; both -> multipart/alternative;
    attachments -> multipart/mixed around the body; attachments with a content_id, when there
    is html, go into multipart/related with it (inline images). Raises ``ValueError`` for a
    bad ``sender`` or ``references``.
    """
    from_value = req.from_ or sender
    from_address = _address(from_value)

    msg = EmailMessage(policy=_BUILD_POLICY)
    msg["From"] = from_address
    if req.to:
        msg["To"] = [_address(item) for item in req.to]
    if req.cc:
        msg["Cc"] = [_address(item) for item in req.cc]
    if req.bcc:
        # Gmail's users.messages.send reads the Bcc recipients from the raw message's Bcc
        # header and removes that header from the copies it delivers: it must be included.
        msg["Bcc"] = [_address(item) for item in req.bcc]
    if req.reply_to:
        msg["Reply-To"] = _address(req.reply_to)
    msg["Subject"] = req.subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=from_address.domain)
    refs = _references(references, req.in_reply_to)
    if req.in_reply_to:
        msg["In-Reply-To"] = req.in_reply_to
    if refs:
        msg["References"] = refs

    has_text, has_html = _has_content(req.text), _has_content(req.html)
    if has_text:
        msg.set_content(req.text or "", subtype="plain", charset="utf-8")
        if has_html:
            msg.add_alternative(req.html or "", subtype="html", charset="utf-8")
    elif has_html:
        msg.set_content(req.html or "", subtype="html", charset="utf-8")
    else:  # SendMessageRequest refuses this; a model built with model_construct may not have
        raise ValueError("a message needs a text or html body")

    inline = [item for item in req.attachments if item.content_id and has_html]
    files = [item for item in req.attachments if not (item.content_id and has_html)]
    if inline:
        html_part = msg.get_body(("html",))
        if not isinstance(html_part, EmailMessage):  # pragma: no cover - set above
            raise ValueError("no html part for the inline attachments")
        for item in inline:
            _attach(html_part, item, related=True)
    for item in files:
        _attach(msg, item, related=False)
    return msg


def encode_raw(msg: EmailMessage) -> str:
    """The message's bytes (CRLF line ends) in base64url, as users.messages.send wants ``raw``."""
    return base64.urlsafe_b64encode(msg.as_bytes(policy=_BUILD_POLICY)).decode("ascii")


def build_send_body(req: SendMessageRequest, *, sender: str, references: str | None = None) -> dict[str, str]:
    """The JSON body of ``users.messages.send``: ``{"raw": ..., "threadId"?: ...}``."""
    body = {"raw": encode_raw(build_message(req, sender=sender, references=references))}
    if req.thread_id:
        body["threadId"] = req.thread_id
    return body


# --- reading ------------------------------------------------------------------------------------


def _b64url_decode(data: str, *, strict: bool) -> bytes:
    text = "".join(data.split())
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        if strict:
            raise ValueError("not valid base64url") from None
        return base64.urlsafe_b64decode(text + "==")  # lenient: drops what is not in the alphabet


def parse_raw(raw_b64url: str) -> EmailMessage:
    """Parse a Gmail ``raw`` value (base64url, padding optional) into an ``EmailMessage``."""
    message = message_from_bytes(_b64url_decode(raw_b64url, strict=True), policy=_PARSE_POLICY)
    if not isinstance(message, EmailMessage):  # pragma: no cover - policy.default makes EmailMessage
        raise TypeError("unexpected message class")
    return message


def _fix_surrogates(value: str) -> str:
    """Undo the parser's surrogateescape of raw 8-bit header bytes (taken as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _decode_header_value(value: str) -> str:
    """Unfold and decode RFC 2047 encoded words; a value that does not decode is returned as is."""
    text = _fix_surrogates(_FOLD_RE.sub("", str(value)))
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, UnicodeError, HeaderParseError, ValueError):
        pass
    try:  # the lenient RFC 2047 decoder of policy.default (unknown charsets, raw 8-bit text)
        return str(_PARSE_POLICY.header_factory("x-decode", text))
    except (LookupError, UnicodeError, HeaderParseError, ValueError, IndexError):
        return text


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = email_charset.ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode_text(data: bytes, charset: str | None) -> str:
    """Text in the part's charset; undeclared, unknown or wrong charsets fall back to UTF-8."""
    codec = _codec(charset) or "utf-8"
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(codec, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _content_id(value: object) -> str | None:
    if value is None:
        return None
    text = _decode_header_value(str(value)).strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    return text or None


@dataclass
class _Parts:
    """What a walk of the MIME tree found."""

    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)

    def offer_body(self, mime_type: str, content: str) -> None:
        content = content.replace("\r\n", "\n")  # MIME's canonical CRLF, as JSON users expect it
        if mime_type == "text/plain" and self.text is None:
            self.text = content
        elif mime_type == "text/html" and self.html is None:
            self.html = content


def _child_id(parent: str, index: int) -> str:
    return f"{parent}.{index}" if parent else str(index)


def _headers_only(pairs: Sequence[tuple[str, str]]) -> Message:
    """A bodiless message with these headers, to read Content-Type/-Disposition parameters."""
    message = Message()
    for name, value in pairs:
        message[name] = value
    return message


def _gmail_pairs(part: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in part.get("headers") or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            pairs.append((item["name"], str(item.get("value") or "")))
    return pairs


def _walk_gmail(part: Mapping[str, Any], found: _Parts, depth: int = 0) -> None:
    """Walk a users.messages.get ``payload`` (format=full) and its ``parts``."""
    if depth > _MAX_DEPTH:
        return
    headers = _headers_only(_gmail_pairs(part))
    mime_type = str(part.get("mimeType") or headers.get_content_type()).lower()
    children = part.get("parts")
    if mime_type.startswith("multipart/"):
        for child in children if isinstance(children, list) else []:
            if isinstance(child, Mapping):
                _walk_gmail(child, found, depth + 1)
        return
    body_value = part.get("body")
    body: Mapping[str, Any] = body_value if isinstance(body_value, Mapping) else {}
    data = body.get("data")
    attachment_id = body.get("attachmentId")
    filename = _decode_header_value(str(part.get("filename") or headers.get_filename() or ""))
    is_attachment = (
        headers.get_content_disposition() == "attachment"
        or bool(filename)
        or mime_type not in _BODY_TYPES
        or (data is None and bool(attachment_id))  # a body Gmail keeps apart: listed, to fetch
    )
    if is_attachment:
        part_id = str(part.get("partId") or "") or "0"
        size = body.get("size")
        found.attachments.append(
            AttachmentInfo(
                attachment_id=str(attachment_id) if attachment_id else f"part:{part_id}",
                filename=filename,
                mime_type=mime_type,
                size=size if isinstance(size, int) and size >= 0 else 0,
                content_id=_content_id(headers.get("Content-ID")),
            )
        )
        return
    content = _b64url_decode(data, strict=False) if isinstance(data, str) else b""
    found.offer_body(mime_type, _decode_text(content, headers.get_content_charset()))


def _raw_part_size(part: Message) -> int:
    if part.is_multipart():  # message/rfc822 and friends: the size of the enclosed message
        children = part.get_payload()
        try:
            return sum(len(child.as_bytes()) for child in children if isinstance(child, Message))
        except (MessageError, LookupError, UnicodeError, ValueError):
            return 0
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _walk_raw(part: Message, found: _Parts, part_id: str = "", depth: int = 0) -> None:
    """Walk a parsed message, numbering parts as Gmail's partId does ("", "0", "0.1", ...)."""
    if depth > _MAX_DEPTH:
        return
    mime_type = part.get_content_type()
    if part.get_content_maintype() == "multipart":
        children = part.get_payload()
        for index, child in enumerate(children if isinstance(children, list) else []):
            if isinstance(child, Message):
                _walk_raw(child, found, _child_id(part_id, index), depth + 1)
        return
    filename = _fix_surrogates(part.get_filename() or "")
    if (
        part.get_content_disposition() == "attachment"
        or bool(filename)
        or mime_type not in _BODY_TYPES
        or part.is_multipart()
    ):
        found.attachments.append(
            AttachmentInfo(
                attachment_id=f"raw:{part_id or '0'}",
                filename=filename,
                mime_type=mime_type,
                size=_raw_part_size(part),
                content_id=_content_id(part.get("Content-ID")),
            )
        )
        return
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    found.offer_body(mime_type, _decode_text(content, part.get_content_charset()))


def _header_fields(pairs: Sequence[tuple[str, str]]) -> tuple[MessageHeaders, list[HeaderField]]:
    all_headers = [HeaderField(name=name, value=_decode_header_value(value)) for name, value in pairs]
    common: dict[str, str] = {}
    for header in all_headers:
        key = _COMMON_HEADERS.get(header.name.lower())
        if key and key not in common:
            common[key] = header.value
    return MessageHeaders.model_validate(common), all_headers


def _internal_date(value: object) -> str | None:
    """Gmail's internalDate (epoch milliseconds, as a string) in RFC 3339 UTC."""
    try:
        millis = int(str(value))
    except ValueError:
        return None
    try:
        moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _optional_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _optional_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_gmail_message(payload: Mapping[str, Any], *, fmt: str) -> MessageDetail:
    """A ``users.messages.get`` response (format full, metadata, minimal or raw) as a MessageDetail.

    full: headers, the first text/plain and text/html parts that are not attachments (decoded
    with their charset), and the attachments (a part with Content-Disposition attachment, a
    filename, or a type other than text/plain and text/html), with Gmail's attachmentId.
    metadata and minimal: headers (metadata only) and snippet; text and html are None.
    raw: the raw RFC 822 bytes parsed with the standard library, the same fields, and ``raw``;
    attachment IDs are then ``raw:<partId>``. Body line ends come out as ``\\n``. The snippet is
    Gmail's, unchanged (HTML-escaped).
    Raises ``ValueError`` for an unknown format or a raw response without a valid ``raw``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(sorted(FORMATS))}")
    found = _Parts()
    raw: str | None = None
    if fmt == "raw":
        raw_value = payload.get("raw")
        if not isinstance(raw_value, str):
            raise ValueError("a format=raw message has no raw field")
        message = parse_raw(raw_value)
        pairs = [(name, str(value)) for name, value in message.raw_items()]
        _walk_raw(message, found)
        raw = raw_value
    else:
        root = payload.get("payload")
        root = root if isinstance(root, Mapping) else {}
        pairs = _gmail_pairs(root)
        if fmt == "full":
            _walk_gmail(root, found)
    headers, all_headers = _header_fields(pairs)
    labels = payload.get("labelIds")
    return MessageDetail(
        id=str(payload.get("id") or ""),
        thread_id=str(payload.get("threadId") or ""),
        label_ids=[str(label) for label in labels] if isinstance(labels, list) else [],
        snippet=str(payload.get("snippet") or ""),
        history_id=_optional_str(payload.get("historyId")),
        internal_date=_internal_date(payload.get("internalDate")),
        headers=headers,
        all_headers=all_headers,
        text=found.text,
        html=found.html,
        attachments=found.attachments,
        raw=raw,
        size_estimate=_optional_int(payload.get("sizeEstimate")),
    )
