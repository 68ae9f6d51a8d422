"""The OpenAPI document tells the truth: security, problem documents, headers (issue 9, item 1)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from oauth_broker.errors import ValidationFailed
from oauth_broker.http.openapi import (
    ON_BEHALF_OF_PATTERN,
    Answers,
    OperationTableMismatch,
    truthful_document,
)
from oauth_broker.http.principal import principal_from_event
from oauth_broker.http.problems import PROBLEM_CONTENT_TYPE
from oauth_broker.routes.system import openapi_document

PUBLIC = {
    ("GET", "/v1/health"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/oauth/authorize"),
    ("GET", "/v1/oauth/callback"),
    ("POST", "/v1/google/risc"),  # Google's security events: the token's signature is the credential
    ("POST", "/v1/google/gmail-push"),  # Gmail push (Pub/Sub): its Google-signed OIDC token is the credential
}
BROWSER = {("GET", "/v1/oauth/authorize"), ("GET", "/v1/oauth/callback")}
# JSON bodies the route reads itself, whatever their Content-Type (no 415): Pub/Sub's push message,
# whose every flaw is 400 `invalid_push_message`
RAW_JSON_BODY = {("POST", "/v1/google/gmail-push")}
PROBLEM_REFS = {"#/components/schemas/Problem", "#/components/schemas/ValidationProblem"}
GATEWAY = {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(openapi_document())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def errors_of(op: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(s): r for s, r in op["responses"].items() if s[:1] in ("4", "5")}


def schema_refs(schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        return {schema["$ref"]}
    return {ref for alt in schema.get("anyOf", []) for ref in schema_refs(alt)}


def test_given_the_generated_document_when_validated_then_openapi_spec_validator_accepts_it(document):
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_given_the_document_when_searched_then_no_fastapi_validation_schema_appears_anywhere(document):
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert not re.search(r'"#/components/schemas/ValidationError"', text)
    assert "ValidationError" not in document["components"]["schemas"]


def test_given_every_non_public_operation_when_read_then_it_requires_a_bearer_jwt_or_api_key(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerJwt"] == {**schemes["bearerJwt"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    seen_public = set()
    for method, path, op in operations(document):
        if (method, path) in PUBLIC:
            assert op["security"] == [], f"{method} {path} is public"
            seen_public.add((method, path))
            continue
        assert op["security"], f"{method} {path} documents no security"
        assert {"bearerJwt": []} in op["security"], f"{method} {path}"
        assert all(set(req) <= set(schemes) for req in op["security"])
    assert seen_public == PUBLIC


def test_given_api_key_creation_when_read_then_only_a_jwt_is_documented_as_accepted(document):
    assert document["paths"]["/v1/api-keys"]["post"]["security"] == [{"bearerJwt": []}]


def test_given_every_4xx_and_5xx_response_when_read_then_it_is_a_problem_document_or_a_named_exception(
    document,
):
    for method, path, op in operations(document):
        for status, response in errors_of(op).items():
            where = f"{method} {path} {status}"
            content = response["content"]
            if (method, path) in BROWSER:
                assert set(content) == {"text/html"}, where
                continue
            passthrough = "/proxy/" in path
            allowed = {PROBLEM_CONTENT_TYPE, "application/json", *(["*/*"] if passthrough else [])}
            assert set(content) <= allowed, where
            if "application/json" in content:  # API Gateway's own body, only where it answers
                assert status in (401, 403, 413) and content["application/json"] == GATEWAY, where
            if status == 401 and (method, path) in PUBLIC:  # no authorizer: only the route says 401
                assert set(content) == {PROBLEM_CONTENT_TYPE}, where
            elif status == 401:
                assert PROBLEM_CONTENT_TYPE not in content, where
                continue
            if PROBLEM_CONTENT_TYPE not in content:
                assert status == 413 and set(content) == {"application/json"}, where  # the gateway's
                continue
            refs = schema_refs(content[PROBLEM_CONTENT_TYPE]["schema"])
            assert refs and refs <= PROBLEM_REFS, where
            if status == 422:
                assert "#/components/schemas/ValidationProblem" in refs, where


def test_given_the_problem_schemas_when_read_then_they_require_rfc9457_members_and_errors_for_validation(
    document,
):
    schemas = document["components"]["schemas"]
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail", "code"}
    extra = schemas["ValidationProblem"]["allOf"]
    assert {"$ref": "#/components/schemas/Problem"} in extra
    assert any("errors" in part.get("required", []) for part in extra)


def test_given_every_429_and_503_response_when_read_then_it_documents_retry_after(document):
    seen = {429: 0, 503: 0}
    for method, path, op in operations(document):
        for status, response in errors_of(op).items():
            if status in seen:
                seen[status] += 1
                assert "Retry-After" in response.get("headers", {}), f"{method} {path} {status}"
    assert seen[429] >= 4 and seen[503] >= 30  # proxy, Gmail, Contacts; every authorized route


def test_given_every_authorized_operation_when_read_then_dependency_faults_are_503_and_500_problems(document):
    for method, path, op in operations(document):
        if (method, path) in PUBLIC:
            continue
        errors = errors_of(op)
        assert "`service_unavailable`" in errors[503]["description"], f"{method} {path}"
        assert "`service_misconfigured`" in errors[500]["description"], f"{method} {path}"
        assert PROBLEM_CONTENT_TYPE in errors[500]["content"], f"{method} {path}"


def test_given_the_browser_routes_when_read_then_a_busy_dependency_is_a_503_page_with_retry_after(document):
    for path in ("/v1/oauth/authorize", "/v1/oauth/callback"):
        page = document["paths"][path]["get"]["responses"]["503"]
        assert set(page["content"]) == {"text/html"} and "Retry-After" in page["headers"], path


def test_given_the_proxy_gmail_and_contacts_when_read_then_each_documents_429(document):
    paths = document["paths"]
    for path, method in [
        ("/v1/connections/{connection_id}/proxy/{path}", "get"),
        ("/v1/connections/{connection_id}/gmail/messages", "post"),
        ("/v1/connections/{connection_id}/gmail/messages", "get"),
        ("/v1/connections/{connection_id}/contacts", "get"),
    ]:
        assert "429" in paths[path][method]["responses"], f"{method} {path}"


def test_given_the_gmail_send_when_read_then_it_documents_idempotent_replayed_and_413(document):
    op = document["paths"]["/v1/connections/{connection_id}/gmail/messages"]["post"]
    assert "Idempotent-Replayed" in op["responses"]["201"]["headers"]
    assert PROBLEM_CONTENT_TYPE in op["responses"]["413"]["content"]
    assert "`message_too_large`" in op["responses"]["413"]["description"]
    assert "`payload_too_large`" in op["responses"]["413"]["description"]
    assert "`idempotency_key_reused`" in op["responses"]["422"]["description"]


def test_given_admin_routes_when_read_then_403_names_forbidden_and_writes_name_api_key_revoked(document):
    patch_settings = document["paths"]["/v1/settings"]["patch"]["responses"]["403"]
    assert "`forbidden`" in patch_settings["description"]
    assert "`api_key_revoked`" in patch_settings["description"]
    assert set(patch_settings["content"]) == {PROBLEM_CONTENT_TYPE, "application/json"}


def test_given_operations_with_a_json_body_when_read_then_415_and_400_are_documented_where_json_is_parsed(
    document,
):
    for method, path, op in operations(document):
        body = op.get("requestBody", {}).get("content", {})
        parsed = "application/json" in body and (method, path) not in RAW_JSON_BODY
        assert ("415" in op["responses"]) is parsed, f"{method} {path}"
        if (method, path) in RAW_JSON_BODY:
            assert "`invalid_push_message`" in op["responses"]["400"]["description"], f"{method} {path}"
        if parsed:
            assert "`unsupported_media_type`" in op["responses"]["415"]["description"], f"{method} {path}"
            assert "`invalid_json`" in op["responses"]["400"]["description"], f"{method} {path}"
            assert PROBLEM_CONTENT_TYPE in op["responses"]["400"]["content"], f"{method} {path}"
        if body:
            assert "413" in op["responses"], f"{method} {path}"


def test_given_the_confirm_route_when_read_then_it_is_authorized_with_404_and_409(document):
    op = document["paths"]["/v1/connect-sessions/confirm"]["post"]
    assert op["security"]
    assert {"404", "409", "422"} <= set(op["responses"])
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConnectionOut"
    }


def test_given_deletes_answering_204_when_read_then_no_200_is_documented(document):
    for path in ("/v1/api-keys/{key_id}", "/v1/oauth-clients/{client_id}"):
        responses = document["paths"][path]["delete"]["responses"]
        assert "204" in responses and "200" not in responses, path


def test_given_every_authorized_operation_when_read_then_it_takes_the_shared_x_on_behalf_of_header(
    document,
):
    ref = {"$ref": "#/components/parameters/XOnBehalfOf"}
    assert document["components"]["parameters"]["XOnBehalfOf"]["in"] == "header"
    for method, path, op in operations(document):
        if (method, path) in PUBLIC or op["security"] == [{"bearerJwt": []}]:
            assert ref not in op.get("parameters", []), f"{method} {path}"
        else:
            assert ref in op.get("parameters", []), f"{method} {path}"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("user-42", True), ("a.b_c@d:e|f+g", True), ("u" * 256, True), ("u" * 257, False), ("a b", False)],
)
def test_given_an_on_behalf_of_value_when_checked_then_the_documented_pattern_agrees_with_the_broker(
    value, accepted
):
    event = {
        "headers": {"x-on-behalf-of": value},
        "requestContext": {"authorizer": {"lambda": {"tenant": "t", "user": "apikey:k", "via": "api_key"}}},
    }
    documented = re.fullmatch(ON_BEHALF_OF_PATTERN.strip("^$"), value) is not None
    try:
        principal_from_event(event)
        broker = True
    except ValidationFailed:
        broker = False
    assert documented is broker is accepted


GENERATED = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {"/v1/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
    "components": {"schemas": {}},
}


def test_given_a_route_without_a_table_entry_when_made_truthful_then_it_fails_naming_the_route():
    with pytest.raises(OperationTableMismatch, match="no entry for GET /v1/a"):
        truthful_document(GENERATED, {})


def test_given_a_table_entry_without_a_route_when_made_truthful_then_it_fails_naming_the_entry():
    with pytest.raises(OperationTableMismatch, match="no route for POST /v1/b"):
        truthful_document(GENERATED, {("GET", "/v1/a"): Answers(), ("POST", "/v1/b"): Answers()})


def test_given_the_served_route_when_asked_then_it_answers_the_truthful_document(document):
    from oauth_broker.http.resolver import build_resolver
    from oauth_broker.routes import system

    app = build_resolver()
    app.include_router(system.router)
    event = {
        "version": "2.0",
        "routeKey": "GET /v1/openapi.json",
        "rawPath": "/v1/openapi.json",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/v1/openapi.json"}, "stage": "$default"},
        "isBase64Encoded": False,
    }
    answer = app.resolve(event, None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == document
