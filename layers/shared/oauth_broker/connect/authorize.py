"""`GET /v1/oauth/authorize?session=<token>`: consume the connect session, remember the flow under
a fresh OAuth state, and send the browser to the provider.

No KMS here: the PKCE verifier and the OIDC nonce are sealed with a key derived from the state
itself (`crypto.state_box`), and the table keeps only the state's SHA-256. The state carries 256
random bits, the verifier 512.
"""

from __future__ import annotations

import json
from typing import Any

from oauth_broker.connect.result_page import FlowResult, PageResponse, error_page, redirect, render_result
from oauth_broker.connect.sessions import SESSION_TOKEN_PREFIX, session_store
from oauth_broker.connect.urls import callback_url
from oauth_broker.crypto.state_box import seal, state_hash
from oauth_broker.errors import NotFound, ProviderDisabled
from oauth_broker.ids import random_token, sha256_hex
from oauth_broker.observability import logger
from oauth_broker.providers.registry import provider_registry
from oauth_broker.store.sessions import STATE_TTL_SECONDS, FlowContext, OAuthStateRecord, OAuthStateStore
from oauth_broker.timeutil import now_epoch, rfc3339

MAX_SESSION_TOKEN_LENGTH = 128
INVALID_SESSION_MESSAGE = (
    "This sign-in link is invalid, has expired or was already used. Go back to the app and start again."
)


def state_store(services: Any) -> OAuthStateStore:
    return services.singleton(  # type: ignore[no-any-return]
        "oauth_state_store", lambda: OAuthStateStore(services.table)
    )


def _failure(ctx: FlowContext, error: str) -> PageResponse:
    logger.info("authorize refused", extra={"tenant": ctx.tenant, "provider": ctx.provider, "error": error})
    return render_result(
        FlowResult(connection_id=ctx.connection_id, error=error, mode=ctx.mode, return_to=ctx.return_to)
    )


def start_authorization(services: Any, session_token: str | None, *, domain_name: str | None) -> PageResponse:
    from oauth_broker.oauth.client import authorization_url, new_code_verifier

    if (
        not session_token
        or len(session_token) > MAX_SESSION_TOKEN_LENGTH
        or not session_token.startswith(f"{SESSION_TOKEN_PREFIX}_")
    ):
        return error_page(INVALID_SESSION_MESSAGE)
    session = session_store(services).consume(sha256_hex(session_token))
    if session is None:
        logger.info("authorize: unknown, used or expired connect session")
        return error_page(INVALID_SESSION_MESSAGE)
    ctx = FlowContext.model_validate(session.model_dump(include=set(FlowContext.model_fields)))

    try:
        provider = provider_registry(services).require_enabled(ctx.tenant, ctx.provider)
    except ProviderDisabled:
        return _failure(ctx, "provider_disabled")
    except NotFound:
        return _failure(ctx, "provider_error")
    try:
        client = services.oauth_clients.get(ctx.tenant, ctx.oauth_client_id)
    except NotFound:
        return _failure(ctx, "oauth_client_not_found")

    state = random_token()
    verifier = new_code_verifier()
    nonce = random_token(nbytes=24) if provider.auth.oidc and "openid" in ctx.scopes else None
    redirect_uri = callback_url(services.config, domain_name)
    now = now_epoch()
    record = OAuthStateRecord(
        **ctx.model_dump(),
        redirect_uri=redirect_uri,
        sealed=seal(state, json.dumps({"verifier": verifier, "nonce": nonce}).encode()),
        created_at=rfc3339(now),
        expires_at=now + STATE_TTL_SECONDS,
    )
    state_store(services).create(state_hash(state), record)
    location = authorization_url(
        provider,
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scopes=ctx.scopes,
        state=state,
        code_verifier=verifier,
        nonce=nonce,
        prompt=ctx.prompt,
        login_hint=ctx.login_hint,
    )
    logger.info(
        "authorize: redirecting to the provider", extra={"tenant": ctx.tenant, "provider": ctx.provider}
    )
    return redirect(location, status=302)
