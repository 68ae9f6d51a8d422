"""RFC 9457 problem documents: the only shape an error leaves the broker in."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oauth_broker.errors import BrokerError, MessageTooLarge, ValidationFailed

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:oauth-broker:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """A problem document's response headers (`headers` may add to them or override them)."""
    return {"Cache-Control": "no-store", **(headers or {})}


def problem_response(
    status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response[str]:
    # Powertools is imported here, not above: a route served without a resolver
    # (`oauth_broker.http.direct`) uses this module and need not load it.
    from aws_lambda_powertools.event_handler import Response

    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(problem_body(status, code, title, detail, **extra)),
        headers=problem_headers(headers),
    )


def from_error(err: BrokerError) -> Response[str]:
    return problem_response(err.status, err.code, err.title, err.detail, headers=err.headers, **err.extra)


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Field errors without the offending input (it may be a secret)."""
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": e.get("type"),
        }
        for e in errors
    ]


def validation_failure(errors: list[dict[str, Any]]) -> BrokerError:
    """The problem for a request that failed validation (`errors` from `validation_errors`).

    422 `validation_error` naming the fields; but a Gmail message over the size limit (a field
    error of type `message_too_large`, `oauth_broker.gmail.models`) is 413 `message_too_large`,
    as is every "too large" answer, with all the field errors still listed.
    """
    too_large = [e for e in errors if e["type"] == MessageTooLarge.code]
    if too_large:
        return MessageTooLarge(too_large[0]["msg"], errors=errors)
    fields = ", ".join(".".join(e["loc"][1:] or e["loc"]) for e in errors) or "request"
    return ValidationFailed(f"invalid: {fields}", errors=errors)
