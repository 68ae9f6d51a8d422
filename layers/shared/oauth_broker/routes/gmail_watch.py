"""/v1/connections/{id}/gmail/watch: Gmail push for a connection's mailbox (start or change,
read, stop). Served by the proxy function (the watch is started with the connection's token);
owner or tenant admin, others get 404 (API.md "Gmail push notifications")."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from oauth_broker.gmail_push.watches import WatchRequest, WatchState, watch_service
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.services import get_services

router = new_router()

_PATH = "/v1/connections/<connection_id>/gmail/watch"


@router.put(
    _PATH,
    summary="Start (or change) Gmail push for the connection's mailbox",
    description=(
        "Calls Gmail's users.watch on the tenant's Pub/Sub topic (settings `gmail_push`) with the "
        "label filter given; each new message then becomes one `gmail.messages_added` event (ids "
        "only) on the bus and the tenant's webhook. Renewed daily by the broker; stopped when the "
        "connection is deleted, revoked, needs re-authorization or loses its Gmail read scope. 409 "
        "`gmail_push_not_configured` without the settings; 403 `scope_not_granted` without a Gmail "
        "read scope (gmail.readonly, gmail.modify, gmail.metadata or https://mail.google.com/)."
    ),
    tags=["gmail"],
)
def put_gmail_watch(connection_id: str, body: WatchRequest) -> WatchState:
    invocation = current_invocation(router)
    service = watch_service(get_services())
    return service.start(
        invocation.principal(), connection_id, body, deadline=invocation.deadline(service.clock)
    )


@router.get(_PATH, summary="Read the connection's Gmail watch", tags=["gmail"])
def get_gmail_watch(connection_id: str) -> WatchState:
    invocation = current_invocation(router)
    return watch_service(get_services()).state(invocation.principal(), connection_id)


@router.delete(_PATH, summary="Stop Gmail push for the connection's mailbox", tags=["gmail"])
def delete_gmail_watch(connection_id: str) -> Response[None]:
    invocation = current_invocation(router)
    service = watch_service(get_services())
    service.stop(invocation.principal(), connection_id, deadline=invocation.deadline(service.clock))
    return Response(status_code=204)
