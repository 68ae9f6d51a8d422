"""Domain errors. Each maps to one RFC 9457 problem document in `oauth_broker.http.problems`.

Messages are written for the API's callers: never a secret, never a stack trace.
"""

from __future__ import annotations

from typing import Any


class BrokerError(Exception):
    """Base of every error the broker reports to a caller."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra


class ValidationFailed(BrokerError):
    status, code, title = 422, "validation_error", "Validation failed"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail, errors=errors or [], **extra)


class BadRequest(BrokerError):
    status, code, title = 400, "bad_request", "Bad request"


class InvalidJson(BadRequest):
    """A request body that is not JSON text: the detail says where parsing failed (line, column)."""

    code, title = "invalid_json", "Invalid JSON"


class InvalidSecurityEvent(BadRequest):
    """A security event token (Google RISC) that fails a check: signature, `iss`, `aud`, `iat`,
    claims. Nothing was changed; why is logged, never answered."""

    code, title = "invalid_security_event", "Invalid security event token"


class InvalidPushMessage(BadRequest):
    """A Gmail push whose body is not a Pub/Sub push message carrying `{emailAddress, historyId}`."""

    code, title = "invalid_push_message", "Invalid push message"


class ReplayedSecurityEvent(BadRequest):
    """A security event token whose `jti` was already received: it was acted on once, and this
    delivery changed nothing."""

    code, title = "replayed_event", "Security event already received"


class Unauthorized(BrokerError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class InvalidPushToken(Unauthorized):
    """A Gmail push (Cloud Pub/Sub push subscription) whose OIDC token is missing, malformed,
    forged, expired or from another issuer. Nothing was read; why is logged, never answered."""

    code, title = "invalid_push_token", "Invalid push token"


class Forbidden(BrokerError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(BrokerError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(BrokerError):
    """A conditional write lost, or the request conflicts with the current state."""

    status, code, title = 409, "conflict", "Conflict"


class GmailPushNotConfigured(Conflict):
    """A Gmail watch asked for in a tenant without `gmail_push` settings (PATCH /v1/settings)."""

    code, title = "gmail_push_not_configured", "Gmail push not configured"


class NeedsReauth(BrokerError):
    status, code, title = 409, "needs_reauth", "Connection needs re-authorization"


class ConfirmationRequired(BrokerError):
    """A connection whose connect flow has not been confirmed by the user who started it."""

    status, code, title = 409, "confirmation_required", "Connection awaits confirmation"


class PushNotAuthorized(Forbidden):
    """A Gmail push with a valid Google token whose `aud` and `email` match no tenant's
    `gmail_push` settings among those watching the mailbox. Nothing was read."""

    code, title = "push_not_authorized", "Push not authorized"


class ApiKeyRevoked(Forbidden):
    """An API key deleted since the authorizer's (cached) decision, refused on an admin write."""

    code, title = "api_key_revoked", "API key revoked"


class ProviderDisabled(BrokerError):
    status, code, title = 403, "provider_disabled", "Provider disabled"


class ScopeNotGranted(BrokerError):
    status, code, title = 403, "scope_not_granted", "Scope not granted"


class UnsupportedMediaType(BrokerError):
    """A request body in a media type the route does not read (its routes read JSON)."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class RateLimited(BrokerError):
    status, code, title = 429, "rate_limited", "Too many requests"


class UpstreamError(BrokerError):
    status, code, title = 502, "upstream_error", "Upstream error"


class ServiceUnavailable(BrokerError):
    """One of the broker's own dependencies (DynamoDB, KMS, EventBridge, Lambda) is throttling,
    failing or unreachable: nothing was changed that the next attempt would not redo or recover,
    and retrying after `Retry-After` seconds helps (`oauth_broker.dependency_errors`)."""

    status, code, title = 503, "service_unavailable", "Service temporarily unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: Any):
        headers = extra.pop("headers", None) or {"Retry-After": str(retry_after)}
        super().__init__(detail, headers=headers, **extra)


class ServiceMisconfigured(BrokerError):
    """The broker's deployment refuses it a dependency (an IAM or key policy denies a call): a
    retry does not help, the operator must fix the deployment (the log names the call)."""

    status, code, title = 500, "service_misconfigured", "Service misconfigured"


class ResponseTooLarge(BrokerError):
    status, code, title = 502, "response_too_large", "Upstream response too large"


# -- the proxy, Gmail and Contacts ---------------------------------------------------------------


class InvalidPath(BadRequest):
    """A proxy path that could leave the provider's API (dot segments, encoded slashes, other hosts)."""

    code, title = "invalid_path", "Invalid proxy path"


class UnknownMethod(BadRequest):
    """A proxy path and HTTP method that match no method of the provider's scope table."""

    code, title = "unknown_method", "Unknown API method"


class ProxyNotSupported(BadRequest):
    code, title = "proxy_not_supported", "The provider has no API to proxy to"


class ProviderMismatch(BadRequest):
    """A typed route (Gmail, Contacts) called on a connection of another provider."""

    code, title = "provider_mismatch", "Wrong provider for this route"


class PayloadTooLarge(BrokerError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class MessageTooLarge(PayloadTooLarge):
    """A Gmail message (bodies and attachments) over the send limit; `errors` name the fields."""

    code = "message_too_large"


class UpstreamTimeout(BrokerError):
    status, code, title = 504, "upstream_timeout", "Upstream timeout"


class TokenExposureDisabled(Forbidden):
    code, title = "token_exposure_disabled", "Access token exposure is disabled"


class IdempotencyKeyReused(BrokerError):
    """The same Idempotency-Key was sent with a different request body."""

    status, code, title = 422, "idempotency_key_reused", "Idempotency key reused"


class ConfigurationError(Exception):
    """The function's environment is missing or malformed: fails the cold start."""
