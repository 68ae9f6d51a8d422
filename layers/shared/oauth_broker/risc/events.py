"""What each Google security event does to the connections it concerns (API.md "Google security
events"), within the request that delivers it.

The connections are those of the account (`sub`) through the OAuth client the token is addressed
to (`aud`, the client id at Google), in every tenant that registered it (`ConnectionStore.by_account`:
the ByProviderClient index); for `token-revoked`, the one connection whose refresh token matches the
token identifier (`ConnectionStore.by_token_identifier`), if it is of that client.

- tokens-revoked: `revoked`, reason `provider_tokens_revoked` (`connection.revoked`);
- account-purged: `revoked`, reason `account_purged` (`connection.revoked`);
- token-revoked: the one connection `revoked`, reason `provider_token_revoked` (`connection.revoked`);
- account-disabled: `needs_reauth`, reason `account_disabled` (`connection.needs_reauth`); with the
  event's `reason` `hijacking`: `revoked`, reason `account_hijacked`, its stored tokens discarded
  (`connection.revoked`);
- sessions-revoked, account-enabled, account-credential-change-required: statuses unchanged,
  `connection.security_event` with `event_type` for each connection;
- verification: logged (with its `state`), nothing else. An unknown type: logged, ignored.

Every event published carries `event_type` (the short name above).

Each status change is a compare-and-set write (re-read and retried on a lost race) to a target
state, so redoing an event changes nothing twice; each change publishes its event (bus and the
tenant's webhook) and appends an audit record with actor `system`. A connection already in the
target state is left alone and announced again by nothing. A `revoked` connection stays revoked
(an account-disabled event does not turn it into `needs_reauth`), except one revoked only while
its provider is disabled: a security event revokes it for good (re-enabling will not restore it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from oauth_broker import audit
from oauth_broker.observability import logger
from oauth_broker.risc.verify import SecurityEventRefused, SecurityEventToken
from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.timeutil import rfc3339

__all__ = [
    "EVENT_TYPES",
    "SecurityEvent",
    "TokenIdentifier",
    "apply_event",
    "parse_events",
]

_OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
_RISC = "https://schemas.openid.net/secevent/risc/event-type/"
# event type URI -> short name
EVENT_TYPES: dict[str, str] = {
    _OAUTH + "tokens-revoked": "tokens-revoked",
    _OAUTH + "token-revoked": "token-revoked",
    _RISC + "account-purged": "account-purged",
    _RISC + "account-disabled": "account-disabled",
    _RISC + "account-enabled": "account-enabled",
    _RISC + "sessions-revoked": "sessions-revoked",
    _RISC + "account-credential-change-required": "account-credential-change-required",
    _RISC + "verification": "verification",
}
REVOKING = {"tokens-revoked": "provider_tokens_revoked", "account-purged": "account_purged"}
NOTICES = frozenset({"sessions-revoked", "account-enabled", "account-credential-change-required"})
TOKEN_IDENTIFIER_ALGS = frozenset({"prefix", "hash_base64_sha512_sha512"})
TOKEN_REVOKED = "provider_token_revoked"
ACCOUNT_DISABLED = "account_disabled"
ACCOUNT_HIJACKED = "account_hijacked"
PROVIDER_DISABLED = "provider_disabled"
_ATTEMPTS = 5
_MAX_SUB = 255
_MAX_TOKEN = 4096


@dataclass(frozen=True)
class TokenIdentifier:
    """`token-revoked`'s subject: the refresh token's 16-character `prefix`, or the base64 of the
    SHA-512 of its SHA-512 (`hash_base64_sha512_sha512`). Never logged."""

    alg: str
    value: str

    def __repr__(self) -> str:  # a prefix is token material: never in a log or a traceback
        return f"TokenIdentifier(alg={self.alg!r})"


@dataclass(frozen=True)
class SecurityEvent:
    uri: str
    name: str | None  # the short name; None: a type the broker does not know (logged, ignored)
    sub: str | None = None
    token: TokenIdentifier | None = None
    reason: str | None = None
    state: str | None = None  # verification: the state the registration's test request chose


# Google spells the issuer-and-subject type `iss-sub` (RFC 8417's example); RFC 9493's subject
# identifiers spell it `iss_sub`. Both name the account by its `sub`.
ACCOUNT_SUBJECT_TYPES = frozenset({"iss-sub", "iss_sub", "id_token_claims"})


def _subject_sub(event: Mapping[str, Any]) -> str:
    subject = event.get("subject")
    if not isinstance(subject, dict) or subject.get("subject_type") not in ACCOUNT_SUBJECT_TYPES:
        raise SecurityEventRefused("subject")
    sub = subject.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > _MAX_SUB:
        raise SecurityEventRefused("subject")
    return sub


def _subject_token(event: Mapping[str, Any]) -> TokenIdentifier:
    subject = event.get("subject")
    if not isinstance(subject, dict) or subject.get("subject_type") != "oauth_token":
        raise SecurityEventRefused("subject")
    alg, value = subject.get("token_identifier_alg"), subject.get("token")
    if subject.get("token_type") != "refresh_token" or alg not in TOKEN_IDENTIFIER_ALGS:
        raise SecurityEventRefused("subject")
    if not isinstance(value, str) or not value or len(value) > _MAX_TOKEN:
        raise SecurityEventRefused("subject")
    return TokenIdentifier(str(alg), value)


def parse_events(token: SecurityEventToken) -> list[SecurityEvent]:
    """The token's events with their subjects; raises `SecurityEventRefused("subject")` for a known
    event without the subject it needs (checked before the event is claimed: nothing changes)."""
    parsed: list[SecurityEvent] = []
    for uri, event in token.events.items():
        name = EVENT_TYPES.get(uri)
        if name is None or name == "verification":
            state = event.get("state")
            parsed.append(SecurityEvent(uri, name, state=state[:256] if isinstance(state, str) else None))
        elif name == "token-revoked":
            parsed.append(SecurityEvent(uri, name, token=_subject_token(event)))
        else:
            reason = event.get("reason")
            parsed.append(
                SecurityEvent(
                    uri, name, sub=_subject_sub(event), reason=reason if isinstance(reason, str) else None
                )
            )
    return parsed


# -- target states ---------------------------------------------------------------------------------
Change = Callable[[ConnectionRecord], ConnectionRecord | None]


def _revoke(reason: str, *, discard_tokens: bool = False) -> Change:
    def change(rec: ConnectionRecord) -> ConnectionRecord | None:
        already = rec.status == ConnectionStatus.REVOKED and rec.status_reason != PROVIDER_DISABLED
        holds_tokens = rec.enc_access_token is not None or rec.enc_refresh_token is not None
        if already and not (discard_tokens and holds_tokens):
            return None
        update: dict[str, Any] = {
            "status": ConnectionStatus.REVOKED,
            "status_reason": reason,
            "status_before_disable": None,
            "status_reason_before_disable": None,
            "updated_at": rfc3339(),
        }
        if discard_tokens:
            update.update({"enc_access_token": None, "enc_refresh_token": None})
        return rec.model_copy(update=update)

    return change


def _needs_reauth(reason: str) -> Change:
    def change(rec: ConnectionRecord) -> ConnectionRecord | None:
        if rec.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.PARTIAL):
            return None
        return rec.model_copy(
            update={"status": ConnectionStatus.NEEDS_REAUTH, "status_reason": reason, "updated_at": rfc3339()}
        )

    return change


def _apply(services: Any, rec: ConnectionRecord, change: Change) -> ConnectionRecord | None:
    """CAS-writes `change(current)`, re-reading and retrying on a lost race. None: nothing to do."""
    saved: ConnectionRecord | None = services.connections.save_change(rec, change, attempts=_ATTEMPTS)
    return saved


# -- applying --------------------------------------------------------------------------------------
@dataclass
class EventOutcome:
    event: str
    connections: int = 0
    changed: int = 0


def _connections(services: Any, token: SecurityEventToken, event: SecurityEvent) -> list[ConnectionRecord]:
    if event.token is not None:
        found: ConnectionRecord | None = services.connections.by_token_identifier(
            event.token.alg, event.token.value
        )
        return [found] if found is not None and found.provider_client_id == token.audience else []
    assert event.sub is not None
    records: list[ConnectionRecord] = services.connections.by_account(token.audience, event.sub)
    return records


def _record(
    services: Any, saved: ConnectionRecord, action: str, event: SecurityEvent, reason: str | None
) -> None:
    audit.record_system(
        services,
        tenant=saved.tenant,
        action=action,
        resource_type="connection",
        resource_id=saved.id,
        details={"event_type": event.name, "reason": reason, "provider": saved.provider},
    )


def _change_each(
    services: Any,
    records: list[ConnectionRecord],
    event: SecurityEvent,
    change: Change,
    *,
    publish: str,
    reason: str,
    outcome: EventOutcome,
) -> None:
    action = f"connection.{publish}"
    for rec in records:
        saved = _apply(services, rec, change)
        if saved is None:
            continue
        outcome.changed += 1
        services.publisher.publish(publish, saved, reason=reason, event_type=event.name)
        _record(services, saved, action, event, reason)


def apply_event(services: Any, token: SecurityEventToken, event: SecurityEvent) -> EventOutcome:
    """Applies one verified, claimed event (see the module's table)."""
    outcome = EventOutcome(event=event.name or "unknown")
    if event.name is None or event.name == "verification":
        logger.info(
            "security event verification" if event.name else "security event of an unknown type ignored",
            extra={"event_type": event.uri[:256], "state": event.state},
        )
        return outcome
    records = _connections(services, token, event)
    outcome.connections = len(records)
    if event.name in REVOKING:
        reason = REVOKING[event.name]
        _change_each(
            services, records, event, _revoke(reason), publish="revoked", reason=reason, outcome=outcome
        )
    elif event.name == "token-revoked":
        _change_each(
            services,
            records,
            event,
            _revoke(TOKEN_REVOKED),
            publish="revoked",
            reason=TOKEN_REVOKED,
            outcome=outcome,
        )
    elif event.name == "account-disabled" and event.reason == "hijacking":
        _change_each(
            services,
            records,
            event,
            _revoke(ACCOUNT_HIJACKED, discard_tokens=True),
            publish="revoked",
            reason=ACCOUNT_HIJACKED,
            outcome=outcome,
        )
    elif event.name == "account-disabled":
        _change_each(
            services,
            records,
            event,
            _needs_reauth(ACCOUNT_DISABLED),
            publish="needs_reauth",
            reason=ACCOUNT_DISABLED,
            outcome=outcome,
        )
    elif event.name in NOTICES:
        for rec in records:
            services.publisher.publish("security_event", rec, event_type=event.name, reason=event.reason)
            _record(services, rec, "connection.security_event", event, event.reason)
    if outcome.changed or outcome.connections:
        logger.info(
            "security event applied",
            extra={
                "event_type": outcome.event,
                "connections": outcome.connections,
                "changed": outcome.changed,
            },
        )
    return outcome
