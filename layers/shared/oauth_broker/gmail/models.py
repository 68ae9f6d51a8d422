"""Request and response models of the typed Gmail routes (API.md, `.../gmail/messages`).

Field errors are raised as pydantic ``ValidationError`` line errors with the
field's location and a stable ``type`` (``invalid_email_address``,
``header_injection``, ``invalid_base64``, ``message_too_large``, ...); the HTTP
layer turns them into 422 ``validation_error`` problems, but a message over its size
limit (``message_too_large``) into 413 ``message_too_large``
(``oauth_broker.http.problems.validation_failure``).

Size limits. Gmail accepts raw messages up to 25 MB, but a request reaches
the proxy function through API Gateway and Lambda, whose synchronous payload
cap is 6 MB (``MAX_REQUEST_BYTES``). The decoded size of the bodies and
attachments of one send request is therefore capped at 5 MiB by default
(``DEFAULT_MAX_MESSAGE_BYTES``); a caller may lower or raise it (up to what
Gmail accepts) with the validation context::

    SendMessageRequest.model_validate(body, context={MAX_MESSAGE_BYTES_CONTEXT_KEY: 2_000_000})
"""

from __future__ import annotations

import base64
import binascii
import re
from email import policy as email_policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.utils import getaddresses, parseaddr
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "GMAIL_MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_BYTES_CONTEXT_KEY",
    "MAX_REQUEST_BYTES",
    "AttachmentIn",
    "AttachmentInfo",
    "EmailAddress",
    "HeaderField",
    "MessageDetail",
    "MessageHeaders",
    "MessageList",
    "MessageRef",
    "SendMessageRequest",
    "SendResult",
    "format_mailbox",
    "normalize_message_id",
    "parse_mailbox",
]

# The largest raw message Gmail accepts (users.messages.send, attachments included).
GMAIL_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
# API Gateway (HTTP API) and Lambda cap a synchronous request payload at 6 MB.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
# Default cap on the decoded size of the bodies + attachments of one send request: their base64
# and JSON encoding must still fit in MAX_REQUEST_BYTES.
DEFAULT_MAX_MESSAGE_BYTES = 5 * 1024 * 1024
# Validation-context key that overrides DEFAULT_MAX_MESSAGE_BYTES.
MAX_MESSAGE_BYTES_CONTEXT_KEY = "max_message_bytes"

_MAX_HEADER_CHARS = 998 * 4  # generous: long values are folded on output
_MAX_FILENAME_CHARS = 255

# RFC 5322 atext; the local part is a dot-atom of it (quoted local parts are not accepted).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL_PART_RE = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_DOMAIN_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# A display name that needs no quoting: atext, spaces and non-ASCII letters.
_PLAIN_PHRASE_RE = re.compile(r"[^\x00-\x1f\x7f()<>\[\]:;@\\,.\"]+")
# What is accepted unquoted on input: the same plus '.' (RFC 5322 obs-phrase: "Dr. Ada Lovelace").
_INPUT_PHRASE_RE = re.compile(r"[^\x00-\x1f\x7f()<>\[\]:;@\\,\"]+")
# RFC 6838 restricted-name, for both type and subtype.
_MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_TYPE_RE = re.compile(rf"({_MIME_NAME})/({_MIME_NAME})")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every C0 control but TAB, and DEL
# Line breaks beyond CR and LF: str.splitlines() splits on them, and so does the email package.
_LINE_BREAK_RE = re.compile("[\r\n\x85\u2028\u2029]")
_MSG_ID_BODY_RE = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]+")  # printable ASCII but '<' and '>'
_GMAIL_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_BASE64_WS_RE = re.compile(r"[ \t\r\n]+")


# --- field checks -------------------------------------------------------------------------------


def _refuse_surrogates(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError(
            "invalid_unicode", "{what} must be valid Unicode (no lone surrogates)", {"what": what}
        ) from None


def _encoded_word_texts(value: str) -> list[str]:
    """What RFC 2047 encoded words in `value` decode to, as both of the standard library's decoders
    read them (`email.header.decode_header`, and the header parser the message builder uses: it
    decodes encoded words in a subject, a display name or a filename parameter). An encoded word
    that does not decode counts as a line break: what another reader makes of it is unknown."""
    texts: list[str] = []
    try:
        for chunk, charset in decode_header(value):
            if isinstance(chunk, bytes):
                try:
                    texts.append(chunk.decode(charset or "latin-1", "replace"))
                except LookupError:
                    texts.append(chunk.decode("latin-1"))
    except (HeaderParseError, ValueError):
        texts.append("\n")
    try:
        texts.append(str(email_policy.default.header_factory("x-check", value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError, IndexError):
        texts.append(value)
    return texts


def _refuse_header_injection(value: str, what: str) -> str:
    _refuse_surrogates(value, what)
    if _LINE_BREAK_RE.search(value):
        raise PydanticCustomError(
            "header_injection",
            "{what} must not contain CR, LF or other line break characters",
            {"what": what},
        )
    if _CONTROL_RE.search(value):
        raise PydanticCustomError(
            "control_character",
            "{what} must not contain control characters",
            {"what": what},
        )
    # An encoded word is decoded by the email package when the message is built: one that decodes
    # to a line break would write that line break into the header (a header of the attacker's).
    if "=?" in value and any(
        _LINE_BREAK_RE.search(text) or _CONTROL_RE.search(text) for text in _encoded_word_texts(value)
    ):
        raise PydanticCustomError(
            "header_injection",
            "{what} must not contain RFC 2047 encoded words that decode to line breaks or control "
            "characters, or that do not decode",
            {"what": what},
        )
    return value


def _invalid_address(reason: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_email_address", "invalid email address: {reason}", {"reason": reason})


def _check_addr_spec(addr: str) -> str:
    """Return the addr-spec with an IDN domain in its ASCII (punycode) form, or raise."""
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise _invalid_address("expected local-part@domain")
    if len(local) > 64 or not _LOCAL_PART_RE.fullmatch(local):
        raise _invalid_address("the local part is not a valid dot-atom of ASCII characters")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise _invalid_address("the domain is not a valid internationalized domain name") from None
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL_RE.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise _invalid_address("the domain is not a valid host name")
    return f"{local}@{domain}"


def _unquote(quoted: str) -> str | None:
    """The content of an RFC 5322 quoted-string, or None when `quoted` is not exactly one."""
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        return None
    out: list[str] = []
    chars = iter(quoted[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                return None
            out.append(escaped)
        elif char == '"':
            return None
        else:
            out.append(char)
    return "".join(out)


def parse_mailbox(value: str) -> tuple[str, str]:
    """Split ``"Name <a@b>"`` or ``"a@b"`` into ``(display_name, addr_spec)``, strictly.

    Exactly one mailbox is accepted; a display name with specials (``,`` ``;`` ``@``
    ``<`` ...) must be quoted (``.`` may stay unquoted, as in ``Dr. Ada <a@b>``). Nothing
    may be silently dropped: ``email.utils.parseaddr`` does the parse, and the input must
    have the shape its result describes. The domain comes back in its ASCII (IDNA) form.
    Raises ``PydanticCustomError`` (a ``ValueError``).
    """
    _refuse_header_injection(value, "an email address")
    text = value.strip()
    if not text:
        raise _invalid_address("it is empty")
    if len(text) > _MAX_HEADER_CHARS:
        raise _invalid_address("it is too long")
    if len(getaddresses([text])) != 1:
        raise _invalid_address("give exactly one address per entry (quote display names with commas)")
    name, addr = parseaddr(text)
    if not addr:
        raise _invalid_address("no address found")
    if text in (addr, f"<{addr}>"):
        return "", _check_addr_spec(addr)
    suffix = f"<{addr}>"
    if not text.endswith(suffix):
        raise _invalid_address('expected "Name <local@domain>" or "local@domain"')
    phrase = text[: -len(suffix)].strip()
    if not phrase:
        return "", _check_addr_spec(addr)
    unquoted = _unquote(phrase)
    if unquoted is not None:
        shown = unquoted
    elif _INPUT_PHRASE_RE.fullmatch(phrase):
        shown = " ".join(phrase.split())
    else:
        raise _invalid_address("a display name with special characters must be in double quotes")
    if shown != name:
        raise _invalid_address('expected "Name <local@domain>" or "local@domain"')
    # A header carries a display name's words, not its spacing: the email package writes a quoted
    # name unquoted when it can, and readers collapse the whitespace. The name is what will arrive.
    return " ".join(name.split()), _check_addr_spec(addr)


def format_mailbox(name: str, addr: str) -> str:
    """The canonical ``Name <addr>`` form that ``parse_mailbox`` reads back unchanged (Unicode kept)."""
    if not name:
        return addr
    if _PLAIN_PHRASE_RE.fullmatch(name) and name == " ".join(name.split()):
        return f"{name} <{addr}>"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{addr}>'


def _normalize_address(value: str) -> str:
    return format_mailbox(*parse_mailbox(value))


def normalize_message_id(value: str) -> str:
    """``<id@host>`` from ``id@host`` or ``<id@host>``; raises ``PydanticCustomError`` otherwise."""
    _refuse_header_injection(value, "a Message-ID")
    text = value.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if not text or len(text) > 995 or not _MSG_ID_BODY_RE.fullmatch(text):
        raise PydanticCustomError(
            "invalid_message_id",
            "expected a Message-ID such as <id@example.com> (printable ASCII, no spaces)",
        )
    return f"<{text}>"


def _check_header_text(value: str) -> str:
    _refuse_header_injection(value, "a header value")
    if len(value) > _MAX_HEADER_CHARS:
        raise PydanticCustomError(
            "string_too_long", "a header value may have at most {max} characters", {"max": _MAX_HEADER_CHARS}
        )
    return value


def _check_gmail_id(value: str) -> str:
    if not _GMAIL_ID_RE.fullmatch(value):
        raise PydanticCustomError("invalid_gmail_id", "expected a Gmail ID (letters, digits, '-' and '_')")
    return value


EmailAddress = Annotated[
    str,
    AfterValidator(_normalize_address),
    Field(
        description='One mailbox: "Name <local@domain>" or "local@domain"; quote names with specials.',
        examples=["Ada Lovelace <ada@example.com>"],
    ),
]
HeaderText = Annotated[str, AfterValidator(_check_header_text)]
MessageId = Annotated[
    str,
    AfterValidator(normalize_message_id),
    Field(description="An RFC 5322 Message-ID, with or without angle brackets."),
]
GmailId = Annotated[str, AfterValidator(_check_gmail_id)]


def _size_limit(info: ValidationInfo) -> int:
    context = info.context
    if isinstance(context, dict):
        value = context.get(MAX_MESSAGE_BYTES_CONTEXT_KEY)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return min(value, GMAIL_MAX_MESSAGE_BYTES)
    return DEFAULT_MAX_MESSAGE_BYTES


def _base64_size_estimate(size: int) -> int:
    """Bytes a base64 body of `size` bytes takes in a MIME message (76-char lines + CRLF)."""
    encoded = 4 * ((size + 2) // 3)
    return encoded + 2 * (encoded // 76 + 1)


# --- request ------------------------------------------------------------------------------------


class AttachmentIn(BaseModel):
    """A file to attach; with `content_id`, an inline part referenced as ``cid:...`` from the html."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: str = Field(min_length=1, max_length=_MAX_FILENAME_CHARS, examples=["report.pdf"])
    content_type: str = Field(
        min_length=3, max_length=255, description="type/subtype, no parameters", examples=["application/pdf"]
    )
    content_base64: str = Field(description="The file's bytes in standard base64 (RFC 4648 section 4).")
    content_id: str | None = Field(
        default=None, description="Makes the part inline; the html refers to it as cid:<content_id>."
    )

    _content: bytes = PrivateAttr(default=b"")

    @field_validator("filename")
    @classmethod
    def _check_filename(cls, value: str) -> str:
        _refuse_header_injection(value, "a filename")
        if "/" in value or "\\" in value:
            raise PydanticCustomError("invalid_filename", "a filename must not contain path separators")
        if value.strip() in ("", ".", ".."):
            raise PydanticCustomError("invalid_filename", "a filename must name a file")
        return value

    @field_validator("content_type")
    @classmethod
    def _check_content_type(cls, value: str) -> str:
        _refuse_header_injection(value, "a content type")
        match = _MIME_TYPE_RE.fullmatch(value.strip())
        if not match:
            raise PydanticCustomError(
                "invalid_content_type", "expected a MIME type such as application/pdf (type/subtype)"
            )
        maintype, subtype = match.group(1).lower(), match.group(2).lower()
        if maintype == "multipart" or (maintype == "message" and subtype != "rfc822"):
            raise PydanticCustomError(
                "invalid_content_type",
                "{content_type} cannot be an attachment's type",
                {"content_type": f"{maintype}/{subtype}"},
            )
        return f"{maintype}/{subtype}"

    @field_validator("content_base64")
    @classmethod
    def _check_base64(cls, value: str) -> str:
        compact = _BASE64_WS_RE.sub("", value)
        if len(compact) > _base64_size_estimate(GMAIL_MAX_MESSAGE_BYTES):
            raise PydanticCustomError(
                "message_too_large",
                "an attachment may be at most {limit} bytes",
                {"limit": GMAIL_MAX_MESSAGE_BYTES},
            )
        if "-" in compact or "_" in compact:
            raise PydanticCustomError(
                "invalid_base64", "content_base64 must be standard base64 ('+' and '/'), not base64url"
            )
        try:
            if len(compact) % 4 or len(compact) - len(compact.rstrip("=")) > 2:
                raise ValueError("not whole base64 quanta")
            base64.b64decode(compact, validate=True)  # alphabet, padding only at the end
        except (binascii.Error, ValueError):
            raise PydanticCustomError(
                "invalid_base64", "content_base64 is not valid base64 (check the alphabet and '=' padding)"
            ) from None
        return compact

    @field_validator("content_id")
    @classmethod
    def _check_content_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _refuse_header_injection(value, "a content ID")
        text = value.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1]
        if not text or len(text) > 250 or not _MSG_ID_BODY_RE.fullmatch(text):
            raise PydanticCustomError(
                "invalid_content_id", "a content ID is printable ASCII without spaces or angle brackets"
            )
        return text

    @model_validator(mode="after")
    def _decode(self) -> AttachmentIn:
        try:
            content = base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):  # pragma: no cover - _check_base64 let only valid base64 in
            raise _line_error(
                "invalid_base64", "content_base64 is not valid base64", ("content_base64",), None
            ) from None
        if len(content) > GMAIL_MAX_MESSAGE_BYTES:
            raise _line_error(
                "message_too_large",
                "an attachment may be at most {limit} bytes",
                ("content_base64",),
                len(content),
                {"limit": GMAIL_MAX_MESSAGE_BYTES},
            )
        self._content = content
        return self

    @property
    def content(self) -> bytes:
        """The decoded bytes."""
        return self._content

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2]


def _line_error(
    kind: str, message: str, loc: tuple[str | int, ...], value: Any, ctx: dict[str, Any] | None = None
) -> ValidationError:
    """A ValidationError with one line error at `loc` (pydantic keeps its loc when a validator raises it)."""
    error = PydanticCustomError(kind, message, ctx)
    return ValidationError.from_exception_data(
        "SendMessageRequest", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


class SendMessageRequest(BaseModel):
    """Body of ``POST /v1/connections/{id}/gmail/messages``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    to: list[EmailAddress] = Field(default_factory=list)
    cc: list[EmailAddress] = Field(default_factory=list)
    bcc: list[EmailAddress] = Field(default_factory=list)
    subject: HeaderText = Field(description="Required; may be empty.")
    text: str | None = Field(default=None, description="The text/plain body.")
    html: str | None = Field(default=None, description="The text/html body.")
    from_: EmailAddress | None = Field(
        default=None,
        alias="from",
        description="The account's address or one of its Gmail send-as aliases; default: the account.",
    )
    reply_to: EmailAddress | None = None
    in_reply_to: MessageId | None = Field(
        default=None, description="Message-ID of the message this replies to (sets In-Reply-To, References)."
    )
    thread_id: GmailId | None = Field(default=None, description="Gmail thread to add the sent message to.")
    attachments: list[AttachmentIn] = Field(default_factory=list, validate_default=True)

    @field_validator("text", "html")
    @classmethod
    def _check_body(cls, value: str | None) -> str | None:
        if value is not None:
            _refuse_surrogates(value, "a body")
            if "\x00" in value:
                raise PydanticCustomError("control_character", "a body must not contain NUL characters")
        return value

    @field_validator("attachments")
    @classmethod
    def _check_total_size(cls, value: list[AttachmentIn], info: ValidationInfo) -> list[AttachmentIn]:
        limit = _size_limit(info)
        total = sum(len(attachment.content) for attachment in value)
        for body in (info.data.get("text"), info.data.get("html")):
            if isinstance(body, str):
                total += len(body.encode("utf-8"))
        if total > limit:
            raise PydanticCustomError(
                "message_too_large",
                "the bodies and attachments add up to {size} bytes; at most {limit} bytes are accepted",
                {"size": total, "limit": limit},
            )
        estimate = sum(_base64_size_estimate(len(attachment.content)) for attachment in value)
        if estimate > GMAIL_MAX_MESSAGE_BYTES:
            raise PydanticCustomError(
                "message_too_large",
                "the encoded message would exceed Gmail's limit of {limit} bytes",
                {"limit": GMAIL_MAX_MESSAGE_BYTES},
            )
        return value

    @model_validator(mode="after")
    def _check_message(self) -> SendMessageRequest:
        if not (self.to or self.cc or self.bcc):
            raise _line_error(
                "no_recipients", "at least one recipient is required in to, cc or bcc", ("to",), []
            )
        if not ((self.text and self.text.strip()) or (self.html and self.html.strip())):
            raise _line_error("empty_body", "text or html must be a non-empty body", ("text",), self.text)
        return self

    @property
    def recipients(self) -> list[str]:
        """Every recipient address (to, cc and bcc), as validated."""
        return [*self.to, *self.cc, *self.bcc]


# --- responses ----------------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class MessageRef(_Response):
    id: str
    thread_id: str


class MessageList(_Response):
    data: list[MessageRef]
    next_cursor: str | None = None
    result_size_estimate: int | None = None

    @classmethod
    def from_gmail(cls, payload: dict[str, Any]) -> MessageList:
        """From a ``users.messages.list`` response (its nextPageToken becomes the cursor)."""
        refs = [
            MessageRef(id=str(item.get("id", "")), thread_id=str(item.get("threadId", "")))
            for item in payload.get("messages") or []
            if isinstance(item, dict)
        ]
        token = payload.get("nextPageToken")
        estimate = payload.get("resultSizeEstimate")
        if not (isinstance(estimate, int | str) and str(estimate).isdigit()):
            estimate = None
        return cls(
            data=refs,
            next_cursor=str(token) if token else None,
            result_size_estimate=None if estimate is None else int(estimate),
        )


class HeaderField(_Response):
    name: str
    value: str


class MessageHeaders(_Response):
    """The common headers, RFC 2047 words decoded; None when the message has no such header."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    cc: str | None = None
    bcc: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    date: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None


class AttachmentInfo(_Response):
    attachment_id: str = Field(
        description=(
            "Gmail's attachmentId (fetch it through the proxy with users.messages.attachments.get); "
            "'part:<partId>' for a part whose bytes Gmail returned inline, "
            "'raw:<partId>' for format=raw."
        )
    )
    filename: str
    mime_type: str
    size: int
    content_id: str | None = None


class MessageDetail(_Response):
    id: str
    thread_id: str
    label_ids: list[str] = Field(default_factory=list)
    snippet: str = ""
    history_id: str | None = None
    internal_date: str | None = Field(default=None, description="RFC 3339, UTC.")
    headers: MessageHeaders = Field(default_factory=MessageHeaders)
    all_headers: list[HeaderField] = Field(default_factory=list)
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentInfo] = Field(default_factory=list)
    raw: str | None = Field(default=None, description="The whole message, base64url; only for format=raw.")
    size_estimate: int | None = None


class SendResult(_Response):
    id: str
    thread_id: str

    @classmethod
    def from_gmail(cls, payload: dict[str, Any]) -> SendResult:
        """From a ``users.messages.send`` response."""
        return cls(id=str(payload.get("id", "")), thread_id=str(payload.get("threadId", "")))
