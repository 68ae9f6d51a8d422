"""Opaque pagination cursors (`?cursor=`), bound to the partition they page through."""

from __future__ import annotations

import base64
import json
from typing import Any, TypeGuard

from oauth_broker.errors import ValidationFailed

# DynamoDB's limits on a key attribute's value (bytes of UTF-8): a partition key, a sort key.
_MAX_PARTITION_KEY_BYTES = 2048
_MAX_SORT_KEY_BYTES = 1024


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key_attributes(partition_attr: str) -> dict[str, int]:
    """The start key's attributes and each one's size limit: the table's `pk`/`sk`, plus the
    index's `<name>_pk`/`<name>_sk` when the listing queries an index."""
    attrs = {"pk": _MAX_PARTITION_KEY_BYTES, "sk": _MAX_SORT_KEY_BYTES}
    if partition_attr != "pk":
        attrs[partition_attr] = _MAX_PARTITION_KEY_BYTES
        attrs[partition_attr.removesuffix("_pk") + "_sk"] = _MAX_SORT_KEY_BYTES
    return attrs


def _is_start_key(data: Any, partition_attr: str) -> TypeGuard[dict[str, Any]]:
    """Exactly the key attributes, each a non-empty string DynamoDB accepts (anything else would
    be refused by DynamoDB, or by the serializer before it, as a server error)."""
    attrs = _key_attributes(partition_attr)
    if not isinstance(data, dict) or set(data) != set(attrs):
        return False
    for name, limit in attrs.items():
        value = data[name]
        if not isinstance(value, str):
            return False
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800")
            return False
        if not 0 < size <= limit:
            return False
    return True


def decode_cursor(cursor: str | None, *, partition_attr: str, partition_value: str) -> dict[str, Any] | None:
    """The start key, checked to belong to the partition being queried (a cursor can't reach
    elsewhere) and to have the shape of a key of the table (or of the index `partition_attr` is
    the partition key of: `<name>_pk`, `<name>_sk`); anything else is a 422."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        data = None
    if not _is_start_key(data, partition_attr) or data.get(partition_attr) != partition_value:
        raise ValidationFailed(
            "cursor is not valid for this listing",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
        )
    return data
