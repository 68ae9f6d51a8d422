"""POST /v1/google/gmail-push: Gmail's push notifications, delivered by the tenant's Cloud Pub/Sub
push subscription (the `gmail_push` function).

No broker credentials: the push's `Authorization: Bearer` OIDC token, signed by Google for the
subscription's service account, is the credential (`oauth_broker.gmail_push`). 204 once the
mailbox's news is announced (or there was none); 401 `invalid_push_token`, 403
`push_not_authorized`, 400 `invalid_push_message` when nothing was read.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from oauth_broker.errors import InvalidPushMessage
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.request_body import raw_text_body
from oauth_broker.http.resolver import new_router
from oauth_broker.services import get_services

router = new_router()

MAX_BODY_CHARS = 65_536  # a push message is a few hundred bytes

PUSH_DOC: dict[str, Any] = {
    "summary": "Receive a Gmail push notification (Cloud Pub/Sub push subscription)",
    "description": "A Pub/Sub push message `{message: {data: base64 {emailAddress, historyId}, "
    "messageId}, subscription}` with the subscription's Google-signed OIDC token as `Authorization: "
    "Bearer`. Verified (Google's signature, `iss`, expiry, then `aud` and `email` equal to the "
    "`gmail_push` settings of a tenant watching that mailbox, `email_verified`); then, for each such "
    "watching connection, the mailbox history is read from its last history id and one "
    "`gmail.messages_added` event is published with the new messages' ids (never their content). "
    "A redelivered or out-of-order push announces nothing twice; a history id too old for Google "
    "publishes `gmail.history_reset`. 204.",
    "tags": ["google"],
}


def _body() -> str:
    return raw_text_body(
        current_invocation(router).event,
        max_chars=MAX_BODY_CHARS,
        refused=InvalidPushMessage("the body is not a Pub/Sub push message"),
    )


@router.post("/v1/google/gmail-push", **PUSH_DOC)
def receive_push() -> Response[None]:
    from oauth_broker.gmail_push.receiver import push_receiver

    invocation = current_invocation(router)
    receiver = push_receiver(get_services())
    receiver.receive(
        invocation.header("authorization"),
        _body(),
        deadline=invocation.deadline(receiver.watches.clock),
    )
    return Response(status_code=204)
