"""/v1/connections/{id}/gmail/messages: list, read and send Gmail messages (typed, validated)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from oauth_broker.errors import PayloadTooLarge
from oauth_broker.gmail.models import (
    MAX_REQUEST_BYTES,
    MessageDetail,
    MessageList,
    SendMessageRequest,
    SendResult,
)
from oauth_broker.gmail.service import gmail_service
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.proxy.idempotency import check_idempotency_key
from oauth_broker.services import get_services

router = new_router()

_BASE = "/v1/connections/<connection_id>/gmail/messages"


@router.get(_BASE, summary="List Gmail messages", tags=["gmail"])
def list_gmail_messages(
    connection_id: str,
    q: Annotated[str | None, Query(max_length=2048, description="Gmail search query, e.g. is:unread")] = None,
    label_ids: Annotated[
        str | None,
        Query(max_length=2048, description="Comma-separated label ids (messages with all of them)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> MessageList:
    invocation = current_invocation(router)
    service = gmail_service(get_services())
    labels = [label.strip() for label in (label_ids or "").split(",") if label.strip()]
    return service.list_messages(
        invocation.principal(),
        connection_id,
        q=q,
        label_ids=labels,
        limit=limit,
        cursor=cursor,
        deadline=invocation.deadline(service.clock),
    )


@router.get(_BASE + "/<message_id>", summary="Read a Gmail message", tags=["gmail"])
def get_gmail_message(
    connection_id: str,
    message_id: str,
    fmt: Annotated[Literal["full", "metadata", "raw"], Query(alias="format")] = "full",
) -> MessageDetail:
    invocation = current_invocation(router)
    service = gmail_service(get_services())
    return service.get_message(
        invocation.principal(),
        connection_id,
        message_id,
        fmt=fmt,
        deadline=invocation.deadline(service.clock),
    )


@router.post(
    _BASE,
    summary="Send a Gmail message",
    description=(
        "Sends a message as the connected account (or one of its Gmail send-as addresses). With an "
        "`Idempotency-Key` header the send happens at most once per key and connection within 24 "
        "hours: a retry with the same key and body gets the first response again "
        "(`Idempotent-Replayed: true`); the same key with another body gets 422 "
        "`idempotency_key_reused`."
    ),
    tags=["gmail"],
    status_code=201,
)
def send_gmail_message(
    connection_id: str,
    body: SendMessageRequest,
    idempotency_key: Annotated[str | None, Header(max_length=255, description="Makes retries safe")] = None,
) -> Response[SendResult]:
    invocation = current_invocation(router)
    raw = invocation.event.get("body") or ""
    if len(raw) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_REQUEST_BYTES} bytes")
    service = gmail_service(get_services())
    sent = service.send_message(
        invocation.principal(),
        connection_id,
        body,
        deadline=invocation.deadline(service.clock),
        idempotency_key=check_idempotency_key(invocation.header("idempotency-key")),
        lambda_context=invocation.context,
    )
    headers = {
        "Location": f"/v1/connections/{connection_id}/gmail/messages/{sent.result.id}",
        "Cache-Control": "no-store",
    }
    if sent.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(status_code=201, content_type="application/json", body=sent.result, headers=headers)
