"""Bodies through API Gateway and Lambda: request bodies in, response bodies out, and the 6 MB cap.

A synchronous Lambda invocation carries at most 6 MB of JSON each way (`MAX_LAMBDA_PAYLOAD`). A
request body arrives as text or, for binary content, base64 (`isBase64Encoded`); a response body
goes back as text when it is UTF-8 text without a `Content-Encoding`, and as base64 otherwise,
so binary bodies and compressed bodies round-trip byte for byte. A response whose encoded form
would not fit is refused with 502 `response_too_large` rather than failing inside Lambda.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from oauth_broker.errors import BadRequest, PayloadTooLarge, ResponseTooLarge

__all__ = [
    "MAX_LAMBDA_PAYLOAD",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BODY_BYTES",
    "event_body",
    "gateway_body",
]

MAX_LAMBDA_PAYLOAD = 6 * 1024 * 1024
# Room for the status, headers and JSON envelope of the Lambda response.
_ENVELOPE_BYTES = 32 * 1024
MAX_RESPONSE_BODY_BYTES = MAX_LAMBDA_PAYLOAD - _ENVELOPE_BYTES
# The largest request body a proxied call accepts (the same cap as the typed Gmail send).
MAX_REQUEST_BYTES = MAX_LAMBDA_PAYLOAD

_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)


def event_body(event: Mapping[str, Any]) -> bytes:
    """The request body of an API Gateway (payload 2.0) event, as bytes; 413 over the cap."""
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_REQUEST_BYTES * 4) // 3 + 4:
            raise PayloadTooLarge(f"the request body is larger than {MAX_REQUEST_BYTES} bytes")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is not valid base64") from None
    else:
        data = str(body).encode("utf-8")
    if len(data) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_REQUEST_BYTES} bytes")
    return data


def _is_text(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).lower().startswith(_TEXT_TYPES)


def gateway_body(body: bytes, headers: Mapping[str, str]) -> tuple[str, bool]:
    """(body, is_base64) for a Lambda proxy response; `ResponseTooLarge` when it would not fit."""
    lowered = {k.lower(): v for k, v in headers.items()}
    encoded_body: str | None = None
    if _is_text(lowered.get("content-type")) and lowered.get("content-encoding", "identity") == "identity":
        try:
            encoded_body = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded_body = None
    if encoded_body is not None:
        size = len(json.dumps(encoded_body))  # as the Lambda runtime will serialise it
        is_base64 = False
    else:
        size = 4 * ((len(body) + 2) // 3)
        is_base64 = True
    if size > MAX_RESPONSE_BODY_BYTES:
        raise ResponseTooLarge(
            f"the provider's response ({len(body)} bytes) does not fit in a Lambda response "
            f"({MAX_LAMBDA_PAYLOAD} bytes once encoded); ask for less (fields, maxResults, pageSize)",
            upstream_bytes=len(body),
        )
    if is_base64:
        return base64.b64encode(body).decode("ascii"), True
    assert encoded_body is not None
    return encoded_body, False
