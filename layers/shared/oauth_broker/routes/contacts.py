"""/v1/connections/{id}/contacts: the account's Google contacts (People API connections)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from oauth_broker.contacts.models import ContactList
from oauth_broker.contacts.service import contacts_service
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.services import get_services

router = new_router()


@router.get(
    "/v1/connections/<connection_id>/contacts", summary="List the account's contacts", tags=["contacts"]
)
def list_contacts(
    connection_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> ContactList:
    invocation = current_invocation(router)
    service = contacts_service(get_services())
    return service.list_contacts(
        invocation.principal(),
        connection_id,
        limit=limit,
        cursor=cursor,
        deadline=invocation.deadline(service.proxy.clock),
    )
