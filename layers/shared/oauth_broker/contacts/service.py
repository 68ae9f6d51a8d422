"""`GET /v1/connections/{id}/contacts`: the account's People API connections (names, emails, phones).

The call goes through `ProxyService.forward` like every other, so the connection's scopes
(`contacts` or `contacts.readonly`), retries, token refresh and concurrency limit apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauth_broker.contacts.models import ContactList
from oauth_broker.errors import ProviderMismatch
from oauth_broker.proxy.service import ProxyRequest, ProxyService, proxy_service
from oauth_broker.proxy.upstream_errors import raise_for_upstream

if TYPE_CHECKING:
    from oauth_broker.auth.principal import Principal
    from oauth_broker.services import Services

__all__ = ["PERSON_FIELDS", "ContactsService", "contacts_service"]

PERSON_FIELDS = "names,emailAddresses,phoneNumbers"


class ContactsService:
    def __init__(self, services: Services, proxy: ProxyService | None = None):
        self.services = services
        self.proxy = proxy or proxy_service(services)

    def list_contacts(
        self,
        principal: Principal,
        connection_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        deadline: float,
    ) -> ContactList:
        conn, provider = self.proxy.open(principal, connection_id)
        if provider.api is None or provider.api.scope_table != "people":
            raise ProviderMismatch(
                f"connection {conn.id} is a {conn.provider} connection; the contacts route needs a "
                "Google Contacts (People API) one"
            )
        query = [("personFields", PERSON_FIELDS), ("pageSize", str(limit))]
        if cursor:
            query.append(("pageToken", cursor))
        response = self.proxy.forward(
            conn,
            provider,
            ProxyRequest.api("GET", "v1/people/me/connections", query=query),
            deadline=deadline,
        )
        raise_for_upstream(response, what="listing contacts")
        payload = response.json()
        return ContactList.from_people(payload if isinstance(payload, dict) else {})


def contacts_service(services: Services) -> ContactsService:
    """The process's `ContactsService` (one per `Services`)."""
    return services.singleton("contacts.service", lambda: ContactsService(services))
