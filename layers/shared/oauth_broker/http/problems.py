"""RFC 9457 problem documents: the only shape an error leaves the broker in."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from oauth_broker.errors import BrokerError

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


def problem_response(
    status: int, code: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(problem_body(status, code, title, detail, **extra)),
        headers={"Cache-Control": "no-store", **(headers or {})},
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
