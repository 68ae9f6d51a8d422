"""What each operation really answers, for the OpenAPI document (`oauth_broker.http.openapi`).

One entry per operation of the routers (`oauth_broker.routes.ALL_ROUTER_MODULES`), keyed by
(METHOD, OpenAPI path). `errors` lists the BrokerError classes that the route and the domain code it
calls can raise; every authorized operation also gets 401/403 (API Gateway and `forbidden`),
422 (`X-On-Behalf-Of`), 503 `service_unavailable` and 500 (`service_misconfigured`,
`internal_error`) (`oauth_broker.http.openapi`), with a body 413 and, with a JSON body, 400
`invalid_json` and 415. A route that gains an error
adds it here; a route added or removed without an entry here fails `truthful_document`.
"""

from __future__ import annotations

from typing import Any

from oauth_broker.errors import (
    ApiKeyRevoked,
    BadRequest,
    BrokerError,
    ConfirmationRequired,
    Conflict,
    Forbidden,
    GmailPushNotConfigured,
    IdempotencyKeyReused,
    InvalidPath,
    InvalidPushMessage,
    InvalidPushToken,
    InvalidSecurityEvent,
    MessageTooLarge,
    NeedsReauth,
    NotFound,
    PayloadTooLarge,
    ProviderDisabled,
    ProviderMismatch,
    ProxyNotSupported,
    PushNotAuthorized,
    RateLimited,
    ReplayedSecurityEvent,
    ResponseTooLarge,
    ScopeNotGranted,
    ServiceMisconfigured,
    ServiceUnavailable,
    TokenExposureDisabled,
    UnknownMethod,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from oauth_broker.http.openapi import Answers

__all__ = ["OPERATIONS"]

Errors = tuple[type[BrokerError], ...]

# An admin read (`require_admin`) and an admin write (`require_admin_write`: an API key is looked up
# again, `api_key_revoked` when deleted since the authorizer's cached decision).
_ADMIN: Errors = (Forbidden,)
_ADMIN_WRITE: Errors = (Forbidden, ApiKeyRevoked)
# A connection the caller may see, or 404 (`connections.get_visible`).
_CONNECTION: Errors = (NotFound,)
# A connection's usable access token (`tokens.refresher`): pending, needs_reauth, provider disabled,
# or the refresh failed at the provider (502, with Retry-After when a retry helps).
_TOKEN: Errors = (NotFound, ConfirmationRequired, NeedsReauth, ProviderDisabled, UpstreamError)
# A call to the provider's API through the proxy service: scope and path checks, the connection's
# concurrency limit (429), the provider unreachable, too slow or answering too much.
_PROVIDER_CALL: Errors = (
    *_TOKEN,
    ScopeNotGranted,
    Forbidden,
    RateLimited,
    ResponseTooLarge,
    UpstreamTimeout,
)
# A typed route (Gmail, Contacts, the probe) maps the provider's errors to problems
# (`proxy.upstream_errors`): 400, 403, 404, 409, 429, 502.
_TYPED_CALL: Errors = (*_PROVIDER_CALL, ProviderMismatch, BadRequest, Conflict)

_NO_CONTENT = {"204": {"description": "deleted"}}

_HTML_400 = "An HTML error page (a browser shows it): the link or state is bad, used or expired"
_HTML_500 = "An HTML error page: something failed on the broker's side; go back to the app and retry"
_HTML_503 = "An HTML error page: a service the broker depends on is busy or unavailable; retry later"


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


OPERATIONS: dict[tuple[str, str], Answers] = {
    # -- system (public) ---------------------------------------------------------------------------
    ("GET", "/v1/health"): Answers(public=True),
    ("GET", "/v1/openapi.json"): Answers(
        public=True,
        success={
            "200": {
                "description": "This document",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    ),
    # -- settings ----------------------------------------------------------------------------------
    ("GET", "/v1/settings"): Answers(errors=_ADMIN),
    # PATCH: a lost compare-and-set five times in a row is 409
    ("PATCH", "/v1/settings"): Answers(errors=(*_ADMIN_WRITE, ValidationFailed, Conflict)),
    # -- API keys ----------------------------------------------------------------------------------
    ("POST", "/v1/api-keys"): Answers(errors=(*_ADMIN_WRITE, ValidationFailed), jwt_only=True),
    ("GET", "/v1/api-keys"): Answers(errors=_ADMIN),
    ("DELETE", "/v1/api-keys/{key_id}"): Answers(errors=(*_ADMIN_WRITE, NotFound), success=_NO_CONTENT),
    # -- audit trail -------------------------------------------------------------------------------
    # 422: a bad since/until/limit or a cursor of another listing
    ("GET", "/v1/audit"): Answers(errors=(*_ADMIN, ValidationFailed)),
    # -- pending revocations (tombstones the sweep retries) ----------------------------------------
    # 422: a bad limit or a cursor of another listing
    ("GET", "/v1/revocations"): Answers(errors=(*_ADMIN, ValidationFailed)),
    # -- providers ---------------------------------------------------------------------------------
    ("GET", "/v1/providers"): Answers(),
    # PATCH: 409 when connections changed concurrently during the switch
    ("PATCH", "/v1/providers/{key}"): Answers(errors=(*_ADMIN_WRITE, NotFound, ValidationFailed, Conflict)),
    # POST: a bad definition or a failed OIDC discovery is 422; an existing key 409
    ("POST", "/v1/providers"): Answers(errors=(*_ADMIN_WRITE, ValidationFailed, Conflict)),
    # -- OAuth clients -----------------------------------------------------------------------------
    ("POST", "/v1/oauth-clients"): Answers(errors=(*_ADMIN_WRITE, ValidationFailed)),
    ("GET", "/v1/oauth-clients"): Answers(),
    ("GET", "/v1/oauth-clients/{client_id}"): Answers(errors=(NotFound,)),
    # PATCH: 409 when another writer changed it first (version check)
    ("PATCH", "/v1/oauth-clients/{client_id}"): Answers(
        errors=(*_ADMIN_WRITE, NotFound, ValidationFailed, Conflict)
    ),
    # DELETE: 409 while connections use it
    ("DELETE", "/v1/oauth-clients/{client_id}"): Answers(
        errors=(*_ADMIN_WRITE, NotFound, Conflict), success=_NO_CONTENT
    ),
    # -- connect -----------------------------------------------------------------------------------
    # a disabled provider 403; an unknown OAuth client or connection (re-authorization) 404
    ("POST", "/v1/connect-sessions"): Answers(errors=(ProviderDisabled, NotFound, ValidationFailed)),
    # anyone but the creator, used or late: 404; the connection kept changing: 409
    ("POST", "/v1/connect-sessions/confirm"): Answers(errors=(NotFound, ValidationFailed, Conflict)),
    ("GET", "/v1/oauth/authorize"): Answers(
        public=True,
        parameters=(_query("session", "the connect session's token (single use, 10 minutes)"),),
        success={
            "302": {
                "description": "to the provider's consent page",
                "headers": {"Location": {"$ref": "#/components/headers/Location"}},
            }
        },
        html_errors={400: _HTML_400, 500: _HTML_500, 503: _HTML_503},
    ),
    ("GET", "/v1/oauth/callback"): Answers(
        public=True,
        parameters=(
            _query("code", "the authorization code"),
            _query("state", "the flow's state (single use, 10 minutes)"),
            _query("scope", "the granted scopes, as the provider sends them"),
            _query("iss", "the authorization server's issuer (RFC 9207)"),
            _query("error", "the provider's error code, instead of code"),
        ),
        success={
            "200": {
                "description": "popup mode: an HTML page that posts the result to the opener",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            "303": {
                "description": "redirect mode: to return_to with the result",
                "headers": {"Location": {"$ref": "#/components/headers/Location"}},
            },
        },
        html_errors={400: _HTML_400, 500: _HTML_500, 503: _HTML_503},
    ),
    # -- connections -------------------------------------------------------------------------------
    ("GET", "/v1/connections"): Answers(errors=(ValidationFailed,)),  # a bad cursor is 422
    ("GET", "/v1/connections/{connection_id}"): Answers(errors=_CONNECTION),
    # PATCH: a bad lender or value 422; another writer first (version check), or a borrow that lost
    # its transaction (the lender started borrowing meanwhile: no cycles), 409
    ("PATCH", "/v1/connections/{connection_id}"): Answers(errors=(*_CONNECTION, ValidationFailed, Conflict)),
    # DELETE: the refresh function revokes, then deletes (its failures come back as problems)
    ("DELETE", "/v1/connections/{connection_id}"): Answers(errors=(*_TOKEN, Conflict, RateLimited)),
    ("POST", "/v1/connections/{connection_id}/refresh"): Answers(errors=(*_TOKEN, Conflict, RateLimited)),
    # test: 200 with ok:false for the provider's failures; 409 while pending
    ("POST", "/v1/connections/{connection_id}/test"): Answers(errors=(NotFound, ConfirmationRequired)),
    ("GET", "/v1/connections/{connection_id}/token"): Answers(errors=(*_TOKEN, TokenExposureDisabled)),
    # -- the proxy: the provider's answer comes back unchanged, whatever its status ---------------
    ("*", "/v1/connections/{connection_id}/proxy/{path}"): Answers(
        errors=(*_PROVIDER_CALL, InvalidPath, UnknownMethod, ProxyNotSupported, PayloadTooLarge),
        passthrough=True,
        request_body={
            "required": False,
            "description": "forwarded to the provider as it is (with its Content-Type)",
            "content": {"*/*": {"schema": {}}},
        },
        success={
            "default": {
                "description": "The provider's response (status, body and content headers), unchanged",
                "content": {"*/*": {"schema": {}}},
            }
        },
    ),
    # -- Gmail and Contacts ------------------------------------------------------------------------
    ("GET", "/v1/connections/{connection_id}/gmail/messages"): Answers(
        errors=(*_TYPED_CALL, ValidationFailed)
    ),
    ("GET", "/v1/connections/{connection_id}/gmail/messages/{message_id}"): Answers(
        errors=(*_TYPED_CALL, ValidationFailed)
    ),
    # send: Idempotency-Key reused with another body 422, still in progress 409 (Retry-After);
    # the message over its size limit, or the request over Lambda's, 413
    ("POST", "/v1/connections/{connection_id}/gmail/messages"): Answers(
        errors=(*_TYPED_CALL, ValidationFailed, IdempotencyKeyReused, MessageTooLarge, PayloadTooLarge),
        success_headers=("Idempotent-Replayed",),
        problem_headers={409: ("Retry-After",)},
    ),
    ("GET", "/v1/connections/{connection_id}/contacts"): Answers(errors=(*_TYPED_CALL, ValidationFailed)),
    # -- Google security events (public: the token's signature is the credential) -----------------
    # 400: a token failing a check, or a replayed jti (nothing changed); 503: the transmitter's keys
    # could not be loaded, or a dependency failed (the claim released: deliver again)
    ("POST", "/v1/google/risc"): Answers(
        public=True,
        errors=(
            InvalidSecurityEvent,
            ReplayedSecurityEvent,
            ServiceUnavailable,
            ServiceMisconfigured,
            BrokerError,
        ),
        request_body={
            "required": True,
            "description": "one security event token (RFC 8417), signed by Google's RISC transmitter",
            "content": {"application/secevent+jwt": {"schema": {"type": "string"}}},
        },
        success={"202": {"description": "accepted: its events are applied to the connections"}},
    ),
    # -- Gmail push: the watch of a connection's mailbox (the proxy function) ---------------------
    # PUT: users.watch with the connection's token; 409 `gmail_push_not_configured` when the tenant
    # has no gmail_push settings; 403 `scope_not_granted` without a Gmail read scope
    ("PUT", "/v1/connections/{connection_id}/gmail/watch"): Answers(
        errors=(*_TYPED_CALL, ValidationFailed, GmailPushNotConfigured)
    ),
    # GET: the stored watch (404 when the connection has none)
    ("GET", "/v1/connections/{connection_id}/gmail/watch"): Answers(errors=(*_TYPED_CALL, ValidationFailed)),
    # DELETE: users.stop, then the watch item is removed
    ("DELETE", "/v1/connections/{connection_id}/gmail/watch"): Answers(
        errors=(*_TYPED_CALL, ValidationFailed), success={"204": {"description": "the watch is stopped"}}
    ),
    # -- Gmail push notifications (public: the push's Google-signed OIDC token is the credential) -
    # 400: not a Pub/Sub push of {emailAddress, historyId}; 401: the token missing, forged, expired
    # or of another issuer; 403: no watching tenant's push_audience and push_service_account match
    # (nothing read in either case); 503: Google's keys or a dependency failed (Pub/Sub delivers
    # again)
    ("POST", "/v1/google/gmail-push"): Answers(
        public=True,
        errors=(
            InvalidPushMessage,
            InvalidPushToken,
            PushNotAuthorized,
            ServiceUnavailable,
            ServiceMisconfigured,
            BrokerError,
        ),
        request_body={
            "required": True,
            "description": "a Cloud Pub/Sub push message: `{message: {data, messageId, publishTime}, "
            "subscription}`, `data` the base64 of Gmail's `{emailAddress, historyId}`",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        success={
            "204": {
                "description": "received: the watching connections' new messages are announced "
                "(gmail.messages_added), or there was nothing new"
            }
        },
    ),
}
