"""What a JSON route refuses before validation: a body it cannot read as JSON text.

Powertools parses a route's body by its `Content-Type`: JSON (or none), form or multipart. Any
other type raised `RequestUnsupportedContentType`, a multipart type without a boundary a bare
`ValueError`, and a body that is not UTF-8 a `UnicodeDecodeError` while it was decoded: each
reached the catch-all as a 500 (found by the fuzzer), and a form or multipart body was read as if
it were the JSON object. The API reads JSON only (API.md "Conventions"): `JsonBodiesOnly` refuses
every other type before Powertools parses it, with 415 `unsupported_media_type`; a body that is
not UTF-8 is 422 `validation_error` on `body`. Routes without a body (the proxy forwards any
type) are not concerned: Powertools reads a body only for routes that declare one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType

from oauth_broker.errors import UnsupportedMediaType, ValidationFailed

__all__ = ["JsonBodiesOnly", "body_is_utf8", "is_json_media_type", "not_utf8", "unsupported_media_type"]


def is_json_media_type(content_type: str) -> bool:
    """No Content-Type (read as JSON, as Powertools does), or `application/json` with parameters."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in ("", "application/json")


class JsonBodiesOnly(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading a route's body only when it is JSON."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        if not is_json_media_type(app.current_event.headers.get("content-type") or ""):
            raise RequestUnsupportedContentType("Unsupported content type", errors=[])
        body: dict[str, Any] = super()._get_body(app)
        return body


def body_is_utf8(event: Any) -> bool:
    """Whether the request body (base64 or not, as API Gateway delivered it) is UTF-8 text."""
    body = getattr(event, "body", None)
    if not body:
        return True
    if getattr(event, "is_base64_encoded", False):
        try:
            base64.b64decode(body).decode("utf-8")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            return False
    return True


def unsupported_media_type() -> UnsupportedMediaType:
    return UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")


def not_utf8() -> ValidationFailed:
    return ValidationFailed(
        "invalid: body",
        errors=[{"loc": ["body"], "msg": "the body is not UTF-8 JSON", "type": "json_invalid"}],
    )
