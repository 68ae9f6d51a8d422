"""Bodies through API Gateway and Lambda: base64 in, text or base64 out, the 6 MB cap."""

from __future__ import annotations

import base64
import json
import os

import pytest

from oauth_broker.errors import BadRequest, PayloadTooLarge, ResponseTooLarge
from oauth_broker.proxy.payload import MAX_REQUEST_BYTES, MAX_RESPONSE_BODY_BYTES, event_body, gateway_body


def test_given_a_text_body_when_read_then_it_is_its_utf8_bytes():
    assert event_body({"body": '{"subject":"Grüße"}'}) == '{"subject":"Grüße"}'.encode()


def test_given_a_base64_body_when_read_then_the_original_bytes_come_back():
    data = os.urandom(1024)

    assert event_body({"body": base64.b64encode(data).decode(), "isBase64Encoded": True}) == data


def test_given_no_body_when_read_then_it_is_empty():
    assert event_body({}) == b"" and event_body({"body": None}) == b""


def test_given_invalid_base64_when_read_then_it_is_a_bad_request():
    with pytest.raises(BadRequest):
        event_body({"body": "not base64!", "isBase64Encoded": True})


def test_given_a_body_over_the_cap_when_read_then_it_is_413():
    with pytest.raises(PayloadTooLarge) as caught:
        event_body({"body": "x" * (MAX_REQUEST_BYTES + 1)})

    assert caught.value.status == 413 and caught.value.code == "payload_too_large"


def test_given_json_when_encoded_for_the_gateway_then_it_goes_as_text():
    body, is_base64 = gateway_body(b'{"a":1}', {"Content-Type": "application/json"})

    assert (body, is_base64) == ('{"a":1}', False)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "image/png"},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        {},
    ],
)
def test_given_binary_or_encoded_bodies_when_encoded_then_they_go_as_base64_byte_for_byte(headers):
    data = os.urandom(4096)

    body, is_base64 = gateway_body(data, headers)

    assert is_base64 and base64.b64decode(body) == data


def test_given_text_that_is_not_utf8_when_encoded_then_it_goes_as_base64():
    body, is_base64 = gateway_body("café".encode("latin-1"), {"Content-Type": "text/plain; charset=latin-1"})

    assert is_base64 and base64.b64decode(body) == "café".encode("latin-1")


def test_given_a_body_whose_encoded_form_exceeds_lambdas_limit_when_encoded_then_it_is_502_too_large():
    data = b"\x00" * (MAX_RESPONSE_BODY_BYTES * 3 // 4 + 10)  # fits raw, not once base64-encoded

    with pytest.raises(ResponseTooLarge) as caught:
        gateway_body(data, {"Content-Type": "application/octet-stream"})

    assert caught.value.status == 502 and caught.value.code == "response_too_large"


def test_given_text_whose_json_escaping_exceeds_the_limit_when_encoded_then_it_is_too_large():
    text = '"' * (MAX_RESPONSE_BODY_BYTES // 2 + 10)  # every quote is escaped: twice the size
    assert len(json.dumps(text)) > MAX_RESPONSE_BODY_BYTES

    with pytest.raises(ResponseTooLarge):
        gateway_body(text.encode(), {"Content-Type": "application/json"})
