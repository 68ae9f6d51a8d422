"""`Table`: a thin typed wrapper over the low-level DynamoDB client.

Items go in and out as plain Python dicts; a failed condition becomes `Conflict` unless the
caller asks for the raw outcome. Every racy write in the broker goes through `put`/`update`/
`delete` with a condition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from oauth_broker.errors import Conflict

_ser = TypeSerializer()
_deser = TypeDeserializer()


def _to_ddb(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_ddb(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_ddb(v) for v in value]
    return value


def _from_ddb(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_ddb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_ddb(v) for v in value]
    if isinstance(value, set):
        return {_from_ddb(v) for v in value}
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_to_ddb(v)) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_ddb(_deser.deserialize(v)) for k, v in item.items()}


def _values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _ser.serialize(_to_ddb(v)) for k, v in (values or {}).items()}


class ConditionFailed(Conflict):
    """A conditional write's condition did not hold. `failed_at`: for a transaction, the indexes of
    the operations whose condition failed (empty: it lost to a concurrent transaction)."""

    failed_at: tuple[int, ...] = ()


class Table:
    def __init__(self, name: str, client: Any = None):
        if client is None:
            from oauth_broker.clients import aws_client

            client = aws_client("dynamodb")
        self.name = name
        self.client = client

    # -- reads -------------------------------------------------------------------------------
    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        resp = self.client.get_item(
            TableName=self.name, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        item = resp.get("Item")
        return deserialize(item) if item else None

    def query(
        self,
        key_condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
        index: str | None = None,
        limit: int | None = None,
        start_key: Mapping[str, Any] | None = None,
        forward: bool = True,
        filter_expression: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page: (items, last evaluated key or None)."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": _values(values),
            "ScanIndexForward": forward,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if index:
            kwargs["IndexName"] = index
        if limit:
            kwargs["Limit"] = limit
        if start_key:
            kwargs["ExclusiveStartKey"] = serialize(start_key)
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        resp = self.client.query(**kwargs)
        last = resp.get("LastEvaluatedKey")
        return [deserialize(i) for i in resp.get("Items", [])], (deserialize(last) if last else None)

    def query_all(
        self, key_condition: str, values: Mapping[str, Any], **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            items, start = self.query(key_condition, values, start_key=start, **kwargs)
            yield from items
            if not start:
                return

    # -- writes ------------------------------------------------------------------------------
    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        self._condition(kwargs, condition, values, names)
        self._write(self.client.put_item, kwargs)

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        *,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        condition: str | None = None,
        return_values: str = "ALL_NEW",
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize({"pk": pk, "sk": sk}),
            "UpdateExpression": expression,
            "ReturnValues": return_values,
        }
        self._condition(kwargs, condition, values, names)
        resp = self._write(self.client.update_item, kwargs)
        return deserialize(resp.get("Attributes", {}))

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        return_old: bool = False,
    ) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": serialize({"pk": pk, "sk": sk})}
        if return_old:
            kwargs["ReturnValues"] = "ALL_OLD"
        self._condition(kwargs, condition, values, names)
        resp = self._write(self.client.delete_item, kwargs)
        old = resp.get("Attributes")
        return deserialize(old) if old else None

    # -- transactions ------------------------------------------------------------------------
    def put_op(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A `Put` of `transact_write`."""
        op: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        self._condition(op, condition, values, names)
        return {"Put": op}

    def check_op(
        self,
        pk: str,
        sk: str,
        condition: str,
        *,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A `ConditionCheck` of `transact_write`: the item must satisfy `condition`."""
        return self._key_op("ConditionCheck", pk, sk, condition, values, names)

    def delete_op(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A `Delete` of `transact_write`."""
        return self._key_op("Delete", pk, sk, condition, values, names)

    def _key_op(
        self,
        kind: str,
        pk: str,
        sk: str,
        condition: str | None,
        values: Mapping[str, Any] | None,
        names: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        op: dict[str, Any] = {"TableName": self.name, "Key": serialize({"pk": pk, "sk": sk})}
        self._condition(op, condition, values, names)
        return {kind: op}

    def transact_write(self, operations: list[dict[str, Any]]) -> None:
        """One TransactWriteItems (all or nothing). A failed condition, or a transaction lost to a
        concurrent one on the same items (`TransactionConflict`), raises `ConditionFailed` with
        `failed_at`: the indexes of the operations whose condition failed."""
        try:
            self.client.transact_write_items(TransactItems=operations)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            codes = [str(r.get("Code") or "None") for r in reasons]
            if not {"ConditionalCheckFailed", "TransactionConflict"} & set(codes):
                raise
            failed = ConditionFailed("the item changed concurrently; retry with fresh data")
            failed.failed_at = tuple(i for i, c in enumerate(codes) if c == "ConditionalCheckFailed")
            raise failed from None

    @staticmethod
    def _condition(
        kwargs: dict[str, Any],
        condition: str | None,
        values: Mapping[str, Any] | None,
        names: Mapping[str, str] | None,
    ) -> None:
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = _values(values)
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)

    def _write(self, call: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = call(**kwargs)
            return result
        except self.client.exceptions.ConditionalCheckFailedException:
            raise ConditionFailed("the item changed concurrently; retry with fresh data") from None
