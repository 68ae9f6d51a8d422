import json

import pytest

from oauth_broker.http.request_body import invalid_json, is_json_media_type, not_utf8


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


@pytest.mark.parametrize(
    ("text", "detail", "line", "column"),
    [
        ('{"a": 1 "b": 2}', "Expecting ',' delimiter at line 1, column 9", 1, 9),
        ('{\n  "a": [1,\n  ]\n}', "Expecting value at line 3, column 3", 3, 3),
        ('{"a": "b"}}', "Extra data at line 1, column 11", 1, 11),
    ],
)
def test_given_text_that_is_not_json_when_explained_then_it_says_the_line_and_column(
    text, detail, line, column
):
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)

    problem = invalid_json(caught.value)

    assert (problem.status, problem.code) == (400, "invalid_json")
    assert problem.detail == f"the request body is not valid JSON: {detail}"
    assert problem.extra == {"line": line, "column": column}


def test_given_a_secret_in_the_body_when_its_json_is_explained_then_the_detail_does_not_quote_it():
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads('{"client_secret": "GOCSPX-s3cr3t" oops}')

    assert "s3cr3t" not in invalid_json(caught.value).detail


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\xff\xfe{", "byte 0xff is not UTF-8 at line 1, column 1"),
        ('{"name": "é"\n,"x": "'.encode() + b"\x80", "byte 0x80 is not UTF-8 at line 2, column 8"),
    ],
)
def test_given_bytes_that_are_not_utf8_when_explained_then_it_names_the_byte_and_where_it_is(raw, detail):
    with pytest.raises(UnicodeDecodeError) as caught:
        raw.decode("utf-8")

    problem = not_utf8(caught.value)

    assert (problem.status, problem.code) == (400, "invalid_json")
    assert problem.detail == f"the request body is not valid JSON: {detail}"
