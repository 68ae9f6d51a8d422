"""The HTTP API's REQUEST authorizer: OIDC JWT or API key -> a principal, or a denial.

API Gateway caches the decision by the Authorization header; a missing header never reaches
here (API Gateway answers 401 itself), a denial becomes its 403. Admin writes by an API key are
re-checked past that cache (`auth.api_key_recheck`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauth_broker.auth.bearer import bearer_credential
from oauth_broker.auth.jwks import JwksError
from oauth_broker.auth.jwt import InvalidToken, JwtVerifier
from oauth_broker.auth.principal import Principal
from oauth_broker.config import BrokerConfig
from oauth_broker.observability import logger
from oauth_broker.store.api_keys import API_KEY_PREFIX, ApiKeyStore

DENY: dict[str, Any] = {"isAuthorized": False}


class RequestAuthorizer:
    def __init__(self, config: BrokerConfig, verifier: JwtVerifier, api_keys: ApiKeyStore):
        self.config = config
        self.verifier = verifier
        self.api_keys = api_keys

    def principal_for(self, authorization: str | None) -> tuple[Principal | None, str]:
        """(principal, reason): the reason is for logs and never contains the credential."""
        if not authorization:
            return None, "missing credentials"
        credential = bearer_credential(authorization)
        if credential is None:
            return None, "not a bearer credential"
        if credential.startswith(f"{API_KEY_PREFIX}_"):
            record = self.api_keys.lookup(credential)
            if record is None:
                return None, "unknown or revoked API key"
            return Principal(record.tenant, f"apikey:{record.id}", True, "api_key", record.id), "api key"
        try:
            claims = self.verifier.verify(credential)
        except InvalidToken as exc:
            return None, f"invalid JWT: {exc}"
        except JwksError:  # the IdP's keys cannot be loaded: fail the invocation, deny nothing
            logger.error("the IdP's JWKS cannot be loaded; no decision made")
            raise
        tenant = claims.get(self.config.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            return None, f"JWT has no {self.config.tenant_claim!r} claim"
        groups = claims.get(self.config.admin_claim) or []
        if isinstance(groups, str):
            groups = groups.replace(",", " ").split()
        is_admin = isinstance(groups, list) and self.config.admin_group in groups
        return Principal(tenant, str(claims["sub"]), is_admin, "jwt"), "jwt"

    def decide(self, event: Mapping[str, Any]) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        principal, reason = self.principal_for(headers.get("authorization"))
        if principal is None:
            logger.info("denied", extra={"reason": reason})
            return DENY
        return {"isAuthorized": True, "context": principal.as_context()}


def authorizer_for(services: Any) -> RequestAuthorizer:
    """The process's authorizer (JWKS cached across invocations)."""
    return services.singleton(  # type: ignore[no-any-return]
        "request_authorizer",
        lambda: RequestAuthorizer(services.config, services.jwt_verifier, services.api_keys),
    )
