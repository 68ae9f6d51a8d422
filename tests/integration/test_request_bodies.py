"""Bodies a JSON route cannot read are the caller's mistake, answered with a problem document
(found by the fuzzer: text/plain, multipart without a boundary and non-UTF-8 bodies were 500
`internal_error`; form and multipart bodies were read as if they were the JSON object). A body
that is not JSON text is 400 `invalid_json` saying where parsing failed (issue 10: it was a 422
naming the character offset as a field, `loc ["body", "25"]`); the proxy's pass-through reads
no body at all."""

import json
import re

import pytest
from werkzeug.test import TestResponse

from oauth_broker.routes.system import openapi_document

NOT_JSON = [
    pytest.param("text/plain", None, id="text/plain"),
    pytest.param("multipart/form-data", None, id="multipart without a boundary"),
    pytest.param(
        "multipart/form-data; boundary=xyz",
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nci\r\n--xyz--\r\n',
        id="multipart",
    ),
    pytest.param("application/x-www-form-urlencoded", b"name=ci", id="form"),
]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None])
def test_given_a_utf8_json_body_when_a_json_route_reads_it_then_it_is_still_served(world, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = world.request(
        "POST", "/v1/api-keys", token=world.token(admin=True), data=b'{"name": "ci"}', headers=headers
    )
    assert resp.status_code == 201, resp.json


# -- every route that reads a JSON body, from the OpenAPI document (a new route is covered at once) --


def json_body_operations() -> list[tuple[str, str]]:
    document = json.loads(openapi_document())
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x_1", path))
        for path, item in document["paths"].items()
        for method, op in item.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
        # Gmail's push reads its own body, and only once its OIDC token is verified (401 first;
        # a bad body with a good token: 400 invalid_push_message, tests/integration/gmail_push)
        and (method.upper(), path) != ("POST", "/v1/google/gmail-push")
    ]


EVERY_JSON_ROUTE = json_body_operations()


def test_given_the_document_when_json_routes_are_listed_then_the_send_route_and_the_admin_writes_are_there():
    # the parametrized tests below are only as good as this list
    assert ("POST", "/v1/connections/x_1/gmail/messages") in EVERY_JSON_ROUTE
    assert ("POST", "/v1/connect-sessions") in EVERY_JSON_ROUTE
    assert ("POST", "/v1/oauth-clients") in EVERY_JSON_ROUTE
    assert len(EVERY_JSON_ROUTE) >= 10
    assert not [p for _, p in EVERY_JSON_ROUTE if "/proxy/" in p]


MALFORMED = [
    pytest.param(b'{"name": "ci" "x": 1}', "Expecting ',' delimiter", 1, 15, id="missing comma"),
    pytest.param(
        b'{\n  "name": "ci",\n  "scopes": [tru]\n}', "Expecting value", 3, 14, id="bad literal, line 3"
    ),
    pytest.param(
        b"{'name': 'ci'}", "Expecting property name enclosed in double quotes", 1, 2, id="single quotes"
    ),
    pytest.param(b'{"name": "ci"', "Expecting ',' delimiter", 1, 14, id="truncated"),
    pytest.param(b'{"name": "ci"} {}', "Extra data", 1, 16, id="two documents"),
    pytest.param(b"name=ci", "Expecting value", 1, 1, id="a form body labelled JSON"),
    pytest.param(b"   ", "Expecting value", 1, 4, id="only whitespace"),
]


def answers(world, raw: bytes | None, content_type: str = "application/json") -> dict[str, TestResponse]:
    """Every JSON route's answer to one body ("METHOD path" -> response)."""
    token = world.token(admin=True)
    headers = {"Content-Type": content_type}
    return {
        f"{method} {path}": world.request(method, path, token=token, data=raw, headers=headers)
        for method, path in EVERY_JSON_ROUTE
    }


@pytest.mark.parametrize(("raw", "reason", "line", "column"), MALFORMED)
def test_given_a_body_that_is_not_json_text_when_any_json_route_reads_it_then_400_invalid_json_says_where(
    world, raw, reason, line, column
):
    for route, resp in answers(world, raw).items():
        assert resp.status_code == 400, (route, resp.get_data(as_text=True))
        assert resp.headers["Content-Type"] == "application/problem+json", route
        doc = resp.json
        where = f"at line {line}, column {column}"
        assert (doc["code"], doc["status"], doc["title"]) == ("invalid_json", 400, "Invalid JSON"), route
        assert doc["type"] == "urn:oauth-broker:problem:invalid_json"
        assert doc["detail"] == f"the request body is not valid JSON: {reason} {where}", route
        assert (doc["line"], doc["column"]) == (line, column), route
        # no field error whose "field" is a character offset (Powertools' `loc: ["body", "25"]`)
        assert "errors" not in doc, route


def test_given_a_body_that_is_not_utf8_when_any_json_route_reads_it_then_400_invalid_json_names_the_byte(
    world,
):
    for route, resp in answers(world, b'{"name": "\xff"}').items():
        assert resp.status_code == 400, (route, resp.get_data(as_text=True))
        assert resp.json["code"] == "invalid_json", route
        detail = "the request body is not valid JSON: byte 0xff is not UTF-8 at line 1, column 11"
        assert resp.json["detail"] == detail, route
        assert "errors" not in resp.json, route


def test_given_no_body_when_any_json_route_needs_one_then_422_names_the_body_as_missing(world):
    for route, resp in answers(world, None).items():
        assert resp.status_code == 422, (route, resp.get_data(as_text=True))
        assert resp.json["code"] == "validation_error", route
        assert resp.json["errors"] == [{"loc": ["body"], "msg": "Field required", "type": "missing"}], route


@pytest.mark.parametrize("raw", [b"[1]", b'"x"', b"1", b"true", b"null"])
def test_given_json_that_is_not_an_object_when_any_json_route_reads_it_then_422_names_the_body(world, raw):
    for route, resp in answers(world, raw).items():
        assert resp.status_code == 422, (route, resp.get_data(as_text=True))
        assert resp.json["code"] == "validation_error", route
        assert [e["loc"] for e in resp.json["errors"]] == [["body"]], (route, resp.json)


@pytest.mark.parametrize(("content_type", "raw"), NOT_JSON)
def test_given_a_body_in_another_media_type_when_any_json_route_reads_it_then_415(world, content_type, raw):
    for route, resp in answers(world, raw if raw is not None else b'{"name": "ci"}', content_type).items():
        assert resp.status_code == 415, (route, resp.get_data(as_text=True))
        assert resp.headers["Content-Type"] == "application/problem+json", route
        assert resp.json["code"] == "unsupported_media_type" and resp.json["status"] == 415, route
        assert "application/json" in resp.json["detail"], route


def test_given_a_well_formed_body_of_the_wrong_shape_when_read_then_it_stays_a_422_naming_the_field(world):
    resp = world.request("POST", "/v1/api-keys", token=world.token(admin=True), json_body={"name": 5})

    assert resp.status_code == 422
    assert resp.json["errors"] == [
        {"loc": ["body", "name"], "msg": "Input should be a valid string", "type": "string_type"}
    ]


# -- the proxy's pass-through reads no body: Google gets it as it is ----------------------------------


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        pytest.param("application/json", b'{"raw": ', id="malformed JSON"),
        pytest.param("application/x-www-form-urlencoded", b"raw=abc", id="form"),
        pytest.param("text/plain", b"hello", id="text/plain"),
    ],
)
def test_given_any_body_when_sent_through_the_proxy_pass_through_then_google_gets_it_unchanged(
    pw, content_type, raw
):
    rec = pw.connect(["gmail.send"])

    resp = pw.proxy(
        rec,
        "gmail/v1/users/me/messages/send",
        method="POST",
        data=raw,
        headers={"Content-Type": content_type},
    )

    # Google's own answer (the fake: 400 "Invalid JSON payload received."), not a broker problem
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.json["error"]["message"] == "Invalid JSON payload received."
    seen = pw.api_requests()[-1]
    assert seen.body == raw and seen.headers["Content-Type"] == content_type
