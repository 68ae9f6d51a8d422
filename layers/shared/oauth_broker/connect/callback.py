"""`GET /v1/oauth/callback`: finish the flow (API.md, "The callback").

1. The state is single use: its item is deleted by the same write that reads it (a replayed,
   unknown, expired or tampered state gets a 400 page and nothing is written).
2. `iss` (RFC 9207, `connect.issuer`): when present it must be the provider's issuer; a provider
   known to send it refuses a response without it.
3. `error=...` from the provider ends the flow with that (known) code.
4. The code is exchanged with the PKCE verifier (`tokens.endpoint.ProviderTokenClient`, the one
   token-endpoint adapter: authlib over the injected httpx client).
5. An OIDC ID token is verified (signature against the provider's JWKS, iss, aud, exp, nonce) and
   gives the account (sub, email, hd); without one, the userinfo endpoint does.
6. Granted scopes are compared with the requested ones: missing ones make the connection
   `partial`, and the result names them.
7. Tokens are envelope-encrypted (purposes refresh_token/access_token, record_id = connection id),
   with the digests of the refresh token's identifiers (`crypto.token_identifiers`), and the
   result is HELD for confirmation (`connect.confirmation`): a new connection (`con_...`) is
   stored `pending`; with the session's `connection_id` (a different account is refused) the new
   tokens are held aside and the connection keeps its old ones. The result carries `status:
   "pending"` and a single-use `confirmation` to `return_to` only; `connection.created` /
   `connection.updated` is published when the flow's creator confirms, not here.

Every failure after step 1 ends with a result delivered by the session's mode; nothing in a page,
a log line or an event holds a token, the code, the state or the verifier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oauth_broker.connect.authorize import state_store
from oauth_broker.connect.confirmation import hold as confirmation_hold
from oauth_broker.connect.issuer import authorization_response_issuer_error
from oauth_broker.connect.result_page import FlowResult, PageResponse, error_page, render_result
from oauth_broker.connect.scopes import scope_outcome
from oauth_broker.crypto.envelope import CryptoError, EncryptionContext
from oauth_broker.crypto.state_box import MIN_STATE_LENGTH, open_, state_hash
from oauth_broker.crypto.token_identifiers import token_digests
from oauth_broker.dependency_errors import dependency_error
from oauth_broker.errors import NotFound, ProviderDisabled
from oauth_broker.ids import new_id
from oauth_broker.observability import logger
from oauth_broker.providers.catalog import ProviderDefinition
from oauth_broker.providers.registry import provider_registry
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus, OAuthClientRecord
from oauth_broker.store.sessions import OAuthStateRecord
from oauth_broker.timeutil import now_epoch, rfc3339

MAX_STATE_LENGTH = 256
MAX_CODE_LENGTH = 2048
INVALID_STATE_MESSAGE = (
    "This sign-in response is invalid, has expired or was already used. Go back to the app and start again."
)
# Authorization-response error codes (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6) passed on by name.
PROVIDER_ERRORS = frozenset(
    {
        "access_denied",
        "invalid_scope",
        "consent_required",
        "interaction_required",
        "login_required",
        "account_selection_required",
    }
)
TOKEN_TIMEOUT_SECONDS = 10.0
PENDING_STATUS = ConnectionStatus.PENDING.value


class FlowFailed(Exception):
    """Ends the flow with `error` (a stable code of `result_page.ERROR_MESSAGES`)."""

    def __init__(self, error: str, *, connection: ConnectionRecord | None = None):
        super().__init__(error)
        self.error = error
        self.connection = connection


@dataclass(frozen=True)
class HeldResult:
    """A flow's result, held until its creator confirms it. `repr` hides the confirmation."""

    connection_id: str
    confirmation: str
    missing: tuple[str, ...]

    def __repr__(self) -> str:
        return f"HeldResult(connection_id={self.connection_id!r})"


@dataclass(frozen=True)
class Account:
    sub: str | None
    email: str | None
    hd: str | None


def finish_authorization(services: Any, params: Mapping[str, str]) -> PageResponse:
    state = params.get("state") or ""
    if not (MIN_STATE_LENGTH <= len(state) <= MAX_STATE_LENGTH):
        logger.info("callback: missing or malformed state")
        return error_page(INVALID_STATE_MESSAGE)
    record = state_store(services).consume(state_hash(state))
    if record is None:
        logger.info("callback: unknown, used or expired state")
        return error_page(INVALID_STATE_MESSAGE)
    try:
        secrets_ = json.loads(open_(state, record.sealed))
        verifier = secrets_["verifier"]
        nonce = secrets_.get("nonce")
    except (CryptoError, ValueError, KeyError, TypeError):
        logger.warning("callback: the state's sealed secrets do not open")
        return error_page(INVALID_STATE_MESSAGE)

    log = {"tenant": record.tenant, "provider": record.provider}
    try:
        held = _finish(services, record, params, verifier=verifier, nonce=nonce)
    except FlowFailed as exc:
        logger.info("callback: flow failed", extra={**log, "error": exc.error})
        existing = exc.connection
        return render_result(
            FlowResult(
                connection_id=existing.id if existing else None,
                status=existing.status.value if existing else None,
                error=exc.error,
                mode=record.mode,
                return_to=record.return_to,
            )
        )
    except Exception as exc:  # a result page, never a stack trace; the type only in the log
        # An AWS dependency's fault (dependency_errors): the state is spent, so the app is told
        # `service_unavailable`: starting a new connect session shortly will work.
        error = "service_unavailable" if dependency_error(exc) is not None else "internal_error"
        logger.error(
            "callback: unexpected error", extra={**log, "error_type": type(exc).__name__, "error": error}
        )
        return render_result(FlowResult(error=error, mode=record.mode, return_to=record.return_to))
    logger.info(
        "callback: result held for confirmation",
        extra={**log, "connection_id": held.connection_id, "missing_scopes": list(held.missing)},
    )
    return render_result(
        FlowResult(
            connection_id=held.connection_id,
            status=PENDING_STATUS,
            confirmation=held.confirmation,
            missing_scopes=held.missing,
            mode=record.mode,
            return_to=record.return_to,
        )
    )


def _finish(
    services: Any, record: OAuthStateRecord, params: Mapping[str, str], *, verifier: str, nonce: str | None
) -> HeldResult:
    from oauth_broker.tokens.endpoint import ClientCredentials, TokenEndpointError
    from oauth_broker.tokens.refresher import token_refresher

    registry = provider_registry(services)
    try:
        provider = registry.require_enabled(record.tenant, record.provider)
    except ProviderDisabled:
        raise FlowFailed("provider_disabled") from None
    except NotFound:
        raise FlowFailed("provider_error") from None

    if (issuer_error := authorization_response_issuer_error(provider, params.get("iss"))) is not None:
        raise FlowFailed(issuer_error)  # before any exchange or write (RFC 9207)
    error = params.get("error")
    if error is not None:
        raise FlowFailed(error if error in PROVIDER_ERRORS else "provider_error")
    code = params.get("code") or ""
    if not code or len(code) > MAX_CODE_LENGTH:
        raise FlowFailed("provider_error")

    try:
        client = services.oauth_clients.get(record.tenant, record.oauth_client_id)
    except NotFound:
        raise FlowFailed("oauth_client_not_found") from None
    client_secret = _client_secret(services, client)

    try:
        tokens = token_refresher(services).endpoint.exchange_code(
            provider,
            ClientCredentials(client.client_id, client_secret),
            code=code,
            code_verifier=verifier,
            redirect_uri=record.redirect_uri,
            timeout=TOKEN_TIMEOUT_SECONDS,
        )
    except TokenEndpointError as exc:
        logger.info(
            "callback: token endpoint refused the code",
            extra={"provider": provider.key, "oauth_error": exc.code, "http_status": exc.status},
        )
        raise FlowFailed("upstream_error" if exc.kind == "transient" else "token_exchange_failed") from None

    account = _account(services, provider, client, tokens.id_token, tokens.access_token, nonce)
    outcome = scope_outcome(provider, record.scopes, tokens.scope)
    missing, status, status_reason = outcome.missing, outcome.status, outcome.status_reason

    now = now_epoch()
    fields: dict[str, Any] = {
        "scopes_requested": list(record.scopes),
        "scopes_granted": list(outcome.granted),
        "last_refreshed_at": rfc3339(now),
        "updated_at": rfc3339(now),
        "expires_at": now + tokens.expires_in if tokens.expires_in is not None else None,
        "token_type": tokens.token_type,
        "refresh_failures": 0,
        "provider_client_id": client.client_id,
    }
    if account.email:
        fields["account_email"] = account.email
    if account.hd:
        fields["account_hd"] = account.hd

    if record.connection_id:
        return _reauthorize(
            services, record, provider, tokens, account, status, status_reason, fields, missing
        )
    held, conn = _create(services, record, provider, tokens, account, status, status_reason, fields, missing)
    # A provider disabled while this flow ran: its cut may have missed this connection.
    if not registry.get(record.tenant, provider.key).enabled:
        from oauth_broker.connect.provider_switch import cut_connection

        cut_connection(services, conn)
    return held


def _client_secret(services: Any, client: OAuthClientRecord) -> str:
    ctx = EncryptionContext(client.tenant, client.id, "client_secret")
    try:
        secret: str = services.envelope.decrypt(client.enc_client_secret, ctx).decode()
    except CryptoError as exc:
        logger.error(
            "callback: the OAuth client secret cannot be decrypted", extra={"error_type": type(exc).__name__}
        )
        raise FlowFailed("service_unavailable" if dependency_error(exc) else "internal_error") from None
    return secret


def _keys_for(services: Any, url: str) -> Any:
    from oauth_broker.auth.jwks import JwksCache

    # One cache per JWKS URL per process; an unknown `kid` refetches once.
    cache = services.singleton(
        f"provider_jwks:{url}", lambda: JwksCache(url, services.http, min_refetch_seconds=0)
    )
    return cache.key_set


def _account(
    services: Any,
    provider: ProviderDefinition,
    client: OAuthClientRecord,
    id_token: str | None,
    access_token: str,
    nonce: str | None,
) -> Account:
    from oauth_broker.oauth.id_token import InvalidIdToken, verify_id_token

    if provider.auth.oidc and nonce is not None:
        if not id_token or provider.auth.jwks_url is None or provider.auth.issuer is None:
            logger.info("callback: no verifiable ID token", extra={"provider": provider.key})
            raise FlowFailed("invalid_id_token")
        try:
            claims = verify_id_token(
                id_token,
                keys=_keys_for(services, provider.auth.jwks_url),
                issuer=provider.auth.issuer,
                client_id=client.client_id,
                nonce=nonce,
            )
        except InvalidIdToken as exc:
            logger.info("callback: ID token refused", extra={"provider": provider.key, "reason": exc.reason})
            # the provider's JWKS could not be loaded: nothing is wrong with the token, and a new
            # flow shortly may work (like a transient token endpoint failure)
            raise FlowFailed(
                "upstream_error" if exc.reason == "keys_unavailable" else "invalid_id_token"
            ) from None
        return Account(
            sub=str(claims["sub"]),
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            hd=claims.get("hd") if isinstance(claims.get("hd"), str) else None,
        )
    if provider.auth.userinfo_url:
        return _userinfo(services, provider.auth.userinfo_url, access_token)
    return Account(sub=None, email=None, hd=None)


def _userinfo(services: Any, url: str, access_token: str) -> Account:
    import httpx

    try:
        resp = services.http.get(
            url,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=5.0,
        )
        data = resp.json() if resp.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    sub = data.get("sub", data.get("id"))
    email, hd = data.get("email"), data.get("hd")
    return Account(
        sub=str(sub) if isinstance(sub, str | int) and not isinstance(sub, bool) else None,
        email=email if isinstance(email, str) else None,
        hd=hd if isinstance(hd, str) else None,
    )


def _encrypt_tokens(
    services: Any, provider: ProviderDefinition, tenant: str, connection_id: str, tokens: Any
) -> dict[str, Any]:
    """The `enc_*` blobs, and for a provider whose security events name refresh tokens (`risc`)
    the digests of the refresh token's identifiers (`rt_digests`, never the identifiers)."""
    envelope = services.envelope
    out = {
        "enc_access_token": envelope.encrypt(
            tokens.access_token.encode(), EncryptionContext(tenant, connection_id, "access_token")
        )
    }
    if tokens.refresh_token:
        out["enc_refresh_token"] = envelope.encrypt(
            tokens.refresh_token.encode(), EncryptionContext(tenant, connection_id, "refresh_token")
        )
        if provider.risc is not None:
            out["rt_digests"] = list(token_digests(tokens.refresh_token))
    return out


def _no_refresh_status(
    tokens: Any, status: ConnectionStatus, reason: str | None, *, has_old: bool, was: ConnectionStatus | None
) -> tuple[ConnectionStatus, str | None]:
    """Without a refresh token an expiring access token dies within the hour: say so."""
    if tokens.refresh_token or tokens.expires_in is None:
        return status, reason
    if has_old and was != ConnectionStatus.NEEDS_REAUTH:
        return status, reason  # the grant's refresh token we already hold stays valid
    return ConnectionStatus.NEEDS_REAUTH, "no_refresh_token"


def _create(
    services: Any,
    record: OAuthStateRecord,
    provider: ProviderDefinition,
    tokens: Any,
    account: Account,
    status: ConnectionStatus,
    status_reason: str | None,
    fields: dict[str, Any],
    missing: tuple[str, ...],
) -> tuple[HeldResult, ConnectionRecord]:
    """A new connection, `pending` until confirmed: listed to its owner, unusable (409
    `confirmation_required`), outside the refresh sweep, and announced only when confirmed."""
    connection_id = new_id("con")
    status, status_reason = _no_refresh_status(tokens, status, status_reason, has_old=False, was=None)
    name = record.name or account.email or provider.display_name
    conn = ConnectionRecord(
        id=connection_id,
        tenant=record.tenant,
        owner=record.user,
        name=name,
        provider=provider.key,
        oauth_client_id=record.oauth_client_id,
        account_sub=account.sub,
        status=ConnectionStatus.PENDING,
        status_reason="confirmation_required",
        created_at=fields["updated_at"],
        **fields,
        **_encrypt_tokens(services, provider, record.tenant, connection_id, tokens),
    )
    services.connections.create(conn)
    confirmation = confirmation_hold(
        services,
        record,
        connection_id=connection_id,
        kind="create",
        account_sub=account.sub,
        status=status,
        status_reason=status_reason,
        missing_scopes=missing,
    )
    return HeldResult(connection_id, confirmation, missing), conn


def _reauthorize(
    services: Any,
    record: OAuthStateRecord,
    provider: ProviderDefinition,
    tokens: Any,
    account: Account,
    status: ConnectionStatus,
    status_reason: str | None,
    fields: dict[str, Any],
    missing: tuple[str, ...],
) -> HeldResult:
    """The connection keeps working with its old tokens; the new ones (encrypted for its record
    id) are held with the rest of the change until the flow's creator confirms."""
    assert record.connection_id is not None
    existing = services.connections.get(record.connection_id)
    if existing is None or existing.tenant != record.tenant or existing.owner != record.user:
        raise FlowFailed("connection_not_found")
    if existing.provider != provider.key:
        raise FlowFailed("connection_not_found")
    if existing.account_sub and account.sub and existing.account_sub != account.sub:
        raise FlowFailed("account_mismatch", connection=existing)
    new_status, new_reason = _no_refresh_status(
        tokens, status, status_reason, has_old=bool(existing.enc_refresh_token), was=existing.status
    )
    # What an admin's provider switch keeps (`status_before_disable`) is confirmation's to set
    # (`confirmation._live_fields`); a held update carries no None values (`confirmation.hold`).
    update: dict[str, Any] = {
        **fields,
        **_encrypt_tokens(services, provider, record.tenant, record.connection_id, tokens),
    }
    if account.sub:
        update["account_sub"] = account.sub
    if record.name:
        update["name"] = record.name
    confirmation = confirmation_hold(
        services,
        record,
        connection_id=existing.id,
        kind="reauthorize",
        account_sub=account.sub or existing.account_sub,
        status=new_status,
        status_reason=new_reason,
        missing_scopes=missing,
        update=update,
    )
    return HeldResult(existing.id, confirmation, missing)
