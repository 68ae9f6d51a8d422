"""Bodies a JSON route cannot read are the caller's mistake, answered with a problem document
(found by the fuzzer: text/plain, multipart without a boundary and non-UTF-8 bodies were 500
`internal_error`; form and multipart bodies were read as if they were the JSON object)."""

import json

import pytest

JSON_ROUTES = [
    ("POST", "/v1/api-keys", {"name": "ci"}),
    ("PATCH", "/v1/settings", {"expose_access_tokens": False}),
    (
        "POST",
        "/v1/oauth-clients",
        {"name": "x", "provider": "google-mail", "client_id": "c", "client_secret": "s" * 20},
    ),
]


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


@pytest.mark.parametrize(("content_type", "raw"), NOT_JSON)
@pytest.mark.parametrize(("method", "path", "body"), JSON_ROUTES)
def test_given_a_body_that_is_not_json_when_a_json_route_reads_it_then_415_unsupported_media_type(
    world, method, path, body, content_type, raw
):
    resp = world.request(
        method,
        path,
        token=world.token(admin=True),
        data=raw if raw is not None else json.dumps(body).encode(),
        headers={"Content-Type": content_type},
    )
    assert resp.status_code == 415, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["code"] == "unsupported_media_type"
    assert resp.json["status"] == 415


@pytest.mark.parametrize(("method", "path", "body"), JSON_ROUTES)
def test_given_a_body_that_is_not_utf8_when_a_json_route_reads_it_then_422_names_the_body(
    world, method, path, body
):
    resp = world.request(
        method,
        path,
        token=world.token(admin=True),
        data=b"\xff\xfe{\x80",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["code"] == "validation_error"
    assert resp.json["errors"] == [
        {"loc": ["body"], "msg": "the body is not UTF-8 JSON", "type": "json_invalid"}
    ]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None])
def test_given_a_utf8_json_body_when_a_json_route_reads_it_then_it_is_still_served(world, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = world.request(
        "POST", "/v1/api-keys", token=world.token(admin=True), data=b'{"name": "ci"}', headers=headers
    )
    assert resp.status_code == 201, resp.json
