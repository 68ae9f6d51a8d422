"""The OpenAPI document made true: one pass over what Powertools generates from the routers.

Powertools documents every operation with FastAPI's `422 HTTPValidationError` in `application/json`,
no security and no other error. `truthful_document(generated, operations)` replaces that, for each
operation, from a table of what it really answers (`Answers`, one per operation:
`oauth_broker.http.openapi_operations`):

- `securitySchemes`: the deployer's OIDC JWT and the broker's API keys (`obk_...`), both sent as
  `Authorization: Bearer`; every operation but the public ones requires one of them (only a JWT where
  an API key is refused), and takes the reusable `X-On-Behalf-Of` header parameter;
- every 4xx/5xx it can return: a `Problem` (RFC 9457, `application/problem+json`; `ValidationProblem`
  with `errors[]` for 422), each status naming its stable `code`s; API Gateway's own
  `{"message": ...}` (`application/json`) for the authorizer's 401/403 and for a body over the
  payload limit (413); 415 and 400 `invalid_json` where a JSON body is parsed; `Retry-After` on
  429/502/503; on every authorized operation 503 `service_unavailable` (a dependency throttled or
  down) and 500 (`service_misconfigured`, `internal_error`), both problem documents;
- success answers that Powertools cannot infer (204 without a body, `Location` on 201, the proxy's
  pass-through, `Idempotent-Replayed` on a replayed send, HTML pages of the browser routes).

A generated operation without an entry, or an entry without an operation, is an error: the table
cannot silently fall behind the routers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oauth_broker.errors import (
    BrokerError,
    Forbidden,
    InvalidJson,
    ServiceMisconfigured,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from oauth_broker.http.problems import PROBLEM_CONTENT_TYPE

__all__ = [
    "API_KEY_SCHEME",
    "JWT_SCHEME",
    "Answers",
    "OperationTableMismatch",
    "truthful_document",
]

JWT_SCHEME = "bearerJwt"
API_KEY_SCHEME = "apiKey"
ON_BEHALF_OF = "XOnBehalfOf"

# The user ids X-On-Behalf-Of accepts (`oauth_broker.http.principal`); a unit test pins them equal.
ON_BEHALF_OF_PATTERN = r"^[A-Za-z0-9._@:|+\-]{1,256}$"

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_RETRY_AFTER = frozenset({429, 502, 503})

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal error",
    502: "Upstream error",
    503: "Service unavailable",
    504: "Upstream timeout",
}


class OperationTableMismatch(ValueError):
    """The operations table and the routers disagree (an operation missing on either side)."""


@dataclass(frozen=True)
class Answers:
    """What one operation answers besides the success Powertools documents.

    `errors`: the BrokerError classes its code can raise (status and `code` come from the class);
    `public`: no Authorization (health, the OpenAPI document, the browser routes);
    `jwt_only`: an API key is refused (403);
    `success`: responses replacing the generated success responses (status -> response object);
    `problem_headers`: extra headers on some error statuses (status -> header names);
    `success_headers`: headers added to the success responses (header names);
    `html_errors`: statuses answered with an HTML page (the browser routes), not a problem;
    `passthrough`: the provider's own answer may come back with any status (the proxy);
    `parameters`: parameters Powertools cannot see (read from the event by the route);
    `request_body`: a request body Powertools cannot see, for the methods that carry one.
    """

    errors: tuple[type[BrokerError], ...] = ()
    public: bool = False
    jwt_only: bool = False
    success: Mapping[str, Any] | None = None
    problem_headers: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    success_headers: tuple[str, ...] = ()
    html_errors: Mapping[int, str] = field(default_factory=dict)
    passthrough: bool = False
    parameters: tuple[Mapping[str, Any], ...] = ()
    request_body: Mapping[str, Any] | None = None


# -- components ------------------------------------------------------------------------------------


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _components() -> dict[str, dict[str, Any]]:
    problem = {
        "type": "object",
        "title": "Problem",
        "description": "An RFC 9457 problem document: every error the broker itself answers. Some "
        "carry more members (`upstream_status`, `upstream_reason`, `reason`, `hint`, ...).",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "`urn:oauth-broker:problem:<code>`"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "for people; never a secret"},
            "code": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]*$",
                "description": "stable machine code (snake_case)",
            },
            "upstream_status": {"type": "integer", "description": "the provider's HTTP status"},
            "upstream_reason": {"type": "string", "description": "the provider's error reason"},
            "reason": {"type": "string"},
            "hint": {"type": "string"},
        },
        "additionalProperties": True,
    }
    field_error = {
        "type": "object",
        "title": "FieldError",
        "required": ["loc", "msg"],
        "properties": {
            "loc": {
                "type": "array",
                "items": {"type": "string"},
                "description": "where: `body`, `query`, `path` or `header`, then the field's path",
            },
            "msg": {"type": "string"},
            "type": {"type": ["string", "null"]},
        },
    }
    validation_problem = {
        "title": "ValidationProblem",
        "description": "A `Problem` whose `errors` list the fields that failed (never their values).",
        "allOf": [
            _ref("schemas", "Problem"),
            {
                "type": "object",
                "required": ["errors"],
                "properties": {"errors": {"type": "array", "items": _ref("schemas", "FieldError")}},
            },
        ],
    }
    gateway_message = {
        "type": "object",
        "title": "GatewayMessage",
        "description": "API Gateway's own body (an HTTP API cannot reshape it): before any handler.",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    }
    return {
        "schemas": {
            "Problem": problem,
            "FieldError": field_error,
            "ValidationProblem": validation_problem,
            "GatewayMessage": gateway_message,
        },
        "headers": {
            "RetryAfter": {
                "description": "seconds to wait before retrying (or an HTTP date)",
                "schema": {"type": "string"},
            },
            "Location": {"description": "the created resource", "schema": {"type": "string"}},
            "IdempotentReplayed": {
                "description": "`true` when this is the stored answer to an earlier request with the "
                "same `Idempotency-Key` (nothing was sent again)",
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
        "parameters": {
            ON_BEHALF_OF: {
                "name": "X-On-Behalf-Of",
                "in": "header",
                "required": False,
                "description": "With an API key only: act for this end user, with that user's rights "
                "(delegated access, not admin). With a JWT: 403 `forbidden`; not a user id: 422.",
                "schema": {"type": "string", "pattern": ON_BEHALF_OF_PATTERN},
            }
        },
        "securitySchemes": {
            JWT_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A JWT from the deployer's OIDC identity provider: `sub` is the user, the "
                "tenant claim the tenant; an admin when the admin claim holds the admin group.",
            },
            API_KEY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "obk_...",
                "description": "A server-to-server API key (`obk_...`, from `POST /v1/api-keys`), sent as "
                "`Authorization: Bearer obk_...`: acts for its tenant as an admin, or for one end user "
                "with `X-On-Behalf-Of`.",
            },
        },
    }


# -- responses -------------------------------------------------------------------------------------

# API Gateway answers these itself, before any handler (an HTTP API cannot reshape the body).
_GATEWAY_WHEN = {
    401: "there are no credentials",
    403: "the authorizer denies the credential",
    413: "the body is over API Gateway's payload limit (or Lambda's 6 MB)",
}
# What a status means beyond its codes, where that helps a client act.
_NOTES = {
    500: "the deployment refuses the broker one of its dependencies (`service_misconfigured`: an "
    "operator must fix IAM or the key policy; a retry does not help), or a bug (`internal_error`)",
    503: "one of the broker's dependencies (DynamoDB, KMS, EventBridge, Lambda) is throttling or "
    "unavailable: retry after `Retry-After`",
}
# Every authorized route reads the caller (X-On-Behalf-Of with a JWT: 403, not a user id: 422) and
# uses DynamoDB, KMS or Lambda, whose faults are classified in one place (`dependency_errors`).
_EVERY_AUTHORIZED: tuple[type[BrokerError], ...] = (
    Forbidden,
    ValidationFailed,
    ServiceUnavailable,
    ServiceMisconfigured,
    BrokerError,  # 500 internal_error: the resolver's catch-all, a problem document all the same
)


def _codes(errors: tuple[type[BrokerError], ...], status: int) -> list[str]:
    return list(dict.fromkeys(cls.code for cls in errors if cls.status == status))


def _problem_schema(status: int, codes: list[str]) -> dict[str, Any]:
    if status != 422:
        return _ref("schemas", "Problem")
    if any(c != "validation_error" for c in codes):  # e.g. idempotency_key_reused: no field errors
        return {"anyOf": [_ref("schemas", "ValidationProblem"), _ref("schemas", "Problem")]}
    return _ref("schemas", "ValidationProblem")


def _error_response(status: int, answers: Answers, errors: tuple[type[BrokerError], ...]) -> dict[str, Any]:
    codes = _codes(errors, status)
    content: dict[str, Any] = {}
    said: list[str] = []
    if codes:
        content[PROBLEM_CONTENT_TYPE] = {"schema": _problem_schema(status, codes)}
        note = f": {_NOTES[status]}" if status in _NOTES else ""
        said.append("a problem document (" + ", ".join(f"`{c}`" for c in codes) + ")" + note)
    gateway = _GATEWAY_WHEN.get(status)
    # a public route has no authorizer (no 401/403 of API Gateway's), but a body over the payload
    # limit is refused before it all the same (413)
    if gateway is not None and (not answers.public or status == 413):
        content["application/json"] = {"schema": _ref("schemas", "GatewayMessage")}
        said.append(f'API Gateway\'s `{{"message": ...}}` when {gateway}')
    if answers.passthrough:
        content.pop("application/json", None)
        content["*/*"] = {"schema": {}}
        said.append("the provider's own answer with this status, unchanged")
    response: dict[str, Any] = {
        "description": f"{_TITLES.get(status, 'Error')}: " + "; or ".join(said),
        "content": content,
    }
    headers = {*answers.problem_headers.get(status, ()), *(["Retry-After"] if status in _RETRY_AFTER else [])}
    if headers:
        response["headers"] = {h: _ref("headers", _header_component(h)) for h in sorted(headers)}
    return response


def _header_component(name: str) -> str:
    return name.replace("-", "")


def _error_responses(answers: Answers, *, parsed_body: bool, any_body: bool) -> dict[str, dict[str, Any]]:
    errors = answers.errors
    if not answers.public:
        errors = (*errors, *_EVERY_AUTHORIZED)
    if parsed_body:  # parsed as JSON: not JSON text is 400, another Content-Type 415 (`http.request_body`)
        errors = (*errors, InvalidJson, UnsupportedMediaType)
    statuses = {cls.status for cls in errors}
    if not answers.public:
        statuses.add(401)
    if any_body:
        statuses.add(413)
    responses = {str(s): _error_response(s, answers, errors) for s in sorted(statuses)}
    for status, what in answers.html_errors.items():
        page: dict[str, Any] = {"description": what, "content": {"text/html": {"schema": {"type": "string"}}}}
        if status in _RETRY_AFTER:
            page["headers"] = {"Retry-After": _ref("headers", "RetryAfter")}
        responses[str(status)] = page
    return responses


# -- the pass --------------------------------------------------------------------------------------

Key = tuple[str, str]


def _operations(document: Mapping[str, Any]) -> dict[Key, dict[str, Any]]:
    found: dict[Key, dict[str, Any]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _HTTP_METHODS:
            if method in item:
                found[(method.upper(), path)] = item[method]
    return found


def _lookup(operations: Mapping[Key, Answers], method: str, path: str) -> Answers | None:
    return operations.get((method, path)) or operations.get(("*", path))


def _check_table(found: Mapping[Key, Any], operations: Mapping[Key, Answers]) -> None:
    paths = {p for _, p in found}
    missing = [f"no entry for {m} {p}" for m, p in found if _lookup(operations, m, p) is None]
    stale = [
        f"no route for {m} {p}"
        for m, p in operations
        if (m == "*" and p not in paths) or (m != "*" and (m, p) not in found)
    ]
    if missing or stale:
        raise OperationTableMismatch(
            "the OpenAPI operations table does not match the routers: " + "; ".join(missing + stale)
        )


def truthful_document(generated: Mapping[str, Any], operations: Mapping[Key, Answers]) -> dict[str, Any]:
    """`generated` (Powertools' document) with each operation's true security and responses.

    `operations` is keyed by (METHOD, OpenAPI path), or ("*", path) for every method of a path.
    """
    document = copy.deepcopy(dict(generated))
    found = _operations(document)
    _check_table(found, operations)
    components = document.setdefault("components", {})
    for kind, entries in _components().items():
        components.setdefault(kind, {}).update(entries)
    for name in _FASTAPI_SCHEMAS:
        components.get("schemas", {}).pop(name, None)
    for (method, path), operation in found.items():
        answers = _lookup(operations, method, path)
        assert answers is not None  # _check_table
        _apply(operation, answers, method)
    return document


def _apply(operation: dict[str, Any], answers: Answers, method: str) -> None:
    parsed_body = "requestBody" in operation  # a body parameter of the route: Powertools parses it
    if answers.request_body is not None and method in _BODY_METHODS:
        operation["requestBody"] = copy.deepcopy(dict(answers.request_body))
    generated = operation.get("responses", {})
    success: dict[str, Any] = (
        copy.deepcopy(dict(answers.success))
        if answers.success is not None
        else {s: r for s, r in generated.items() if s[:1] not in ("4", "5")}
    )
    for status, response in success.items():
        headers = [*answers.success_headers, *(["Location"] if status == "201" else [])]
        if headers and status[:1] == "2":
            response.setdefault("headers", {}).update(
                {h: _ref("headers", _header_component(h)) for h in headers}
            )
    errors = _error_responses(answers, parsed_body=parsed_body, any_body="requestBody" in operation)
    operation["responses"] = {**success, **errors}

    parameters = [*operation.get("parameters", []), *(copy.deepcopy(dict(p)) for p in answers.parameters)]
    if answers.public:
        operation["security"] = []
    elif answers.jwt_only:
        operation["security"] = [{JWT_SCHEME: []}]
    else:
        operation["security"] = [{JWT_SCHEME: []}, {API_KEY_SCHEME: []}]
        parameters.append(_ref("parameters", ON_BEHALF_OF))
    if parameters:
        operation["parameters"] = parameters
