"""An in-memory Gmail mailbox: RFC 822 messages parsed with the stdlib `email` package into
Gmail's resource shapes (payload tree, snippet, labels), and a subset of Gmail's search syntax."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import Any, cast

SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "TRASH",
    "SPAM",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CHAT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
_HIDDEN_LABELS = {"SENT", "DRAFT", "TRASH", "SPAM", "UNREAD", "STARRED", "IMPORTANT", "CHAT"}


class MailboxError(Exception):
    """A request Gmail would refuse: carries the HTTP status and Google's message."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(data: str) -> bytes:
    """Decode base64url (or standard base64), with or without padding, as Gmail accepts."""
    cleaned = re.sub(r"\s+", "", data).replace("+", "-").replace("/", "_")
    if not re.fullmatch(r"[A-Za-z0-9_\-]*={0,2}", cleaned):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def parse_message(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _gmail_escape(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _strip_html(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", markup)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", markup))


def _is_attachment(part: EmailMessage) -> bool:
    return bool(part.get_filename()) or part.get_content_disposition() == "attachment"


def _leaf_bytes(part: EmailMessage) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            return cast(EmailMessage, inner[0]).as_bytes()
        return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text_of(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, KeyError, ValueError):
        return _leaf_bytes(part).decode("utf-8", "replace")


def _headers(part: EmailMessage) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in part.items()]


@dataclass(frozen=True)
class ParsedContent:
    """What Gmail derives from the RFC 822 bytes of a message. Shared between messages with the
    same bytes and ID (cached): never mutate it."""

    payload: dict[str, Any]
    attachments: dict[str, bytes]
    attachment_names: tuple[str, ...]
    snippet: str
    text: str


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    internal_date: int
    history_id: int
    content: ParsedContent

    @property
    def parsed(self) -> EmailMessage:
        return parse_message(self.raw)

    @property
    def payload(self) -> dict[str, Any]:
        return self.content.payload

    @property
    def attachments(self) -> dict[str, bytes]:
        return self.content.attachments

    @property
    def attachment_names(self) -> tuple[str, ...]:
        return self.content.attachment_names

    @property
    def snippet(self) -> str:
        return self.content.snippet

    @property
    def text(self) -> str:
        return self.content.text

    def header(self, name: str) -> str:
        """The first top-level header of that name, decoded ("" when absent)."""
        wanted = name.lower()
        for header in self.payload["headers"]:
            if header["name"].lower() == wanted:
                return str(header["value"])
        return ""

    def resource(self, fmt: str = "full", metadata_headers: Iterable[str] = ()) -> dict[str, Any]:
        """The Gmail `Message` resource in the given format."""
        out: dict[str, Any] = {"id": self.id, "threadId": self.thread_id, "labelIds": list(self.label_ids)}
        out["snippet"] = self.snippet
        out["sizeEstimate"] = len(self.raw)
        out["historyId"] = str(self.history_id)
        out["internalDate"] = str(self.internal_date)
        if fmt == "raw":
            out["raw"] = b64url_encode(self.raw)
        elif fmt == "metadata":
            wanted = {name.lower() for name in metadata_headers}
            headers = [h for h in self.payload["headers"] if not wanted or h["name"].lower() in wanted]
            out["payload"] = {"mimeType": self.payload["mimeType"], "headers": headers}
        elif fmt == "full":
            out["payload"] = self.payload
        if not out["labelIds"]:
            del out["labelIds"]
        return out

    def minimal(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.thread_id, "labelIds": list(self.label_ids)}


@lru_cache(maxsize=256)
def analyze(message_id: str, raw: bytes) -> ParsedContent:
    """Parse RFC 822 bytes with the stdlib `email` package into Gmail's payload tree, snippet
    and attachments (attachment IDs depend on the message ID)."""
    parsed = parse_message(raw)
    texts: list[str] = []
    htmls: list[str] = []
    attachments: dict[str, bytes] = {}
    names: list[str] = []

    def walk(part: EmailMessage, part_id: str) -> dict[str, Any]:
        node: dict[str, Any] = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": _headers(part),
        }
        if part.get_content_maintype() == "multipart":
            node["body"] = {"size": 0}
            children = [cast(EmailMessage, child) for child in part.iter_parts()]
            node["parts"] = [
                walk(child, f"{part_id}.{index}" if part_id else str(index))
                for index, child in enumerate(children)
            ]
            return node
        content = _leaf_bytes(part)
        if _is_attachment(part):
            digest = hashlib.sha256(f"{message_id}:{part_id}".encode()).digest()
            attachment_id = "ANGjdJ" + base64.urlsafe_b64encode(digest * 2).decode().rstrip("=")
            attachments[attachment_id] = content
            names.append(node["filename"])
            node["body"] = {"attachmentId": attachment_id, "size": len(content)}
            return node
        if part.get_content_type() == "text/plain":
            texts.append(_text_of(part))
        elif part.get_content_type() == "text/html":
            htmls.append(_text_of(part))
        node["body"] = {"size": len(content), "data": b64url_encode(content)} if content else {"size": 0}
        return node

    payload = walk(parsed, "")
    text = " ".join(texts) if texts else _strip_html(" ".join(htmls))
    snippet = _gmail_escape(" ".join(text.split())[:200])
    return ParsedContent(payload, attachments, tuple(names), snippet, text)


def build_stored_message(
    message_id: str,
    thread_id: str,
    raw: bytes,
    label_ids: list[str],
    internal_date: int,
    history_id: int,
) -> StoredMessage:
    return StoredMessage(
        message_id, thread_id, raw, label_ids, internal_date, history_id, analyze(message_id, raw)
    )


def _date_of(raw: bytes, default_ms: int) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    value = message_from_bytes(head + b"\r\n\r\n", policy=policy.compat32).get("Date")
    if value is None:
        return default_ms
    try:
        return int(parsedate_to_datetime(str(value)).timestamp() * 1000)
    except (TypeError, ValueError):
        return default_ms


# ---- search -----------------------------------------------------------------------------------

_TERM = re.compile(r'(-)?(?:([A-Za-z_]+):)?(?:"([^"]*)"|(\S+))')


@dataclass(frozen=True)
class SearchTerm:
    negate: bool
    operator: str | None
    value: str


def parse_query(q: str) -> list[SearchTerm]:
    terms: list[SearchTerm] = []
    for match in _TERM.finditer(q or ""):
        negate, operator, quoted, bare = match.groups()
        value = quoted if quoted is not None else bare
        if operator is None and value in {"AND", "OR"}:
            continue
        terms.append(SearchTerm(bool(negate), operator.lower() if operator else None, value))
    return terms


def _parse_day(value: str) -> datetime | None:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    for fmt in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _relative(value: str) -> timedelta | None:
    match = re.fullmatch(r"(\d+)([dmy])", value.lower())
    if not match:
        return None
    days = {"d": 1, "m": 30, "y": 365}[match.group(2)] * int(match.group(1))
    return timedelta(days=days)


# history.list's `historyTypes` values and the key each fills in a history record
HISTORY_TYPES = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}


@dataclass
class HistoryRecord:
    """One change of a mailbox at `id` (its new historyId), as `users.history.list` returns it:
    `changes` maps `messagesAdded` | `messagesDeleted` | `labelsAdded` | `labelsRemoved` to its
    entries; `label_ids` are the message's labels after the change (for the `labelId` filter and
    a watch's label filter)."""

    id: int
    message: dict[str, str]
    changes: dict[str, list[dict[str, Any]]]
    label_ids: list[str]

    def resource(self, types: Iterable[str] | None = None) -> dict[str, Any]:
        keys = [HISTORY_TYPES[t] for t in types] if types else list(HISTORY_TYPES.values())
        out: dict[str, Any] = {"id": str(self.id), "messages": [dict(self.message)]}
        for key in keys:
            if key in self.changes:
                out[key] = self.changes[key]
        return out


class Mailbox:
    """One account's messages and labels. Not locked itself: `FakeGoogle` holds its lock.

    Every change that moves `history_id` is kept as a `HistoryRecord` (`users.history.list`), and
    `on_change` (set by `FakeGoogle`: Gmail push) is called with it."""

    def __init__(self, email: str, clock: Callable[[], float] = time.time) -> None:
        self.email = email
        self.clock = clock
        self.history_id = 1000
        self.history: list[HistoryRecord] = []
        # history records below this id have expired: a startHistoryId below it minus 1 is 404
        self.history_floor = 0
        self.on_change: Callable[[Mailbox, HistoryRecord], None] | None = None
        self.messages: dict[str, StoredMessage] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        for label_id in SYSTEM_LABELS:
            label: dict[str, Any] = {"id": label_id, "name": label_id, "type": "system"}
            if label_id not in _HIDDEN_LABELS and not label_id.startswith("CATEGORY_"):
                label.update(messageListVisibility="hide", labelListVisibility="labelShow")
            self.labels[label_id] = label
        self._seq = 0

    # -- labels
    def add_label(self, name: str) -> dict[str, Any]:
        label_id = f"Label_{sum(1 for lbl in self.labels.values() if lbl['type'] == 'user') + 1}"
        label = {
            "id": label_id,
            "name": name,
            "type": "user",
            "messageListVisibility": "show",
            "labelListVisibility": "labelShow",
        }
        self.labels[label_id] = label
        return label

    def label_ids_named(self, name: str) -> set[str]:
        wanted = name.lower().replace("-", " ").replace("/", " ")
        ids = set()
        for label in self.labels.values():
            if wanted in {label["id"].lower(), label["name"].lower().replace("-", " ").replace("/", " ")}:
                ids.add(label["id"])
        return ids

    def _check_labels(self, label_ids: Iterable[str]) -> None:
        for label_id in label_ids:
            if label_id not in self.labels:
                raise MailboxError(400, f"Invalid label: {label_id}", "invalidArgument")

    # -- messages
    def _new_id(self, internal_date: int) -> str:
        while True:
            self._seq += 1
            candidate = f"{((internal_date << 20) | (self._seq & 0xFFFFF)) & 0xFFFFFFFFFFFFFFFF:016x}"
            if candidate not in self.messages:
                return candidate

    def add(
        self,
        raw: bytes,
        label_ids: Iterable[str] = ("INBOX", "UNREAD"),
        thread_id: str | None = None,
        internal_date: int | None = None,
    ) -> StoredMessage:
        labels = list(dict.fromkeys(label_ids))
        self._check_labels(labels)
        now_ms = int(self.clock() * 1000)
        if internal_date is None:
            internal_date = _date_of(raw, now_ms) if "SENT" not in labels else now_ms
        message_id = self._new_id(internal_date)
        if thread_id is not None and not any(m.thread_id == thread_id for m in self.messages.values()):
            raise MailboxError(404, "Requested entity was not found.", "notFound")
        self.history_id += 1
        stored = build_stored_message(
            message_id, thread_id or message_id, raw, labels, internal_date, self.history_id
        )
        self.messages[message_id] = stored
        entry = {"message": stored.minimal()}
        self._record(stored, {"messagesAdded": [entry]})
        return stored

    # -- history
    def _record(self, stored: StoredMessage, changes: dict[str, list[dict[str, Any]]]) -> None:
        message = {"id": stored.id, "threadId": stored.thread_id}
        record = HistoryRecord(self.history_id, message, changes, list(stored.label_ids))
        self.history.append(record)
        if self.on_change is not None:
            self.on_change(self, record)

    def expire_history(self, before_history_id: int) -> int:
        """Forget the history records below `before_history_id` (Google keeps about a week): a
        `startHistoryId` that would need one of them (below `before_history_id - 1`) is then 404.
        Returns how many records went."""
        floor = max(self.history_floor, int(before_history_id))
        kept = [record for record in self.history if record.id >= floor]
        dropped = len(self.history) - len(kept)
        self.history, self.history_floor = kept, floor
        return dropped

    def list_history(
        self,
        start_history_id: int,
        types: Iterable[str] = (),
        label_id: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """`users.history.list`: records after `start_history_id`, oldest first, paged by
        `max_results`; 404 when `start_history_id` is older than the kept history."""
        wanted = list(dict.fromkeys(types))
        for name in wanted:
            if name not in HISTORY_TYPES:
                raise MailboxError(
                    400,
                    "Invalid value at 'history_types' "
                    f'(type.googleapis.com/google.apps.gmail.v1.ListHistoryRequest.HistoryTypes), "{name}"',
                    "invalid",
                )
        if start_history_id + 1 < self.history_floor:  # a record it would need is gone
            raise MailboxError(404, "Requested entity was not found.", "notFound")
        after = start_history_id
        if page_token:
            if not page_token.isdigit():
                raise MailboxError(400, "Invalid pageToken", "invalid")
            after = max(after, int(page_token))
        keys = {HISTORY_TYPES[name] for name in wanted}
        found = [
            record
            for record in self.history
            if record.id > after
            and (not keys or keys & set(record.changes))
            and (label_id is None or label_id in record.label_ids)
        ]
        body: dict[str, Any] = {}
        page = found[:max_results]
        if page:
            body["history"] = [record.resource(wanted) for record in page]
        if len(found) > max_results:
            body["nextPageToken"] = f"{page[-1].id:020d}"
        body["historyId"] = str(self.history_id)
        return body

    def get(self, message_id: str) -> StoredMessage:
        try:
            return self.messages[message_id]
        except KeyError:
            raise MailboxError(404, "Requested entity was not found.", "notFound") from None

    def modify(self, message_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> StoredMessage:
        stored = self.get(message_id)
        add, remove = list(add), list(remove)
        self._check_labels([*add, *remove])
        labels = [label for label in stored.label_ids if label not in remove]
        labels += [label for label in add if label not in labels]
        added = [label for label in labels if label not in stored.label_ids]
        removed = [label for label in stored.label_ids if label not in labels]
        stored.label_ids = labels
        self.history_id += 1
        stored.history_id = self.history_id
        changes: dict[str, list[dict[str, Any]]] = {}
        if added:
            changes["labelsAdded"] = [{"message": stored.minimal(), "labelIds": added}]
        if removed:
            changes["labelsRemoved"] = [{"message": stored.minimal(), "labelIds": removed}]
        self._record(stored, changes)
        return stored

    def trash(self, message_id: str) -> StoredMessage:
        return self.modify(message_id, add=["TRASH"], remove=["INBOX", "SPAM"])

    def untrash(self, message_id: str) -> StoredMessage:
        labels = self.get(message_id).label_ids
        back = [] if "SENT" in labels or "INBOX" in labels else ["INBOX"]
        return self.modify(message_id, add=back, remove=["TRASH"])

    def delete(self, message_id: str) -> None:
        stored = self.get(message_id)
        del self.messages[message_id]
        self.history_id += 1
        self._record(stored, {"messagesDeleted": [{"message": stored.minimal()}]})

    def thread_count(self) -> int:
        return len({m.thread_id for m in self.messages.values()})

    def search(
        self,
        q: str = "",
        label_ids: Iterable[str] = (),
        include_spam_trash: bool = False,
    ) -> list[StoredMessage]:
        """Messages matching every label ID and every query term, newest first."""
        wanted_labels = list(label_ids)
        terms = parse_query(q)
        reveal = include_spam_trash or bool({"SPAM", "TRASH"} & set(wanted_labels))
        for term in terms:
            if term.operator in {"in", "label"} and term.value.lower() in {"spam", "trash", "anywhere"}:
                reveal = True
        result = []
        for stored in self.messages.values():
            if not reveal and {"SPAM", "TRASH"} & set(stored.label_ids):
                continue
            if not all(label in stored.label_ids for label in wanted_labels):
                continue
            if all(self._matches(stored, term) != term.negate for term in terms):
                result.append(stored)
        result.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
        return result

    def _matches(self, stored: StoredMessage, term: SearchTerm) -> bool:
        value = term.value.lower()
        op = term.operator
        if op == "from":
            return value in stored.header("From").lower()
        if op in {"to", "cc", "bcc"}:
            return value in stored.header(op).lower()
        if op == "subject":
            return value in stored.header("Subject").lower()
        if op in {"in", "label"}:
            if value == "anywhere":
                return True
            return bool(self.label_ids_named(value) & set(stored.label_ids))
        if op == "is":
            flags = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
            if value == "read":
                return "UNREAD" not in stored.label_ids
            return flags.get(value, value.upper()) in stored.label_ids
        if op == "has":
            return value == "attachment" and bool(stored.attachments)
        if op == "filename":
            return any(value in name.lower() for name in stored.attachment_names)
        if op == "rfc822msgid":
            return value.strip("<>") == stored.header("Message-ID").lower().strip("<>")
        if op in {"after", "before"}:
            day = _parse_day(term.value)
            if day is None:
                return False
            when = datetime.fromtimestamp(stored.internal_date / 1000, UTC)
            return when >= day if op == "after" else when < day
        if op in {"newer_than", "older_than"}:
            delta = _relative(term.value)
            if delta is None:
                return False
            age = timedelta(milliseconds=self.clock() * 1000 - stored.internal_date)
            return age <= delta if op == "newer_than" else age > delta
        text = term.value if op is None else f"{op}:{term.value}"
        haystack = " ".join(
            [
                stored.header("Subject"),
                html.unescape(stored.snippet),
                stored.text,
                stored.header("From"),
                stored.header("To"),
                *stored.attachment_names,
            ]
        ).lower()
        return text.lower() in haystack

    def profile(self) -> dict[str, Any]:
        return {
            "emailAddress": self.email,
            "messagesTotal": len(self.messages),
            "threadsTotal": self.thread_count(),
            "historyId": str(self.history_id),
        }


def recipients_of(parsed: EmailMessage) -> list[str]:
    fields = [str(parsed.get(name, "")) for name in ("To", "Cc", "Bcc")]
    return [address.lower() for _, address in getaddresses(fields) if address]
