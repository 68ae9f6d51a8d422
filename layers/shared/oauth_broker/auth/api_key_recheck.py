"""An API key re-checked against the store, past the authorizer's cached decision.

API Gateway caches the authorizer's decision per Authorization header (`AuthorizerCacheTtl`), so a
key deleted a moment ago is still let through until that entry expires. For reads that window is
accepted (and documented); an admin write re-checks here first, so a deleted key cannot change
the tenant (settings, API keys, providers, OAuth clients) inside the window.
"""

from __future__ import annotations

from oauth_broker.auth.bearer import bearer_credential
from oauth_broker.auth.principal import Principal
from oauth_broker.errors import ApiKeyRevoked
from oauth_broker.observability import logger
from oauth_broker.store.api_keys import ApiKeyStore


def recheck_api_key(principal: Principal, authorization: str | None, api_keys: ApiKeyStore) -> None:
    """Raise `ApiKeyRevoked` unless the key presented still exists and is the one the authorizer
    decided for (same id, same tenant). One consistent GetItem; JWT callers pass untouched."""
    if principal.via != "api_key":
        return
    credential = bearer_credential(authorization)
    record = api_keys.lookup(credential) if credential else None
    if record is None or record.id != principal.key_id or record.tenant != principal.tenant:
        # The key id is an identifier, not a secret; the key itself is never logged.
        logger.info("api key refused on an admin write", extra={"key_id": principal.key_id})
        raise ApiKeyRevoked("this API key has been deleted")
