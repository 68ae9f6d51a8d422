import base64
from types import SimpleNamespace

import pytest

from oauth_broker.http.request_body import body_is_utf8, is_json_media_type


@pytest.mark.parametrize(
    "content_type", ["", "application/json", "application/json; charset=utf-8", " Application/JSON "]
)
def test_given_json_or_no_content_type_when_checked_then_the_body_is_read_as_json(content_type):
    assert is_json_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "text/json",
    ],
)
def test_given_any_other_content_type_when_checked_then_it_is_not_json(content_type):
    assert not is_json_media_type(content_type)


def test_given_bodies_as_api_gateway_delivers_them_when_checked_then_only_non_utf8_bytes_fail():
    def event(body, b64):
        return SimpleNamespace(body=body, is_base64_encoded=b64)

    assert body_is_utf8(event(None, False))
    assert body_is_utf8(event('{"a": "é"}', False))
    assert body_is_utf8(event(base64.b64encode('{"a": "é"}'.encode()).decode(), True))
    assert not body_is_utf8(event(base64.b64encode(b"\xff\xfe{").decode(), True))
