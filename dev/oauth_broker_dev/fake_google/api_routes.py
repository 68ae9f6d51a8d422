"""Gmail and People API subsets, behind Bearer authentication, scope checks, injected failures
and the in-flight gauge."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

from . import errors
from . import scopes as sc
from .app import get_fake
from .config import FakeAccount
from .contacts import PERSON_FIELDS, contact_person, person
from .controls import FailRule
from .mailbox import Mailbox, MailboxError, b64url_decode, b64url_encode

if TYPE_CHECKING:
    from .fake import AccessToken, FakeGoogle

bp = Blueprint("fake_google_api", __name__)

GMAIL = "/gmail/v1/users/<user_id>"
PEOPLE = "/people/v1"
_USAGE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}


@dataclass
class ApiContext:
    fake: FakeGoogle
    token: AccessToken
    account: FakeAccount

    @property
    def mailbox(self) -> Mailbox:
        return self.fake.mailbox(self.account.email)


def _retry_after(rule: FailRule) -> dict[str, str]:
    if rule.retry_after is None:
        return {}
    value = rule.retry_after
    return {"Retry-After": str(int(value)) if float(value).is_integer() else str(value)}


def api_failure(rule: FailRule, oauth_errors: bool = False) -> Response:
    """The response of an injected failure on an API endpoint, in Google's API error shape."""
    headers = _retry_after(rule)
    if rule.body is not None:
        return errors.json_response(rule.body, rule.status or 500, headers)
    if rule.kind == "rate_limit_403":
        response = errors.rate_limit_403(rule.error or "userRateLimitExceeded")
        response.headers.update(headers)
        return response
    if oauth_errors and rule.error:
        return errors.oauth_error(rule.error, None, rule.status, headers)
    if rule.error:
        status = rule.status or (403 if rule.error in _USAGE_REASONS else 400)
        domain = "usageLimits" if rule.error in _USAGE_REASONS else None
        return errors.api_error(status, None, rule.error, domain=domain, headers=headers)
    return errors.api_error(rule.status or 500, headers=headers)


def api_call(
    endpoint: str,
    method: str,
    service: str,
    handler: Callable[[ApiContext], Response],
    *,
    oauth_errors: bool = False,
) -> Response:
    """Authenticate, count in flight, wait (api_delay + injected delay), apply an injected
    failure, check the method's scopes, then run the handler."""
    fake = get_fake()
    token = fake.authenticate(request.headers.get("Authorization"))
    if isinstance(token, str):
        if oauth_errors:
            return errors.oauth_error(
                "invalid_request", "Invalid Credentials", 401, {"WWW-Authenticate": errors.REALM}
            )
        return errors.unauthenticated(token == "missing")
    account = fake.account(token.sub)
    with fake.gauge.track(account.email.lower(), token.token):
        rule = fake.take_rule(endpoint)
        delay = fake.api_delay + (rule.delay if rule is not None else 0.0)
        if delay > 0:
            time.sleep(delay)
        if rule is not None and rule.fails:
            return api_failure(rule, oauth_errors)
        if not sc.allows(token.scopes, method):
            return errors.insufficient_scope(sc.METHOD_SCOPES[method], service)
        try:
            return handler(ApiContext(fake, token, account))
        except MailboxError as exc:
            return errors.api_error(exc.status, exc.message, exc.reason)


def gmail_call(user_id: str, method: str, handler: Callable[[ApiContext], Response]) -> Response:
    def checked(ctx: ApiContext) -> Response:
        if user_id != "me" and user_id.lower() != ctx.account.email.lower():
            message = f"Delegation denied for {ctx.account.email}"
            return errors.api_error(403, message, "forbidden")
        with ctx.fake._lock:
            return handler(ctx)

    return api_call("gmail", method, "gmail.googleapis.com", checked)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise MailboxError(400, f"Invalid value at '{name}' (TYPE_UINT32), \"{value}\"", "invalid") from None
    return min(max(number, low), high)


def _page_offset() -> int:
    token = request.args.get("pageToken")
    if not token:
        return 0
    if not token.isdigit():
        raise MailboxError(400, "Invalid pageToken", "invalid")
    return int(token)


def _page_token(offset: int) -> str:
    return f"{offset:020d}"


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise MailboxError(400, "Invalid JSON payload received.", "invalid")
    return data


# ---- Gmail ------------------------------------------------------------------------------------
@bp.get(GMAIL + "/profile")
def gmail_profile(user_id: str) -> Response:
    return gmail_call(
        user_id, "gmail.users.getProfile", lambda ctx: errors.json_response(ctx.mailbox.profile())
    )


@bp.get(GMAIL + "/messages")
def gmail_list(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        q = request.args.get("q", "")
        if q and sc.metadata_only(ctx.token.scopes, "gmail.users.messages.list"):
            return errors.api_error(403, "Metadata scope does not support 'q' parameter", "forbidden")
        max_results = _int_arg("maxResults", 100, 1, 500)
        offset = _page_offset()
        include = request.args.get("includeSpamTrash", "false").lower() == "true"
        found = ctx.mailbox.search(q, request.args.getlist("labelIds"), include)
        page = found[offset : offset + max_results]
        body: dict[str, Any] = {}
        if page:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if offset + max_results < len(found):
            body["nextPageToken"] = _page_token(offset + max_results)
        body["resultSizeEstimate"] = len(found)
        return errors.json_response(body)

    return gmail_call(user_id, "gmail.users.messages.list", handler)


@bp.get(GMAIL + "/messages/<message_id>")
def gmail_get(user_id: str, message_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        fmt = request.args.get("format", "full").lower()
        if fmt not in {"full", "metadata", "minimal", "raw"}:
            return errors.api_error(400, f"Invalid value at 'format' (type.googleapis.com/Format), \"{fmt}\"")
        if fmt in {"full", "raw"} and sc.metadata_only(ctx.token.scopes, "gmail.users.messages.get"):
            return errors.api_error(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
        stored = ctx.mailbox.get(message_id)
        return errors.json_response(stored.resource(fmt, request.args.getlist("metadataHeaders")))

    return gmail_call(user_id, "gmail.users.messages.get", handler)


@bp.get(GMAIL + "/messages/<message_id>/attachments/<attachment_id>")
def gmail_attachment(user_id: str, message_id: str, attachment_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        stored = ctx.mailbox.get(message_id)
        data = stored.attachments.get(attachment_id)
        if data is None:
            return errors.api_error(400, "Invalid attachment token", "invalidArgument")
        return errors.json_response(
            {"attachmentId": attachment_id, "size": len(data), "data": b64url_encode(data)}
        )

    return gmail_call(user_id, "gmail.users.messages.attachments.get", handler)


def _sent(ctx: ApiContext, raw: bytes, thread_id: str | None) -> Response:
    stored = ctx.fake.send_message(ctx.account.email, raw, thread_id or None)
    return errors.json_response({"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids})


@bp.post(GMAIL + "/messages/send")
def gmail_send(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        body = _json_body()
        raw = body.get("raw")
        if not raw:
            message = "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
            return errors.api_error(400, message, "invalidArgument")
        try:
            data = b64url_decode(str(raw))
        except ValueError:
            return errors.api_error(400, "Invalid value for ByteString: " + str(raw)[:40], "invalidArgument")
        return _sent(ctx, data, body.get("threadId"))

    return gmail_call(user_id, "gmail.users.messages.send", handler)


def _split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart/related upload body, kept byte for byte."""
    from email.message import Message

    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise MailboxError(400, "Missing multipart boundary", "invalid")
    delimiter = b"--" + boundary.encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, _, content = chunk.partition(b"\r\n\r\n") if b"\r\n\r\n" in chunk else chunk.partition(b"\n\n")
        headers = {}
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append((headers, content))
    return parts


@bp.post("/upload" + GMAIL + "/messages/send")
def gmail_upload_send(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        upload_type = request.args.get("uploadType", "")
        thread_id: str | None = None
        if upload_type == "media":
            raw = request.get_data()
        elif upload_type == "multipart":
            parts = _split_multipart(request.headers.get("Content-Type", ""), request.get_data())
            if len(parts) != 2:
                return errors.api_error(400, "Multipart upload needs metadata and media parts", "invalid")
            metadata = json.loads(parts[0][1] or b"{}")
            thread_id = metadata.get("threadId") if isinstance(metadata, dict) else None
            raw = parts[1][1]
            if parts[1][0].get("content-transfer-encoding", "").lower() == "base64":
                raw = b64url_decode(raw.decode("ascii"))
        else:
            message = (
                "Upload requests must include an uploadType URL parameter and a URL path beginning with "
                "/upload/ (the fake supports uploadType=media and uploadType=multipart)"
            )
            return errors.api_error(400, message, "wrongUrlForUpload")
        return _sent(ctx, raw, thread_id)

    return gmail_call(user_id, "gmail.users.messages.send", handler)


@bp.post(GMAIL + "/messages/<message_id>/modify")
def gmail_modify(user_id: str, message_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        body = _json_body()
        stored = ctx.mailbox.modify(
            message_id, body.get("addLabelIds") or [], body.get("removeLabelIds") or []
        )
        return errors.json_response(stored.minimal())

    return gmail_call(user_id, "gmail.users.messages.modify", handler)


@bp.post(GMAIL + "/messages/<message_id>/trash")
def gmail_trash(user_id: str, message_id: str) -> Response:
    return gmail_call(
        user_id,
        "gmail.users.messages.trash",
        lambda ctx: errors.json_response(ctx.mailbox.trash(message_id).minimal()),
    )


@bp.post(GMAIL + "/messages/<message_id>/untrash")
def gmail_untrash(user_id: str, message_id: str) -> Response:
    return gmail_call(
        user_id,
        "gmail.users.messages.untrash",
        lambda ctx: errors.json_response(ctx.mailbox.untrash(message_id).minimal()),
    )


@bp.delete(GMAIL + "/messages/<message_id>")
def gmail_delete(user_id: str, message_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        ctx.mailbox.delete(message_id)
        return Response(b"", 204)

    return gmail_call(user_id, "gmail.users.messages.delete", handler)


@bp.get(GMAIL + "/labels")
def gmail_labels(user_id: str) -> Response:
    return gmail_call(
        user_id,
        "gmail.users.labels.list",
        lambda ctx: errors.json_response({"labels": list(ctx.mailbox.labels.values())}),
    )


@bp.get(GMAIL + "/settings/sendAs")
def gmail_send_as(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        account = ctx.account
        items: list[dict[str, Any]] = [
            {
                "sendAsEmail": account.email,
                "displayName": account.name,
                "replyToAddress": "",
                "signature": "",
                "isPrimary": True,
                "isDefault": True,
            }
        ]
        for alias in account.send_as:
            items.append(
                {
                    "sendAsEmail": alias,
                    "displayName": account.name,
                    "replyToAddress": "",
                    "signature": "",
                    "isDefault": False,
                    "treatAsAlias": True,
                    "verificationStatus": "accepted",
                }
            )
        return errors.json_response({"sendAs": items})

    return gmail_call(user_id, "gmail.users.settings.sendAs.list", handler)


# ---- People -----------------------------------------------------------------------------------
_FIELDS_DOC = "Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get."


def _person_fields() -> set[str]:
    raw = request.args.get("personFields") or request.args.get("requestMask.includeField", "")
    fields = {f.strip().removeprefix("person.") for f in raw.split(",") if f.strip()}
    if not fields:
        raise MailboxError(
            400,
            f"personFields mask is required. Please specify one or more valid paths. {_FIELDS_DOC}",
            "invalid",
        )
    for name in sorted(fields):
        if name not in PERSON_FIELDS:
            raise MailboxError(400, f'Invalid personFields mask path: "{name}". {_FIELDS_DOC}', "invalid")
    return fields


def _me(account: FakeAccount, fields: set[str]) -> dict[str, Any]:
    return person(
        f"people/{account.sub}",
        "PROFILE",
        account.sub,
        account.given_name,
        account.family_name,
        [account.email],
        [],
        None,
        fields,
    )


@bp.get(PEOPLE + "/people/<resource_id>")
def people_get(resource_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        fields = _person_fields()
        if resource_id in {"me", ctx.account.sub}:
            return errors.json_response(_me(ctx.account, fields))
        if not sc.allows(ctx.token.scopes, "people.people.connections.list"):
            return errors.insufficient_scope(sc.METHOD_SCOPES["people.people.connections.list"], "people")
        with ctx.fake._lock:
            contacts = list(ctx.fake.contacts[ctx.account.email.lower()])
        for contact in contacts:
            if contact.resource_id == resource_id:
                return errors.json_response(contact_person(contact, fields))
        return errors.api_error(404, "Requested entity was not found.", "notFound")

    return api_call("people", "people.people.get", "people.googleapis.com", handler)


@bp.get(PEOPLE + "/people/<resource_id>/connections")
def people_connections(resource_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        if resource_id != "me":
            return errors.api_error(400, "Must be a valid resource name: people/me", "invalid")
        fields = _person_fields()
        page_size = _int_arg("pageSize", 100, 1, 1000)
        offset = _page_offset()
        with ctx.fake._lock:
            contacts = list(ctx.fake.contacts[ctx.account.email.lower()])
        order = request.args.get("sortOrder", "LAST_MODIFIED_ASCENDING")
        if order == "FIRST_NAME_ASCENDING":
            contacts.sort(key=lambda c: (c.given_name.lower(), c.family_name.lower()))
        elif order == "LAST_NAME_ASCENDING":
            contacts.sort(key=lambda c: (c.family_name.lower(), c.given_name.lower()))
        elif order == "LAST_MODIFIED_DESCENDING":
            contacts.reverse()
        page = contacts[offset : offset + page_size]
        body: dict[str, Any] = {}
        if page:
            body["connections"] = [contact_person(c, fields) for c in page]
        if offset + page_size < len(contacts):
            body["nextPageToken"] = _page_token(offset + page_size)
        body["totalPeople"] = len(contacts)
        body["totalItems"] = len(contacts)
        return errors.json_response(body)

    return api_call("people", "people.people.connections.list", "people.googleapis.com", handler)
