"""Gmail push over HTTP: `users.watch`, `users.stop`, `users.history.list` (behind the same Bearer
authentication, injected failures and scope checks as the other Gmail methods), and the controls
of the fake Pub/Sub and of mailbox history under `/_control/`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from . import errors
from .api_routes import GMAIL, ApiContext, _int_arg, _json_body, gmail_call
from .app import get_fake
from .gmail_watch import start_watch, stop_watch
from .mailbox import MailboxError
from .pubsub import GMAIL_PUBLISHER, PubSubError

bp = Blueprint("fake_google_gmail_push", __name__)
control_bp = Blueprint("fake_google_gmail_push_control", __name__, url_prefix="/_control")


# ---- Gmail ------------------------------------------------------------------------------------
@bp.post(GMAIL + "/watch")
def gmail_watch(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        return errors.json_response(start_watch(ctx.fake, ctx.mailbox, ctx.token.client_id, _json_body()))

    return gmail_call(user_id, "gmail.users.watch", handler)


@bp.post(GMAIL + "/stop")
def gmail_stop(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        stop_watch(ctx.fake, ctx.mailbox, ctx.token.client_id)
        return Response(b"", 204)

    return gmail_call(user_id, "gmail.users.stop", handler)


@bp.get(GMAIL + "/history")
def gmail_history(user_id: str) -> Response:
    def handler(ctx: ApiContext) -> Response:
        start = request.args.get("startHistoryId", "")
        if not start:
            raise MailboxError(400, "Missing required field: startHistoryId", "required")
        if not start.isdigit():
            raise MailboxError(
                400, f"Invalid value at 'start_history_id' (TYPE_UINT64), \"{start}\"", "invalid"
            )
        body = ctx.mailbox.list_history(
            int(start),
            request.args.getlist("historyTypes"),
            request.args.get("labelId") or None,
            _int_arg("maxResults", 100, 1, 500),
            request.args.get("pageToken") or None,
        )
        return errors.json_response(body)

    return gmail_call(user_id, "gmail.users.history.list", handler)


# ---- controls ---------------------------------------------------------------------------------
def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    return data if isinstance(data, dict) else {}


def _bad(message: str, status: int = 400) -> Response:
    error = "bad_request" if status == 400 else "not_found" if status == 404 else "refused"
    return errors.json_response({"error": error, "message": message}, status)


@control_bp.post("/gmail/deliver")
def deliver() -> Response:
    """A message arrives: {email, from, subject, text, label_ids?} -> {id, threadId, historyId}."""
    body = _body()
    try:
        stored = get_fake().deliver_message(
            str(body.get("email", "")),
            str(body.get("from") or "Carol Sender <carol@example.net>"),
            str(body.get("subject") or "Hello"),
            str(body.get("text") or ""),
            body.get("label_ids") or ["INBOX", "UNREAD"],
        )
    except (KeyError, MailboxError) as exc:
        return _bad(f"cannot deliver: {exc}")
    return errors.json_response(
        {"id": stored.id, "threadId": stored.thread_id, "historyId": str(stored.history_id)}
    )


@control_bp.post("/gmail/expire-history")
def expire_history() -> Response:
    """{email, before_history_id} -> {dropped, history_floor}: older history is gone (404)."""
    body = _body()
    try:
        fake = get_fake()
        before = int(body.get("before_history_id", ""))
        dropped = fake.expire_history(str(body.get("email", "")), before)
        floor = fake.mailbox(str(body["email"])).history_floor
    except (KeyError, ValueError, TypeError) as exc:
        return _bad(f"expire-history {{email, before_history_id}}: {exc}")
    return errors.json_response({"dropped": dropped, "history_floor": floor})


@control_bp.get("/gmail/watches")
def watches() -> Response:
    fake = get_fake()
    with fake._lock:
        return errors.json_response({"watches": [w.to_json() for w in fake.watches.values()]})


@control_bp.post("/pubsub/topics")
def create_topic() -> Response:
    """{name, publishers?} (default: Gmail's push service account may publish) -> the topic."""
    body = _body()
    publishers = body.get("publishers")
    try:
        topic = get_fake().pubsub.create_topic(
            str(body.get("name", "")), list(publishers) if isinstance(publishers, list) else [GMAIL_PUBLISHER]
        )
    except PubSubError as exc:
        return _bad(exc.message, exc.status)
    return errors.json_response(topic.to_json())


@control_bp.post("/pubsub/subscriptions")
def create_subscription() -> Response:
    """{name, topic, push_endpoint, audience?, service_account_email?} -> the subscription."""
    body = _body()
    try:
        subscription = get_fake().pubsub.create_subscription(
            str(body.get("name", "")),
            str(body.get("topic", "")),
            str(body.get("push_endpoint", "")),
            audience=body.get("audience") or None,
            service_account_email=body.get("service_account_email") or None,
        )
    except PubSubError as exc:
        return _bad(exc.message, exc.status)
    return errors.json_response(subscription.to_json())


@control_bp.get("/pubsub")
def pubsub_state() -> Response:
    pubsub = get_fake().pubsub
    return errors.json_response(
        {
            "topics": [t.to_json() for t in list(pubsub.topics.values())],
            "subscriptions": [s.to_json() for s in list(pubsub.subscriptions.values())],
            "pending": pubsub.pending,
        }
    )


@control_bp.get("/pubsub/deliveries")
def pubsub_deliveries() -> Response:
    return errors.json_response({"deliveries": [d.to_json() for d in get_fake().pubsub.deliveries]})


@control_bp.post("/pubsub/redeliver")
def pubsub_redeliver() -> Response:
    """{message_id, subscription?} -> {queued}: the recorded message is pushed again as is."""
    body = _body()
    try:
        queued = get_fake().pubsub.redeliver(
            str(body.get("message_id", "")), str(body["subscription"]) if body.get("subscription") else None
        )
    except PubSubError as exc:
        return _bad(exc.message, exc.status)
    return errors.json_response({"queued": queued})


@control_bp.post("/pubsub/pause")
def pubsub_pause() -> Response:
    get_fake().pubsub.pause()
    return errors.json_response({"paused": True})


@control_bp.post("/pubsub/resume")
def pubsub_resume() -> Response:
    """{order?: "published" | "reverse"} -> {released}: the held pushes go, maybe out of order."""
    try:
        released = get_fake().pubsub.resume(str(_body().get("order") or "published"))
    except PubSubError as exc:
        return _bad(exc.message, exc.status)
    return errors.json_response({"released": released})


@control_bp.post("/pubsub/drain")
def pubsub_drain() -> Response:
    """{timeout?} -> {drained}: waits until every queued push is delivered (or given up)."""
    try:
        timeout = min(float(_body().get("timeout", 5.0)), 30.0)
    except (TypeError, ValueError):
        return _bad("timeout must be a number")
    return errors.json_response({"drained": get_fake().pubsub.drain(timeout)})
