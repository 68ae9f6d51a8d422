"""Factories for the process's SDK and HTTP clients: created once, injected everywhere.

boto3 honours `AWS_ENDPOINT_URL` (the local runtime points it at moto's server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from oauth_broker.outbound import OutboundGuard

_CONNECT_TIMEOUT = 3.0
_LIMITS = {"max_connections": 50, "max_keepalive_connections": 20}


def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    make: Any = boto3.client
    client = make(
        service,
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=10,
            # the sweep refreshes with a thread pool: one pooled connection per worker
            max_pool_connections=32,
        ),
    )
    count_throttles(client)
    return client


# An AWS error code that means "too many requests" (the SDK retries it, then gives up).
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",  # KMS: the request rate quota
    }
)
# botocore's service ids -> the metric's `dependency` values
_DEPENDENCY = {"dynamodb": "dynamodb", "kms": "kms", "eventbridge": "events", "sqs": "sqs"}


def count_throttles(client: Any) -> None:
    """Counts every throttled attempt of `client`'s calls, retried or not, as the metric
    `dependency_throttles` (KMS publishes no throttle metric of its own; DynamoDB's counts only
    what the table saw). botocore's `needs-retry` event fires once per attempt; the hook only
    looks and lets the SDK's retry handler decide."""
    dependency = _DEPENDENCY.get(client.meta.service_model.service_id.hyphenize())
    if dependency is None:
        return

    def on_attempt(response: Any = None, **_: Any) -> None:
        if not response:
            return
        parsed = response[1] if len(response) > 1 else None
        code = ((parsed or {}).get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
        if code in THROTTLING_CODES:
            from oauth_broker.observability import metric

            metric("dependency_throttles", dependency=dependency)

    client.meta.events.register("needs-retry", on_attempt)


def http_client(
    transport: httpx.BaseTransport | None = None, *, guard: OutboundGuard | None = None
) -> httpx.Client:
    """One pooled client per container; per-request timeouts are set by the caller.

    Every connection it opens goes through the outbound guard (`oauth_broker.outbound`): the
    address actually connected to is checked, so no call (Google's, a tenant's custom provider,
    a webhook) reaches a loopback, private, link-local or metadata address; `guard` carries the
    deployment's loopback allowance and resolver (default: no loopback, the system's DNS).
    Tests inject `transport` instead (in-process fakes, no network).

    It keeps no cookies: the client is shared by every user's requests, so a `Set-Cookie` from a
    provider in answer to one user's call must never ride along on the next user's call.
    """
    from http.cookiejar import DefaultCookiePolicy

    import httpx

    if transport is None:
        from oauth_broker.outbound import OutboundGuard

        transport = (guard or OutboundGuard()).transport(limits=httpx.Limits(**_LIMITS))
    client = httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(10.0, connect=_CONNECT_TIMEOUT),
        limits=httpx.Limits(**_LIMITS),
        follow_redirects=False,
        headers={"User-Agent": "oauth-broker/0.1"},
    )
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client
