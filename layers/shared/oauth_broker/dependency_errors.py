"""The one place a fault of the broker's own AWS dependencies becomes an answer a client can act on.

DynamoDB, KMS, EventBridge and Lambda fail in three ways that matter to a caller:

- **retry helps** (throttling, the service's 5xx, a timeout or a dropped connection): 503
  `service_unavailable` with `Retry-After`;
- **the key is switched off** (KMS `DisabledException`, `KMSInvalidStateException`,
  `NotFoundException`): 503 `service_unavailable` with a longer `Retry-After`, since an operator
  must re-enable it and nothing the caller sent is wrong;
- **the deployment denies the call** (`AccessDeniedException` and its kin): 500
  `service_misconfigured`: retrying does not help, the operator must fix IAM or the key policy.

`dependency_error(exc)` looks at the exception and the chain it was raised `from` (the crypto
layer wraps botocore's in `KeyServiceError`/`DecryptionError`) and returns the `BrokerError` to
answer, or None for anything else (a bug: `internal_error`). The resolver's catch-all, the browser
routes and the refresh function's invocation contract all call it; no route catches AWS errors
itself. Only the error's code, type and operation are logged, never its message (it may quote
request data).
"""

from __future__ import annotations

from typing import Final

from oauth_broker.clients import THROTTLING_CODES
from oauth_broker.errors import BrokerError, ServiceMisconfigured, ServiceUnavailable

RETRY_AFTER_SECONDS: Final = 1
KEY_DISABLED_RETRY_AFTER_SECONDS: Final = 30

# Throttling, and a transaction lost to another (the next attempt wins): retry helps.
_THROTTLING: Final = THROTTLING_CODES | {"TransactionConflictException", "TransactionInProgressException"}
_SERVER: Final = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "InternalException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",  # KMS: key material temporarily unavailable
        "ServiceException",  # Lambda
    }
)
_KEY_SWITCHED_OFF: Final = frozenset({"DisabledException", "KMSInvalidStateException", "NotFoundException"})
_DENIED: Final = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "KMSAccessDeniedException"}
)


def dependency_error(exc: BaseException) -> BrokerError | None:
    """The answer for an AWS dependency's fault found in `exc` or its causes; None if there is none."""
    from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
    from botocore.exceptions import ConnectionError as AwsConnectionError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            return _from_client_error(current)
        if isinstance(current, HTTPClientError | AwsConnectionError):  # timeouts, refused, dropped
            return ServiceUnavailable(
                "a service the broker depends on did not answer in time; retry shortly",
                reason="dependency_timeout",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if isinstance(current, NoCredentialsError):
            return ServiceMisconfigured("the broker's deployment has no credentials for a service it uses")
        current = current.__cause__
    return None


def _from_client_error(err: object) -> BrokerError | None:
    response = getattr(err, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    if code in _THROTTLING:
        return ServiceUnavailable(
            "a service the broker depends on is throttling requests; retry shortly",
            reason="dependency_throttled",
            retry_after=RETRY_AFTER_SECONDS,
        )
    if code in _KEY_SWITCHED_OFF:
        return ServiceUnavailable(
            "the broker's encryption key is not usable now; retry later",
            reason="key_unavailable",
            retry_after=KEY_DISABLED_RETRY_AFTER_SECONDS,
        )
    if code in _DENIED:
        return ServiceMisconfigured("the broker's deployment is not allowed to use a service it needs")
    if code in _SERVER or status >= 500:
        return ServiceUnavailable(
            "a service the broker depends on failed; retry shortly",
            reason="dependency_failed",
            retry_after=RETRY_AFTER_SECONDS,
        )
    return None


def dependency_fault_code(exc: BaseException) -> str | None:
    """The AWS error code (or botocore exception type) behind `exc`, for a log line; never a message."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            return str(current.response.get("Error", {}).get("Code") or "ClientError")
        if isinstance(current, BotoCoreError):
            return type(current).__name__
        current = current.__cause__
    return None
