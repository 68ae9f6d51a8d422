"""`Idempotency-Key` for writes through the broker (the typed Gmail send), with Powertools'
idempotency utility on the broker's own table.

Records live at `IDEM#{key prefix}#{sha256}` / `IDEM` (their own partitions, not one hot one),
with the `ttl` attribute as Powertools' expiry (24 hours), so DynamoDB deletes them. The hashed key
is scoped to tenant + connection + the caller's key: two tenants (or two connections) using the
same key never meet. The request body is hashed too (payload validation): the same key with a
different body is refused with 422 `idempotency_key_reused`; while the first request is still in
flight, a second one gets 409 `conflict`. A replay returns the stored response and is marked
(`replayed`). A failed call (an exception) leaves no record, so the caller may retry it.

Powertools (and jmespath) are imported here only, on the first idempotent call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oauth_broker.errors import Conflict, IdempotencyKeyReused, ValidationFailed

if TYPE_CHECKING:
    from oauth_broker.services import Services

__all__ = ["IdempotentOutcome", "check_idempotency_key", "run_idempotent"]

EXPIRES_AFTER_SECONDS = 24 * 3600
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_REPLAYED = "__idempotent_replay__"


@dataclass(frozen=True)
class IdempotentOutcome:
    result: dict[str, Any]
    replayed: bool


def check_idempotency_key(value: str | None) -> str | None:
    """The header's value, or 422 when it is not 1-255 printable ASCII characters."""
    if value is None:
        return None
    if not _KEY_RE.match(value):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
            errors=[
                {
                    "loc": ["header", "idempotency-key"],
                    "msg": "invalid idempotency key",
                    "type": "value_error",
                }
            ],
        )
    return value


def _store(services: Services) -> Any:
    def build() -> Any:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        class BrokerIdempotencyStore(DynamoDBPersistenceLayer):
            """Powertools' DynamoDB layer on the broker's table: `IDEM#{hash}` / `IDEM` keys."""

            def _get_key(self, idempotency_key: str) -> dict[str, Any]:
                return {"pk": {"S": f"IDEM#{idempotency_key}"}, "sk": {"S": "IDEM"}}

            def _item_to_data_record(self, item: dict[str, Any]) -> Any:
                record = super()._item_to_data_record(item)
                record.idempotency_key = str(record.idempotency_key).removeprefix("IDEM#")
                return record

        return BrokerIdempotencyStore(
            table_name=services.config.table_name,
            key_attr="pk",
            sort_key_attr="sk",
            expiry_attr="ttl",
            boto3_client=services.dynamodb,
        )

    return services.singleton("proxy.idempotency_store", build)


def _mark_replay(response: Any, idempotent_data: Any) -> Any:
    return {**response, _REPLAYED: True} if isinstance(response, dict) else response


def run_idempotent(
    services: Services,
    *,
    prefix: str,
    scope: str,
    payload: Mapping[str, Any],
    call: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> IdempotentOutcome:
    """Runs `call` once per (`prefix`, `scope`) within 24 hours; replays its result after that.

    `scope` must already bind tenant, connection and the caller's key; `payload` is the request
    body the key was first used with.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        hash_function="sha256",
        response_hook=_mark_replay,
    )
    if lambda_context is not None and hasattr(lambda_context, "get_remaining_time_in_millis"):
        config.register_lambda_context(lambda_context)

    def once(request: dict[str, Any]) -> dict[str, Any]:
        return call()

    wrapped = idempotent_function(
        once,
        data_keyword_argument="request",
        persistence_store=_store(services),
        config=config,
        key_prefix=prefix,
    )
    try:
        result: dict[str, Any] = wrapped(request={"scope": scope, "body": dict(payload)})
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request body; use a new key"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly",
            headers={"Retry-After": "1"},
        ) from None
    replayed = bool(result.pop(_REPLAYED, False))
    return IdempotentOutcome(result, replayed)
