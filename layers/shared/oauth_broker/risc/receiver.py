"""One delivery of a security event token: verify it, claim its `jti`, apply its events, all
within the request (API.md "Google security events").

A token that fails a check is refused (400 `invalid_security_event`, its reason in the log only,
never the token) and a replayed `jti` too (400 `replayed_event`): nothing changes either way.
Signing keys that cannot be loaded are not the token's fault: 503 with `Retry-After`, and the
transmitter delivers again. A delivery whose changes failed half-way releases its claim before the
error answers (`replay`), so the retry redoes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oauth_broker.errors import (
    InvalidSecurityEvent,
    ReplayedSecurityEvent,
    ServiceMisconfigured,
    ServiceUnavailable,
)
from oauth_broker.observability import logger
from oauth_broker.risc.events import EventOutcome, apply_event, parse_events
from oauth_broker.risc.replay import claim_event, release_event
from oauth_broker.risc.verify import (
    RiscKeys,
    RiscKeysUnavailable,
    SecurityEventRefused,
    verify_security_event,
)

__all__ = ["RISC_PROVIDER", "Receipt", "receive_security_event", "risc_keys"]

RISC_PROVIDER = "google"  # the catalog provider whose `risc` settings name the transmitter
KEYS_RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True)
class Receipt:
    jti: str
    outcomes: tuple[EventOutcome, ...]


def risc_keys(services: Any) -> RiscKeys:
    """The transmitter's keys (one cache per process), from the catalog's `google.risc`."""
    provider = services.catalog.get(RISC_PROVIDER)
    settings = provider.risc
    if settings is None:
        raise ServiceMisconfigured("the google provider has no RISC settings in the catalog")
    keys: RiscKeys = services.singleton(
        f"risc_keys:{settings.configuration_url}:{settings.issuer}",
        lambda: RiscKeys(settings.configuration_url, settings.issuer, services.http),
    )
    return keys


def receive_security_event(services: Any, body: str, *, now: Callable[[], float] = time.time) -> Receipt:
    keys = risc_keys(services)

    def audience_known(client_id: str) -> bool:
        return bool(services.oauth_clients.tenants_with_client_id(client_id))

    try:
        token = verify_security_event(
            body.strip(), keys=keys.key_set, issuer=keys.issuer, audience_known=audience_known, now=now
        )
        events = parse_events(token)
    except SecurityEventRefused as err:
        logger.warning("security event refused", extra={"reason": err.reason})
        raise InvalidSecurityEvent(
            "the security event token failed verification; nothing was changed"
        ) from None
    except RiscKeysUnavailable as err:
        logger.error("security event keys unavailable", extra={"error": str(err)})
        raise ServiceUnavailable(
            "the transmitter's signing keys could not be loaded; deliver again later",
            retry_after=KEYS_RETRY_AFTER_SECONDS,
        ) from None
    if not claim_event(services.table, token.jti, audience=token.audience, now=now()):
        logger.warning("security event replayed", extra={"jti": token.jti})
        raise ReplayedSecurityEvent("this security event was already received; nothing was changed")
    try:
        outcomes = tuple(apply_event(services, token, event) for event in events)
    except Exception as exc:
        logger.warning(
            "security event not fully applied: claim released for the retry",
            extra={"jti": token.jti, "error_type": type(exc).__name__},
        )
        try:
            release_event(services.table, token.jti)
        except Exception as release_exc:
            logger.error(
                "security event claim not released",
                extra={"jti": token.jti, "error_type": type(release_exc).__name__},
            )
        raise
    logger.info(
        "security event received",
        extra={
            "jti": token.jti,
            "event_types": [o.event for o in outcomes],
            "connections": sum(o.connections for o in outcomes),
            "changed": sum(o.changed for o in outcomes),
        },
    )
    return Receipt(token.jti, outcomes)
