"""`return_to`: exact origin match against the tenant's allow-list, and result parameters."""

from __future__ import annotations

import pytest

from oauth_broker.connect.return_to import ReturnToRefused, check_return_to, target_origin, with_result_params

ALLOWED = ["https://app.example.com", "http://127.0.0.1:5173"]


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example.com",
        "https://app.example.com/",
        "https://app.example.com/settings/integrations?tab=mail#top",
        "https://APP.example.com:443/x",
        "http://127.0.0.1:5173/callback",
    ],
)
def test_given_a_url_on_an_allowed_origin_when_checked_then_it_is_accepted(value):
    assert check_return_to(value, ALLOWED) == value


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example.com/",
        "https://app.example.com.evil.example/",  # suffix trick
        "https://app.example.com:8443/",  # another port is another origin
        "http://app.example.com/",  # another scheme is another origin
        "https://app.example.com@evil.example/",  # user info
        "https://evil.example\\@app.example.com/",  # a backslash browsers read as a slash
        "https://app.example.com/\nLocation: https://evil.example",
        "javascript:alert(1)//https://app.example.com",
        "//app.example.com/path",
        "/settings",
        "https://" + "a" * 2100 + ".example.com",
        "",
    ],
)
def test_given_a_url_off_the_allow_list_or_ambiguous_when_checked_then_it_is_refused(value):
    with pytest.raises(ReturnToRefused):
        check_return_to(value, ALLOWED)


def test_given_an_empty_allow_list_when_any_return_to_is_checked_then_it_is_refused():
    with pytest.raises(ReturnToRefused, match="allowed_return_origins"):
        check_return_to("https://app.example.com/", [])


def test_given_a_return_to_url_when_the_popup_target_is_derived_then_it_is_the_exact_origin():
    assert target_origin("https://APP.example.com:443/settings?x=1#y") == "https://app.example.com"
    assert target_origin("http://127.0.0.1:5173/cb") == "http://127.0.0.1:5173"


def test_given_a_return_to_with_a_query_and_fragment_when_result_params_are_added_then_both_are_kept():
    url = with_result_params(
        "https://app.example.com/i?tab=mail#top", {"connection_id": "con_1", "status": "active"}
    )
    assert url == "https://app.example.com/i?tab=mail&connection_id=con_1&status=active#top"


def test_given_a_return_to_with_stale_result_params_when_a_result_is_added_then_the_stale_ones_are_dropped():
    url = with_result_params("https://app.example.com/i?error=access_denied&x=1", {"connection_id": "con_1"})
    assert url == "https://app.example.com/i?x=1&connection_id=con_1"


# -- each guard by its own message: a URL refused by a later guard does not pin an earlier one --


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "return_to must be a URL of at most 2048 characters"),
        ("https://app.example.com/" + "a" * 2025, "return_to must be a URL of at most 2048 characters"),
        (
            "https://app.example.com/a b",
            "return_to must not contain whitespace, control characters or backslashes",
        ),
        (
            "https://app.example.com/a\x00",
            "return_to must not contain whitespace, control characters or backslashes",
        ),
        (
            "https://app.example.com/a\x7f",
            "return_to must not contain whitespace, control characters or backslashes",
        ),
        (
            "https://app.example.com\\x",
            "return_to must not contain whitespace, control characters or backslashes",
        ),
        ("https://[::1/x", "return_to is not a valid URL"),
        ("ftp://app.example.com/", "return_to must be an absolute http(s) URL or origin"),
        ("https:///x", "return_to must be an absolute http(s) URL or origin"),
        ("https://:443/x", "return_to must be an absolute http(s) URL or origin"),
        ("https://user@app.example.com/", "return_to must not contain user information"),
        ("https://app.example.com:99999/", "return_to has an invalid port"),
        ("https://app.example.com:https/", "return_to has an invalid port"),
        ("https://evil.example.com/", "return_to is not on the tenant's allowed_return_origins"),
    ],
)
def test_given_a_return_to_that_one_guard_refuses_when_checked_then_the_message_is_that_guards_own(
    value, message
):
    with pytest.raises(ReturnToRefused) as caught:
        check_return_to(value, ALLOWED)

    assert str(caught.value) == message


def test_given_a_return_to_of_the_longest_accepted_length_when_checked_then_it_is_accepted():
    value = "https://app.example.com/" + "a" * 2024

    assert len(value) == 2048
    assert check_return_to(value, ALLOWED) == value


@pytest.mark.parametrize(
    "allowed", ["https://app.example.box/", "HTTPS://APP.EXAMPLE.BOX/", "https://app.example.box"]
)
def test_given_an_allowed_origin_spelled_with_a_slash_or_capitals_when_a_url_on_it_is_checked_then_it_matches(
    allowed,
):
    assert check_return_to("https://app.example.box/x", [allowed]) == "https://app.example.box/x"


def test_given_a_return_to_with_a_blank_query_parameter_when_result_params_are_added_then_it_is_kept():
    url = with_result_params("https://app.example.com/i?flag=&x=1", {"status": "active"})

    assert url == "https://app.example.com/i?flag=&x=1&status=active"
