"""What a JSON route refuses before validation: a body it cannot read as JSON text.

Powertools parses a route's body by its `Content-Type`: JSON (or none), form or multipart. Any
other type raised `RequestUnsupportedContentType`, a multipart type without a boundary a bare
`ValueError`, and a body that is not UTF-8 a `UnicodeDecodeError` while it was decoded: each
reached the catch-all as a 500 (found by the fuzzer), and a form or multipart body was read as if
it were the JSON object. And a body that is not JSON text was a 422 whose field error named the
character offset as if it were a field (`"detail": "invalid: 25"`, `loc: ["body", "25"]`).

The API reads JSON only (API.md "Conventions"). `JsonBodiesOnly`, the resolver's request
validation, is the one place every route's body is read:
- another Content-Type: 415 `unsupported_media_type`, before Powertools parses anything;
- a body that is not JSON text (bad syntax, or bytes that are not UTF-8, RFC 8259 section 8.1):
  400 `invalid_json`, saying where parsing failed as a person counts ("Expecting ',' delimiter at
  line 1, column 26", and `line`, `column`), never quoting the body (it may hold a secret);
- an empty body is no body: 422 `missing` on `body` where one is required;
- JSON of the wrong shape (an array or a string where an object is expected included) stays a
  422 `validation_error` naming the fields.
Routes without a body (the proxy's pass-through forwards any type, as it is) are not concerned:
Powertools reads a body only for routes that declare one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType

from oauth_broker.errors import BrokerError, InvalidJson, UnsupportedMediaType

__all__ = [
    "JsonBodiesOnly",
    "invalid_json",
    "is_json_media_type",
    "not_utf8",
    "raw_text_body",
    "unsupported_media_type",
]


def is_json_media_type(content_type: str) -> bool:
    """No Content-Type (read as JSON, as Powertools does), or `application/json` with parameters."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in ("", "application/json")


class JsonBodiesOnly(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading a route's body only when it is JSON text."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        if not is_json_media_type(app.current_event.headers.get("content-type") or ""):
            raise RequestUnsupportedContentType("Unsupported content type", errors=[])
        body: dict[str, Any] = super()._get_body(app)
        return body

    def _parse_json_data(self, app: Any) -> dict[str, Any]:
        try:
            body: dict[str, Any] = app.current_event.json_body  # None when empty
        except json.JSONDecodeError as exc:
            raise invalid_json(exc) from None
        except UnicodeDecodeError as exc:  # API Gateway delivered the bytes base64-encoded
            raise not_utf8(exc) from None
        return body


def unsupported_media_type() -> UnsupportedMediaType:
    return UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")


def invalid_json(exc: json.JSONDecodeError) -> InvalidJson:
    """Where parsing failed, as a person counts (line and column from 1); never the body itself."""
    return _invalid(exc.msg, exc.lineno, exc.colno)


def not_utf8(exc: UnicodeDecodeError) -> InvalidJson:
    """Where the first byte that is not UTF-8 is (the text before it is, by definition)."""
    before = bytes(exc.object[: exc.start]).decode("utf-8")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return _invalid(f"byte 0x{exc.object[exc.start]:02x} is not UTF-8", line, column)


def _invalid(reason: str, line: int, column: int) -> InvalidJson:
    return InvalidJson(
        f"the request body is not valid JSON: {reason} at line {line}, column {column}",
        line=line,
        column=column,
    )


def raw_text_body(
    event: Mapping[str, Any], *, max_chars: int, refused: BrokerError, encoding: str = "utf-8"
) -> str:
    """The body of a route that reads its own (Google's RISC and Gmail push receivers: whatever
    the Content-Type says, only the body's signature or token decides), as text, base64-decoded
    when API Gateway encoded it. `refused` is raised for a body that is not text of `encoding` or
    is longer than `max_chars`."""
    raw = event.get("body") or ""
    if not isinstance(raw, str) or len(raw) > max_chars:
        raise refused
    if not event.get("isBase64Encoded"):
        return raw
    import base64

    try:
        return base64.b64decode(raw).decode(encoding)
    except (ValueError, UnicodeDecodeError):
        raise refused from None
