"""Opaque pagination cursors (`?cursor=`), bound to the partition they page through."""

from __future__ import annotations

import base64
import json
from typing import Any

from oauth_broker.errors import ValidationFailed


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, partition_attr: str, partition_value: str) -> dict[str, Any] | None:
    """The start key, checked to belong to the partition being queried (a cursor can't reach elsewhere)."""
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get(partition_attr) != partition_value:
        raise ValidationFailed(
            "cursor is not valid for this listing",
            errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
        )
    return data
