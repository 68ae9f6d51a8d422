"""`/_control/...`: the FakeGoogle controls over HTTP (JSON), for browser and end-to-end tests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from . import errors
from .app import get_fake
from .mailbox import b64url_decode

bp = Blueprint("fake_google_control", __name__, url_prefix="/_control")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    return data if isinstance(data, dict) else {}


def _bad(message: str) -> Response:
    return errors.json_response({"error": "bad_request", "message": message}, 400)


@bp.post("/fail_next")
def fail_next() -> Response:
    body = _body()
    try:
        rule = get_fake().fail_next(
            str(body.get("endpoint", "")),
            status=body.get("status"),
            error=body.get("error"),
            delay=float(body.get("delay", 0.0)),
            count=int(body.get("count", 1)),
            retry_after=body.get("retry_after"),
            body=body.get("body"),
        )
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return errors.json_response(rule.to_json())


@bp.post("/rate_limit_next")
def rate_limit_next() -> Response:
    body = _body()
    try:
        rule = get_fake().rate_limit_next(
            int(body.get("count", 1)), body.get("retry_after", 1), str(body.get("endpoint", "any-api"))
        )
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return errors.json_response(rule.to_json())


@bp.post("/gmail_rate_limit_403_next")
def gmail_rate_limit_403_next() -> Response:
    body = _body()
    try:
        rule = get_fake().gmail_rate_limit_403_next(
            int(body.get("count", 1)), str(body.get("reason", "userRateLimitExceeded"))
        )
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return errors.json_response(rule.to_json())


@bp.post("/clear_failures")
def clear_failures() -> Response:
    get_fake().clear_failures()
    return errors.json_response({"ok": True})


@bp.post("/revoke_all_for")
def revoke_all_for() -> Response:
    """The user removes access at myaccount.google.com: {email, client_id?, notify?} ->
    {revoked_grants, risc: [{status, aud, jti}]} (the `tokens-revoked` pushed to the registered RISC
    receiver; `notify: false`: none, the grants die silently, the broker learns it at refresh)."""
    body = _body()
    client_id = body.get("client_id")
    try:
        revoked, deliveries = get_fake().remove_access(
            str(body.get("email", "")),
            str(client_id) if client_id else None,
            notify=body.get("notify", True) is not False,
        )
    except KeyError:
        return _bad("unknown account")
    return errors.json_response(
        {
            "revoked_grants": revoked,
            "risc": [{"status": d.status, "aud": d.aud, "jti": d.jti, "error": d.error} for d in deliveries],
        }
    )


@bp.post("/expire_access_tokens")
def expire_access_tokens() -> Response:
    email = _body().get("email")
    try:
        expired = get_fake().expire_access_tokens(str(email) if email else None)
    except KeyError:
        return _bad("unknown account")
    return errors.json_response({"expired": expired})


@bp.post("/api_delay")
def api_delay() -> Response:
    try:
        get_fake().set_api_delay(float(_body().get("seconds", 0.0)))
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return errors.json_response({"api_delay": get_fake().api_delay})


@bp.post("/advance_clock")
def advance_clock() -> Response:
    get_fake().advance_clock(float(_body().get("seconds", 0.0)))
    return errors.json_response({"now": get_fake().now()})


@bp.post("/rotate_signing_key")
def rotate_signing_key() -> Response:
    return errors.json_response({"kid": get_fake().rotate_signing_key()})


@bp.post("/reset")
def reset() -> Response:
    get_fake().reset()
    return errors.json_response({"ok": True})


@bp.post("/consent")
def consent() -> Response:
    """Act as the user on the consent page: {authorize_url, account?, scopes?, allow?} -> {location}."""
    body = _body()
    try:
        location = get_fake().complete_consent(
            str(body.get("authorize_url", "")),
            account=body.get("account"),
            scopes=body.get("scopes"),
            allow=bool(body.get("allow", True)),
        )
    except ValueError as exc:
        return _bad(str(exc))
    return errors.json_response({"location": location})


@bp.post("/messages")
def add_message() -> Response:
    """Deliver a message: {email, raw (base64url RFC 822), label_ids?, thread_id?} -> {id, threadId}."""
    body = _body()
    try:
        stored = get_fake().add_message(
            str(body.get("email", "")),
            b64url_decode(str(body.get("raw", ""))),
            body.get("label_ids") or ["INBOX", "UNREAD"],
            body.get("thread_id"),
        )
    except (KeyError, ValueError) as exc:
        return _bad(f"cannot add message: {exc}")
    return errors.json_response({"id": stored.id, "threadId": stored.thread_id})


@bp.get("/requests")
def requests_log() -> Response:
    fake = get_fake()
    endpoint = request.args.get("endpoint")
    items = fake.requests_to(endpoint) if endpoint else fake.requests
    return errors.json_response({"requests": [r.to_json() for r in items]})


@bp.get("/revocations")
def revocations() -> Response:
    return errors.json_response({"revocations": [r.to_json() for r in get_fake().revocations]})


@bp.get("/counters")
def counters() -> Response:
    fake = get_fake()
    return errors.json_response(
        {
            "token_requests": dict(fake.token_requests),
            "requests_by_endpoint": _count_by_endpoint(),
            "concurrency": fake.gauge.snapshot(),
            "pending_failures": [rule.to_json() for rule in fake.pending_failures],
        }
    )


def _count_by_endpoint() -> dict[str, int]:
    counts: dict[str, int] = {}
    for recorded in get_fake().requests:
        counts[recorded.endpoint] = counts.get(recorded.endpoint, 0) + 1
    return counts


@bp.get("/concurrency")
def concurrency() -> Response:
    return errors.json_response(get_fake().gauge.snapshot())


@bp.post("/concurrency/reset")
def concurrency_reset() -> Response:
    get_fake().reset_concurrency()
    return errors.json_response(get_fake().gauge.snapshot())


@bp.get("/sent")
def sent() -> Response:
    """Messages an account sent: ?email= -> {messages: [{from, to, subject, raw}]}."""
    fake = get_fake()
    try:
        messages = fake.sent_messages(request.args.get("email", ""))
    except KeyError:
        return _bad("unknown account")
    return errors.json_response(
        {
            "messages": [
                {
                    "from": str(m.get("From", "")),
                    "to": str(m.get("To", "")),
                    "subject": str(m.get("Subject", "")),
                    "message_id": str(m.get("Message-ID", "")),
                    "raw": m.as_string(),
                }
                for m in messages
            ]
        }
    )


@bp.get("/state")
def state() -> Response:
    fake = get_fake()
    with fake._lock:
        return errors.json_response(
            {
                "base_url": fake.base_url,
                "issuer": fake.issuer,
                "accounts": [{"email": a.email, "sub": a.sub, "name": a.name} for a in fake.accounts],
                "clients": sorted(fake.config.clients),
                "accept_any_client": fake.config.accept_any_client,
                "grants": len(fake._grants),
                "active_grants": sum(1 for g in fake._grants.values() if not g.revoked),
                "api_delay": fake.api_delay,
            }
        )
